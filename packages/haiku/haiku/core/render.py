"""The mip6d files of one node: the home agent's include file (``nodes.d/``) and the node's
own mip6d.conf. Pure text from a frozen :class:`NodeSpec`; the syntax is mip6d.conf(5)
(``BindingAclPolicy``, ``IPsecPolicySet``, ``StaticKey``), and the tests parse both with
``mip6d.config.parse``.

This is the seam for the lab test with the real home agent: :func:`render_node` gives
both texts for one node.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv6Address, IPv6Network

from haiku.core.keys import SaKey

__all__ = ["Keying", "NodeKind", "NodeSpec", "ha_swanctl_text", "include_text",
           "mobile_network_text", "node_config_text", "node_swanctl_text", "render_node"]

MH = 135  # the Mobility Header's protocol number (RFC 6275, 6.1)
ICMPV6 = 58  # Mobile Prefix Discovery's (RFC 6275, 6.7 and 6.8)
# swanctl(8)'s directories, where the node's credentials from the service go.
SWANCTL_CERT = "x509/haiku-node.pem"
SWANCTL_KEY = "private/haiku-node.pem"
SWANCTL_CA = "x509ca/haiku-ca.pem"
# A mobile router's mobile network: the image's second Ethernet interface, set up by
# systemd-networkd from this file (it sorts before the images' DHCP/SLAAC catch-all).
MOBILE_NETWORK_FILE = "/etc/systemd/network/10-homeguy-mobile-network.network"


class NodeKind(StrEnum):
    HOST = "host"  # a mobile host (RFC 6275)
    ROUTER = "router"  # a NEMO mobile router (RFC 3963)


class Keying(StrEnum):
    STATIC = "static"  # manual keys, mip6d's StaticKey (RFC 3776 with static SAs)
    CERTIFICATE = "certificate"  # IKEv2 with a certificate from the service's CA


@dataclass(frozen=True)
class NodeSpec:
    name: str
    kind: NodeKind
    home_address: IPv6Address
    home_prefix_length: int
    home_agent_address: IPv6Address
    mobile_network_prefixes: tuple[IPv6Network, ...]
    keying: Keying
    protect_all_traffic: bool
    reqids: tuple[int, int, int, int]
    keys: tuple[SaKey, ...] = ()
    interface: str = "eth0"
    mobile_network_interface: str = "eth1"
    # The images' Wi-Fi interface (homeguy-wifi joins networks on it): a second way to
    # reach the home agent, used when the wired one is gone.
    wifi_interface: str = "wlan0"
    control_socket: str = "/run/mip6d/control.sock"
    state_file: str = "/var/lib/mip6d/bindings.json"

    def __post_init__(self) -> None:
        if self.kind is NodeKind.HOST and self.mobile_network_prefixes:
            raise ValueError("a mobile host has no mobile network prefixes")
        if self.kind is NodeKind.ROUTER and not self.mobile_network_prefixes:
            raise ValueError("a mobile router needs at least one mobile network prefix")
        if self.keying is Keying.STATIC and not self.keys:
            raise ValueError("static keying needs keys")


def _comment(text: str) -> str:
    """A comment line; the node name is user input, so keep it to one printable line."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return f"# {clean}\n"


def _prefix_list(spec: NodeSpec) -> str:
    if not spec.mobile_network_prefixes:
        return ""
    return " (" + ", ".join(str(p) for p in spec.mobile_network_prefixes) + ")"


def _policy_set(spec: NodeSpec, indent: str = "") -> str:
    sig_out, sig_in, pay_out, pay_in = spec.reqids
    sig, pay = f"{sig_out} {sig_in}", f"{pay_out} {pay_in}"
    if spec.keying is not Keying.STATIC:
        # IKE: one CHILD_SA, so one reqid for both directions (its swanctl.conf reqid).
        sig, pay = str(sig_out), str(pay_out)
    lines = [
        "IPsecPolicySet {",
        f"    HomeAgentAddress {spec.home_agent_address};",
        f"    HomeAddress {spec.home_address}/{spec.home_prefix_length};",
        f"    IPsecPolicy Mh UseESP {sig};",
        f"    IPsecPolicy MobPfxDisc UseESP {sig};",
    ]
    if spec.protect_all_traffic:
        lines.append(f"    IPsecPolicy TunnelPayload UseESP {pay};")
    if spec.keying is Keying.STATIC:
        for key in spec.keys:
            lines += [
                f"    StaticKey {key.direction} {key.spi:#x} {key.reqid} {{",
                f"        Encryption {key.encryption} 0x{key.key};",
                "    }",
            ]
    lines.append("}")
    return "".join(f"{indent}{line}\n" for line in lines)


def include_text(spec: NodeSpec) -> str:
    """The home agent's ``nodes.d/`` file for this node."""
    kind = "mobile router" if spec.kind is NodeKind.ROUTER else "mobile host"
    return (
        "# Written by haiku; do not edit (it is rewritten when the node changes).\n"
        + _comment(f"{kind} {spec.name!r}")
        + f"BindingAclPolicy {spec.home_address}{_prefix_list(spec)} allow;\n\n"
        + _policy_set(spec)
    )


def _interfaces(spec: NodeSpec) -> str:
    """The interfaces the node moves with: its own first (wired on the images), then the
    Wi-Fi interface (care-of addresses there when the first has none; an interface
    absent from the machine is never used)."""
    if spec.wifi_interface in (spec.interface, spec.mobile_network_interface):
        return f'Interface "{spec.interface}";\n'
    return "".join(f'Interface "{name}" {{\n    MnIfPreference {preference};\n}}\n'
                   for preference, name in enumerate((spec.interface, spec.wifi_interface), 1))


def node_config_text(spec: NodeSpec) -> str:
    """The node's own mip6d.conf (mobile host, or NEMO mobile router)."""
    router = spec.kind is NodeKind.ROUTER
    out = [
        "# Written by haiku for the node below; fetched by the live image at boot.\n",
        _comment(f"{'mobile router' if router else 'mobile host'} {spec.name!r}"),
        "NodeConfig MN;\n",
        "DebugLevel 0;\n",
        _interfaces(spec),
        "DoRouteOptimizationMN disabled;\n",
        "DoRouteOptimizationCN disabled;\n",
        "MnRouterProbes 1;\n",
    ]
    if router:
        out.append("MobRtrUseExplicitMode enabled;\n")
    out += [
        f'MnHomeLink "{spec.interface}" {{\n',
        "    IsMobRtr enabled;\n" if router else "",
        f"    HomeAgentAddress {spec.home_agent_address};\n",
        f"    HomeAddress {spec.home_address}/{spec.home_prefix_length}{_prefix_list(spec)};\n",
        "}\n",
        "UseMnHaIPsec enabled;\n",
        "KeyMngMobCapability "
        + ("enabled" if spec.keying is Keying.CERTIFICATE else "disabled") + ";\n",
        _policy_set(spec),
        f'ControlSocket "{spec.control_socket}";\n',
        f'StateFile "{spec.state_file}";\n',
    ]
    return "".join(out)


@dataclass(frozen=True)
class Child:
    """One CHILD_SA of a swanctl connection: mip6d installs its policies (with the
    ``hao``/``route2`` templates charon cannot), each carrying ``reqid``; their first
    packet makes the kernel ask charon, which finds this child by its reqid."""

    name: str
    mode: str
    reqid: int
    local_ts: str
    remote_ts: str
    start_action: str


def _swanctl(name: str, remote_addrs: str, local: list[str], remote: list[str],
             children: list[Child]) -> str:
    def block(lines: list[str], indent: str = "      ") -> str:
        return "".join(f"{indent}{line}\n" for line in lines)

    out = [
        "# Written by haiku; do not edit (it is rewritten when the node changes).\n",
        "connections {\n",
        f"  {name} {{\n",
        "    version = 2\n",
        f"    remote_addrs = {remote_addrs}\n",
        "    local {\n" + block(local) + "    }\n",
        "    remote {\n" + block(remote) + "    }\n",
        "    children {\n",
    ]
    for child in children:
        out.append(f"      {child.name} {{\n" + block([
            f"mode = {child.mode}", "policies = no", f"reqid = {child.reqid}",
            f"local_ts = {child.local_ts}", f"remote_ts = {child.remote_ts}",
            f"start_action = {child.start_action}"], "        ") + "      }\n")
    out += ["    }\n", "  }\n", "}\n"]
    return "".join(out)


def _children(spec: NodeSpec, node_side: bool) -> list[Child]:
    """BU/BA and Mobile Prefix Discovery (the Mh and MobPfxDisc policies' reqid): ESP
    between home address and home agent, Mobility Header and ICMPv6, while IKE
    runs from the care-of address (``transport_proxy``, RFC 4877 4.3); with all traffic
    protected, the ip6ip6 tunnel (TunnelPayload's reqid): ESP between the IKE endpoints.
    The node's are trapped (its first BU raises the acquire); the home agent answers."""
    if spec.keying is not Keying.CERTIFICATE:
        raise ValueError("swanctl connections are for certificate-keyed nodes")
    sig, _, pay, _ = spec.reqids
    hoa, ha = (f"{a}/128[{MH}],{a}/128[{ICMPV6}]"
               for a in (spec.home_address, spec.home_agent_address))
    start = "trap" if node_side else "none"
    local, remote = (hoa, ha) if node_side else (ha, hoa)
    children = [Child("mh", "transport_proxy", sig, local, remote, start)]
    if spec.protect_all_traffic:
        children.append(Child("payload", "transport", pay, "dynamic[41]", "dynamic[41]",
                              start))
    return children


def node_swanctl_text(spec: NodeSpec) -> str:
    """The node's swanctl.conf(5) connection to its home agent (RFC 4877, mip6d with
    ``KeyMngMobCapability``): IKEv2 with its certificate from the service's CA, identity
    its home address (the certificate's subjectAltName), from whatever care-of address
    it has."""
    hoa, ha = spec.home_address, spec.home_agent_address
    return _swanctl(
        "haiku-mip6", str(ha),
        ["auth = pubkey", f"certs = {SWANCTL_CERT.removeprefix('x509/')}", f"id = {hoa}"],
        ["auth = pubkey", f"id = {ha}", "cacerts = " + SWANCTL_CA.removeprefix("x509ca/")],
        _children(spec, node_side=True))


def ha_swanctl_text(spec: NodeSpec, ha_certificate: str, ca_certificate: str) -> str:
    """The home agent's swanctl.conf(5) connection for one certificate-keyed node: the node
    must prove its home address with a certificate of ``ca_certificate`` (the service's CA,
    a file in x509ca/) that is not revoked (``strict``: without a current CRL, fetched
    from the certificate's distribution point or loaded, authentication fails too)."""
    hoa, ha = spec.home_address, spec.home_agent_address
    return _swanctl(
        "haiku-" + str(hoa).replace(":", "-"), "%any",
        ["auth = pubkey", f"certs = {ha_certificate}", f"id = {ha}"],
        ["auth = pubkey", f"id = {hoa}", f"cacerts = {ca_certificate}",
         "revocation = strict"],
        _children(spec, node_side=False))


def mobile_network_text(spec: NodeSpec) -> str:
    """A mobile router's systemd.network(5) file for its mobile network: the first address
    of each prefix, and router advertisements of them (hosts behind it use SLAAC)."""
    if spec.kind is not NodeKind.ROUTER:
        raise ValueError("only a mobile router has a mobile network")
    lines = ["# Written by haiku: the mobile network behind this mobile router.\n",
             f"[Match]\nName={spec.mobile_network_interface}\n\n[Network]\n"]
    lines += [f"Address={prefix[1]}/{prefix.prefixlen}\n"
              for prefix in spec.mobile_network_prefixes]
    lines.append("IPv6AcceptRA=no\nIPv6SendRA=yes\nLinkLocalAddressing=ipv6\n"
                 "ConfigureWithoutCarrier=yes\n")
    lines += [f"\n[IPv6Prefix]\nPrefix={prefix}\n" for prefix in spec.mobile_network_prefixes]
    return "".join(lines)


def render_node(spec: NodeSpec) -> tuple[str, str]:
    """(home agent include file, node mip6d.conf): the seam for the lab test."""
    return include_text(spec), node_config_text(spec)
