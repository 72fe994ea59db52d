"""Duplicate Address Detection of a home address on the home link (RFC 6275 section
10.3.1): a node on the home link that already holds the home address makes the home
agent refuse the first registration with status 134, and install nothing; once the
address is free, the registration goes through, DAD adding about RetransTimer (1 s)."""

from __future__ import annotations

import datetime

import pytest

from homeguy.lab.topology import Topology
from testkit.mip6d_topology import F1, HOA, build, ha_config, mn_config, start_mip6d

pytestmark = pytest.mark.lab


def _seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_dad_refuses_home_address_in_use(net: Topology) -> None:
    m = build(net)
    # The squatter takes the mobile node's home interface: it is on the home link.
    sq = net.host("sq")
    m.mn.run("ip", "link", "set", "mn-home", "netns", "sq")
    sq.run("ip", "link", "set", "mn-home", "up")
    sq.run("ip", "-6", "addr", "add", f"{HOA}/64", "dev", "mn-home", "nodad")
    m.mn.wait_address("mn-f1", within=F1)
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir))
    interfaces = ("mn-f1", "mn-f2")
    mn = start_mip6d(net, m.mn, "mn", mn_config(net.workdir, interfaces=interfaces))

    ack = mn.wait_event("received", message="BindingAck", timeout=30)
    assert ack["status"] == 134, ack
    refused = mn.wait_event("registration-refused", after=0)
    assert refused["status"] in ("DAD_FAILED", 134), refused
    done = ha.wait_event("dad-done", after=0, home_address=str(HOA))
    assert done["unique"] is False and done["seen"] == str(HOA), done
    assert "mip6t" not in m.ha.run("ip", "-6", "tunnel", "show")
    assert str(HOA) not in m.ha.run("ip", "-6", "neigh", "show", "proxy")
    assert str(HOA) not in m.ha.run("ip", "-6", "route", "show", "proto", "static")
    assert "mip6mn0" not in m.mn.run("ip", "link", "show")
    assert mn.stop() == 0

    # The squatter leaves: the same home address registers, DAD delaying the answer.
    sq.run("ip", "-6", "addr", "del", f"{HOA}/64", "dev", "mn-home")
    mark = ha.mark()
    mn = start_mip6d(net, m.mn, "mn2", mn_config(net.workdir, name="mn2", interfaces=interfaces))
    ack = mn.wait_event("received", message="BindingAck", timeout=30, after=0)
    assert ack["status"] == 0, ack
    bu = ha.wait_event("received", message="BindingUpdate", after=mark)
    sent = ha.wait_event("sent", message="BindingAck", after=mark)
    done = ha.wait_event("dad-done", after=mark, home_address=str(HOA))
    assert done["unique"] is True
    delay = _seconds(sent["ts"]) - _seconds(bu["ts"])
    print(f"first registration: Binding Update -> Acknowledgement in {delay:.3f} s "
          f"(DAD on the home link included)")
    assert 0.9 < delay < 3.0
    assert "mip6t" in m.ha.run("ip", "-6", "tunnel", "show")
    assert mn.stop() == 0 and ha.stop() == 0
