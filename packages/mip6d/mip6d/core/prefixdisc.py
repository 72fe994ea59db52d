"""Mobile Prefix Discovery (RFC 6275 sections 6.7, 6.8, 10.6 and 11.4.2-11.4.3): the home
agent's side here, the mobile node's in :class:`PrefixSolicitor`.

The home agent keeps the home network prefixes of each home link
(:class:`HomePrefixList`, section 10.6.1) from two sources:

==================  ==============================================================
source              what it gives
==================  ==============================================================
the home link's     each Prefix Information option (the Prefix field taken as a
Router              prefix, host bits cleared): its L and A flags and its valid and
Advertisements      preferred lifetimes, which then count down in real time; a later
(any router there,  advertisement of the same prefix replaces them. A prefix whose
the home agent's    valid lifetime is over (or was advertised as 0) is left out.
own radvd too)
the home agent's    the home prefix of :class:`~mip6d.core.policy.HomeLink` (the
own address on the  prefix of its address there), L and A set, infinite lifetimes
link                (or the link's ``valid_until``), as long as no advertisement has
                    named it (once the link's routers withdraw it, it stays withdrawn)
==================  ==============================================================

A Mobile Prefix Solicitation (section 6.7) comes from a mobile node's care-of address
with a Home Address option; the home agent answers it (:func:`answer_solicitation`,
sections 6.8 and 10.6) only when every row of :data:`SOLICITATION_CHECKS` passes:
``SendMobPfxAdvs`` is enabled, the solicitation names a home address, that address has
a binding, from this care-of address, with the home agent address the solicitation went
to. The Mobile Prefix Advertisement echoes the Identifier, carries the prefixes of the
binding's home link with their remaining lifetimes (as many as fit a packet of the IPv6
minimum MTU), the M and O flags clear (this home agent configures home addresses by
neither DHCPv6 nor anything else), and goes from the home agent address to the care-of
address with a type 2 routing header naming the home address, as a Binding
Acknowledgement does (section 9.5.4). Anything else is logged and dropped. When the
prefixes change, :class:`UnsolicitedSchedule` tells the link's bindings unsolicited
(section 10.6.2).

Not done here: the M and O flags. (IPsec for these messages, ``IPsecPolicy MobPfxDisc``,
is :mod:`mip6d.core.ipsec`'s.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

from mip6d.core.bcache import Binding, BindingCache
from mip6d.core.effects import (
    AddXfrmPolicy,
    AddXfrmState,
    CancelTimer,
    Effect,
    SendIcmp,
    StartTimer,
    TimerKey,
    TimerKind,
    XfrmRoProto,
    inverse,
    log,
)
from mip6d.core.ipsec import solicitation_policy
from mip6d.core.policy import HomeLink
from mip6d.wire.icmp6 import (
    MobilePrefixAdvertisement,
    MobilePrefixSolicitation,
    MPAFlag,
    PrefixFlag,
    PrefixInformation,
    RouterAdvertisement,
)

__all__ = [
    "INFINITE_LIFETIME",
    "INITIAL_SOLICIT_TIMER",
    "MAX_ADVERTISED_PREFIXES",
    "SOLICITATION_CHECKS",
    "SOLICIT_AT",
    "SOLICIT_RETRIES",
    "HomePrefix",
    "HomePrefixList",
    "PrefixSolicitor",
    "Solicitation",
    "UnsolicitedSchedule",
    "answer_solicitation",
]

INFINITE_LIFETIME = 0xFFFF_FFFF
"""A lifetime of all ones is infinite (RFC 4861 section 4.6.2): it never counts down."""

_MIN_MTU = 1280
_FIXED = 40 + 24 + 8  # IPv6 header, type 2 routing header, the Advertisement's fixed part
MAX_ADVERTISED_PREFIXES = (_MIN_MTU - _FIXED) // 32
"""Prefix Information options (32 octets each) an Advertisement to a care-of address
can carry within the IPv6 minimum MTU: 37."""

_ADVERTISED_FLAGS = PrefixFlag.L | PrefixFlag.A
"""The flags an Advertisement passes on; R is the advertising router's own business
(section 7.2), and the Prefix field is the bare prefix."""


def _remaining(lifetime: int, since: float, now: float) -> int:
    if lifetime == INFINITE_LIFETIME:
        return lifetime
    return max(0, int(lifetime - (now - since)))


@dataclass(frozen=True, slots=True)
class HomePrefix:
    """One home network prefix: its flags and lifetimes as last heard (or configured)
    at ``since``."""

    prefix: IPv6Network
    flags: PrefixFlag
    valid_lifetime: int
    preferred_lifetime: int
    since: float

    def valid(self, now: float) -> int:
        """The valid lifetime left at ``now``, in seconds."""
        return _remaining(self.valid_lifetime, self.since, now)

    def option(self, now: float) -> PrefixInformation:
        """The Prefix Information option that advertises it at ``now``."""
        valid = self.valid(now)
        preferred = min(_remaining(self.preferred_lifetime, self.since, now), valid)
        return PrefixInformation(self.prefix.prefixlen, self.flags & _ADVERTISED_FLAGS,
                                 valid, preferred, self.prefix.network_address)


def _own_prefix(link: HomeLink, now: float) -> HomePrefix:
    lifetime = (INFINITE_LIFETIME if link.valid_until is None
                else max(0, int(link.valid_until - now)))
    return HomePrefix(link.prefix, _ADVERTISED_FLAGS, lifetime, lifetime, now)


@dataclass(frozen=True, slots=True)
class HomePrefixList:
    """The home network prefixes of one home link (section 10.6.1), replaced (never
    mutated) by :meth:`heard`."""

    ifname: str
    own: HomePrefix
    advertised: tuple[HomePrefix, ...] = ()
    heard_any: bool = False

    @classmethod
    def of(cls, link: HomeLink, now: float, before: HomePrefixList | None = None
           ) -> HomePrefixList:
        """The list of ``link``, with what was heard there ``before`` when it stays."""
        if before is None:
            return cls(link.ifname, _own_prefix(link, now))
        return replace(before, own=_own_prefix(link, now))

    def heard(self, ra: RouterAdvertisement, now: float) -> HomePrefixList:
        """A Router Advertisement on this link: its prefixes replace what was heard of
        them; prefixes whose valid lifetime is over are dropped."""
        fresh = {
            p.network: HomePrefix(p.network, p.flags & _ADVERTISED_FLAGS, p.valid_lifetime,
                                  p.preferred_lifetime, now)
            for p in ra.prefixes
            if not p.network.is_link_local and p.network.prefixlen > 0
        }
        kept = tuple(p for p in self.advertised if p.prefix not in fresh)
        return replace(self, advertised=kept + tuple(fresh.values()), heard_any=True)

    def current(self, now: float) -> tuple[HomePrefix, ...]:
        """The prefixes to advertise at ``now``, by prefix: the heard ones that are
        still valid, the own prefix unless an advertisement has named it (a prefix the
        link's routers withdrew stays withdrawn: renumbering)."""
        alive = {p.prefix: p for p in self.advertised if p.valid(now) > 0}
        named = {p.prefix for p in self.advertised}
        if self.own.prefix not in named and self.own.valid(now) > 0:
            alive[self.own.prefix] = self.own
        return tuple(alive[k] for k in sorted(alive))

    def state(self, now: float) -> frozenset[tuple[IPv6Network, PrefixFlag, int, int]]:
        """The prefixes with their flags and lifetimes as advertised (not counted
        down): what changes "for any reason other than advancing real time" (section
        10.6.2)."""
        return frozenset((p.prefix, p.flags, p.valid_lifetime, p.preferred_lifetime)
                         for p in self.current(now))

    def changed_from(self, before: HomePrefixList, now: float) -> bool:
        """Whether the home prefixes changed since ``before``; the first advertisement
        heard only says what they are."""
        return before.heard_any and self.state(now) != before.state(now)


@dataclass(frozen=True, slots=True)
class Solicitation:
    """A Mobile Prefix Solicitation as it arrived: ``src`` the packet's source (a care-of
    address), ``dst`` its destination, ``home_address`` its Home Address option's
    address (``None`` without one)."""

    msg: MobilePrefixSolicitation
    src: IPv6Address
    dst: IPv6Address
    home_address: IPv6Address | None


_Check = Callable[[Solicitation, "Binding | None", bool], bool]

SOLICITATION_CHECKS: tuple[tuple[str, _Check], ...] = (
    ("SendMobPfxAdvs is disabled", lambda s, b, enabled: enabled),
    ("no Home Address option", lambda s, b, enabled: s.home_address is not None),
    ("no binding for the home address", lambda s, b, enabled: b is not None),
    ("not from the registered care-of address",
     lambda s, b, enabled: b is not None and b.care_of == s.src),
    ("not to the binding's home agent address",
     lambda s, b, enabled: b is not None and b.ha_address == s.dst),
)
"""``(reason, passes)`` in order: the first row that fails drops the solicitation with
that reason (sections 6.7 and 10.6: only a registered mobile node, from its registered
care-of address, to its home agent)."""


def answer_solicitation(lists: Mapping[str, HomePrefixList], cache: BindingCache,
                        solicitation: Solicitation, now: float, enabled: bool = True
                        ) -> tuple[Effect, ...]:
    """The Mobile Prefix Advertisement that answers ``solicitation`` (see the module's
    text), or a log record of why there is none."""
    s = solicitation
    # A node with several care-of addresses (RFC 5648) asks from any of them.
    bindings = cache.bindings_of(s.home_address) if s.home_address is not None else ()
    binding = next((b for b in bindings if b.care_of == s.src), bindings[0] if bindings else None)
    failed = next((reason for reason, passes in SOLICITATION_CHECKS
                   if not passes(s, binding, enabled)), None)
    home_list = lists.get(binding.home_ifname) if binding is not None else None
    if failed is None and home_list is None:
        failed = "the binding's home link is not served any more"
    if failed is not None or binding is None or home_list is None:
        return (log("mobile-prefix-solicitation-ignored", src=s.src, dst=s.dst,
                    home_address=s.home_address, identifier=s.msg.identifier,
                    reason=failed),)
    return _advertise(home_list, binding, s.msg.identifier, now, solicited=True)


def _advertise(home_list: HomePrefixList, binding: Binding, identifier: int, now: float,
               solicited: bool) -> tuple[Effect, ...]:
    prefixes = home_list.current(now)[:MAX_ADVERTISED_PREFIXES]
    advertisement = MobilePrefixAdvertisement(
        identifier, MPAFlag(0), tuple(p.option(now) for p in prefixes))
    return (SendIcmp(advertisement, binding.ha_address, binding.care_of,
                     routing_header=binding.home_address),
            log("mobile-prefix-advertisement", ifname=home_list.ifname,
                home_address=binding.home_address, care_of=binding.care_of,
                identifier=identifier, solicited=solicited,
                prefixes=tuple(p.prefix for p in prefixes)))


PREFIX_ADV_TIMEOUT = 3.0
"""Seconds before an unsolicited Mobile Prefix Advertisement is sent again (RFC 6275
section 12); the wait doubles each time."""
PREFIX_ADV_RETRIES = 3
"""Retransmissions of an unsolicited advertisement a node does not acknowledge (RFC
6275 section 12)."""


@dataclass(frozen=True, slots=True)
class UnsolicitedSchedule:
    """When one home link's next unsolicited Mobile Prefix Advertisements go out
    (section 10.6.2, ``SendUnsolMobPfxAdvs``): a change of the link's prefixes
    (:meth:`HomePrefixList.changed_from`) schedules them after

        MaxScheduleDelay = min(MaxMobPfxAdvInterval, the least preferred lifetime)
        RandomDelay = MinMobPfxAdvInterval
                      + random * |MaxScheduleDelay - MinMobPfxAdvInterval|

    (``random`` in [0, 1) from the shell), never sooner than MinMobPfxAdvInterval after
    the last ones; a change while they are scheduled changes nothing (they will say
    the latest). Then each binding on the link gets one, to its care-of address, its
    Identifier a counter of the link's. A node that neither registers nor solicits
    afterwards (:meth:`acknowledged`) gets it again after PREFIX_ADV_TIMEOUT, the wait
    doubling, PREFIX_ADV_RETRIES times (as the reference implementation does)."""

    timer: TimerKey
    next_at: float | None = None
    last_sent: float | None = None
    identifier: int = 0
    unacknowledged: tuple[IPv6Address, ...] = ()
    """The home addresses the last advertisements went to that have not answered."""
    retransmissions: int = 0
    """Retransmissions of the last advertisements so far."""
    retry_at: float | None = None

    def acknowledged(self, home_address: IPv6Address) -> UnsolicitedSchedule:
        """The node of ``home_address`` registered or solicited: it has the prefixes."""
        if home_address not in self.unacknowledged:
            return self
        left = tuple(h for h in self.unacknowledged if h != home_address)
        return replace(self, unacknowledged=left, retry_at=self.retry_at if left else None)

    def _armed(self, schedule: UnsolicitedSchedule) -> tuple[Effect, ...]:
        """The link's one timer, at the sooner of the next round and the next
        retransmission."""
        due = [at for at in (schedule.next_at, schedule.retry_at) if at is not None]
        return (StartTimer(self.timer, min(due)),) if due else ()

    def changed(self, home_list: HomePrefixList, now: float, random: float,
                min_interval: int, max_interval: int
                ) -> tuple[UnsolicitedSchedule, tuple[Effect, ...]]:
        if self.next_at is not None:
            return self, ()
        preferred = [p.option(now).preferred_lifetime for p in home_list.current(now)]
        max_delay = min([max_interval, *preferred])
        delay = min_interval + random * abs(max_delay - min_interval)
        at = now + delay
        if self.last_sent is not None:
            at = max(at, self.last_sent + min_interval)
        scheduled = replace(self, next_at=at)
        return scheduled, (
            *self._armed(scheduled),
            log("mobile-prefix-advertisement-scheduled", ifname=home_list.ifname,
                at=round(at, 3), delay=round(at - now, 3)))

    def fire(self, home_list: HomePrefixList, cache: BindingCache, now: float
             ) -> tuple[UnsolicitedSchedule, tuple[Effect, ...]]:
        """Its timer fired: when the next round is due, an Advertisement to every node of
        the link, at its preferred care-of address; else, when a retransmission is, one
        to each node that has not answered the last ones and is still bound there."""
        if self.next_at is not None and now >= self.next_at:
            homes = cache.homes()
            fired = replace(self, next_at=None, last_sent=now, retransmissions=0,
                            retry_at=now + PREFIX_ADV_TIMEOUT)
        elif self.retry_at is not None and now >= self.retry_at:
            homes = self.unacknowledged
            retransmissions = self.retransmissions + 1
            fired = replace(self, retransmissions=retransmissions, retry_at=(
                now + PREFIX_ADV_TIMEOUT * 2 ** retransmissions
                if retransmissions < PREFIX_ADV_RETRIES else None))
        else:
            return self, ()
        effects: list[Effect] = []
        identifier, sent = self.identifier, []
        for home in homes:
            bindings = cache.bindings_of(home)
            if bindings and bindings[0].home_ifname == home_list.ifname:
                effects.extend(_advertise(home_list, bindings[0], identifier, now,
                                          solicited=False))
                identifier = (identifier + 1) & 0xFFFF
                sent.append(home)
        fired = replace(fired, identifier=identifier, unacknowledged=tuple(sent))
        if not sent:
            fired = replace(fired, retry_at=None)
        return fired, (*effects, *self._armed(fired))


# -- the mobile node's side (sections 11.4.2, 11.4.3) -----------------------------------

INITIAL_SOLICIT_TIMER = 3.0
"""Seconds before a Mobile Prefix Solicitation is sent again (RFC 6275 section 12)."""
SOLICIT_RETRIES = 4
"""Retransmissions of one solicitation, the wait doubling each time (as for DHAAD);
then the node waits for its next registration or an unsolicited advertisement."""
SOLICIT_AT = 0.8
"""The next solicitation goes out when this share of the home prefix's advertised valid
lifetime has passed (a fifth left, as for a Binding Update's refresh)."""


@dataclass(frozen=True, slots=True)
class PrefixSolicitor:
    """Mobile Prefix Discovery for one home address of a mobile node (sections 11.4.2
    and 11.4.3), replaced (never mutated) by its methods, which return it with their
    effects.

    While the home address is registered away from home (:meth:`registered`), the node
    asks its home agent for the home prefixes at once when it knows no lifetime for its
    home prefix, else when :data:`SOLICIT_AT` of the last advertised valid lifetime has
    passed: from the home address, the kernel adding the Home Address option that
    names the care-of address (:meth:`registered` installs the ``hao`` state and the
    policy, :meth:`unregistered` removes them), a new Identifier each time,
    retransmitted after :data:`INITIAL_SOLICIT_TIMER`, doubling, :data:`SOLICIT_RETRIES`
    times. An Advertisement counts when it comes from the home
    agent to the home address (through the type 2 routing header) and carries the
    Identifier of the outstanding solicitation, or, with none outstanding, any
    (unsolicited, section 10.6.2). The home prefix's lifetime it gives sets the next
    solicitation; a home prefix missing from it, or advertised with valid lifetime 0,
    while another prefix of the same length is advertised, is renumbering
    (:attr:`renumbered_to`: the new home address, same interface identifier).
    """

    home_address: IPv6Interface
    next_identifier: int = 0
    home_agent: IPv6Address | None = None
    care_of: IPv6Address | None = None
    identifier: int | None = None
    retries: int = 0
    timeout: float = INITIAL_SOLICIT_TIMER
    next_at: float | None = None
    solicit_at: float | None = None
    """When the home prefix needs asking about again; ``None`` while unknown (ask now)
    or never (an infinite lifetime)."""
    known: bool = False
    renumbered_to: IPv6Interface | None = None
    hao: AddXfrmState | None = None
    """The ``hao`` state installed last, until :meth:`stopped`."""
    protected: bool = False
    """IPsec protects the solicitations (``IPsecPolicy MobPfxDisc``): the configuration's
    out policy (ESP, then the Home Address option) sends them, not this solicitor's."""

    @property
    def timer(self) -> TimerKey:
        return TimerKey(TimerKind.MOBILE_PREFIX, str(self.home_address.ip))

    def _kernel(self) -> tuple[AddXfrmState, tuple[AddXfrmPolicy, ...]]:
        """What adds the Home Address option to the solicitations of the current
        binding: the ``hao`` state and, unprotected, the out policy
        (:func:`mip6d.core.ipsec.solicitation_policy`)."""
        assert self.home_agent is not None and self.care_of is not None
        home = self.home_address.ip
        policy = () if self.protected else (solicitation_policy(home, self.home_agent),)
        return AddXfrmState(XfrmRoProto.HAO, home, self.home_agent, self.care_of), policy

    def _arm(self, effects: tuple[Effect, ...] = ()) -> tuple[PrefixSolicitor, tuple[Effect, ...]]:
        due = self.next_at if self.identifier is not None else self.solicit_at
        if self.home_agent is None or due is None:
            return self, (*effects, CancelTimer(self.timer))
        return self, (*effects, StartTimer(self.timer, due))

    def _solicit(self, now: float, retry: bool = False
                 ) -> tuple[PrefixSolicitor, tuple[Effect, ...]]:
        assert self.home_agent is not None and self.care_of is not None
        identifier = self.next_identifier
        timeout = self.timeout * 2 if retry else INITIAL_SOLICIT_TIMER
        new = replace(self, identifier=identifier, next_identifier=(identifier + 1) & 0xFFFF,
                      retries=self.retries + 1 if retry else 0, timeout=timeout,
                      next_at=now + timeout)
        return new._arm((
            SendIcmp(MobilePrefixSolicitation(identifier), self.home_address.ip,
                     self.home_agent),
            log("mobile-prefix-solicitation-sent", home_address=self.home_address.ip,
                home_agent=self.home_agent, care_of=self.care_of, identifier=identifier,
                attempt=new.retries + 1),
        ))

    def registered(self, home_agent: IPv6Address, care_of: IPv6Address, now: float
                   ) -> tuple[PrefixSolicitor, tuple[Effect, ...]]:
        """The home address is registered with ``home_agent`` from ``care_of``: the
        kernel state that sends solicitations from there, and one at once unless the
        home prefix's lifetime is known.

        The ``hao`` state is replaced, not added (``ip xfrm state add`` keeps an
        existing state's care-of address), and left in place by :meth:`unregistered`:
        a protected registration's Binding Updates share it (:mod:`mip6d.core.bul`),
        a deregistration's retransmissions included."""
        if (home_agent, care_of) == (self.home_agent, self.care_of):
            return self, ()
        _, before = self.unregistered() if self.home_agent != home_agent else (self, ())
        moved = replace(self, home_agent=home_agent, care_of=care_of, identifier=None)
        state, policy = moved._kernel()
        moved = replace(moved, hao=state)
        kernel = (*(e for e in before if not isinstance(e, CancelTimer)),
                  inverse(state), state, *policy)
        if not self.known or self.identifier is not None:
            # (an outstanding one went to the old care-of address's binding)
            moved, effects = moved._solicit(now)
        else:
            moved, effects = moved._arm()
        return moved, kernel + effects

    def unregistered(self) -> tuple[PrefixSolicitor, tuple[Effect, ...]]:
        """At home, or no binding: nothing to ask (section 11.4.2: away from home); the
        out policy goes, the ``hao`` state stays (see :meth:`registered`)."""
        if self.home_agent is None:
            return self, ()
        _, policy = self._kernel()
        gone = replace(self, home_agent=None, care_of=None, identifier=None)
        return gone._arm(tuple(inverse(p) for p in policy))

    def stopped(self) -> tuple[PrefixSolicitor, tuple[Effect, ...]]:
        """The daemon stops (after the Binding Update List's last deregistrations): the
        policy and the ``hao`` state go."""
        gone, effects = self.unregistered()
        if gone.hao is None:
            return gone, effects
        return replace(gone, hao=None), (*effects, inverse(gone.hao))

    def fire(self, now: float) -> tuple[PrefixSolicitor, tuple[Effect, ...]]:
        """Its timer fired."""
        if self.home_agent is None:
            return self, ()
        if self.identifier is None:
            return self._solicit(now) if self.solicit_at is not None else self._arm()
        if self.retries < SOLICIT_RETRIES:
            return self._solicit(now, retry=True)
        return replace(self, identifier=None, next_at=None)._arm((
            log("mobile-prefix-solicitation-unanswered", home_address=self.home_address.ip,
                home_agent=self.home_agent, solicitations=self.retries + 1),))

    def advertised(self, msg: MobilePrefixAdvertisement, src: IPv6Address,
                   dst: IPv6Address, now: float
                   ) -> tuple[PrefixSolicitor, tuple[Effect, ...]]:
        """A Mobile Prefix Advertisement from ``src`` to ``dst`` (the final
        destination, after the type 2 routing header)."""
        reason = (
            "not registered away from home" if self.home_agent is None else
            "not from the home agent" if src != self.home_agent else
            "not to the home address" if dst != self.home_address.ip else
            "identifier of another solicitation"
            if self.identifier is not None and msg.identifier != self.identifier else None)
        if reason is not None:
            return self, (log("mobile-prefix-advertisement-ignored", src=src, dst=dst,
                              identifier=msg.identifier, reason=reason),)
        home_prefix = self.home_address.network
        valid = {p.network: p for p in msg.prefixes if p.valid_lifetime > 0}
        mine = valid.get(home_prefix)
        solicit_at = (None if mine is None or mine.valid_lifetime == INFINITE_LIFETIME
                      else now + SOLICIT_AT * mine.valid_lifetime)
        renumbered_to = None
        if mine is None:
            successor = next((n for n, p in sorted(valid.items())
                              if n.prefixlen == home_prefix.prefixlen and PrefixFlag.A in p.flags),
                             None)
            if successor is not None:
                host = int(self.home_address.ip) & int(self.home_address.hostmask)
                renumbered_to = IPv6Interface(
                    (int(successor.network_address) | host, successor.prefixlen))
        new = replace(self, identifier=None, next_at=None, known=True, solicit_at=solicit_at,
                      renumbered_to=renumbered_to)
        records: tuple[Effect, ...] = (log(
            "mobile-prefix-advertisement-received", home_address=self.home_address.ip,
            home_agent=src, identifier=msg.identifier,
            solicited=self.identifier is not None,
            prefixes=tuple(f"{p.network}:{p.valid_lifetime}/{p.preferred_lifetime}"
                           for p in msg.prefixes),
            home_prefix_valid=mine.valid_lifetime if mine is not None else 0),)
        if renumbered_to is not None:
            records += (log("home-prefix-renumbered", home_address=self.home_address.ip,
                            new_home_address=renumbered_to.ip,
                            new_prefix=renumbered_to.network),)
        return new._arm(records)
