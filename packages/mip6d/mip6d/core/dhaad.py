"""Dynamic Home Agent Address Discovery, the home agent's side (RFC 6275 sections 10.1,
10.5 and 6.5/6.6; the Mobile Router flag of RFC 3963 section 7), and what both sides
share: the protocol constants and the Home-Agents anycast address.

The home agent keeps a Home Agents List per home link (:class:`HomeAgentsList`): one
entry per router that advertises itself as a home agent there (a Router Advertisement
with the H flag), keyed by the link-local address the advertisement came from, with

================  ===============================================================
field             from
================  ===============================================================
addresses         the Prefix Information options with the Router Address (R) flag
                  and a valid lifetime (section 7.2), whose Prefix field is an
                  address (not the bare prefix); an entry without one cannot be
                  offered to a mobile node and is left out of replies
preference        the Home Agent Information option (section 7.4), 0 without one
lifetime          the option's Home Agent Lifetime, else the Router Lifetime; 0,
                  or an advertisement without the H flag, removes the entry
mobile_router     the option's R flag (RFC 3963): the home agent serves mobile
                  routers
================  ===============================================================

and one entry of its own per home link, from its configuration (its address there,
``HaPreference``, ``HaAcceptMobRtr``), which never expires while the daemon runs. Its
own advertisements (radvd on the same node) are left to the shell to skip.

A DHAAD Request reaches the home agent at the Home-Agents anycast address of a home
link's prefix (:func:`home_agents_anycast`), which the shell joins on that link; the
Reply (:func:`answer_request`) goes from the home agent's own address on that link to
the request's source and lists the global addresses of the link's home agents, most
preferred first, those of equal preference in an order drawn anew for each Reply (section
10.5.1: mobile nodes spread over them), as many as fit a packet of the IPv6 minimum MTU.
With the R flag in the request only home agents that serve mobile routers are listed,
and the reply carries R too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from ipaddress import IPv6Address, IPv6Network

from mip6d.core.effects import Effect, SendIcmp, log
from mip6d.wire.icmp6 import (
    DHAADFlag,
    DHAADReply,
    DHAADRequest,
    HAIFlag,
    RAFlag,
    RouterAdvertisement,
)

__all__ = [
    "DHAAD_RETRIES",
    "HOME_AGENTS_ANYCAST_ID",
    "INITIAL_DHAAD_TIMEOUT",
    "MAX_REPLY_ADDRESSES",
    "HomeAgentEntry",
    "HomeAgentsList",
    "answer_request",
    "home_agents_anycast",
]

INITIAL_DHAAD_TIMEOUT = 3.0
"""Seconds before the first retransmission of a DHAAD Request (RFC 6275 section 12)."""
DHAAD_RETRIES = 4
"""Retransmissions of a DHAAD Request, the wait doubling each time (section 12)."""

HOME_AGENTS_ANYCAST_ID = 0x7E
"""The Mobile IPv6 Home-Agents subnet anycast ID (RFC 2526)."""
_EUI64_SUFFIX = 0xFDFF_FFFF_FFFF_FF80  # RFC 2526: a 64-bit IID, its u bit 0
MIN_MTU = 1280
"""The IPv6 minimum link MTU (RFC 8200 section 5): a Reply must fit it."""
MAX_REPLY_ADDRESSES = (MIN_MTU - 40 - 8) // 16
"""Home agent addresses a Reply can carry: the IPv6 header (40) and the Reply's fixed
part (8) leave room for 77."""


def home_agents_anycast(prefix: IPv6Network) -> IPv6Address:
    """The Mobile IPv6 Home-Agents anycast address of ``prefix`` (RFC 2526): with a
    64-bit interface identifier ``PREFIX:fdff:ffff:ffff:fffe``, otherwise all ones after
    the prefix up to the 7-bit anycast ID."""
    base = int(prefix.network_address)
    if prefix.prefixlen == 64:
        return IPv6Address(base | _EUI64_SUFFIX | HOME_AGENTS_ANYCAST_ID)
    host_bits = (1 << (128 - prefix.prefixlen)) - 1
    return IPv6Address(base | (host_bits & ~0x7F) | HOME_AGENTS_ANYCAST_ID)


@dataclass(frozen=True, slots=True)
class HomeAgentEntry:
    """One home agent on a home link (see the module's table). ``link_local`` is
    ``None`` and ``expires_at`` ``None`` for the home agent's own entry."""

    addresses: tuple[IPv6Address, ...]
    preference: int = 0
    expires_at: float | None = None
    mobile_router: bool = False
    link_local: IPv6Address | None = None

    def alive(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


def _entry_of(ra: RouterAdvertisement, src: IPv6Address, now: float) -> HomeAgentEntry | None:
    """The entry an advertisement from ``src`` makes, ``None`` when it removes one."""
    if RAFlag.H not in ra.flags:
        return None
    info = ra.home_agent_information
    lifetime = info.lifetime if info is not None else ra.router_lifetime
    if lifetime == 0:
        return None
    # A Prefix field with the R flag but no host bits is the prefix itself, not an
    # address (radvd sends that for ``prefix P::/64 { AdvRouterAddr on; }``; it sends
    # the address for ``prefix P::2/64``): the Subnet-Router anycast address (RFC 4291
    # section 2.6.1) is nobody's home agent address.
    addresses = tuple(dict.fromkeys(
        p.router_address for p in ra.prefixes
        if p.router_address is not None and p.valid_lifetime > 0
        and not p.router_address.is_link_local
        and p.router_address != p.network.network_address))
    return HomeAgentEntry(
        addresses=addresses,
        preference=info.preference if info is not None else 0,
        expires_at=now + lifetime,
        mobile_router=info is not None and HAIFlag.R in info.flags,
        link_local=src,
    )


@dataclass(frozen=True, slots=True)
class HomeAgentsList:
    """The Home Agents List of one home link, replaced (never mutated) by
    :meth:`heard`."""

    ifname: str
    prefix: IPv6Network
    own: HomeAgentEntry
    others: tuple[HomeAgentEntry, ...] = ()

    @property
    def anycast(self) -> IPv6Address:
        return home_agents_anycast(self.prefix)

    def heard(self, src: IPv6Address, ra: RouterAdvertisement, now: float
              ) -> tuple[HomeAgentsList, tuple[Effect, ...]]:
        """A Router Advertisement from ``src`` (link-local, another router) on this
        link: its entry created, refreshed or removed (section 10.1)."""
        known = next((e for e in self.others if e.link_local == src), None)
        entry = _entry_of(ra, src, now)
        if entry is not None and set(entry.addresses) & set(self.own.addresses):
            return self, ()  # our own advertisement after all: the own entry stands
        others = tuple(e for e in self.others if e.link_local != src and e.alive(now))
        effects: tuple[Effect, ...] = ()
        if entry is None:
            if known is not None:
                effects = (log("home-agent-gone", ifname=self.ifname, router=src,
                               addresses=known.addresses),)
        else:
            others += (entry,)
            if known is None or (known.addresses, known.preference) != (
                    entry.addresses, entry.preference):
                effects = (log("home-agent-heard", ifname=self.ifname, router=src,
                               addresses=entry.addresses, preference=entry.preference,
                               lifetime=round(entry.expires_at - now)
                               if entry.expires_at is not None else None),)
        return replace(self, others=others), effects

    def ranked(self, now: float, mobile_routers: bool = False,
               tiebreak: Callable[[], float] | None = None) -> tuple[IPv6Address, ...]:
        """The global addresses of the link's home agents as a Reply lists them: most
        preferred first, ties by a draw of ``tiebreak`` for each home agent (by address
        without one); expired entries and, for a mobile router, home agents that do not
        serve mobile routers left out (section 10.5, RFC 3963 section 7)."""
        entries = [e for e in (self.own, *self.others)
                   if e.alive(now) and e.addresses and (e.mobile_router or not mobile_routers)]
        entries.sort(key=lambda e: (-e.preference, tiebreak() if tiebreak is not None
                                    else min(int(a) for a in e.addresses)))
        addresses = dict.fromkeys(a for e in entries for a in e.addresses)
        return tuple(addresses)[:MAX_REPLY_ADDRESSES]


def answer_request(lists: Iterable[HomeAgentsList], request: DHAADRequest,
                   src: IPv6Address, dst: IPv6Address, now: float,
                   tiebreak: Callable[[], float] | None = None) -> tuple[Effect, ...]:
    """The Reply to a DHAAD Request from ``src`` to ``dst`` (section 10.5): from the home
    agent's own address on the link whose Home-Agents anycast address ``dst`` is, to
    ``src``, home agents of equal preference ordered by ``tiebreak``'s draws (the shell's
    is random: section 10.5.1). A request to any other address, or from the unspecified
    or a multicast address, gets no answer."""
    hal = next((h for h in lists if h.anycast == dst), None)
    if hal is None or src.is_unspecified or src.is_multicast:
        return (log("dhaad-request-ignored", src=src, dst=dst,
                    identifier=request.identifier,
                    reason="not a home link's Home-Agents anycast address"
                    if hal is None else "invalid source"),)
    mobile_router = DHAADFlag.R in request.flags
    home_agents = hal.ranked(now, mobile_router, tiebreak)
    flags = DHAADFlag.R if mobile_router else DHAADFlag(0)
    reply = DHAADReply(request.identifier, home_agents, flags)
    return (SendIcmp(reply, hal.own.addresses[0], src),
            log("dhaad-reply", ifname=hal.ifname, dst=src, identifier=request.identifier,
                home_agents=home_agents, mobile_router=mobile_router))
