"""Home Address option, Type 2 Routing Header (RFC 6275 6.3, 6.4) and the packet parser."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d.wire import exthdr, mh
from mip6d.wire.exthdr import (
    DecodeError,
    DestinationOptionsHeader,
    EncodeError,
    HomeAddressOption,
    NextHeader,
    Pad1,
    PadN,
    Type2RoutingHeader,
    UnknownDestinationOption,
)
from pcap import ipv6_packet

pytestmark = pytest.mark.unit

HOA = IPv6Address("2001:db8:1::10")
COA = IPv6Address("2001:db8:2::20")
HA = IPv6Address("2001:db8:1::1")
HOA_HEX = "20010db8000100000000000000000010"

HAO_HEADER = bytes.fromhex(
    "87"  # Next Header 135 (Mobility Header)
    "02"  # Hdr Ext Len 2: 24 octets
    "0102" "0000"  # PadN, 2 octets of data: the option starts at 8n+6
    "c9"  # Option Type 201: Home Address
    "10"  # Opt Data Len 16
    + HOA_HEX  # Home Address
)

RH2_HEADER = bytes.fromhex(
    "87"  # Next Header 135
    "02"  # Hdr Ext Len 2
    "02"  # Routing Type 2
    "01"  # Segments Left 1
    "00000000"  # Reserved
    + HOA_HEX  # Home Address
)


def test_home_address_option_exact_bytes():
    assert exthdr.home_address_option(HOA, 135) == HAO_HEADER
    assert exthdr.home_address_option(HOA) == b"\x00" + HAO_HEADER[1:]  # for IPV6_DSTOPTS
    assert exthdr.decode_destination_options(HAO_HEADER) == DestinationOptionsHeader(
        (HomeAddressOption(HOA),), 135
    )
    assert exthdr.decode_destination_options(HAO_HEADER).home_address == HOA


def test_type2_routing_header_exact_bytes():
    assert exthdr.type2_routing_header(HOA, 135) == RH2_HEADER
    assert exthdr.type2_routing_header(HOA) == b"\x00" + RH2_HEADER[1:]  # for IPV6_RTHDR
    assert exthdr.decode_type2_routing_header(RH2_HEADER) == Type2RoutingHeader(HOA, 135, 1)
    processed = RH2_HEADER[:3] + b"\x00" + RH2_HEADER[4:]  # as Linux hands it up
    assert exthdr.decode_type2_routing_header(processed) == Type2RoutingHeader(HOA, 135, 0)
    assert exthdr.encode_type2_routing_header(Type2RoutingHeader(HOA, 135, 0)) == processed


def test_destination_options_with_other_options():
    header = DestinationOptionsHeader(
        (UnknownDestinationOption(0x1E, b"\x01\x02"), HomeAddressOption(HOA)), 59
    )
    wire = exthdr.encode_destination_options(header)
    assert wire == bytes.fromhex(
        "3b"  # Next Header 59
        "02"  # Hdr Ext Len 2
        "1e02" "0102"  # option 0x1e (RFC 4727 experimental), 2 octets, kept
        "c910" + HOA_HEX  # Home Address option, already at 8n+6
    )
    assert exthdr.decode_destination_options(wire) == header
    # explicit padding is written, then dropped on decode
    padded = DestinationOptionsHeader((Pad1(), PadN(3), HomeAddressOption(HOA)))
    wire = exthdr.encode_destination_options(padded)
    assert wire[2:8] == bytes.fromhex("00" "010100" "c910")  # no computed padding needed
    assert len(wire) == 24
    assert exthdr.decode_destination_options(wire) == DestinationOptionsHeader(
        (HomeAddressOption(HOA),)
    )
    empty = exthdr.encode_destination_options(DestinationOptionsHeader())
    assert empty == bytes.fromhex("00" "00" "01040000" "0000")
    assert exthdr.decode_destination_options(empty).home_address is None


@pytest.mark.parametrize(
    ("wire", "offset", "reason"),
    [
        ("870000", 3, "shorter than 8"),
        ("8701" + "00" * 6, 1, "means 16 octets"),
        ("8700" "c90f" "0000" "0000", 3, "runs past the end"),
        ("8702" "c90e" + "00" * 14 + "010400000000", 3, "length 14, expected 16"),
        ("8700" "00000000" "00" "05", 7, "no Length octet"),
    ],
)
def test_destination_options_errors(wire: str, offset: int, reason: str):
    with pytest.raises(DecodeError) as info:
        exthdr.decode_destination_options(bytes.fromhex(wire))
    assert (info.value.offset, reason in info.value.reason) == (offset, True)


@pytest.mark.parametrize(
    ("wire", "offset", "reason"),
    [
        (RH2_HEADER[:20], 0, "expected 24"),
        (RH2_HEADER[:1] + b"\x03" + RH2_HEADER[2:], 1, "Hdr Ext Len 3"),
        (RH2_HEADER[:2] + b"\x00" + RH2_HEADER[3:], 2, "Routing Type 0"),
        (RH2_HEADER[:3] + b"\x02" + RH2_HEADER[4:], 3, "Segments Left 2"),
    ],
)
def test_type2_routing_header_errors(wire: bytes, offset: int, reason: str):
    with pytest.raises(DecodeError) as info:
        exthdr.decode_type2_routing_header(wire)
    assert (info.value.offset, reason in info.value.reason) == (offset, True)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (DestinationOptionsHeader(next_header=256), "Next Header"),
        (DestinationOptionsHeader((PadN(1),)), "PadN length 1"),
        (DestinationOptionsHeader((UnknownDestinationOption(1, b""),)), "not in 2..255"),
        (DestinationOptionsHeader((UnknownDestinationOption(9, bytes(255)),) * 9), "too long"),
    ],
)
def test_destination_options_encode_errors(header: DestinationOptionsHeader, message: str):
    with pytest.raises(EncodeError, match=message):
        exthdr.encode_destination_options(header)


def test_type2_routing_header_encode_error():
    with pytest.raises(EncodeError):
        exthdr.encode_type2_routing_header(Type2RoutingHeader(HOA, 300))


# --------------------------------------------------------------------------- packets


def test_parse_binding_update_with_home_address_option():
    bu = mh.encode(mh.BindingUpdate(1, 150, mh.BUFlag.A | mh.BUFlag.H), HOA, HA)
    packet = ipv6_packet(COA, HA, 135, bu, [(60, exthdr.home_address_option(HOA))])
    parsed = exthdr.parse_ipv6_packet(packet + b"\x00" * 6)  # link-layer padding ignored
    assert (parsed.src, parsed.dst, parsed.hop_limit) == (COA, HA, 64)
    assert (parsed.home_address, parsed.routing_address) == (HOA, None)
    assert (parsed.protocol, parsed.payload) == (NextHeader.MH, bu)
    assert (parsed.checksum_src, parsed.checksum_dst) == (HOA, HA)
    assert mh.decode(parsed.payload, parsed.checksum_src, parsed.checksum_dst) == mh.BindingUpdate(
        1, 150, mh.BUFlag.A | mh.BUFlag.H
    )


def test_parse_binding_ack_with_type2_routing_header():
    ba = mh.encode(mh.BindingAck(0, 1, 150), HA, HOA)
    packet = ipv6_packet(HA, COA, 135, ba, [(43, exthdr.type2_routing_header(HOA))])
    parsed = exthdr.parse_ipv6_packet(packet)
    assert (parsed.routing_address, parsed.routing_segments_left) == (HOA, 1)
    assert (parsed.checksum_src, parsed.checksum_dst) == (HA, HOA)
    assert mh.decode(parsed.payload, parsed.checksum_src, parsed.checksum_dst) == mh.BindingAck(
        0, 1, 150
    )
    processed = bytearray(packet)
    processed[43] = 0  # Segments Left 0: the final destination is the IPv6 destination
    assert exthdr.parse_ipv6_packet(bytes(processed)).checksum_dst == COA


def test_parse_walks_the_whole_chain():
    hop_by_hop = bytes.fromhex("00" "00" "0104" "00000000")
    fragment = bytes.fromhex("00" "00" "0000" "12345678")
    ah = bytes.fromhex("00" "04") + bytes(22)  # (4 + 2) * 4 = 24 octets
    rh0 = bytes.fromhex("00" "00" "00" "00" "00000000")  # routing type 0, not type 2
    packet = ipv6_packet(
        COA,
        HA,
        17,
        b"udp!",
        [(0, hop_by_hop), (43, rh0), (44, fragment), (51, ah), (60, HAO_HEADER)],
    )
    parsed = exthdr.parse_ipv6_packet(packet)
    assert (parsed.protocol, parsed.payload, parsed.home_address) == (17, b"udp!", HOA)
    assert parsed.routing_address is None
    esp = exthdr.parse_ipv6_packet(ipv6_packet(COA, HA, 50, b"\x01" * 12))
    assert (esp.protocol, esp.payload) == (50, b"\x01" * 12)


@pytest.mark.parametrize(
    ("packet", "offset", "reason"),
    [
        pytest.param(bytes(39), 39, "shorter than 40", id="short"),
        pytest.param(b"\x40" + bytes(39), 0, "version 4", id="ipv4"),
        pytest.param(
            struct.pack("!IHBB", 6 << 28, 8, 59, 64) + bytes(32), 4, "runs past", id="plen"
        ),
        pytest.param(
            struct.pack("!IHBB", 6 << 28, 0, 0, 64) + bytes(40), 4, "jumbogram", id="jumbo"
        ),
        pytest.param(ipv6_packet(COA, HA, 60, bytes(4)), 40, "truncated", id="ext-short"),
        pytest.param(
            ipv6_packet(COA, HA, 60, b"\x3b\x05" + bytes(6)), 40, "runs past", id="ext-long"
        ),
        pytest.param(
            ipv6_packet(COA, HA, 59, b"", [(60, HAO_HEADER[:7] + b"\x0f" + HAO_HEADER[8:])]),
            47,
            "expected 16",
            id="hao-length",
        ),
        pytest.param(
            ipv6_packet(COA, HA, 59, b"", [(43, RH2_HEADER[:3] + b"\x05" + RH2_HEADER[4:])]),
            43,
            "Segments Left 5",
            id="rh2-segments",
        ),
    ],
)
def test_parse_errors(packet: bytes, offset: int, reason: str):
    with pytest.raises(DecodeError) as info:
        exthdr.parse_ipv6_packet(packet)
    assert (info.value.offset, reason in info.value.reason) == (offset, True)


addresses = st.integers(0, (1 << 128) - 1).map(IPv6Address)
dest_options = st.lists(
    st.one_of(
        st.builds(HomeAddressOption, addresses),
        st.builds(UnknownDestinationOption, st.integers(2, 255).filter(lambda t: t != 201),
                  st.binary(max_size=30)),
    ),
    max_size=4,
)


@given(options=dest_options, next_header=st.integers(0, 255))
def test_destination_options_round_trip(
    options: list[exthdr.DestinationOption], next_header: int
):
    header = DestinationOptionsHeader(tuple(options), next_header)
    wire = exthdr.encode_destination_options(header)
    assert len(wire) % 8 == 0
    assert exthdr.decode_destination_options(wire) == header
    offset = 2
    while offset < len(wire):  # every Home Address option at 8n+6
        if wire[offset] == 0:
            offset += 1
            continue
        if wire[offset] == 201:
            assert offset % 8 == 6
        offset += 2 + wire[offset + 1]


@given(home=addresses, next_header=st.integers(0, 255), segments_left=st.integers(0, 1))
def test_type2_routing_header_round_trip(home: IPv6Address, next_header: int, segments_left: int):
    header = Type2RoutingHeader(home, next_header, segments_left)
    assert exthdr.decode_type2_routing_header(exthdr.encode_type2_routing_header(header)) == header
