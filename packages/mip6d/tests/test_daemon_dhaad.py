"""Dynamic home agent address discovery through real daemons, in process, on the fakes of
:mod:`testkit.mip6d_fakes`: the home agent joins the home link's Home-Agents anycast
address, learns the other home agents from router advertisements and answers a DHAAD
Request; a mobile node with ``HomeAgentAddress ::`` asks, registers with the first home
agent of the Reply and falls back to the next when its Binding Updates go unanswered.
The same under the real kernel, with two home agents, is the lab's
``tests/lab/test_mip6d_dhaad.py``."""

from __future__ import annotations

import errno
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from mip6d.core.effects import SendIcmp
from mip6d.core.mobile import CareOfAddressAvailable
from mip6d.shell.icmpsocket import ReceivedIcmp
from mip6d.shell.mhsocket import Received
from mip6d.shell.mobile import MobilePart
from mip6d.wire import icmp6, mh
from mip6d.wire.icmp6 import (
    DHAADReply,
    DHAADRequest,
    HomeAgentInformation,
    PrefixFlag,
    PrefixInformation,
    RAFlag,
    RouterAdvertisement,
)

from testkit.mip6d_fakes import Rig, rig

pytestmark = pytest.mark.unit

HA, HA2 = IPv6Address("2001:db8:1::1"), IPv6Address("2001:db8:1::2")
HOA = IPv6Address("2001:db8:1::10")
ANYCAST = IPv6Address("2001:db8:1::fdff:ffff:ffff:fffe")
COA = IPv6Address("2001:db8:a::5")
OWN_LL, OTHER_LL = IPv6Address("fe80::1"), IPv6Address("fe80::2")

HA_CONF = """\
NodeConfig HA;
Interface "eth0";
UseMnHaIPsec disabled;
HaPreference 5;
"""

MN_CONF = """\
NodeConfig MN;
Interface "eth1";
UseMnHaIPsec disabled;
MnMaxHaConsecutiveResends 1;
MnHomeLink "eth0" {
    HomeAgentAddress ::;
    HomeAddress 2001:db8:1::10/64;
}
"""


def home_agent_ra(address: IPv6Address, preference: int) -> RouterAdvertisement:
    return RouterAdvertisement(64, RAFlag.H, 1800, options=(
        PrefixInformation(64, PrefixFlag.L | PrefixFlag.A | PrefixFlag.R, 86400, 14400,
                          address),
        HomeAgentInformation(preference, 1800)))


def home_agent(tmp_path: Path) -> Rig:
    r = rig(tmp_path, HA_CONF, [("eth0", "2001:db8:1::1/64", "fe80::1/64")])
    r.daemon.start()
    return r


def test_the_home_agent_answers_at_the_anycast_address_with_its_list(tmp_path: Path) -> None:
    r = home_agent(tmp_path)
    assert r.icmp.types == (icmp6.ICMPv6Type.ROUTER_ADVERTISEMENT,
                            icmp6.ICMPv6Type.DHAAD_REQUEST,
                            icmp6.ICMPv6Type.MOBILE_PREFIX_SOLICITATION)
    assert r.icmp.joined == [(ANYCAST, "eth0")]
    # Another home agent's advertisement enters the list; our own radvd's does not.
    r.receive_icmp(ReceivedIcmp("eth0", OTHER_LL, IPv6Address("ff02::1"),
                                home_agent_ra(HA2, 10)),
                   ReceivedIcmp("eth0", OWN_LL, IPv6Address("ff02::1"),
                                home_agent_ra(IPv6Address("2001:db8:1::99"), 99)))
    assert r.daemon.status()["home_agents"] == {"eth0": [str(HA2), str(HA)]}
    r.receive_icmp(ReceivedIcmp("eth0", COA, ANYCAST, DHAADRequest(0x1234)))
    assert r.icmp.sent == [SendIcmp(DHAADReply(0x1234, (HA2, HA)), HA, COA)]
    assert r.icmp.wire[0][:1] == bytes((145,)) and r.icmp.wire[0][4:8] == bytes.fromhex(
        "12340000")
    assert r.icmp.wire[0][8:] == HA2.packed + HA.packed
    # A request to another address (not this home link's) is not answered.
    r.receive_icmp(ReceivedIcmp("eth0", COA, HA, DHAADRequest(7)))
    assert len(r.icmp.sent) == 1
    counters = r.daemon.counters()
    assert counters["icmp_messages_received/dhaad-request"] == 2
    assert counters["icmp_messages_sent/dhaad-reply"] == 1
    # Lifetimes count: 1800 s later the other home agent is gone from the answer.
    r.now[0] += 1800
    assert r.daemon.status()["home_agents"] == {"eth0": [str(HA)]}


def test_a_home_agent_below_zero_serves_last(tmp_path: Path) -> None:
    """RFC 6275 7.4: the preference is signed; a negative one ranks below a default 0."""
    r = rig(tmp_path, HA_CONF.replace("HaPreference 5;", "HaPreference -7;"),
            [("eth0", "2001:db8:1::1/64", "fe80::1/64")])
    r.daemon.start()
    r.receive_icmp(ReceivedIcmp("eth0", OTHER_LL, IPv6Address("ff02::1"),
                                home_agent_ra(HA2, 0)))
    r.receive_icmp(ReceivedIcmp("eth0", COA, ANYCAST, DHAADRequest(1)))
    assert r.icmp.sent == [SendIcmp(DHAADReply(1, (HA2, HA)), HA, COA)]


def test_a_refused_anycast_join_leaves_the_home_agent_serving(tmp_path: Path) -> None:
    r = rig(tmp_path, HA_CONF, [("eth0", "2001:db8:1::1/64")])
    r.icmp.refuse_join = OSError(errno.EPERM, "Operation not permitted")
    r.daemon.start()
    assert r.icmp.joined == []
    r.receive(Received(mh.BindingUpdate(1, 25, mh.BUFlag.A | mh.BUFlag.H), COA, HA,
                       home_address=HOA))
    assert isinstance(r.mh.sent[-1].msg, mh.BindingAck)
    assert r.mh.sent[-1].msg.status == mh.BAStatus.ACCEPTED


def test_the_mobile_node_discovers_registers_and_falls_back(tmp_path: Path) -> None:
    r = rig(tmp_path, MN_CONF)
    part = r.daemon.part = MobilePart(r.daemon, initial_sequence=1)
    part.open_discovery()
    assert r.icmp.types == (icmp6.ICMPv6Type.DHAAD_REPLY,
                            icmp6.ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT)
    r.daemon.apply(part.node.handle_movement(CareOfAddressAvailable(COA, "eth1"), r.now[0]))
    (request,) = r.icmp.sent
    assert (request.src, request.dst) == (COA, ANYCAST)
    assert isinstance(request.msg, DHAADRequest) and r.mh.sent == []
    identifier = request.msg.identifier
    r.receive_icmp(ReceivedIcmp("eth1", HA, COA, DHAADReply(identifier, (HA, HA2))))
    bu = r.mh.sent[-1]
    assert (bu.src, bu.dst, bu.home_address_option) == (COA, HA, HOA)
    assert isinstance(bu.msg, mh.BindingUpdate)
    r.receive(Received(mh.BindingAck(mh.BAStatus.ACCEPTED, bu.msg.sequence, 10), HA, HOA,
                       routing_header=HOA))
    (record,) = r.daemon.binding_update_list()
    assert (record["home_agent"], record["state"]) == (str(HA), "registered")
    # The home agent goes silent: a Binding Update (the binding has lapsed when this
    # clock gets there: a new registration) and one resend go unanswered, then the node
    # registers with the other home agent of the Reply.
    for _ in range(3):
        r.advance(40.0)
    assert [m.dst for m in r.mh.sent[1:]] == [HA, HA, HA2]
    (record,) = r.daemon.binding_update_list()
    assert (record["home_agent"], record["state"]) == (str(HA2), "registering")
    counters = r.daemon.counters()
    assert counters["icmp_messages_sent/dhaad-request"] == 1
    assert counters["icmp_messages_received/dhaad-reply"] == 1
