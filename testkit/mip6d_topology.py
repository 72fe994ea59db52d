"""Mobility topologies and mip6d helpers for the lab tests.

    cn ---- ha ---- r ===== mn (mn-f1 on foreign link 1, mn-f2 on foreign link 2)
            |
            +------ mn-home (the home link, 2001:db8:1::/64)

The home agent ``ha`` is the home link's router (radvd with the Home Agent flag and
Home Agent Information option); the correspondent ``cn`` sits behind it; the router
``r`` serves two foreign links with fast router advertisements. The mobile node
``mn`` has one interface on each link and moves by taking links up and down.

Two home agents on one home link (:func:`build_two_home_agents`), for dynamic home agent
address discovery::

    ha2 ---- ha1 ---- r ---- mn (mn-f1, foreign link 1)
        (home link 2001:db8:1::/64: ha1 ::1 preference 20, the link's router; ha2 ::2,
         preference 10)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from homeguy.lab import installed
from homeguy.lab.topology import Host, Topology

ROOT = Path(__file__).resolve().parents[1]
HOME = IPv6Network("2001:db8:1::/64")
HA_ADDRESS = IPv6Address("2001:db8:1::1")
CN_NET = IPv6Network("2001:db8:c::/64")
F1 = IPv6Network("2001:db8:a::/64")
F2 = IPv6Network("2001:db8:b::/64")
TRANSIT = IPv6Network("2001:db8:ff::/64")
HOA = IPv6Address("2001:db8:1::100")
HA2_ADDRESS = IPv6Address("2001:db8:1::2")
HOME_AGENTS_ANYCAST = IPv6Address("2001:db8:1::fdff:ffff:ffff:fffe")
"""The home link's Mobile IPv6 Home-Agents anycast address (RFC 2526, /64 prefix)."""
# The daemon as the mip6d package installs it, run with Debian's Python libraries.
MIP6D = "/usr/sbin/mip6d"

HA_CONTROL_SOCKET = "/tmp/mip6d-ha.sock"
"""The home agent's control socket in :data:`HA_CONF` (the guest's /tmp)."""

HA_CONF = """\
NodeConfig HA;
DebugLevel 1;
Interface "ha-home";
UseMnHaIPsec disabled;
DefaultBindingAclPolicy {default};
HaMaxBindingLife 600;
HaAcceptMobRtr {accept_mr};
{acl}
ControlSocket "{control_socket}";
StateFile "{workdir}/ha-state.json";
"""

MN_CONF = """\
NodeConfig MN;
DebugLevel 1;
{interfaces}
UseMnHaIPsec disabled;
DoRouteOptimizationMN disabled;
MnMaxHaBindingLife 600;
{extra}
MnHomeLink "{home_link}" {{
    HomeAgentAddress {ha};
    HomeAddress {hoa}/64{prefixes};
{mr}
}}
ControlSocket "/tmp/mip6d-{name}.sock";
StateFile "{workdir}/{name}-state.json";
"""


# A mobile router on both foreign links (RFC 5648, RFC 6089): link 1 preferred (the
# lower BidPriority); UDP port 5001 bound to both links (so link 1 while it is there),
# port 5002 to link 2 alone.
MULTIHOMED_INTERFACES = """\
Interface "mn-f1" {
    MnIfPreference 1;
    Bid 1;
    BidPriority 10;
}
Interface "mn-f2" {
    MnIfPreference 2;
    Bid 2;
    BidPriority 20;
}
Interface "mn-home";"""
MULTIHOMING = """\
    IsMobRtr enabled;
    RegMultipleCoA enabled;
    FlowBinding 1 {
        FlowPriority 10;
        BindingIds 1 2;
        Protocol 17;
        DestinationPort 5001;
    }
    FlowBinding 2 {
        FlowPriority 20;
        BindingIds 2;
        Protocol 17;
        DestinationPort 5002;
    }"""
FLOW_PORTS = (5001, 5002)
MR_HOA = IPv6Address("2001:db8:1::200")
"""The multihomed mobile router's home address."""
MNP = IPv6Network("2001:db8:100:1::/64")
"""Its mobile network prefix: the link to :func:`lan_behind_router`'s host."""
LAN_HOST = MNP[2]


def multihomed_mr_config(workdir: Path, name: str, hoa: IPv6Address,
                         prefix: IPv6Network, multiple: bool = True) -> str:
    """:func:`mn_config` of a mobile router with ``prefix`` on both foreign links,
    registering both care-of addresses with its two flows (:data:`MULTIHOMING`); without
    ``multiple``, the same interfaces and preferences, one care-of address at a time."""
    config = mn_config(workdir, name=name, hoa=hoa, prefixes=(prefix,))
    plain = "\n".join(f'Interface "{i}";' for i in ("mn-f1", "mn-f2", "mn-home"))
    if not multiple:
        interfaces = "\n".join(line for line in MULTIHOMED_INTERFACES.splitlines()
                               if "Bid" not in line)
        return config.replace(plain, interfaces)
    return (config.replace(plain, MULTIHOMED_INTERFACES)
            .replace("    IsMobRtr enabled;", MULTIHOMING))


def ha_config(workdir: Path, acl: str = "", default: str = "allow",
              accept_mr: bool = True) -> str:
    return HA_CONF.format(workdir=workdir, acl=acl, default=default,
                          control_socket=HA_CONTROL_SOCKET,
                          accept_mr="enabled" if accept_mr else "disabled")


def mn_config(workdir: Path, name: str = "mn", hoa: IPv6Address = HOA,
              prefixes: tuple[IPv6Network, ...] = (), explicit: bool = True,
              interfaces: tuple[str, ...] = ("mn-f1", "mn-f2", "mn-home"),
              home_link: str = "mn-home") -> str:
    mr = "    IsMobRtr enabled;" if prefixes else ""
    extra = "" if not prefixes else (
        f"MobRtrUseExplicitMode {'enabled' if explicit else 'disabled'};"
    )
    listed = f" ({', '.join(str(p) for p in prefixes)})" if prefixes else ""
    return MN_CONF.format(workdir=workdir, name=name, ha=HA_ADDRESS, hoa=hoa,
                          prefixes=listed, mr=mr, extra=extra, home_link=home_link,
                          interfaces="\n".join(f'Interface "{i}";' for i in interfaces))


# IKEv2 keying (KeyMngMobCapability, see packages/mip6d/README.md): mip6d installs the
# policies of each IPsecPolicy with its reqid, that of a charon CHILD_SA with
# ``policies = no``.
DYNAMIC_KEYING = """
KeyMngMobCapability enabled;
IPsecPolicySet {{
    HomeAgentAddress {ha};
    HomeAddress {hoa}/64;
{policies}}}
"""
# charon's own roaming is off: the mobility daemon says where the IKE SA goes (MIGRATE
# with KMADDRESS); left on, charon reauthenticates (a new IKE_SA_INIT) when it sees the
# old care-of address go before the MIGRATE came. (strongswan.conf, charon.plugins)
ROAMING_OFF = "    kernel-netlink {\n      roam_events = no\n    }"
# The IKE source address: with install_routes (its default) charon reads the routing
# tables itself and takes the address of the route's interface (the care-of address);
# without, it asks the kernel, whose source address selection prefers the home address
# (RFC 6724 rule 4; mip6d flags it so), from which IKE cannot work before the binding.
# Table 252 is mip6d's (the home address's default route through the tunnel).
SOURCE_FROM_ROUTES = "  ignore_routing_tables = 252"


def dynamic_keying(config: str, policies: dict[str, int], hoa: IPv6Address = HOA) -> str:
    """``config`` (:func:`ha_config`, :func:`mn_config`) with IKEv2 keying: one
    ``IPsecPolicy <type> UseESP <reqid>;`` for each type -> reqid of ``policies``."""
    lines = "".join(f"    IPsecPolicy {kind} UseESP {reqid};\n"
                    for kind, reqid in policies.items())
    return config.replace("UseMnHaIPsec disabled;", "UseMnHaIPsec enabled;\n"
                          + DYNAMIC_KEYING.format(ha=HA_ADDRESS, hoa=hoa, policies=lines))


MN_TO_HA, HA_TO_MN = 0x1011, 0x1012
STATIC_POLICY_SET = f"""
IPsecPolicySet {{
    HomeAgentAddress {HA_ADDRESS};
    HomeAddress {HOA}/64;
    IPsecPolicy HomeRegBinding UseESP 11 12;
    StaticKey MnToHa {MN_TO_HA:#x} 11 {{
      Encryption aes-cbc 0x5e43216e03e5af3527f9780c6d2d2c76;
      Authentication hmac-sha256 0x928951ce5f434382417ebba459d5680c7f92bb973b175ec6e41865ee0ff5cf53;
    }}
    StaticKey HaToMn {HA_TO_MN:#x} 12 {{
      Encryption aes-cbc 0xa10873cfb90da723ac3aaac8db089131;
      Authentication hmac-sha256 0x1c89c17d904db2e55752d116385d1244c828508f324a14a1d0c1d4489cb628e1;
    }}
}}
"""


PAYLOAD_UP, PAYLOAD_DOWN = 0x1013, 0x1014
TUNNEL_PAYLOAD = f"""
    IPsecPolicy TunnelPayload UseESP 13 14;
    StaticKey MnToHa {PAYLOAD_UP:#x} 13 {{
      Encryption aes-cbc 0x0f43216e03e5af3527f9780c6d2d2c76;
      Authentication hmac-sha256 0x128951ce5f434382417ebba459d5680c7f92bb973b175ec6e41865ee0ff5cf53;
    }}
    StaticKey HaToMn {PAYLOAD_DOWN:#x} 14 {{
      Encryption aes-cbc 0x210873cfb90da723ac3aaac8db089131;
      Authentication hmac-sha256 0x2c89c17d904db2e55752d116385d1244c828508f324a14a1d0c1d4489cb628e1;
    }}
}}
"""


def static_keying(config: str, payload: bool = False, prefix_discovery: bool = False) -> str:
    """``config`` (:func:`ha_config`, :func:`mn_config`) with RFC 3776 static keys for
    the Binding Update and Acknowledgement (:data:`STATIC_POLICY_SET`), with
    ``prefix_discovery`` the same keys for Mobile Prefix Discovery, and with ``payload``
    for everything the tunnel carries (:data:`TUNNEL_PAYLOAD`)."""
    policy_set = STATIC_POLICY_SET
    if prefix_discovery:
        binding = "    IPsecPolicy HomeRegBinding UseESP 11 12;\n"
        policy_set = policy_set.replace(
            binding, binding + "    IPsecPolicy MobPfxDisc UseESP 11 12;\n")
    if payload:
        policy_set = policy_set.rstrip().removesuffix("}") + TUNNEL_PAYLOAD
    return config.replace("UseMnHaIPsec disabled;", "UseMnHaIPsec enabled;\n" + policy_set)


@dataclass
class Daemon:
    """A running mip6d and its JSON log."""

    host: Host
    name: str
    config: Path
    log: Path
    process: subprocess.Popen[bytes]
    seen: int = 0

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30,
             what: str = "", after: int = 0) -> dict[str, Any]:
        """The first log record (from index ``after``) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            for index, record in enumerate(records[after:], start=after):
                if predicate(record):
                    self.seen = index + 1
                    return record
            if self.process.poll() is not None or time.monotonic() > deadline:
                state = "exited" if self.process.poll() is not None else "timed out"
                tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
                raise AssertionError(f"{self.name} {state} waiting for {what}:\n{tail}")
            time.sleep(0.1)

    def wait_event(self, event: str, timeout: float = 30, after: int | None = None,
                   **fields: object) -> dict[str, Any]:
        return self.wait(
            lambda r: r.get("event") == event
            and all(r.get(k) == v for k, v in fields.items()),
            timeout, f"event {event} {fields}", self.seen if after is None else after,
        )

    def mark(self) -> int:
        self.seen = len(self.records())
        return self.seen

    def stop(self, timeout: float = 60) -> int:
        # Generous: the cleanup removes every tunnel, route, policy and state, which
        # takes seconds on a guest whose host is busy.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout)
        return int(self.process.returncode)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)


def spawn_mip6d(net: Topology, host: Host, name: str, config_text: str,
                wrap: Sequence[str] = ()) -> Daemon:
    """Write ``config_text`` and start the installed mip6d in ``host`` (not waiting),
    through ``wrap`` (a command that runs the rest, e.g. setpriv) if given."""
    config = net.workdir / f"{name}.conf"
    config.write_text(config_text)
    log = net.workdir / f"{name}.log"
    process = host.spawn(*installed.argv(*wrap, MIP6D, "--config", str(config),
                                         "--log-format", "json"), log=log)
    return Daemon(host, name, config, log, process)


def start_mip6d(net: Topology, host: Host, name: str, config_text: str,
                wrap: Sequence[str] = ()) -> Daemon:
    """:func:`spawn_mip6d`, then wait until the daemon is ready."""
    daemon = spawn_mip6d(net, host, name, config_text, wrap)
    daemon.wait_event("ready", timeout=150, after=0)
    return daemon


def control(host: Host, socket: str, command: str) -> Any:
    """``mip6ctl --socket socket --json command`` (the installed one) in ``host``, decoded."""
    return json.loads(host.run(*installed.argv("mip6ctl", "--socket", socket, "--json",
                                               command)))


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    """``probe()`` every 0.5 s until it returns something true, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@dataclass
class Mobility:
    net: Topology
    ha: Host
    r: Host
    cn: Host
    mn: Host
    cn_address: IPv6Address
    extra: dict[str, Any] = field(default_factory=dict)

    def link(self, host: Host, ifname: str, up: bool) -> None:
        host.run("ip", "link", "set", ifname, "up" if up else "down")

    def move_mn(self, to: str) -> None:
        """Put the mobile node on ``to`` (mn-f1, mn-f2 or mn-home) only."""
        self.link(self.mn, to, True)
        for ifname in ("mn-f1", "mn-f2", "mn-home"):
            if ifname != to:
                self.link(self.mn, ifname, False)


def build(net: Topology, mn_on: str = "mn-f1") -> Mobility:
    ha = net.host("ha", forwarding=True)
    r = net.host("r", forwarding=True)
    cn = net.host("cn")
    mn = net.host("mn")
    net.link(ha, r, a_ifname="ha-r", b_ifname="r-ha",
             a_address=f"{TRANSIT[1]}/64", b_address=f"{TRANSIT[2]}/64")
    net.link(cn, ha, a_ifname="cn-ha", b_ifname="ha-cn")
    net.link(mn, ha, a_ifname="mn-home", b_ifname="ha-home")
    net.link(mn, r, a_ifname="mn-f1", b_ifname="r-f1")
    net.link(mn, r, a_ifname="mn-f2", b_ifname="r-f2")
    for ifname in ("mn-f1", "mn-f2", "mn-home"):
        if ifname != mn_on:
            mn.run("ip", "link", "set", ifname, "down")
    ha.run("ip", "-6", "route", "add", "default", "via", str(TRANSIT[2]))
    for prefix in (HOME, CN_NET, IPv6Network("2001:db8:100::/48")):
        r.run("ip", "-6", "route", "add", str(prefix), "via", str(TRANSIT[1]))
    net.radvd(ha, {"ha-home": str(HOME), "ha-cn": str(CN_NET)},
              extra="AdvHomeAgentFlag on;\n  AdvHomeAgentInfo on;")
    net.radvd(r, {"r-f1": str(F1), "r-f2": str(F2)})
    cn_address = cn.wait_address("cn-ha", within=CN_NET)
    return Mobility(net, ha, r, cn, mn, cn_address)


def lan_behind_router(m: Mobility) -> Host:
    """Host ``lan`` (:data:`LAN_HOST`) on the mobile network :data:`MNP` behind the
    mobile node (``mn-lan``, :data:`MNP` ::1, its default router)."""
    lan = m.net.host("lan")
    m.net.link(m.mn, lan, a_ifname="mn-lan", b_ifname="lan-mn",
               a_address=f"{MNP[1]}/64", b_address=f"{LAN_HOST}/64")
    lan.run("ip", "-6", "route", "add", "default", "via", str(MNP[1]))
    return lan


def tree_tool(module: str, *args: str) -> list[str]:
    """The command line of ``testkit.<module>`` (a crafted Mobility Header sender) run
    with the tree's mip6d: messages no daemon would send."""
    path = f"{ROOT}:{ROOT / 'packages' / 'mip6d'}"
    return ["env", f"PYTHONPATH={path}", sys.executable, "-m", f"testkit.{module}", *args]


def ping_until(host: Host, address: IPv6Address, timeout: float = 20) -> float:
    """Ping once every 0.2 s until an answer; seconds it took."""
    start = time.monotonic()
    while True:
        result = host.run("ping", "-6", "-n", "-c", "1", "-W", "1", str(address), check=False)
        if " 0% packet loss" in result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{host.name}: no answer from {address} in {timeout} s")
        time.sleep(0.2)


HOME_AGENT_RADVD = """\
interface {ifname} {{
  AdvSendAdvert on;
  MinRtrAdvInterval 0.5;
  MaxRtrAdvInterval 1.5;
  AdvIntervalOpt on;
  AdvHomeAgentFlag on;
  AdvHomeAgentInfo on;
  HomeAgentPreference {preference};
  prefix {address}/{prefixlen} {{ AdvOnLink on; AdvAutonomous on; AdvRouterAddr on; }};
}};
"""


def home_agent_radvd(net: Topology, host: Host, ifname: str, address: IPv6Address,
                     preference: int) -> None:
    """``address`` on ``ifname`` and radvd announcing it as a home agent of the home link
    (H flag, Home Agent Information option with ``preference``, the address in the
    Prefix Information option with the R flag): what other home agents' Home Agents
    Lists learn (RFC 6275 sections 7 and 10.1)."""
    host.run("ip", "-6", "addr", "add", f"{address}/{HOME.prefixlen}", "dev", ifname, "nodad")
    conf = net.workdir / f"radvd-{host.name}.conf"
    # The address as the prefix: radvd sends the Prefix field as written, R flag or not
    # (measured with radvd 2.19), and the bare prefix is no home agent address.
    conf.write_text(HOME_AGENT_RADVD.format(ifname=ifname, preference=preference,
                                            address=address, prefixlen=HOME.prefixlen))
    host.spawn("radvd", "--nodaemon", "-C", str(conf), "-p",
               str(net.workdir / f"radvd-{host.name}.pid"), "-m", "stderr",
               log=net.workdir / f"radvd-{host.name}.log")


@dataclass
class TwoHomeAgents:
    net: Topology
    ha1: Host
    ha2: Host
    r: Host
    mn: Host


def build_two_home_agents(net: Topology) -> TwoHomeAgents:
    """The topology of the module's second drawing; the mobile node on foreign link 1."""
    ha1 = net.host("ha1", forwarding=True)
    ha2 = net.host("ha2", forwarding=True)
    r = net.host("r", forwarding=True)
    mn = net.host("mn")
    net.link(ha1, r, a_ifname="ha-r", b_ifname="r-ha",
             a_address=f"{TRANSIT[1]}/64", b_address=f"{TRANSIT[2]}/64")
    net.link(ha1, ha2, a_ifname="ha-home", b_ifname="ha-home")
    net.link(mn, r, a_ifname="mn-f1", b_ifname="r-f1")
    home_agent_radvd(net, ha1, "ha-home", HA_ADDRESS, 20)
    home_agent_radvd(net, ha2, "ha-home", HA2_ADDRESS, 10)
    ha1.run("ip", "-6", "route", "add", "default", "via", str(TRANSIT[2]))
    ha2.run("ip", "-6", "route", "add", "default", "via", str(HA_ADDRESS))
    r.run("ip", "-6", "route", "add", str(HOME), "via", str(TRANSIT[1]))
    net.radvd(r, {"r-f1": str(F1)})
    return TwoHomeAgents(net, ha1, ha2, r, mn)


def named_ha_config(workdir: Path, name: str, preference: int) -> str:
    """:func:`ha_config` for home agent ``name`` (its own control socket and state file)
    with ``HaPreference``."""
    return (ha_config(workdir).replace(HA_CONTROL_SOCKET, f"/tmp/mip6d-{name}.sock")
            .replace("ha-state.json", f"{name}-state.json")
            + f"HaPreference {preference};\n")


def discovering_mn_config(workdir: Path, lifetime: int = 16, resends: int = 2) -> str:
    """:func:`mn_config` on foreign link 1 alone, with ``HomeAgentAddress ::`` (dynamic
    home agent address discovery), a short binding ``lifetime`` (a dead home agent is
    noticed at the refresh) and ``MnMaxHaConsecutiveResends resends``."""
    config = mn_config(workdir, interfaces=("mn-f1",), home_link="mn-f1")
    return (config.replace(f"HomeAgentAddress {HA_ADDRESS};", "HomeAgentAddress ::;")
            .replace("MnMaxHaBindingLife 600;", f"MnMaxHaBindingLife {lifetime};\n"
                     f"MnMaxHaConsecutiveResends {resends};"))
