"""Effects: the kernel and network actions the pure core asks the shell to carry out.

The state machines in :mod:`mip6d.core` never touch a socket, netlink or the clock. They
return tuples of the frozen dataclasses below, and the thin shell applies them in order:

===========================  =========================================================
effect                       what the shell does (Linux)
===========================  =========================================================
:class:`SendMessage`         send a Mobility Header message (raw socket, protocol 135),
                             with a Home Address option (RFC 6275 section 6.3) and/or a
                             type 2 routing header (section 6.4) as ancillary data
:class:`SendIcmp`            send an ICMPv6 message of Mobile IPv6 (raw ICMPv6 socket):
                             a DHAAD Request or Reply (RFC 6275 sections 6.5, 6.6), a
                             Mobile Prefix Solicitation or Advertisement (6.7, 6.8),
                             with the same ancillary headers as :class:`SendMessage`
:class:`AddTunnel`           ``ip -6 tunnel add NAME mode ip6ip6 local L remote R``
:class:`ChangeTunnel`        ``ip -6 tunnel change NAME local L remote R`` (handover)
:class:`AddRoute`            ``ip -6 route replace PREFIX dev NAME [table T] proto mip6``
:class:`AddUnreachableRoute`  ``ip -6 route replace unreachable PREFIX table T metric M``
:class:`AddProxyNeighbour`   ``ip -6 neigh add proxy ADDR dev IF`` and an unsolicited
                             Neighbor Advertisement for it (RFC 6275 section 10.4.1)
:class:`AddAddress`          ``ip -6 addr add A/PLEN dev IF [home] [nodad]``
:class:`AddRule`             ``ip -6 rule add prio P [from S] [to D] [ipproto N]
                             [sport A-B] [dport C-D] lookup T``
:class:`AddXfrmState`        ``ip xfrm state add src S dst D proto {route2|hao} mode ro
                             coa C`` (route-optimisation transforms, no keys)
:class:`AddXfrmPolicy`       ``ip xfrm policy update dir D src S dst D proto P [type T]
                             priority N tmpl ...`` (ESP required and/or a
                             route-optimisation transform, RFC 3776)
:class:`AddEspSa`            ``ip xfrm state add ... proto esp spi SPI reqid R mode
                             transport ...`` (a statically keyed SA, RFC 3776)
:class:`CheckDuplicateAddress`  Duplicate Address Detection on the home link for a home
                             address (RFC 6275 section 10.3.1); the result goes back to
                             :meth:`mip6d.core.homeagent.HomeAgent.dad_complete`
:class:`StartTimer`          (re)arm the one timer called KEY for time AT
:class:`CancelTimer`         disarm timer KEY if it is armed
:class:`Log`                 one structured log record
===========================  =========================================================

Contract with the shell:

* Apply effects in the order given. A kernel effect that fails stops the list; the
  remaining ones (in particular the trailing :class:`SendMessage` of a Binding
  Acknowledgement) are not applied, and the shell reports the failure to the core
  (:meth:`~mip6d.core.homeagent.HomeAgent.forwarding_failed` on a home agent).
* ``Add*`` effects are idempotent (netlink ``NLM_F_REPLACE``/``NLM_F_CREATE``);
  ``Remove*`` effects tolerate an object that is already gone (``ENOENT``, ``ESRCH``).
  That is what lets a restarted daemon replay :func:`install` effects over whatever
  the kernel kept, and a failure path replay :func:`teardown` effects over a half-applied
  list.
* Times (``StartTimer.at``) are in the same clock as the ``now`` passed to the core:
  seconds since the UNIX epoch, so that a persisted binding cache keeps meaning across a
  reboot.

Every ``Add*`` effect has a ``Remove*`` twin with the same fields, and
:class:`ChangeTunnel` is its own inverse with the endpoints swapped; :func:`inverse`,
:func:`teardown` and :func:`reconcile` derive removal and update lists from install
lists, so no state machine writes a teardown by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Flag, IntEnum, StrEnum
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from typing import TypeAlias

from mip6d.config.model import StaticKey
from mip6d.wire.icmp6 import ICMPv6Message
from mip6d.wire.mh import BindingAck, BindingError, BindingUpdate

__all__ = [
    "MAIN_TABLE",
    "MH_PROTOCOL",
    "AddAddress",
    "AddEspSa",
    "AddProxyNeighbour",
    "AddRoute",
    "AddRule",
    "AddTunnel",
    "AddUnreachableRoute",
    "AddXfrmPolicy",
    "AddXfrmState",
    "CancelTimer",
    "ChangeTunnel",
    "CheckDuplicateAddress",
    "Effect",
    "Log",
    "LogValue",
    "MigrateKeying",
    "MobilityMessage",
    "RemoveAddress",
    "RemoveEspSa",
    "RemoveProxyNeighbour",
    "RemoveRoute",
    "RemoveRule",
    "RemoveTunnel",
    "RemoveUnreachableRoute",
    "RemoveXfrmPolicy",
    "RemoveXfrmState",
    "SendIcmp",
    "SendMessage",
    "StartTimer",
    "TimerKey",
    "TimerKind",
    "XfrmDirection",
    "XfrmRoProto",
    "diff",
    "flag_names",
    "inverse",
    "is_invertible",
    "is_removal",
    "log",
    "reconcile",
    "teardown",
]

MobilityMessage: TypeAlias = BindingUpdate | BindingAck | BindingError
"""The Mobility Header messages the core sends."""

MH_PROTOCOL = 135
"""IPv6 Next Header value of the Mobility Header (RFC 6275 section 6.1.1)."""

MAIN_TABLE = 254
"""The kernel's main routing table (``RT_TABLE_MAIN``)."""


class XfrmRoProto(IntEnum):
    """Route-optimisation transforms of the Linux XFRM framework (``mode ro``), named by
    the IP protocol number they stand for (IANA protocol numbers)."""

    ROUTE2 = 43
    """``proto route2``: type 2 routing header (RFC 6275 section 6.4), IPPROTO_ROUTING."""
    HAO = 60
    """``proto hao``: Home Address destination option (section 6.3), IPPROTO_DSTOPTS."""


class XfrmDirection(StrEnum):
    """Which way an XFRM policy looks at packets (``ip xfrm policy ... dir``)."""

    IN = "in"
    OUT = "out"


class TimerKind(StrEnum):
    """What a timer is for."""

    BINDING_EXPIRY = "binding-expiry"
    """Home agent: the earliest expiry in the binding cache (one timer for all)."""
    BINDING_UPDATE = "binding-update"
    """Mobile node: retransmission, refresh or expiry of one Binding Update List entry
    (and the retransmissions of its home agent discovery)."""
    MOBILE_PREFIX = "mobile-prefix"
    """Mobile node: the next Mobile Prefix Solicitation of one home address (RFC 6275
    section 11.4.2), a retransmission or the solicitation before the home prefix
    expires."""


@dataclass(frozen=True, slots=True)
class TimerKey:
    """Names one timer; arming a key that is armed re-arms it."""

    kind: TimerKind
    subject: str = ""


# -- messages --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send ``msg`` from ``src`` to ``dst``.

    ``home_address_option`` puts a Home Address destination option carrying that
    address in the packet (a mobile node's Binding Update from a care-of address, RFC
    6275 section 11.7.1); ``routing_header`` a type 2 routing header carrying that
    address (a Binding Acknowledgement to a care-of address, section 9.5.4).
    """

    msg: MobilityMessage
    src: IPv6Address
    dst: IPv6Address
    home_address_option: IPv6Address | None = None
    routing_header: IPv6Address | None = None


@dataclass(frozen=True, slots=True)
class SendIcmp:
    """Send the ICMPv6 message ``msg`` from ``src`` to ``dst`` (the shell's ICMPv6
    socket; the kernel routes it), with a Home Address option and a type 2 routing
    header as :class:`SendMessage` has them (a Mobile Prefix Solicitation from a
    care-of address, an Advertisement to one: RFC 6275 sections 6.7, 6.8)."""

    msg: ICMPv6Message
    src: IPv6Address
    dst: IPv6Address
    home_address_option: IPv6Address | None = None
    routing_header: IPv6Address | None = None


# -- kernel objects --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddTunnel:
    """An IPv6-in-IPv6 tunnel device (RFC 2473) between ``local`` and ``remote``."""

    name: str
    local: IPv6Address
    remote: IPv6Address


@dataclass(frozen=True, slots=True)
class RemoveTunnel:
    """Delete the tunnel device (routes and addresses on it go with it)."""

    name: str
    local: IPv6Address
    remote: IPv6Address


@dataclass(frozen=True, slots=True)
class ChangeTunnel:
    """Move the endpoints of an existing tunnel in place, keeping its routes and
    addresses (a mobile node's handover). Its inverse swaps old and new."""

    name: str
    local: IPv6Address
    remote: IPv6Address
    old_local: IPv6Address
    old_remote: IPv6Address


@dataclass(frozen=True, slots=True)
class AddRoute:
    """A route to ``prefix`` out of the tunnel device ``via_tunnel``, in ``table`` (the
    main table when ``None``)."""

    prefix: IPv6Network
    via_tunnel: str
    table: int | None = None


@dataclass(frozen=True, slots=True)
class RemoveRoute:
    """Delete the route added by the matching :class:`AddRoute`."""

    prefix: IPv6Network
    via_tunnel: str
    table: int | None = None


@dataclass(frozen=True, slots=True)
class AddUnreachableRoute:
    """A route to ``prefix`` in ``table`` that refuses what it carries ("No route to
    host" to a local sender, ICMPv6 unreachable to a forwarded packet's), with ``metric``
    above a tunnel route's so that one, once there, wins. Unlike no route at all, the
    lookup ends here: nothing falls through to the next rule and the main table."""

    prefix: IPv6Network
    table: int
    metric: int


@dataclass(frozen=True, slots=True)
class RemoveUnreachableRoute:
    """Delete the route added by the matching :class:`AddUnreachableRoute`."""

    prefix: IPv6Network
    table: int
    metric: int


@dataclass(frozen=True, slots=True)
class AddProxyNeighbour:
    """Answer Neighbor Solicitations for ``address`` on ``ifname`` (a home agent
    intercepting a mobile node's home address, RFC 6275 section 10.4.1)."""

    address: IPv6Address
    ifname: str


@dataclass(frozen=True, slots=True)
class RemoveProxyNeighbour:
    """Stop proxying ``address`` on ``ifname``."""

    address: IPv6Address
    ifname: str


@dataclass(frozen=True, slots=True)
class AddAddress:
    """Assign ``address`` (with its prefix length) to ``ifname``. ``home_address`` sets
    ``IFA_F_HOMEADDRESS`` (preferred by source address selection, RFC 6724 rule 4);
    ``nodad`` skips Duplicate Address Detection (the home agent defends the address)."""

    address: IPv6Interface
    ifname: str
    home_address: bool = False
    nodad: bool = False


@dataclass(frozen=True, slots=True)
class RemoveAddress:
    """Remove the address added by the matching :class:`AddAddress`."""

    address: IPv6Interface
    ifname: str
    home_address: bool = False
    nodad: bool = False


@dataclass(frozen=True, slots=True)
class AddRule:
    """A policy routing rule: packets matching ``source``/``destination``, the IP
    protocol ``protocol`` and the port ranges ``source_port``/``destination_port``
    (inclusive; any when ``None``) look up ``table``."""

    priority: int
    table: int
    source: IPv6Network | None = None
    destination: IPv6Network | None = None
    protocol: int | None = None
    source_port: tuple[int, int] | None = None
    destination_port: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class RemoveRule:
    """Delete the rule added by the matching :class:`AddRule`."""

    priority: int
    table: int
    source: IPv6Network | None = None
    destination: IPv6Network | None = None
    protocol: int | None = None
    source_port: tuple[int, int] | None = None
    destination_port: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class AddXfrmState:
    """A route-optimisation XFRM state: packets from ``src`` to ``dst`` carry (or arrive
    with) the option or header of ``proto`` naming ``coa``. The unspecified address
    ``::`` in ``src`` or ``coa`` is the wildcard."""

    proto: XfrmRoProto
    src: IPv6Address
    dst: IPv6Address
    coa: IPv6Address


@dataclass(frozen=True, slots=True)
class RemoveXfrmState:
    """Delete the state added by the matching :class:`AddXfrmState`."""

    proto: XfrmRoProto
    src: IPv6Address
    dst: IPv6Address
    coa: IPv6Address


@dataclass(frozen=True, slots=True)
class AddXfrmPolicy:
    """An XFRM policy for packets ``src`` -> ``dst`` of IP protocol ``proto`` (any
    protocol when ``None``; for the Mobility Header, of type ``mh_type``) in
    ``direction``: with ``esp_reqid``, ESP in transport mode between the selector's
    addresses is required (RFC 3776); with ``ro``, the route-optimisation transform comes
    next, optional (``level use``), and with ``ro_bound`` it must come from the state of
    exactly the selector's two addresses (one binding's), not from a wildcard state. The
    kernel consults a lower ``priority`` number first."""

    direction: XfrmDirection
    src: IPv6Network
    dst: IPv6Network
    proto: int | None
    mh_type: int | None
    priority: int
    esp_reqid: int | None = None
    ro: XfrmRoProto | None = None
    ro_bound: bool = False


@dataclass(frozen=True, slots=True)
class RemoveXfrmPolicy:
    """Delete the policy added by the matching :class:`AddXfrmPolicy`."""

    direction: XfrmDirection
    src: IPv6Network
    dst: IPv6Network
    proto: int | None
    mh_type: int | None
    priority: int
    esp_reqid: int | None = None
    ro: XfrmRoProto | None = None
    ro_bound: bool = False


@dataclass(frozen=True, slots=True)
class AddEspSa:
    """A manually keyed ESP security association in transport mode, ``src`` -> ``dst``
    (RFC 3776 section 5.1 allows manual keying). The key stays out of ``repr`` and so
    out of the logs."""

    src: IPv6Address
    dst: IPv6Address
    spi: int
    reqid: int
    key: StaticKey = field(repr=False)


@dataclass(frozen=True, slots=True)
class RemoveEspSa:
    """Delete the SA added by the matching :class:`AddEspSa`."""

    src: IPv6Address
    dst: IPv6Address
    spi: int
    reqid: int
    key: StaticKey = field(repr=False)


# -- requests, timers, logs ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MigrateKeying:
    """Tell the keying daemon its IKE endpoint moved (RFC 4877 section 6): the node's
    care-of address went from ``old_care_of`` to ``new_care_of``. The shell sends the
    kernel an XFRM_MSG_MIGRATE with the KMADDRESS of the new endpoints (see
    :mod:`mip6d.wire.xfrm`). Only when both ends set the K flag (RFC 6275 sections
    10.3.1 and 11.7.3); without it the keying daemon re-keys on its own."""

    home_address: IPv6Address
    home_agent: IPv6Address
    old_care_of: IPv6Address
    new_care_of: IPv6Address


@dataclass(frozen=True, slots=True)
class CheckDuplicateAddress:
    """Run Duplicate Address Detection for ``addresses`` on ``ifname`` and report
    whether all of them are unique (RFC 6275 section 10.3.1, RFC 4862 section 5.4)."""

    addresses: tuple[IPv6Address, ...]
    ifname: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Arm (or re-arm) timer ``key`` to fire at ``at`` (seconds, the core's clock)."""

    key: TimerKey
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Disarm timer ``key``."""

    key: TimerKey


LogValue: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Log:
    """A structured log record: an event name and ordered ``(name, value)`` fields.

    The shell chooses the severity from the event name.
    """

    event: str
    fields: tuple[tuple[str, LogValue], ...] = ()


def flag_names(flags: Flag) -> str:
    """``"A|H|R"`` for a flag set, ``""`` for none, in declaration order."""
    return "|".join(m.name or "" for m in type(flags) if m in flags and m.value)


def log(event: str, **fields_: object) -> Log:
    """A :class:`Log` whose field values are kept when they are plain scalars and
    turned into strings otherwise (addresses, prefixes, enums)."""
    items: list[tuple[str, LogValue]] = []
    for name, value in fields_.items():
        if isinstance(value, Flag):
            items.append((name, flag_names(value)))
        elif isinstance(value, IntEnum):
            items.append((name, value.name))
        elif isinstance(value, StrEnum):
            items.append((name, str(value)))
        elif value is None or isinstance(value, str | int | float | bool):
            items.append((name, value))
        elif isinstance(value, tuple | list):
            items.append((name, " ".join(str(v) for v in value)))
        else:
            items.append((name, str(value)))
    return Log(event, tuple(items))


Effect: TypeAlias = (
    SendMessage
    | SendIcmp
    | AddTunnel
    | RemoveTunnel
    | ChangeTunnel
    | AddRoute
    | RemoveRoute
    | AddUnreachableRoute
    | RemoveUnreachableRoute
    | AddProxyNeighbour
    | RemoveProxyNeighbour
    | AddAddress
    | RemoveAddress
    | AddRule
    | RemoveRule
    | AddXfrmState
    | RemoveXfrmState
    | AddXfrmPolicy
    | RemoveXfrmPolicy
    | AddEspSa
    | RemoveEspSa
    | MigrateKeying
    | CheckDuplicateAddress
    | StartTimer
    | CancelTimer
    | Log
)

# The table of inverses: each pair shares its fields, so the inverse of one is the other
# built from the same values.
_TWINS: Mapping[type, type] = {
    AddTunnel: RemoveTunnel,
    AddRoute: RemoveRoute,
    AddUnreachableRoute: RemoveUnreachableRoute,
    AddProxyNeighbour: RemoveProxyNeighbour,
    AddAddress: RemoveAddress,
    AddRule: RemoveRule,
    AddXfrmState: RemoveXfrmState,
    AddXfrmPolicy: RemoveXfrmPolicy,
    AddEspSa: RemoveEspSa,
}
_INVERSES: Mapping[type, type] = {**_TWINS, **{r: a for a, r in _TWINS.items()}}
_REMOVALS = frozenset(_TWINS.values())


def is_removal(effect: Effect) -> bool:
    """Whether ``effect`` removes what an ``Add*`` effect installed."""
    return type(effect) in _REMOVALS


def is_invertible(effect: Effect) -> bool:
    """Whether ``effect`` changes kernel state that :func:`inverse` can undo."""
    return type(effect) in _INVERSES or isinstance(effect, ChangeTunnel)


def inverse(effect: Effect) -> Effect:
    """The effect that undoes ``effect``.

    ``Add*`` and ``Remove*`` swap; :class:`ChangeTunnel` swaps its endpoints;
    :class:`StartTimer` becomes :class:`CancelTimer`. Anything else (a message sent, a
    log line, a DAD request) cannot be undone: :class:`ValueError`.
    """
    if isinstance(effect, ChangeTunnel):
        return ChangeTunnel(
            effect.name, effect.old_local, effect.old_remote, effect.local, effect.remote
        )
    if isinstance(effect, StartTimer):
        return CancelTimer(effect.key)
    twin = _INVERSES.get(type(effect))
    if twin is None:
        raise ValueError(f"{type(effect).__name__} has no inverse")
    result: Effect = twin(*(getattr(effect, f.name) for f in fields(effect)))
    return result


def teardown(installed: Iterable[Effect]) -> tuple[Effect, ...]:
    """The effects that undo ``installed`` (an install list), last installed first.

    Effects that cannot be undone (messages, logs, timers) are skipped.
    """
    return tuple(inverse(e) for e in reversed(tuple(installed)) if is_invertible(e))


def diff(
    old: Sequence[Effect], new: Sequence[Effect]
) -> tuple[tuple[Effect, ...], tuple[Effect, ...]]:
    """``(removals, additions)`` that turn install list ``old`` into ``new``: the
    inverses of what only ``old`` has, last installed first, and what only ``new`` has,
    in ``new``'s order."""
    old_set, new_set = set(old), set(new)
    removals = tuple(inverse(e) for e in reversed(old) if e not in new_set and is_invertible(e))
    additions = tuple(e for e in new if e not in old_set)
    return removals, additions


def reconcile(old: Sequence[Effect], new: Sequence[Effect]) -> tuple[Effect, ...]:
    """The effects that turn kernel state ``old`` (an install list) into ``new``.

    :func:`diff`'s removals, then its additions; except that a tunnel that keeps its
    name and moves an endpoint becomes one :class:`ChangeTunnel` between the two, so
    the routes and addresses on it stay untouched (a mobile node's handover).
    """
    removals, additions = diff(old, new)
    gone = {e.name: e for e in removals if isinstance(e, RemoveTunnel)}
    came = {e.name: e for e in additions if isinstance(e, AddTunnel)}
    moved = gone.keys() & came.keys()
    changes = tuple(
        ChangeTunnel(name, came[name].local, came[name].remote, gone[name].local, gone[name].remote)
        for name in sorted(moved)
    )
    return (
        tuple(e for e in removals if not (isinstance(e, RemoveTunnel) and e.name in moved))
        + changes
        + tuple(e for e in additions if not (isinstance(e, AddTunnel) and e.name in moved))
    )
