"""Pure translations between the configuration, the kernel's view and the core.

* :func:`home_agent_policy`: a home agent :class:`~mip6d.config.Config` and the
  addresses on its interfaces -> :class:`~mip6d.core.policy.HomeAgentPolicy`.
* :func:`mobile_config`: a mobile node or router's configuration ->
  :class:`~mip6d.core.mobile.MobileConfig`, its flow bindings' selectors by
  :func:`flow_selector`.
* :func:`movement_events`: an address change on an interface -> the movement events
  it means to a mobile node (RFC 6275 section 11.5.1).
* :class:`LinkRouters`: Router Advertisements -> the movement events they mean, and
  care-of addresses held back while no router on their link advertises them.

No I/O here: the daemon reads the kernel and passes what it saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

from mip6d.config import Config, FlowBindingPolicy, NodeRole
from mip6d.core.bul import FlowPolicy, HomeRegistration, MnSettings
from mip6d.core.ipsec import static_ipsec
from mip6d.core.mobile import (
    CareOfAddressAvailable,
    CareOfAddressGone,
    HomeLinkDetected,
    HomeLinkLost,
    MobileConfig,
    MovementEvent,
)
from mip6d.core.policy import MAX_LIFETIME, BindingAclPolicy, HomeAgentPolicy, HomeLink
from mip6d.shell.netlink_events import AddressChange
from mip6d.wire.flowsel import TrafficSelector6
from mip6d.wire.icmp6 import PrefixFlag, RouterAdvertisement

__all__ = [
    "AdapterError",
    "LinkRouters",
    "flow_selector",
    "home_agent_policy",
    "home_interfaces",
    "mobile_config",
    "movement_events",
    "movement_interfaces",
]

IFA_F_HOMEADDRESS = 0x10
MISSED_ADVERTISEMENTS = 3
"""Advertisement Intervals without an RA after which a router is taken for gone."""
RT_SCOPE_UNIVERSE = 0


class AdapterError(ValueError):
    """The configuration cannot be used on this node as it is; says what to fix."""


def home_interfaces(config: Config) -> tuple[str, ...]:
    """The home links of a home agent: interfaces whose role is HA."""
    return tuple(i.name for i in config.interfaces if i.role(config.node_config) is NodeRole.HA)


def home_agent_policy(
    config: Config,
    addresses: Mapping[str, Sequence[IPv6Interface]],
    duplicate_address_detection: bool = True,
) -> HomeAgentPolicy:
    """The home agent policy of ``config``. ``addresses`` lists the global addresses on
    each interface: the first one of each home link is the home agent's address there,
    and its prefix the home prefix (UMIP reads them from the interface the same way)."""
    if config.node_config is not NodeRole.HA:
        raise AdapterError(f"NodeConfig is {config.node_config}, not HA")
    links = []
    for ifname in home_interfaces(config):
        usable = [a for a in addresses.get(ifname, ()) if a.ip.is_global or a.ip.is_private]
        usable = [a for a in usable if not a.ip.is_link_local]
        if not usable:
            raise AdapterError(
                f"home link {ifname}: no global IPv6 address on the interface; configure "
                f"the home agent's address (e.g. 2001:db8:1::1/64) on {ifname}"
            )
        links.append(HomeLink(ifname, usable[0].network, usable[0].ip))
    if not links:
        raise AdapterError('a home agent needs at least one Interface "NAME"; line')
    acl = tuple(
        BindingAclPolicy(a.home_address, a.allowed, a.mobile_network_prefixes)
        for a in config.binding_acl
    )
    return HomeAgentPolicy(
        home_links=tuple(links),
        acl=acl,
        default_allow=config.default_binding_acl_policy < 128,
        accept_mobile_routers=config.ha_accept_mob_rtr,
        accept_multiple_care_of=config.ha_accept_multiple_coa,
        served_prefixes=config.ha_served_prefixes,
        max_binding_life=min(max(config.ha_max_binding_life, 4), MAX_LIFETIME),
        require_ipsec=config.use_mn_ha_ipsec,
        key_management_mobility=config.key_mng_mob_capability,
        static_keyed=static_ipsec(config).static_keyed,
        duplicate_address_detection=duplicate_address_detection,
    )


def movement_interfaces(config: Config) -> tuple[str, ...]:
    """The interfaces a mobile node moves with (role MN); empty: any interface."""
    return tuple(i.name for i in config.interfaces if i.role(config.node_config) is NodeRole.MN)


def mobile_config(config: Config) -> MobileConfig:
    """The mobile node (or router) configuration of ``config``."""
    if config.node_config is not NodeRole.MN:
        raise AdapterError(f"NodeConfig is {config.node_config}, not MN")
    if not config.home_links:
        raise AdapterError("a mobile node needs an MnHomeLink block")
    registrations = []
    ipsec = static_ipsec(config)
    protected = ipsec.home_addresses
    for index, link in enumerate(config.home_links):
        # :: discovers the home agent (the configuration refuses it with IPsec).
        discover = link.home_agent_address.is_unspecified
        registrations.append(
            HomeRegistration(
                home_address=link.home_address,
                home_agent=link.home_agent_address,
                tunnel=f"mip6mn{index}",
                lifetime=min(max(config.mn_max_ha_binding_life, 4), MAX_LIFETIME),
                mobile_router=link.is_mob_rtr,
                mobile_network_prefixes=link.mobile_network_prefixes if link.is_mob_rtr else (),
                explicit_mode=config.mob_rtr_use_explicit_mode,
                key_management=(config.key_mng_mob_capability
                                and link.home_address.ip not in ipsec.static_keyed),
                protected=link.home_address.ip in protected,
                discover_home_agent=discover,
                multiple_care_of=link.reg_multiple_coa,
                flows=tuple(
                    FlowPolicy(f.fid, f.priority, f.bids, flow_selector(f))
                    for f in link.flow_bindings
                ),
            )
        )
    settings = MnSettings(
        first_registration_timeout=config.initial_bindack_timeout_first_reg,
        reregistration_timeout=config.initial_bindack_timeout_rereg,
        max_bindack_timeout=config.max_bindack_timeout,
        ha_resends=config.mn_max_ha_consecutive_resends,
        rediscover_at_home=config.mn_reset_dhaad_at_home,
    )
    moving = [i for i in config.interfaces if i.role(config.node_config) is NodeRole.MN]
    return MobileConfig(
        tuple(registrations),
        interface_preference=tuple((i.name, i.mn_if_preference) for i in moving),
        binding_ids=tuple((i.name, i.bid, i.bid_priority) for i in moving if i.bid is not None),
        settings=settings,
    )


def flow_selector(flow: FlowBindingPolicy) -> TrafficSelector6 | None:
    """The traffic selector of a ``FlowBinding`` (RFC 6088 IPv6 binary, as the home agent
    sees the packets it forwards to the node); None without any selector statement: all
    of the node's traffic."""
    if flow.selects_all:
        return None
    source, destination = flow.source_address, flow.destination_address
    return TrafficSelector6(
        source_address=(
            None if source is None else (source.network_address, source.broadcast_address)
        ),
        destination_address=(
            None if destination is None
            else (destination.network_address, destination.broadcast_address)
        ),
        source_port=flow.source_port,
        destination_port=flow.destination_port,
        next_header=None if flow.protocol is None else (flow.protocol, flow.protocol),
    )


def movement_events(
    change: AddressChange,
    mobile: MobileConfig,
    interfaces: Iterable[str],
) -> tuple[MovementEvent, ...]:
    """What an address change on an interface means to a mobile node.

    Only global, non-tentative addresses on the movement ``interfaces`` (any interface
    but the node's tunnels when empty) count; home addresses the daemon itself placed
    (``IFA_F_HOMEADDRESS``) never do. An address inside a home prefix means the node is
    on that home link; any other is a care-of address.
    """
    watched = tuple(interfaces)
    tunnels = {r.tunnel for r in mobile.registrations}
    if watched and change.ifname not in watched:
        return ()
    if change.ifname in tunnels or change.ifname == "lo":
        return ()
    address = change.address.ip
    if change.scope != RT_SCOPE_UNIVERSE or address.is_link_local or address.is_multicast:
        return ()
    if change.flags & IFA_F_HOMEADDRESS or any(
        address == r.home_address.ip for r in mobile.registrations
    ):
        return ()
    for registration in mobile.registrations:
        prefix = registration.home_address.network
        if address in prefix:
            if not change.added:
                return (HomeLinkLost(change.ifname, prefix),)
            return (HomeLinkDetected(change.ifname, prefix),) if change.usable else ()
    if not change.added:
        return (CareOfAddressGone(address),)
    return (CareOfAddressAvailable(address, change.ifname),) if change.usable else ()


class LinkRouters:
    """Movement detection from Router Advertisements (RFC 6275 section 11.5.1), pure.

    Addresses alone move slowly: an address stays until its valid lifetime ends (a day
    with SLAAC defaults), so a link whose router went away or whose prefix changed
    would keep its stale care-of address that long. Router Advertisements tell sooner.
    Per interface this keeps what each router advertises (its last RA's prefixes); a
    care-of address that no router on its link advertises any more is *hidden*
    (reported gone) until one does again. Rules:

    * an RA without Prefix Information says nothing about the link's prefixes;
    * an RA with router lifetime 0 removes that router (radvd sends one when it stops);
      so does silence: a router that announces its Advertisement Interval (RFC 6275
      section 7.3) and sends nothing for :data:`MISSED_ADVERTISEMENTS` of them is gone
      (:meth:`expire`); several, so that a lost RA or two do not move the node;
    * an RA from a router not seen on the interface, whose prefixes do not cover the
      current care-of address, means the node moved to another link: the routers seen
      before there are forgotten (if they are still there, their next RA brings them
      and their addresses back);
    * an RA advertising a home prefix means the node is on its home link.

    Routers forgotten because the node moved, or because they fell silent, are
    *departed* (:meth:`take_departed`): the shell removes the default routes their RAs
    gave, which the kernel would otherwise keep using until neighbour unreachability
    detection fails them (seconds: a router confirmed reachable stays in use for the
    rest of its reachable time, then 5 s of delay and 3 probes), and the first Binding
    Update from the new link would leave by a router that is no longer there. (A
    router that says goodbye takes its route with it.)

    Addresses come from :meth:`address` (the netlink view, already turned into
    movement events by :func:`movement_events`); a care-of address on an interface
    where no RA was seen yet is used as it is, so a link without RAs still works.
    """

    def __init__(self, mobile: MobileConfig, interfaces: Iterable[str]) -> None:
        self.mobile = mobile
        self.watched = tuple(interfaces)
        self.tunnels = {r.tunnel for r in mobile.registrations}
        self.homes = {r.home_address.network for r in mobile.registrations}
        self.routers: dict[str, dict[IPv6Address, tuple[IPv6Network, ...]]] = {}
        self.addresses: dict[str, set[IPv6Address]] = {}
        self.hidden: set[IPv6Address] = set()
        self.silent_after: dict[tuple[str, IPv6Address], float] = {}
        self.departed: list[tuple[str, IPv6Address]] = []

    def _advertised(self, ifname: str) -> set[IPv6Network] | None:
        routers = self.routers.get(ifname)
        if routers is None:
            return None
        return {prefix for prefixes in routers.values() for prefix in prefixes}

    def address(self, event: MovementEvent) -> tuple[MovementEvent, ...]:
        """Filter a movement event from the addresses: a care-of address on a link
        whose routers do not advertise its prefix is held back."""
        if isinstance(event, CareOfAddressAvailable):
            self.addresses.setdefault(event.ifname, set()).add(event.address)
            advertised = self._advertised(event.ifname)
            if advertised is not None and not any(event.address in p for p in advertised):
                self.hidden.add(event.address)
                return ()
            self.hidden.discard(event.address)
        elif isinstance(event, CareOfAddressGone):
            for known in self.addresses.values():
                known.discard(event.address)
            self.hidden.discard(event.address)
        return (event,)

    def link_down(self, ifname: str) -> None:
        """The interface went down: what its routers said no longer holds."""
        self.routers.pop(ifname, None)
        self.silent_after = {k: v for k, v in self.silent_after.items() if k[0] != ifname}

    def advertisement(
        self,
        ifname: str,
        router: IPv6Address,
        ra: RouterAdvertisement,
        care_of: IPv6Address | None,
        now: float = 0.0,
    ) -> tuple[MovementEvent, ...]:
        """The movement events a Router Advertisement from ``router`` on ``ifname``
        means, given the care-of address in use, at time ``now``."""
        if self.watched and ifname not in self.watched:
            return ()
        if ifname in self.tunnels or ifname == "lo":
            return ()
        prefixes = tuple(
            p.network for p in ra.prefixes
            if p.flags & (PrefixFlag.L | PrefixFlag.A) and p.valid_lifetime > 0
        )
        interval = ra.advertisement_interval
        if interval:
            self.silent_after[(ifname, router)] = now + MISSED_ADVERTISEMENTS * interval / 1000
        if not prefixes and ra.router_lifetime:
            return ()
        before = self._advertised(ifname) or set()
        routers = self.routers.setdefault(ifname, {})
        on_this_link = care_of is not None and care_of in self.addresses.get(ifname, set())
        if (router not in routers and on_this_link and care_of is not None
                and not any(care_of in p for p in prefixes)):
            # A new router, and our address is not its: we moved.
            self.departed.extend((ifname, old) for old in routers)
            routers.clear()
        if ra.router_lifetime == 0:
            routers.pop(router, None)
        else:
            routers[router] = prefixes
        return self._changes(ifname, before)

    def take_departed(self) -> tuple[tuple[str, IPv6Address], ...]:
        """``(ifname, router)`` for the routers departed since the last call, once each
        (see the class's text)."""
        departed, self.departed = tuple(self.departed), []
        return departed

    def next_deadline(self) -> float | None:
        """When a router that announced its Advertisement Interval is overdue."""
        return min(self.silent_after.values(), default=None)

    def expire(self, now: float) -> tuple[tuple[str, MovementEvent], ...]:
        """``(ifname, event)`` for the routers that stayed silent for
        :data:`MISSED_ADVERTISEMENTS` of their Advertisement Intervals (RFC 6275
        sections 7.3 and 11.5.1): they are gone, like one that said goodbye."""
        out: list[tuple[str, MovementEvent]] = []
        for (ifname, router), deadline in sorted(self.silent_after.items()):
            if deadline > now:
                continue
            del self.silent_after[(ifname, router)]
            routers = self.routers.get(ifname)
            if routers is None or router not in routers:
                continue
            before = self._advertised(ifname) or set()
            del routers[router]
            self.departed.append((ifname, router))
            out.extend((ifname, event) for event in self._changes(ifname, before))
        return tuple(out)

    def _changes(self, ifname: str, before: set[IPv6Network]) -> tuple[MovementEvent, ...]:
        """The events of a change of what ``ifname``'s routers advertise."""
        advertised = self._advertised(ifname) or set()
        events: list[MovementEvent] = [
            HomeLinkDetected(ifname, prefix)
            for prefix in sorted(advertised & self.homes - before)
        ]
        gone: list[MovementEvent] = []
        for address in sorted(self.addresses.get(ifname, set())):
            covered = any(address in p for p in advertised)
            if not covered and address not in self.hidden:
                self.hidden.add(address)
                gone.append(CareOfAddressGone(address))
            elif covered and address in self.hidden:
                self.hidden.discard(address)
                events.append(CareOfAddressAvailable(address, ifname))
        # New addresses first: the node goes straight to its new care-of address.
        return (*events, *gone)
