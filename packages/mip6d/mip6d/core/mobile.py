"""The mobile node (or mobile router): movement events in, Binding Update List entries
driven, effects out (RFC 6275 sections 11.5 and 11.7, RFC 3963 section 5).

Movement detection (RFC 6275 section 11.5.1) is the shell's: it watches router
advertisements, addresses and links and reports what it concluded as the events below.
:class:`MobileNode` keeps the usable care-of addresses, picks the primary one with
:func:`select_care_of` and feeds each :class:`~mip6d.core.bul.BulEntry` the events that
concern it.

Choosing the care-of address (UMIP's ``MnIfPreference``): the lowest preference value
wins, interfaces without one rank after every configured interface; among equals the
address in use is kept (no flapping between equally good links), then the one acquired
first, then the lowest address. Addresses whose valid lifetime is over, and addresses
inside a home prefix (those are home addresses, not care-of addresses), never qualify.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from typing import TypeAlias

from mip6d.core.bul import (
    AckReceived,
    BulEntry,
    BulEvent,
    BulState,
    CareOfBinding,
    CareOfChanged,
    HomeAgentsReplied,
    HomeRegistration,
    LeftHome,
    MnSettings,
    ReturnedHome,
    Shutdown,
    TimerFired,
    step,
    timer_key,
)
from mip6d.core.effects import Effect, TimerKey, log
from mip6d.wire.icmp6 import DHAADReply
from mip6d.wire.mh import BindingAck

__all__ = [
    "UNRANKED",
    "CareOfAddressAvailable",
    "CareOfAddressGone",
    "CareOfCandidate",
    "HomeLinkDetected",
    "HomeLinkLost",
    "MobileConfig",
    "MobileNode",
    "MovementEvent",
    "select_care_of",
]

UNRANKED = 1 << 31
"""The preference of an interface that has none configured."""


@dataclass(frozen=True, slots=True)
class CareOfCandidate:
    """A usable address on a foreign link."""

    address: IPv6Address
    ifname: str
    acquired_at: float
    valid_until: float | None = None


def _usable(candidate: CareOfCandidate, now: float) -> bool:
    """Within its valid lifetime."""
    return candidate.valid_until is None or candidate.valid_until > now


def select_care_of(
    candidates: Iterable[CareOfCandidate],
    preference: Mapping[str, int],
    current: IPv6Address | None,
    now: float,
) -> CareOfCandidate | None:
    """The primary care-of address among ``candidates`` (see the module's text)."""
    usable = [c for c in candidates if _usable(c, now)]
    if not usable:
        return None
    return min(
        usable,
        key=lambda c: (
            preference.get(c.ifname, UNRANKED),
            c.address != current,
            c.acquired_at,
            int(c.address),
        ),
    )


# -- movement events (from the shell) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class CareOfAddressAvailable:
    """``address`` on ``ifname`` is usable as a care-of address (configured, DAD done,
    the link has a default router)."""

    address: IPv6Address
    ifname: str
    valid_until: float | None = None


@dataclass(frozen=True, slots=True)
class CareOfAddressGone:
    """``address`` is no longer usable (removed, deprecated past its valid lifetime,
    link down)."""

    address: IPv6Address


@dataclass(frozen=True, slots=True)
class HomeLinkDetected:
    """``prefix``, a home prefix, is on-link on ``ifname`` (RFC 6275 section 11.5.2)."""

    ifname: str
    prefix: IPv6Network


@dataclass(frozen=True, slots=True)
class HomeLinkLost:
    """``prefix`` is no longer on-link on ``ifname``."""

    ifname: str
    prefix: IPv6Network


MovementEvent: TypeAlias = (
    CareOfAddressAvailable | CareOfAddressGone | HomeLinkDetected | HomeLinkLost
)


@dataclass(frozen=True, slots=True)
class MobileConfig:
    """A mobile node's configuration."""

    registrations: tuple[HomeRegistration, ...]
    interface_preference: tuple[tuple[str, int], ...] = ()
    """``(ifname, preference)``: lower is preferred (``MnIfPreference``)."""
    settings: MnSettings = field(default_factory=MnSettings)
    binding_ids: tuple[tuple[str, int, int], ...] = ()
    """``(ifname, bid, bid_priority)``: the interfaces a registration with multiple
    care-of addresses registers, by Binding Identifier (``Bid``, ``BidPriority``;
    priority 0: none given)."""

    def __post_init__(self) -> None:
        seen: set[IPv6Address] = set()
        tunnels: set[str] = set()
        for reg in self.registrations:
            if reg.home_address.ip in seen:
                raise ValueError(f"home address {reg.home_address.ip} registered twice")
            if reg.tunnel in tunnels:
                raise ValueError(f"tunnel {reg.tunnel!r} used by two home registrations")
            seen.add(reg.home_address.ip)
            tunnels.add(reg.tunnel)


class MobileNode:
    """The Binding Update List of a mobile node and the movement state that drives it."""

    def __init__(self, config: MobileConfig, initial_sequence: int = 0) -> None:
        self.config = config
        self._preference = dict(config.interface_preference)
        # The DHAAD Identifiers start from the same unpredictable value as the
        # sequence numbers (the shell's clock), not from 0 after every restart.
        self._entries: dict[IPv6Address, BulEntry] = {
            reg.home_address.ip: BulEntry(reg, sequence=initial_sequence,
                                          dhaad_identifier=(initial_sequence + index) & 0xFFFF)
            for index, reg in enumerate(config.registrations)
        }
        self._candidates: dict[IPv6Address, CareOfCandidate] = {}
        self._primary: CareOfCandidate | None = None
        self._bindings: tuple[CareOfBinding, ...] = ()
        self._binding_ids = {ifname: (bid, priority)
                             for ifname, bid, priority in config.binding_ids}
        self._home_links: set[tuple[str, IPv6Network]] = set()

    # -- queries ---------------------------------------------------------------------

    def entry(self, home_address: IPv6Address) -> BulEntry:
        """The Binding Update List entry of ``home_address``."""
        return self._entries[home_address]

    @property
    def entries(self) -> tuple[BulEntry, ...]:
        return tuple(self._entries.values())

    @property
    def primary_care_of(self) -> CareOfCandidate | None:
        return self._primary

    # -- inputs ----------------------------------------------------------------------

    def handle_movement(self, event: MovementEvent, now: float) -> tuple[Effect, ...]:
        """A movement detection result from the shell."""
        match event:
            case CareOfAddressAvailable(address=address, ifname=ifname, valid_until=valid_until):
                if any(address in r.home_address.network for r in self.config.registrations):
                    return (
                        log(
                            "care-of-address-ignored",
                            address=address,
                            reason="inside a home prefix",
                        ),
                    )
                known = self._candidates.get(address)
                acquired_at = (
                    known.acquired_at if known is not None and known.ifname == ifname else now
                )
                self._candidates[address] = CareOfCandidate(
                    address, ifname, acquired_at, valid_until
                )
                return self._reselect(now)
            case CareOfAddressGone(address=address):
                self._candidates.pop(address, None)
                return self._reselect(now)
            case HomeLinkDetected(ifname=ifname, prefix=prefix):
                self._home_links.add((ifname, prefix))
                return self._broadcast(ReturnedHome(ifname), now, prefix)
            case HomeLinkLost(ifname=ifname, prefix=prefix):
                self._home_links.discard((ifname, prefix))
                others = sorted(i for i, p in self._home_links if p == prefix)
                follow_up: BulEvent = ReturnedHome(others[0]) if others else LeftHome()
                return self._broadcast(follow_up, now, prefix)
        raise TypeError(f"not a movement event: {event!r}")

    def handle_binding_ack(
        self, ack: BindingAck, src: IPv6Address, dst: IPv6Address, now: float
    ) -> tuple[Effect, ...]:
        """A Binding Acknowledgement from ``src`` to ``dst`` (the home address, once the
        kernel has processed the type 2 routing header; or the care-of address, when it
        came without one). Never another home address's entry: after a renumbering the
        old address's last acknowledgement carries the sequence number of the new one's
        first Binding Update."""
        entry = self._entries.get(dst)
        if entry is None or entry.registration.home_agent != src:
            matches = [e for e in self._entries.values()
                       if e.registration.home_agent == src and e.care_of == dst]
            if len(matches) != 1:
                return (
                    log(
                        "binding-ack-ignored",
                        src=src,
                        dst=dst,
                        sequence=ack.sequence,
                        reason="no matching home registration",
                    ),
                )
            entry = matches[0]
        return self._feed(entry, AckReceived(ack), now)

    def handle_dhaad_reply(self, reply: DHAADReply, src: IPv6Address, now: float
                           ) -> tuple[Effect, ...]:
        """A DHAAD Reply from ``src`` (RFC 6275 section 11.4.1): for the entry discovering
        with its Identifier."""
        for entry in self._entries.values():
            if entry.state is BulState.DISCOVERING and entry.dhaad_identifier == reply.identifier:
                return self._feed(entry, HomeAgentsReplied(reply), now)
        return (log("dhaad-reply-ignored", src=src, identifier=reply.identifier,
                    reason="no discovery with this identifier in progress"),)

    def timer_fired(self, key: TimerKey, now: float) -> tuple[Effect, ...]:
        """Timer ``key`` (one a :class:`~mip6d.core.effects.StartTimer` armed) fired."""
        for entry in self._entries.values():
            if timer_key(entry) == key:
                return self._feed(entry, TimerFired(), now)
        return ()

    def renumber(self, home_address: IPv6Address, new: IPv6Interface, now: float
                 ) -> tuple[Effect, ...]:
        """The home link of ``home_address`` was renumbered (Mobile Prefix Discovery,
        RFC 6275 section 11.4.3): its entry stops as at shutdown (one deregistration,
        its kernel state removed) and ``new`` registers in its place, with the same
        home agent and settings, from the current care-of address."""
        entry = self._entries.get(home_address)
        if entry is None or new.ip in self._entries:
            return (log("renumbering-ignored", home_address=home_address, new_home_address=new.ip,
                        reason="no such home address" if entry is None
                        else "the new home address is registered already"),)
        effects = list(self._feed(entry, Shutdown(), now))
        del self._entries[home_address]
        fresh = BulEntry(replace(entry.registration, home_address=new), sequence=entry.sequence,
                         dhaad_identifier=entry.dhaad_identifier)
        self._entries[new.ip] = fresh
        effects.append(log("home-address-renumbered", home_address=home_address,
                           new_home_address=new.ip, home_agent=entry.registration.home_agent))
        if self._primary is not None:
            effects.extend(self._feed(fresh, self._care_of_event(fresh), now))
        return tuple(effects)

    def shutdown(self, now: float) -> tuple[Effect, ...]:
        """The daemon stops."""
        effects: list[Effect] = []
        for entry in tuple(self._entries.values()):
            effects.extend(self._feed(entry, Shutdown(), now))
        return tuple(effects)

    # -- internals -------------------------------------------------------------------

    def _reselect(self, now: float) -> tuple[Effect, ...]:
        current = self._primary.address if self._primary is not None else None
        chosen = select_care_of(self._candidates.values(), self._preference, current, now)
        bindings = self._care_of_bindings(chosen, now)
        if chosen == self._primary and bindings == self._bindings:
            return ()
        effects: list[Effect] = []
        if chosen != self._primary:
            effects.append(log("care-of-address-selected",
                               address=chosen.address if chosen else None,
                               ifname=chosen.ifname if chosen else None))
        if bindings != self._bindings:
            effects.append(log("care-of-bindings-changed",
                               bindings=[f"{b.bid}={b.care_of}" for b in bindings]))
        self._primary, self._bindings = chosen, bindings
        for entry in tuple(self._entries.values()):
            effects.extend(self._feed(entry, self._care_of_event(entry), now))
        return tuple(effects)

    def _care_of_bindings(self, primary: CareOfCandidate | None, now: float
                          ) -> tuple[CareOfBinding, ...]:
        """One care-of address per interface that has a Binding Identifier (the primary
        one on its own interface, else the oldest there); none unless the primary
        care-of address is among them, since the Binding Updates leave from it."""
        def rank(c: CareOfCandidate) -> tuple[bool, float, int]:
            return c != primary, c.acquired_at, int(c.address)

        best: dict[str, CareOfCandidate] = {}
        for c in self._candidates.values():
            held = best.get(c.ifname)
            if (c.ifname in self._binding_ids and _usable(c, now)
                    and (held is None or rank(c) < rank(held))):
                best[c.ifname] = c
        if primary is None or best.get(primary.ifname) != primary:
            return ()
        return tuple(sorted(
            (CareOfBinding(self._binding_ids[ifname][0], c.address, self._binding_ids[ifname][1])
             for ifname, c in best.items()),
            key=lambda b: b.bid))

    def _care_of_event(self, entry: BulEntry) -> CareOfChanged:
        """The primary care-of address, and the bindings for a registration of multiple
        care-of addresses."""
        primary = self._primary
        return CareOfChanged(
            primary.address if primary else None, primary.valid_until if primary else None,
            self._bindings if entry.registration.multiple_care_of else ())

    def _broadcast(self, event: BulEvent, now: float, prefix: IPv6Network) -> tuple[Effect, ...]:
        effects: list[Effect] = []
        for entry in tuple(self._entries.values()):
            if entry.registration.home_address.network == prefix:
                effects.extend(self._feed(entry, event, now))
        return tuple(effects)

    def _feed(self, entry: BulEntry, event: BulEvent, now: float) -> tuple[Effect, ...]:
        new, effects = step(entry, event, now, self.config.settings)
        self._entries[entry.home_address] = new
        return effects
