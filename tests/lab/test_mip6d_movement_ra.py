"""Movement detection from Router Advertisements (RFC 6275 section 11.5.1): the foreign
link's router renumbers it (a new prefix, the old one gone from the router) while the
mobile node's old care-of address stays configured for a day. Only the RAs say the old
address is useless; the mobile node re-registers from the new prefix within a couple of
RA intervals."""

from __future__ import annotations

import datetime
import time
from ipaddress import IPv6Address, IPv6Network

import pytest

from homeguy.lab.topology import Topology
from testkit.mip6d_topology import F1, HOA, build, ha_config, mn_config, ping_until, start_mip6d

pytestmark = pytest.mark.lab

F3 = IPv6Network("2001:db8:d::/64")


def _seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_router_advertisement_reveals_renumbered_link(net: Topology) -> None:
    m = build(net)
    coa1 = m.mn.wait_address("mn-f1", within=F1)
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir))
    mn = start_mip6d(net, m.mn, "mn", mn_config(net.workdir))
    mn.wait_event("binding-registered", after=0, timeout=30)
    ping_until(m.cn, HOA)

    # Renumber foreign link 1 from F1 to F3: the router's address and its RAs change;
    # the mobile node's address in F1 keeps its lifetimes (nothing deprecates it).
    conf = net.workdir / "radvd-r.conf"
    conf.write_text(conf.read_text().replace(str(F1), str(F3)))
    m.r.run("ip", "-6", "addr", "add", f"{F3[1]}/64", "dev", "r-f1", "nodad")
    m.r.run("ip", "-6", "addr", "del", f"{F1[1]}/64", "dev", "r-f1")
    mark = mn.mark()
    started = time.time()
    pid = (net.workdir / "radvd-r.pid").read_text().split()[0]
    m.r.run("kill", "-HUP", pid)
    refreshed = mn.wait(lambda r: r.get("event") == "binding-refreshed"
                        and IPv6Address(r["care_of"]) in F3,
                        timeout=30, what="registration from F3", after=mark)
    took = _seconds(refreshed["ts"]) - started
    gone = [r for r in mn.records()[mark:] if r.get("event") == "movement"
            and r.get("kind") == "CareOfAddressGone" and r.get("address") == str(coa1)]
    assert gone and gone[0]["source"] == "router-advertisement", gone
    # The old address is still there: the address events alone would not have moved.
    assert str(coa1) in m.mn.run("ip", "-6", "addr", "show", "dev", "mn-f1")
    reach = ping_until(m.cn, HOA)
    print(f"renumbered link: radvd reloaded -> new binding acknowledged in {took:.3f} s; "
          f"home address reachable again {reach:.2f} s later")
    assert took < 6
    assert mn.stop() == 0 and ha.stop() == 0


def test_silent_router_is_gone_after_three_advertisement_intervals(net: Topology) -> None:
    m = build(net)
    coa1 = m.mn.wait_address("mn-f1", within=F1)
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir))
    mn = start_mip6d(net, m.mn, "mn", mn_config(net.workdir))
    mn.wait_event("binding-registered", after=0, timeout=30)

    # The router dies without a goodbye (no RA with router lifetime 0): only the
    # missing RAs tell (radvd announces an Advertisement Interval of 1.5 s).
    mark = mn.mark()
    killed = time.time()
    m.r.run("kill", "-KILL", (net.workdir / "radvd-r.pid").read_text().split()[0])
    gone = mn.wait(lambda r: r.get("event") == "movement" and r.get("address") == str(coa1)
                   and r.get("kind") == "CareOfAddressGone", timeout=20,
                   what="care-of address gone", after=mark)
    assert gone["source"] == "router-silent", gone
    silent = _seconds(gone["ts"]) - killed
    assert str(coa1) in m.mn.run("ip", "-6", "addr", "show", "dev", "mn-f1")

    # The router comes back: its first RA brings the address back, the node registers.
    mark = mn.mark()
    back = time.time()
    m.r.spawn("radvd", "--nodaemon", "-C", str(net.workdir / "radvd-r.conf"),
              "-p", str(net.workdir / "radvd-r2.pid"), "-m", "stderr",
              log=net.workdir / "radvd-r2.log")
    refreshed = mn.wait(lambda r: r.get("event") == "binding-refreshed"
                        and r.get("care_of") == str(coa1), timeout=30,
                        what="registration again", after=mark)
    again = _seconds(refreshed["ts"]) - back
    print(f"silent router: care-of address dropped {silent:.2f} s after the router died "
          f"(3 x 1.5 s Advertisement Interval); registered again {again:.2f} s after it "
          f"came back")
    assert 2.5 < silent < 9.0
    ping_until(m.cn, HOA)
    assert mn.stop() == 0 and ha.stop() == 0
