"""A move the node's link does not show (RFC 6275 section 11.5.1): its one interface stays
up on a switch whose port is plugged from one access network's bridge into another's,
as the demonstration's guests move. Only the new router's advertisements tell. The
kernel still holds the default route via the old router, whose neighbour entry is
reachable: without mip6d removing that route, the first Binding Update from the new
care-of address leaves by a router that is no longer there and is lost, and the
handover waits for retransmissions until neighbour unreachability detection fails the
old router. With it, the first Binding Update is the one acknowledged.

    cn ---- ha ---- r ==(r-f1, r-f2)== sw [br-f1 | br-f2] ---- mn (mn-eth0)
            |
            +------ hl (the home link, 2001:db8:1::/64)
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from homeguy.lab.topology import Host, Topology
from testkit.mip6d_topology import (
    CN_NET,
    F1,
    F2,
    HOA,
    HOME,
    TRANSIT,
    Daemon,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
)

pytestmark = pytest.mark.lab

LINKS = {"f1": F1, "f2": F2}


def build(net: Topology) -> tuple[Host, Host, Host, Host]:
    """The drawing's namespaces, the mobile node plugged into foreign link 1: (ha, cn,
    sw, mn)."""
    ha, r = net.host("ha", forwarding=True), net.host("r", forwarding=True)
    cn, hl, sw, mn = net.host("cn"), net.host("hl"), net.host("sw"), net.host("mn")
    net.link(ha, r, a_ifname="ha-r", b_ifname="r-ha",
             a_address=f"{TRANSIT[1]}/64", b_address=f"{TRANSIT[2]}/64")
    net.link(cn, ha, a_ifname="cn-ha", b_ifname="ha-cn")
    net.link(hl, ha, a_ifname="hl-home", b_ifname="ha-home")
    for link in LINKS:
        bridge = f"br-{link}"
        sw.run("ip", "link", "add", bridge, "type", "bridge", "forward_delay", "0",
               "mcast_snooping", "0")
        sw.sysctl({f"net.ipv6.conf.{bridge}.disable_ipv6": 1})
        sw.run("ip", "link", "set", bridge, "up")
        net.link(r, sw, a_ifname=f"r-{link}", b_ifname=f"sw-r-{link}")
        sw.run("ip", "link", "set", f"sw-r-{link}", "master", bridge)
    net.link(mn, sw, a_ifname="mn-eth0", b_ifname="sw-mn")
    plug(sw, "f1")
    ha.run("ip", "-6", "route", "add", "default", "via", str(TRANSIT[2]))
    for prefix in (HOME, CN_NET):
        r.run("ip", "-6", "route", "add", str(prefix), "via", str(TRANSIT[1]))
    net.radvd(ha, {"ha-home": str(HOME), "ha-cn": str(CN_NET)},
              extra="AdvHomeAgentFlag on;\n  AdvHomeAgentInfo on;")
    net.radvd(r, {f"r-{link}": str(prefix) for link, prefix in LINKS.items()})
    cn.wait_address("cn-ha", within=CN_NET)
    return ha, cn, sw, mn


def plug(sw: Host, link: str) -> None:
    """The mobile node's switch port into ``link``'s bridge: its interface stays up."""
    sw.run("ip", "link", "set", "sw-mn", "master", f"br-{link}")


def default_router(mn: Host) -> str:
    """The link-local address of the mobile node's (first) default router."""
    route = mn.run("ip", "-6", "route", "show", "default", "dev", "mn-eth0")
    return route.split("via ", 1)[1].split()[0]


def move(sw: Host, mn: Host, daemon: Daemon, link: str) -> list[dict[str, object]]:
    """Plug the node into ``link`` (its old router's neighbour entry made reachable
    just before); the Binding Updates it sent from there until the acknowledgement."""
    old = default_router(mn)
    mn.run("ping", "-6", "-n", "-c", "1", "-W", "2", f"{old}%mn-eth0")
    mark = daemon.mark()
    plug(sw, link)
    prefix = LINKS[link]
    daemon.wait(lambda r: r.get("event") == "binding-refreshed"
                and IPv6Address(str(r["care_of"])) in prefix, 60, f"the binding from {link}",
                mark)
    records = daemon.records()[mark:daemon.seen]
    forgotten = [r for r in records if r.get("event") == "router-forgotten"]
    assert [(r["ifname"], r["router"]) for r in forgotten] == [("mn-eth0", old)], forgotten
    return [r for r in records if r.get("event") == "sent"
            and r.get("message") == "BindingUpdate" and IPv6Address(str(r["src"])) in prefix]


def test_the_first_binding_update_after_an_unseen_move_is_acknowledged(
        net: Topology) -> None:
    ha, cn, sw, mn = build(net)
    mn.wait_address("mn-eth0", within=F1)
    home_agent = start_mip6d(net, ha, "ha", ha_config(net.workdir))
    node = start_mip6d(net, mn, "mn", mn_config(net.workdir, interfaces=("mn-eth0",),
                                                home_link="mn-eth0"))
    node.wait_event("binding-registered", timeout=60, after=0)
    ping_until(cn, HOA)
    for link in ("f2", "f1"):
        updates = move(sw, mn, node, link)
        assert len(updates) == 1, f"to {link}: Binding Updates {updates}"
        ping_until(cn, HOA)
        # One default route is left: the new router's.
        routes = mn.run("ip", "-6", "route", "show", "default", "dev", "mn-eth0")
        assert routes.count("via") == 1, routes
    assert node.stop() == 0 and home_agent.stop() == 0
