"""The topology library: SLAAC from radvd across a router, ping, a decoded capture."""

from ipaddress import IPv6Network

import pytest

from homeguy.lab.topology import Topology

pytestmark = pytest.mark.lab

LEFT, RIGHT = IPv6Network("2001:db8:a::/64"), IPv6Network("2001:db8:b::/64")


def test_ping_across_router_with_slaac(net: Topology) -> None:
    router = net.host("r", forwarding=True)
    a, b = net.host("a"), net.host("b")
    a_if, r_a = net.link(a, router)
    b_if, r_b = net.link(b, router)
    net.radvd(router, {r_a: str(LEFT), r_b: str(RIGHT)})
    a_addr = a.wait_address(a_if, within=LEFT)
    b_addr = b.wait_address(b_if, within=RIGHT)
    # SLAAC: the interface identifier is derived, not configured (not ::1 like the router's).
    assert a_addr != LEFT[1] and b_addr != RIGHT[1]

    capture = net.capture(router, r_b, "icmp6")
    assert " 0% packet loss" in a.ping(b_addr, count=3)
    packets = capture.decode("icmpv6.type == 128")
    assert len(packets) == 3
    layers = packets[0]["_source"]["layers"]
    assert layers["ipv6"]["ipv6.src"] == str(a_addr)
    assert layers["ipv6"]["ipv6.dst"] == str(b_addr)
    assert layers["ipv6"]["ipv6.hlim"] == "63"  # one router on the way
    assert layers["icmpv6"]["icmpv6.type"] == "128"
    assert layers["icmpv6"]["icmpv6.checksum.status"] == "1"  # good
