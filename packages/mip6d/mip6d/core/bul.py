"""One Binding Update List entry: a mobile node's (or mobile router's) home
registration with one home agent (RFC 6275 sections 11.1, 11.5.5, 11.7 and 11.8;
RFC 3963 section 5).

:func:`step` is a pure function ``(entry, event, now, settings) -> (entry, effects)``.
The transitions are the table :data:`TRANSITIONS`, keyed by ``(state, trigger)``; a
pair that is not in the table leaves the entry as it is. The kernel state is not written
by the handlers: :func:`desired_state` declares it for each state and :func:`step`
emits the difference from what is installed (:func:`mip6d.core.effects.reconcile`), so a
handover is one :class:`~mip6d.core.effects.ChangeTunnel`. Likewise the entry's one
timer is derived from its state after every step.

States:

=============  ===========================================================================
IDLE           away from home with no usable care-of address; nothing registered
HOME           on the home link, no binding at the home agent
REGISTERING    first registration (no binding at the home agent): Binding Updates are
               retransmitted after InitialBindackTimeoutFirstReg (1.5 s), doubling up to
               MAX_BINDACK_TIMEOUT (32 s), indefinitely (RFC 6275 section 11.8)
REGISTERED     binding accepted; refreshed when :attr:`MnSettings.refresh_after` of the
               granted lifetime has passed, or after the Binding Refresh Advice interval
               when the home agent sent one (section 11.7.3)
REFRESHING     binding held by the home agent, a new Binding Update outstanding (refresh
               or new care-of address): retransmissions start at
               InitialBindackTimeoutReReg (INITIAL_BINDACK_TIMEOUT, 1 s)
DEREGISTERING  back on the home link: a Binding Update with lifetime 0 sent from the home
               address, without Home Address option (section 11.5.5), retransmitted
               like a re-registration until acknowledged or the binding would lapse
FAILED         the home agent refused the registration; a new care-of address retries
DISCOVERING    away, no home agent known (``HomeAgentAddress ::``): a DHAAD Request from
               the care-of address to the home prefix's Home-Agents anycast address,
               retransmitted after INITIAL_DHAAD_TIMEOUT (3 s), doubling, DHAAD_RETRIES
               (4) times (RFC 6275 sections 11.4.1 and 12); a round that stays unanswered
               is followed by a new one (a new Identifier), so a home link that comes
               back is found
=============  ===========================================================================

Dynamic home agent discovery (:attr:`HomeRegistration.discover_home_agent`): the
Reply's home agents, most preferred first, are the entry's candidates; it registers
with the first (its :attr:`BulEntry.registration` then names it). When
:attr:`MnSettings.ha_resends` Binding Updates to it in a row went unanswered (a first
registration, a refresh or a new care-of address alike: ``MnMaxHaConsecutiveResends``),
or it refused the registration, the entry falls back to the next candidate; when none
is left it discovers again.

Kernel state while a binding is held (UMIP's layout): the ip6ip6 tunnel from the care-of
address to the home agent, the home address on it as a /128 home address, a default
route through it in table :attr:`MnSettings.mip6_table`, a rule sending traffic from the
home address to that table, and a ``proto route2`` state so that the home agent's
Binding Acknowledgement, sent to the care-of address with a type 2 routing header, is
accepted; a protected registration (:attr:`HomeRegistration.protected`) also a ``proto
hao`` state naming the care-of address, whose Home Address option the kernel adds to the
Binding Updates it puts under ESP. A mobile router adds, per mobile network prefix, a
rule looking up traffic from the prefix in that table and a rule looking up traffic to
the prefix in the main table. From the first Binding Update away, before the tunnel
exists, the rules are there and the table holds an unreachable default route below the
tunnel's (:data:`REFUSE_METRIC`), and a rule sends the home address's Mobility Header
messages to the main table: the home address's traffic goes through the tunnel or
nowhere, never in clear on the foreign link. On the home link the home address sits on
the home interface (``nodad``: the home agent may still be defending it, section
11.5.5).

Refresh point: :attr:`MnSettings.refresh_after` = 0.8, i.e. a refresh when a fifth of the
granted lifetime remains (the rebinding point T2 = 0.8 of DHCPv6, RFC 8415 section
21.4). With the re-registration schedule 1, 2, 4, 8, ... s that leaves room for several
retransmissions even for a 64 s binding, while refreshing at half the lifetime (T1)
would double the signalling a home agent of 100,000 nodes receives for no gain. The
lifetime counts from when the acknowledged Binding Update was sent, which is no later
than when the home agent started counting (section 11.7.3).

Multiple care-of addresses (RFC 5648, :attr:`HomeRegistration.multiple_care_of`): the
entry registers :attr:`BulEntry.bindings`, one care-of address per interface with a
Binding Identifier, in one bulk Binding Update from the primary care-of address, with
the registration's flow bindings (RFC 6089). A BID whose interface lost its address is
deregistered alone first (:attr:`BulEntry.dropping`), so the others stay; when the
bindings left are all that is wanted, nothing more is sent. The tunnel follows the
primary care-of address as ever, at once when the home agent holds a binding for it
already, and each other binding has a tunnel of its own (:func:`binding_tunnel`) for
what the home agent sends through it. What the home agent may hold after a lost
acknowledgement is tracked (:attr:`BulEntry.bids_sent`) and deregistered when unwanted;
status 165 (a binding without BID held) is answered by removing that binding first, and
status 166 (multiple care-of addresses prohibited) by registering the primary care-of
address alone, as without them, until the daemon restarts or reloads its configuration.

Returning home (section 11.5.5): a deregistration is sent whenever the home agent may
hold a binding, including one whose acknowledgement was lost
(:attr:`BulEntry.bound_until`); status 133 in answer means it held none.

Sequence numbers: every Binding Update, retransmissions included, takes the next number
(section 11.7.1), and a Binding Acknowledgement is matched against every number sent in
the exchange in progress, since a home agent busy with duplicate address detection
answers the first one. Status 135 carries the home agent's last accepted number: the
entry continues from it (section 11.7.3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from typing import TypeAlias

from mip6d.core import seqno
from mip6d.core.dhaad import DHAAD_RETRIES, INITIAL_DHAAD_TIMEOUT, home_agents_anycast
from mip6d.core.effects import (
    MAIN_TABLE,
    MH_PROTOCOL,
    AddAddress,
    AddRoute,
    AddRule,
    AddTunnel,
    AddUnreachableRoute,
    AddXfrmState,
    CancelTimer,
    Effect,
    MigrateKeying,
    SendIcmp,
    SendMessage,
    StartTimer,
    TimerKey,
    TimerKind,
    XfrmRoProto,
    log,
    reconcile,
)
from mip6d.core.ipsec import direct_policy
from mip6d.core.policy import MAX_LIFETIME
from mip6d.wire.flowsel import TrafficSelector6
from mip6d.wire.icmp6 import DHAADFlag, DHAADReply, DHAADRequest
from mip6d.wire.mh import (
    AlternateCareOfAddress,
    BAFlag,
    BAStatus,
    BindingAck,
    BindingIdentifier,
    BindingReference,
    BindingRefreshAdvice,
    BindingUpdate,
    BUFlag,
    FlowIdentification,
    MobileNetworkPrefix,
    Option,
    accepted,
)

__all__ = [
    "REFUSE_METRIC",
    "TRANSITIONS",
    "AckReceived",
    "BulEntry",
    "BulEvent",
    "BulState",
    "CareOfBinding",
    "CareOfChanged",
    "FlowPolicy",
    "HomeAgentsReplied",
    "HomeRegistration",
    "LeftHome",
    "MnSettings",
    "ReturnedHome",
    "Shutdown",
    "TimerFired",
    "Trigger",
    "binding_tunnel",
    "binding_update",
    "desired_state",
    "step",
    "timer_key",
    "trigger_of",
]

_DEFAULT_ROUTE = IPv6Network("::/0")
REFUSE_METRIC = 4096
"""The unreachable route's metric in the tunnel's table: above the kernel's default for
an IPv6 route (1024), which the route through the tunnel has."""


class BulState(StrEnum):
    """Where a home registration stands (see the module's table)."""

    IDLE = "idle"
    HOME = "home"
    REGISTERING = "registering"
    REGISTERED = "registered"
    REFRESHING = "refreshing"
    DEREGISTERING = "deregistering"
    FAILED = "failed"
    DISCOVERING = "discovering"


@dataclass(frozen=True, slots=True)
class FlowPolicy:
    """A flow binding a mobile node asks its home agent for (RFC 6089): the traffic
    ``selector`` matches (``None``: all) goes through one of the bindings ``bids`` names,
    the registered one with the lowest BID-PRI (the home agent's choice, see
    :mod:`mip6d.core.flows`). ``priority`` is FID-PRI, lower is preferred."""

    fid: int
    priority: int
    bids: tuple[int, ...]
    selector: TrafficSelector6 | None = None


@dataclass(frozen=True, slots=True)
class CareOfBinding:
    """One binding of a registration with multiple care-of addresses (RFC 5648): the
    care-of address of the interface that has Binding Identifier ``bid``, with that
    interface's BID-PRI (RFC 6089 section 4.1; 0: none given)."""

    bid: int
    care_of: IPv6Address
    priority: int = 0


@dataclass(frozen=True, slots=True)
class HomeRegistration:
    """Configuration of one home registration (UMIP's ``MnHomeLink`` block)."""

    home_address: IPv6Interface
    """The home address with the home prefix length (``HomeAddress``)."""
    home_agent: IPv6Address
    """The home agent's address (``HomeAgentAddress``); with
    :attr:`discover_home_agent`, the one in use, ``::`` while none is known."""
    tunnel: str = "mip6mn0"
    """Name of the tunnel device to the home agent."""
    lifetime: int = 3600
    """Lifetime asked for, seconds (``MnMaxHaBindingLife``), 4..262140."""
    mobile_router: bool = False
    """Register as a mobile router: R flag (``IsMobRtr``, RFC 3963 section 4.1)."""
    mobile_network_prefixes: tuple[IPv6Network, ...] = ()
    """The mobile router's prefixes (``HaServedPrefix``/``MobRtrPrefix``)."""
    explicit_mode: bool = True
    """List the prefixes in the Binding Update (``MobRtrUseExplicitMode``, RFC 3963
    section 5.2); implicit mode lets the home agent use its configuration."""
    key_management: bool = False
    """Set the K flag: the keying daemon can move its IKE SA (RFC 6275 section 11.7.1)."""
    alternate_care_of: bool = True
    """Put the care-of address in an Alternate Care-of Address option, which RFC 6275
    section 11.7.1 asks of every home registration, since ESP does not cover the
    source address (``UseAltCoa``)."""
    protected: bool = False
    """Binding Updates go under ESP (RFC 3776 section 3.1): sent from the home address,
    the kernel adds ESP and then the Home Address option from the entry's ``hao`` state,
    which names the care-of address."""
    discover_home_agent: bool = False
    """The home agent is found by dynamic home agent address discovery
    (``HomeAgentAddress ::``, RFC 6275 section 11.4.1)."""
    multiple_care_of: bool = False
    """Register every interface's care-of address that has a Binding Identifier, one
    binding each (``RegMultipleCoA``, RFC 5648): see :class:`CareOfBinding`."""
    flows: tuple[FlowPolicy, ...] = ()
    """The flow bindings to ask the home agent for (``FlowBinding``, RFC 6089)."""

    def __post_init__(self) -> None:
        where = f"home registration {self.home_address}"
        if not 4 <= self.lifetime <= MAX_LIFETIME:
            raise ValueError(
                f"{where}: lifetime {self.lifetime}: expected 4..{MAX_LIFETIME} seconds"
            )
        if self.mobile_network_prefixes and not self.mobile_router:
            raise ValueError(f"{where}: mobile network prefixes without mobile router operation")
        if not 1 <= len(self.tunnel) <= 15:
            raise ValueError(f"{where}: tunnel name {self.tunnel!r}: expected 1..15 characters")
        if self.multiple_care_of and len(binding_tunnel(self.tunnel, 0xFFFF)) > 15:
            raise ValueError(f"{where}: tunnel name {self.tunnel!r}: expected 1..9 characters "
                             "with multiple care-of addresses (a binding's tunnel adds 'b' "
                             "and its BID)")
        if self.flows and not self.multiple_care_of:
            raise ValueError(f"{where}: flow bindings without multiple care-of addresses")


@dataclass(frozen=True, slots=True)
class MnSettings:
    """Timers and routing layout shared by all of a mobile node's registrations."""

    first_registration_timeout: float = 1.5
    """InitialBindackTimeoutFirstReg (RFC 6275 section 13), seconds."""
    reregistration_timeout: float = 1.0
    """InitialBindackTimeoutReReg: INITIAL_BINDACK_TIMEOUT (section 12), seconds."""
    max_bindack_timeout: float = 32.0
    """MAX_BINDACK_TIMEOUT (section 12), seconds."""
    refresh_after: float = 0.8
    """Fraction of the granted lifetime after which the binding is refreshed."""
    mip6_table: int = 252
    """Routing table holding the default route through the tunnel."""
    hoa_mh_priority: int = 999
    """Rule priority: Mobility Header messages from the home address (Binding Updates)
    look up the main table."""
    mnp_in_priority: int = 1000
    """Rule priority: traffic to a mobile network prefix looks up the main table."""
    hoa_out_priority: int = 1001
    """Rule priority: traffic from the home address looks up :attr:`mip6_table`."""
    mnp_out_priority: int = 1002
    """Rule priority: traffic from a mobile network prefix looks up :attr:`mip6_table`."""
    ha_resends: int = 5
    """With a discovered home agent: Binding Updates resent to it in a row, unanswered,
    before the next one of the last Reply is tried (``MnMaxHaConsecutiveResends``; 0:
    never)."""
    dhaad_timeout: float = INITIAL_DHAAD_TIMEOUT
    """The first wait for a DHAAD Reply, seconds (RFC 6275 section 12)."""
    dhaad_retries: int = DHAAD_RETRIES
    """DHAAD Request retransmissions in a round (RFC 6275 section 12)."""
    rediscover_at_home: bool = False
    """Forget the discovered home agent on coming home (``MnResetDhaadAtHome``)."""

    def __post_init__(self) -> None:
        if not 0 < self.first_registration_timeout <= self.max_bindack_timeout:
            raise ValueError("InitialBindackTimeoutFirstReg must be in (0, MAX_BINDACK_TIMEOUT]")
        if not 0 < self.reregistration_timeout <= self.max_bindack_timeout:
            raise ValueError("InitialBindackTimeoutReReg must be in (0, MAX_BINDACK_TIMEOUT]")
        if not 0 < self.refresh_after < 1:
            raise ValueError("refresh_after must be in (0, 1)")


@dataclass(frozen=True, slots=True)
class BulEntry:
    """The state of one home registration; replaced, never mutated, by :func:`step`."""

    registration: HomeRegistration
    state: BulState = BulState.IDLE
    sequence: int = 0
    """The sequence number of the last Binding Update sent."""
    care_of: IPv6Address | None = None
    """The care-of address in use (the primary one), if any."""
    coa_valid_until: float | None = None
    """End of the care-of address's valid lifetime, if it has one."""
    home_link: str | None = None
    """The interface on the home link while at home, else ``None``."""
    registered_coa: IPv6Address | None = None
    """The care-of address of the binding the home agent holds, if it holds one."""
    first_sequence: int = 0
    """The first sequence number of the exchange in progress."""
    exchange_started_at: float = 0.0
    sent_at: float = 0.0
    """When the last Binding Update was sent."""
    timeout: float = 0.0
    """The retransmission interval in force."""
    lifetime: int = 0
    """The lifetime the home agent granted, seconds."""
    expires_at: float | None = None
    """When the home agent's binding lapses, if it holds one."""
    bound_until: float | None = None
    """The latest a binding at the home agent may last, acknowledged or not: every
    registration sent pushes it, a completed deregistration clears it. Coming home
    before then means deregistering (RFC 6275 section 11.5.5)."""
    refresh_at: float | None = None
    timer_at: float | None = None
    """When this entry's timer is armed for, if it is."""
    installed: tuple[Effect, ...] = ()
    """The kernel state installed for this entry (an install list)."""
    keying_coa: IPv6Address | None = None
    """Where the keying daemon's IKE SA with the home agent is, when both ends set the
    K flag in the last registration (RFC 6275 section 11.7.3): a new care-of address
    then moves it there (:class:`MigrateKeying`) before the Binding Update. ``None``
    when the home agent's acknowledgement had no K flag: the keying daemon re-keys."""
    candidates: tuple[IPv6Address, ...] = ()
    """With discovery: the home agents of the last DHAAD Reply not tried yet."""
    dhaad_identifier: int = 0
    """The Identifier of the DHAAD round in progress (or the last one)."""
    dhaad_sent: int = 0
    """DHAAD Requests sent in this round, the first included."""
    ha_resends: int = 0
    """Binding Updates resent to the current home agent in a row, unanswered."""
    bindings: tuple[CareOfBinding, ...] = ()
    """With multiple care-of addresses: the usable ones, by Binding Identifier (the
    primary :attr:`care_of` among them); empty: a registration of :attr:`care_of` alone."""
    registered_bindings: tuple[CareOfBinding, ...] = ()
    """The bindings the home agent holds, by Binding Identifier."""
    dropping: tuple[int, ...] = ()
    """The BIDs the Binding Update in flight deregisters (RFC 5648): a lifetime-0 update
    naming only them, so that the others stay."""
    bids_sent: tuple[int, ...] = ()
    """The BIDs registrations named since the home agent last confirmed their removal:
    it may hold them, acknowledged or not (the BIDs' :attr:`bound_until`)."""

    @property
    def home_address(self) -> IPv6Address:
        return self.registration.home_address.ip


# -- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CareOfChanged:
    """The primary care-of address changed (``None``: no usable one left), or, with
    multiple care-of addresses, the set of them (:attr:`BulEntry.bindings`)."""

    address: IPv6Address | None
    valid_until: float | None = None
    bindings: tuple[CareOfBinding, ...] = ()


@dataclass(frozen=True, slots=True)
class ReturnedHome:
    """The home prefix is on-link on ``ifname`` (RFC 6275 section 11.5.5)."""

    ifname: str


@dataclass(frozen=True, slots=True)
class LeftHome:
    """The home link is gone."""


@dataclass(frozen=True, slots=True)
class AckReceived:
    """A Binding Acknowledgement from this entry's home agent."""

    ack: BindingAck


@dataclass(frozen=True, slots=True)
class HomeAgentsReplied:
    """A DHAAD Reply for this entry's home prefix (RFC 6275 section 6.6)."""

    reply: DHAADReply


@dataclass(frozen=True, slots=True)
class TimerFired:
    """This entry's timer fired."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The daemon stops: deregister if a binding may exist, remove the kernel state."""


BulEvent: TypeAlias = (CareOfChanged | ReturnedHome | LeftHome | AckReceived | TimerFired
                       | Shutdown | HomeAgentsReplied)


class Trigger(StrEnum):
    """The key of an event in :data:`TRANSITIONS`."""

    COA = "coa"
    COA_LOST = "coa-lost"
    HOME = "home"
    AWAY = "away"
    ACCEPTED = "accepted"
    RESYNC = "resync"
    NOT_HOME_AGENT = "not-home-agent"
    REJECTED = "rejected"
    TIMER = "timer"
    SHUTDOWN = "shutdown"
    DHAAD_REPLY = "dhaad-reply"
    BOUND_WITHOUT_BID = "bound-without-bid"
    MULTIPLE_PROHIBITED = "multiple-prohibited"


_ACK_TRIGGERS: Mapping[int, Trigger] = {
    BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW: Trigger.RESYNC,
    BAStatus.NOT_HOME_AGENT_FOR_THIS_MN: Trigger.NOT_HOME_AGENT,
    BAStatus.MCOA_NON_MCOA_BINDING_EXISTS: Trigger.BOUND_WITHOUT_BID,
    BAStatus.MCOA_PROHIBITED: Trigger.MULTIPLE_PROHIBITED,
}
"""Statuses that need more than accepted/refused (RFC 6275 section 11.7.3)."""


def trigger_of(event: BulEvent) -> Trigger:
    """The :class:`Trigger` of ``event``."""
    match event:
        case CareOfChanged(address=None):
            return Trigger.COA_LOST
        case CareOfChanged():
            return Trigger.COA
        case ReturnedHome():
            return Trigger.HOME
        case LeftHome():
            return Trigger.AWAY
        case AckReceived(ack=ack):
            special = _ACK_TRIGGERS.get(int(ack.status))
            if special is not None:
                return special
            return Trigger.ACCEPTED if accepted(ack.status) else Trigger.REJECTED
        case TimerFired():
            return Trigger.TIMER
        case Shutdown():
            return Trigger.SHUTDOWN
        case HomeAgentsReplied():
            return Trigger.DHAAD_REPLY
    raise TypeError(f"not a Binding Update List event: {event!r}")


# -- messages --------------------------------------------------------------------------


def _requested_lifetime(entry: BulEntry, now: float) -> int:
    """Lifetime units to ask for: the configured lifetime, capped by the care-of
    address's remaining valid lifetime (RFC 6275 section 11.7.1), at least one unit."""
    seconds = entry.registration.lifetime
    if entry.coa_valid_until is not None:
        seconds = min(seconds, int(entry.coa_valid_until - now))
    return max(1, min(seconds, MAX_LIFETIME) // 4)


def binding_update(entry: BulEntry, now: float, deregister: bool = False) -> SendMessage:
    """The Binding Update ``entry`` sends now, numbered ``entry.sequence``.

    At home (deregistration, RFC 6275 section 11.5.5) it goes from the home address
    without Home Address option and names the home address as care-of address; away it
    goes from the care-of address with a Home Address option (section 11.7.1).
    """
    reg = entry.registration
    home = reg.home_address.ip
    at_home = deregister and entry.home_link is not None
    care_of = home if at_home or entry.care_of is None else entry.care_of
    flags = BUFlag.A | BUFlag.H
    if reg.mobile_router:
        flags |= BUFlag.R
    if reg.key_management:
        flags |= BUFlag.K
    options: list[Option] = []
    if reg.alternate_care_of:
        options.append(AlternateCareOfAddress(care_of))
    dropping = entry.dropping and not deregister
    if reg.mobile_router and reg.explicit_mode and not deregister and not dropping:
        options.extend(MobileNetworkPrefix(p) for p in reg.mobile_network_prefixes)
    if dropping:
        options.extend(BindingIdentifier(bid) for bid in entry.dropping if bid != _WITHOUT_BID)
    elif not deregister:
        options.extend(_multiple_care_of_options(entry))
    lifetime = 0 if deregister or dropping else _requested_lifetime(entry, now)
    bu = BindingUpdate(entry.sequence, lifetime, flags, tuple(options))
    if at_home or reg.protected:  # protected: the kernel's hao state adds the option
        return SendMessage(bu, home, reg.home_agent)
    return SendMessage(bu, care_of, reg.home_agent, home_address_option=home)


def _multiple_care_of_options(entry: BulEntry) -> list[Option]:
    """A bulk registration (RFC 5648): a Binding Identifier option with its care-of
    address per binding, then the flow bindings (RFC 6089) naming
    those of their BIDs that are registered; a flow none of whose BIDs is left is not
    asked for (the home agent drops it)."""
    bids = {b.bid for b in entry.bindings}
    options: list[Option] = [BindingIdentifier(b.bid, b.care_of, priority=b.priority)
                             for b in entry.bindings]
    for flow in entry.registration.flows if bids else ():
        present = tuple(bid for bid in flow.bids if bid in bids)
        if present:
            selector = () if flow.selector is None else (flow.selector,)
            options.append(FlowIdentification(
                flow.fid, flow.priority, sub_options=(BindingReference(present), *selector)))
    return options


# -- handlers --------------------------------------------------------------------------

_Result: TypeAlias = tuple[BulEntry, tuple[Effect, ...]]
_Handler: TypeAlias = Callable[[BulEntry, BulEvent, float, MnSettings], _Result]


def _event_fields(entry: BulEntry) -> dict[str, object]:
    return {"home_address": entry.home_address, "home_agent": entry.registration.home_agent}


def _send(
    entry: BulEntry, now: float, state: BulState, timeout: float, new_exchange: bool,
    dropping: tuple[int, ...] | None = None,
) -> _Result:
    """Send the next Binding Update of ``state`` and wait ``timeout`` for its answer; a
    deregistration of the BIDs ``dropping`` (by default: a new exchange's
    :func:`_dropping`, a retransmission's own)."""
    if dropping is None:
        dropping = _dropping(entry, state) if new_exchange else entry.dropping
    sequence = seqno.add(entry.sequence)
    entry = replace(entry, state=state, sequence=sequence, sent_at=now, timeout=timeout,
                    dropping=dropping)
    if new_exchange:
        entry = replace(entry, first_sequence=sequence, exchange_started_at=now)
    message = binding_update(entry, now, deregister=state is BulState.DEREGISTERING)
    bu = message.msg
    assert isinstance(bu, BindingUpdate)
    named = {o.bid for o in bu.options if isinstance(o, BindingIdentifier)}
    if bu.lifetime:
        until = now + bu.lifetime_seconds
        entry = replace(entry, bound_until=max(until, entry.bound_until or until),
                        bids_sent=tuple(sorted(named.union(entry.bids_sent))))
    if not bu.lifetime or not named:
        # A deregistration (of some BIDs or all) or a registration without BID (which
        # replaces them all): arrived or not, what it removes is no longer known to be
        # held; what the home agent may still hold stays in :attr:`BulEntry.bids_sent`.
        entry = replace(entry, registered_bindings=tuple(
            b for b in entry.registered_bindings if named and b.bid not in named))
    record = log(
        "binding-update-sent",
        **_event_fields(entry),
        src=_signalling_address(entry, message),
        sequence=sequence,
        lifetime=bu.lifetime_seconds,
        timeout=timeout,
    )
    return entry, (message, record)


_WITHOUT_BID = 0
"""In :attr:`BulEntry.dropping`: the binding without BID (RFC 5648 numbers BIDs from 1)."""


def _dropping(entry: BulEntry, state: BulState) -> tuple[int, ...]:
    """The BIDs a registration first deregisters: those the home agent may hold whose
    interface has no usable care-of address left (none when every binding goes)."""
    if state not in (BulState.REGISTERING, BulState.REFRESHING) or not entry.bindings:
        return ()
    held = {b.bid for b in entry.registered_bindings}.union(entry.bids_sent)
    return tuple(sorted(held - {b.bid for b in entry.bindings}))


def _signalling_address(entry: BulEntry, message: SendMessage) -> IPv6Address:
    """Where a Binding Update leaves from on the wire: a protected one away from home
    from the care-of address of its ``hao`` state."""
    if entry.registration.protected and entry.home_link is None and entry.care_of is not None:
        return entry.care_of
    return message.src


def _register(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """A first registration from the current care-of address (after discovering a home
    agent, when none is known)."""
    if entry.care_of is None:
        return replace(entry, state=BulState.IDLE), ()
    if entry.registration.home_agent.is_unspecified:
        return _discover(entry, event, now, s)
    return _send(entry, now, BulState.REGISTERING, s.first_registration_timeout, True)


# -- dynamic home agent address discovery (RFC 6275 section 11.4.1) ---------------------

_UNKNOWN = IPv6Address("::")


def _request(entry: BulEntry, now: float, timeout: float) -> _Result:
    """Send the round's DHAAD Request (again) and wait ``timeout`` for the Reply."""
    reg = entry.registration
    care_of = entry.care_of
    assert care_of is not None
    flags = DHAADFlag.R if reg.mobile_router else DHAADFlag(0)
    anycast = home_agents_anycast(reg.home_address.network)
    entry = replace(entry, state=BulState.DISCOVERING, dhaad_sent=entry.dhaad_sent + 1,
                    sent_at=now, timeout=timeout)
    return entry, (
        SendIcmp(DHAADRequest(entry.dhaad_identifier, flags), care_of, anycast),
        log("dhaad-request-sent", home_address=entry.home_address, src=care_of,
            dst=anycast, identifier=entry.dhaad_identifier, attempt=entry.dhaad_sent,
            timeout=timeout),
    )


def _discover(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """A new round of discovery from the current care-of address, with a new
    Identifier."""
    if entry.care_of is None:
        return _clear(replace(entry, state=BulState.IDLE)), ()
    entry = replace(_clear(entry), dhaad_identifier=(entry.dhaad_identifier + 1) & 0xFFFF,
                    dhaad_sent=0, candidates=())
    return _request(entry, now, s.dhaad_timeout)


def _rediscover(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """No Reply in time: the next retransmission of the round, or a new round."""
    if entry.dhaad_sent <= s.dhaad_retries:
        return _request(entry, now, entry.timeout * 2)
    record = log("dhaad-unanswered", home_address=entry.home_address,
                 identifier=entry.dhaad_identifier, requests=entry.dhaad_sent)
    entry, effects = _discover(entry, event, now, s)
    return entry, (record, *effects)


def _discovered(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """A Reply: register with its first home agent (section 11.4.1). A Reply to another
    round, an empty one, or one without the R flag for a mobile router (RFC 3963 section
    7) is ignored and the retransmissions go on."""
    assert isinstance(event, HomeAgentsReplied)
    reply = event.reply
    reg = entry.registration
    reason = ("identifier of another request" if reply.identifier != entry.dhaad_identifier
              else "no mobile router support" if reg.mobile_router
              and DHAADFlag.R not in reply.flags else None)
    candidates = tuple(dict.fromkeys(
        a for a in reply.home_agents
        if not (a.is_unspecified or a.is_multicast or a.is_link_local or a.is_loopback)))
    if reason is None and not candidates:
        reason = "no home agent listed"
    if reason is not None:
        return entry, (log("dhaad-reply-ignored", home_address=entry.home_address,
                           identifier=reply.identifier, reason=reason),)
    record = log("home-agents-discovered", home_address=entry.home_address,
                 identifier=reply.identifier, home_agents=candidates)
    entry, effects = _next_home_agent(replace(entry, candidates=candidates), now, s)
    return entry, (record, *effects)


def _next_home_agent(entry: BulEntry, now: float, s: MnSettings) -> _Result:
    """Register with the next candidate; with none left, discover again."""
    if not entry.candidates:
        return _discover(entry, TimerFired(), now, s)
    home_agent, rest = entry.candidates[0], entry.candidates[1:]
    entry = _clear(replace(
        entry, registration=replace(entry.registration, home_agent=home_agent),
        candidates=rest, ha_resends=0, bound_until=None, bids_sent=(), keying_coa=None))
    return _send(entry, now, BulState.REGISTERING, s.first_registration_timeout, True)


def _fall_back(entry: BulEntry, now: float, reason: str, s: MnSettings) -> _Result:
    """The discovered home agent does not serve us: the next one."""
    record = log("home-agent-fallback", **_event_fields(entry), reason=reason,
                 next=entry.candidates[0] if entry.candidates else None)
    entry, effects = _next_home_agent(entry, now, s)
    return entry, (record, *effects)


def _reregister(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """A new Binding Update while the home agent holds a binding (new care-of address,
    refresh, or leaving home before a deregistration completed)."""
    if entry.care_of is None:
        state = BulState.REGISTERED if entry.registered_coa is not None else BulState.IDLE
        return replace(entry, state=state), ()
    return _send(entry, now, BulState.REFRESHING, s.reregistration_timeout, True)


def _moved(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """The care-of address changed during a registration or while registered. With the
    K flag agreed, the keying daemon's IKE SA moves to the new care-of address first, so
    that the Binding Update (and the SAs it needs) find it there (RFC 4877 section 6)."""
    migrate: tuple[Effect, ...] = ()
    if (entry.keying_coa is not None and entry.care_of is not None
            and entry.care_of != entry.keying_coa):
        reg = entry.registration
        migrate = (MigrateKeying(entry.home_address, reg.home_agent, entry.keying_coa,
                                 entry.care_of),)
        entry = replace(entry, keying_coa=entry.care_of)
    if any(b.care_of == entry.care_of for b in entry.registered_bindings):
        # The new primary care-of address has a binding already (multiple care-of
        # addresses): the tunnel moves there now, not after the signalling.
        entry = replace(entry, registered_coa=entry.care_of)
    if entry.state is BulState.REGISTERING:
        entry, effects = _register(entry, event, now, s)
    else:
        entry, effects = _reregister(entry, event, now, s)
    return entry, (*migrate, *effects)


def _deregister(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """Back home: deregister (RFC 6275 section 11.5.5). Retransmissions stop when the
    binding would lapse anyway (when none was acknowledged: the latest a binding asked
    for would)."""
    if entry.expires_at is None:
        entry = replace(entry, expires_at=entry.bound_until or now)
    return _send(entry, now, BulState.DEREGISTERING, s.reregistration_timeout, True)


def _home_again(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """At home without a known binding: deregister all the same if a registration sent
    earlier may have been accepted unbeknownst (its acknowledgement lost)."""
    if entry.bound_until is not None and now < entry.bound_until:
        return _deregister(entry, event, now, s)
    return _at_home(entry, event, now, s)


def _at_home(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    return _clear(replace(entry, state=BulState.HOME)), ()


def _idle(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    return _clear(replace(entry, state=BulState.IDLE)), ()


def _left_home(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    if entry.state is BulState.DEREGISTERING:
        return _reregister(entry, event, now, s)
    if entry.registration.discover_home_agent and s.rediscover_at_home:
        entry = replace(entry, registration=replace(entry.registration, home_agent=_UNKNOWN),
                        candidates=())
    return _register(entry, event, now, s)


def _hold(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """Lost the care-of address while the home agent holds a binding: stop sending and
    keep the binding until it expires or a new care-of address comes."""
    record = log("care-of-address-lost", **_event_fields(entry))
    if entry.registered_coa is None:
        return _clear(replace(entry, state=BulState.IDLE)), (record,)
    return replace(entry, state=BulState.REGISTERED), (record,)


def _retransmit(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """The answer is late: double the interval, up to MAX_BINDACK_TIMEOUT, and send the
    Binding Update again with the next sequence number (RFC 6275 section 11.8)."""
    if entry.expires_at is not None and now >= entry.expires_at:
        return _expired(entry, event, now, s)
    if (entry.registration.discover_home_agent and entry.state is not BulState.DEREGISTERING
            and s.ha_resends and entry.ha_resends >= s.ha_resends):
        return _fall_back(entry, now, f"{entry.ha_resends} Binding Updates unanswered", s)
    entry = replace(entry, ha_resends=entry.ha_resends + 1)
    return _send(entry, now, entry.state, min(entry.timeout * 2, s.max_bindack_timeout), False)


def _registered_timer(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    if entry.expires_at is not None and now >= entry.expires_at:
        return _expired(entry, event, now, s)
    return _reregister(entry, event, now, s)


def _expired(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """The home agent's binding has lapsed."""
    if entry.state is BulState.DEREGISTERING:
        return _deregistered(entry, event, now, s)
    record = log("binding-expired", **_event_fields(entry))
    entry = _clear(entry)
    if entry.care_of is None:
        return replace(entry, state=BulState.IDLE), (record,)
    entry, effects = _send(entry, now, BulState.REGISTERING, s.first_registration_timeout, True)
    return entry, (record, *effects)


def _clear(entry: BulEntry) -> BulEntry:
    """Forget the binding at the home agent."""
    return replace(
        entry, registered_coa=None, lifetime=0, expires_at=None, refresh_at=None, timeout=0.0,
        registered_bindings=(), dropping=(),
    )


def _ack(event: BulEvent) -> BindingAck:
    assert isinstance(event, AckReceived)
    return event.ack


def _accepted(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """The home agent accepted the registration (RFC 6275 section 11.7.3)."""
    if entry.dropping:
        return _dropped(entry, event, now, s)
    ack = _ack(event)
    reg = entry.registration
    if reg.mobile_router and BAFlag.R not in ack.flags:
        # RFC 3963 section 5.3: without R in the acknowledgement the home agent does not
        # route the mobile network; deregister and stop.
        sequence = seqno.add(entry.sequence)
        dereg = binding_update(replace(entry, sequence=sequence), now, deregister=True)
        failed = _clear(replace(entry, state=BulState.FAILED, sequence=sequence))
        return failed, (
            dereg,
            log(
                "registration-refused",
                **_event_fields(entry),
                reason="R flag missing in acknowledgement",
            ),
        )
    if ack.lifetime == 0:
        return _refused(entry, event, now, s)
    base = entry.sent_at if ack.sequence == entry.sequence else entry.exchange_started_at
    granted = ack.lifetime * 4
    refresh = granted * s.refresh_after
    for option in ack.options:
        if isinstance(option, BindingRefreshAdvice) and 0 < option.interval * 4 < granted:
            refresh = option.interval * 4
    event_name = "binding-registered" if entry.registered_coa is None else "binding-refreshed"
    # RFC 6275 section 11.7.3: K in the acknowledgement too, or the IKE SA does not
    # survive movement. Once agreed the IKE SA is at the care-of address the exchange
    # used (a MigrateKeying took it there); the first one is set up from it.
    key_management = reg.key_management and BAFlag.K in ack.flags
    registered, refusals = _registered_bindings(entry, ack)
    entry = replace(
        entry,
        registered_bindings=registered,
        keying_coa=(entry.keying_coa or entry.care_of) if key_management else None,
        state=BulState.REGISTERED,
        registered_coa=entry.care_of,
        lifetime=granted,
        expires_at=base + granted,
        refresh_at=base + refresh,
        timeout=0.0,
        ha_resends=0,
    )
    return entry, (
        log(
            event_name,
            **_event_fields(entry),
            care_of=entry.care_of,
            sequence=ack.sequence,
            lifetime=granted,
            refresh_at=entry.refresh_at,
        ),
        *refusals,
    )


def _registered_bindings(entry: BulEntry, ack: BindingAck
                         ) -> tuple[tuple[CareOfBinding, ...], tuple[Effect, ...]]:
    """The bindings an accepted bulk registration holds: those whose BID the
    acknowledgement did not refuse (a BID option's own status, RFC 5648), and the
    refusals, of BIDs and of flow bindings (RFC 6089), as logs."""
    statuses = {o.bid: int(o.status) for o in ack.options if isinstance(o, BindingIdentifier)}
    refusals: list[Effect] = [
        log("binding-identifier-refused", **_event_fields(entry), bid=bid, status=status)
        for bid, status in statuses.items() if not accepted(status)]
    refusals.extend(
        log("flow-binding-refused", **_event_fields(entry), fid=o.fid, status=int(o.status))
        for o in ack.options if isinstance(o, FlowIdentification) and o.status)
    held = tuple(b for b in entry.bindings if accepted(statuses.get(b.bid, 0)))
    return held, tuple(refusals)


def _dropped(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """The answer to a deregistration of some BIDs (any: a refused one lapses). When the
    bindings left are all the node wants, they carry on (no new registration);
    otherwise the usable care-of addresses are registered."""
    status = int(_ack(event).status)
    record = log("care-of-bindings-deregistered", **_event_fields(entry), bids=entry.dropping,
                 status=status)
    if _WITHOUT_BID in entry.dropping:  # nothing left at the home agent
        entry = replace(_clear(entry), bids_sent=())
    else:
        entry = replace(entry, dropping=(), bids_sent=tuple(
            bid for bid in entry.bids_sent if bid not in entry.dropping))
        # (the dropped ones left registered_bindings when they were sent)
        if entry.bindings and set(entry.bindings) <= set(entry.registered_bindings):
            return replace(entry, state=BulState.REGISTERED, registered_coa=entry.care_of,
                           timeout=0.0, ha_resends=0), (record,)
    if entry.registered_coa is None:
        entry, effects = _send(entry, now, BulState.REGISTERING, s.first_registration_timeout,
                               True)
    else:
        entry, effects = _send(entry, now, BulState.REFRESHING, s.reregistration_timeout, True)
    return entry, (record, *effects)


def _resync(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """Status 135: continue from the home agent's last accepted sequence number."""
    ack = _ack(event)
    entry = replace(entry, sequence=ack.sequence)
    record = log("sequence-number-resync", **_event_fields(entry), sequence=ack.sequence)
    entry, effects = _send(entry, now, entry.state, s.reregistration_timeout, True)
    return entry, (record, *effects)


def _bound_without_bid(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """Status 165: the home agent holds a binding without BID, to which bindings by BID
    cannot be added (RFC 5648 section 6.2; an acknowledgement lost after a registration
    from an interface without BID leaves one unbeknownst). It goes first, with a
    deregistration without BID; the bindings are registered after it."""
    record = log("binding-without-bid-replaced", **_event_fields(entry))
    entry, effects = _send(entry, now, entry.state, s.reregistration_timeout, True,
                           dropping=(_WITHOUT_BID,))
    return entry, (record, *effects)


def _multiple_prohibited(entry: BulEntry, event: BulEvent, now: float, s: MnSettings
                         ) -> _Result:
    """Status 166: the home agent takes no multiple care-of addresses from this node (RFC
    5648 section 6.2). The node registers as without them: its primary care-of address
    alone, no flow bindings (they need BIDs). That Binding Update, without BID, replaces
    whatever bindings by BID the home agent still holds."""
    record = log("multiple-care-of-prohibited", **_event_fields(entry))
    single = replace(entry.registration, multiple_care_of=False, flows=())
    entry = replace(entry, registration=single, bindings=())
    entry, effects = _send(entry, now, entry.state, s.reregistration_timeout, True)
    return entry, (record, *effects)


def _refused(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """Refused. A discovered home agent's refusal sends the node to the next one of the
    Reply; when none is left it stays FAILED, and forgets the home agent so that its
    next care-of address discovers again, and with it any binding there: coming home,
    it has no home agent to deregister with."""
    if entry.dropping:
        return _dropped(entry, event, now, s)
    ack = _ack(event)
    record = log(
        "registration-refused", **_event_fields(entry), status=ack.status, lifetime=ack.lifetime * 4
    )
    reg = entry.registration
    if reg.discover_home_agent and entry.candidates:
        entry, effects = _fall_back(entry, now, f"refused with status {int(ack.status)}", s)
        return entry, (record, *effects)
    if reg.discover_home_agent:
        entry = replace(entry, registration=replace(reg, home_agent=_UNKNOWN),
                        bound_until=None, bids_sent=())
    return _clear(replace(entry, state=BulState.FAILED)), (record,)


def _deregistered(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """Deregistration done (accepted, 133 "not home agent" meaning the binding was
    already gone, refused, or lapsed)."""
    state = BulState.HOME if entry.home_link is not None else BulState.IDLE
    fields = _event_fields(entry)
    if isinstance(event, AckReceived):
        fields["status"] = int(event.ack.status)
    entry = _clear(replace(entry, state=state, bound_until=None, bids_sent=()))
    return entry, (log("binding-deregistered", **fields),)


def _shutdown(entry: BulEntry, event: BulEvent, now: float, s: MnSettings) -> _Result:
    """Stop: one last deregistration (not retransmitted) if a binding may exist, and the
    kernel state removed, except the home address on the home link."""
    effects: tuple[Effect, ...] = ()
    known = not entry.registration.home_agent.is_unspecified
    if known and (entry.home_link is not None or entry.care_of is not None):
        sequence = seqno.add(entry.sequence)
        entry = replace(entry, sequence=sequence)
        effects = (binding_update(entry, now, deregister=True),)
    state = BulState.HOME if entry.home_link is not None else BulState.IDLE
    return _clear(replace(entry, state=state)), (*effects, log("stopped", **_event_fields(entry)))


_S = BulState
_T = Trigger

TRANSITIONS: Mapping[tuple[BulState, Trigger], _Handler] = {
    (_S.IDLE, _T.COA): _register,
    (_S.IDLE, _T.HOME): _home_again,
    (_S.HOME, _T.AWAY): _left_home,
    (_S.REGISTERING, _T.COA): _moved,
    (_S.REGISTERING, _T.COA_LOST): _idle,
    (_S.REGISTERING, _T.HOME): _deregister,
    (_S.REGISTERING, _T.ACCEPTED): _accepted,
    (_S.REGISTERING, _T.RESYNC): _resync,
    (_S.REGISTERING, _T.NOT_HOME_AGENT): _refused,
    (_S.REGISTERING, _T.REJECTED): _refused,
    (_S.REGISTERING, _T.TIMER): _retransmit,
    (_S.REGISTERING, _T.BOUND_WITHOUT_BID): _bound_without_bid,
    (_S.REGISTERING, _T.MULTIPLE_PROHIBITED): _multiple_prohibited,
    (_S.REGISTERING, _T.SHUTDOWN): _shutdown,
    (_S.REGISTERED, _T.COA): _moved,
    (_S.REGISTERED, _T.HOME): _deregister,
    (_S.REGISTERED, _T.TIMER): _registered_timer,
    (_S.REGISTERED, _T.SHUTDOWN): _shutdown,
    (_S.REFRESHING, _T.COA): _moved,
    (_S.REFRESHING, _T.COA_LOST): _hold,
    (_S.REFRESHING, _T.HOME): _deregister,
    (_S.REFRESHING, _T.ACCEPTED): _accepted,
    (_S.REFRESHING, _T.RESYNC): _resync,
    (_S.REFRESHING, _T.NOT_HOME_AGENT): _refused,
    (_S.REFRESHING, _T.REJECTED): _refused,
    (_S.REFRESHING, _T.TIMER): _retransmit,
    (_S.REFRESHING, _T.BOUND_WITHOUT_BID): _bound_without_bid,
    (_S.REFRESHING, _T.MULTIPLE_PROHIBITED): _multiple_prohibited,
    (_S.REFRESHING, _T.SHUTDOWN): _shutdown,
    (_S.DEREGISTERING, _T.AWAY): _left_home,
    (_S.DEREGISTERING, _T.ACCEPTED): _deregistered,
    (_S.DEREGISTERING, _T.NOT_HOME_AGENT): _deregistered,
    (_S.DEREGISTERING, _T.REJECTED): _deregistered,
    (_S.DEREGISTERING, _T.RESYNC): _resync,
    (_S.DEREGISTERING, _T.TIMER): _retransmit,
    (_S.DEREGISTERING, _T.SHUTDOWN): _shutdown,
    (_S.FAILED, _T.COA): _register,
    (_S.FAILED, _T.HOME): _home_again,
    (_S.DISCOVERING, _T.COA): _discover,
    (_S.DISCOVERING, _T.COA_LOST): _idle,
    (_S.DISCOVERING, _T.HOME): _home_again,
    (_S.DISCOVERING, _T.DHAAD_REPLY): _discovered,
    (_S.DISCOVERING, _T.TIMER): _rediscover,
    (_S.DISCOVERING, _T.SHUTDOWN): _shutdown,
}
"""Every transition. Missing pairs leave the entry unchanged: for instance a Binding
Acknowledgement in a state that awaits none, a care-of address change while at home
(recorded, since the home link wins), or a shutdown at home (the home address stays)."""

_AWAITING = frozenset({_S.REGISTERING, _S.REFRESHING, _S.DEREGISTERING})
_AWAY_WITH_STATE = _AWAITING | {_S.REGISTERED}
_ACK_TRIGGER_SET = frozenset({_T.ACCEPTED, _T.REJECTED, _T.NOT_HOME_AGENT,
                              _T.BOUND_WITHOUT_BID, _T.MULTIPLE_PROHIBITED})


# -- declared state ----------------------------------------------------------------------


def desired_state(entry: BulEntry, s: MnSettings) -> tuple[Effect, ...]:
    """The kernel state ``entry`` needs, as an install list (see the module's text)."""
    reg = entry.registration
    home = reg.home_address.ip
    if entry.home_link is not None:
        if entry.state in (_S.HOME, _S.DEREGISTERING):
            return (AddAddress(reg.home_address, entry.home_link, home_address=True, nodad=True),)
        return ()
    signalling_coa = entry.care_of or entry.registered_coa
    if entry.state not in _AWAY_WITH_STATE or signalling_coa is None:
        return ()
    home_host = IPv6Network(home)
    # Away, what leaves from the home address (and a mobile network's prefixes) goes
    # through the tunnel or nowhere: until the tunnel's route is in the table, the
    # unreachable route refuses it, so that a packet the home agent tunnels in the
    # first moments is never answered in clear on the foreign link (the route cannot
    # come first: Linux refuses a route through a tunnel that is not up yet). The home
    # address's own Mobility Header messages, the Binding Updates, use the main table.
    away: list[Effect] = [
        AddXfrmState(XfrmRoProto.ROUTE2, reg.home_agent, home, signalling_coa),
        *((AddXfrmState(XfrmRoProto.HAO, home, reg.home_agent, signalling_coa),)
          if reg.protected else ()),
        AddUnreachableRoute(_DEFAULT_ROUTE, s.mip6_table, REFUSE_METRIC),
        AddRule(s.hoa_mh_priority, MAIN_TABLE, source=home_host, protocol=MH_PROTOCOL),
        AddRule(s.hoa_out_priority, s.mip6_table, source=home_host),
    ]
    for prefix in reg.mobile_network_prefixes if reg.mobile_router else ():
        away.append(AddRule(s.mnp_in_priority, MAIN_TABLE, destination=prefix))
        away.append(AddRule(s.mnp_out_priority, s.mip6_table, source=prefix))
    if entry.registered_coa is None:
        return tuple(away)
    return (
        AddTunnel(reg.tunnel, entry.registered_coa, reg.home_agent),
        # The home agent tunnels each binding's share of the traffic (its flows) to its
        # own care-of address: a tunnel with those endpoints takes it in.
        *(AddTunnel(binding_tunnel(reg.tunnel, b.bid), b.care_of, reg.home_agent)
          for b in entry.registered_bindings if b.care_of != entry.registered_coa),
        *away,
        AddRoute(_DEFAULT_ROUTE, reg.tunnel, s.mip6_table),
        # The home address on the tunnel last: it is on lo already (the shell puts it
        # there for the first Binding Acknowledgement), this makes it the tunnel's.
        AddAddress(IPv6Interface(home), reg.tunnel, home_address=True, nodad=True),
        # The home agent's own packets may come with a type 2 routing header (the
        # reference stack's way) as well as through the tunnel.
        direct_policy(reg.home_agent, home, XfrmRoProto.ROUTE2),
    )


def binding_tunnel(tunnel: str, bid: int) -> str:
    """The name of the tunnel of binding ``bid`` when it is not the primary one."""
    return f"{tunnel}b{bid}"


def _timer_at(entry: BulEntry) -> float | None:
    if entry.state is _S.DISCOVERING:
        return entry.sent_at + entry.timeout
    if entry.state in _AWAITING:
        at = entry.sent_at + entry.timeout
        return at if entry.expires_at is None else min(at, entry.expires_at)
    if entry.state is _S.REGISTERED and entry.expires_at is not None:
        if entry.care_of is not None and entry.refresh_at is not None:
            return min(entry.refresh_at, entry.expires_at)
        return entry.expires_at
    return None


def timer_key(entry: BulEntry) -> TimerKey:
    """The key of ``entry``'s timer."""
    return TimerKey(TimerKind.BINDING_UPDATE, str(entry.home_address))


def _note(entry: BulEntry, event: BulEvent) -> BulEntry:
    """Bookkeeping every event does whatever the state: where the node is."""
    match event:
        case CareOfChanged(address=address, valid_until=valid_until, bindings=bindings):
            return replace(entry, care_of=address, coa_valid_until=valid_until,
                           bindings=bindings)
        case ReturnedHome(ifname=ifname):
            return replace(entry, home_link=ifname)
        case LeftHome():
            return replace(entry, home_link=None)
    return entry


def step(entry: BulEntry, event: BulEvent, now: float, settings: MnSettings) -> _Result:
    """Apply ``event`` at time ``now``: the new entry and the effects, in order: kernel
    changes, then messages and logs, then the timer; except that a transition that
    removes the binding's state away from home and sends a Binding Update (a
    deregistration), or that deregisters some BIDs, puts its messages and logs before
    the kernel changes."""
    trigger = trigger_of(event)
    effects: tuple[Effect, ...] = ()
    if (isinstance(event, CareOfChanged) and event.address == entry.care_of
            and event.bindings == entry.bindings):
        return _note(entry, event), ()
    if trigger is _T.TIMER and (entry.timer_at is None or now < entry.timer_at):
        return entry, ()
    if trigger in _ACK_TRIGGER_SET and entry.state in _AWAITING:
        ack = _ack(event)
        if not seqno.in_window(ack.sequence, entry.first_sequence, entry.sequence):
            return entry, (
                log(
                    "binding-ack-ignored",
                    **_event_fields(entry),
                    sequence=ack.sequence,
                    reason="sequence number not sent",
                ),
            )
    handler = TRANSITIONS.get((entry.state, trigger))
    was_away = entry.home_link is None
    entry = _note(entry, event)
    if handler is not None:
        entry, effects = handler(entry, event, now, settings)
    elif isinstance(event, AckReceived):
        effects = (
            log(
                "binding-ack-ignored",
                **_event_fields(entry),
                state=entry.state,
                status=int(event.ack.status),
            ),
        )
    desired = desired_state(entry, settings)
    kernel = reconcile(entry.installed, desired)
    timer_at = _timer_at(entry)
    timer: tuple[Effect, ...] = ()
    if timer_at != entry.timer_at:
        timer = (
            (StartTimer(timer_key(entry), timer_at),)
            if timer_at is not None
            else (CancelTimer(timer_key(entry)),)
        )
    entry = replace(entry, installed=desired, timer_at=timer_at)
    binding_goes = was_away and not desired
    sends_update = any(isinstance(e, SendMessage) for e in effects)
    if sends_update and (binding_goes or entry.dropping):
        # The last Binding Update (a stopping node's, a refused mobile router's) leaves
        # before the state that carries it goes: a protected one's hao state, the rule
        # keeping it off the tunnel's table. A deregistration of a lost link's BID needs
        # nothing of the kernel changes (the tunnel moving to a held binding): it goes
        # first, so that the home agent moves the link's traffic the sooner. Otherwise
        # the kernel comes first: a handover's tunnel, or the home address on the home
        # link, before the update.
        return entry, (*effects, *kernel, *timer)
    return entry, (*kernel, *effects, *timer)
