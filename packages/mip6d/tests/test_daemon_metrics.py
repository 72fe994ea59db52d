"""The metrics of a real daemon: a home agent and a mobile node on the fakes of
:mod:`fakes` go through what operators count (registrations by status, handovers,
expiries, malformed packets, kernel failures, ...), and every counter and gauge they
report has its line in :data:`mip6d.metrics.METRICS`, while every line there is
reported by one of them."""

from __future__ import annotations

import errno
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from mip6d.core.effects import SendMessage
from mip6d.core.mobile import CareOfAddressAvailable, CareOfAddressGone
from mip6d.metrics import METRICS, scrape
from mip6d.shell.homeagent import HomeAgentPart
from mip6d.shell.icmpsocket import ReceivedIcmp
from mip6d.shell.mhsocket import MalformedPacket, Received
from mip6d.shell.mobile import MobilePart
from mip6d.wire import icmp6, mh

from testkit.mip6d_fakes import Rig, binding_update_from, rig

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
HOA, HOA2, HOA3 = (IPv6Address(f"2001:db8:1::{n}") for n in (10, 20, 30))
REFUSED = IPv6Address("2001:db8:1::99")
COA, COA2 = IPv6Address("2001:db8:a::5"), IPv6Address("2001:db8:b::5")
AH = mh.BUFlag.A | mh.BUFlag.H

HA_CONF = """\
NodeConfig HA;
Interface "eth0";
UseMnHaIPsec disabled;
DefaultBindingAclPolicy deny;
HaMaxBindingLife 120;
BindingAclPolicy 2001:db8:1::10 allow;
BindingAclPolicy 2001:db8:1::20 allow;
BindingAclPolicy 2001:db8:1::30 allow;
"""

MN_CONF = """\
NodeConfig MN;
Interface "eth1";
UseMnHaIPsec disabled;
MnHomeLink "eth0" {
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::10/64;
}
"""


def binding_update(home: IPv6Address, care_of: IPv6Address, sequence: int) -> Received:
    return binding_update_from(mh.BindingUpdate(sequence, 25, AH), home, care_of, HA)


def _broken(*args: object) -> object:
    raise RuntimeError("a bug")


def home_agent_through_its_paces(tmp_path: Path) -> Rig:
    r = rig(tmp_path, HA_CONF, [("eth0", "2001:db8:1::1/64")])
    r.daemon.start()
    # A mobile node looking for its home agent (dynamic home agent address discovery).
    r.receive_icmp(ReceivedIcmp("eth0", COA, IPv6Address("2001:db8:1::fdff:ffff:ffff:fffe"),
                                icmp6.DHAADRequest(7)))
    r.receive(
        binding_update(HOA, COA, 1),  # first registration: DAD, then accepted
        binding_update(HOA, COA2, 2),  # handover
        binding_update(HOA, COA2, 2),  # the same sequence number again
        binding_update(REFUSED, COA, 1),
        MalformedPacket("bad checksum"),
        Received(mh.BindingAck(mh.BAStatus.ACCEPTED, 1, 1), COA, HA),  # not for an HA
    )
    r.dad.duplicates.add(HOA2)
    r.receive(binding_update(HOA2, COA, 1))
    r.ipr.fail[("route", "replace")] = errno.ENOBUFS
    r.receive(binding_update(HOA3, COA, 1))  # no route: refused after all
    del r.ipr.fail[("route", "replace")]
    r.mh.refuse = OSError(errno.ENETUNREACH, "Network is unreachable")
    r.receive(binding_update(HOA, COA2, 3))
    r.mh.refuse = None
    r.receive(OSError(errno.EIO, "Input/output error"))
    assert isinstance(r.daemon.part, HomeAgentPart)
    ha = r.daemon.part.node
    ha.handle_binding_update = _broken  # type: ignore[method-assign]
    r.receive(binding_update(HOA, COA2, 4))
    del ha.handle_binding_update
    r.advance(101.0)  # HOA's binding lapses
    r.daemon.part.save_state()
    r.daemon.reload()
    r.config_path.write_text("NodeConfig HA;\nnonsense;\n")
    r.daemon.reload()
    r.dad.malformed = 1
    return r


def test_home_agent_counters(tmp_path: Path) -> None:
    counters = home_agent_through_its_paces(tmp_path).daemon.counters()
    assert {k: v for k, v in counters.items() if not k.startswith("kernel_")} == {
        "binding_updates_received/accepted": 3,
        "binding_updates_received/sequence-number-out-of-window": 1,
        "binding_updates_received/administratively-prohibited": 1,
        "binding_updates_received/dad-failed": 1,
        "binding_updates_received/insufficient-resources": 1,
        "duplicate_address_detections/unique": 2,
        "duplicate_address_detections/duplicate": 1,
        "handovers": 1,
        "bindings_expired": 1,
        "messages_received/binding-update": 8,
        "handler_failures/mh": 1,
        "messages_received/binding-ack": 1,
        "messages_ignored/binding-ack": 1,
        "messages_sent/binding-ack": 6,
        "icmp_messages_received/dhaad-request": 1,
        "icmp_messages_sent/dhaad-reply": 1,
        "message_send_failures/binding-ack": 1,
        "malformed_packets_dropped/mh": 1,
        "malformed_packets_dropped/nd": 1,
        "receive_failures": 1,
        "state_saves/ok": 1,
        "reloads/ok": 1,
        "reloads/failed": 1,
    }
    assert counters["kernel_failures/add-route"] == 1
    assert counters["kernel_changes/add-tunnel"] == 2  # the registration and the failed one


def mobile_node_through_its_paces(tmp_path: Path) -> Rig:
    r = rig(tmp_path, MN_CONF)
    part = r.daemon.part = MobilePart(r.daemon, initial_sequence=1)
    for moves in ((CareOfAddressAvailable(COA, "eth1"),),
                  (CareOfAddressGone(COA), CareOfAddressAvailable(COA2, "eth1"))):
        for move in moves:
            r.daemon.apply(part.node.handle_movement(move, r.now[0]))
        sent = r.mh.sent[-1]
        assert isinstance(sent.msg, mh.BindingUpdate)
        ack = mh.BindingAck(mh.BAStatus.ACCEPTED, sent.msg.sequence, 10)
        r.receive(Received(ack, HA, HOA, routing_header=HOA))
    r.receive(Received(mh.BindingAck(mh.BAStatus.NOT_HOME_SUBNET, 99, 0), HA, HOA))
    return r


def test_mobile_node_counters(tmp_path: Path) -> None:
    r = mobile_node_through_its_paces(tmp_path)
    assert [type(m.msg) for m in r.mh.sent] == [mh.BindingUpdate, mh.BindingUpdate]
    assert all(isinstance(m, SendMessage) for m in r.mh.sent)
    counters = r.daemon.counters()
    assert {k: v for k, v in counters.items() if k.startswith("kernel_")} == {
        "kernel_changes/add-tunnel": 1,  # then moved in place
        "kernel_changes/change-tunnel": 1,
        "kernel_changes/add-address": 1,
        "kernel_changes/add-route": 1,
        "kernel_changes/add-rule": 2,  # from the home address: its signalling, the rest
        "kernel_changes/add-unreachable-route": 1,  # the rest, until the tunnel's route
        # The home agent's direct traffic; per care-of address, the Mobile Prefix
        # Solicitations' Home Address option (a hao state, replaced, and an out policy).
        "kernel_changes/add-xfrm-policy": 3,
        "kernel_changes/add-xfrm-state": 4,
        "kernel_changes/remove-xfrm-state": 3,
    }
    assert {k: v for k, v in counters.items() if not k.startswith("kernel_")} == {
        "messages_sent/binding-update": 2,
        "messages_received/binding-ack": 3,
        "binding_acks_received/accepted": 2,
        "binding_acks_received/not-home-subnet": 1,
        "handovers": 1,
    }


def test_every_family_the_daemons_report_is_described_and_every_described_one_reported(
        tmp_path: Path) -> None:
    texts = [scrape(home_agent_through_its_paces(tmp_path / "ha").daemon),
             scrape(mobile_node_through_its_paces(tmp_path / "mn").daemon)]
    undescribed = [line for text in texts for line in text.splitlines()
                   if line.startswith("# HELP") and line.endswith("(no description)")]
    assert undescribed == []
    exposed = {line.split()[2] for text in texts for line in text.splitlines()
               if line.startswith("# TYPE")}
    assert exposed == {m.exposed for m in METRICS}


def test_gauges_of_a_home_agent(tmp_path: Path) -> None:
    r = rig(tmp_path, HA_CONF, [("eth0", "2001:db8:1::1/64")])
    r.daemon.start()
    r.receive(binding_update(HOA, COA, 1))
    gauges = [line for line in scrape(r.daemon).splitlines()
              if not line.startswith("#") and "_total" not in line]
    assert gauges == ["mip6d_bindings 1", "mip6d_mobile_router_bindings 0", "mip6d_tunnels 1",
                      "mip6d_bid_bindings 0", "mip6d_flow_bindings 0",
                      "mip6d_start_time_seconds 1000"]
