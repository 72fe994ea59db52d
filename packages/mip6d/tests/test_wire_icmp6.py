"""ICMPv6 codec: DHAAD, MPS/MPA and Router Advertisements (RFC 6275 6.5-6.8 and 7).

Expected octets are written field by field from the RFC layouts; the checksum octets
are what the reference RFC 1071 loop (``pcap.rfc1071_checksum``) gives for them, which
``test_reference_checksum`` re-checks and tshark checks again in test_wire_dissector.
"""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d.wire import icmp6
from mip6d.wire.icmp6 import (
    MTU,
    AdvertisementInterval,
    DecodeError,
    DHAADFlag,
    DHAADReply,
    DHAADRequest,
    EncodeError,
    HAIFlag,
    HomeAgentInformation,
    ICMPv6Type,
    MobilePrefixAdvertisement,
    MobilePrefixSolicitation,
    MPAFlag,
    NDOptionType,
    PrefixFlag,
    PrefixInformation,
    RAFlag,
    RouterAdvertisement,
    SourceLinkLayerAddress,
    UnknownNDOption,
)
from pcap import rfc1071_checksum

pytestmark = pytest.mark.unit

HOA = IPv6Address("2001:db8:1::10")
COA = IPv6Address("2001:db8:2::20")
HA = IPv6Address("2001:db8:1::1")
HA2 = IPv6Address("2001:db8:1::2")
# Home agents anycast address of 2001:db8:1::/64 (RFC 2526, RFC 6275 section 10.5)
HA_ANYCAST = IPv6Address("2001:db8:1:0:fdff:ffff:ffff:fffe")
ROUTER = IPv6Address("fe80::1")
ALL_NODES = IPv6Address("ff02::1")

HA_HEX = "20010db8000100000000000000000001"
HA2_HEX = "20010db8000100000000000000000002"

HOME_PIO = PrefixInformation(
    64, PrefixFlag.L | PrefixFlag.A | PrefixFlag.R, 86400, 14400, HA
)
PIO_HEX = (
    "03"  # Type 3: Prefix Information
    "04"  # Length 4: 32 octets
    "40"  # Prefix Length 64
    "e0"  # L|A|R (R: the prefix field is the router's address, RFC 6275 section 7.2)
    "00015180"  # Valid Lifetime 86400 s
    "00003840"  # Preferred Lifetime 14400 s
    "00000000"  # Reserved2
    + HA_HEX  # Prefix: the home agent's full address
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


CASES = [
    pytest.param(
        DHAADRequest(0x4321, DHAADFlag.R),
        COA,
        HA_ANYCAST,
        h(
            "90"  # Type 144: Home Agent Address Discovery Request
            "00"  # Code 0
            "5307"  # Checksum
            "4321"  # Identifier
            "8000"  # R (mobile router, RFC 3963) | Reserved
        ),
        id="dhaad-request",
    ),
    pytest.param(
        DHAADReply(0x4321, (HA, HA2), DHAADFlag.R),
        HA,
        COA,
        h(
            "91"  # Type 145: Home Agent Address Discovery Reply
            "00"  # Code 0
            "f46d"  # Checksum
            "4321"  # Identifier
            "8000"  # R | Reserved
            + HA_HEX  # Home Agent Addresses, most preferred first
            + HA2_HEX
        ),
        id="dhaad-reply",
    ),
    pytest.param(
        DHAADReply(7),
        HA,
        COA,
        h(
            "91"  # Type 145
            "00"  # Code 0
            "1320"  # Checksum
            "0007"  # Identifier
            "0000"  # no flags, no home agent
        ),
        id="dhaad-reply-empty",
    ),
    pytest.param(
        MobilePrefixSolicitation(0x1111),
        HOA,  # sent with a Home Address option
        HA,
        h(
            "92"  # Type 146: Mobile Prefix Solicitation
            "00"  # Code 0
            "0127"  # Checksum
            "1111"  # Identifier
            "0000"  # Reserved
        ),
        id="mps",
    ),
    pytest.param(
        MobilePrefixAdvertisement(0x1111, MPAFlag.O, (HOME_PIO,)),
        HA,
        HOA,  # sent with a type 2 routing header
        h(
            "93"  # Type 147: Mobile Prefix Advertisement
            "00"  # Code 0
            "c4a5"  # Checksum
            "1111"  # Identifier
            "4000"  # O | Reserved
            + PIO_HEX
        ),
        id="mpa",
    ),
    pytest.param(
        RouterAdvertisement(
            64,
            RAFlag.H,
            1800,
            0,
            0,
            (
                SourceLinkLayerAddress(h("020000000001")),
                MTU(1500),
                HOME_PIO,
                AdvertisementInterval(1500),
                HomeAgentInformation(10, 1800, HAIFlag.R),
            ),
        ),
        ROUTER,
        ALL_NODES,
        h(
            "86"  # Type 134: Router Advertisement
            "00"  # Code 0
            "8f96"  # Checksum
            "40"  # Cur Hop Limit 64
            "20"  # H (home agent, RFC 6275 section 7.1)
            "0708"  # Router Lifetime 1800 s
            "00000000"  # Reachable Time
            "00000000"  # Retrans Timer
            "01" "01" "020000000001"  # Source Link-layer Address, Length 1
            "05" "01" "0000" "000005dc"  # MTU 1500
            + PIO_HEX
            + "07" "01" "0000" "000005dc"  # Advertisement Interval 1500 ms
            "08" "01" "8000" "000a" "0708"  # Home Agent Information: R, pref 10, 1800 s
        ),
        id="ra",
    ),
    pytest.param(
        RouterAdvertisement(
            255,
            RAFlag.M | RAFlag.O | RAFlag(0x08),  # Prf = 01 (high, RFC 4191) kept as bits
            0,
            30000,
            1000,
            (
                HomeAgentInformation(-1, 0),
                UnknownNDOption(25, h("0000" "00000e10") + HA.packed),  # RDNSS, kept
            ),
        ),
        ROUTER,
        ALL_NODES,
        h(
            "86"  # Type 134
            "00"  # Code 0
            "a65e"  # Checksum
            "ff"  # Cur Hop Limit 255
            "c8"  # M|O|Prf=01
            "0000"  # Router Lifetime 0: not a default router
            "00007530"  # Reachable Time 30000 ms
            "000003e8"  # Retrans Timer 1000 ms
            "08" "01" "0000" "ffff" "0000"  # Home Agent Information: preference -1
            "19" "03" "0000" "00000e10" + HA_HEX  # option 25 (RDNSS) kept raw
        ),
        id="ra-unknown-option",
    ),
]


@pytest.mark.parametrize(("msg", "src", "dst", "wire"), CASES)
def test_encode_exact_bytes(msg: icmp6.ICMPv6Message, src: IPv6Address, dst: IPv6Address,
                            wire: bytes):
    assert icmp6.encode(msg, src, dst).hex() == wire.hex()


@pytest.mark.parametrize(("msg", "src", "dst", "wire"), CASES)
def test_decode_exact_bytes(msg: icmp6.ICMPv6Message, src: IPv6Address, dst: IPv6Address,
                            wire: bytes):
    assert icmp6.decode(wire, src, dst) == msg
    if isinstance(msg, RouterAdvertisement):
        assert icmp6.decode_router_advertisement(wire, src, dst) == msg


@pytest.mark.parametrize(("msg", "src", "dst", "wire"), CASES)
def test_reference_checksum(msg: icmp6.ICMPv6Message, src: IPv6Address, dst: IPv6Address,
                            wire: bytes):
    assert rfc1071_checksum(src, dst, 58, wire) == 0
    zeroed = wire[:2] + b"\x00\x00" + wire[4:]
    assert rfc1071_checksum(src, dst, 58, zeroed) == int.from_bytes(wire[2:4], "big")


def test_values():
    assert [int(t) for t in ICMPv6Type] == [134, 144, 145, 146, 147]
    assert (NDOptionType.ADVERTISEMENT_INTERVAL, NDOptionType.HOME_AGENT_INFORMATION) == (7, 8)
    assert (int(RAFlag.M), int(RAFlag.O), int(RAFlag.H), int(RAFlag.P)) == (0x80, 0x40, 0x20, 4)
    assert [int(f) for f in PrefixFlag] == [0x80, 0x40, 0x20]
    assert (int(MPAFlag.M), int(MPAFlag.O)) == (0x8000, 0x4000)
    assert int(DHAADFlag.R) == int(HAIFlag.R) == 0x8000


def test_router_advertisement_helpers():
    ra = CASES[5].values[0]
    assert ra.prefixes == (HOME_PIO,)
    assert ra.home_agent_information == HomeAgentInformation(10, 1800, HAIFlag.R)
    assert ra.advertisement_interval == 1500
    assert ra.mtu == 1500
    assert ra.source_link_layer_address == h("020000000001")
    empty = RouterAdvertisement()
    assert empty.prefixes == ()
    assert empty.home_agent_information is None
    assert empty.advertisement_interval is None
    assert empty.mtu is None
    assert empty.source_link_layer_address is None
    assert HOME_PIO.network == IPv6Network("2001:db8:1::/64")
    assert HOME_PIO.router_address == HA
    plain = PrefixInformation(64, PrefixFlag.L, 1, 1, IPv6Address("2001:db8:5::"))
    assert plain.router_address is None
    mpa = CASES[4].values[0]
    assert mpa.prefixes == (HOME_PIO,)


def test_options_not_valid_in_the_message_are_kept_raw():
    # A Home Agent Information option inside a Mobile Prefix Advertisement
    wire = icmp6.encode(
        MobilePrefixAdvertisement(1, options=(UnknownNDOption(8, h("0000000a0708")),)), HA, HOA
    )
    assert icmp6.decode(wire, HA, HOA) == MobilePrefixAdvertisement(
        1, options=(UnknownNDOption(8, h("0000000a0708")),)
    )
    with pytest.raises(EncodeError, match="not valid in this message"):
        icmp6.encode(
            MobilePrefixAdvertisement(1, options=(HomeAgentInformation(10, 1800),)), HA, HOA
        )
    wire = icmp6.encode(MobilePrefixSolicitation(1, (UnknownNDOption(3, bytes(30)),)), HOA, HA)
    assert icmp6.decode(wire, HOA, HA) == MobilePrefixSolicitation(
        1, (UnknownNDOption(3, bytes(30)),)
    )


def with_checksum(wire: bytes, src: IPv6Address = ROUTER, dst: IPv6Address = ALL_NODES) -> bytes:
    zeroed = wire[:2] + b"\x00\x00" + wire[4:]
    return zeroed[:2] + rfc1071_checksum(src, dst, 58, zeroed).to_bytes(2, "big") + wire[4:]


RA_HEAD = "8600" "0000" "40" "00" "0708" "00000000" "00000000"


@pytest.mark.parametrize(
    ("wire", "offset", "reason"),
    [
        pytest.param("8600", 2, "shorter than 8", id="short"),
        pytest.param("8000" "0000" "00010001", 0, "type 128 is not one", id="echo-request"),
        pytest.param("8601" "0000" + "00" * 12, 1, "Code 1", id="code"),
        pytest.param("8600" "0000" + "00" * 8, 12, "shorter than 16", id="ra-short"),
        pytest.param(RA_HEAD + "0100" + "00" * 6, 17, "Length 0", id="zero-length"),
        pytest.param(RA_HEAD + "0102" + "00" * 6, 17, "runs past the end", id="overrun"),
        pytest.param(RA_HEAD + "01", 16, "no Length octet", id="truncated"),
        pytest.param(RA_HEAD + "0303" + "00" * 22, 17, "expected 4", id="pio-length"),
        pytest.param(RA_HEAD + "0502" + "00" * 14, 17, "expected 1", id="mtu-length"),
        pytest.param(RA_HEAD + "0304" "81" + "00" * 29, 18, "129 > 128", id="pio-plen"),
        pytest.param("9000" "0000" "0001" "0000" "00", 8, "unexpected octets", id="dhaad-req"),
        pytest.param("9100" "0000" "0001" "0000" + "00" * 15, 8, "multiple of 16", id="dhaad-rep"),
        pytest.param("9300" "0000" "0001" "0000" "0300", 9, "Length 0", id="mpa-option"),
    ],
)
def test_decode_errors(wire: str, offset: int, reason: str):
    data = with_checksum(h(wire)) if len(wire) >= 8 else h(wire)
    with pytest.raises(DecodeError) as info:
        icmp6.decode(data, ROUTER, ALL_NODES)
    assert info.value.offset == offset
    assert reason in info.value.reason


def test_checksum():
    wire = icmp6.encode(DHAADRequest(1), COA, HA_ANYCAST)
    with pytest.raises(DecodeError, match="checksum") as info:
        icmp6.decode(wire, HOA, HA_ANYCAST)
    assert info.value.offset == 2
    assert icmp6.decode(wire, HOA, HA_ANYCAST, verify_checksum=False) == DHAADRequest(1)
    assert icmp6.decode(bytearray(wire), COA, HA_ANYCAST) == DHAADRequest(1)


def test_router_advertisement_decoder_wants_a_router_advertisement():
    wire = icmp6.encode(DHAADRequest(1), COA, HA_ANYCAST)
    with pytest.raises(DecodeError, match="expected 134") as info:
        icmp6.decode_router_advertisement(wire, COA, HA_ANYCAST)
    assert info.value.offset == 0
    with pytest.raises(DecodeError, match="expected 134"):
        icmp6.decode_router_advertisement(b"", COA, HA_ANYCAST)
    with pytest.raises(DecodeError, match="shorter than 8"):
        icmp6.decode_router_advertisement(b"\x86", COA, HA_ANYCAST)


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (RouterAdvertisement(256), "RouterAdvertisement"),
        (DHAADRequest(1 << 16), "DHAADRequest"),
        (RouterAdvertisement(options=(SourceLinkLayerAddress(bytes(5)),)), "multiple of 8"),
        (RouterAdvertisement(options=(UnknownNDOption(9, bytes(7)),)), "multiple of 8"),
        (RouterAdvertisement(options=(UnknownNDOption(9, bytes(2046)),)), "8..2040"),
        (RouterAdvertisement(options=(UnknownNDOption(256, bytes(6)),)), "not in 0..255"),
        (RouterAdvertisement(options=(MTU(1 << 32),)), "MTU"),
        (RouterAdvertisement(options=(HomeAgentInformation(1 << 15, 0),)), "HomeAgentInformation"),
        (
            RouterAdvertisement(
                options=(PrefixInformation(129, PrefixFlag(0), 0, 0, HA),),
            ),
            "prefix length 129",
        ),
    ],
)
def test_encode_errors(msg: icmp6.ICMPv6Message, message: str):
    with pytest.raises(EncodeError, match=message):
        icmp6.encode(msg, ROUTER, ALL_NODES)


def test_encode_rejects_foreign_objects():
    with pytest.raises(EncodeError, match="not an ICMPv6 message"):
        icmp6.encode(object(), ROUTER, ALL_NODES)  # type: ignore[arg-type]


def test_reserved_bits_are_kept_in_flags():
    wire = with_checksum(h("9000" "0000" "0001" "8001"), COA, HA)
    assert icmp6.decode(wire, COA, HA) == DHAADRequest(1, DHAADFlag(0x8001))


# --------------------------------------------------------------------------- properties

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
addresses = st.integers(0, (1 << 128) - 1).map(IPv6Address)
pios = st.builds(PrefixInformation, st.integers(0, 128), u8.map(PrefixFlag), u32, u32, addresses)
unknown = st.builds(
    UnknownNDOption,
    st.integers(9, 255),
    st.integers(0, 6).map(lambda n: bytes(range(6 + 8 * n))),
)
ra_options = st.one_of(
    st.builds(SourceLinkLayerAddress, st.integers(0, 3).map(lambda n: bytes(6 + 8 * n))),
    pios,
    st.builds(MTU, u32),
    st.builds(AdvertisementInterval, u32),
    st.builds(HomeAgentInformation, st.integers(-(1 << 15), (1 << 15) - 1), u16,
              u16.map(HAIFlag)),
    unknown,
)

MESSAGES = {
    "dhaad-request": st.builds(DHAADRequest, u16, u16.map(DHAADFlag)),
    "dhaad-reply": st.builds(
        DHAADReply, u16, st.lists(addresses, max_size=8).map(tuple), u16.map(DHAADFlag)
    ),
    "mps": st.builds(MobilePrefixSolicitation, u16, st.lists(unknown, max_size=2).map(tuple)),
    "mpa": st.builds(
        MobilePrefixAdvertisement,
        u16,
        u16.map(MPAFlag),
        st.lists(st.one_of(pios, unknown), max_size=4).map(tuple),
    ),
    "ra": st.builds(
        RouterAdvertisement,
        u8,
        u8.map(RAFlag),
        u16,
        u32,
        u32,
        st.lists(ra_options, max_size=6).map(tuple),
    ),
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_round_trip_property(kind: str):
    @given(msg=MESSAGES[kind], src=addresses, dst=addresses)
    def check(msg: icmp6.ICMPv6Message, src: IPv6Address, dst: IPv6Address) -> None:
        wire = icmp6.encode(msg, src, dst)
        assert rfc1071_checksum(src, dst, 58, wire) == 0
        assert icmp6.decode(wire, src, dst) == msg
        assert icmp6.encode(icmp6.decode(wire, src, dst), src, dst) == wire

    check()
