"""Home agent processing of home registrations (RFC 6275 sections 9.5, 10.3 and 10.4;
RFC 3963 section 6 for mobile routers; RFC 5648 for several care-of addresses).

:class:`HomeAgent` is a deterministic state machine around a
:class:`~mip6d.core.bcache.BindingCache`: each call takes ``now`` (seconds since the
UNIX epoch) and returns the Binding Acknowledgement to send, if any, and the effects for
the shell (:mod:`mip6d.core.effects`). It does no I/O.

A Binding Update is checked in this order; the first check that fails decides the
status of a negative Binding Acknowledgement (lifetime 0, the Binding Update's sequence
number, no flags):

====  ===================================================  ==============================
code  condition                                            reference
====  ===================================================  ==============================
 --   IPsec required and the Binding Update arrived        RFC 6275 s. 5.1, RFC 3776 s. 4
      without it: dropped silently, no acknowledgement     (see :mod:`.policy`)
 --   duplicate address detection for this home address   RFC 6275 s. 10.3.1
      in progress: ignored, the result answers it; a
      newer registration that passes the checks below
      takes the waiting one's place (the result answers
      the node's latest Binding Update)
131   H flag clear: this daemon is a home agent only and   RFC 6275 s. 6.1.8, 10.3.1
      does not act as a correspondent node
132   home address outside every served home prefix, or    RFC 6275 s. 10.3.1
      not one a node may own there (Subnet-Router
      anycast, a home agent address), or the prefix's
      valid lifetime is over
129   home address refused by the binding ACL             RFC 6275 s. 6.1.8
166   Binding Identifier options, and HaAcceptMultipleCoA  RFC 5648 s. 6.2
      is disabled
164   Binding Identifier options: a BID twice, a bulk      RFC 5648 s. 6.2
      registration's BID without its care-of address, an
      IPv4 care-of address
169   a BID with the H flag (home and away at once)       RFC 5648 s. 6.2
165   BIDs for a home address bound without BID           RFC 5648 s. 6.2
135   sequence number not greater than the binding's      RFC 6275 s. 9.5.1; the
      (modulo 2**16; with BIDs, their bindings')           acknowledgement carries the
                                                           last accepted number
133   deregistration of a home address (or of a BID)      RFC 6275 s. 10.3.2, RFC 5648
      without binding                                      s. 6.2
140   R flag, and mobile routers are not accepted, or the  RFC 3963 s. 4.2, 6.6
      node's BindingAclPolicy lists no prefixes and no
      HaServedPrefix is set
141   an announced prefix is not a valid mobile network    RFC 3963 s. 4.2, 6.2
      prefix (not global unicast, or overlaps a home link)
142   an announced prefix is not configured for this       RFC 3963 s. 4.2, 6.2
      node (nor inside a HaServedPrefix when none is),
      or is routed to another mobile router
143   implicit mode and a configured prefix is routed to   RFC 3963 s. 4.2, 6.2
      another mobile router; or the shell could not set
      up forwarding (:meth:`HomeAgent.forwarding_failed`)
134   duplicate address detection failed                   RFC 6275 s. 10.3.1
====  ===================================================  ==============================

Accepted registrations:

* Lifetime granted = min(requested, HaMaxBindingLife, remaining valid lifetime of the
  home prefix), rounded down to 4-second units (RFC 6275 section 10.3.1).
* The Binding Acknowledgement has the R flag when the registration is a mobile router's
  (RFC 3963 section 4.2), the K flag only when the Binding Update had it, key
  management mobility is configured and the node's IPsecPolicySet is not statically
  keyed (RFC 6275 sections 6.1.7 and 10.3.1). It goes to the Binding
  Update's source address, through a type 2 routing header naming the home address when
  that source is not the home address (section 9.5.4), and it is sent only when the A
  flag asked for it (a refusal is always sent).
* First registration of a home address: duplicate address detection on the home link
  (:class:`~mip6d.core.effects.CheckDuplicateAddress`, also for the link-local address
  when the L flag is set) before anything is installed; the shell answers with
  :meth:`HomeAgent.dad_complete`. Retransmitted Binding Updates meanwhile are ignored.
* Kernel state per binding: a route to the home address, and to each mobile network
  prefix, out of an ip6ip6 tunnel to the care-of address (shared by bindings with the
  same care-of address; moved in place, routes kept, when a node that has it alone
  changes care-of address); proxy Neighbor Discovery for the home address (and its
  link-local address with the L flag) on the home link (section 10.4.1). At start, one
  wildcard ``proto hao`` XFRM state per home agent address lets the kernel accept Binding
  Updates that carry a Home Address option from any care-of address.
* Deregistration (lifetime 0 or care-of address = home address) removes all of it
  before the acknowledgement is sent (section 10.3.2).
* Several care-of addresses (RFC 5648): a Binding Update with Binding Identifier options
  registers (or, lifetime 0, removes) one binding per BID, each with its care-of address
  (the option's, else the packet's) and its tunnel; the bindings it does not name stay.
  The home address and the prefixes are routed to the preferred binding (lowest BID-PRI,
  RFC 6089), and move to the next one, without a new registration, when it is removed or
  expires. The acknowledgement carries the BID options with their status. A Binding
  Update without BID speaks for the home address as a whole (RFC 6275): it replaces, or
  removes, all its bindings.
* Flow bindings (RFC 6089, :mod:`mip6d.core.flows`): a Binding Update's Flow
  Identification options add or change flows, its Flow Summary keeps them, and when it
  has either, the flows it does not name go; one without leaves them as they are. Each
  Flow Identification option is answered in the acknowledgement with its status; a
  refusal leaves the flow as it was. The flows go with the home address's last binding.

Effects come in this order: kernel changes, a log record, the expiry timer, the
acknowledgement. If the shell fails to apply a kernel effect, it stops and calls
:meth:`HomeAgent.forwarding_failed`, which removes the binding and answers 143 (a
mobile router) or 130 (a mobile node).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from itertools import chain
from typing import NamedTuple

from mip6d.core import seqno
from mip6d.core.bcache import Binding, BindingCache, FlowBinding, NemoMode, preference
from mip6d.core.effects import (
    AddProxyNeighbour,
    AddRoute,
    AddTunnel,
    AddXfrmState,
    CancelTimer,
    ChangeTunnel,
    CheckDuplicateAddress,
    Effect,
    MigrateKeying,
    RemoveTunnel,
    SendMessage,
    StartTimer,
    TimerKey,
    TimerKind,
    XfrmRoProto,
    diff,
    is_removal,
    log,
    reconcile,
)
from mip6d.core.flows import accept_flow, flow_effects
from mip6d.core.ipsec import direct_policy
from mip6d.core.policy import HomeAgentPolicy, HomeLink
from mip6d.wire.mh import (
    AlternateCareOfAddress,
    BAFlag,
    BAStatus,
    BindingAck,
    BindingIdentifier,
    BindingUpdate,
    BUFlag,
    FlowIdentification,
    FlowIdentificationStatus,
    FlowSummary,
    MobileNetworkPrefix,
)

__all__ = [
    "DAD_PENDING_LIMIT",
    "EXPIRY_TIMER",
    "HaOutcome",
    "HomeAgent",
    "Unanswered",
    "binding_addresses",
    "binding_effects",
    "direct_effects",
    "home_effects",
    "link_local_of",
]

EXPIRY_TIMER = TimerKey(TimerKind.BINDING_EXPIRY)
"""The home agent's one timer: the earliest binding expiry."""

DAD_PENDING_LIMIT = 10.0
"""Seconds after which a duplicate address detection the shell never answered is
forgotten, so that a new Binding Update for the home address is processed again."""

_UNSPECIFIED = IPv6Address("::")
_KNOWN_BU_FLAGS = BUFlag.A | BUFlag.H | BUFlag.L | BUFlag.K | BUFlag.M | BUFlag.R | BUFlag.P


class Unanswered(StrEnum):
    """What became of a Binding Update that got no status."""

    DROPPED = "dropped"
    """IPsec is required and the Binding Update came without it."""
    IGNORED = "ignored"
    """Duplicate address detection for its home address is in progress."""
    SUPERSEDED = "superseded"
    """It waited for duplicate address detection, and a newer one took its place."""


class HaOutcome(NamedTuple):
    """What a home agent call produced: the Binding Acknowledgement sent, if any (it is
    also the last effect, a :class:`~mip6d.core.effects.SendMessage`), and the effects
    in the order the shell applies them.

    ``verdict`` is what became of the Binding Update: the status of the
    acknowledgement (also when the A flag asked for none), an :class:`Unanswered`
    reason, or ``None`` while it waits for duplicate address detection (the verdict
    then comes with :meth:`HomeAgent.dad_complete`) and for calls that decided nothing.
    (A Binding Update that takes the place of one waiting gives that one's verdict,
    :attr:`Unanswered.SUPERSEDED`, and waits.)
    ``handover`` says that an accepted Binding Update moved its binding to a new
    care-of address."""

    ack: BindingAck | None
    effects: tuple[Effect, ...]
    verdict: BAStatus | Unanswered | None = None
    handover: bool = False


def binding_addresses(
    src: IPv6Address, bu: BindingUpdate, home_address_option: IPv6Address | None
) -> tuple[IPv6Address, IPv6Address]:
    """``(home address, care-of address)`` of a received Binding Update (RFC 6275
    section 9.5.1): the home address is the Home Address option's, else the source
    address; the care-of address is the Alternate Care-of Address option's, else the
    source address."""
    home = home_address_option if home_address_option is not None else src
    care_of = src
    for option in bu.options:
        if isinstance(option, AlternateCareOfAddress):
            care_of = option.address
    return home, care_of


def link_local_of(address: IPv6Address) -> IPv6Address:
    """The link-local address with the interface identifier of ``address``
    (``fe80::/64``), which the L flag asks the home agent to defend too."""
    return IPv6Address((0xFE80 << 112) | (int(address) & ((1 << 64) - 1)))


def binding_effects(binding: Binding) -> tuple[Effect, ...]:
    """The kernel state of one binding, in install order, its tunnel excepted (tunnels
    are shared and counted by the cache)."""
    effects: list[Effect] = [AddRoute(IPv6Network(binding.home_address), binding.tunnel)]
    effects.extend(AddRoute(prefix, binding.tunnel) for prefix in binding.prefixes)
    effects.append(AddProxyNeighbour(binding.home_address, binding.home_ifname))
    if BUFlag.L in binding.flags:
        effects.append(AddProxyNeighbour(link_local_of(binding.home_address), binding.home_ifname))
    return (*effects, *direct_effects(binding))


def home_effects(bindings: Sequence[Binding], flows: Sequence[FlowBinding] = ()
                 ) -> tuple[Effect, ...]:
    """The kernel state of one home address's bindings, their tunnels excepted: the
    preferred binding's (RFC 5648: the home address and prefixes are routed to one
    care-of address; the others wait, tunnels up, to take over), then its flow bindings'
    (RFC 6089, :func:`~mip6d.core.flows.flow_effects`)."""
    if not bindings:
        return ()
    return (*binding_effects(min(bindings, key=preference)), *flow_effects(bindings, flows))


def direct_effects(binding: Binding) -> tuple[Effect, ...]:
    """What lets the node reach this home agent with a Home Address option from its
    care-of address, the reference stack's way (and from nowhere else): not needed to
    forward, so installed after the acknowledgement has left."""
    return (AddXfrmState(XfrmRoProto.HAO, binding.home_address, binding.ha_address,
                         binding.care_of),
            direct_policy(binding.home_address, binding.ha_address, XfrmRoProto.HAO))


def _bid_field(binding: Binding) -> dict[str, object]:
    """A log record's ``bid`` field, for a binding registered with one."""
    return {} if binding.bid is None else {"bid": binding.bid}


def _global_effects(policy: HomeAgentPolicy) -> tuple[Effect, ...]:
    return tuple(
        AddXfrmState(XfrmRoProto.HAO, _UNSPECIFIED, address, _UNSPECIFIED)
        for address in policy.ha_addresses
    )


@dataclass(frozen=True, slots=True)
class _Request:
    bu: BindingUpdate
    src: IPv6Address
    dst: IPv6Address
    home_address: IPv6Address
    care_of: IPv6Address
    received_at: float

    @property
    def bids(self) -> tuple[BindingIdentifier, ...]:
        """The Binding Identifier options (RFC 5648): none for a regular Binding Update."""
        return tuple(o for o in self.bu.options if isinstance(o, BindingIdentifier))

    def targets(self) -> tuple[tuple[int | None, int, IPv6Address], ...]:
        """``(BID, BID-PRI, care-of address)`` of each binding the Binding Update asks
        for: one per BID, its care-of address the option's or else the packet's (RFC 5648
        section 6.1); without BIDs, the one binding of RFC 6275."""
        # (An IPv4 care-of address is refused before: _check_binding_identifiers.)
        return tuple((o.bid, o.priority,
                      o.care_of if isinstance(o.care_of, IPv6Address) else self.care_of)
                     for o in self.bids) or ((None, 0, self.care_of),)

    def log_fields(self) -> dict[str, object]:
        """The BIDs, for the log records of a multiple care-of address registration."""
        return {"bids": tuple(o.bid for o in self.bids)} if self.bids else {}

    def ack_options(self, status: BAStatus) -> tuple[BindingIdentifier, ...]:
        """The Binding Update's BID options, copied into the acknowledgement with its
        status (RFC 5648 section 6.2)."""
        return tuple(replace(o, status=status) for o in self.bids)


Endpoints = tuple[IPv6Address, IPv6Address]


def _tunnel_effects(before: Mapping[str, Endpoints | None],
                    after: Mapping[str, Endpoints | None]) -> tuple[Effect, ...]:
    """What turns tunnels with endpoints ``before`` (``None``: not in use) into ``after``:
    removals first, then moves in place, then new tunnels, as Linux refuses two ip6ip6
    tunnels with the same endpoints."""
    removed: list[Effect] = []
    moved: list[Effect] = []
    added: list[Effect] = []
    for name in sorted(before):
        old, new = before[name], after[name]
        if old is not None and new is None:
            removed.append(RemoveTunnel(name, *old))
        elif old is not None and new is not None and old != new:
            moved.append(ChangeTunnel(name, *new, *old))
        elif old is None and new is not None:
            added.append(AddTunnel(name, *new))
    return (*removed, *moved, *added)


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A registration that passed every check, before it is committed."""

    request: _Request
    link: HomeLink
    lifetime: int
    prefixes: tuple[IPv6Network, ...]
    nemo_mode: NemoMode
    detection_started_at: float | None = None
    """When the duplicate address detection it waits for started, if it does."""


_Check = Callable[["HomeAgent", _Request], "BAStatus | None"]


class HomeAgent:
    """A home agent: policy, binding cache and the pending duplicate address checks."""

    def __init__(self, policy: HomeAgentPolicy, cache: BindingCache | None = None) -> None:
        self.policy = policy
        self.cache = cache if cache is not None else BindingCache(policy.tunnel_prefix)
        self._pending: dict[IPv6Address, _Accepted] = {}
        self._timer_at: float | None = None

    # -- start -----------------------------------------------------------------------

    def restore(self, now: float) -> tuple[Effect, ...]:
        """The effects that (re)create the kernel state at daemon start.

        Bindings that expired while the daemon was down, or that the current policy no
        longer allows, are dropped and their leftovers torn down (the shell ignores
        objects that are already gone); every other binding is installed again, which
        is harmless over state the kernel kept (``Add*`` effects are idempotent).
        """
        effects: list[Effect] = list(_global_effects(self.policy))
        saved = {home: self.cache.bindings_of(home) for home in self.cache.homes()}
        for binding in self.cache.pop_expired(now):
            effects.append(log("binding-expired", home_address=binding.home_address,
                               **_bid_field(binding)))
        for binding in self.cache.sorted():
            revised, reason = self._revalidate(binding)
            if revised is None:
                self.cache.remove(binding.home_address, binding.bid)
                effects.append(log("binding-removed", home_address=binding.home_address,
                                   reason=reason, **_bid_field(binding)))
            elif revised != binding:
                self.cache.put(revised)
        for home, old in saved.items():  # what the kernel may still hold and must not
            effects.extend(self._home_diff(home, old)[0])
        effects.extend(e for e in self._tunnels_after(chain(*saved.values())) if is_removal(e))
        seen: set[str] = set()
        for home in self.cache.homes():
            bindings = self.cache.bindings_of(home)
            for binding in bindings:
                if binding.tunnel not in seen:
                    seen.add(binding.tunnel)
                    effects.append(AddTunnel(binding.tunnel, binding.ha_address, binding.care_of))
            effects.extend(home_effects(bindings, self.cache.flows_of(home)))
        effects.append(log("binding-cache-restored", bindings=len(self.cache)))
        self._timer_at = None
        effects.extend(self._timer())
        return tuple(effects)

    # -- Binding Updates -------------------------------------------------------------

    def handle_binding_update(
        self,
        bu: BindingUpdate,
        src: IPv6Address,
        dst: IPv6Address,
        home_address: IPv6Address,
        care_of: IPv6Address,
        now: float,
        protected: bool,
    ) -> HaOutcome:
        """Process a Binding Update that arrived from ``src`` to ``dst`` (one of this
        home agent's addresses) for ``home_address`` and ``care_of`` (see
        :func:`binding_addresses`); ``protected`` says whether it arrived under IPsec
        ESP."""
        request = _Request(bu, src, dst, home_address, care_of, now)
        if self.policy.require_ipsec and not protected:
            return HaOutcome(
                None,
                (
                    log(
                        "binding-update-dropped",
                        home_address=home_address,
                        src=src,
                        sequence=bu.sequence,
                        reason="not protected by IPsec",
                    ),
                ),
                Unanswered.DROPPED,
            )
        pending = self._pending.get(home_address)
        if pending is not None:
            assert pending.detection_started_at is not None
            if now - pending.detection_started_at < DAD_PENDING_LIMIT:
                return self._while_detecting(request, pending)
            del self._pending[home_address]
        verdict = self._verdict(request)
        if isinstance(verdict, BAStatus):
            return self._refuse(request, verdict)
        if verdict is None:
            return self._deregister(request)
        if home_address not in self.cache and self.policy.duplicate_address_detection:
            self._pending[home_address] = replace(verdict, detection_started_at=now)
            addresses: tuple[IPv6Address, ...] = (home_address,)
            if BUFlag.L in bu.flags:
                addresses += (link_local_of(home_address),)
            return HaOutcome(
                None,
                (
                    CheckDuplicateAddress(addresses, verdict.link.ifname),
                    log(
                        "duplicate-address-detection", home_address=home_address,
                        ifname=verdict.link.ifname,
                    ),
                ),
            )
        return self._commit(verdict, now)

    def _verdict(self, request: _Request) -> _Accepted | BAStatus | None:
        """What the checks make of ``request``: the status that refuses it, ``None`` for
        a deregistration, else the registration to commit."""
        for check in _CHECKS:
            status = check(self, request)
            if status is not None:
                return status
        if request.bu.lifetime == 0 or request.care_of == request.home_address:
            return None
        status, prefixes, mode = self._mobile_network(request)
        if status is not None:
            return status
        link = self.policy.home_link_for(request.home_address)
        assert link is not None  # _check_home_subnet passed
        lifetime = self._grant(request.bu, link, request.received_at)
        if lifetime is None:
            return BAStatus.NOT_HOME_SUBNET
        return _Accepted(request, link, lifetime, prefixes, mode)

    def _while_detecting(self, request: _Request, pending: _Accepted) -> HaOutcome:
        """A Binding Update for a home address whose duplicate address detection is in
        progress. A newer registration that passes every check, for the same addresses
        (the L flag alike), takes the pending one's place: the detection's result
        answers the node's latest Binding Update, be it a retransmission (which a peer
        that checks the sequence number of the answer expects) or one with more
        care-of addresses. Anything else is ignored."""
        bu, waiting = request.bu, pending.request.bu
        verdict = self._verdict(request)
        if (isinstance(verdict, _Accepted) and seqno.is_greater(bu.sequence, waiting.sequence)
                and (BUFlag.L in bu.flags) == (BUFlag.L in waiting.flags)):
            self._pending[request.home_address] = replace(
                verdict, detection_started_at=pending.detection_started_at)
            return HaOutcome(None, (log(
                "binding-update-pending", home_address=request.home_address,
                sequence=bu.sequence, replaces=waiting.sequence),), Unanswered.SUPERSEDED)
        return HaOutcome(None, (log(
            "binding-update-ignored", home_address=request.home_address, sequence=bu.sequence,
            reason="duplicate address detection in progress"),), Unanswered.IGNORED)

    def dad_complete(self, home_address: IPv6Address, unique: bool, now: float) -> HaOutcome:
        """The shell's answer to :class:`~mip6d.core.effects.CheckDuplicateAddress`:
        commit the registration, or refuse it with status 134."""
        accepted = self._pending.pop(home_address, None)
        if accepted is None:
            return HaOutcome(
                None, (log("duplicate-address-detection-ignored", home_address=home_address),)
            )
        if not unique:
            return self._refuse(accepted.request, BAStatus.DAD_FAILED)
        return self._commit(accepted, now)

    def forwarding_failed(self, home_address: IPv6Address) -> HaOutcome:
        """The shell could not apply the kernel effects of the binding of
        ``home_address``: remove the binding and tell the node (143 for a mobile router,
        RFC 3963 section 4.2; 130 for a mobile node, RFC 6275 section 6.1.8)."""
        bindings = self.cache.bindings_of(home_address)
        if not bindings:
            return HaOutcome(None, (log("forwarding-failed-ignored", home_address=home_address),))
        binding = bindings[0]
        effects = self._replace(home_address, ())
        status = (
            BAStatus.FORWARDING_SETUP_FAILED
            if binding.mobile_router
            else BAStatus.INSUFFICIENT_RESOURCES
        )
        ack = BindingAck(status, binding.sequence, 0, options=tuple(
            BindingIdentifier(b.bid, status=status) for b in bindings if b.bid is not None))
        send = SendMessage(
            ack,
            binding.ha_address,
            binding.care_of,
            routing_header=None if binding.care_of == home_address else home_address,
        )
        record = log(
            "binding-removed",
            home_address=home_address,
            reason="forwarding setup failed",
            status=status,
        )
        return HaOutcome(ack, (*effects, record, *self._timer(), send), status)

    # -- expiry, administration, reload -----------------------------------------------

    def expire(self, now: float) -> tuple[Effect, ...]:
        """Remove the bindings whose lifetime is over (RFC 6275 section 10.3.1)."""
        expired = self.cache.pop_expired(now)
        effects: list[Effect] = []
        for home in dict.fromkeys(b.home_address for b in expired):
            gone = tuple(b for b in expired if b.home_address == home)
            # The routes move to a binding left, if any (RFC 5648): no new tunnel.
            effects.extend(chain(*self._home_diff(home, (*gone, *self.cache.bindings_of(home)))))
            effects.extend(log("binding-expired", home_address=home, care_of=b.care_of,
                               **_bid_field(b)) for b in gone)
        effects.extend(self._tunnels_after(expired))
        effects.extend(self._timer())
        return tuple(effects)

    def remove_node(self, home_address: IPv6Address) -> tuple[Effect, ...]:
        """Forget the binding (or pending registration) of ``home_address`` at an
        operator's request."""
        if self._pending.pop(home_address, None) is not None:
            return (log("registration-cancelled", home_address=home_address),)
        if home_address not in self.cache:
            return (log("remove-node-unknown", home_address=home_address),)
        return (
            *self._replace(home_address, ()),
            log("binding-removed", home_address=home_address, reason="removed by operator"),
            *self._timer(),
        )

    def apply_policy(self, policy: HomeAgentPolicy) -> tuple[Effect, ...]:
        """Switch to ``policy`` (a configuration reload): bindings it still allows are
        kept, with their lifetime shortened to the new limits and their implicit-mode
        prefixes updated; the others are removed."""
        old_globals = _global_effects(self.policy)
        self.policy = policy
        effects: list[Effect] = list(reconcile(old_globals, _global_effects(policy)))
        for home_address in sorted(self._pending):
            if (
                not self.policy.allows(home_address)
                or self.policy.home_link_for(home_address) is None
            ):
                del self._pending[home_address]
                effects.append(log("registration-cancelled", home_address=home_address))
        for home in self.cache.homes():
            old = self.cache.bindings_of(home)
            kept: list[Binding] = []
            records: list[Effect] = []
            for binding in old:
                revised, reason = self._revalidate(binding)
                if revised is None:
                    records.append(log("binding-removed", home_address=home, reason=reason,
                                       **_bid_field(binding)))
                else:
                    kept.append(revised)
                    if revised != binding:
                        records.append(log("binding-updated", home_address=home,
                                           **_bid_field(binding)))
            if records:
                effects.extend(self._replace(home, kept))
                effects.extend(records)
        effects.extend(self._timer())
        return tuple(effects)

    def next_timer(self) -> float | None:
        """When :meth:`expire` should run next (the armed timer), if ever."""
        return self._timer_at

    # -- checks ----------------------------------------------------------------------

    def _check_home_registration(self, request: _Request) -> BAStatus | None:
        return None if BUFlag.H in request.bu.flags else BAStatus.HOME_REGISTRATION_NOT_SUPPORTED

    def _check_home_subnet(self, request: _Request) -> BAStatus | None:
        address = request.home_address
        link = self.policy.home_link_for(address)
        if (
            link is None
            or address.is_multicast
            or address.is_link_local
            or any(address == prefix.network_address  # Subnet-Router anycast
                   for prefix in (link.prefix, *link.advertised_prefixes))
            or address in self.policy.ha_addresses
        ):
            return BAStatus.NOT_HOME_SUBNET
        return None

    def _check_acl(self, request: _Request) -> BAStatus | None:
        return (
            None
            if self.policy.allows(request.home_address)
            else BAStatus.ADMINISTRATIVELY_PROHIBITED
        )

    def _check_binding_identifiers(self, request: _Request) -> BAStatus | None:
        """RFC 5648 section 6.2: BIDs accepted at all (HaAcceptMultipleCoA); named once,
        each with its care-of address in a bulk registration, IPv6 ones (this home agent
        has no IPv4 tunnels); no H flag (this home agent does not forward at home and away
        at once); and no binding without BID to add them to (the O flag that would
        replace it is BID-PRI since RFC 6089)."""
        bids = request.bids
        if not bids:
            return None
        if not self.policy.accept_multiple_care_of:
            return BAStatus.MCOA_PROHIBITED
        numbers = {o.bid for o in bids}
        if (len(numbers) < len(bids)
                or any(isinstance(o.care_of, IPv4Address) for o in bids)
                or (len(bids) > 1 and any(o.care_of is None for o in bids))):
            return BAStatus.MCOA_MALFORMED
        if any(o.simultaneous_home for o in bids):
            return BAStatus.MCOA_SIMULTANEOUS_HOME_AND_FOREIGN_PROHIBITED
        if request.bu.lifetime and self.cache.get(request.home_address) is not None:
            return BAStatus.MCOA_NON_MCOA_BINDING_EXISTS
        return None

    def _check_sequence(self, request: _Request) -> BAStatus | None:
        last = self._last_sequence(request)
        if last is None or seqno.is_greater(request.bu.sequence, last):
            return None
        return BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW

    def _last_sequence(self, request: _Request) -> int | None:
        """The number a Binding Update must exceed: the last one accepted for the bindings
        it names (its BIDs' or, without BIDs, the home address's), if any."""
        home = request.home_address
        bids = {o.bid for o in request.bids}
        known = [b for b in self.cache.bindings_of(home) if not bids or b.bid in bids]
        return max(known, key=lambda b: b.refreshed_at).sequence if known else None

    def _mobile_network(
        self, request: _Request
    ) -> tuple[BAStatus | None, tuple[IPv6Network, ...], NemoMode]:
        """RFC 3963 sections 5.2 and 6.2: the prefixes to route to a mobile router,
        announced (explicit mode) or configured (implicit mode)."""
        if BUFlag.R not in request.bu.flags:
            return None, (), NemoMode.NONE
        home_address = request.home_address
        if not self.policy.mobile_router_allowed(home_address):
            return BAStatus.MOBILE_ROUTER_OPERATION_NOT_PERMITTED, (), NemoMode.NONE
        announced = tuple(
            dict.fromkeys(
                o.prefix for o in request.bu.options if isinstance(o, MobileNetworkPrefix)
            )
        )
        if announced:
            if not all(self.policy.prefix_valid(p) for p in announced):
                return BAStatus.INVALID_PREFIX, (), NemoMode.EXPLICIT
            for prefix in announced:
                owner = self.cache.prefix_owner(prefix)
                if not self.policy.prefix_authorized(home_address, prefix) or owner not in (
                    None,
                    home_address,
                ):
                    return BAStatus.NOT_AUTHORIZED_FOR_PREFIX, (), NemoMode.EXPLICIT
            return None, announced, NemoMode.EXPLICIT
        configured = self.policy.configured_prefixes(home_address)
        if not configured or any(
            self.cache.prefix_owner(p) not in (None, home_address) for p in configured
        ):
            return BAStatus.FORWARDING_SETUP_FAILED, (), NemoMode.IMPLICIT
        return None, configured, NemoMode.IMPLICIT

    def _grant(self, bu: BindingUpdate, link: HomeLink, now: float) -> int | None:
        """Granted lifetime in seconds, a multiple of 4; ``None`` when the home prefix
        has less than 4 seconds of valid lifetime left."""
        limit = min(bu.lifetime * 4, self.policy.max_binding_life)
        if link.valid_until is not None:
            limit = min(limit, int(link.valid_until - now))
        units = limit // 4
        return units * 4 if units > 0 else None

    def _revalidate(self, binding: Binding) -> tuple[Binding | None, str]:
        """``binding`` as the current policy allows it, or ``None`` and why not."""
        policy = self.policy
        link = policy.home_link_for(binding.home_address)
        if link is None:
            return None, "home prefix no longer served"
        if binding.ha_address not in policy.ha_addresses:
            return None, "home agent address gone"
        if not policy.allows(binding.home_address):
            return None, "refused by policy"
        prefixes = binding.prefixes
        if binding.mobile_router:
            if not policy.mobile_router_allowed(binding.home_address):
                return None, "mobile router operation no longer permitted"
            if binding.nemo_mode is NemoMode.IMPLICIT:
                prefixes = policy.configured_prefixes(binding.home_address)
            if not all(policy.prefix_authorized(binding.home_address, p) for p in prefixes):
                return None, "prefix no longer authorized"
            if any(
                self.cache.prefix_owner(p) not in (None, binding.home_address) for p in prefixes
            ):
                return None, "prefix routed to another mobile router"
        expires_at = min(binding.expires_at, binding.refreshed_at + policy.max_binding_life)
        if link.valid_until is not None:
            expires_at = min(expires_at, link.valid_until)
        return (
            replace(
                binding,
                home_ifname=link.ifname,
                prefixes=prefixes,
                lifetime=min(binding.lifetime, policy.max_binding_life),
                expires_at=expires_at,
            ),
            "",
        )

    # -- outcomes --------------------------------------------------------------------

    def _ack_flags(self, request: _Request) -> BAFlag:
        """R for a mobile router; K when the Binding Update had it, this home agent's
        keying daemon can move IKE SAs and the node is not statically keyed (keying is
        per IPsecPolicySet, so one home agent acknowledges K to some nodes only)."""
        flags = BAFlag(0)
        bu = request.bu
        if BUFlag.R in bu.flags:
            flags |= BAFlag.R
        if (BUFlag.K in bu.flags and self.policy.key_management_mobility
                and request.home_address not in self.policy.static_keyed):
            flags |= BAFlag.K
        return flags

    @staticmethod
    def _send_ack(request: _Request, ack: BindingAck) -> SendMessage:
        return SendMessage(
            ack,
            request.dst,
            request.src,
            routing_header=None if request.src == request.home_address else request.home_address,
        )

    def _refuse(self, request: _Request, status: BAStatus) -> HaOutcome:
        last = (self._last_sequence(request)
                if status is BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW else None)
        sequence = request.bu.sequence if last is None else last
        ack = BindingAck(status, sequence, 0, options=request.ack_options(status))
        record = log(
            "binding-update-refused",
            home_address=request.home_address,
            care_of=request.care_of,
            sequence=request.bu.sequence,
            status=status,
            **request.log_fields(),
        )
        return HaOutcome(ack, (record, self._send_ack(request, ack)), status)

    def _deregister(self, request: _Request) -> HaOutcome:
        """Remove the bindings the Binding Update names: its BIDs' (each must exist,
        RFC 5648 section 6.2), or without BIDs every binding of the home address."""
        home = request.home_address
        bindings = self.cache.bindings_of(home)
        gone = {o.bid for o in request.bids}
        if not bindings or any(self.cache.get(home, bid) is None for bid in gone):
            return self._refuse(request, BAStatus.NOT_HOME_AGENT_FOR_THIS_MN)
        removed = [b for b in bindings if not gone or b.bid in gone]
        effects = self._replace(home, tuple(b for b in bindings if b not in removed))
        ack = BindingAck(BAStatus.ACCEPTED, request.bu.sequence, 0, self._ack_flags(request),
                         request.ack_options(BAStatus.ACCEPTED))
        record = log(
            "binding-removed",
            home_address=home,
            care_of=removed[0].care_of,
            sequence=request.bu.sequence,
            reason="deregistration",
            **request.log_fields(),
        )
        send = (self._send_ack(request, ack),) if BUFlag.A in request.bu.flags else ()
        return HaOutcome(ack if send else None, (*effects, record, *self._timer(), *send),
                         BAStatus.ACCEPTED)

    def _commit(self, accepted: _Accepted, now: float) -> HaOutcome:
        request = accepted.request
        bu = request.bu
        home = request.home_address
        targets = request.targets()
        named = {bid for bid, _, _ in targets}
        # Without BIDs the binding replaces all of the home address's (RFC 6275: one);
        # with BIDs, those not named stay (RFC 5648 section 6.2).
        previous = self.cache.bindings_of(home)
        kept = tuple(b for b in previous if request.bids and b.bid not in named)
        chosen: dict[IPv6Address, str] = {}  # care-of address -> tunnel, in this commit
        bindings: list[Binding] = []
        records: list[Effect] = []
        effects: tuple[Effect, ...] = ()
        moved_any = False
        for bid, priority, care_of in targets:
            old = self.cache.get(home, bid) or (previous[0] if bid is None and previous else None)
            moved = old is not None and old.care_of != care_of
            moved_any |= moved
            tunnel = chosen.get(care_of) or self._tunnel(request.dst, care_of, old,
                                                         set(chosen.values()))
            chosen[care_of] = tunnel
            binding = Binding(
                home_address=home,
                care_of=care_of,
                ha_address=request.dst,
                home_ifname=accepted.link.ifname,
                tunnel=tunnel,
                sequence=bu.sequence,
                flags=bu.flags & _KNOWN_BU_FLAGS,
                lifetime=accepted.lifetime,
                registered_at=now if old is None else old.registered_at,
                refreshed_at=now,
                expires_at=now + accepted.lifetime,
                prefixes=accepted.prefixes,
                nemo_mode=accepted.nemo_mode,
                updates=1 if old is None else old.updates + 1,
                handovers=0 if old is None else old.handovers + int(moved),
                last_handover=now if moved else None if old is None else old.last_handover,
                bid=bid,
                priority=priority,
            )
            bindings.append(binding)
            if (moved and bid is None and old is not None
                    and BAFlag.K in self._ack_flags(request) and BUFlag.K in old.flags):
                # RFC 4877 section 6: the IKE SA follows the care-of address, before the
                # acknowledgement that the keying daemon's SAs protect leaves. And before
                # the tunnel moves: the tunnel payload's MIGRATE names the policy of the
                # old care-of address, which the move replaces (the kernel refuses a
                # MIGRATE for a policy it does not hold), as the mobile node's does.
                effects = (MigrateKeying(home, request.dst, old.care_of, care_of),)
            event = ("binding-added" if old is None else "binding-moved" if moved
                     else "binding-refreshed")
            records.append(log(
                event,
                home_address=home,
                care_of=care_of,
                sequence=binding.sequence,
                lifetime=binding.lifetime,
                mode=binding.nemo_mode,
                prefixes=binding.prefixes,
                **_bid_field(binding),
            ))
        bound = {b.bid for b in (*kept, *bindings) if b.bid is not None}
        flows, answers, refusals = self._flows(request, bound)
        if flows is not None:
            records += [*refusals, log("flow-bindings", home_address=home,
                                       fids=tuple(f.fid for f in flows))]
        elif not bound:
            flows = ()  # the flow bindings, by BID, went with the BIDs
        effects = (*effects, *self._replace(home, (*kept, *bindings), flows))
        ack = BindingAck(BAStatus.ACCEPTED, bu.sequence, accepted.lifetime // 4,
                         self._ack_flags(request),
                         (*request.ack_options(BAStatus.ACCEPTED), *answers))
        send = (self._send_ack(request, ack),) if BUFlag.A in bu.flags else ()
        # The acknowledgement waits for forwarding only.
        late = set(direct_effects(self.cache.bindings_of(home)[0]))
        effects, after = (tuple(e for e in effects if e not in late),
                          tuple(e for e in effects if e in late))
        return HaOutcome(ack if send else None,
                         (*effects, *records, *self._timer(), *send, *after),
                         BAStatus.ACCEPTED, moved_any)

    def _flows(self, request: _Request, bound: Collection[int]) -> tuple[
            tuple[FlowBinding, ...] | None, tuple[FlowIdentification, ...], tuple[Effect, ...]]:
        """The flow bindings a Binding Update leaves its home address (``None``: it names
        none, they stay as they are), the Flow Identification options that answer it,
        and a log record per refusal. RFC 6089: the flows it names stay (Flow Summary) or
        are added or changed (Flow Identification, a refused change leaving the flow as
        it was); the others go. ``bound`` are the BIDs with a binding."""
        asked = [o for o in request.bu.options if isinstance(o, FlowIdentification)]
        summary = [fid for o in request.bu.options if isinstance(o, FlowSummary)
                   for fid in o.fids]
        if not asked and not summary:
            return None, (), ()
        current = {f.fid: f for f in self.cache.flows_of(request.home_address)}
        kept = {fid: current[fid] for fid in summary if fid in current}
        answers = [FlowIdentification(fid, 0, FlowIdentificationStatus.FID_NOT_FOUND)
                   for fid in summary if fid not in current]
        refusals: list[Effect] = []
        named = Counter(o.fid for o in asked)
        for option in asked:
            flow, status, reason = accept_flow(option, bound)
            if named[option.fid] > 1:
                flow, status, reason = (None, FlowIdentificationStatus.OPTION_MALFORMED,
                                        "FID named twice")
            if flow is not None:
                kept[flow.fid] = flow
            else:
                if option.fid in current:
                    kept[option.fid] = current[option.fid]
                refusals.append(log("flow-binding-refused", home_address=request.home_address,
                                    fid=option.fid, status=status, reason=reason))
            answers.append(FlowIdentification(option.fid, option.priority, status))
        flows = tuple(sorted(kept.values(), key=lambda f: (f.priority, f.fid)))
        return flows, tuple(answers), tuple(refusals)

    def _tunnel(self, local: IPv6Address, care_of: IPv6Address, old: Binding | None,
                taken: set[str]) -> str:
        """The tunnel for a binding to ``care_of``: the one already there, else the old
        binding's when it used it alone (moved in place: its routes stay), else a new
        one; never one ``taken`` by another care-of address in the same commit."""
        tunnel = self.cache.tunnel_for(local, care_of)
        if tunnel is not None and tunnel not in taken:
            return tunnel
        if (old is not None and old.ha_address == local
                and self.cache.tunnel_users(old.tunnel) == 1 and old.tunnel not in taken):
            return old.tunnel
        return self.cache.new_tunnel_name()

    def _replace(self, home_address: IPv6Address, bindings: Sequence[Binding],
                 flows: tuple[FlowBinding, ...] | None = None) -> tuple[Effect, ...]:
        """Make ``bindings`` the bindings of ``home_address`` (none: remove them all), and
        ``flows`` its flow bindings (``None``: keep them), and return the kernel effects:
        the old state not kept, the tunnels' changes (:func:`_tunnel_effects`), the new
        state."""
        old = self.cache.bindings_of(home_address)
        old_flows = self.cache.flows_of(home_address)
        if flows is not None:
            self.cache.set_flows(home_address, flows)
        before = {name: self.cache.tunnel_endpoints(name)
                  for name in {b.tunnel for b in (*old, *bindings)}}
        keep = {b.bid for b in bindings}
        for binding in old:
            if binding.bid not in keep:
                self.cache.remove(home_address, binding.bid)
        for binding in bindings:
            self.cache.put(binding)
        removals, additions = self._home_diff(home_address, old, old_flows)
        after = {name: self.cache.tunnel_endpoints(name) for name in before}
        return (*removals, *_tunnel_effects(before, after), *additions)

    def _home_diff(self, home_address: IPv6Address, old: Sequence[Binding],
                   old_flows: Sequence[FlowBinding] | None = None
                   ) -> tuple[tuple[Effect, ...], tuple[Effect, ...]]:
        """``(removals, additions)`` from the kernel state of ``old``, bindings of
        ``home_address``, and ``old_flows`` (``None``: its flows in the cache) to that of
        what the cache holds, tunnels excepted. A home address left without bindings
        loses its flows."""
        before = home_effects(old, self.cache.flows_of(home_address)
                              if old_flows is None else old_flows)
        bindings = self.cache.bindings_of(home_address)
        if not bindings:
            self.cache.set_flows(home_address, ())
        return diff(before, home_effects(bindings, self.cache.flows_of(home_address)))

    def _tunnels_after(self, old: Iterable[Binding]) -> tuple[Effect, ...]:
        """The tunnel changes from the ``old`` bindings' tunnels to what the cache holds
        now: those nobody uses any more are removed."""
        before = {b.tunnel: (b.ha_address, b.care_of) for b in old}
        return _tunnel_effects(
            before, {name: self.cache.tunnel_endpoints(name) for name in before})

    def _timer(self) -> tuple[Effect, ...]:
        at = self.cache.next_expiry()
        if at == self._timer_at:
            return ()
        self._timer_at = at
        return (StartTimer(EXPIRY_TIMER, at),) if at is not None else (CancelTimer(EXPIRY_TIMER),)


_CHECKS: tuple[_Check, ...] = (
    HomeAgent._check_home_registration,
    HomeAgent._check_home_subnet,
    HomeAgent._check_acl,
    HomeAgent._check_binding_identifiers,
    HomeAgent._check_sequence,
)
"""The checks every Binding Update goes through, in order (see the module's table)."""
