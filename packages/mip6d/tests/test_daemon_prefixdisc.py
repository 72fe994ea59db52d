"""Mobile Prefix Discovery through a real home agent daemon, in process, on the fakes of
:mod:`testkit.mip6d_fakes`, and the ICMPv6 socket's side of it: a registered mobile node
solicits from its care-of address with a Home Address option and gets the home link's
prefixes back through a type 2 routing header (RFC 6275 sections 6.7, 6.8, 10.6)."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path

import pytest
from mip6d.core.effects import SendIcmp
from mip6d.core.mobile import CareOfAddressAvailable, CareOfAddressGone, HomeLinkDetected
from mip6d.shell.icmpsocket import IcmpSocket, ReceivedIcmp, encode_send
from mip6d.shell.mhsocket import Received
from mip6d.shell.mobile import MobilePart
from mip6d.wire import exthdr, icmp6, mh
from mip6d.wire.icmp6 import (
    MobilePrefixAdvertisement,
    MobilePrefixSolicitation,
    MPAFlag,
    PrefixFlag,
    PrefixInformation,
    RouterAdvertisement,
    UnknownNDOption,
)

from testkit.mip6d_fakes import Rig, rig

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
HOA = IPv6Address("2001:db8:1::10")
COA = IPv6Address("2001:db8:a::5")
OWN_LL = IPv6Address("fe80::1")
LA = PrefixFlag.L | PrefixFlag.A

HA_CONF = """\
NodeConfig HA;
Interface "eth0";
UseMnHaIPsec disabled;
"""


def registered(tmp_path: Path, conf: str = HA_CONF) -> Rig:
    r = rig(tmp_path, conf, [("eth0", "2001:db8:1::1/64", "fe80::1/64"),
                             ("eth1", "2001:db8:f::1/64")])
    r.daemon.start()
    r.receive(Received(mh.BindingUpdate(1, 25, mh.BUFlag.A | mh.BUFlag.H), COA, HA,
                       home_address=HOA))
    (ba,) = r.mh.sent
    assert isinstance(ba.msg, mh.BindingAck) and ba.msg.status == mh.BAStatus.ACCEPTED
    return r


def solicitation(identifier: int = 0x1234, **kwargs: object) -> ReceivedIcmp:
    return ReceivedIcmp("eth1", COA, HA, MobilePrefixSolicitation(identifier),
                        home_address=HOA, **kwargs)  # type: ignore[arg-type]


def test_a_registered_node_gets_the_prefixes_of_its_home_link(tmp_path: Path) -> None:
    r = registered(tmp_path)
    assert icmp6.ICMPv6Type.MOBILE_PREFIX_SOLICITATION in r.icmp.types
    # Our own radvd's advertisement on the home link gives the lifetimes.
    r.receive_icmp(ReceivedIcmp("eth0", OWN_LL, IPv6Address("ff02::1"), RouterAdvertisement(
        64, router_lifetime=1800, options=(
            PrefixInformation(64, LA | PrefixFlag.R, 86400, 14400, HA),))))
    r.now[0] += 10
    r.receive_icmp(solicitation())
    expected = MobilePrefixAdvertisement(0x1234, MPAFlag(0), (
        PrefixInformation(64, LA, 86390, 14390, IPv6Address("2001:db8:1::")),))
    assert r.icmp.sent == [SendIcmp(expected, HA, COA, routing_header=HOA)]
    # The octets (RFC 6275 section 6.8, RFC 4861 section 4.6.2), checksummed over the
    # home agent address and the home address (the final destination).
    (wire,) = r.icmp.wire
    assert wire[:2] == bytes((147, 0))
    assert wire[4:8] == bytes.fromhex("12340000")
    assert wire[8:] == bytes((3, 4, 64, 0xC0)) + struct.pack("!II", 86390, 14390) + bytes(4) \
        + IPv6Address("2001:db8:1::").packed
    assert icmp6.decode(wire, HA, HOA) == expected
    counters = r.daemon.counters()
    assert counters["icmp_messages_received/mobile-prefix-solicitation"] == 1
    assert counters["icmp_messages_sent/mobile-prefix-advertisement"] == 1


def test_without_an_advertisement_the_own_prefix_is_advertised_forever(tmp_path: Path) -> None:
    r = registered(tmp_path)
    r.receive_icmp(solicitation(7))
    (sent,) = r.icmp.sent
    assert sent.msg == MobilePrefixAdvertisement(7, MPAFlag(0), (PrefixInformation(
        64, LA, 0xFFFFFFFF, 0xFFFFFFFF, IPv6Address("2001:db8:1::")),))


@pytest.mark.parametrize("received", [
    ReceivedIcmp("eth1", COA, HA, MobilePrefixSolicitation(1)),  # no Home Address option
    ReceivedIcmp("eth1", COA, HA, MobilePrefixSolicitation(1),
                 home_address=IPv6Address("2001:db8:1::77")),  # not registered
    ReceivedIcmp("eth1", IPv6Address("2001:db8:b::9"), HA, MobilePrefixSolicitation(1),
                 home_address=HOA),  # another care-of address
])
def test_other_solicitations_go_unanswered(tmp_path: Path, received: ReceivedIcmp) -> None:
    r = registered(tmp_path)
    r.receive_icmp(received)
    assert r.icmp.sent == []
    assert r.daemon.counters()["icmp_messages_received/mobile-prefix-solicitation"] == 1


def home_ra(*prefixes: PrefixInformation) -> ReceivedIcmp:
    return ReceivedIcmp("eth0", OWN_LL, IPv6Address("ff02::1"), RouterAdvertisement(
        64, router_lifetime=1800, options=prefixes))


OLD_PIO = PrefixInformation(64, LA, 86400, 14400, IPv6Address("2001:db8:1::"))
NEW_PIO = PrefixInformation(64, LA, 86400, 14400, IPv6Address("2001:db8:2::"))


def test_renumbering_the_home_link_reaches_the_bindings_unsolicited(tmp_path: Path) -> None:
    r = registered(tmp_path, HA_CONF + "MinMobPfxAdvInterval 2;\nMaxMobPfxAdvInterval 2;\n")
    r.receive_icmp(home_ra(OLD_PIO))  # what the prefixes are: no change
    r.receive_icmp(home_ra(OLD_PIO))
    r.advance(5)
    assert r.icmp.sent == []
    r.receive_icmp(home_ra(PrefixInformation(64, LA, 0, 0, IPv6Address("2001:db8:1::")),
                           NEW_PIO))
    r.advance(1)
    assert r.icmp.sent == []  # not before MinMobPfxAdvInterval
    r.receive_icmp(home_ra(NEW_PIO))  # the same again: still one pending
    r.advance(1)
    (sent,) = r.icmp.sent
    assert (sent.src, sent.dst, sent.routing_header) == (HA, COA, HOA)
    assert sent.msg == MobilePrefixAdvertisement(0, MPAFlag(0), (
        PrefixInformation(64, LA, 86399, 14399, IPv6Address("2001:db8:2::")),))


def test_an_unsolicited_advertisement_is_sent_again_until_the_node_answers(
        tmp_path: Path) -> None:
    """Sent again after 3 s, then 6 s and 12 s (PREFIX_ADV_TIMEOUT, PREFIX_ADV_RETRIES)
    while the node neither registers nor solicits; its next Binding Update stops them."""
    r = registered(tmp_path, HA_CONF + "MinMobPfxAdvInterval 2;\nMaxMobPfxAdvInterval 2;\n")
    r.receive_icmp(home_ra(OLD_PIO))
    r.receive_icmp(home_ra(PrefixInformation(64, LA, 0, 0, IPv6Address("2001:db8:1::")),
                           NEW_PIO))
    for seconds, sent in ((2, 1), (3, 2), (6, 3), (12, 4), (24, 4)):
        r.advance(seconds)
        assert len(r.icmp.sent) == sent, (seconds, r.icmp.sent)
    assert [m.msg.identifier for m in r.icmp.sent] == [0, 1, 2, 3]  # type: ignore[union-attr]

    r.receive_icmp(home_ra(OLD_PIO))  # back: a new round
    r.advance(2)
    assert len(r.icmp.sent) == 5
    r.receive(Received(mh.BindingUpdate(2, 25, mh.BUFlag.A | mh.BUFlag.H), COA, HA,
                       home_address=HOA))
    r.advance(30)
    assert len(r.icmp.sent) == 5  # the Binding Update acknowledged it


def test_the_new_prefix_of_a_renumbered_home_link_is_served(tmp_path: Path) -> None:
    r = registered(tmp_path)
    new_hoa = IPv6Address("2001:db8:2::10")
    bu = mh.BindingUpdate(1, 25, mh.BUFlag.A | mh.BUFlag.H)
    r.receive(Received(bu, COA, HA, home_address=new_hoa))
    assert r.mh.sent[-1].msg.status == mh.BAStatus.NOT_HOME_SUBNET  # type: ignore[union-attr]
    r.receive_icmp(home_ra(OLD_PIO))
    r.receive_icmp(home_ra(PrefixInformation(64, LA, 0, 0, IPv6Address("2001:db8:1::")),
                           NEW_PIO))
    r.receive(Received(mh.BindingUpdate(2, 25, mh.BUFlag.A | mh.BUFlag.H), COA, HA,
                       home_address=new_hoa))
    ba = r.mh.sent[-1]
    assert (ba.dst, ba.routing_header) == (COA, new_hoa)
    assert ba.msg.status == mh.BAStatus.ACCEPTED  # type: ignore[union-attr]
    assert {b["home_address"] for b in r.daemon.bindings()} == {str(HOA), str(new_hoa)}


def test_send_unsol_mob_pfx_advs_disabled_waits_for_solicitations(tmp_path: Path) -> None:
    r = registered(tmp_path, HA_CONF + "SendUnsolMobPfxAdvs disabled;\n"
                   "MinMobPfxAdvInterval 2;\nMaxMobPfxAdvInterval 2;\n")
    r.receive_icmp(home_ra(OLD_PIO))
    r.receive_icmp(home_ra(NEW_PIO))
    r.advance(10)
    assert r.icmp.sent == []


def test_send_mob_pfx_advs_disabled_answers_nothing(tmp_path: Path) -> None:
    r = registered(tmp_path, HA_CONF + "SendMobPfxAdvs disabled;\n")
    r.receive_icmp(solicitation())
    assert r.icmp.sent == []


def test_unknown_options_in_a_solicitation_are_no_obstacle(tmp_path: Path) -> None:
    r = registered(tmp_path)
    r.receive_icmp(ReceivedIcmp("eth1", COA, HA, MobilePrefixSolicitation(
        9, (UnknownNDOption(200, bytes(6)),)), home_address=HOA))
    assert [s.msg.identifier for s in r.icmp.sent] == [9]  # type: ignore[union-attr]


# -- the socket ---------------------------------------------------------------------------


def test_an_advertisement_leaves_with_a_type_2_routing_header() -> None:
    msg = MobilePrefixAdvertisement(5, MPAFlag(0), ())
    data, ancillary, destination = encode_send(SendIcmp(msg, HA, COA, routing_header=HOA))
    # RFC 3542: the socket's destination is the final one, the header lists the hop.
    assert destination == HOA
    assert ancillary == [
        (socket.IPPROTO_IPV6, socket.IPV6_RTHDR, exthdr.type2_routing_header(COA)),
        (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, HA.packed + bytes(4)),
    ]
    assert data == icmp6.encode(msg, HA, HOA) != icmp6.encode(msg, HA, COA)


def test_a_solicitation_leaves_with_a_home_address_option() -> None:
    msg = MobilePrefixSolicitation(5)
    data, ancillary, destination = encode_send(SendIcmp(msg, COA, HA,
                                                        home_address_option=HOA))
    assert destination == HA
    assert ancillary[0] == (socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS,
                            exthdr.home_address_option(HOA))
    assert ancillary[1] == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, COA.packed + bytes(4))
    assert data == icmp6.encode(msg, HOA, HA)


class _Raw:
    """What ``recvmsg`` hands out, one packet at a time, then ``BlockingIOError``."""

    def __init__(self, packets: list[tuple[bytes, list[tuple[int, int, bytes]], str]]):
        self.packets = packets

    def recvmsg(self, size: int, ancillary_size: int
                ) -> tuple[bytes, list[tuple[int, int, bytes]], int, tuple[str, int, int, int]]:
        if not self.packets:
            raise BlockingIOError
        data, ancillary, peer = self.packets.pop(0)
        return data, ancillary, 0, (peer, 0, 0, 0)


def _pktinfo(dst: IPv6Address) -> tuple[int, int, bytes]:
    return (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, dst.packed + struct.pack("=I", 3))


def test_a_solicitation_with_a_home_address_option_is_read_as_it_was_sent() -> None:
    """The kernel hands the packet over with the home address as source and the care-of
    address in the option (its swap); the socket swaps back. Garbage is counted."""
    mps = icmp6.encode(MobilePrefixSolicitation(0xAB), HOA, HA)  # checksum: home address
    hao = (socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, exthdr.home_address_option(COA))
    icmp = IcmpSocket.__new__(IcmpSocket)
    icmp.names, icmp.malformed = (lambda index: "eth1"), 0
    icmp.sock = _Raw([  # type: ignore[assignment]
        (mps, [_pktinfo(HA), hao], str(HOA)),
        (mps[:-1], [_pktinfo(HA), hao], str(HOA)),  # truncated
        (mps, [_pktinfo(HA), (socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, b"\x00\x05")],
         str(HOA)),  # a broken options header
        (mps, [_pktinfo(HA)], str(COA)),  # no option: the checksum was over the home address
    ])
    assert icmp.read() == [ReceivedIcmp("eth1", COA, HA, MobilePrefixSolicitation(0xAB),
                                        home_address=HOA)]
    assert icmp.malformed == 3


# -- the mobile node ----------------------------------------------------------------------

MN_CONF = """\
NodeConfig MN;
Interface "eth1";
UseMnHaIPsec disabled;
MnHomeLink "eth0" {
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::10/64;
}
"""


def mobile_node(tmp_path: Path, conf: str = MN_CONF) -> tuple[Rig, MobilePart]:
    r = rig(tmp_path, conf)
    part = r.daemon.part = MobilePart(r.daemon, initial_sequence=1)
    part.open_discovery()
    r.daemon.apply(part.node.handle_movement(CareOfAddressAvailable(COA, "eth1"), r.now[0]))
    bu = r.mh.sent[-1]
    assert isinstance(bu.msg, mh.BindingUpdate)
    r.receive(Received(mh.BindingAck(mh.BAStatus.ACCEPTED, bu.msg.sequence, 100), HA, HOA,
                       routing_header=HOA))
    return r, part


def test_the_mobile_node_solicits_once_registered_and_reads_the_answer(
        tmp_path: Path) -> None:
    r, part = mobile_node(tmp_path)
    assert r.icmp.types == (icmp6.ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT,)
    (mps,) = r.icmp.sent
    # From the home address; the kernel adds the Home Address option naming the
    # care-of address (its hao state, the out policy for type 146).
    assert (mps.src, mps.dst, mps.home_address_option) == (HOA, HA, None)
    assert isinstance(mps.msg, MobilePrefixSolicitation)
    assert r.icmp.wire[0][:2] == bytes((146, 0))
    assert icmp6.decode(r.icmp.wire[0], HOA, HA) == mps.msg
    xfrm = [" ".join(argv) for argv in r.runner.lines if argv[:2] == ["ip", "xfrm"]]
    assert f"ip xfrm state add src {HOA} dst {HA} proto hao spi 0 mode ro coa {COA}" in xfrm
    assert (f"ip xfrm policy update dir out src {HOA}/128 dst {HA}/128 proto 58 type 146 "
            f"priority 100 tmpl proto hao mode ro level use") in xfrm
    # The daemon's turn reconciles the keying's policies; this one is the solicitor's
    # and stays (a first version lost it there, so only the first solicitation had its
    # Home Address option).
    lines = len(r.runner.lines)
    r.daemon.sync_ipsec()
    assert [argv for argv in r.runner.lines[lines:] if "delete" in argv] == []
    r.receive_icmp(ReceivedIcmp("eth1", HA, HOA, MobilePrefixAdvertisement(
        mps.msg.identifier, MPAFlag(0),
        (PrefixInformation(64, LA, 20, 10, IPv6Address("2001:db8:1::")),))))
    solicitor = part.solicitors[HOA]
    assert solicitor.known and solicitor.identifier is None
    assert solicitor.solicit_at == r.now[0] + 16
    assert r.daemon.counters()["icmp_messages_received/mobile-prefix-advertisement"] == 1
    # A fifth of the valid lifetime left: asked again; no answer: again after 3 s.
    r.advance(16)
    r.advance(3)
    assert [s.msg.identifier for s in r.icmp.sent] == [  # type: ignore[union-attr]
        mps.msg.identifier, mps.msg.identifier + 1, mps.msg.identifier + 2]
    # Stopping leaves no policy or state of its own behind.
    part.shutdown(r.now[0])
    xfrm = [" ".join(argv) for argv in r.runner.lines if argv[:2] == ["ip", "xfrm"]]
    assert xfrm[-2:] == [
        f"ip xfrm policy delete dir out src {HOA}/128 dst {HA}/128 proto 58 type 146",
        f"ip xfrm state delete src {HOA} dst {HA} proto hao spi 0"]


def test_back_home_the_solicitations_kernel_state_goes(tmp_path: Path) -> None:
    r, part = mobile_node(tmp_path, MN_CONF + 'Interface "eth0";\n')
    lines = len(r.runner.lines)
    for move in (HomeLinkDetected("eth0", IPv6Network("2001:db8:1::/64")),
                 CareOfAddressGone(COA)):
        r.daemon.apply(part.node.handle_movement(move, r.now[0]))
    part._sync_prefix_discovery(r.now[0])  # as after each movement
    xfrm = [" ".join(argv) for argv in r.runner.lines[lines:] if argv[:2] == ["ip", "xfrm"]]
    assert f"ip xfrm policy delete dir out src {HOA}/128 dst {HA}/128 proto 58 type 146" in xfrm
    assert f"ip xfrm state delete src {HOA} dst {HA} proto hao spi 0" in xfrm
    assert part.solicitors[HOA].hao is None


def test_send_mob_pfx_sols_disabled_sends_nothing(tmp_path: Path) -> None:
    r, part = mobile_node(tmp_path, MN_CONF + "SendMobPfxSols disabled;\n")
    assert part.solicitors == {} and r.icmp.sent == [] and r.icmp.types == ()


def test_a_renumbered_node_registers_its_new_home_address(tmp_path: Path) -> None:
    r, part = mobile_node(tmp_path)
    (mps,) = r.icmp.sent
    r.receive_icmp(ReceivedIcmp("eth1", HA, HOA, MobilePrefixAdvertisement(
        mps.msg.identifier, MPAFlag(0), (OLD_PIO,))))  # type: ignore[union-attr]
    sent_before = len(r.mh.sent)
    # Unsolicited: the home prefix withdrawn, a new one.
    r.receive_icmp(ReceivedIcmp("eth1", HA, HOA, MobilePrefixAdvertisement(7, MPAFlag(0), (
        PrefixInformation(64, LA, 0, 0, IPv6Address("2001:db8:1::")), NEW_PIO))))
    new_hoa = IPv6Address("2001:db8:2::10")
    dereg, bu = r.mh.sent[sent_before:]
    assert isinstance(dereg.msg, mh.BindingUpdate) and dereg.msg.lifetime == 0
    assert dereg.home_address_option == HOA
    assert isinstance(bu.msg, mh.BindingUpdate) and bu.msg.lifetime > 0
    assert (bu.src, bu.dst, bu.home_address_option) == (COA, HA, new_hoa)
    assert ("lo", IPv6Interface(f"{new_hoa}/128")) in r.ipr.addresses
    # The old address's acknowledgement comes late; the lab's had the sequence number of
    # the new address's Binding Update, and failed its registration.
    r.receive(Received(mh.BindingAck(mh.BAStatus.ACCEPTED, bu.msg.sequence, 0), HA, HOA,
                       routing_header=HOA))
    (record,) = r.daemon.binding_update_list()
    assert (record["home_address"], record["state"]) == (str(new_hoa), "registering")
    r.receive(Received(mh.BindingAck(mh.BAStatus.ACCEPTED, bu.msg.sequence, 100), HA, new_hoa,
                       routing_header=new_hoa))
    (record,) = r.daemon.binding_update_list()
    assert (record["home_address"], record["state"]) == (str(new_hoa), "registered")
    # The new home address asks about its prefix in turn.
    assert r.icmp.sent[-1] == SendIcmp(MobilePrefixSolicitation(mps.msg.identifier + 1),
                                       new_hoa, HA)  # type: ignore[union-attr]
    assert list(part.solicitors) == [new_hoa]
