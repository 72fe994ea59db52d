"""mip6d registers for real: a mobile node on a foreign link, its home agent, a
correspondent pinging the home address through the tunnel; the return home; garbage
on the Mobility Header socket."""

from __future__ import annotations

import json

import pytest

from homeguy.lab.topology import Host, Topology
from testkit.mip6d_topology import (
    HA_ADDRESS,
    HOA,
    build,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
    static_keying,
    tree_tool,
)

pytestmark = pytest.mark.lab

GARBAGE = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 135)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, -1)  # keep the bad checksums
for payload in (b"\\x00", b"\\x3b\\x01\\x05\\x00" + bytes(12),
                b"\\x3b\\x00\\x05\\x00\\x00\\x00\\x00\\x00"):
    try:
        s.sendto(payload, (sys.argv[1], 0))
    except OSError as error:
        print("not sent:", payload, error)
"""


def test_register_ping_return_home(net: Topology) -> None:
    m = build(net)
    coa = m.mn.wait_address("mn-f1", within=None)
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir))
    mn = start_mip6d(net, m.mn, "mn", mn_config(net.workdir))

    # (1) registration from the foreign link: BA status 0.
    ack = mn.wait_event("received", message="BindingAck", timeout=30)
    assert ack["status"] == 0, ack
    bu = ha.wait_event("received", message="BindingUpdate", after=0)
    assert bu["src"] == str(coa) and bu["home_address"] == str(HOA)
    mn.wait_event("binding-registered", after=0)
    tunnels = m.ha.run("ip", "-6", "tunnel", "show")
    assert f"remote {coa}" in tunnels and f"local {HA_ADDRESS}" in tunnels, tunnels
    took = ping_until(m.cn, HOA)
    print(f"first ping through the tunnel after {took:.2f} s")
    assert " 0% packet loss" in m.cn.ping(HOA, count=5, interval=0.2)
    # HA state: route to the home address via the tunnel, proxy ND on the home link.
    assert str(HOA) in m.ha.run("ip", "-6", "route", "show", "proto", "static")
    assert str(HOA) in m.ha.run("ip", "-6", "neigh", "show", "proxy")
    assert "proto route2" in m.mn.run("ip", "xfrm", "state")

    # Malformed Mobility Header packets: counted, dropped, the home agent keeps serving.
    script = net.workdir / "garbage.py"
    script.write_text(GARBAGE)
    m.cn.run("python3", str(script), str(HA_ADDRESS))
    ha.wait_event("malformed-dropped", after=0)

    # (3) back home: deregistration, tunnel and states gone.
    mark = mn.mark()
    m.move_mn("mn-home")
    dereg = mn.wait(lambda r: r.get("event") == "received" and r.get("message") == "BindingAck"
                    and r.get("src") == str(HA_ADDRESS), timeout=30, what="dereg BA", after=mark)
    assert dereg["status"] == 0
    ha.wait_event("binding-removed", after=0)
    assert "mip6t" not in m.ha.run("ip", "-6", "tunnel", "show")
    assert str(HOA) not in m.ha.run("ip", "-6", "neigh", "show", "proxy")
    assert "mip6mn0" not in m.mn.run("ip", "link", "show")
    assert "coa" not in m.mn.run("ip", "xfrm", "state").replace("coa ::", "")
    # At home, the correspondent reaches the home address on the home link directly.
    ping_until(m.cn, HOA)

    # Clean shutdown: no kernel state left behind.
    assert mn.stop() == 0 and ha.stop() == 0
    assert m.ha.run("ip", "xfrm", "state").strip() == ""
    assert m.ha.run("ip", "xfrm", "policy").strip() == ""
    assert m.mn.run("ip", "xfrm", "state").strip() == ""
    # The home agent's saved binding cache: its format, and no binding after the return.
    state = json.loads((net.workdir / "ha-state.json").read_text())
    assert state["format"] == "mip6d-binding-cache" and state["bindings"] == [], state


# Unprotected, and with static keys for the signalling and the tunnel's payload (the
# signalling alone adds no policy on the payload's way: measured, it passes too).
KEYING = {"none": lambda config: config,
          "static-payload": lambda config: static_keying(config, payload=True)}


@pytest.mark.parametrize("keying", sorted(KEYING))
def test_home_agent_and_its_node_reach_each_other(net: Topology, keying: str) -> None:
    """The home agent's own address and a registered home address talk both ways (RFC
    6275 11.3.1: through the bidirectional tunnel), as the 2007 demonstration's home agent
    pinged its nodes; with the signalling protected and with the tunnel's payload too."""
    m = build(net)
    start_mip6d(net, m.ha, "ha", KEYING[keying](ha_config(net.workdir)))
    mn = start_mip6d(net, m.mn, "mn", KEYING[keying](mn_config(net.workdir)))
    mn.wait_event("binding-registered", timeout=30)
    ping_until(m.cn, HOA)

    def diagnosis() -> str:
        return "\n".join(f"{host.name}: {what}\n" + host.run(*argv, check=False)
                         for host in (m.ha, m.mn)
                         for what, argv in (("xfrm_stat", ("cat", "/proc/net/xfrm_stat")),
                                            ("policies", ("ip", "xfrm", "policy")),
                                            ("rules", ("ip", "-6", "rule")),
                                            ("routes", ("ip", "-6", "route", "show",
                                                        "table", "all"))))

    ha_to_node = m.ha.run("ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", str(HOA),
                          check=False)
    node_to_ha = m.mn.run("ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2",
                          "-I", str(HOA), str(HA_ADDRESS), check=False)
    assert " 0% packet loss" in ha_to_node and " 0% packet loss" in node_to_ha, (
        ha_to_node, node_to_ha, diagnosis())


def _counters(host: Host, path: str, names: tuple[str, ...]) -> dict[str, int]:
    """Named counters of ``/proc/net/snmp6`` or ``/proc/net/xfrm_stat`` in ``host``."""
    values = dict(line.split()[:2] for line in host.run("cat", path).splitlines() if line.strip())
    return {name: int(values.get(name, 0)) for name in names}


def test_the_reference_stacks_direct_traffic_is_accepted_both_ways(net: Topology) -> None:
    """RFC 6275 9.3.1 and 11.3.4, as the reference stack does it once a binding exists: the
    node answers its home agent with a Home Address option from its care-of address, and the
    home agent reaches the node with a type 2 routing header. Both are accepted, and a
    Home Address option from anywhere but the registered care-of address is not."""
    m = build(net)
    coa = m.mn.wait_address("mn-f1", within=None)
    start_mip6d(net, m.ha, "ha", ha_config(net.workdir))
    mn = start_mip6d(net, m.mn, "mn", mn_config(net.workdir))
    mn.wait_event("binding-registered", timeout=30)
    ping_until(m.cn, HOA)

    node_to_ha = m.mn.run(*tree_tool("ro_ping", "hao", str(coa), str(HOA), str(HA_ADDRESS)))
    ha_to_node = m.ha.run(*tree_tool("ro_ping", "rh2", str(HA_ADDRESS), str(coa), str(HOA)))
    assert node_to_ha.strip() == "replies 3/3", node_to_ha
    assert ha_to_node.strip() == "replies 3/3", ha_to_node

    # The same Home Address option from the correspondent's address: refused by the
    # binding's policy (its template wants the binding's own state), never answered.
    names = ("Icmp6InEchos",)
    echoes = _counters(m.ha, "/proc/net/snmp6", names)
    refused = _counters(m.ha, "/proc/net/xfrm_stat", ("XfrmInTmplMismatch",))
    spoofed = m.cn.run(*tree_tool("ro_ping", "hao", str(m.cn_address), str(HOA),
                                  str(HA_ADDRESS)))
    assert spoofed.strip() == "replies 0/3", spoofed
    assert _counters(m.ha, "/proc/net/snmp6", names) == echoes
    after = _counters(m.ha, "/proc/net/xfrm_stat", ("XfrmInTmplMismatch",))
    assert after["XfrmInTmplMismatch"] - refused["XfrmInTmplMismatch"] >= 3, after
