"""The keyword table of mip6d.conf: one row per keyword, driving parser and documentation.

The syntax is UMIP's (``src/gram.y``, ``src/scan.l`` and ``man/mip6d.conf.tmpl`` of the
USAGI/UMIP tree with the NEPL NEMO additions), so existing configuration files keep
working. Rows whose ``origin`` is :attr:`Origin.HOMEGUY` are Homeguy's own; UMIP rejects
them. Each row carries a description and an example; the example is a complete
configuration fragment that the parser accepts (a test checks this), and the reference
documentation (:mod:`mip6d.config.reference`) prints both.

A statement is a keyword, its arguments (:mod:`mip6d.config.values`), then ``;`` or a
block in braces, according to ``body``. What a statement does to the object being built
follows from the row:

* no ``entry``: the arguments set fields of the enclosing object (``Shape.SET``; a second
  statement of the same keyword is an error), or a single argument is appended to the
  list field ``field`` (``Shape.APPEND``);
* an ``entry`` class: the arguments, and the statements of its block if it opens one,
  build an ``entry`` that is stored in (``SET``) or appended to (``APPEND``) ``field``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum

from mip6d.config.model import (
    MAX_BID,
    MAX_BID_PRIORITY,
    MAX_BINDING_LIFETIME,
    MAX_FLOW_PRIORITY,
    MAX_RR_BINDING_LIFETIME,
    MN_IF_MIN_PREFERENCE,
    AlgorithmKind,
    BindingAcl,
    CnBindingPolicy,
    Config,
    FlowBindingPolicy,
    HomeLink,
    Interface,
    IPsecPolicy,
    IPsecPolicySet,
    IPsecPolicyType,
    IPsecProtocol,
    KeyedAlgorithm,
    NodeRole,
    RoPolicy,
    SaDirection,
    StaticKey,
)
from mip6d.config.values import (
    AclStatus,
    Address,
    AddressLength,
    Bool,
    Choice,
    Either,
    HexKey,
    Int,
    Listen,
    Optional,
    PortRange,
    Prefix,
    PrefixList,
    QString,
    Repeat,
    ReqIds,
    Seconds,
    Spi,
    Value,
    algorithm_choice,
)

__all__ = [
    "ANONYMOUS",
    "BLOCK_MODELS",
    "BY_BLOCK",
    "KEYWORDS",
    "Action",
    "Block",
    "Body",
    "Keyword",
    "Origin",
    "Section",
    "Shape",
    "blocks_of",
]


class Block(StrEnum):
    """Where a statement may stand."""

    TOP = "top level"
    INTERFACE = "Interface"
    MN_HOME_LINK = "MnHomeLink"
    IPSEC_POLICY_SET = "IPsecPolicySet"
    STATIC_KEY = "StaticKey"
    CN_BINDING_POLICY_SET = "CnBindingPolicySet"
    FLOW_BINDING = "FlowBinding"


class Section(StrEnum):
    """The documentation's grouping of top-level keywords (UMIP's man page groups)."""

    COMMON = "Common options"
    HA_MN = "Options common to home agent and mobile node"
    HA = "Home agent options"
    MN = "Mobile node and mobile router options"


class Origin(StrEnum):
    UMIP = "UMIP"
    NEMO = "UMIP, NEMO Basic Support (NEPL)"
    EXTENDED = "UMIP, extended by Homeguy"
    HOMEGUY = "Homeguy extension"


class Shape(Enum):
    SET = "at most once"
    APPEND = "any number of times"


class Body(Enum):
    NONE = "';'"
    REQUIRED = "'{'"
    OPTIONAL = "';' or '{'"


class Action(Enum):
    STORE = "store"  # the statement configures something
    INCLUDE = "include"  # read other files here
    IGNORE = "ignore"  # accepted for UMIP compatibility, without effect (a warning)
    REJECT = "reject"  # UMIP syntax that Homeguy cannot honour: an error that says why


@dataclass(frozen=True)
class Keyword:
    name: str
    block: Block
    args: tuple[Value, ...]
    section: Section
    description: str
    example: str
    origin: Origin = Origin.UMIP
    shape: Shape = Shape.SET
    field: str | None = None
    entry: type | None = None
    opens: Block | None = None
    body: Body = Body.NONE
    required: bool = False
    action: Action = Action.STORE
    note: str = ""  # for IGNORE and REJECT: why
    default: str | None = None  # documented default when the model has no plain one
    anonymous: bool = False  # a line of its block that starts with a value, not a keyword

    @property
    def extension(self) -> bool:
        return self.origin in (Origin.HOMEGUY, Origin.EXTENDED)


def _ifname(name: str) -> bool:
    """Linux ``dev_valid_name()``: 1 to 15 bytes, not . or .., no '/', ':' or space."""
    return (
        0 < len(name.encode()) < 16
        and name not in (".", "..")
        and not any(c in "/:" or c.isspace() for c in name)
    )


def _absolute(path: str) -> bool:
    return path.startswith("/") and "\x00" not in path


def _nonempty(text: str) -> bool:
    return bool(text)


def _ifname_arg(field: str, name: str) -> QString:
    return QString(field, "a quoted interface name (1 to 15 characters, no '/' or ':')",
                   name, check=_ifname, label="name")


_TOP, _IF, _HL, _PS, _SK, _CNB, _FB = (
    Block.TOP, Block.INTERFACE, Block.MN_HOME_LINK, Block.IPSEC_POLICY_SET, Block.STATIC_KEY,
    Block.CN_BINDING_POLICY_SET, Block.FLOW_BINDING,
)
_C, _HM, _HA, _MN = Section.COMMON, Section.HA_MN, Section.HA, Section.MN

# Example keys (never use them): 128-bit and 256-bit.
_K128 = "0x00112233445566778899aabbccddeeff"
_K256 = "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

_CN_BINDING_EXAMPLE = """\
CnBindingPolicySet {
    2001:db8:1::1234 enabled;
    2001:db8:1::1235 2001:db8:7::1 disabled;
}"""

# Keyed by IKEv2 (one reqid per CHILD_SA); _STATIC_KEY_EXAMPLE is keyed by mip6d.
_POLICY_SET_EXAMPLE = """\
KeyMngMobCapability enabled;
IPsecPolicySet {
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::1234/64;
    IPsecPolicy Mh UseESP 11;
    IPsecPolicy TunnelPayload UseESP 13;
}"""

_STATIC_KEY_EXAMPLE = f"""\
IPsecPolicySet {{
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::1234/64;
    IPsecPolicy Mh UseESP 11 12;
    StaticKey MnToHa 0x1011 11 {{
        Encryption aes-cbc {_K128};
        Authentication hmac-sha256 {_K256};
    }}
    StaticKey HaToMn 0x1012 12 {{
        Encryption aes-gcm {_K128}01020304;
    }}
}}"""

# A mobile router with two care-of addresses (RFC 5648) and a flow bound to each (RFC 6089).
_MCOA_INTERFACES = """\
NodeConfig MN;
Interface "eth1" {
    Bid 1;
    BidPriority 10;
}
Interface "wwan0" {
    Bid 2;
    BidPriority 20;
}"""

_MCOA_EXAMPLE = f"""\
{_MCOA_INTERFACES}
MnHomeLink "eth0" {{
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::1234/64;
    RegMultipleCoA enabled;
}}"""

_FLOW_BINDING_EXAMPLE = f"""\
{_MCOA_INTERFACES}
MnHomeLink "eth0" {{
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64);
    IsMobRtr enabled;
    RegMultipleCoA enabled;
    FlowBinding 1 {{
        FlowPriority 10;
        BindingIds 2;
        Protocol 17;
        SourcePort 5060;
        DestinationPort 10000 20000;
        SourceAddress 2001:db8:9::/48;
        DestinationAddress 2001:db8:2::/64;
    }}
    FlowBinding 2 {{
        FlowPriority 20;
        BindingIds 1 2;
        Protocol 6;
    }}
}}"""


_CONFIG_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}


def _bool(name: str, field: str, section: Section, description: str, *,
          origin: Origin = Origin.UMIP) -> Keyword:
    """A top-level boolean; its example shows the value that is not the default."""
    example = "disabled" if _CONFIG_DEFAULTS[field] else "enabled"
    return Keyword(name, _TOP, (Bool(field),), section, description,
                   f"{name} {example};", origin=origin)


def _seconds(name: str, field: str, description: str, example: str, *, positive: bool,
             maximum: float = 3600.0, origin: Origin = Origin.UMIP) -> Keyword:
    return Keyword(name, _TOP, (Seconds(field, maximum, positive=positive),), _MN,
                   description, f"{name} {example};", origin=origin)


KEYWORDS: tuple[Keyword, ...] = (
    # ---------------------------------------------------------------- common options
    Keyword(
        "include", _TOP, (QString("pattern", "a quoted file name or glob pattern", "pattern",
                                  check=_nonempty, label="pattern"),),
        _C,
        "Reads the files that match the shell glob pattern (see glob(7)) as if their text "
        "stood here, in sorted order. A relative pattern is taken relative to the "
        "directory of the file that contains the include, so that a home agent can keep "
        "one file per mobile node in nodes.d/. A pattern with wildcards that matches "
        "nothing is only a warning (an empty nodes.d/ is normal); a file name without "
        "wildcards must exist. Including a file twice, or a file that includes itself "
        "through any chain, is an error. Only at top level. As in UMIP the ';' after the "
        "pattern may be left out; Homeguy differs from UMIP in resolving relative "
        "patterns against the including file's directory instead of the working "
        "directory, and in refusing cycles instead of stopping after five levels.",
        'include "nodes.d/*.conf";',
        origin=Origin.EXTENDED, shape=Shape.APPEND, action=Action.INCLUDE,
    ),
    Keyword(
        "NodeConfig", _TOP,
        (Choice("node_config", tuple(r.value for r in NodeRole), NodeRole),), _C,
        "What the daemon is: a correspondent node (CN), a home agent (HA) or a mobile node "
        "(MN). A NEMO mobile router is a mobile node whose MnHomeLink has IsMobRtr enabled.",
        'NodeConfig HA;\nInterface "eth0";',
    ),
    Keyword(
        "DebugLevel", _TOP, (Int("debug_level", 0, 10),), _C,
        "How much the daemon logs, from 0 (errors and notices only) to 10. The -d "
        "command-line option overrides it.",
        "DebugLevel 1;",
    ),
    Keyword(
        "DebugLogFile", _TOP,
        (QString("debug_log_file", "a quoted file name", "file", check=_nonempty),), _C,
        "The file debug messages go to instead of standard error. The -l command-line "
        "option overrides it.",
        'DebugLogFile "/var/log/mip6d.log";', default="standard error",
    ),
    _bool("DoRouteOptimizationCN", "do_route_optimization_cn", _C,
          "Whether this node, as a correspondent node, accepts route optimisation (a "
          "binding made by return routability, RFC 6275 section 5.2.5) from mobile nodes "
          "that have no line in CnBindingPolicySet. Homeguy's mip6d has no route "
          "optimisation yet: it answers return routability and Binding Updates with a "
          "Binding Error (status 2), and warns when this is enabled."),
    Keyword(
        "CnBindingPolicySet", _TOP, (), _C,
        "Per-peer exceptions to DoRouteOptimizationCN. Each line names the home address of "
        "a mobile node, optionally the local address its Binding Updates must be sent to, "
        "and whether route optimisation with it is accepted. A mobile node may have one "
        "line at most.",
        _CN_BINDING_EXAMPLE,
        shape=Shape.APPEND, opens=_CNB, body=Body.REQUIRED, default="empty",
    ),
    Keyword(
        "peer", _CNB,
        (Address("peer_home_address", label="address", name="peer-home-address"),
         Optional(Address("local_address", label="local address", name="local-address")),
         Bool("route_optimization")),
        _C, "One mobile node: its home address, optionally the local address its Binding "
        "Updates must reach, and whether to accept route optimisation with it.",
        _CN_BINDING_EXAMPLE,
        shape=Shape.APPEND, field="cn_binding_policies", entry=CnBindingPolicy, anonymous=True,
    ),
    Keyword(
        "NonVolatileBindingCache", _TOP, (Bool(None),), _C,
        "Accepted for compatibility and ignored, as UMIP ignores it.",
        "NonVolatileBindingCache disabled;", action=Action.IGNORE,
        note="it has no effect (UMIP ignores it too); StateFile says where Homeguy keeps "
        "its state",
    ),
    Keyword(
        "UseMovementModule", _TOP,
        (Either(None, Choice(None, ("internal",)),
                QString(None, "a quoted module path", "path")),), _C,
        "Accepted for compatibility and ignored: movement detection is built in.",
        "UseMovementModule internal;", action=Action.IGNORE,
        note="movement detection is built in (UMIP ignored the module path too)",
    ),
    Keyword(
        "UsePolicyModule", _TOP, (QString(None, "a quoted module path", "path"),), _C,
        "Rejected: Homeguy cannot load UMIP policy modules (shared objects).",
        'UsePolicyModule "/usr/lib/mip6d/policy.so";', action=Action.REJECT,
        note="Homeguy cannot load UMIP policy modules (shared objects); express the "
        "policy with BindingAclPolicy, MnRoPolicy and CnBindingPolicySet and remove "
        "this line",
    ),
    Keyword(
        "ControlSocket", _TOP,
        (QString("control_socket", "a quoted absolute path", "path", check=_absolute),), _C,
        "The Unix socket on which the daemon takes control requests and status queries.",
        'ControlSocket "/run/mip6d/control.sock";', origin=Origin.HOMEGUY,
    ),
    Keyword(
        "StateFile", _TOP,
        (QString("state_file", "a quoted absolute path", "path", check=_absolute),), _C,
        "The file in which the daemon keeps its bindings across restarts; it is written "
        "to a temporary file and renamed, never left half-written.",
        'StateFile "/var/lib/mip6d/bindings.json";', origin=Origin.HOMEGUY,
    ),
    Keyword(
        "MetricsListen", _TOP, (Listen("metrics_listen"),), _C,
        "The TCP address and port on which the daemon serves its metrics. Without it no "
        "metrics endpoint is opened.",
        'MetricsListen "[::1]:9516";', origin=Origin.HOMEGUY, default="none (disabled)",
    ),
    # ------------------------------------------- home agent and mobile node options
    Keyword(
        "Interface", _TOP, (_ifname_arg("name", "name"),), _HM,
        "An interface the daemon uses: on a home agent the links it serves as home agent "
        "(a router advertisement daemon must announce the Home Agent flag there), on a "
        "mobile node the interfaces it may move with. Options follow in braces, or the "
        "statement ends with ';'. On a mobile node an interface that does not exist yet "
        "is used when it appears.",
        'Interface "eth0";\nInterface "wlan0" {\n    MnIfPreference 2;\n}',
        shape=Shape.APPEND, field="interfaces", entry=Interface, opens=_IF,
        body=Body.OPTIONAL, default="none",
    ),
    Keyword(
        "MnIfPreference", _IF, (Int("mn_if_preference", 0, MN_IF_MIN_PREFERENCE),), _HM,
        "The preference of the interface on a multihomed mobile node, 1 (most preferred) "
        "to 10; 0 keeps the node from using it. It becomes the metric of the default "
        "routes learnt on the interface.",
        'Interface "wlan0" {\n    MnIfPreference 1;\n}',
    ),
    Keyword(
        "IfType", _IF,
        (Choice("if_type", tuple(r.value for r in NodeRole), NodeRole),), _HM,
        "What the node is on this interface, if not what NodeConfig says; CN keeps "
        "mobility off the interface.",
        'Interface "eth1" {\n    IfType CN;\n}', default="the NodeConfig value",
    ),
    Keyword(
        "Tunnel", _IF, (Bool("tunnel"),), _HM,
        "Marks the interface as a tunnel (6to4, Teredo and the like) that is configured "
        "from outside: the daemon neither solicits routers nor configures addresses on it, "
        "and never takes it for the home link. Not allowed on a home agent interface.",
        'Interface "teredo" {\n    Tunnel enabled;\n}',
    ),
    Keyword(
        "Bid", _IF, (Int("bid", 1, MAX_BID, noun="a BID"),), _HM,
        "The Binding Identifier (BID, RFC 5648) of the care-of address on this interface of "
        "a mobile node, 1 to 65535, unique among the interfaces. A home link with "
        "RegMultipleCoA enabled registers the care-of address of every interface that has "
        "one as a binding of its own, and its FlowBinding statements name the bindings by "
        "it.",
        'Interface "eth1" {\n    Bid 1;\n}', origin=Origin.HOMEGUY, default="none",
    ),
    Keyword(
        "BidPriority", _IF, (Int("bid_priority", 1, MAX_BID_PRIORITY),), _HM,
        "The priority (BID-PRI, RFC 6089 section 4.1) sent with the interface's binding, 1 "
        "to 127, lower preferred. The home agent forwards the traffic that no flow binds "
        "through the preferred binding, and a flow bound to several through the preferred "
        "of those: lowest BID-PRI, a binding without one after all that have one, then "
        "lowest Bid. Needs Bid.",
        'Interface "eth1" {\n    Bid 1;\n    BidPriority 10;\n}', origin=Origin.HOMEGUY,
        default="none",
    ),
    _bool("UseMnHaIPsec", "use_mn_ha_ipsec", _HM,
          "Whether signalling between mobile node and home agent is protected with IPsec "
          "(RFC 3776, RFC 4877): the policies of IPsecPolicySet are installed only then. "
          "A set's SAs come from its StaticKeys, from the IKE daemon (KeyMngMobCapability), "
          "or, for a set with neither, from outside mip6d (setkey or ip xfrm state, bound "
          "to the policies' reqids), as UMIP's examples do; such a set cannot have "
          "TunnelPayload."),
    _bool("KeyMngMobCapability", "key_mng_mob_capability", _HM,
          "Whether an IKE daemon (strongSwan's charon) negotiates the security associations "
          "(RFC 4877) for each IPsecPolicySet without StaticKey: with UseMnHaIPsec, mip6d "
          "installs only the policies of HomeRegBinding/Mh and TunnelPayload of such a "
          "set, with the reqid of the IPsecPolicy (one "
          "reqid for both directions), and the first packet they match makes the kernel "
          "ask charon for the SAs. Its swanctl.conf has one CHILD_SA per policy with that "
          "'reqid', 'policies = no', 'mode = transport_proxy' (BU/BA: ESP on the home "
          "address, IKE from the care-of address) or 'transport' (TunnelPayload), and "
          "'start_action = trap' on the mobile node; strongswan.conf sets "
          "'charon.plugins.kernel-netlink.roam_events = no' (see the mip6d README). Sets "
          "the K flag in Binding Updates; a home agent sets it in its acknowledgement when "
          "the Binding Update had it. With K on both ends, a new care-of address moves "
          "the IKE SA (XFRM_MSG_MIGRATE with the new KMADDRESS, before the Binding Update "
          "and, on the home agent, before the acknowledgement); without it the IKE daemon "
          "re-keys. Keying is per set: a set with StaticKey stays statically keyed (mip6d "
          "installs its SAs), its node gets no K flag and no MIGRATE, so one home agent "
          "serves IKEv2-keyed and statically keyed nodes at once (a mobile node whose set "
          "has StaticKey sends no K flag)."),
    Keyword(
        "IPsecPolicySet", _TOP, (), _HM,
        "IPsec policies between one home agent address and one or more home addresses. "
        "On a home agent HomeAgentAddress is its own address and the set may list several "
        "mobile nodes that share the same policies; on a mobile node it is its home "
        "agent's. A set needs HomeAgentAddress, at least one HomeAddress and at least one "
        "IPsecPolicy, in any order (UMIP wants them in that order). Two policies of the "
        "same home agent and home address must not protect the same traffic.",
        _POLICY_SET_EXAMPLE,
        shape=Shape.APPEND, field="ipsec_policy_sets", entry=IPsecPolicySet, opens=_PS,
        body=Body.REQUIRED, default="none",
    ),
    Keyword(
        "HomeAgentAddress", _PS, (Address("home_agent_address"),), _HM,
        "The home agent address of the policy set.", _POLICY_SET_EXAMPLE, required=True,
    ),
    Keyword(
        "HomeAddress", _PS, (AddressLength("home_address"),), _HM,
        "A home address the policies apply to; may be repeated.", _POLICY_SET_EXAMPLE,
        shape=Shape.APPEND, field="home_addresses", required=True,
    ),
    Keyword(
        "IPsecPolicy", _PS,
        (Choice("type", tuple(t.value for t in IPsecPolicyType), IPsecPolicyType,
                label="type"),
         Repeat("protocols", Choice(None, tuple(p.value for p in IPsecProtocol),
                                    IPsecProtocol), 1, 3, label="protocol"),
         ReqIds(("reqid_to_ha", "reqid_to_mn")),
         Optional(Bool("allow", "allow", "deny", label="action"), True)),
        _HM,
        "Protects one kind of traffic: HomeRegBinding (Binding Updates and "
        "Acknowledgements), Mh (all Mobility Header messages), MobPfxDisc (Mobile Prefix "
        "Solicitations and Advertisements), ICMP (all ICMPv6), any (all transport-mode "
        "traffic), TunnelHomeTesting (tunnelled HoTI/HoT), TunnelMh (all tunnelled "
        "Mobility Header messages) or TunnelPayload (everything tunnelled). With static "
        "keys, mip6d installs HomeRegBinding/Mh (ESP transport mode) and TunnelPayload "
        "(ESP on the ip6ip6 packets between care-of address and home agent, following "
        "the care-of address); the other types are parsed and left to an IKE daemon. "
        "Only UseESP is "
        "supported. The first reqid is for mobile node to home agent, the second for the "
        "way back; one reqid serves both ways, none leaves the SA unbound. deny blocks the "
        "traffic instead of protecting it.",
        _POLICY_SET_EXAMPLE,
        shape=Shape.APPEND, field="policies", entry=IPsecPolicy, required=True,
    ),
    Keyword(
        "StaticKey", _PS,
        (Choice("direction", tuple(d.value for d in SaDirection), SaDirection,
                label="direction"),
         Spi("spi"),
         Int("reqid", 1, 0xFFFFFFFF, noun="a reqid", label="reqid", name="reqid")),
        _HM,
        "A manually keyed ESP security association that the daemon installs itself (UMIP "
        "left this to setkey scripts). MnToHa keys the traffic from mobile node to home "
        "agent, HaToMn the way back; the reqid ties the key to the IPsecPolicy entries of "
        "the set that use it in that direction. Once a set has a StaticKey, every policy "
        "of the set needs explicit reqids and every reqid in use a key in each direction: "
        "the set is keyed statically, also with KeyMngMobCapability enabled (which then "
        "keys by IKE only the sets without StaticKey). "
        "The set must name exactly one HomeAddress. The SPI (256 to 0xffffffff, decimal "
        "or hexadecimal) must be unique per destination: the home agent address for "
        "MnToHa, the home address for HaToMn. The block holds Encryption and, unless the "
        "cipher is combined mode, Authentication. Both ends need the same keys: put the "
        "set in the mobile node's configuration and in its file under the home agent's "
        "nodes.d/.",
        _STATIC_KEY_EXAMPLE,
        origin=Origin.HOMEGUY, shape=Shape.APPEND, field="static_keys", entry=StaticKey,
        opens=_SK, body=Body.REQUIRED, default="none",
    ),
    Keyword(
        "Encryption", _SK,
        (algorithm_choice("name", AlgorithmKind.ENCRYPTION, AlgorithmKind.AEAD),
         HexKey("key", "name")),
        _HM,
        "The cipher of the security association and its key, in hexadecimal after 0x; "
        "the key length must be one the algorithm takes (see STATIC KEY ALGORITHMS). null "
        "takes no key.",
        _STATIC_KEY_EXAMPLE, origin=Origin.HOMEGUY, field="encryption", entry=KeyedAlgorithm,
        required=True,
    ),
    Keyword(
        "Authentication", _SK,
        (algorithm_choice("name", AlgorithmKind.AUTHENTICATION), HexKey("key", "name")),
        _HM,
        "The integrity algorithm and its key. Required with a plain cipher (RFC 3776 asks "
        "for integrity protection), not allowed with a combined-mode one (aes-gcm).",
        _STATIC_KEY_EXAMPLE, origin=Origin.HOMEGUY, field="authentication",
        entry=KeyedAlgorithm, default="none",
    ),
    # ------------------------------------------------------------ home agent options
    Keyword(
        "HaMaxBindingLife", _TOP,
        (Int("ha_max_binding_life", 4, MAX_BINDING_LIFETIME),), _HA,
        "The longest lifetime, in seconds, the home agent grants a home registration.",
        "HaMaxBindingLife 3600;",
    ),
    _bool("SendMobPfxAdvs", "send_mob_pfx_advs", _HA,
          "Whether the home agent answers Mobile Prefix Solicitations from mobile nodes "
          "away from home (RFC 6275 section 10.6)."),
    _bool("SendUnsolMobPfxAdvs", "send_unsol_mob_pfx_advs", _HA,
          "Whether the home agent also sends unsolicited Mobile Prefix Advertisements to "
          "its bindings when the prefixes its home links advertise change (RFC 6275 "
          "section 10.6.2), within MinMobPfxAdvInterval and MaxMobPfxAdvInterval; one a "
          "node neither answers with a Binding Update nor with a solicitation is sent "
          "again after 3, 6 and 12 s (PREFIX_ADV_TIMEOUT, PREFIX_ADV_RETRIES)."),
    Keyword(
        "MinMobPfxAdvInterval", _TOP,
        (Int("min_mob_pfx_adv_interval", 1, 0xFFFFFFFF),), _HA,
        "The shortest interval, in seconds, between Mobile Prefix Advertisements; at most "
        "MaxMobPfxAdvInterval.",
        "MinMobPfxAdvInterval 300;",
    ),
    Keyword(
        "MaxMobPfxAdvInterval", _TOP,
        (Int("max_mob_pfx_adv_interval", 1, 0xFFFFFFFF),), _HA,
        "The longest interval, in seconds, between Mobile Prefix Advertisements.",
        "MaxMobPfxAdvInterval 43200;",
    ),
    Keyword(
        "HaPreference", _TOP, (Int("ha_preference", -32768, 32767),), _HA,
        "This home agent's preference in the Home Agents List of its home links, which "
        "answers mobile nodes that look for a home agent (HomeAgentAddress ::, dynamic "
        "home agent address discovery, RFC 6275 section 10.5): higher is preferred, from "
        "-32768 to 32767 (RFC 6275 section 7.4: a home agent below 0 serves only when "
        "no other can). The "
        "daemon joins each home link's Mobile IPv6 Home-Agents anycast address (RFC 2526: "
        "PREFIX:fdff:ffff:ffff:fffe for a /64) and answers a DHAAD Request there with the "
        "home agents of the link, most preferred first (ties by address). It learns the "
        "other home agents from the link's router advertisements (Home Agent flag, Home "
        "Agent Information option), so each home agent's router advertisement daemon must "
        "announce its address with the R flag, the Home Agent flag and the same preference "
        "(radvd: AdvHomeAgentFlag on, AdvHomeAgentInfo on, HomeAgentPreference, and the "
        "prefix written as the home agent's address, 'prefix 2001:db8:1::2/64 { "
        "AdvRouterAddr on; };', since with the bare prefix radvd sends the prefix, which "
        "is ignored). Its own advertisements are not needed: this entry comes "
        "from here, and stays while the daemon runs.",
        "HaPreference 10;", origin=Origin.HOMEGUY,
    ),
    Keyword(
        "HaAcceptMobRtr", _TOP, (Bool("ha_accept_mob_rtr"),), _HA,
        "Whether the home agent accepts registrations from NEMO mobile routers (Binding "
        "Updates with the R flag, RFC 3963). Each router needs the prefixes it may claim: "
        "listed in its BindingAclPolicy, or inside a HaServedPrefix.",
        "HaAcceptMobRtr enabled;\nHaServedPrefix 2001:db8:100::/48;", origin=Origin.NEMO,
    ),
    _bool("HaAcceptMultipleCoA", "ha_accept_multiple_coa", _HA,
          "Whether the home agent accepts registrations of several care-of addresses for "
          "one home address (Binding Identifier options, RFC 5648). When disabled such a "
          "Binding Update gets status 166 (MCOA PROHIBITED), and a Homeguy mobile node "
          "then registers its preferred care-of address alone, without flow bindings, "
          "until it restarts or reloads its configuration.", origin=Origin.HOMEGUY),
    Keyword(
        "HaServedPrefix", _TOP, (Prefix("prefix"),), _HA,
        "The aggregated prefix the home agent serves mobile networks from. A mobile "
        "router whose BindingAclPolicy lists no prefixes (or that has none) may register "
        "in explicit mode the prefixes it announces inside this one; the prefixes listed "
        "in a BindingAclPolicy always take precedence. May be repeated.",
        "HaServedPrefix 2001:db8:100::/48;",
        origin=Origin.NEMO, shape=Shape.APPEND, field="ha_served_prefixes", default="none",
    ),
    Keyword(
        "BindingAclPolicy", _TOP,
        (Address("home_address", label="address"),
         Optional(PrefixList("mobile_network_prefixes"), ()),
         AclStatus("status")),
        _HA,
        "Whether the mobile node with this home address may register, and for a mobile "
        "router the mobile network prefixes it may claim, as a list in parentheses. "
        "Instead of allow or deny a Binding Acknowledgement status number may be given. "
        "A home address may have one entry only, across all included files.",
        "HaAcceptMobRtr enabled;\nBindingAclPolicy 2001:db8:1::1234 allow;\n"
        "BindingAclPolicy 2001:db8:1::1235 (2001:db8:2::/64, 2001:db8:3::/64) allow;",
        shape=Shape.APPEND, field="binding_acl", entry=BindingAcl, default="none",
    ),
    Keyword(
        "DefaultBindingAclPolicy", _TOP, (AclStatus("default_binding_acl_policy"),), _HA,
        "What happens to a mobile node that no BindingAclPolicy names.",
        "DefaultBindingAclPolicy deny;",
    ),
    # ----------------------------------------------------------- mobile node options
    Keyword(
        "MnMaxHaBindingLife", _TOP,
        (Int("mn_max_ha_binding_life", 4, MAX_BINDING_LIFETIME),), _MN,
        "The longest lifetime, in seconds, the mobile node asks its home agent for.",
        "MnMaxHaBindingLife 3600;",
    ),
    Keyword(
        "MnMaxCnBindingLife", _TOP,
        (Int("mn_max_cn_binding_life", 4, MAX_RR_BINDING_LIFETIME),), _MN,
        "The longest lifetime, in seconds, the mobile node asks correspondent nodes for "
        "(at most MAX_RR_BINDING_LIFETIME, 420, RFC 6275 section 12).",
        "MnMaxCnBindingLife 300;",
    ),
    _bool("MnDiscardHaParamProb", "mn_discard_ha_param_prob", _MN,
          "Whether the mobile node ignores ICMPv6 Parameter Problem messages from its home "
          "agent, which IPsec does not protect and anyone could forge."),
    _bool("MnResetDhaadAtHome", "mn_reset_dhaad_at_home", _MN,
          "With dynamic home agent discovery: whether the mobile node forgets the home "
          "agent it found each time it comes home, and discovers again when it leaves."),
    _bool("MnFlushAllAtHome", "mn_flush_all_at_home", _MN,
          "Whether the mobile node drops every unfinished registration when it comes "
          "home, instead of retrying them from home."),
    Keyword(
        "MnMaxCnConsecutiveResends", _TOP,
        (Int("mn_max_cn_consecutive_resends", 0, 1000),), _MN,
        "How often the mobile node resends an unanswered Binding Update to a "
        "correspondent node before giving up; 0 means for ever.",
        "MnMaxCnConsecutiveResends 5;",
    ),
    Keyword(
        "MnMaxHaConsecutiveResends", _TOP,
        (Int("mn_max_ha_consecutive_resends", 0, 1000),), _MN,
        "With dynamic home agent discovery: how often the mobile node resends an "
        "unanswered Binding Update to its home agent (first registration, refresh or "
        "new care-of address) before trying the next home agent of the DHAAD Reply; 0 "
        "never tries another.",
        "MnMaxHaConsecutiveResends 3;",
    ),
    _bool("SendMobPfxSols", "send_mob_pfx_sols", _MN,
          "Whether the mobile node sends Mobile Prefix Solicitations to its home agent "
          "while registered away from home: at once, then before its home prefix's "
          "advertised valid lifetime ends (RFC 6275 section 11.4.2)."),
    _bool("DoRouteOptimizationMN", "do_route_optimization_mn", _MN,
          "Whether the mobile node starts route optimisation with correspondent nodes, "
          "unless an MnRoPolicy says otherwise. Keep it disabled with a TunnelPayload "
          "policy."),
    _bool("MnUseAllInterfaces", "mn_use_all_interfaces", _MN,
          "Whether the mobile node moves with every interface, each with preference 1, "
          "instead of those listed with Interface."),
    _bool("MobRtrUseExplicitMode", "mob_rtr_use_explicit_mode", _MN,
          "Whether a mobile router lists its mobile network prefixes in its Binding "
          "Updates (explicit mode, RFC 3963 section 5.1) rather than leaving the home "
          "agent to know them (implicit mode).", origin=Origin.NEMO),
    _bool("UseCnBuAck", "use_cn_bu_ack", _MN,
          "Whether Binding Updates to correspondent nodes ask for an acknowledgement."),
    _seconds("InterfaceInitialInitDelay", "interface_initial_init_delay",
             "How long, in seconds, the mobile node waits at start for its interfaces to "
             "settle before it picks a care-of address, so that it does not register one "
             "address only to switch to a better one a moment later.", "0.5",
             positive=False),
    Keyword(
        "MnRouterProbes", _TOP, (Int("mn_router_probes", 0, 100),), _MN,
        "How many Neighbor Unreachability Detection probes the mobile node sends to its "
        "old router when a new one advertises itself, before moving; 0 moves at once.",
        "MnRouterProbes 1;",
    ),
    _seconds("MnRouterProbeTimeout", "mn_router_probe_timeout",
             "How long, in seconds, the mobile node waits for the answer to each router "
             "probe, when shorter than the interface's retransmission timer; 0 uses the "
             "timer.", "0.2", positive=False),
    _seconds("InitialBindackTimeoutFirstReg", "initial_bindack_timeout_first_reg",
             "How long, in seconds, the mobile node waits for the Binding Acknowledgement "
             "of its first home registration before resending (RFC 6275 "
             "InitialBindackTimeoutFirstReg); doubled on each resend.", "1.5", positive=True,
             maximum=60.0),
    _seconds("InitialBindackTimeoutReReg", "initial_bindack_timeout_rereg",
             "How long, in seconds, the mobile node waits for a Binding Acknowledgement of "
             "later registrations before resending; doubled on each resend.", "1.0",
             positive=True, maximum=60.0),
    _seconds("MaxBindackTimeout", "max_bindack_timeout",
             "The longest wait, in seconds, between resent Binding Updates (RFC 6275 "
             "MAX_BINDACK_TIMEOUT, a constant in UMIP); at least either initial timeout.",
             "32.0", positive=True, origin=Origin.HOMEGUY),
    _seconds("InitialSolicitTimer", "initial_solicit_timer",
             "How long, in seconds, the mobile node waits for an answer to its first Mobile "
             "Prefix Solicitation before resending (RFC 6275 INITIAL_SOLICIT_TIMER).",
             "3.0", positive=True, maximum=600.0),
    _bool("OptimisticHandoff", "optimistic_handoff", _MN,
          "Whether the mobile node uses a new care-of address for route-optimised and "
          "reverse-tunnelled traffic as soon as the Binding Update has left, without "
          "waiting for the acknowledgement."),
    _bool("NoHomeReturn", "no_home_return", _MN,
          "Whether the mobile node never considers itself at home, so that IPsec policies "
          "for its data traffic stay in place whatever router advertisements say. The "
          "interface to the home network must then not be the MnHomeLink interface."),
    Keyword(
        "MnHomeLink", _TOP, (_ifname_arg("interface", "interface"),), _MN,
        "One home address of the mobile node, with its home agent; the name is the "
        "interface that attaches to the home link (several MnHomeLink may name the same "
        "interface). A mobile node needs at least one, with HomeAddress and "
        "HomeAgentAddress.",
        'MnHomeLink "eth0" {\n    HomeAgentAddress 2001:db8:1::1;\n'
        "    HomeAddress 2001:db8:1::1234/64;\n}",
        shape=Shape.APPEND, field="home_links", entry=HomeLink, opens=_HL,
        body=Body.REQUIRED, default="none",
    ),
    Keyword(
        "HomeAddress", _HL,
        (AddressLength("home_address"),
         Optional(PrefixList("mobile_network_prefixes"), ())),
        _MN,
        "The home address and the length of the home link prefix (usually 64); for a "
        "mobile router, followed by its mobile network prefixes in parentheses, which "
        "needs IsMobRtr enabled. A home address may appear in one MnHomeLink only.",
        'MnHomeLink "eth0" {\n    HomeAgentAddress 2001:db8:1::1;\n'
        "    HomeAddress 2001:db8:1::1234/64;\n}",
        required=True,
    ),
    Keyword(
        "HomeAgentAddress", _HL,
        (Address("home_agent_address", unspecified="discover the home agent"),), _MN,
        "The home agent's address; :: asks for dynamic home agent address discovery "
        "(RFC 6275 section 11.4.1): away from home, the mobile node sends a DHAAD Request "
        "from its care-of address to the home prefix's Home-Agents anycast address "
        "(resent after 3 s, then 6, 12, 24 and 48 s, INITIAL_DHAAD_TIMEOUT and "
        "DHAAD_RETRIES of RFC 6275 section 12, then a new round), registers with the "
        "first home agent of the Reply, and falls back to the next one when "
        "MnMaxHaConsecutiveResends Binding Updates to it in a row go unanswered or it "
        "refuses; with none left it discovers again. mip6ctl bul shows the home agent in "
        "use. Not with an IPsecPolicySet for the home address (its policies name one "
        "home agent).",
        'MnHomeLink "eth0" {\n    HomeAgentAddress 2001:db8:1::1;\n'
        "    HomeAddress 2001:db8:1::1234/64;\n}",
        default="::",
    ),
    Keyword(
        "IsMobRtr", _HL, (Bool("is_mob_rtr"),), _MN,
        "Whether this home address belongs to a NEMO mobile router, which registers its "
        "mobile network prefixes with it.",
        'MnHomeLink "eth0" {\n    HomeAgentAddress 2001:db8:1::1;\n'
        "    HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64);\n    IsMobRtr enabled;\n}",
        origin=Origin.NEMO,
    ),
    Keyword(
        "HomePrefix", _HL, (Prefix("home_prefix", mask=True),), _MN,
        "The home link prefix when it differs from the prefix of HomeAddress; the home "
        "address must lie inside it.",
        'MnHomeLink "eth0" {\n    HomeAgentAddress 2001:db8:1::1;\n'
        "    HomeAddress 2001:db8:1::1234/64;\n    HomePrefix 2001:db8:1::/48;\n}",
        default="the prefix of HomeAddress",
    ),
    Keyword(
        "UseAltCoa", _HL, (Bool("use_alt_coa"),), _MN,
        "Whether Binding Updates carry the care-of address in an Alternate Care-of "
        "Address option (RFC 6275 section 6.2.5).",
        'MnHomeLink "eth0" {\n    HomeAgentAddress 2001:db8:1::1;\n'
        "    HomeAddress 2001:db8:1::1234/64;\n    UseAltCoa enabled;\n}",
    ),
    Keyword(
        "MnRoPolicy", _HL,
        (Optional(Address("correspondent", label="address")), Bool("route_optimization")),
        _MN,
        "Whether to use route optimisation with one correspondent node, or without an "
        "address with all of them; overrides DoRouteOptimizationMN. May be repeated.",
        'MnHomeLink "eth0" {\n    HomeAgentAddress 2001:db8:1::1;\n'
        "    HomeAddress 2001:db8:1::1234/64;\n    MnRoPolicy 2001:db8:9::3 enabled;\n"
        "    MnRoPolicy disabled;\n}",
        shape=Shape.APPEND, field="ro_policies", entry=RoPolicy, default="none",
    ),
    Keyword(
        "RegMultipleCoA", _HL, (Bool("reg_multiple_coa"),), _MN,
        "Whether this home address is registered with several care-of addresses at once "
        "(RFC 5648): one binding for each Interface with a Bid that has a care-of address, "
        "all in one Binding Update (bulk registration), each named by its Bid. When an "
        "interface loses its care-of address, only its binding is deregistered and the "
        "home agent goes on forwarding through the others; the traffic the router sends "
        "moves at once to the preferred interface left, which is registered already. The "
        "Binding Updates leave from the preferred interface (MnIfPreference): when it has "
        "no Bid, its care-of address is registered alone, as without RegMultipleCoA. Each "
        "binding other than the preferred one has a tunnel of its own (mip6mnNbBID), which "
        "takes in what the home agent sends through it. Needs NodeConfig MN and at least "
        "one Interface with a Bid.",
        _MCOA_EXAMPLE, origin=Origin.HOMEGUY,
    ),
    Keyword(
        "FlowBinding", _HL,
        (Int("fid", 1, 0xFFFF, noun="a flow identifier", label="FID", name="fid"),), _MN,
        "A flow binding (RFC 6089) the mobile node asks its home agent for: the traffic to "
        "the node that the block's selector statements match goes through one of the "
        "bindings BindingIds names, and moves to another of them when that one is "
        "deregistered. The flow identifier (FID), 1 to 65535, is unique in its MnHomeLink. "
        "The selector describes the packets as the home agent forwards them to the node "
        "(source: the correspondent's side); without any selector statement the flow is "
        "all of the node's traffic. Needs RegMultipleCoA enabled.",
        _FLOW_BINDING_EXAMPLE,
        origin=Origin.HOMEGUY, shape=Shape.APPEND, field="flow_bindings",
        entry=FlowBindingPolicy, opens=_FB, body=Body.REQUIRED, default="none",
    ),
    Keyword(
        "FlowPriority", _FB, (Int("priority", 1, MAX_FLOW_PRIORITY),), _MN,
        "The priority of the flow (FID-PRI), lower preferred: a packet that several flows "
        "match follows the preferred one. Unique in its MnHomeLink (RFC 6089 asks it to be "
        "unique per mobile node). At most 20000, the largest a Homeguy home agent takes.",
        _FLOW_BINDING_EXAMPLE, origin=Origin.HOMEGUY, required=True,
    ),
    Keyword(
        "BindingIds", _FB,
        (Repeat("bids", Int(None, 1, MAX_BID, noun="a BID", name="bid"), 1, MAX_BID,
                label="BID"),),
        _MN,
        "The bindings the flow may go through, by the Bid of their interfaces, each once. "
        "Of those registered, the home agent takes the preferred one as BidPriority says "
        "(lowest BID-PRI, then lowest Bid), whatever their order here; with none "
        "registered, the flow's traffic follows the node's other traffic.",
        _FLOW_BINDING_EXAMPLE, origin=Origin.HOMEGUY, required=True,
    ),
    Keyword(
        "Protocol", _FB, (Int("protocol", 0, 255),), _MN,
        "The next header (transport protocol) of the flow's packets: 6 for TCP, 17 for "
        "UDP, 33 for DCCP, 132 for SCTP, 58 for ICMPv6.",
        _FLOW_BINDING_EXAMPLE, origin=Origin.HOMEGUY, default="any",
    ),
    Keyword(
        "SourcePort", _FB, (PortRange("source_port"),), _MN,
        "The correspondent's port: one port, or the first and last of a range. Needs "
        "Protocol 6, 17, 33 or 132 (TCP, UDP, DCCP or SCTP).",
        _FLOW_BINDING_EXAMPLE, origin=Origin.HOMEGUY, default="any",
    ),
    Keyword(
        "DestinationPort", _FB, (PortRange("destination_port"),), _MN,
        "The mobile node's port (or that of a node in its mobile networks): one port, or "
        "the first and last of a range. Needs Protocol 6, 17, 33 or 132 (TCP, UDP, DCCP or "
        "SCTP).",
        _FLOW_BINDING_EXAMPLE, origin=Origin.HOMEGUY, default="any",
    ),
    Keyword(
        "SourceAddress", _FB, (Prefix("source_address"),), _MN,
        "The correspondents the flow comes from, as a prefix (/128 for one address).",
        _FLOW_BINDING_EXAMPLE, origin=Origin.HOMEGUY, default="any",
    ),
    Keyword(
        "DestinationAddress", _FB, (Prefix("destination_address"),), _MN,
        "The mobile node's side of the flow, as a prefix: its home address (/128) or one of "
        "its mobile network prefixes.",
        _FLOW_BINDING_EXAMPLE, origin=Origin.HOMEGUY,
        default="the home address and every mobile network prefix",
    ),
)

# The model class each block fills (statements without ``entry`` set its fields).
BLOCK_MODELS: Mapping[Block, type] = {
    Block.TOP: Config,
    Block.INTERFACE: Interface,
    Block.MN_HOME_LINK: HomeLink,
    Block.IPSEC_POLICY_SET: IPsecPolicySet,
    Block.STATIC_KEY: StaticKey,
    Block.CN_BINDING_POLICY_SET: Config,  # its lines go to Config.cn_binding_policies
    Block.FLOW_BINDING: FlowBindingPolicy,
}

BY_BLOCK: Mapping[Block, Mapping[str, Keyword]] = {
    block: {k.name: k for k in KEYWORDS if k.block is block and not k.anonymous}
    for block in Block
}
ANONYMOUS: Mapping[Block, Keyword] = {k.block: k for k in KEYWORDS if k.anonymous}


def blocks_of(name: str) -> list[Block]:
    """The blocks in which keyword ``name`` may stand."""
    return [block for block in Block if name in BY_BLOCK[block]]
