"""An independent dissector reads what the codecs write: tshark over a pcap of complete
IPv6 packets (LINKTYPE_RAW), one tshark run for the whole module.

For each packet: tshark decodes the expected protocol and field values, raises no
malformed-packet or expert warning, and the checksum is good. tshark verifies ICMPv6
checksums itself (``icmpv6.checksum.status`` 1, with the Home Address option and the
Type 2 Routing Header taken into account), but Wireshark 4.0's Mobility Header
dissector does not verify checksums; for those the test recomputes the checksum with
the reference RFC 1071 loop over the bytes tshark attributes to the Mobility Header
(``mipv6_raw``) and the pseudo-header addresses tshark reports (home address option /
type 2 routing header address where present). Two deliberately corrupted packets show
that both checks fail when they should.

Wireshark 4.0 names the flow binding options of RFC 6089 (44 Flow Summary, 45 Flow
Identification) but does not dissect their data: for each it adds one expert note,
"IE data not dissected yet" (and shows the Mobility Header's Header Len as the option's
length). The flow binding cases count on exactly those notes and nothing else, and put a
known option after the flow options: tshark decoding it shows that it stepped over them
by their real lengths.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest
from mip6d.wire import exthdr, icmp6, mh
from pcap import fields, ipv6_packet, rfc1071_checksum, tshark_json, walk, write_pcap

pytestmark = pytest.mark.unit

HOA = IPv6Address("2001:db8:1::10")
COA = IPv6Address("2001:db8:2::20")
HA = IPv6Address("2001:db8:1::1")
HA2 = IPv6Address("2001:db8:1::2")
HA_ANYCAST = IPv6Address("2001:db8:1:0:fdff:ffff:ffff:fffe")
CN = IPv6Address("2001:db8:3::30")
ROUTER = IPv6Address("fe80::1")
ALL_NODES = IPv6Address("ff02::1")

COOKIE = 0x0102030405060708
TOKEN = 0x1112131415161718


def hao(home: IPv6Address) -> tuple[int, bytes]:
    return (60, exthdr.home_address_option(home))


def rh2(home: IPv6Address) -> tuple[int, bytes]:
    return (43, exthdr.type2_routing_header(home))


class Case:
    """One packet: the message, the addresses, extension headers, what tshark must say."""

    def __init__(
        self,
        name: str,
        msg: mh.Message | icmp6.ICMPv6Message,
        src: IPv6Address,
        dst: IPv6Address,
        expected: dict[str, Any],
        headers: tuple[tuple[int, bytes], ...] = (),
        hop_limit: int = 64,
        corrupt: bool = False,
        undissected: int = 0,
    ) -> None:
        self.name, self.msg, self.expected, self.corrupt = name, msg, expected, corrupt
        self.undissected = undissected  # options tshark names but does not dissect
        home = next((exthdr.decode_destination_options(b).home_address for t, b in headers
                     if t == 60), None)
        final = next((exthdr.decode_type2_routing_header(b).home_address for t, b in headers
                      if t == 43), None)
        self.checksum_src = home or src
        self.checksum_dst = final or dst
        if isinstance(msg, (icmp6.DHAADRequest, icmp6.DHAADReply, icmp6.MobilePrefixSolicitation,
                            icmp6.MobilePrefixAdvertisement, icmp6.RouterAdvertisement)):
            self.protocol = 58
            payload = icmp6.encode(msg, self.checksum_src, self.checksum_dst)
        else:
            self.protocol = 135
            payload = mh.encode(msg, self.checksum_src, self.checksum_dst)
        if corrupt:
            payload = payload[:-1] + bytes((payload[-1] ^ 0x01,))
        self.payload = payload
        self.packet = ipv6_packet(src, dst, self.protocol, payload, headers, hop_limit)


def flags(**values: int) -> dict[str, str]:
    return {name: str(value) for name, value in values.items()}


CASES = [
    Case(
        "bu-home-registration",
        mh.BindingUpdate(
            42, 150, mh.BUFlag.A | mh.BUFlag.H | mh.BUFlag.K, (mh.AlternateCareOfAddress(COA),)
        ),
        COA,
        HA,
        {
            "ipv6.opt.mipv6.home_address": str(HOA),
            "mip6.proto": "59",
            "mip6.hlen": "3",
            "mip6.mhtype": "5",
            "mip6.bu.seqnr": "42",
            **flags(**{"mip6.bu.a_flag": 1, "mip6.bu.h_flag": 1, "mip6.bu.l_flag": 0,
                       "mip6.bu.k_flag": 1, "mip6.bu.m_flag": 0, "mip6.nemo.bu.r_flag": 0,
                       "mip6.bu.p_flag": 0}),
            "mip6.bu.lifetime": "150",
            "mip6.acoa.acoa": str(COA),
        },
        (hao(HOA),),
    ),
    Case(
        "bu-nemo",
        mh.BindingUpdate(
            7,
            3600,
            mh.BUFlag.A | mh.BUFlag.H | mh.BUFlag.R,
            (
                mh.MobileNetworkPrefix(IPv6Network("2001:db8:100::/48")),
                mh.MobileNetworkPrefix(IPv6Network("2001:db8:200::/56")),
            ),
        ),
        COA,
        HA,
        {
            "mip6.mhtype": "5",
            "mip6.bu.seqnr": "7",
            "mip6.nemo.bu.r_flag": "1",
            "mip6.bu.lifetime": "3600",
            "mip6.nemo.mnp.pfl": ["48", "56"],
            "mip6.nemo.mnp.mnp": ["2001:db8:100::", "2001:db8:200::"],
        },
        (hao(HOA),),
    ),
    Case(
        "bu-mcoa-bulk",
        mh.BindingUpdate(
            5,
            150,
            mh.BUFlag.A | mh.BUFlag.H,
            (
                mh.BindingIdentifier(1, COA, priority=1),
                mh.BindingIdentifier(2, IPv4Address("192.0.2.1"), simultaneous_home=True,
                                     priority=2),
                mh.BindingIdentifier(3),
            ),
        ),
        COA,
        HA,
        {
            "mip6.mhtype": "5",
            "mip6.bu.seqnr": "5",
            "mip6.bi.bid": ["1", "2", "3"],
            "mip6.bi.status": ["0", "0", "0"],
            "mip6.bi.h_flag": ["0", "1", "0"],
            "mip6.bi.coa_ipv6": str(COA),
            "mip6.bi.coa_ipv4": "192.0.2.1",
        },
        (hao(HOA),),
    ),
    Case(
        "ba-mcoa-per-bid-status",
        mh.BindingAck(mh.BAStatus.MCOA_NOTCOMPLETE, 5, 150, options=(
            mh.BindingIdentifier(1), mh.BindingIdentifier(2, status=mh.BAStatus.MCOA_UNKNOWN_COA))),
        HA,
        COA,
        {
            "mip6.mhtype": "6",
            "mip6.ba.status": "4",
            "mip6.bi.bid": ["1", "2"],
            "mip6.bi.status": ["0", "167"],
        },
        (rh2(HOA),),
    ),
    Case(
        "bu-flow-binding-ipv6-selector",
        mh.BindingUpdate(
            6,
            150,
            mh.BUFlag.A | mh.BUFlag.H,
            (
                mh.FlowIdentification(1, 10, sub_options=(
                    mh.BindingReference((1,)),
                    mh.TrafficSelector6(destination_port=(5001, 5001), next_header=(17, 17)),
                )),
                mh.FlowSummary((1, 2)),
                mh.BindingIdentifier(1, COA, priority=1),
            ),
        ),
        COA,
        HA,
        {
            "mip6.mhtype": "5",
            "mip6.bu.seqnr": "6",
            "mip6.mobility_opt": ["45", "44"],
            "mip6.bi.bid": "1",
            "mip6.bi.coa_ipv6": str(COA),
        },
        (hao(HOA),),
        undissected=2,
    ),
    Case(
        "bu-flow-binding-ipv4-selector",
        mh.BindingUpdate(
            7,
            150,
            mh.BUFlag.A | mh.BUFlag.H,
            (
                mh.FlowIdentification(2, 20, sub_options=(
                    mh.BindingReference((2,)),
                    mh.TrafficSelector4(
                        source_address=(IPv4Address("198.51.100.1"),
                                        IPv4Address("198.51.100.254")),
                        destination_port=(5001, 5010),
                        protocol=(6, 6),
                    ),
                )),
                mh.BindingIdentifier(2, IPv4Address("192.0.2.1"), priority=2),
            ),
        ),
        COA,
        HA,
        {
            "mip6.mhtype": "5",
            "mip6.mobility_opt": "45",
            "mip6.bi.bid": "2",
            "mip6.bi.coa_ipv4": "192.0.2.1",
        },
        (hao(HOA),),
        undissected=1,
    ),
    Case(
        "ba-flow-binding-status",
        mh.BindingAck(mh.BAStatus.ACCEPTED, 6, 150, options=(
            mh.FlowIdentification(1, 10, mh.FlowIdentificationStatus.FLOW_BINDING_SUCCESSFUL),
            mh.FlowIdentification(2, 20, mh.FlowIdentificationStatus.BID_NOT_FOUND),
            mh.FlowSummary((1,)),
            mh.BindingRefreshAdvice(120),
        )),
        HA,
        COA,
        {
            "mip6.mhtype": "6",
            "mip6.ba.status": "0",
            "mip6.mobility_opt": ["45", "45", "44"],
            "mip6.bra.interval": "120",
        },
        (rh2(HOA),),
        undissected=3,
    ),
    Case(
        "bu-correspondent",
        mh.BindingUpdate(
            256,
            16,
            mh.BUFlag.A,
            (mh.NonceIndices(3, 4), mh.BindingAuthorizationData(bytes(range(12)))),
        ),
        COA,
        CN,
        {
            "mip6.mhtype": "5",
            "mip6.bu.seqnr": "256",
            "mip6.bu.h_flag": "0",
            "mip6.ni.hni": "3",
            "mip6.ni.cni": "4",
            "mip6.bad.auth": "00:01:02:03:04:05:06:07:08:09:0a:0b",
        },
        (hao(HOA),),
    ),
    Case(
        "ba",
        mh.BindingAck(
            mh.BAStatus.ACCEPTED, 42, 150, mh.BAFlag.K, (mh.BindingRefreshAdvice(120),)
        ),
        HA,
        COA,
        {
            "ipv6.routing.type": "2",
            "ipv6.routing.segleft": "1",
            "ipv6.routing.mipv6.home_address": str(HOA),
            "mip6.mhtype": "6",
            "mip6.ba.status": "0",
            "mip6.ba.k_flag": "1",
            "mip6.nemo.ba.r_flag": "0",
            "mip6.ba.seqnr": "42",
            "mip6.ba.lifetime": "150",
            "mip6.bra.interval": "120",
        },
        (rh2(HOA),),
    ),
    Case(
        "ba-nemo-rejected",
        mh.BindingAck(mh.BAStatus.NOT_AUTHORIZED_FOR_PREFIX, 7, 0, mh.BAFlag.R),
        HA,
        COA,
        {"mip6.ba.status": "142", "mip6.nemo.ba.r_flag": "1", "mip6.ba.lifetime": "0"},
        (rh2(HOA),),
    ),
    Case(
        "be",
        mh.BindingError(mh.BEStatus.UNKNOWN_BINDING_FOR_HAO, HOA),
        CN,
        COA,
        {"mip6.mhtype": "7", "mip6.be.status": "1", "mip6.be.haddr": str(HOA)},
    ),
    Case("brr", mh.BindingRefreshRequest(), CN, HOA, {"mip6.mhtype": "0", "mip6.hlen": "0"}),
    Case(
        "hoti",
        mh.HomeTestInit(COOKIE),
        HOA,
        CN,
        {"mip6.mhtype": "1", "mip6.hoti.cookie": f"0x{COOKIE:016x}"},
    ),
    Case(
        "coti",
        mh.CareOfTestInit(COOKIE + 1),
        COA,
        CN,
        {"mip6.mhtype": "2", "mip6.coti.cookie": f"0x{COOKIE + 1:016x}"},
    ),
    Case(
        "hot",
        mh.HomeTest(7, COOKIE, TOKEN),
        CN,
        HOA,
        {
            "mip6.mhtype": "3",
            "mip6.hot.nindex": "7",
            "mip6.hot.cookie": f"0x{COOKIE:016x}",
            "mip6.hot.token": f"0x{TOKEN:016x}",
        },
    ),
    Case(
        "cot",
        mh.CareOfTest(8, COOKIE + 1, TOKEN + 1),
        CN,
        COA,
        {
            "mip6.mhtype": "4",
            "mip6.cot.nindex": "8",
            "mip6.cot.cookie": f"0x{COOKIE + 1:016x}",
        },
    ),
    Case(
        "dhaad-request",
        icmp6.DHAADRequest(0x4321, icmp6.DHAADFlag.R),
        COA,
        HA_ANYCAST,
        {"icmpv6.type": "144", "icmpv6.code": "0", "icmpv6.mip6.identifier": str(0x4321),
         "icmpv6.reserved": "80:00"},
    ),
    Case(
        "dhaad-reply",
        icmp6.DHAADReply(0x4321, (HA, HA2)),
        HA,
        COA,
        {
            "icmpv6.type": "145",
            "icmpv6.mip6.identifier": str(0x4321),
            "icmpv6.mip6.home_agent_address": [str(HA), str(HA2)],
        },
    ),
    Case(
        "mps",
        icmp6.MobilePrefixSolicitation(0x1111),
        COA,
        HA,
        {"icmpv6.type": "146", "icmpv6.mip6.identifier": str(0x1111)},
        (hao(HOA),),
    ),
    Case(
        "mpa",
        icmp6.MobilePrefixAdvertisement(
            0x1111,
            icmp6.MPAFlag.M,
            (
                icmp6.PrefixInformation(
                    64,
                    icmp6.PrefixFlag.L | icmp6.PrefixFlag.A | icmp6.PrefixFlag.R,
                    86400,
                    14400,
                    HA,
                ),
            ),
        ),
        HA,
        COA,
        {
            "icmpv6.type": "147",
            "icmpv6.mip6.identifier": str(0x1111),
            "icmpv6.mip6.flag.m": "1",
            "icmpv6.mip6.flag.o": "0",
            "icmpv6.opt.type": "3",
            "icmpv6.opt.prefix.length": "64",
            "icmpv6.opt.prefix.flag.l": "1",
            "icmpv6.opt.prefix.flag.a": "1",
            "icmpv6.opt.prefix.flag.r": "1",
            "icmpv6.opt.prefix.valid_lifetime": "86400",
            "icmpv6.opt.prefix.preferred_lifetime": "14400",
            "icmpv6.opt.prefix": str(HA),
        },
        (rh2(HOA),),
    ),
    Case(
        "ra-home-agent",
        icmp6.RouterAdvertisement(
            64,
            icmp6.RAFlag.H | icmp6.RAFlag.O,
            1800,
            0,
            0,
            (
                icmp6.SourceLinkLayerAddress(bytes.fromhex("020000000001")),
                icmp6.MTU(1500),
                icmp6.PrefixInformation(
                    64, icmp6.PrefixFlag.L | icmp6.PrefixFlag.R, 86400, 14400, HA
                ),
                icmp6.AdvertisementInterval(1500),
                icmp6.HomeAgentInformation(10, 1800, icmp6.HAIFlag.R),
            ),
        ),
        ROUTER,
        ALL_NODES,
        {
            "icmpv6.type": "134",
            "icmpv6.nd.ra.cur_hop_limit": "64",
            "icmpv6.nd.ra.flag.m": "0",
            "icmpv6.nd.ra.flag.o": "1",
            "icmpv6.nd.ra.flag.h": "1",
            "icmpv6.nd.ra.router_lifetime": "1800",
            "icmpv6.opt.type": ["1", "5", "3", "7", "8"],
            "icmpv6.opt.src_linkaddr": "02:00:00:00:00:01",
            "icmpv6.opt.mtu": "1500",
            "icmpv6.opt.prefix.flag.r": "1",
            "icmpv6.opt.prefix": str(HA),
            "icmpv6.opt.advertisement_interval": "1500",
            "icmpv6.opt.home_agent_preference": "10",
            "icmpv6.opt.home_agent_lifetime": "1800",
        },
        hop_limit=255,
    ),
    Case("corrupt-mh", mh.HomeTestInit(COOKIE), HOA, CN, {}, corrupt=True),
    Case("corrupt-icmpv6", icmp6.DHAADRequest(1), COA, HA_ANYCAST, {}, corrupt=True),
]
IDS = [case.name for case in CASES]
UNDISSECTED = "IE data not dissected yet"  # tshark's note on an option it names only


@pytest.fixture(scope="module")
def dissected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    path: Path = tmp_path_factory.mktemp("dissector") / "wire.pcap"
    write_pcap(path, [case.packet for case in CASES])
    layers = tshark_json(path)
    assert len(layers) == len(CASES)
    return dict(zip(IDS, layers, strict=True))


def single(tree: Any, name: str) -> Any:
    values = fields(tree, name)
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


@pytest.mark.parametrize("case", [c for c in CASES if not c.corrupt], ids=lambda c: c.name)
def test_tshark_decodes_the_expected_fields(case: Case, dissected: dict[str, dict[str, Any]]):
    tree = dissected[case.name]
    protocol = "mipv6" if case.protocol == 135 else "icmpv6"
    assert single(tree, "frame.protocols").endswith(":" + protocol)
    for name, expected in case.expected.items():
        values = fields(tree, name)
        if isinstance(expected, list):
            assert values == expected, name
        else:
            assert values == [expected], name
    assert [key for key, _ in walk(tree) if key.startswith("_ws.malformed")] == []
    experts = [value for key, value in walk(tree) if key == "_ws.expert"]
    assert [e["_ws.expert.message"] for e in experts] == [UNDISSECTED] * case.undissected


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_checksum_is_good(case: Case, dissected: dict[str, dict[str, Any]]):
    tree = dissected[case.name]
    if case.protocol == 58:
        assert single(tree, "icmpv6.checksum.status") == ("0" if case.corrupt else "1")
        return
    # the addresses of the pseudo-header, as tshark read them from the packet
    homes = fields(tree, "ipv6.opt.mipv6.home_address")
    finals = fields(tree, "ipv6.routing.mipv6.home_address")
    src = IPv6Address(homes[0] if homes else single(tree, "ipv6.src"))
    dst = IPv6Address(finals[0] if finals else single(tree, "ipv6.dst"))
    raws = [value for key, value in walk(tree) if key == "mipv6_raw"]
    assert len(raws) == 1
    octets = bytes.fromhex(raws[0][0])  # [hex, offset, length, bitmask, type]
    assert octets == case.payload
    assert single(tree, "mip6.csum") == f"0x{int.from_bytes(octets[4:6], 'big'):04x}"
    assert (rfc1071_checksum(src, dst, 135, octets) == 0) is not case.corrupt


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_packet_parser_agrees(case: Case):
    parsed = exthdr.parse_ipv6_packet(case.packet)
    assert (parsed.protocol, parsed.payload) == (case.protocol, case.payload)
    assert (parsed.checksum_src, parsed.checksum_dst) == (case.checksum_src, case.checksum_dst)
    if case.corrupt:
        return
    if case.protocol == 135:
        decoded: object = mh.decode(parsed.payload, parsed.checksum_src, parsed.checksum_dst)
    else:
        decoded = icmp6.decode(parsed.payload, parsed.checksum_src, parsed.checksum_dst)
    assert decoded == case.msg
