"""The home agent with a mobile router registered on two links at once (multiple care-of
addresses, RFC 5648) and a flow bound to each (flow bindings, RFC 6089), in Debian's
kernel: the installed mip6d as home agent, the correspondent's UDP flows seen on each
foreign link.

The mobile router's side is a script: Binding Updates built and sent with the installed
package's codec and Mobility Header socket, as mip6d sends them (Home Address option
as ancillary data). mip6d's mobile router does not register several care-of addresses
yet; this test is the home agent's half."""

from __future__ import annotations

import json
from ipaddress import IPv6Address, IPv6Network

import pytest

from homeguy.lab import installed
from homeguy.lab.topology import Capture, Host, Topology
from testkit.mip6d_topology import (
    F1,
    F2,
    HA_ADDRESS,
    HA_CONTROL_SOCKET,
    build,
    ha_config,
    start_mip6d,
)

pytestmark = pytest.mark.lab

MR_HOA = IPv6Address("2001:db8:1::200")
MNP = IPv6Network("2001:db8:100:1::/64")
PORTS = (5001, 5002)

SEND_BU = """
import sys
from ipaddress import IPv6Address, IPv6Network
from mip6d.core.effects import SendMessage
from mip6d.shell.mhsocket import MhSocket
from mip6d.wire import mh

src, sequence, lifetime = IPv6Address(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
coa1, coa2 = IPv6Address(sys.argv[4]), IPv6Address(sys.argv[5])
flags = mh.BUFlag.A | mh.BUFlag.H | mh.BUFlag.R
if lifetime:  # both links, BID 1 preferred; UDP port 5002 bound to BID 2
    udp = mh.TrafficSelector6(destination_port=(5002, 5002), next_header=(17, 17))
    options = (mh.MobileNetworkPrefix(IPv6Network("{mnp}")),
               mh.BindingIdentifier(1, coa1, priority=1),
               mh.BindingIdentifier(2, coa2, priority=2),
               mh.FlowIdentification(1, 5, 0, (mh.BindingReference((2,)), udp)))
else:  # link 1 lost: its BID goes
    options = (mh.BindingIdentifier(1),)
bu = mh.BindingUpdate(sequence, lifetime, flags, options)
MhSocket().send(SendMessage(bu, src, IPv6Address("{ha}"), home_address_option=IPv6Address("{hoa}")))
""".replace("{mnp}", str(MNP)).replace("{ha}", str(HA_ADDRESS)).replace("{hoa}", str(MR_HOA))

SEND_UDP = """
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(5):
    for port in (5001, 5002):
        s.sendto(b"flow", (sys.argv[1], port))
    time.sleep(0.05)
"""


def ports_seen(capture: Capture) -> dict[int, int]:
    """Encapsulated UDP packets to the mobile router's home address, by port (not
    the ICMPv6 errors that quote them: the router's side has no tunnel)."""
    counts = dict.fromkeys(PORTS, 0)
    for packet in capture.fields(f"ipv6.dst == {MR_HOA} and udp and not icmpv6"):
        for port in PORTS:
            counts[port] += packet.get("udp.dstport", []).count(str(port))
    return counts


def flows_on_links(net: Topology, r: Host, cn: Host) -> tuple[dict[int, int], dict[int, int]]:
    captures = [net.capture(r, ifname, "ip6") for ifname in ("r-f1", "r-f2")]
    script = net.workdir / "udp.py"
    script.write_text(SEND_UDP)
    cn.run("python3", str(script), str(MR_HOA))
    first, second = (ports_seen(c) for c in captures)
    return first, second


def test_home_agent_steers_a_flow_per_care_of_address(net: Topology) -> None:
    """One bulk Binding Update registers the router's two care-of addresses and binds
    UDP port 5002 to the second: port 5001 goes through link 1 (the preferred binding),
    port 5002 through link 2. Link 1 lost and its BID deregistered, both flows go
    through link 2 with no new registration; mip6ctl shows the bindings per BID."""
    m = build(net)
    m.link(m.mn, "mn-f2", True)
    coa1 = m.mn.wait_address("mn-f1", within=F1)
    coa2 = m.mn.wait_address("mn-f2", within=F2)
    ha = start_mip6d(net, m.ha, "ha", ha_config(
        net.workdir, acl=f"BindingAclPolicy {MR_HOA} ({MNP}) allow;\n", default="deny"))
    script = net.workdir / "bu.py"
    script.write_text(SEND_BU)

    def send_bu(src: IPv6Address, sequence: int, lifetime: int) -> None:
        m.mn.run(*installed.argv("python3", str(script), str(src), str(sequence),
                                 str(lifetime), str(coa1), str(coa2)))

    send_bu(coa1, 1, 100)
    ha.wait_event("flow-bindings", home_address=str(MR_HOA), fids="1", timeout=60)
    first, second = flows_on_links(net, m.r, m.cn)
    assert (first[5001], first[5002], second[5001], second[5002]) == (5, 0, 0, 5), (
        first, second)

    m.link(m.mn, "mn-f1", False)
    send_bu(coa2, 2, 0)
    ha.wait_event("binding-removed", home_address=str(MR_HOA), bids="1", timeout=60)
    first, second = flows_on_links(net, m.r, m.cn)
    assert (first[5001], first[5002], second[5001], second[5002]) == (0, 0, 5, 5), (
        first, second)

    table = json.loads(m.ha.run(*installed.argv(
        "mip6ctl", "--socket", HA_CONTROL_SOCKET, "--json", "bindings")))
    assert [(b["bid"], b["care_of"], b["priority"]) for b in table] == [(2, str(coa2), 2)]
    rules = m.ha.run("ip", "-6", "rule", "show")
    assert "ipproto udp dport 5002 lookup 1000001" in rules, rules
    assert ha.stop() == 0
