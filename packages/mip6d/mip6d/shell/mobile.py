"""The mobile node's (or mobile router's) part of the daemon: the Binding Update List
(:class:`~mip6d.core.mobile.MobileNode`) fed with movement, from the addresses netlink
reports and the Router Advertisements of the links, with Binding Acknowledgements and
its timers; it deregisters when the daemon stops. A registration without a home agent
address discovers one: its DHAAD Requests and Replies go through the ICMPv6 socket
(:mod:`mip6d.shell.icmpsocket`), the decisions are the core's (:mod:`mip6d.core.bul`).
With ``SendMobPfxSols`` a registration away from home asks its home agent for the home
prefixes through the same socket (:class:`mip6d.core.prefixdisc.PrefixSolicitor`)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from ipaddress import IPv6Address, IPv6Interface
from typing import TYPE_CHECKING, Any

from mip6d import control
from mip6d.config import Config
from mip6d.core.bul import BulState
from mip6d.core.effects import (
    AddAddress,
    AddTunnel,
    AddXfrmState,
    TimerKey,
    TimerKind,
    XfrmRoProto,
)
from mip6d.core.mobile import MobileNode, MovementEvent
from mip6d.core.prefixdisc import PrefixSolicitor
from mip6d.metrics import label_value, sample_key
from mip6d.shell.adapters import LinkRouters, mobile_config, movement_events, movement_interfaces
from mip6d.shell.icmpsocket import ReceivedIcmp
from mip6d.shell.mhsocket import Received
from mip6d.shell.ndisc import RaListener
from mip6d.shell.netlink_events import AddressChange, NetlinkMonitor
from mip6d.shell.part import Part
from mip6d.wire import icmp6, mh

if TYPE_CHECKING:
    from mip6d.shell.loop import Daemon

__all__ = ["MobilePart"]

_ANY = IPv6Address("::")
_TUNNELLED = (BulState.REGISTERED, BulState.REFRESHING)
RECENT_HANDOVERS = 10
"""How many changes of a registered care-of address ``status`` reports."""


def _text(address: IPv6Address | None) -> str | None:
    return None if address is None else str(address)


class MobilePart(Part):
    """A mobile node or router: registers its home addresses from where it is."""

    def __init__(self, daemon: Daemon, initial_sequence: int | None = None) -> None:
        super().__init__(daemon)
        self.mobile = mobile_config(daemon.config)
        sequence = int(daemon.clock()) & 0xFFFF if initial_sequence is None else initial_sequence
        self.node = MobileNode(self.mobile, initial_sequence=sequence)
        # Mobile Prefix Discovery per home address; Identifiers apart from DHAAD's.
        self.solicitors: dict[IPv6Address, PrefixSolicitor] = {
            r.home_address.ip: self._solicitor(r.home_address,
                                               (sequence + 0x8000 + index) & 0xFFFF)
            for index, r in enumerate(self.mobile.registrations)
        } if daemon.config.send_mob_pfx_sols else {}
        self.interfaces = movement_interfaces(daemon.config)
        self.monitor: NetlinkMonitor | None = None
        self.ra: RaListener | None = None
        self.link_routers = LinkRouters(self.mobile, self.interfaces)
        self._addresses: set[tuple[str, IPv6Interface]] = set()
        # The registered care-of address's changes, newest last (``status``): for a
        # person watching the node move (homeguy-status).
        self.recent_handovers: deque[dict[str, Any]] = deque(maxlen=RECENT_HANDOVERS)

    def start(self, now: float) -> None:
        daemon, kernel = self.daemon, self.daemon.kernel
        if any(r.mobile_router for r in self.mobile.registrations):
            kernel.sysctl("net/ipv6/conf/all/forwarding", 1)
            for name in self.interfaces:
                kernel.keep_accepting_ra(name)
        daemon.sync_ipsec(strict=True)
        # The Binding Acknowledgement may come before the entry's own route2 state is
        # in place (or after a handover changed it): a wildcard state accepts it.
        daemon.apply((AddXfrmState(XfrmRoProto.ROUTE2, _ANY, _ANY, _ANY),))
        # Linux drops a packet whose type 2 routing header names an address that is not
        # a local home address (ipv6_rthdr_rcv: ipv6_chk_home_addr), and the core puts
        # the home address on the tunnel only once registered: so the first Binding
        # Acknowledgement needs the home address on the loopback, flagged "home".
        for registration in self.mobile.registrations:
            daemon.apply((
                AddAddress(IPv6Interface(registration.home_address.ip), "lo",
                           home_address=True, nodad=True),
            ))
        self.open_discovery()
        self.monitor = NetlinkMonitor()
        daemon.register(self.monitor.fileno(), self._on_netlink)
        self.ra = RaListener(self.monitor.names.get)
        daemon.register(self.ra.fileno(), self._on_ra)
        # A fresh clock, not the ``now`` of start(): setting up took long enough (the
        # commands above, under TCG up to a second) that a first Binding Update's
        # retransmission timer counted from then fired right after it was sent.
        for change in self.monitor.dump():
            self._address_change(change, daemon.clock())

    # -- movement ---------------------------------------------------------------------

    def _address_change(self, change: AddressChange, now: float) -> None:
        key = (change.ifname, change.address)
        if change.added and change.usable:
            if key in self._addresses:
                return  # a lifetime refresh
            self._addresses.add(key)
        elif not change.added:
            self._addresses.discard(key)
        events = movement_events(change, self.mobile, self.interfaces)
        events = tuple(e for event in events for e in self.link_routers.address(event))
        self._movement(events, change.ifname, "address", now)

    def _movement(self, events: Sequence[MovementEvent], ifname: str, source: str,
                  now: float) -> None:
        for event in events:
            self.daemon.log("info", "movement", kind=type(event).__name__, ifname=ifname,
                            source=source, address=str(getattr(event, "address", "")) or None)
            self.daemon.apply(self.node.handle_movement(event, now), now=now)
        self._sync_prefix_discovery(now)

    def _on_netlink(self) -> None:
        assert self.monitor is not None
        for item in self.monitor.read():
            if isinstance(item, AddressChange):
                self._address_change(item, self.daemon.clock())
            elif item.startswith("down:"):
                self.link_routers.link_down(item.removeprefix("down:"))

    def _on_ra(self) -> None:
        """Router Advertisements: movement detection (see :class:`LinkRouters`)."""
        assert self.ra is not None
        clock = self.daemon.clock
        for received in self.ra.read():
            primary = self.node.primary_care_of
            events = self.link_routers.advertisement(
                received.ifname, received.src, received.ra,
                primary.address if primary is not None else None, clock(),
            )
            if events:
                self.daemon.log("info", "router-advertisement", ifname=received.ifname,
                                router=str(received.src),
                                prefixes=[str(p.network) for p in received.ra.prefixes],
                                router_lifetime=received.ra.router_lifetime)
            self._forget_departed_routers()
            self._movement(events, received.ifname, "router-advertisement", clock())

    def after_turn(self, now: float) -> None:
        """Routers overdue for their next RA are gone (see :class:`LinkRouters`)."""
        expired = self.link_routers.expire(now)
        self._forget_departed_routers()
        for ifname, event in expired:
            self._movement((event,), ifname, "router-silent", now)

    def _forget_departed_routers(self) -> None:
        """Before the movement they mean is acted on (the Binding Update from the new
        link): the default routes of the routers that left go (see :class:`LinkRouters`)."""
        for ifname, router in self.link_routers.take_departed():
            self.daemon.kernel.forget_default_router(ifname, router)

    def deadlines(self) -> list[float]:
        due = self.link_routers.next_deadline()
        return [] if due is None else [due]

    # -- messages and timers ----------------------------------------------------------

    def receive(self, received: Received, now: float) -> bool:
        msg = received.msg
        if not isinstance(msg, mh.BindingAck):
            return False
        status = msg.status
        self.daemon.count("binding_acks_received", label_value(status.name)
                          if isinstance(status, mh.BAStatus) else str(status))
        before = self._registered_care_ofs()
        self.daemon.apply(self.node.handle_binding_ack(msg, received.src, received.dst, now),
                          now=now)
        after = self._registered_care_ofs()
        # A foreign link's care-of address replaced by another one: a handover.
        # (Coming home clears it; the first registration had none.)
        self.daemon.count("handovers", by=sum(
            1 for home, care_of in after.items()
            if care_of is not None and before.get(home) not in (None, care_of)
        ))
        primary = self.node.primary_care_of
        for home, care_of in after.items():
            if care_of != before.get(home):
                self.recent_handovers.append({
                    "at": now, "home_address": str(home),
                    "from": _text(before.get(home)), "to": _text(care_of),
                    "interface": primary.ifname
                    if primary is not None and primary.address == care_of else None,
                })
        self._sync_prefix_discovery(now)
        return True

    def open_discovery(self) -> None:
        """The ICMPv6 socket for DHAAD Replies, when a registration discovers its home
        agent (``HomeAgentAddress ::``), and for Mobile Prefix Advertisements, with
        ``SendMobPfxSols``."""
        types = ([icmp6.ICMPv6Type.DHAAD_REPLY]
                 if any(r.discover_home_agent for r in self.mobile.registrations) else [])
        if self.solicitors:
            types.append(icmp6.ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT)
        if types:
            self.daemon.open_icmp(tuple(types))

    def receive_icmp(self, received: ReceivedIcmp, now: float) -> None:
        msg = received.msg
        if isinstance(msg, icmp6.DHAADReply):
            self.daemon.apply(self.node.handle_dhaad_reply(msg, received.src, now), now=now)
            self._sync_prefix_discovery(now)
        elif isinstance(msg, icmp6.MobilePrefixAdvertisement):
            solicitor = self.solicitors.get(received.dst)
            if solicitor is None:
                self.daemon.log("info", "mobile-prefix-advertisement-ignored",
                                src=str(received.src), dst=str(received.dst),
                                identifier=msg.identifier, reason="not to a home address")
                return
            solicitor, effects = solicitor.advertised(msg, received.src, received.dst, now)
            self.solicitors[received.dst] = solicitor
            self.daemon.apply(effects, now=now)
            if solicitor.renumbered_to is not None:
                self._renumber(received.dst, solicitor.renumbered_to, now)

    def _renumber(self, home_address: IPv6Address, new: IPv6Interface, now: float) -> None:
        """Register ``new`` in place of ``home_address`` (its home link renumbered): the
        new address on the loopback first, flagged "home", as at start (the first
        Binding Acknowledgement's type 2 routing header names it), then a solicitor of
        its own."""
        if new.ip in self.solicitors:
            return
        old = self.solicitors.pop(home_address)
        _, effects = old.unregistered()
        self.daemon.apply(effects, now=now)
        self.daemon.apply((AddAddress(IPv6Interface(new.ip), "lo", home_address=True,
                                      nodad=True),), now=now)
        self.solicitors[new.ip] = self._solicitor(new, old.next_identifier)
        self.daemon.apply(self.node.renumber(home_address, new, now), now=now)
        self._sync_prefix_discovery(now)

    def _solicitor(self, home_address: IPv6Interface, next_identifier: int) -> PrefixSolicitor:
        protected = self.daemon.keying.static.protecting(
            icmp6.ICMPv6Type.MOBILE_PREFIX_SOLICITATION)
        return PrefixSolicitor(home_address, next_identifier=next_identifier,
                               protected=home_address.ip in protected)

    def _sync_prefix_discovery(self, now: float) -> None:
        """Tell each home address's solicitor whether it is registered away from home
        (after anything that may change a Binding Update List entry)."""
        for entry in self.node.entries:
            solicitor = self.solicitors.get(entry.home_address)
            if solicitor is None:
                continue
            away = (entry.state in _TUNNELLED and entry.home_link is None
                    and entry.registered_coa is not None)
            if away:
                assert entry.registered_coa is not None
                solicitor, effects = solicitor.registered(
                    entry.registration.home_agent, entry.registered_coa, now)
            elif entry.home_link is not None:
                # At home nothing leaves from a care-of address: the hao state goes too
                # (the Binding Update List has removed its own after the deregistration).
                solicitor, effects = solicitor.stopped()
            else:
                solicitor, effects = solicitor.unregistered()
            self.solicitors[entry.home_address] = solicitor
            self.daemon.apply(effects, now=now)

    def _registered_care_ofs(self) -> dict[IPv6Address, IPv6Address | None]:
        return {e.home_address: e.registered_coa for e in self.node.entries}

    def timer_fired(self, key: TimerKey, now: float) -> None:
        if key.kind is TimerKind.MOBILE_PREFIX:
            for home, solicitor in self.solicitors.items():
                if solicitor.timer == key:
                    self.solicitors[home], effects = solicitor.fire(now)
                    self.daemon.apply(effects, now=now)
            return
        self.daemon.apply(self.node.timer_fired(key, now), now=now)
        self._sync_prefix_discovery(now)

    def protected_tunnels(self) -> list[tuple[IPv6Address, AddTunnel]]:
        """The registrations whose binding carries traffic through the tunnel."""
        return [
            (e.home_address, AddTunnel(e.registration.tunnel, e.registered_coa,
                                       e.registration.home_agent))
            for e in self.node.entries
            if e.registered_coa is not None and e.home_link is None and e.state in _TUNNELLED
        ]

    def check_reload(self, config: Config) -> Callable[[], None]:
        mobile_config(config)

        def change() -> None:
            self.daemon.log("warning", "reload-partial",
                            message="a mobile node applies a changed MnHomeLink at restart")

        return change

    # -- the control protocol ---------------------------------------------------------

    def status(self) -> dict[str, Any]:
        primary = self.node.primary_care_of
        states: Counter[str] = Counter(str(e.state) for e in self.node.entries)
        return {"care_of": str(primary.address) if primary else None,
                "care_of_interface": primary.ifname if primary else None,
                "bul_entries": dict(states),
                "recent_handovers": list(self.recent_handovers),
                "tunnel_traffic": self._tunnel_traffic()}

    def _tunnel_traffic(self) -> dict[str, dict[str, int]]:
        """The kernel's counters of each registration's tunnel that is there."""
        traffic = {}
        for name in sorted({e.registration.tunnel for e in self.node.entries}):
            counters = self.daemon.kernel.link_traffic(name)
            if counters is not None:
                traffic[name] = counters
        return traffic

    def binding_update_list(self) -> list[dict[str, Any]]:
        now = self.daemon.clock()
        return [control.bul_record(e, now) for e in self.node.entries]

    def counters(self) -> dict[str, int]:
        if self.ra is None or not self.ra.malformed:
            return {}
        return {sample_key("malformed_packets_dropped", "ra"): self.ra.malformed}

    def shutdown(self, now: float) -> None:
        self.daemon.apply(self.node.shutdown(now))
        for home, solicitor in self.solicitors.items():
            self.solicitors[home], effects = solicitor.stopped()
            self.daemon.apply(effects, now=now)

    def close(self) -> None:
        for closing in (self.monitor, self.ra):
            if closing is not None:
                closing.close()
