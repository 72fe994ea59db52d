"""A mobile router (RFC 3963) with a host behind it, reachable from the correspondent
through the home agent, in implicit then explicit mode; then a configuration reload
that lets a second mobile node register while the mobile router stays registered."""

from __future__ import annotations

import signal
from ipaddress import IPv6Address, IPv6Network

import pytest

from homeguy.lab.topology import Topology
from testkit.mip6d_topology import build, ha_config, mn_config, ping_until, start_mip6d

pytestmark = pytest.mark.lab

MR_HOA = IPv6Address("2001:db8:1::200")
MNP = IPv6Network("2001:db8:100:1::/64")
LAN_HOST = IPv6Address("2001:db8:100:1::2")
MN2_HOA = IPv6Address("2001:db8:1::101")
MR_ACL = f"BindingAclPolicy {MR_HOA} ({MNP}) allow;\n"
MN2_ACL = f"BindingAclPolicy {MN2_HOA} allow;\n"


def test_mobile_router_modes_and_reload(net: Topology) -> None:
    m = build(net)
    lan = net.host("lan")
    net.link(m.mn, lan, a_ifname="mn-lan", b_ifname="lan-mn",
             a_address=f"{MNP[1]}/64", b_address=f"{LAN_HOST}/64")
    lan.run("ip", "-6", "route", "add", "default", "via", str(MNP[1]))
    mn2 = net.host("mn2")
    net.link(mn2, m.r, a_ifname="mn2-r", b_ifname="r-mn2",
             a_address="2001:db8:d::2/64", b_address="2001:db8:d::1/64")
    mn2.run("ip", "-6", "route", "add", "default", "via", "2001:db8:d::1")
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir, acl=MR_ACL, default="deny"))

    # (4) implicit mode (prefixes from the home agent's configuration), then explicit.
    mr = None
    for explicit in (False, True):
        name = "mr-explicit" if explicit else "mr-implicit"
        mr = start_mip6d(net, m.mn, name, mn_config(net.workdir, name=name, hoa=MR_HOA,
                                                    prefixes=(MNP,), explicit=explicit))
        mr.wait_event("binding-registered", after=0, timeout=30)
        added = ha.wait(lambda r: r.get("event") in ("binding-added", "binding-refreshed")
                        and r.get("home_address") == str(MR_HOA), after=ha.seen,
                        what="MR binding")
        assert added["prefixes"] == str(MNP), added
        assert added["mode"] == ("explicit" if explicit else "implicit"), added
        took = ping_until(m.cn, LAN_HOST)
        print(f"{name}: host behind the mobile router reachable after {took:.2f} s")
        assert " 0% packet loss" in m.cn.ping(LAN_HOST, count=3)
        if not explicit:
            assert mr.stop() == 0
            ha.wait_event("binding-removed", home_address=str(MR_HOA), after=ha.seen)
    assert mr is not None

    # (6) a second mobile node, refused, then allowed by a reload.
    mn2_conf = mn_config(net.workdir, name="mn2", hoa=MN2_HOA, interfaces=("mn2-r",),
                         home_link="mn2-r")
    second = start_mip6d(net, mn2, "mn2-refused", mn2_conf)
    refused = second.wait_event("received", message="BindingAck", after=0)
    assert refused["status"] == 129, refused
    second.wait_event("registration-refused", after=0)
    assert second.stop() == 0
    mr_sent = sum(1 for r in mr.records() if r.get("event") == "sent")
    mark = ha.mark()
    ha.config.write_text(ha_config(net.workdir, acl=MR_ACL + MN2_ACL, default="deny"))
    ha.signal(signal.SIGHUP)
    ha.wait_event("reloaded", after=mark)
    second = start_mip6d(net, mn2, "mn2", mn2_conf)
    second.wait_event("binding-registered", after=0)
    ping_until(m.cn, MN2_HOA)
    assert " 0% packet loss" in m.cn.ping(LAN_HOST, count=3)
    assert not [r for r in ha.records()[mark:] if r.get("event") == "binding-removed"]
    assert sum(1 for r in mr.records() if r.get("event") == "sent") == mr_sent
    assert second.stop() == 0 and mr.stop() == 0 and ha.stop() == 0
