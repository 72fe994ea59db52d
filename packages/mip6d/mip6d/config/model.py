"""The configuration of mip6d as frozen dataclasses.

Field defaults are UMIP's (``conf_default()`` in UMIP's ``src/conf.c``, the protocol
constants of RFC 6275 section 12 in ``src/mipv6.h``); the reference documentation reads
them from here, so the docs cannot disagree with the code. Addresses are
:mod:`ipaddress` objects, durations are float seconds, binding lifetimes integer seconds.

Every object carries the :class:`~mip6d.config.errors.Location` of the statement that
made it, and ``field_locations`` maps each field that the configuration set to the
statement that set it; neither takes part in equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntFlag, StrEnum
from ipaddress import IPv4Address, IPv6Address, IPv6Interface, IPv6Network
from types import MappingProxyType

from mip6d.config.errors import ConfigWarning, Location

__all__ = [
    "ALGORITHMS",
    "BA_ACCEPTED",
    "BA_PROHIBITED",
    "MAX_BID",
    "MAX_BID_PRIORITY",
    "MAX_BINDING_LIFETIME",
    "MAX_FLOW_PRIORITY",
    "MAX_RR_BINDING_LIFETIME",
    "MN_IF_MIN_PREFERENCE",
    "Algorithm",
    "AlgorithmKind",
    "BindingAcl",
    "CnBindingPolicy",
    "Config",
    "Coverage",
    "FlowBindingPolicy",
    "HomeLink",
    "IPsecPolicy",
    "IPsecPolicySet",
    "IPsecPolicyType",
    "IPsecProtocol",
    "Interface",
    "KeyedAlgorithm",
    "ListenAddress",
    "Located",
    "NodeRole",
    "RoPolicy",
    "SaDirection",
    "StaticKey",
    "algorithm",
]

# RFC 6275 section 6.1.7: the Binding Update lifetime is 16 bits in units of 4 seconds.
MAX_BINDING_LIFETIME = 0xFFFF << 2  # 262140 s
# RFC 6275 section 12: MAX_RR_BINDING_LIFETIME, the limit for bindings made by return
# routability with correspondent nodes.
MAX_RR_BINDING_LIFETIME = 420
# UMIP policy.h POL_MN_IF_MIN_PREFERENCE: preferences run 1 (best) .. 10, 0 = unused.
MN_IF_MIN_PREFERENCE = 10
# RFC 5648 section 6.1: the Binding Identifier is 16 bits, 0 reserved.
MAX_BID = 0xFFFF
# RFC 6089 section 4.1: BID-PRI is 7 bits, lower is preferred, 0 reserved ("none given").
MAX_BID_PRIORITY = 127
# The largest FID-PRI (RFC 6089 section 4.2) a Homeguy home agent takes: its flow's policy
# rule (12000 plus the FID-PRI) stays ahead of the main table's (32766).
MAX_FLOW_PRIORITY = 20000
# Binding Acknowledgement status codes (RFC 6275 section 6.1.8) UMIP maps allow/deny to.
BA_ACCEPTED = 0
BA_PROHIBITED = 129  # Administratively prohibited

_NOWHERE = Location("<default>", 0, 0)
_UNSPECIFIED = IPv6Address("::")


class NodeRole(StrEnum):
    """What the node is (``NodeConfig``), or what it is on one interface (``IfType``)."""

    CN = "CN"  # correspondent node
    HA = "HA"  # home agent
    MN = "MN"  # mobile node (a mobile router is an MN with IsMobRtr)


class Coverage(IntFlag):
    """What traffic an IPsec policy type protects: UMIP's ``IPSEC_F_*`` bits (ipsec.h).

    Two policies of one home agent / home address pair overlap when their coverages
    share a bit; UMIP refuses that, and so does Homeguy.
    """

    MH_BUBA = 0x001  # Binding Update / Binding Acknowledgement
    MH_BERR = 0x002  # Binding Error
    MH = 0x004  # other Mobility Header messages
    ICMP_MPD = 0x008  # Mobile Prefix Solicitation / Advertisement
    ICMP_ND = 0x010  # neighbour discovery
    ICMP = 0x020  # other ICMPv6
    ANY = 0x040  # any other transport-mode traffic
    TNL_MH_RR = 0x100  # tunnelled HoTI / HoT (return routability)
    TNL_MH = 0x200  # other tunnelled Mobility Header messages
    TNL_ANY = 0x400  # tunnelled payload

    TUNNEL = TNL_MH_RR | TNL_MH | TNL_ANY


class IPsecPolicyType(StrEnum):
    """The ``IPsecPolicy`` types of UMIP (RFC 3776 section 4 lists what is protected)."""

    HOME_REG_BINDING = "HomeRegBinding"
    MH = "Mh"
    MOB_PFX_DISC = "MobPfxDisc"
    ICMP = "ICMP"
    ANY = "any"
    TUNNEL_HOME_TESTING = "TunnelHomeTesting"
    TUNNEL_MH = "TunnelMh"
    TUNNEL_PAYLOAD = "TunnelPayload"

    @property
    def coverage(self) -> Coverage:
        return _COVERAGE[self]

    @property
    def tunnel(self) -> bool:
        """Tunnel mode (the SA follows the care-of address) rather than transport mode."""
        return bool(self.coverage & Coverage.TUNNEL)


_C = Coverage
_COVERAGE: Mapping[IPsecPolicyType, Coverage] = {
    IPsecPolicyType.HOME_REG_BINDING: _C.MH_BUBA,
    IPsecPolicyType.MH: _C.MH_BUBA | _C.MH_BERR | _C.MH,
    IPsecPolicyType.MOB_PFX_DISC: _C.ICMP_MPD,
    IPsecPolicyType.ICMP: _C.ICMP_MPD | _C.ICMP_ND | _C.ICMP,
    IPsecPolicyType.ANY: _C.MH_BUBA | _C.MH_BERR | _C.MH | _C.ICMP_MPD | _C.ICMP_ND | _C.ICMP
    | _C.ANY,
    IPsecPolicyType.TUNNEL_HOME_TESTING: _C.TNL_MH_RR,
    IPsecPolicyType.TUNNEL_MH: _C.TNL_MH_RR | _C.TNL_MH,
    IPsecPolicyType.TUNNEL_PAYLOAD: _C.TNL_MH_RR | _C.TNL_MH | _C.TNL_ANY,
}


class IPsecProtocol(StrEnum):
    """The protocol words of ``IPsecPolicy``; Homeguy, like UMIP built without
    MULTIPROTO_MIGRATE, accepts ESP only."""

    ESP = "UseESP"
    AH = "UseAH"
    IPCOMP = "UseIPComp"


class SaDirection(StrEnum):
    """Which way a static security association carries traffic. UMIP's two reqids of an
    ``IPsecPolicy`` are, in this order, for mobile node to home agent and back."""

    MN_TO_HA = "MnToHa"
    HA_TO_MN = "HaToMn"


class AlgorithmKind(StrEnum):
    ENCRYPTION = "encryption"
    AEAD = "combined mode (encryption and integrity)"
    AUTHENTICATION = "authentication"


@dataclass(frozen=True)
class Algorithm:
    """One ESP algorithm a static key may use, as the Linux kernel names it."""

    name: str  # the word in the configuration
    kind: AlgorithmKind
    xfrm_name: str  # the Linux crypto API name for XFRMA_ALG_*
    key_bits: tuple[int, ...]  # accepted key lengths, salt or nonce included
    icv_bits: int  # integrity check value length (truncation); 0 for a plain cipher
    reference: str
    note: str = ""


ALGORITHMS: tuple[Algorithm, ...] = (
    Algorithm("aes-cbc", AlgorithmKind.ENCRYPTION, "cbc(aes)", (128, 192, 256), 0, "RFC 3602"),
    Algorithm(
        "aes-ctr", AlgorithmKind.ENCRYPTION, "rfc3686(ctr(aes))", (160, 224, 288), 0,
        "RFC 3686", "the last 32 bits of the key are the nonce",
    ),
    Algorithm(
        "3des-cbc", AlgorithmKind.ENCRYPTION, "cbc(des3_ede)", (192,), 0, "RFC 2451",
        "legacy; kept for keys carried over from setkey scripts",
    ),
    Algorithm(
        "null", AlgorithmKind.ENCRYPTION, "ecb(cipher_null)", (0,), 0, "RFC 2410",
        "no confidentiality; takes no key",
    ),
    Algorithm(
        "aes-gcm", AlgorithmKind.AEAD, "rfc4106(gcm(aes))", (160, 224, 288), 128, "RFC 4106",
        "the last 32 bits of the key are the salt; takes no Authentication",
    ),
    Algorithm("hmac-sha1", AlgorithmKind.AUTHENTICATION, "hmac(sha1)", (160,), 96, "RFC 2404"),
    Algorithm(
        "hmac-sha256", AlgorithmKind.AUTHENTICATION, "hmac(sha256)", (256,), 128, "RFC 4868"
    ),
    Algorithm(
        "hmac-sha384", AlgorithmKind.AUTHENTICATION, "hmac(sha384)", (384,), 192, "RFC 4868"
    ),
    Algorithm(
        "hmac-sha512", AlgorithmKind.AUTHENTICATION, "hmac(sha512)", (512,), 256, "RFC 4868"
    ),
    Algorithm("aes-xcbc-mac", AlgorithmKind.AUTHENTICATION, "xcbc(aes)", (128,), 96, "RFC 3566"),
)
_ALGORITHMS_BY_NAME = {a.name: a for a in ALGORITHMS}


def algorithm(name: str) -> Algorithm:
    """The :class:`Algorithm` called ``name`` (``KeyError`` if there is none)."""
    return _ALGORITHMS_BY_NAME[name]


def _locations() -> Mapping[str, Location]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Located:
    """Where an object was configured; not part of equality.

    ``field_locations`` has an entry per field the configuration set, and for list
    fields one per item too: ``"home_addresses[1]"`` is the statement of the second.
    """

    location: Location = field(default=_NOWHERE, compare=False, repr=False)
    field_locations: Mapping[str, Location] = field(
        default_factory=_locations, compare=False, repr=False
    )

    def where(self, name: str) -> Location:
        """The statement that set field ``name``, else the object's own statement."""
        return self.field_locations.get(name, self.location)


@dataclass(frozen=True, kw_only=True)
class KeyedAlgorithm(Located):
    """An algorithm and its key. The key is left out of ``repr()`` so that it does not
    end up in logs."""

    name: str
    key: bytes = field(repr=False)

    @property
    def algorithm(self) -> Algorithm:
        return algorithm(self.name)


@dataclass(frozen=True, kw_only=True)
class StaticKey(Located):
    """A manually keyed ESP security association (Homeguy extension; RFC 3776 section
    5.1 allows manual keying). ``reqid`` ties it to the ``IPsecPolicy`` entries of its
    set that use that reqid in that direction."""

    direction: SaDirection
    spi: int
    reqid: int
    encryption: KeyedAlgorithm
    authentication: KeyedAlgorithm | None = None


@dataclass(frozen=True, kw_only=True)
class IPsecPolicy(Located):
    type: IPsecPolicyType
    protocols: tuple[IPsecProtocol, ...] = (IPsecProtocol.ESP,)
    reqid_to_ha: int = 0  # 0: no reqid (UMIP: the policies share whatever SA matches)
    reqid_to_mn: int = 0
    allow: bool = True  # False: the policy blocks the traffic

    @property
    def tunnel(self) -> bool:
        return self.type.tunnel

    def reqid(self, direction: SaDirection) -> int:
        return self.reqid_to_ha if direction is SaDirection.MN_TO_HA else self.reqid_to_mn


@dataclass(frozen=True, kw_only=True)
class IPsecPolicySet(Located):
    """Policies between one home agent address and one or more home addresses."""

    home_agent_address: IPv6Address
    home_addresses: tuple[IPv6Interface, ...]
    policies: tuple[IPsecPolicy, ...]
    static_keys: tuple[StaticKey, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Interface(Located):
    name: str
    mn_if_preference: int = MN_IF_MIN_PREFERENCE
    if_type: NodeRole | None = None  # None: the node's NodeConfig
    tunnel: bool = False
    bid: int | None = None  # the Binding Identifier of its care-of address (RFC 5648)
    bid_priority: int = 0  # BID-PRI (RFC 6089 section 4.1), lower preferred; 0: none

    def role(self, node: NodeRole) -> NodeRole:
        """What the node is on this interface."""
        return self.if_type if self.if_type is not None else node


@dataclass(frozen=True, kw_only=True)
class RoPolicy(Located):
    """``MnRoPolicy``: route optimisation with one correspondent, or all (None)."""

    correspondent: IPv6Address | None = None
    route_optimization: bool


@dataclass(frozen=True, kw_only=True)
class FlowBindingPolicy(Located):
    """``FlowBinding``: a flow the mobile node binds to some of its care-of addresses
    (RFC 6089), by their BIDs, preferred first. The fields after ``bids`` make its
    traffic selector as the home agent sees the packets it forwards to the node (source:
    the correspondent's side); ports and protocol are inclusive ``(start, end)`` ranges.
    None of them: all of the node's traffic."""

    fid: int
    priority: int  # FID-PRI, lower is preferred
    bids: tuple[int, ...]
    protocol: int | None = None  # the next header
    source_port: tuple[int, int] | None = None
    destination_port: tuple[int, int] | None = None
    source_address: IPv6Network | None = None
    destination_address: IPv6Network | None = None  # the home address or a mobile network

    @property
    def selects_all(self) -> bool:
        """Whether the flow is all of the node's traffic (no selector statement)."""
        return (self.protocol, self.source_port, self.destination_port,
                self.source_address, self.destination_address) == (None,) * 5


@dataclass(frozen=True, kw_only=True)
class HomeLink(Located):
    """``MnHomeLink``: one home address of a mobile node or mobile router."""

    interface: str
    home_address: IPv6Interface
    home_agent_address: IPv6Address = _UNSPECIFIED  # :: = discover (DHAAD)
    mobile_network_prefixes: tuple[IPv6Network, ...] = ()
    is_mob_rtr: bool = False
    use_alt_coa: bool = False
    home_prefix: IPv6Network | None = None  # None: the prefix of home_address
    ro_policies: tuple[RoPolicy, ...] = ()
    reg_multiple_coa: bool = False  # one binding per Interface with a Bid (RFC 5648)
    flow_bindings: tuple[FlowBindingPolicy, ...] = ()  # RFC 6089; needs reg_multiple_coa

    @property
    def effective_home_prefix(self) -> IPv6Network:
        return self.home_prefix if self.home_prefix is not None else self.home_address.network


@dataclass(frozen=True, kw_only=True)
class BindingAcl(Located):
    """``BindingAclPolicy``: may this home address (and these prefixes) register?"""

    home_address: IPv6Address
    mobile_network_prefixes: tuple[IPv6Network, ...] = ()
    status: int = BA_ACCEPTED  # the Binding Acknowledgement status to answer with

    @property
    def allowed(self) -> bool:
        return self.status < 128  # RFC 6275 section 6.1.8: >= 128 is a rejection


@dataclass(frozen=True, kw_only=True)
class CnBindingPolicy(Located):
    """One line of ``CnBindingPolicySet``."""

    peer_home_address: IPv6Address
    local_address: IPv6Address | None = None
    route_optimization: bool


@dataclass(frozen=True)
class ListenAddress:
    host: IPv4Address | IPv6Address
    port: int

    def __str__(self) -> str:
        if isinstance(self.host, IPv6Address):
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class Config(Located):
    """The whole configuration. ``sources`` lists the files read, main file first;
    ``warnings`` what the daemon should log."""

    # Common to every node.
    node_config: NodeRole = NodeRole.CN
    debug_level: int = 0
    debug_log_file: str | None = None  # None: standard error
    do_route_optimization_cn: bool = True
    cn_binding_policies: tuple[CnBindingPolicy, ...] = ()

    # Home agent and mobile node.
    interfaces: tuple[Interface, ...] = ()
    use_mn_ha_ipsec: bool = True
    key_mng_mob_capability: bool = False
    ipsec_policy_sets: tuple[IPsecPolicySet, ...] = ()

    # Home agent.
    ha_max_binding_life: int = MAX_BINDING_LIFETIME
    send_mob_pfx_advs: bool = True
    send_unsol_mob_pfx_advs: bool = True
    min_mob_pfx_adv_interval: int = 600
    max_mob_pfx_adv_interval: int = 86400
    ha_accept_mob_rtr: bool = False
    ha_accept_multiple_coa: bool = True
    ha_preference: int = 0  # the own entry of the Home Agents List (RFC 6275 section 7.4)
    ha_served_prefixes: tuple[IPv6Network, ...] = ()
    binding_acl: tuple[BindingAcl, ...] = ()
    default_binding_acl_policy: int = BA_ACCEPTED

    # Mobile node (and mobile router).
    mn_max_ha_binding_life: int = MAX_BINDING_LIFETIME
    mn_max_cn_binding_life: int = MAX_RR_BINDING_LIFETIME
    mn_discard_ha_param_prob: bool = False
    mn_reset_dhaad_at_home: bool = False
    mn_flush_all_at_home: bool = False
    mn_max_ha_consecutive_resends: int = 5
    mn_max_cn_consecutive_resends: int = 0  # 0: resend for ever
    send_mob_pfx_sols: bool = True
    do_route_optimization_mn: bool = True
    mn_use_all_interfaces: bool = False
    mob_rtr_use_explicit_mode: bool = True
    use_cn_bu_ack: bool = False
    interface_initial_init_delay: float = 2.0
    mn_router_probes: int = 0
    mn_router_probe_timeout: float = 0.0
    initial_bindack_timeout_first_reg: float = 1.5  # RFC 6275 section 13
    initial_bindack_timeout_rereg: float = 1.0  # RFC 6275 INITIAL_BINDACK_TIMEOUT
    max_bindack_timeout: float = 32.0  # RFC 6275 MAX_BINDACK_TIMEOUT (Homeguy extension)
    initial_solicit_timer: float = 3.0  # RFC 6275 INITIAL_SOLICIT_TIMER
    optimistic_handoff: bool = False
    no_home_return: bool = False
    home_links: tuple[HomeLink, ...] = ()

    # Homeguy extensions: where the daemon talks and keeps its state.
    control_socket: str = "/run/mip6d/control.sock"
    state_file: str = "/var/lib/mip6d/bindings.json"
    metrics_listen: ListenAddress | None = None  # None: no metrics endpoint

    # Provenance.
    sources: tuple[str, ...] = field(default=(), compare=False)
    warnings: tuple[ConfigWarning, ...] = field(default=(), compare=False)
