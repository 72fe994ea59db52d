"""Mobile Prefix Discovery, the home agent's side (RFC 6275 sections 6.7, 6.8 and 10.6).

The home agent keeps the home network prefixes of each home link
(:class:`HomePrefixList`, section 10.6.1) from two sources:

==================  ==============================================================
source              what it gives
==================  ==============================================================
the home link's     each Prefix Information option (the Prefix field taken as a
Router              prefix, host bits cleared): its L and A flags and its valid and
Advertisements      preferred lifetimes, which then count down in real time; a later
(any router there,  advertisement of the same prefix replaces them. A prefix whose
the home agent's    valid lifetime is over is left out.
own radvd too)
the home agent's    the home prefix of :class:`~mip6d.core.policy.HomeLink` (the
own address on the  prefix of its address there), L and A set, infinite lifetimes
link                (or the link's ``valid_until``), for as long as no advertisement
                    names it
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
Acknowledgement does (section 9.5.4). Anything else is logged and dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv6Address, IPv6Network

from mip6d.core.bcache import Binding, BindingCache
from mip6d.core.effects import Effect, SendIcmp, log
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
    "MAX_ADVERTISED_PREFIXES",
    "SOLICITATION_CHECKS",
    "HomePrefix",
    "HomePrefixList",
    "Solicitation",
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

    @classmethod
    def of(cls, link: HomeLink, now: float,
           advertised: tuple[HomePrefix, ...] = ()) -> HomePrefixList:
        """The list of ``link``, with what was heard there before when it stays."""
        return cls(link.ifname, _own_prefix(link, now), advertised)

    def heard(self, ra: RouterAdvertisement, now: float) -> HomePrefixList:
        """A Router Advertisement on this link: its prefixes replace what was heard of
        them; prefixes whose valid lifetime is over are dropped."""
        fresh = {
            p.network: HomePrefix(p.network, p.flags & _ADVERTISED_FLAGS, p.valid_lifetime,
                                  p.preferred_lifetime, now)
            for p in ra.prefixes
            if not p.network.is_link_local and p.network.prefixlen > 0
        }
        kept = tuple(p for p in self.advertised if p.prefix not in fresh and p.valid(now) > 0)
        heard = tuple(p for p in fresh.values() if p.valid_lifetime > 0)
        return replace(self, advertised=kept + heard)

    def current(self, now: float) -> tuple[HomePrefix, ...]:
        """The prefixes to advertise at ``now``, by prefix: the heard ones that are
        still valid, the own prefix unless an advertisement names it."""
        alive = {p.prefix: p for p in self.advertised if p.valid(now) > 0}
        if self.own.prefix not in alive and self.own.valid(now) > 0:
            alive[self.own.prefix] = self.own
        return tuple(alive[k] for k in sorted(alive))


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
    binding = cache.get(s.home_address) if s.home_address is not None else None
    failed = next((reason for reason, passes in SOLICITATION_CHECKS
                   if not passes(s, binding, enabled)), None)
    home_list = lists.get(binding.home_ifname) if binding is not None else None
    if failed is None and home_list is None:
        failed = "the binding's home link is not served any more"
    if failed is not None or binding is None or home_list is None:
        return (log("mobile-prefix-solicitation-ignored", src=s.src, dst=s.dst,
                    home_address=s.home_address, identifier=s.msg.identifier,
                    reason=failed),)
    prefixes = home_list.current(now)[:MAX_ADVERTISED_PREFIXES]
    advertisement = MobilePrefixAdvertisement(
        s.msg.identifier, MPAFlag(0), tuple(p.option(now) for p in prefixes))
    return (SendIcmp(advertisement, binding.ha_address, binding.care_of,
                     routing_header=binding.home_address),
            log("mobile-prefix-advertisement", ifname=home_list.ifname,
                home_address=binding.home_address, care_of=binding.care_of,
                identifier=s.msg.identifier, solicited=True,
                prefixes=tuple(p.prefix for p in prefixes)))
