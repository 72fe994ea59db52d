"""One home agent, two kinds of keying at once (issue #12, the 2007 demonstration): the
mobile node ``mn`` keyed by IKEv2 (real charon on both ends, its signalling and its
tunnel under ESP) and ``ms`` keyed statically (RFC 3776 keys for its signalling only,
its tunnel in clear), both registered with the same mip6d home agent, whose
configuration has ``KeyMngMobCapability enabled`` and one IPsecPolicySet per node.

    cn ---- ha ---- r ===== mn (mn-f1 on F1, mn-f2 on F2): IKEv2
            |         ===== ms (ms-f3 on F3, ms-f4 on F4): static keys
            +------ home (the home link, 2001:db8:1::/64)

Both register and carry the correspondent's pings; on the foreign links the IKE node's
pings are ESP only and the static node's are in clear inside ip6ip6. Then both move: the
home agent migrates the IKE SA of ``mn`` (K flag on both ends: MIGRATE, no new
IKE_SA_INIT) and nothing for ``ms``, whose static SAs stay; traffic resumes for both.
The pure parts: ``packages/mip6d/tests/test_mixed_keying.py``.
"""

from __future__ import annotations

import json
import re
import time
from ipaddress import IPv6Address, IPv6Network
from typing import Any

import pytest

from homeguy.lab.topology import Host, Topology
from testkit import strongswan_lab
from testkit.mip6d_ike import (
    VARIANT,
    esp_between,
    ike_sa_inits,
    layers,
    list_sas,
    protected,
    swanctl,
)
from testkit.mip6d_topology import (
    CN_NET,
    F1,
    F2,
    HA_ADDRESS,
    HOA,
    HOME,
    ROAMING_OFF,
    SOURCE_FROM_ROUTES,
    TRANSIT,
    Daemon,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
)
from testkit.strongswan_lab import Charon

pytestmark = pytest.mark.lab

F3, F4 = IPv6Network("2001:db8:e::/64"), IPv6Network("2001:db8:f::/64")
STATIC_HOA = IPv6Address("2001:db8:1::200")
# The static node's own reqids and SPIs: apart from the IKE node's (11, 13).
STATIC_SET = f"""
IPsecPolicySet {{
    HomeAgentAddress {HA_ADDRESS};
    HomeAddress {STATIC_HOA}/64;
    IPsecPolicy HomeRegBinding UseESP 21 22;
    StaticKey MnToHa 0x2021 21 {{
      Encryption aes-cbc 0x6e43216e03e5af3527f9780c6d2d2c76;
      Authentication hmac-sha256 0x938951ce5f434382417ebba459d5680c7f92bb973b175ec6e41865ee0ff5cf53;
    }}
    StaticKey HaToMn 0x2022 22 {{
      Encryption aes-cbc 0xb10873cfb90da723ac3aaac8db089131;
      Authentication hmac-sha256 0x2d89c17d904db2e55752d116385d1244c828508f324a14a1d0c1d4489cb628e1;
    }}
}}
"""


def topology(net: Topology) -> tuple[Host, Host, Host, Host, Host, IPv6Address]:
    """ha, r, cn, mn (IKEv2: mn-f1 up, mn-f2 down), ms (static: ms-f3 up, ms-f4 down) and
    the correspondent's address."""
    ha, r = net.host("ha", forwarding=True), net.host("r", forwarding=True)
    cn, home = net.host("cn"), net.host("home")
    mn, ms = net.host("mn"), net.host("ms")  # "mn": the credentials' host name for charon
    net.link(ha, r, a_ifname="ha-r", b_ifname="r-ha",
             a_address=f"{TRANSIT[1]}/64", b_address=f"{TRANSIT[2]}/64")
    net.link(cn, ha, a_ifname="cn-ha", b_ifname="ha-cn")
    net.link(home, ha, a_ifname="home-ha", b_ifname="ha-home")
    for node, ends in ((mn, ("mn-f1", "mn-f2")), (ms, ("ms-f3", "ms-f4"))):
        for ifname in ends:
            net.link(node, r, a_ifname=ifname, b_ifname="r-" + ifname.split("-")[1])
        node.run("ip", "link", "set", ends[1], "down")
    ha.run("ip", "-6", "route", "add", "default", "via", str(TRANSIT[2]))
    for prefix in (HOME, CN_NET):
        r.run("ip", "-6", "route", "add", str(prefix), "via", str(TRANSIT[1]))
    net.radvd(ha, {"ha-home": str(HOME), "ha-cn": str(CN_NET)},
              extra="AdvHomeAgentFlag on;\n  AdvHomeAgentInfo on;")
    net.radvd(r, {"r-f1": str(F1), "r-f2": str(F2), "r-f3": str(F3), "r-f4": str(F4)})
    return ha, r, cn, mn, ms, cn.wait_address("cn-ha", within=CN_NET)


def echoes(packets: list[dict[str, Any]]) -> int:
    """ICMPv6 echo requests and replies tshark saw in clear (also inside ip6ip6)."""
    return sum(1 for p in layers(packets)
               if re.search(r'"icmpv6.type": "12[89]"', json.dumps(p)))


def ping_from_home(host: Host, home: IPv6Address, to: IPv6Address,
                   timeout: float = 60) -> None:
    """Ping ``to`` from the home address (through the tunnel) until an answer: with
    TunnelPayload the mobile node's first tunnelled packet raises the acquire (the home
    agent's charon, a responder, cannot start the tunnel's CHILD_SA)."""
    deadline = time.monotonic() + timeout
    while " 0% packet loss" not in host.run("ping", "-6", "-n", "-c", "1", "-W", "1", "-I",
                                            str(home), str(to), check=False):
        assert time.monotonic() < deadline, f"{host.name}: no answer through the tunnel"


def moved(daemon: Daemon, care_of: IPv6Address, after: int) -> None:
    daemon.wait(lambda r: r.get("event") == "binding-refreshed"
                and r.get("care_of") == str(care_of),
                timeout=60, what=f"registration from {care_of}", after=after)


def test_one_home_agent_serves_an_ike_node_and_a_static_node(net: Topology) -> None:
    ha_host, r, cn, mn_host, ms_host, cn_address = topology(net)
    coa1 = mn_host.wait_address("mn-f1", within=F1)
    coa3 = ms_host.wait_address("ms-f3", within=F3)

    # charon on the home agent and on the IKE node only; mip6d on all three.
    credentials = strongswan_lab.make_credentials(net, mn_host, VARIANT,
                                                  {"mn": "mn.lab", "ha": "ha.lab"})
    ha_ike, mn_ike = Charon(net, ha_host, VARIANT, "ha.lab"), Charon(net, mn_host, VARIANT,
                                                                      "mn.lab")
    for charon, mn_side in ((ha_ike, False), (mn_ike, True)):
        charon.start(credentials, swanctl(mn_side, payload=True), ROAMING_OFF,
                     SOURCE_FROM_ROUTES, install_routes=True)
    acl = f"BindingAclPolicy {HOA} allow;\nBindingAclPolicy {STATIC_HOA} allow;"
    ha_text = protected(ha_config(net.workdir, acl=acl, default="deny"), payload=True)
    ha = start_mip6d(net, ha_host, "ha", ha_text + STATIC_SET)
    mn = start_mip6d(net, mn_host, "mn", protected(mn_config(
        net.workdir, interfaces=("mn-f1", "mn-f2"), home_link="mn-f1"), payload=True))
    ms = start_mip6d(net, ms_host, "ms", mn_config(
        net.workdir, name="ms", hoa=STATIC_HOA, interfaces=("ms-f3", "ms-f4"),
        home_link="ms-f3").replace("UseMnHaIPsec disabled;",
                                   "UseMnHaIPsec enabled;\n" + STATIC_SET))
    assert "spi 0x00002021" in ha_host.run("ip", "xfrm", "state")  # mip6d's, static

    # (1) Both register with the one home agent: status 0, each under its own keying.
    for node in (mn, ms):
        ack = node.wait_event("received", message="BindingAck", after=0, timeout=90)
        assert ack["status"] == 0, (node.name, ack)
        node.wait_event("binding-registered", after=0, timeout=60)
    for home in (HOA, STATIC_HOA):
        ha.wait_event("binding-added", after=0, home_address=str(home))
    assert "ESTABLISHED" in (sas := list_sas(mn_ike)) and "INSTALLED" in sas, sas
    assert ike_sa_inits(mn_ike) == 1
    ms_states = ms_host.run("ip", "xfrm", "state")
    assert "spi 0x00002021" in ms_states and "spi 0x00002022" in ms_states, ms_states

    # (2) Both carry the correspondent's traffic; on the foreign links the IKE node's
    # tunnel is ESP only, the static node's (signalling only) is in clear.
    ha.wait_event("tunnel-ipsec-installed", after=0, timeout=60)
    mn.wait_event("tunnel-ipsec-installed", after=0, timeout=60)
    ping_from_home(mn_host, HOA, cn_address)
    ping_until(cn, HOA, timeout=60)
    ping_until(cn, STATIC_HOA, timeout=60)
    captures = {"mn": net.capture(r, "r-f1", "ip6"), "ms": net.capture(r, "r-f3", "ip6")}
    for home in (HOA, STATIC_HOA):
        assert " 0% packet loss" in cn.ping(home, count=5, interval=0.2), home
    ike_packets, static_packets = captures["mn"].decode(), captures["ms"].decode()
    assert echoes(ike_packets) == 0, "an echo to the IKE node crossed F1 in clear"
    assert esp_between(ike_packets, HA_ADDRESS, coa1) >= 5
    # 5 requests and 5 replies readable on F3: the static node protects signalling only
    assert echoes(static_packets) >= 10, "the static node's echoes were not in clear"

    # (3) Both move. The IKE node's SA follows it (MIGRATE on both ends, no new
    # IKE_SA_INIT); the home agent migrates nothing for the static node.
    marks = {d.name: d.mark() for d in (mn, ms, ha)}
    mn_host.run("ip", "link", "set", "mn-f2", "up")
    ms_host.run("ip", "link", "set", "ms-f4", "up")
    coa2 = mn_host.wait_address("mn-f2", within=F2)
    coa4 = ms_host.wait_address("ms-f4", within=F4)
    mn_host.run("ip", "link", "set", "mn-f1", "down")
    ms_host.run("ip", "link", "set", "ms-f3", "down")
    moved(mn, coa2, marks["mn"])
    moved(ms, coa4, marks["ms"])
    mn.wait_event("keying-migrated", after=marks["mn"], new_care_of=str(coa2))
    ha.wait_event("keying-migrated", after=marks["ha"], home_address=str(HOA))
    ping_until(cn, STATIC_HOA, timeout=60)
    migrated = [rec.get("home_address") for rec in ha.records()[marks["ha"]:]
                if rec.get("event") == "keying-migrated"]
    assert migrated == [str(HOA)], migrated
    assert not any(rec.get("event") == "keying-migrated" for rec in ms.records())
    assert f"@ {coa2}[" in list_sas(ha_ike)
    assert ike_sa_inits(mn_ike) == 1, "a new IKE_SA_INIT after the handover"
    assert "spi 0x00002021" in ha_host.run("ip", "xfrm", "state")
    print(f"mixed keying: {HOA} IKEv2 {coa1} -> {coa2}, {STATIC_HOA} static {coa3} -> {coa4}")
    # The IKE node's tunnel payload too: charon moved its CHILD_SA's SAs (issue #14),
    # and the echoes still cross the new foreign link as ESP only.
    ping_until(cn, HOA, timeout=30)
    capture = net.capture(r, "r-f2", "ip6")
    assert " 0% packet loss" in cn.ping(HOA, count=5, interval=0.2)
    ike_packets = capture.decode()
    assert echoes(ike_packets) == 0, "an echo to the IKE node crossed F2 in clear"
    assert esp_between(ike_packets, HA_ADDRESS, coa2) >= 5
    for daemon in (mn, ms, ha):
        assert daemon.stop() == 0, daemon.name
