"""Checks that need more than one statement, run once the whole configuration is read.

UMIP makes some of them while parsing (a home link without a home address, overlapping
IPsec policies, a tunnel interface on a home agent); the others are Homeguy's: the
configuration a mobile node needs, home addresses and prefixes given twice (possibly in
two included files: the error names both places), and the consistency of static keys.
Each check raises :class:`ConfigError` at the offending statement, or adds a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network

from mip6d.config.errors import ConfigError, ConfigWarning, Location
from mip6d.config.model import (
    AlgorithmKind,
    Config,
    FlowBindingPolicy,
    IPsecPolicy,
    IPsecPolicySet,
    IPsecPolicyType,
    IPsecProtocol,
    NodeRole,
    SaDirection,
)
from mip6d.config.values import seconds_text

__all__ = ["validate"]

Check = Callable[[Config], Iterable[ConfigWarning]]


def validate(config: Config) -> Config:
    """``config`` with the warnings of all checks added; ``ConfigError`` at the first
    problem."""
    warnings = list(config.warnings)
    for check in CHECKS:
        warnings.extend(check(config))
    return replace(config, warnings=tuple(warnings))


def _fail(where: Location, message: str) -> ConfigError:
    return ConfigError.at(where, message)


def _node(config: Config) -> list[ConfigWarning]:
    node_where = config.where("node_config")
    if config.node_config is NodeRole.MN:
        if not config.home_links:
            raise _fail(
                node_where, "NodeConfig MN needs an MnHomeLink with HomeAgentAddress and "
                "HomeAddress; found no MnHomeLink",
            )
        for link in config.home_links:
            if "home_agent_address" not in link.field_locations:
                raise _fail(
                    link.location, f'MnHomeLink "{link.interface}" has no HomeAgentAddress; '
                    "expected one since NodeConfig is MN (:: discovers the home agent)",
                )
            keyed = config.use_mn_ha_ipsec and any(
                link.home_address.ip in {a.ip for a in s.home_addresses}
                for s in config.ipsec_policy_sets)
            if link.home_agent_address.is_unspecified and keyed:
                raise _fail(
                    link.where("home_agent_address"), "HomeAgentAddress :: (dynamic home "
                    f"agent discovery) with an IPsecPolicySet for home address "
                    f"{link.home_address.ip}, whose policies name one home agent; expected "
                    "that home agent's address",
                )
        if not config.interfaces and not config.mn_use_all_interfaces:
            return [ConfigWarning(
                node_where, "NodeConfig MN without any Interface and with MnUseAllInterfaces "
                "disabled: no interface will be used to move",
            )]
    if config.node_config is NodeRole.HA and not any(
        i.role(NodeRole.HA) is NodeRole.HA for i in config.interfaces
    ):
        raise _fail(
            node_where, "NodeConfig HA needs an Interface to serve as home agent on; found "
            + ("none" if not config.interfaces else "only interfaces with another IfType"),
        )
    return []


def _interfaces(config: Config) -> list[ConfigWarning]:
    seen: dict[str, Location] = {}
    for interface in config.interfaces:
        if interface.name in seen:
            raise _fail(
                interface.location, f'Interface "{interface.name}" is already declared at '
                f"{seen[interface.name]}; expected each interface once",
            )
        seen[interface.name] = interface.location
        if interface.bid_priority and interface.bid is None:
            raise _fail(
                interface.where("bid_priority"), f'BidPriority of Interface "{interface.name}" '
                "needs a Bid; expected 'Bid <1..65535>;' in the same Interface block",
            )
        if interface.tunnel and interface.role(config.node_config) is NodeRole.HA:
            raise _fail(
                interface.where("tunnel"), f'Interface "{interface.name}" serves as home '
                "agent and cannot be a Tunnel; expected Tunnel disabled or IfType MN or CN",
            )
    bids: dict[int, tuple[str, Location]] = {}
    for interface in config.interfaces:
        if interface.bid is None:
            continue
        where = interface.where("bid")
        if interface.bid in bids:
            other, other_where = bids[interface.bid]
            raise _fail(
                where, f'Bid {interface.bid} of Interface "{interface.name}" is already the Bid '
                f'of Interface "{other}" at {other_where}; expected a unique Bid per interface',
            )
        bids[interface.bid] = (interface.name, where)
    return []


class _Claims:
    """Addresses and prefixes claimed once each, with the statement that claimed them."""

    def __init__(self) -> None:
        self.addresses: dict[IPv6Address, tuple[str, Location]] = {}
        self.prefixes: list[tuple[IPv6Network, str, Location]] = []

    def address(self, address: IPv6Address, what: str, where: Location) -> None:
        if address in self.addresses:
            other_what, other_where = self.addresses[address]
            raise _fail(
                where, f"home address {address} is already given to {other_what} at "
                f"{other_where}; expected each home address once",
            )
        self.addresses[address] = (what, where)

    def prefix(self, prefix: IPv6Network, what: str, where: Location) -> None:
        for other, other_what, other_where in self.prefixes:
            if prefix.overlaps(other):
                raise _fail(
                    where, f"mobile network prefix {prefix} overlaps {other} of {other_what} "
                    f"at {other_where}; expected each prefix to belong to one mobile router",
                )
        self.prefixes.append((prefix, what, where))


def _home_links(config: Config) -> list[ConfigWarning]:
    claims = _Claims()
    for link in config.home_links:
        name = f'MnHomeLink "{link.interface}"'
        hoa_where = link.where("home_address")
        if link.mobile_network_prefixes and not link.is_mob_rtr:
            raise _fail(
                hoa_where, f"HomeAddress {link.home_address} lists mobile network prefixes, "
                f"which needs 'IsMobRtr enabled;' in {name}",
            )
        if link.home_prefix is not None and link.home_address.ip not in link.home_prefix:
            raise _fail(
                link.where("home_prefix"), f"HomePrefix {link.home_prefix} does not contain "
                f"HomeAddress {link.home_address.ip}; expected the prefix of the home link",
            )
        if link.home_agent_address == link.home_address.ip:
            raise _fail(
                link.where("home_agent_address"), f"HomeAgentAddress {link.home_agent_address}"
                " is the home address itself; expected the home agent's address",
            )
        claims.address(link.home_address.ip, name, hoa_where)
        for prefix in link.mobile_network_prefixes:
            claims.prefix(prefix, name, hoa_where)
    return []


# RFC 6088 section 3.2: the next headers whose packets have ports (TCP, UDP, DCCP, SCTP).
_PORT_PROTOCOLS = {6: "TCP", 17: "UDP", 33: "DCCP", 132: "SCTP"}


def _multiple_care_of(config: Config) -> list[ConfigWarning]:
    """RegMultipleCoA (RFC 5648) and its flow bindings (RFC 6089): the Bids they name
    exist, flows are told apart by FID and ordered by FID-PRI, selectors make sense."""
    bids = {
        i.bid for i in config.interfaces
        if i.bid is not None and i.role(config.node_config) is NodeRole.MN
    }
    for link in config.home_links:
        name = f'MnHomeLink "{link.interface}"'
        if link.reg_multiple_coa:
            where = link.where("reg_multiple_coa")
            if config.node_config is not NodeRole.MN:
                raise _fail(
                    where, f"RegMultipleCoA in {name} needs NodeConfig MN; found NodeConfig "
                    f"{config.node_config}",
                )
            if not bids:
                raise _fail(
                    where, f"RegMultipleCoA in {name} needs an Interface the mobile node moves "
                    "with that has a Bid; expected 'Bid <1..65535>;' in at least one "
                    "Interface block",
                )
        fids: dict[int, Location] = {}
        priorities: dict[int, tuple[int, Location]] = {}
        for flow in link.flow_bindings:
            if not link.reg_multiple_coa:
                raise _fail(
                    flow.location, f"FlowBinding {flow.fid} needs 'RegMultipleCoA enabled;' "
                    f"in {name}",
                )
            if flow.fid in fids:
                raise _fail(
                    flow.location, f"FlowBinding {flow.fid} is already given in {name} at "
                    f"{fids[flow.fid]}; expected a unique FID per MnHomeLink",
                )
            fids[flow.fid] = flow.location
            priority_where = flow.where("priority")
            if flow.priority in priorities:
                other, other_where = priorities[flow.priority]
                raise _fail(
                    priority_where, f"FlowPriority {flow.priority} of FlowBinding {flow.fid} "
                    f"is already that of FlowBinding {other} at {other_where}; expected a "
                    "unique FlowPriority per MnHomeLink (RFC 6089 section 4.2)",
                )
            priorities[flow.priority] = (flow.fid, priority_where)
            unknown = [bid for bid in flow.bids if bid not in bids]
            if unknown:
                raise _fail(
                    flow.where("bids"), f"BindingIds of FlowBinding {flow.fid} names Bid "
                    f"{unknown[0]}, which no Interface the mobile node moves with has; "
                    "expected one of the Bids " + (", ".join(map(str, sorted(bids))) or "none"),
                )
            _flow_selector(flow)
    return []


def _flow_selector(flow: FlowBindingPolicy) -> None:
    for keyword, field in (("SourcePort", "source_port"),
                           ("DestinationPort", "destination_port")):
        ports: tuple[int, int] | None = getattr(flow, field)
        if ports is None:
            continue
        where = flow.where(field)
        start, end = ports
        if start > end:
            raise _fail(
                where, f"{keyword} {start} {end} of FlowBinding {flow.fid} ends below its "
                f"start; expected the first port, then the last ({keyword} {end} {start})",
            )
        if flow.protocol not in _PORT_PROTOCOLS:
            found = "no Protocol" if flow.protocol is None else f"Protocol {flow.protocol}"
            raise _fail(
                where, f"{keyword} of FlowBinding {flow.fid} needs Protocol 6 (TCP), 17 "
                f"(UDP), 33 (DCCP) or 132 (SCTP); found {found}",
            )


def _binding_acl(config: Config) -> list[ConfigWarning]:
    claims = _Claims()
    warnings: list[ConfigWarning] = []
    for acl in config.binding_acl:
        claims.address(acl.home_address, "BindingAclPolicy", acl.location)
        for prefix in acl.mobile_network_prefixes:
            claims.prefix(prefix, f"BindingAclPolicy {acl.home_address}", acl.location)
        if acl.mobile_network_prefixes and not config.ha_accept_mob_rtr:
            warnings.append(ConfigWarning(
                acl.location, f"BindingAclPolicy {acl.home_address} lists mobile network "
                "prefixes but HaAcceptMobRtr is disabled, so this mobile router cannot "
                "register",
            ))
    # Said only when anyone may register: with DefaultBindingAclPolicy deny and no entry
    # listing prefixes, the configuration has no mobile router to refuse.
    listed = any(acl.mobile_network_prefixes for acl in config.binding_acl)
    anyone = config.default_binding_acl_policy < 128
    if config.ha_accept_mob_rtr and anyone and not listed and not config.ha_served_prefixes:
        warnings.append(ConfigWarning(
            config.where("ha_accept_mob_rtr"), "HaAcceptMobRtr is enabled, but no "
            "BindingAclPolicy lists mobile network prefixes and there is no HaServedPrefix, "
            "so every mobile router gets status 140; list each router's prefixes in its "
            "BindingAclPolicy, or add the HaServedPrefix they come from",
        ))
    return warnings


def _cn_binding_policies(config: Config) -> list[ConfigWarning]:
    seen: dict[IPv6Address, Location] = {}
    for line in config.cn_binding_policies:
        peer = line.peer_home_address
        if peer in seen:
            raise _fail(
                line.location, f"CnBindingPolicySet has a line for {peer} already at "
                f"{seen[peer]}; expected one line per mobile node",
            )
        seen[peer] = line.location
    if config.do_route_optimization_cn and "do_route_optimization_cn" in config.field_locations:
        return [ConfigWarning(
            config.where("do_route_optimization_cn"), "DoRouteOptimizationCN is enabled, "
            "but this mip6d has no route optimisation: mobile nodes that try it get a "
            "Binding Error (status 2) and keep using their home agent",
        )]
    return []


def _timers(config: Config) -> list[ConfigWarning]:
    if config.min_mob_pfx_adv_interval > config.max_mob_pfx_adv_interval:
        where = config.field_locations.get(
            "min_mob_pfx_adv_interval", config.where("max_mob_pfx_adv_interval")
        )
        raise _fail(
            where, f"MinMobPfxAdvInterval {config.min_mob_pfx_adv_interval} is longer than "
            f"MaxMobPfxAdvInterval {config.max_mob_pfx_adv_interval}; expected at most it",
        )
    for name, field in (
        ("InitialBindackTimeoutFirstReg", "initial_bindack_timeout_first_reg"),
        ("InitialBindackTimeoutReReg", "initial_bindack_timeout_rereg"),
    ):
        initial = getattr(config, field)
        if initial > config.max_bindack_timeout:
            where = config.field_locations.get("max_bindack_timeout", config.where(field))
            raise _fail(
                where, f"MaxBindackTimeout {seconds_text(config.max_bindack_timeout)} is "
                f"shorter than {name} {seconds_text(initial)}; expected at least it",
            )
    return []


def _ipsec_policies(config: Config) -> list[ConfigWarning]:
    """ESP only; no two policies of a home agent / home address pair for the same
    traffic (UMIP's ``ipsec_policy_entry_check``)."""
    by_pair: dict[tuple[IPv6Address, IPv6Address], list[IPsecPolicy]] = {}
    for policy_set in config.ipsec_policy_sets:
        seen: dict[IPv6Address, Location] = {}
        for index, hoa in enumerate(policy_set.home_addresses):
            where = policy_set.where(f"home_addresses[{index}]")
            if hoa.ip in seen:
                raise _fail(
                    where, f"HomeAddress {hoa.ip} is already in this IPsecPolicySet at "
                    f"{seen[hoa.ip]}; expected each home address once",
                )
            seen[hoa.ip] = where
        for policy in policy_set.policies:
            for protocol in policy.protocols:
                if protocol is not IPsecProtocol.ESP:
                    raise _fail(
                        policy.location, f"IPsecPolicy {policy.type} {protocol}: only UseESP "
                        f"is supported; expected UseESP instead of {protocol}",
                    )
            for hoa in policy_set.home_addresses:
                pair = (policy_set.home_agent_address, hoa.ip)
                for other in by_pair.setdefault(pair, []):
                    if other.type.coverage & policy.type.coverage:
                        raise _fail(
                            policy.location, f"IPsecPolicy {policy.type} overlaps IPsecPolicy "
                            f"{other.type} at {other.location} for home agent {pair[0]} and "
                            f"home address {pair[1]}; expected policies that protect "
                            "different traffic",
                        )
                by_pair[pair].append(policy)
    warnings: list[ConfigWarning] = []
    if config.node_config is NodeRole.MN:
        own = {link.home_address.ip for link in config.home_links}
        for policy_set in config.ipsec_policy_sets:
            for hoa in policy_set.home_addresses:
                if hoa.ip not in own:
                    warnings.append(ConfigWarning(
                        policy_set.location, f"IPsecPolicySet HomeAddress {hoa.ip} is not the "
                        "HomeAddress of any MnHomeLink, so its policies are never used",
                    ))
    return warnings


def _static_keys(config: Config) -> list[ConfigWarning]:
    warnings: list[ConfigWarning] = []
    spis: dict[tuple[IPv6Address, int], Location] = {}
    for policy_set in config.ipsec_policy_sets:
        if not policy_set.static_keys:
            continue
        first = policy_set.static_keys[0]
        if not config.use_mn_ha_ipsec:
            warnings.append(ConfigWarning(
                first.location, "StaticKey is not installed since UseMnHaIPsec is disabled",
            ))
        if len(policy_set.home_addresses) != 1:
            raise _fail(
                first.location, "StaticKey needs exactly one HomeAddress in its "
                f"IPsecPolicySet, found {len(policy_set.home_addresses)}; expected one set "
                "per mobile node",
            )
        _static_keys_of_set(policy_set, config.key_mng_mob_capability)
        hoa = policy_set.home_addresses[0].ip
        for key in policy_set.static_keys:
            destination = (
                policy_set.home_agent_address if key.direction is SaDirection.MN_TO_HA else hoa
            )
            if (destination, key.spi) in spis:
                raise _fail(
                    key.location, f"SPI {key.spi:#x} towards {destination} is already used "
                    f"at {spis[destination, key.spi]}; expected a unique SPI per destination",
                )
            spis[destination, key.spi] = key.location
    return warnings


def _static_keys_of_set(policy_set: IPsecPolicySet, dynamic_allowed: bool) -> None:
    """Every policy of a statically keyed set keyed, both ways. With KeyMngMobCapability
    a set is keyed either way (statically, or by IKE without any StaticKey), never half:
    an unkeyed policy of a static set would wait for SAs no IKE daemon negotiates."""
    # What else fixes an unkeyed policy: with KeyMngMobCapability, keying the whole set
    # by IKE instead.
    or_ike = ("; or, for IKEv2 keying of this set (KeyMngMobCapability is enabled), "
              "remove every StaticKey of the set" if dynamic_allowed else "")
    used: dict[tuple[SaDirection, int], IPsecPolicy] = {}
    for policy in policy_set.policies:
        if not policy.allow:
            continue
        for direction in SaDirection:
            reqid = policy.reqid(direction)
            if reqid == 0:
                raise _fail(
                    policy.location, f"IPsecPolicy {policy.type} has no reqid for "
                    f"{direction}; expected reqids for both directions, since its "
                    "IPsecPolicySet has StaticKey" + or_ike,
                )
            other = used.setdefault((direction, reqid), policy)
            if other.tunnel != policy.tunnel:
                raise _fail(
                    policy.location, f"IPsecPolicy {policy.type} ({_mode(policy)} mode) uses "
                    f"reqid {reqid} like IPsecPolicy {other.type} ({_mode(other)} mode) at "
                    f"{other.location}; expected one mode per statically keyed reqid",
                )
    keys: dict[tuple[SaDirection, int], Location] = {}
    for key in policy_set.static_keys:
        slot = (key.direction, key.reqid)
        if slot not in used:
            reqids = sorted({r for (d, r) in used if d is key.direction})
            raise _fail(
                key.location, f"StaticKey {key.direction} reqid {key.reqid} matches no "
                f"IPsecPolicy of its set; expected one of the {key.direction} reqids: "
                + (", ".join(map(str, reqids)) or "none"),
            )
        if slot in keys:
            raise _fail(
                key.location, f"StaticKey {key.direction} reqid {key.reqid} is already given "
                f"at {keys[slot]}; expected one key per direction and reqid",
            )
        keys[slot] = key.location
        spec = key.encryption.algorithm
        if spec.kind is AlgorithmKind.AEAD and key.authentication is not None:
            raise _fail(
                key.where("authentication"), f"{spec.name} protects integrity itself; "
                "expected no Authentication with it",
            )
        if spec.kind is not AlgorithmKind.AEAD and key.authentication is None:
            raise _fail(
                key.where("encryption"), f"{spec.name} needs an Authentication statement "
                "(RFC 3776 asks for integrity protection); expected one in this StaticKey",
            )
    for (direction, reqid), policy in used.items():
        if (direction, reqid) not in keys:
            raise _fail(
                policy.location, f"IPsecPolicy {policy.type} uses reqid {reqid} for "
                f"{direction} but its set has no StaticKey {direction} for it; expected "
                f"'StaticKey {direction} <spi> {reqid} {{ ... }}'" + or_ike,
            )


def _keys_from_elsewhere(config: Config) -> list[ConfigWarning]:
    """Without KeyMngMobCapability, a set without StaticKey is keyed by SAs installed
    outside mip6d (setkey, ``ip xfrm state``), as the reference implementation's examples
    do: mip6d installs its policies and says so. Its tunnel payload cannot be: those SAs
    name the care-of address, which changes at every movement."""
    if config.key_mng_mob_capability or not config.use_mn_ha_ipsec:
        return []
    warnings: list[ConfigWarning] = []
    own = {link.home_address.ip for link in config.home_links}
    for policy_set in config.ipsec_policy_sets:
        homes = [h.ip for h in policy_set.home_addresses]
        unused = config.node_config is NodeRole.MN and not own.intersection(homes)
        if policy_set.static_keys or unused:  # unused: _ipsec_policies says so
            continue
        for policy in policy_set.policies:
            if policy.allow and policy.type is IPsecPolicyType.TUNNEL_PAYLOAD:
                raise _fail(
                    policy.location, "IPsecPolicy TunnelPayload in a set without StaticKey "
                    "needs KeyMngMobCapability enabled (IKEv2 moves the tunnel's SAs with "
                    "the care-of address; SAs installed outside mip6d cannot follow it); "
                    "expected StaticKeys for the set, or KeyMngMobCapability enabled",
                )
        warnings.append(ConfigWarning(
            policy_set.location, f"IPsecPolicySet of {', '.join(map(str, homes))} has no "
            "StaticKey and "
            "KeyMngMobCapability is disabled: mip6d installs its policies, and its ESP SAs "
            "must be installed outside mip6d (setkey or ip xfrm state, with the policies' "
            "reqids); until they are, its Binding Updates are not exchanged",
        ))
    return warnings


def _dynamic_keys(config: Config) -> list[ConfigWarning]:
    """With KeyMngMobCapability, mip6d installs the policies of HomeRegBinding, Mh and
    TunnelPayload of each set without StaticKey and the IKE daemon negotiates their SAs
    on demand: it finds the SA's configuration by the policy's reqid (swanctl.conf
    ``reqid``), and one CHILD_SA has one reqid for both directions. Sets with StaticKey
    are keyed statically, as without KeyMngMobCapability (:func:`_static_keys`)."""
    if not (config.key_mng_mob_capability and config.use_mn_ha_ipsec):
        return []
    for policy_set in config.ipsec_policy_sets:
        if policy_set.static_keys:
            continue
        for policy in policy_set.policies:
            if not policy.allow or policy.type not in _DYNAMIC_TYPES:
                continue
            if policy.reqid_to_ha == 0 or policy.reqid_to_ha != policy.reqid_to_mn:
                raise _fail(
                    policy.location, f"IPsecPolicy {policy.type} has reqids "
                    f"{policy.reqid_to_ha} and {policy.reqid_to_mn}; with KeyMngMobCapability "
                    "expected one nonzero reqid for both directions, the 'reqid' of its "
                    "CHILD_SA in swanctl.conf (e.g. 'IPsecPolicy "
                    f"{policy.type} UseESP 11;'), or StaticKeys for the set to key it "
                    "statically",
                )
    return []


_DYNAMIC_TYPES = (IPsecPolicyType.HOME_REG_BINDING, IPsecPolicyType.MH,
                  IPsecPolicyType.TUNNEL_PAYLOAD)


def _mode(policy: IPsecPolicy) -> str:
    return "tunnel" if policy.tunnel else "transport"


CHECKS: tuple[Check, ...] = (
    _node,
    _interfaces,
    _home_links,
    _multiple_care_of,
    _binding_acl,
    _cn_binding_policies,
    _timers,
    _ipsec_policies,
    _static_keys,
    _keys_from_elsewhere,
    _dynamic_keys,
)
