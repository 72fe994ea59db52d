"""Pure translations between the configuration, the kernel's view and the core.

* :func:`home_agent_policy`: a home agent :class:`~mip6d.config.Config` and the
  addresses on its interfaces -> :class:`~mip6d.core.policy.HomeAgentPolicy`.
* :func:`mobile_config`: a mobile node or router's configuration ->
  :class:`~mip6d.core.mobile.MobileConfig`.
* :func:`movement_events`: an address change on an interface -> the movement events
  it means to a mobile node (RFC 6275 section 11.5.1).

No I/O here: the daemon reads the kernel and passes what it saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv6Interface

from mip6d.config import Config, NodeRole
from mip6d.core.bul import HomeRegistration, MnSettings
from mip6d.core.mobile import (
    CareOfAddressAvailable,
    CareOfAddressGone,
    HomeLinkDetected,
    HomeLinkLost,
    MobileConfig,
    MovementEvent,
)
from mip6d.core.policy import MAX_LIFETIME, BindingAclPolicy, HomeAgentPolicy, HomeLink
from mip6d.netlink_events import AddressChange

__all__ = [
    "AdapterError",
    "home_agent_policy",
    "home_interfaces",
    "mobile_config",
    "movement_events",
    "movement_interfaces",
]

IFA_F_HOMEADDRESS = 0x10
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
        max_binding_life=min(max(config.ha_max_binding_life, 4), MAX_LIFETIME),
        require_ipsec=config.use_mn_ha_ipsec,
        key_management_mobility=config.key_mng_mob_capability,
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
    for index, link in enumerate(config.home_links):
        if link.home_agent_address.is_unspecified:
            raise AdapterError(
                f"{link.location}: MnHomeLink {link.interface}: HomeAgentAddress is "
                "missing; home agent discovery (DHAAD) is not supported yet"
            )
        registrations.append(
            HomeRegistration(
                home_address=link.home_address,
                home_agent=link.home_agent_address,
                tunnel=f"mip6mn{index}",
                lifetime=min(max(config.mn_max_ha_binding_life, 4), MAX_LIFETIME),
                mobile_router=link.is_mob_rtr,
                mobile_network_prefixes=link.mobile_network_prefixes if link.is_mob_rtr else (),
                explicit_mode=config.mob_rtr_use_explicit_mode,
                key_management=config.key_mng_mob_capability,
            )
        )
    settings = MnSettings(
        first_registration_timeout=config.initial_bindack_timeout_first_reg,
        reregistration_timeout=config.initial_bindack_timeout_rereg,
        max_bindack_timeout=config.max_bindack_timeout,
    )
    preference = tuple(
        (i.name, i.mn_if_preference)
        for i in config.interfaces
        if i.role(config.node_config) is NodeRole.MN
    )
    return MobileConfig(tuple(registrations), preference, settings)


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
