"""A mobile router on two foreign links at once (multiple care-of addresses, RFC 5648)
with a flow bound to each (flow bindings, RFC 6089), in Debian's kernel: the installed
mip6d as home agent and as mobile router, the correspondent's UDP flows to a host behind
the router seen on each foreign link."""

from __future__ import annotations

import signal

import pytest

from homeguy.lab.topology import Capture, Host, Topology
from testkit.mip6d_topology import (
    F1,
    F2,
    FLOW_PORTS,
    HA_CONTROL_SOCKET,
    LAN_HOST,
    MNP,
    MR_HOA,
    build,
    control,
    ha_config,
    lan_behind_router,
    multihomed_mr_config,
    start_mip6d,
    wait_for,
)

pytestmark = pytest.mark.lab

MR_CONTROL_SOCKET = "/tmp/mip6d-mr.sock"  # mn_config's, for name "mr"

SEND_UDP = """
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(5):
    for port in (5001, 5002):
        s.sendto(b"flow", (sys.argv[1], port))
    time.sleep(0.05)
"""


def ports_seen(capture: Capture) -> dict[int, int]:
    """UDP packets to the host behind the router, by port (not the ICMPv6 errors that
    quote them)."""
    counts = dict.fromkeys(FLOW_PORTS, 0)
    for packet in capture.fields(f"ipv6.dst == {LAN_HOST} and udp and not icmpv6"):
        for port in FLOW_PORTS:
            counts[port] += packet.get("udp.dstport", []).count(str(port))
    return counts


def flows(net: Topology, hosts: dict[str, Host], cn: Host) -> list[dict[int, int]]:
    """The correspondent's two flows, counted on each of ``hosts``' interfaces."""
    captures = [net.capture(host, ifname, "ip6") for ifname, host in hosts.items()]
    script = net.workdir / "udp.py"
    script.write_text(SEND_UDP)
    cn.run("python3", str(script), str(LAN_HOST))
    return [ports_seen(c) for c in captures]


def test_mobile_router_on_two_links_with_a_flow_on_each(net: Topology) -> None:
    """mip6d's mobile router registers both care-of addresses in one Binding Update, by
    BID, with its two flows: port 5001 comes through link 1, port 5002 through link 2.
    Link 1 pulled, the router deregisters BID 1 only (no new registration) and both flows
    come through link 2 to the host behind it; mip6ctl shows the bindings per BID on
    both sides, and the home agent's metrics count them and the flows. Then the home
    agent stops accepting multiple care-of addresses (HaAcceptMultipleCoA disabled):
    link 1 back, the router's bulk Binding Update gets status 166, and it registers its
    preferred care-of address alone, which carries both flows."""
    m = build(net)
    lan = lan_behind_router(m)
    m.link(m.mn, "mn-f2", True)
    coa1 = m.mn.wait_address("mn-f1", within=F1)
    coa2 = m.mn.wait_address("mn-f2", within=F2)
    acl = f"BindingAclPolicy {MR_HOA} ({MNP}) allow;\n"
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir, acl=acl, default="deny"))
    mr = start_mip6d(net, m.mn, "mr", multihomed_mr_config(net.workdir, "mr", MR_HOA, MNP))

    def held() -> list[tuple[int | None, str, int]]:
        return sorted(((b["bid"], b["care_of"], b["priority"])
                       for b in control(m.ha, HA_CONTROL_SOCKET, "bindings")),
                      key=lambda b: (b[0] is not None, b))

    def gauges() -> tuple[int, int]:
        """The home agent's bid_bindings and flow_bindings metrics."""
        status = control(m.ha, HA_CONTROL_SOCKET, "status")
        return status["bid_bindings"], status["flow_bindings"]

    wait_for("both bindings", lambda: held() == [(1, str(coa1), 10), (2, str(coa2), 20)])
    ha.wait_event("flow-bindings", home_address=str(MR_HOA), after=0, timeout=60)
    link1, link2 = flows(net, {"r-f1": m.r, "r-f2": m.r}, m.cn)
    assert (link1[5001], link1[5002], link2[5001], link2[5002]) == (5, 0, 0, 5), (link1, link2)
    assert gauges() == (2, 2)

    mark = mr.mark()
    m.link(m.mn, "mn-f1", False)
    mr.wait_event("care-of-bindings-deregistered", bids="1", after=mark, timeout=60)
    wait_for("binding 1 gone", lambda: held() == [(2, str(coa2), 20)])
    link1, link2, behind = flows(net, {"r-f1": m.r, "r-f2": m.r, "lan-mn": lan}, m.cn)
    assert (link1[5001], link1[5002], link2[5001], link2[5002]) == (0, 0, 5, 5), (link1, link2)
    assert behind == {5001: 5, 5002: 5}, behind
    assert gauges() == (1, 2)  # both flows on the binding left
    sent = [r for r in mr.records()[mark:] if r.get("event") == "binding-update-sent"]
    assert sent and all(r["lifetime"] == 0 for r in sent), sent  # no new registration

    (entry,) = control(m.mn, MR_CONTROL_SOCKET, "bul")
    assert (entry["care_of"], entry["bindings"]) == (str(coa2), {"2": str(coa2)}), entry

    mark, ha_mark = mr.mark(), ha.mark()
    ha.config.write_text(ha_config(net.workdir, acl=acl + "HaAcceptMultipleCoA disabled;\n",
                                   default="deny"))
    ha.signal(signal.SIGHUP)
    ha.wait_event("reloaded", after=ha_mark)
    m.link(m.mn, "mn-f1", True)
    coa1 = m.mn.wait_address("mn-f1", within=F1)
    refused = ha.wait_event("sent", message="BindingAck", status=166, after=ha_mark,
                            timeout=60)
    mr.wait_event("multiple-care-of-prohibited", after=mark, timeout=60)
    mr.wait_event("binding-refreshed", care_of=str(coa1), after=mark, timeout=60)
    # (answered after the kernel changes that came with the acknowledgement)
    (entry,) = control(m.mn, MR_CONTROL_SOCKET, "bul")
    assert (entry["care_of"], entry["bindings"]) == (str(coa1), {}), (entry, refused)
    assert held() == [(None, str(coa1), 0)]
    assert gauges() == (0, 0)
    link1, link2 = flows(net, {"r-f1": m.r, "r-f2": m.r}, m.cn)
    assert (link1[5001], link1[5002], link2[5001], link2[5002]) == (5, 5, 0, 0), (link1, link2)
    assert mr.stop() == 0 and ha.stop() == 0
