"""ESP for everything tunnelled between mobile node and home agent (RFC 3776 section
4.4, ``IPsecPolicy TunnelPayload``): with the policy and its static keys, the
correspondent's pings to the home address cross the foreign link as ESP only; without
it, as plain IPv6-in-IPv6 with the ICMPv6 visible."""

from __future__ import annotations

from typing import Any

import pytest

from homeguy.lab.topology import Topology
from testkit.mip6d_topology import (
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


def _round(net: Topology, m: Any, name: str, payload: bool) -> list[dict[str, Any]]:
    acl = f"BindingAclPolicy {HOA} allow;"
    ha = start_mip6d(net, m.ha, f"ha-{name}",
                     static_keying(ha_config(net.workdir, acl=acl, default="deny"), payload))
    mn = start_mip6d(net, m.mn, f"mn-{name}", static_keying(mn_config(net.workdir, name=name),
                                                       payload))
    mn.wait_event("binding-registered", after=0, timeout=60)
    if payload:
        # The payload SAs follow the registered care-of address, so they are installed after
        # the BA; until both ends have them the tunnel is being re-keyed, not yet ESP.
        ha.wait_event("tunnel-ipsec-installed", after=0, timeout=60)
        mn.wait_event("tunnel-ipsec-installed", after=0, timeout=60)
    ping_until(m.cn, HOA)
    capture = net.capture(m.r, "r-f1", "ip6")
    assert " 0% packet loss" in m.cn.ping(HOA, count=5, interval=0.2)
    packets = capture.decode()
    if payload:
        states = m.ha.run("ip", "xfrm", "state")
        assert f"spi {PAYLOAD_UP:#010x}" in states and f"spi {PAYLOAD_DOWN:#010x}" in states, states
        policies = m.mn.run("ip", "xfrm", "policy")
        assert "proto 41" in policies or "proto ipv6" in policies, policies
    assert mn.stop() == 0 and ha.stop() == 0
    assert m.ha.run("ip", "xfrm", "state").strip() == ""
    assert m.mn.run("ip", "xfrm", "policy").strip() == ""
    return packets


def test_tunnel_payload_is_esp_on_the_foreign_link(net: Topology) -> None:
    m = build(net)
    plain = _round(net, m, "plain", payload=False)
    assert _echoes(plain) >= 10, "without TunnelPayload the pings cross in clear"
    assert not {PAYLOAD_UP, PAYLOAD_DOWN} & _spis(plain)

    protected_packets = _round(net, m, "esp", payload=True)
    spis = _spis(protected_packets)
    assert {PAYLOAD_UP, PAYLOAD_DOWN} <= spis, spis
    assert _echoes(protected_packets) == 0, "an ICMPv6 echo crossed the foreign link in clear"
    tunnelled = [p for p in protected_packets
                 if p["_source"]["layers"].get("ipv6", {}).get("ipv6.nxt") == "41"]
    assert tunnelled == [], "plain IPv6-in-IPv6 on the foreign link"
    print(f"foreign link: {len(plain)} packets without TunnelPayload ({_echoes(plain)} "
          f"echoes in clear); {len(protected_packets)} with it, ESP SPIs "
          f"{sorted(hex(s) for s in spis)}, no echo in clear; HA {HA_ADDRESS}")
