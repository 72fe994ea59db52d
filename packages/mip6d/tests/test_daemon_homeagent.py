"""A Binding Update through a real home agent daemon, in process: from the Mobility
Header socket through the core to its Binding Acknowledgement and the kernel state it
leaves (tunnel, routes, proxy neighbours), on the fake netlink of :mod:`fakes` that
keeps that state like the kernel. The same path under the real kernel is the lab's
``tests/lab/test_mip6d_register.py``."""

from __future__ import annotations

import errno
import json
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest
from mip6d.core.effects import SendMessage
from mip6d.wire import mh

from testkit.mip6d_fakes import Rig, binding_update_from, rig

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
HOA = IPv6Address("2001:db8:1::10")
MR = IPv6Address("2001:db8:1::20")
COA, COA2 = IPv6Address("2001:db8:a::5"), IPv6Address("2001:db8:b::5")
MNP = IPv6Network("2001:db8:100:1::/64")
AH = mh.BUFlag.A | mh.BUFlag.H
NO_FLAGS = mh.BAFlag(0)

CONF = """\
NodeConfig HA;
Interface "eth0";
UseMnHaIPsec disabled;
DefaultBindingAclPolicy deny;
HaAcceptMobRtr enabled;
HaMaxBindingLife 600;
BindingAclPolicy 2001:db8:1::10 allow;
BindingAclPolicy 2001:db8:1::20 (2001:db8:100:1::/64) allow;
"""


def home_agent(tmp_path: Path) -> Rig:
    r = rig(tmp_path, CONF, [("eth0", "2001:db8:1::1/64")])
    r.daemon.start()
    return r


def bu(sequence: int, lifetime: int = 25, flags: mh.BUFlag = AH,
       options: tuple[mh.MobilityOption, ...] = ()) -> mh.BindingUpdate:
    return mh.BindingUpdate(sequence, lifetime, flags, options)


def ack(status: mh.BAStatus, sequence: int, lifetime: int, care_of: IPv6Address,
        home: IPv6Address = HOA, flags: mh.BAFlag = NO_FLAGS) -> SendMessage:
    """The Binding Acknowledgement a home agent sends to a node away from home."""
    return SendMessage(mh.BindingAck(status, sequence, lifetime, flags), HA, care_of,
                       routing_header=home)


def test_start_prepares_the_kernel(tmp_path: Path) -> None:
    r = home_agent(tmp_path)
    sysctls = {str(p.relative_to(tmp_path / "sys")): p.read_text()
               for p in (tmp_path / "sys").rglob("*") if p.is_file()}
    assert sysctls == {"net/ipv6/conf/all/forwarding": "1\n",
                       "net/ipv6/conf/all/proxy_ndp": "1\n",
                       "net/ipv6/conf/eth0/proxy_ndp": "1\n"}
    assert [" ".join(line) for line in r.runner.lines] == [
        "ip xfrm policy update dir in src ::/0 dst ::/0 proto 135 type 5 priority 1000 "
        "tmpl proto hao mode ro level use",
        f"ip xfrm state add src :: dst {HA} proto hao spi 0 mode ro coa :: flag wildrecv",
    ]
    assert (r.ipr.tunnels, r.ipr.routes, r.ipr.neighbours) == ({}, {}, set())


def test_registration_handover_and_deregistration(tmp_path: Path) -> None:
    r = home_agent(tmp_path)
    r.receive(binding_update_from(bu(1), HOA, COA, HA))
    assert r.dad.started == [(HOA, "eth0")]
    assert r.mh.sent == [ack(mh.BAStatus.ACCEPTED, 1, 25, COA)]
    assert r.ipr.tunnels == {"mip6t0": (str(HA), str(COA))} and "mip6t0" in r.ipr.up
    assert r.ipr.route_table() == {IPv6Network(f"{HOA}/128"): "mip6t0"}
    assert r.ipr.proxies() == {(HOA, "eth0")}
    r.daemon.part.save_state()  # type: ignore[attr-defined]
    saved = json.loads((tmp_path / "bindings.json").read_text())
    assert [(b["home_address"], b["care_of"]) for b in saved["bindings"]] == [
        (str(HOA), str(COA))]

    # Handover: the same tunnel moves to the new care-of address, its route stays.
    r.receive(binding_update_from(bu(2), HOA, COA2, HA))
    assert r.mh.sent[-1] == ack(mh.BAStatus.ACCEPTED, 2, 25, COA2)
    assert r.ipr.tunnels == {"mip6t0": (str(HA), str(COA2))}
    assert r.ipr.route_table() == {IPv6Network(f"{HOA}/128"): "mip6t0"}
    assert [c[:2] for c in r.ipr.calls if c[0] == "route"] == [("route", "replace")]

    # The control socket's record: since when, the move's time, the tunnel's counters
    # (none while the kernel has none to give).
    r.now[0] += 5
    (record,) = r.daemon.bindings()
    assert (record["registered_at"], record["last_handover"], record["handovers"]) == (
        1000.0, 1000.0, 1)
    assert record["tunnel_traffic"] is None
    r.count_traffic("mip6t0", rx_bytes=416, rx_packets=4, tx_bytes=832, tx_packets=8)
    (record,) = r.daemon.bindings()
    assert record["tunnel_traffic"] == {"rx_bytes": 416, "rx_packets": 4, "tx_bytes": 832,
                                        "tx_packets": 8}

    # Deregistration: everything goes before the acknowledgement leaves.
    r.receive(binding_update_from(bu(3, lifetime=0), HOA, COA2, HA))
    assert r.mh.sent[-1] == ack(mh.BAStatus.ACCEPTED, 3, 0, COA2)
    assert (r.ipr.tunnels, r.ipr.routes, r.ipr.neighbours) == ({}, {}, set())
    assert r.daemon.bindings() == []


def test_mobile_router_gets_its_prefix_routed(tmp_path: Path) -> None:
    r = home_agent(tmp_path)
    options = (mh.MobileNetworkPrefix(MNP),)
    r.receive(binding_update_from(bu(1, flags=AH | mh.BUFlag.R, options=options), MR, COA, HA))
    assert r.mh.sent == [ack(mh.BAStatus.ACCEPTED, 1, 25, COA, MR, mh.BAFlag.R)]
    assert r.ipr.route_table() == {IPv6Network(f"{MR}/128"): "mip6t0", MNP: "mip6t0"}
    # A prefix it was not given is refused, and nothing changes.
    other = (mh.MobileNetworkPrefix(IPv6Network("2001:db8:100:2::/64")),)
    r.receive(binding_update_from(bu(2, flags=AH | mh.BUFlag.R, options=other), MR, COA, HA))
    assert r.mh.sent[-1] == ack(mh.BAStatus.NOT_AUTHORIZED_FOR_PREFIX, 2, 0, COA, MR)
    assert r.ipr.route_table() == {IPv6Network(f"{MR}/128"): "mip6t0", MNP: "mip6t0"}


def test_a_mobile_router_on_two_links_with_a_flow_on_each(tmp_path: Path) -> None:
    """RFC 5648 and RFC 6089 through the daemon: one bulk Binding Update registers two
    care-of addresses and binds UDP port 5001 to the second; the acknowledgement answers
    each BID and each flow; the kernel gets a tunnel per care-of address, the routes
    through the preferred one, the flow's table and rule; the metrics and the control
    socket count them per BID; deregistering the preferred BID moves the routes."""
    r = home_agent(tmp_path)
    udp = mh.TrafficSelector6(destination_port=(5001, 5001), next_header=(17, 17))
    bids = (mh.BindingIdentifier(1, COA, priority=1), mh.BindingIdentifier(2, COA2, priority=2))
    flow = mh.FlowIdentification(1, 5, 0, (mh.BindingReference((2,)), udp))
    r.receive(binding_update_from(bu(1, flags=AH | mh.BUFlag.R, options=(
        mh.MobileNetworkPrefix(MNP), *bids, flow)), MR, COA, HA))
    (sent,) = r.mh.sent
    assert sent.msg.options == (  # type: ignore[union-attr]
        *bids, mh.FlowIdentification(1, 5, mh.FlowIdentificationStatus.FLOW_BINDING_SUCCESSFUL))
    assert r.ipr.tunnels == {"mip6t0": (str(HA), str(COA)), "mip6t1": (str(HA), str(COA2))}
    assert {(dst, table): dev for (dst, _, table), dev in r.ipr.routes.items()} == {
        (str(MR), 254): "mip6t0", (str(MNP.network_address), 254): "mip6t0",
        (str(MR), 1000001): "mip6t1", (str(MNP.network_address), 1000001): "mip6t1"}
    assert {(rule[0], rule[1], rule[4], rule[6], rule[8]) for rule in r.ipr.rules} == {
        (12005, 1000001, str(MR), 17, "5001:5001"),
        (12005, 1000001, str(MNP.network_address), 17, "5001:5001")}
    status = r.daemon.status()
    assert (status["bindings"], status["bid_bindings"], status["flow_bindings"]) == (2, 2, 1)
    assert [(b["bid"], b["care_of"]) for b in r.daemon.bindings()] == [
        (1, str(COA)), (2, str(COA2))]
    r.receive(binding_update_from(bu(2, lifetime=0, flags=AH | mh.BUFlag.R, options=(
        mh.BindingIdentifier(1),)), MR, COA2, HA))
    assert r.ipr.tunnels == {"mip6t1": (str(HA), str(COA2))}
    assert {(dst, table): dev for (dst, _, table), dev in r.ipr.routes.items()} == {
        (str(MR), 254): "mip6t1", (str(MNP.network_address), 254): "mip6t1",
        (str(MR), 1000001): "mip6t1", (str(MNP.network_address), 1000001): "mip6t1"}


def test_a_kernel_failure_refuses_the_registration_and_leaves_nothing(tmp_path: Path) -> None:
    r = home_agent(tmp_path)
    r.ipr.fail[("neigh", "replace")] = errno.EPERM
    r.receive(binding_update_from(bu(1), HOA, COA, HA))
    assert r.mh.sent == [ack(mh.BAStatus.INSUFFICIENT_RESOURCES, 1, 0, COA)]
    assert (r.ipr.tunnels, r.ipr.routes, r.ipr.neighbours) == ({}, {}, set())
    assert r.daemon.bindings() == []


def test_shutdown_removes_what_the_daemon_installed_and_keeps_the_bindings(
        tmp_path: Path) -> None:
    r = home_agent(tmp_path)
    r.receive(binding_update_from(bu(1), HOA, COA, HA))
    r.runner.lines.clear()
    r.daemon.shutdown()
    assert (r.ipr.tunnels, r.ipr.routes, r.ipr.neighbours) == ({}, {}, set())
    # The binding's own policy and state (what the node sends directly), then the
    # wildcard state and policy.
    assert [" ".join(line[:4]) for line in r.runner.lines] == [
        "ip xfrm policy delete", "ip xfrm state delete",
        "ip xfrm state delete", "ip xfrm policy delete"]
    saved = json.loads((tmp_path / "bindings.json").read_text())
    assert [b["home_address"] for b in saved["bindings"]] == [str(HOA)]

    # A restart (after a reboot: a fresh kernel) installs the binding again.
    again = home_agent(tmp_path)
    assert again.ipr.tunnels == {"mip6t0": (str(HA), str(COA))}
    assert again.ipr.route_table() == {IPv6Network(f"{HOA}/128"): "mip6t0"}
    assert again.ipr.proxies() == {(HOA, "eth0")}


def test_a_restart_keeps_when_the_binding_moved(tmp_path: Path) -> None:
    r = home_agent(tmp_path)
    r.receive(binding_update_from(bu(1), HOA, COA, HA))
    r.now[0] += 30
    r.receive(binding_update_from(bu(2), HOA, COA2, HA))
    r.daemon.shutdown()
    again = home_agent(tmp_path)
    (record,) = again.daemon.bindings()
    assert (record["care_of"], record["registered_at"], record["last_handover"]) == (
        str(COA2), 1000.0, 1030.0)
