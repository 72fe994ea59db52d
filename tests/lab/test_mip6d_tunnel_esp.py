"""ESP for everything tunnelled between mobile node and home agent (RFC 3776 section
4.4, ``IPsecPolicy TunnelPayload``): with the policy and its static keys, the
correspondent's pings to the home address cross the foreign links as ESP only, from the
first registration and through a handover; without it, as plain IPv6-in-IPv6 with the
ICMPv6 visible."""

from __future__ import annotations

from ipaddress import IPv6Address
from typing import Any

import pytest

from homeguy.lab.topology import Capture, Topology
from testkit.mip6d_topology import (
    F2,
    HA_ADDRESS,
    HOA,
    PAYLOAD_DOWN,
    PAYLOAD_UP,
    build,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
    static_keying,
)

pytestmark = pytest.mark.lab

def _echoes(packets: list[dict[str, Any]]) -> int:
    count = 0
    for packet in packets:
        icmp = packet["_source"]["layers"].get("icmpv6")
        for layer in icmp if isinstance(icmp, list) else [icmp] if icmp else []:
            if layer.get("icmpv6.type") in ("128", "129"):
                count += 1
    return count


def _spis(packets: list[dict[str, Any]]) -> set[int]:
    return {int(p["_source"]["layers"]["esp"]["esp.spi"], 0)
            for p in packets if "esp" in p["_source"]["layers"]}


# The tunnel in clear: two IPv6 headers in one packet. (The outer one may carry a
# Destination Options header first, the encapsulation limit; and tshark's JSON keeps one
# "ipv6" key per packet, the inner header's, so the check is tshark's own.)
TUNNELLED = "count(ipv6) > 1"


def _round(net: Topology, m: Any, name: str, payload: bool) -> dict[str, Capture]:
    """Register on foreign link 1 with the correspondent pinging the home address all
    along (with ``payload``, then hand over to foreign link 2): each foreign link's
    capture, from before the first registration."""
    links = ("r-f1", "r-f2") if payload else ("r-f1",)
    captures = {link: net.capture(m.r, link, "ip6") for link in links}
    pinging = m.cn.spawn("ping", "-6", "-n", "-i", "0.1", str(HOA))
    acl = f"BindingAclPolicy {HOA} allow;"
    ha = start_mip6d(net, m.ha, f"ha-{name}",
                     static_keying(ha_config(net.workdir, acl=acl, default="deny"), payload))
    mn = start_mip6d(net, m.mn, f"mn-{name}", static_keying(mn_config(net.workdir, name=name),
                                                       payload))
    mn.wait_event("binding-registered", after=0, timeout=60)
    if payload:
        # The payload SAs follow the registered care-of address: each end installs
        # them before it sets the tunnel.
        ha.wait_event("tunnel-ipsec-installed", after=0, timeout=60)
        mn.wait_event("tunnel-ipsec-installed", after=0, timeout=60)
    ping_until(m.cn, HOA)
    if payload:  # the handover: the tunnel moves, and only inside its new protection
        mark = mn.mark()
        m.move_mn("mn-f2")
        mn.wait(lambda r: r.get("event") == "binding-refreshed"
                and IPv6Address(r["care_of"]) in F2, 60, "the binding from link 2", mark)
        ping_until(m.cn, HOA)
    assert " 0% packet loss" in m.cn.ping(HOA, count=5, interval=0.2)
    pinging.terminate()
    pinging.wait(timeout=10)
    for capture in captures.values():
        capture.stop()
    if payload:
        states = m.ha.run("ip", "xfrm", "state")
        assert f"spi {PAYLOAD_UP:#010x}" in states and f"spi {PAYLOAD_DOWN:#010x}" in states, states
        policies = m.mn.run("ip", "xfrm", "policy")
        assert "proto 41" in policies or "proto ipv6" in policies, policies
        m.move_mn("mn-f1")
    assert mn.stop() == 0 and ha.stop() == 0
    assert m.ha.run("ip", "xfrm", "state").strip() == ""
    assert m.mn.run("ip", "xfrm", "policy").strip() == ""
    return captures


def test_tunnel_payload_is_esp_on_the_foreign_link(net: Topology) -> None:
    m = build(net)
    plain_capture = _round(net, m, "plain", payload=False)["r-f1"]
    plain = plain_capture.decode()
    assert _echoes(plain) >= 10, "without TunnelPayload the pings cross in clear"
    assert len(plain_capture.decode(TUNNELLED)) >= 10, "the tunnel in clear, seen as such"
    assert not {PAYLOAD_UP, PAYLOAD_DOWN} & _spis(plain)

    # From the first registration through a handover, on both foreign links: ESP only,
    # not one packet of the tunnel in clear while its protection follows the move.
    for link, capture in _round(net, m, "esp", payload=True).items():
        packets = capture.decode()
        spis = _spis(packets)
        assert {PAYLOAD_UP, PAYLOAD_DOWN} <= spis, (link, spis)
        assert capture.decode(TUNNELLED) == [], f"{link}: plain IPv6-in-IPv6"
        # Around it: not one echo in clear, not even one the home agent tunnelled
        # in the moment between the node's tunnel and the route through it (the
        # unreachable route refuses the answer, see the test below).
        direct = _echoes(packets)
        assert direct == 0, f"{link}: an ICMPv6 echo crossed in clear"
        print(f"{link}: {len(packets)} packets with TunnelPayload, ESP SPIs "
              f"{sorted(hex(s) for s in spis)}, none tunnelled in clear, {direct} echoes "
              "around the tunnel")
    print(f"without TunnelPayload: {len(plain)} packets ({_echoes(plain)} echoes in clear); "
          f"HA {HA_ADDRESS}")


# A packet that crossed the foreign link in clear from the home address: one IPv6 header
# (not tunnelled) whose source is the home address (not a care-of address whose Home
# Address option names it).
FROM_HOME_ADDRESS_IN_CLEAR = f"count(ipv6) == 1 && ipv6.src == {HOA}"


def test_the_home_address_is_refused_until_the_tunnel_carries_it(net: Topology) -> None:
    """Away, before its home agent answers, what the node sends from its home address is
    refused on the node ("No route to host"), never sent in clear on the foreign link,
    while its protected Binding Updates (from the home address, under ESP) still leave;
    once registered it goes through the tunnel; stopped, the node leaves no rule or
    route behind."""
    m = build(net)
    capture = net.capture(m.r, "r-f1", "ip6")
    mn = start_mip6d(net, m.mn, "mn-early", static_keying(mn_config(net.workdir, name="early")))
    mn.wait_event("binding-update-sent", after=0, timeout=60)
    assert "unreachable default" in m.mn.run("ip", "-6", "route", "show", "table", "252")
    route = m.mn.run("sh", "-c", f"ip -6 route get {m.cn_address} from {HOA} 2>&1",
                     check=False)
    assert "No route to host" in route, route + m.mn.run("ip", "-6", "rule", "show")
    early = m.mn.run("sh", "-c", f"ping -6 -n -c 1 -W 1 -I {HOA} {m.cn_address} 2>&1; "
                     "echo exit=$?", check=False)
    assert "exit=1" in early, early  # no answer (and, below, nothing sent in clear)

    ha = start_mip6d(net, m.ha, "ha-early", static_keying(ha_config(net.workdir)))
    mn.wait_event("binding-registered", after=0, timeout=60)
    after = m.mn.run("ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-I", str(HOA),
                     str(m.cn_address))
    assert " 0% packet loss" in after, after
    assert mn.stop() == 0 and ha.stop() == 0
    capture.stop()
    assert capture.decode(FROM_HOME_ADDRESS_IN_CLEAR) == []
    assert capture.decode("esp"), "the Binding Updates left under ESP"
    assert m.mn.run("ip", "-6", "route", "show", "table", "252").strip() == ""
    assert str(HOA) not in m.mn.run("ip", "-6", "rule", "show")
