"""Mobility Header codec: exact bytes, round trips, validation (RFC 6275 6.1-6.2, RFC 3963,
RFC 5648, RFC 6089 with RFC 6088's traffic selectors).

The expected octets are written field by field from the RFC layouts. The checksum
octets are the value the reference RFC 1071 loop in ``pcap.rfc1071_checksum`` gives
over the pseudo-header and these octets; ``test_reference_checksum`` re-checks each.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d.wire import flowsel, mh
from mip6d.wire.mh import (
    AlternateCareOfAddress,
    BAFlag,
    BAStatus,
    BEStatus,
    BindingAck,
    BindingAuthorizationData,
    BindingError,
    BindingIdentifier,
    BindingReference,
    BindingRefreshAdvice,
    BindingRefreshRequest,
    BindingUpdate,
    BUFlag,
    CareOfTest,
    CareOfTestInit,
    DecodeError,
    EncodeError,
    FlowIdentification,
    FlowIdentificationStatus,
    FlowSummary,
    HomeTest,
    HomeTestInit,
    MHOptionType,
    MHType,
    MobileNetworkPrefix,
    NonceIndices,
    Pad1,
    PadN,
    TrafficSelector4,
    TrafficSelector6,
    UnknownFlowSubOption,
    UnknownMessage,
    UnknownOption,
    UnknownTrafficSelector,
)
from pcap import rfc1071_checksum

pytestmark = pytest.mark.unit

HOA = IPv6Address("2001:db8:1::10")  # mobile node's home address
COA = IPv6Address("2001:db8:2::20")  # its care-of address
HA = IPv6Address("2001:db8:1::1")  # home agent
CN = IPv6Address("2001:db8:3::30")  # correspondent node

HOA_HEX = "20010db8000100000000000000000010"
COA_HEX = "20010db8000200000000000000000020"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (message, pseudo-header source, destination, expected octets)
CASES = [
    pytest.param(
        BindingRefreshRequest(),
        CN,
        HOA,
        h(
            "3b"  # Payload Proto 59 (no next header)
            "00"  # Header Len 0: 8 octets
            "00"  # MH Type 0: Binding Refresh Request
            "00"  # Reserved
            "68ba"  # Checksum
            "0000"  # Reserved
        ),
        id="brr",
    ),
    pytest.param(
        HomeTestInit(0x0102030405060708),
        HOA,
        CN,
        h(
            "3b"  # Payload Proto
            "01"  # Header Len 1: 16 octets
            "01"  # MH Type 1: Home Test Init
            "00"  # Reserved
            "579d"  # Checksum
            "0000"  # Reserved
            "0102030405060708"  # Home Init Cookie
        ),
        id="hoti",
    ),
    pytest.param(
        CareOfTestInit(0xF1F2F3F4F5F6F7F8),
        COA,
        CN,
        h(
            "3b"  # Payload Proto
            "01"  # Header Len 1
            "02"  # MH Type 2: Care-of Test Init
            "00"  # Reserved
            "92c8"  # Checksum
            "0000"  # Reserved
            "f1f2f3f4f5f6f7f8"  # Care-of Init Cookie
        ),
        id="coti",
    ),
    pytest.param(
        HomeTest(7, 0x0102030405060708, 0x1112131415161718),
        CN,
        HOA,
        h(
            "3b"  # Payload Proto
            "02"  # Header Len 2: 24 octets
            "03"  # MH Type 3: Home Test
            "00"  # Reserved
            "0539"  # Checksum
            "0007"  # Home Nonce Index
            "0102030405060708"  # Home Init Cookie
            "1112131415161718"  # Home Keygen Token
        ),
        id="hot",
    ),
    pytest.param(
        CareOfTest(0x0101, 0xF1F2F3F4F5F6F7F8, 0x2122232425262728),
        CN,
        COA,
        h(
            "3b"  # Payload Proto
            "02"  # Header Len 2
            "04"  # MH Type 4: Care-of Test
            "00"  # Reserved
            "ff29"  # Checksum
            "0101"  # Care-of Nonce Index
            "f1f2f3f4f5f6f7f8"  # Care-of Init Cookie
            "2122232425262728"  # Care-of Keygen Token
        ),
        id="cot",
    ),
    pytest.param(
        BindingUpdate(42, 150, BUFlag.A | BUFlag.H),
        HOA,  # sent with a Home Address option: the home address is the checksum source
        HA,
        h(
            "3b"  # Payload Proto
            "01"  # Header Len 1: 16 octets
            "05"  # MH Type 5: Binding Update
            "00"  # Reserved
            "a21f"  # Checksum
            "002a"  # Sequence # 42
            "c000"  # A|H, rest reserved
            "0096"  # Lifetime 150 units = 600 s
            "01020000"  # PadN: 4 octets, to the 8-octet boundary
        ),
        id="bu-home",
    ),
    pytest.param(
        BindingUpdate(43, 150, BUFlag.A | BUFlag.H | BUFlag.K, (AlternateCareOfAddress(COA),)),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "03"  # Header Len 3: 32 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "6123"  # Checksum
            "002b"  # Sequence # 43
            "d000"  # A|H|K
            "0096"  # Lifetime 150
            "0100"  # PadN of 2 octets: Alternate CoA aligned at 8n+6 (offset 14)
            "0310" + COA_HEX  # Alternate Care-of Address, Length 16
        ),
        id="bu-altcoa",
    ),
    pytest.param(
        BindingUpdate(
            256,
            16,
            BUFlag.A,
            (NonceIndices(3, 4), BindingAuthorizationData(bytes(range(12)))),
        ),
        HOA,
        CN,
        h(
            "3b"  # Payload Proto
            "03"  # Header Len 3: 32 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "bb53"  # Checksum
            "0100"  # Sequence # 256
            "8000"  # A
            "0010"  # Lifetime 16 units
            "0404" "0003" "0004"  # Nonce Indices (2n, offset 12): home 3, care-of 4
            "050c" "000102030405060708090a0b"  # Binding Authorization Data at 8n+2 (18)
        ),
        id="bu-cn",
    ),
    pytest.param(
        BindingUpdate(
            7,
            3600,
            BUFlag.A | BUFlag.H | BUFlag.R,
            (
                MobileNetworkPrefix(IPv6Network("2001:db8:100::/48")),
                MobileNetworkPrefix(IPv6Network("2001:db8:200::/56")),
            ),
        ),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "06"  # Header Len 6: 56 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "259d"  # Checksum
            "0007"  # Sequence # 7
            "c400"  # A|H|R (mobile router, RFC 3963)
            "0e10"  # Lifetime 3600 units
            "0612" "00" "30" "20010db8010000000000000000000000"  # MNP at 8n+4 (12): /48
            "01020000"  # PadN of 4: next MNP at 8n+4 (36)
            "0612" "00" "38" "20010db8020000000000000000000000"  # MNP: /56
        ),
        id="bu-nemo",
    ),
    pytest.param(
        BindingUpdate(
            7,
            150,
            BUFlag.A | BUFlag.H,
            (
                BindingIdentifier(1, COA, priority=1),
                BindingIdentifier(2, IPv4Address("192.0.2.1"), simultaneous_home=True,
                                  priority=2),
            ),
        ),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "05"  # Header Len 5: 48 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "6b9f"  # Checksum
            "0007"  # Sequence # 7
            "c000"  # A|H
            "0096"  # Lifetime 150 units
            "2314" "0001" "00" "01" + COA_HEX +  # BID 1 (2n, offset 12), BID-PRI 1, IPv6 CoA
            "2308" "0002" "00" "82" "c0000201"  # BID 2 at 34: H, BID-PRI 2, IPv4 CoA
            "01020000"  # PadN of 4 to the 8-octet boundary
        ),
        id="bu-mcoa-bulk",
    ),
    pytest.param(
        BindingAck(
            BAStatus.MCOA_NOTCOMPLETE,
            7,
            150,
            options=(BindingIdentifier(1), BindingIdentifier(2, status=BAStatus.MCOA_UNKNOWN_COA)),
        ),
        HA,
        HOA,
        h(
            "3b"  # Payload Proto
            "02"  # Header Len 2: 24 octets
            "06"  # MH Type 6
            "00"  # Reserved
            "7130"  # Checksum
            "04"  # Status 4: MCOA NOTCOMPLETE (some bindings refused, RFC 5648 section 6.2)
            "00"  # no flags
            "0007"  # Sequence # 7
            "0096"  # Lifetime 150
            "2304" "0001" "00" "00"  # BID 1: the message's status
            "2304" "0002" "a7" "00"  # BID 2: 167, MCOA UNKNOWN COA; 24 octets, no padding
        ),
        id="ba-mcoa-per-bid-status",
    ),
    pytest.param(
        BindingUpdate(
            7,
            150,
            BUFlag.A | BUFlag.H,
            (
                BindingIdentifier(1, COA, priority=1),
                FlowIdentification(1, 10, sub_options=(
                    BindingReference((1,)),
                    TrafficSelector6(destination_port=(5001, 5001), next_header=(17, 17)),
                )),
            ),
        ),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "07"  # Header Len 7: 64 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "f444"  # Checksum
            "0007"  # Sequence # 7
            "c000"  # A|H
            "0096"  # Lifetime 150 units
            "2314" "0001" "00" "01" + COA_HEX +  # BID 1 (2n, offset 12), BID-PRI 1, IPv6 CoA
            "2d15"  # Flow Identification (2n, offset 34), Length 21 (RFC 6089 section 4.2)
            "0001"  # FID 1
            "000a"  # FID-PRI 10
            "00"  # Reserved
            "00"  # Status 0 (ignored in a Binding Update)
            "0202" "0001"  # Binding Reference sub-option: BID 1
            "0309"  # Traffic Selector sub-option, Length 9 (RFC 6089 section 4.2.3)
            "02"  # TS Format 2: IPv6 binary traffic selector (RFC 6088 section 3.2)
            "00"  # Reserved
            "00220000"  # flags K (Start Destination Port) and O (Start Next Header)
            "1389"  # (K) Start Destination Port 5001, no (L): a single port
            "11"  # (O) Start Next Header 17 (UDP)
            "01050000000000"  # PadN of 7 to the 8-octet boundary
        ),
        id="bu-flow-binding-ipv6-selector",
    ),
    pytest.param(
        BindingUpdate(
            8,
            150,
            BUFlag.A | BUFlag.H,
            (
                FlowIdentification(2, 20, sub_options=(
                    BindingReference((1, 2)),
                    TrafficSelector4(
                        source_address=(IPv4Address("198.51.100.1"),
                                        IPv4Address("198.51.100.254")),
                        destination_port=(5001, 5010),
                        protocol=(6, 6),
                    ),
                )),
            ),
        ),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "05"  # Header Len 5: 48 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "2c83"  # Checksum
            "0008"  # Sequence # 8
            "c000"  # A|H
            "0096"  # Lifetime 150 units
            "2d21"  # Flow Identification (2n, offset 12), Length 33
            "0002" "0014" "00" "00"  # FID 2, FID-PRI 20, Reserved, Status
            "0204" "0001" "0002"  # Binding Reference sub-option: BIDs 1 and 2
            "0313"  # Traffic Selector sub-option, Length 19
            "01"  # TS Format 1: IPv4 binary traffic selector (RFC 6088 section 3.1)
            "00"  # Reserved
            "c0c80000"  # flags A, B (source address range), I, J (destination ports), M
            "c6336401"  # (A) Start Source Address 198.51.100.1
            "c63364fe"  # (B) End Source Address 198.51.100.254
            "1389"  # (I) Start Destination Port 5001
            "1392"  # (J) End Destination Port 5010
            "06"  # (M) Start Protocol 6 (TCP), no (N)
            "00"  # Pad1 to the 8-octet boundary
        ),
        id="bu-flow-binding-ipv4-selector",
    ),
    pytest.param(
        BindingUpdate(
            10,
            150,
            BUFlag.A | BUFlag.H,
            (
                FlowIdentification(3, 30, sub_options=(
                    UnknownTrafficSelector(0, b"\x01\x02"),
                    UnknownFlowSubOption(200, b"\xaa"),
                )),
            ),
        ),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "03"  # Header Len 3: 32 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "fef5"  # Checksum
            "000a"  # Sequence # 10
            "c000"  # A|H
            "0096"  # Lifetime 150 units
            "2d0f"  # Flow Identification, Length 15
            "0003" "001e" "00" "00"  # FID 3, FID-PRI 30, Reserved, Status
            "0304" "00" "00" "0102"  # Traffic Selector, TS Format 0 (reserved): kept raw
            "c801" "aa"  # sub-option type 200, unknown: kept raw
            "010100"  # PadN of 3
        ),
        id="bu-flow-binding-unknown-sub-options",
    ),
    pytest.param(
        BindingUpdate(9, 150, BUFlag.A | BUFlag.H, (FlowSummary((1, 2, 3)),)),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "02"  # Header Len 2: 24 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "762b"  # Checksum
            "0009"  # Sequence # 9
            "c000"  # A|H
            "0096"  # Lifetime 150 units
            "2c06" "0001" "0002" "0003"  # Flow Summary (2n, offset 12): FIDs 1, 2, 3
            "01020000"  # PadN of 4
        ),
        id="bu-flow-summary",
    ),
    pytest.param(
        BindingAck(
            BAStatus.ACCEPTED,
            7,
            150,
            options=(
                FlowIdentification(1, 10, FlowIdentificationStatus.FLOW_BINDING_SUCCESSFUL),
                FlowIdentification(
                    2, 20, FlowIdentificationStatus.TRAFFIC_SELECTOR_FORMAT_NOT_SUPPORTED),
            ),
        ),
        HA,
        HOA,
        h(
            "3b"  # Payload Proto
            "03"  # Header Len 3: 32 octets
            "06"  # MH Type 6
            "00"  # Reserved
            "067f"  # Checksum
            "00"  # Status 0: accepted
            "00"  # no flags
            "0007"  # Sequence # 7
            "0096"  # Lifetime 150
            "2d06" "0001" "000a" "00" "00"  # FID 1, FID-PRI 10: 0, flow binding successful
            "2d06" "0002" "0014" "00" "85"  # FID 2: 133, traffic selector format not supported
            "01020000"  # PadN of 4
        ),
        id="ba-flow-binding-status",
    ),
    pytest.param(
        BindingUpdate(
            9,
            1,
            BUFlag.H,
            (Pad1(), AlternateCareOfAddress(COA), UnknownOption(200, b"\xaa\xbb")),
        ),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "04"  # Header Len 4: 40 octets
            "05"  # MH Type 5
            "00"  # Reserved
            "7f11"  # Checksum
            "0009"  # Sequence # 9
            "4000"  # H
            "0001"  # Lifetime 1
            "00"  # Pad1 given by the caller
            "00"  # Pad1 computed: Alternate CoA at 8n+6 (14)
            "0310" + COA_HEX +  # Alternate Care-of Address
            "c802aabb"  # unknown option 200, kept as given, no alignment
            "01020000"  # PadN of 4 to the 8-octet boundary
        ),
        id="bu-explicit-padding-unknown-option",
    ),
    pytest.param(
        BindingAck(BAStatus.ACCEPTED, 42, 150, BAFlag.K, (BindingRefreshAdvice(120),)),
        HA,
        HOA,  # sent with a type 2 routing header: the home address is the final destination
        h(
            "3b"  # Payload Proto
            "01"  # Header Len 1: 16 octets
            "06"  # MH Type 6: Binding Acknowledgement
            "00"  # Reserved
            "5f28"  # Checksum
            "00"  # Status 0: accepted
            "80"  # K
            "002a"  # Sequence # 42
            "0096"  # Lifetime 150
            "0202" "0078"  # Binding Refresh Advice (2n, offset 12): 120 units
        ),
        id="ba-bra",
    ),
    pytest.param(
        BindingAck(BAStatus.INVALID_PREFIX, 7, 0, BAFlag.R),
        HA,
        HOA,
        h(
            "3b"  # Payload Proto
            "01"  # Header Len 1
            "06"  # MH Type 6
            "00"  # Reserved
            "d498"  # Checksum
            "8d"  # Status 141: Invalid Prefix (RFC 3963)
            "40"  # R
            "0007"  # Sequence # 7
            "0000"  # Lifetime 0
            "01020000"  # PadN of 4
        ),
        id="ba-nemo-invalid-prefix",
    ),
    pytest.param(
        BindingAck(0, 256, 16, options=(BindingAuthorizationData(bytes(range(10, 22))),)),
        CN,
        HOA,
        h(
            "3b"  # Payload Proto
            "03"  # Header Len 3: 32 octets
            "06"  # MH Type 6
            "00"  # Reserved
            "011f"  # Checksum
            "00"  # Status 0
            "00"  # no flags
            "0100"  # Sequence # 256
            "0010"  # Lifetime 16
            "010400000000"  # PadN of 6: Binding Authorization Data at 8n+2 (18)
            "050c" "0a0b0c0d0e0f101112131415"  # Binding Authorization Data
        ),
        id="ba-bad",
    ),
    pytest.param(
        BindingError(BEStatus.UNKNOWN_BINDING_FOR_HAO, HOA),
        CN,
        COA,
        h(
            "3b"  # Payload Proto
            "02"  # Header Len 2: 24 octets
            "07"  # MH Type 7: Binding Error
            "00"  # Reserved
            "32cd"  # Checksum
            "01"  # Status 1: unknown binding for Home Address destination option
            "00"  # Reserved
            + HOA_HEX  # Home Address
        ),
        id="be",
    ),
    pytest.param(
        UnknownMessage(8, 59, b"\x00\x01"),
        HOA,
        HA,
        h(
            "3b"  # Payload Proto
            "00"  # Header Len 0
            "08"  # MH Type 8 (Fast Binding Update, not known here)
            "00"  # Reserved
            "60ea"  # Checksum
            "0001"  # message data, kept raw
        ),
        id="unknown-type",
    ),
]


@pytest.mark.parametrize(("msg", "src", "dst", "wire"), CASES)
def test_encode_exact_bytes(msg: mh.Message, src: IPv6Address, dst: IPv6Address, wire: bytes):
    assert mh.encode(msg, src, dst).hex() == wire.hex()


@pytest.mark.parametrize(("msg", "src", "dst", "wire"), CASES)
def test_decode_exact_bytes(msg: mh.Message, src: IPv6Address, dst: IPv6Address, wire: bytes):
    decoded = mh.decode(wire, src, dst)
    # padding given by the caller is not part of the decoded message
    expected_options = tuple(o for o in msg.options if not isinstance(o, (Pad1, PadN)))
    assert decoded.options == expected_options
    if not isinstance(msg, UnknownMessage):
        assert decoded == dataclasses.replace(msg, options=expected_options)
    else:
        assert decoded == msg
    if expected_options == msg.options:  # canonical padding: the encoding is the same
        assert mh.encode(decoded, src, dst) == wire


@pytest.mark.parametrize(("msg", "src", "dst", "wire"), CASES)
def test_reference_checksum(msg: mh.Message, src: IPv6Address, dst: IPv6Address, wire: bytes):
    assert rfc1071_checksum(src, dst, 135, wire) == 0
    zeroed = wire[:4] + b"\x00\x00" + wire[6:]
    assert rfc1071_checksum(src, dst, 135, zeroed) == int.from_bytes(wire[4:6], "big")


# --------------------------------------------------------------------------- tables


def test_status_and_type_values_are_the_iana_ones():
    assert [int(t) for t in MHType] == list(range(8))
    assert {s.name: int(s) for s in BAStatus} == {
        "ACCEPTED": 0,
        "ACCEPTED_PREFIX_DISCOVERY_NECESSARY": 1,
        "REASON_UNSPECIFIED": 128,
        "ADMINISTRATIVELY_PROHIBITED": 129,
        "INSUFFICIENT_RESOURCES": 130,
        "HOME_REGISTRATION_NOT_SUPPORTED": 131,
        "NOT_HOME_SUBNET": 132,
        "NOT_HOME_AGENT_FOR_THIS_MN": 133,
        "DAD_FAILED": 134,
        "SEQUENCE_NUMBER_OUT_OF_WINDOW": 135,
        "EXPIRED_HOME_NONCE_INDEX": 136,
        "EXPIRED_CARE_OF_NONCE_INDEX": 137,
        "EXPIRED_NONCES": 138,
        "REGISTRATION_TYPE_CHANGE_DISALLOWED": 139,
        "MOBILE_ROUTER_OPERATION_NOT_PERMITTED": 140,
        "INVALID_PREFIX": 141,
        "NOT_AUTHORIZED_FOR_PREFIX": 142,
        "FORWARDING_SETUP_FAILED": 143,
        "MCOA_NOTCOMPLETE": 4,
        "MCOA_RETURNHOME_WO_NDP": 5,
        "MCOA_MALFORMED": 164,
        "MCOA_NON_MCOA_BINDING_EXISTS": 165,
        "MCOA_PROHIBITED": 166,
        "MCOA_UNKNOWN_COA": 167,
        "MCOA_BULK_REGISTRATION_PROHIBITED": 168,
        "MCOA_SIMULTANEOUS_HOME_AND_FOREIGN_PROHIBITED": 169,
    }
    assert (BEStatus.UNKNOWN_BINDING_FOR_HAO, BEStatus.UNRECOGNIZED_MH_TYPE) == (1, 2)
    assert [int(f) for f in BUFlag] == [0x8000, 0x4000, 0x2000, 0x1000, 0x0800, 0x0400, 0x0200]
    assert [int(f) for f in BAFlag] == [0x80, 0x40, 0x20]
    assert [int(t) for t in MHOptionType] == [*range(7), 35, 44, 45]
    assert {s.name: int(s) for s in FlowIdentificationStatus} == {
        "FLOW_BINDING_SUCCESSFUL": 0,
        "ADMINISTRATIVELY_PROHIBITED": 128,
        "REJECTED_REASON_UNSPECIFIED": 129,
        "OPTION_MALFORMED": 130,
        "BID_NOT_FOUND": 131,
        "FID_NOT_FOUND": 132,
        "TRAFFIC_SELECTOR_FORMAT_NOT_SUPPORTED": 133,
    }
    assert FlowIdentificationStatus.FLOW_BINDING_SUCCESSFUL.accepted
    assert not FlowIdentificationStatus.BID_NOT_FOUND.accepted
    assert [int(t) for t in mh.FlowSubOptionType] == [0, 1, 2, 3]
    assert [int(f) for f in mh.TrafficSelectorFormat] == [1, 2]


def test_accepted():
    assert mh.accepted(BAStatus.ACCEPTED)
    assert mh.accepted(BAStatus.ACCEPTED_PREFIX_DISCOVERY_NECESSARY)
    assert mh.accepted(127)
    assert not mh.accepted(128)
    assert not mh.accepted(BAStatus.FORWARDING_SETUP_FAILED)
    assert BAStatus.ACCEPTED.accepted
    assert not BAStatus.DAD_FAILED.accepted
    assert BindingAck(1, 0, 0).accepted
    assert not BindingAck(200, 0, 0).accepted


def test_lifetimes():
    assert BindingUpdate(0, 150).lifetime_seconds == 600
    assert BindingAck(0, 0, 3).lifetime_seconds == 12
    assert BindingRefreshAdvice(30).interval_seconds == 120
    assert mh.lifetime_from_seconds(600) == 150
    assert mh.lifetime_from_seconds(601) == 150
    assert mh.lifetime_from_seconds(10**9) == 0xFFFF
    with pytest.raises(ValueError):
        mh.lifetime_from_seconds(-1)


def test_option_rules():
    assert mh.OPTION_RULES[MHType.BU] == {
        MHOptionType.BINDING_AUTHORIZATION_DATA,
        MHOptionType.NONCE_INDICES,
        MHOptionType.ALTERNATE_CARE_OF_ADDRESS,
        MHOptionType.MOBILE_NETWORK_PREFIX,
        MHOptionType.BINDING_IDENTIFIER,
        MHOptionType.FLOW_IDENTIFICATION,
        MHOptionType.FLOW_SUMMARY,
    }
    assert mh.OPTION_RULES[MHType.BA] == {
        MHOptionType.BINDING_AUTHORIZATION_DATA,
        MHOptionType.BINDING_REFRESH_ADVICE,
        MHOptionType.BINDING_IDENTIFIER,
        MHOptionType.FLOW_IDENTIFICATION,
        MHOptionType.FLOW_SUMMARY,
    }
    for kind in (MHType.BRR, MHType.HOTI, MHType.COTI, MHType.HOT, MHType.COT, MHType.BE):
        assert mh.OPTION_RULES[kind] == frozenset()
    assert {t: s.alignment for t, s in mh.OPTIONS.items()} == {
        2: (2, 0),
        3: (8, 6),
        4: (2, 0),
        5: (8, 2),
        6: (8, 4),
        35: (2, 0),
        44: (2, 0),
        45: (2, 0),
    }
    assert [s.min_header_len for s in mh.MESSAGES.values()] == [0, 1, 1, 2, 2, 1, 1, 2]


# --------------------------------------------------------------------------- decode rules


def with_checksum(wire: bytes, src: IPv6Address, dst: IPv6Address) -> bytes:
    """``wire`` with its checksum recomputed by the reference implementation."""
    zeroed = wire[:4] + b"\x00\x00" + wire[6:]
    return zeroed[:4] + rfc1071_checksum(src, dst, 135, zeroed).to_bytes(2, "big") + wire[6:]


BU_HEAD = "3b010500" "0000" "002a" "c000" "0096"  # BU, Header Len 1, checksum to fix
BA_HEAD = "3b010600" "0000" "00" "00" "002a" "0096"  # BA, Header Len 1
BU24 = "3b020500" "0000" "002a" "c000" "0096"  # BU, Header Len 2: 12 octets of options
BU32 = "3b030500" "0000" "002a" "c000" "0096"  # BU, Header Len 3: 20 octets of options
FID_HEAD = "0001" "000a" "0000"  # FID 1, FID-PRI 10, Reserved, Status


@pytest.mark.parametrize(
    ("wire", "offset", "reason"),
    [
        pytest.param("3b0000", 3, "shorter than 8", id="short"),
        pytest.param("", 0, "shorter than 8", id="empty"),
        pytest.param("3b010000" "0000" "0000", 1, "Header Len 1 means 16", id="hdrlen>data"),
        pytest.param("3b000000" "0000" "0000" "00000000", 1, "but 12", id="hdrlen<data"),
        pytest.param("06000000" "0000" "0000", 0, "Payload Proto 6", id="payload-proto"),
        pytest.param("3b000100" "0000" "0000", 1, "below the minimum 1", id="hoti-too-short"),
        pytest.param("3b010700" "0000" "0100" + "00" * 8, 1, "minimum 2", id="be-too-short"),
        pytest.param(BU_HEAD + "00000002", 15, "no Length octet", id="option-truncated"),
        pytest.param(BU_HEAD + "02050000", 13, "runs past the end", id="option-overrun"),
        pytest.param(BA_HEAD + "02010000", 13, "expected 2", id="bra-length"),
        pytest.param(
            "3b030500" "0000" "002a" "c000" "0096" "0100" "030f" + "00" * 15 + "00",
            15,
            "expected 16",
            id="altcoa-length",
        ),
        pytest.param(
            "3b030500" "0000" "002a" "c000" "0096" "0612" "0081" + "00" * 16,
            15,
            "length 129 > 128",
            id="mnp-prefix-length",
        ),
        pytest.param(
            "3b030500" "0000" "002a" "c000" "0096" "0612" "0030" "20010db8" "0001" + "00" * 9
            + "01",
            16,
            "host bits set",
            id="mnp-host-bits",
        ),
        pytest.param(
            "3b030500" "0000" "002a" "c000" "0096" "050c" + "00" * 12 + "04040000" "0000",
            26,
            "must be the last option",
            id="bad-not-last",
        ),
        pytest.param(BU_HEAD + "23020001", 13, "expected 4 (no care-of address), 8 (IPv4) "
                     "or 20 (IPv6)", id="bid-short"),
        pytest.param(
            "3b020500" "0000" "002a" "c000" "0096" "2306" "0001" "0000" "c000" "00000000",
            13,
            "BindingIdentifier option length 6",
            id="bid-partial-address",
        ),
        pytest.param(BU24 + "2d04" "0001000a" "010400000000", 13,
                     "FlowIdentification option length 4, shorter than 6", id="fid-short"),
        pytest.param(BU24 + "2d07" + FID_HEAD + "02" "010100", 20,
                     "sub-option type 2 truncated: no Length octet", id="fid-sub-no-length"),
        pytest.param(BU24 + "2d0a" + FID_HEAD + "0204" "0001", 21,
                     "sub-option type 2 length 4 runs past the end of the option",
                     id="fid-sub-truncated"),
        pytest.param(BU24 + "2d08" + FID_HEAD + "0200" "0100", 21,
                     "Binding Reference sub-option length 0", id="binding-reference-empty"),
        pytest.param(BU32 + "2d0b" + FID_HEAD + "0203" "000100" "01050000000000", 21,
                     "Binding Reference sub-option length 3", id="binding-reference-odd"),
        pytest.param(BU24 + "2d09" + FID_HEAD + "030102" "00", 21,
                     "Traffic Selector sub-option length 1, shorter than 2", id="ts-short"),
        pytest.param(BU32 + "2d10" + FID_HEAD + "0308" "0200" "00300000" "1389" "0100", 24,
                     "TrafficSelector6 flags promise 8 octets, the selector has 6",
                     id="ts-flags-promise-more"),
        pytest.param(BU32 + "2d12" + FID_HEAD + "030a" "0100" "00800000" "1389" "1389", 24,
                     "TrafficSelector4 flags promise 6 octets, the selector has 8",
                     id="ts-octets-after-fields"),
        pytest.param(BU32 + "2d0c" + FID_HEAD + "0304" "0200" "0000" "010400000000", 24,
                     "TrafficSelector6 of 2 octets, shorter than its 4-octet flags",
                     id="ts-no-flags"),
        pytest.param(BU32 + "2d10" + FID_HEAD + "0308" "0200" "00100000" "1389" "0100", 24,
                     "flag L (End Destination Port) without K (Start Destination Port)",
                     id="ts-end-without-start"),
        pytest.param(BU32 + "2d12" + FID_HEAD + "030a" "0100" "00c00000" "1392" "1389", 30,
                     "End Destination Port 5001 below Start Destination Port 5010",
                     id="ts-range-reversed"),
        pytest.param(BU24 + "2c03" "000100" "01050000000000", 13,
                     "FlowSummary option length 3, expected a positive even number",
                     id="flow-summary-odd"),
        pytest.param(BU24 + "2c00" "0108" + "00" * 8, 13, "FlowSummary option length 0",
                     id="flow-summary-empty"),
    ],
)
def test_decode_errors(wire: str, offset: int, reason: str):
    data = bytes.fromhex(wire)
    if len(data) >= 8:
        data = with_checksum(data, HOA, HA)
    with pytest.raises(DecodeError) as info:
        mh.decode(data, HOA, HA)
    assert info.value.offset == offset
    assert reason in info.value.reason
    assert f"at offset {offset}" in str(info.value)


def test_bad_checksum_is_rejected_unless_verification_is_off():
    wire = mh.encode(BindingUpdate(1, 2), HOA, HA)
    corrupted = wire[:-1] + bytes((wire[-1] ^ 1,))
    with pytest.raises(DecodeError, match="checksum") as info:
        mh.decode(corrupted, HOA, HA)
    assert info.value.offset == 4
    with pytest.raises(DecodeError, match="checksum"):
        mh.decode(wire, COA, HA)  # the wrong pseudo-header source
    assert mh.decode(corrupted, HOA, HA, verify_checksum=False) == BindingUpdate(1, 2)


def test_decode_accepts_bytes_like():
    wire = mh.encode(BindingUpdate(1, 2), HOA, HA)
    assert mh.decode(bytearray(wire), HOA, HA) == BindingUpdate(1, 2)
    assert mh.decode(memoryview(wire), HOA, HA) == BindingUpdate(1, 2)


def test_decode_drops_padding_and_keeps_unknown_options():
    wire = with_checksum(
        h(
            "3b030500" "0000" "002a" "c000" "0096"
            "00"  # Pad1
            "0101ff"  # PadN with non-zero content: still padding
            "fe03010203"  # unknown option 254
            "020200ff"  # Binding Refresh Advice: not valid in a BU, kept as unknown
            "00"  # Pad1
            "010400000000"  # PadN
        ),
        HOA,
        HA,
    )
    msg = mh.decode(wire, HOA, HA)
    assert msg == BindingUpdate(
        42,
        150,
        BUFlag.A | BUFlag.H,
        (UnknownOption(254, b"\x01\x02\x03"), UnknownOption(2, b"\x00\xff")),
    )


def test_unknown_values_are_kept():
    wire = with_checksum(h("3b010600" "0000" "7f" "1f" "0001" "0002" "01020000"), HA, HOA)
    msg = mh.decode(wire, HA, HOA)
    assert msg == BindingAck(127, 1, 2, BAFlag(0x1F))
    assert type(msg.status) is int  # type: ignore[union-attr]
    assert msg.accepted  # type: ignore[union-attr]
    assert mh.encode(msg, HA, HOA) == wire
    wire = with_checksum(h("3b010500" "0000" "0001" "01ff" "0002" "01020000"), HOA, HA)
    assert mh.decode(wire, HOA, HA).flags == BUFlag(0x01FF)  # type: ignore[union-attr]
    wire = with_checksum(h("3b020700" "0000" "09" "00") + HOA.packed, CN, COA)
    assert mh.decode(wire, CN, COA) == BindingError(9, HOA)


def test_unknown_mh_type_decodes_to_unknown_message():
    wire = mh.encode(UnknownMessage(16, 59, bytes(10)), HA, HOA)
    assert mh.decode(wire, HA, HOA) == UnknownMessage(16, 59, bytes(10))
    assert mh.decode(wire, HA, HOA).options == ()


def test_reserved_fields_are_ignored():
    canonical = mh.encode(HomeTestInit(5), HOA, CN)
    dirty = with_checksum(canonical[:3] + b"\xff" + canonical[4:6] + b"\xff\xff" + canonical[8:],
                          HOA, CN)
    assert mh.decode(dirty, HOA, CN) == HomeTestInit(5)


# --------------------------------------------------------------------------- encode rules


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (BindingUpdate(1, 2, options=(BindingRefreshAdvice(1),)), "not valid in this message"),
        (BindingAck(0, 1, 2, options=(AlternateCareOfAddress(COA),)), "not valid"),
        (HomeTestInit(1, (NonceIndices(1, 2),)), "not valid"),
        (
            BindingUpdate(1, 2, options=(BindingAuthorizationData(b"x"), NonceIndices(1, 2))),
            "must be the last option",
        ),
        (
            BindingUpdate(1, 2, options=(BindingAuthorizationData(b"x"), UnknownOption(9, b""))),
            "must be the last option",
        ),
        (BindingUpdate(1, 2, options=(PadN(1),)), "PadN length 1"),
        (BindingUpdate(1, 2, options=(UnknownOption(1, b""),)), "use Pad1/PadN"),
        (BindingUpdate(1, 2, options=(UnknownOption(300, b""),)), "not in 2..255"),
        (BindingUpdate(1, 2, options=(UnknownOption(9, bytes(256)),)), "over 255"),
        (BindingUpdate(1, 2, options=(BindingAuthorizationData(bytes(256)),)), "over 255"),
        (BindingUpdate(1, 2, options=(NonceIndices(1, 70000),)), "NonceIndices"),
        (BindingUpdate(1 << 16, 2), "BindingUpdate"),
        (BindingUpdate(1, -1), "BindingUpdate"),
        (BindingAck(256, 1, 2), "BindingAck"),
        (HomeTestInit(1 << 64), "HomeTestInit"),
        (BindingAck(0, 0, 0, options=(BindingRefreshAdvice(1 << 16),)), "BindingRefreshAdvice"),
        (BindingUpdate(1, 2, options=(BindingIdentifier(1, priority=128),)),
         "BindingIdentifier: BID-PRI 128 not in 0..127"),
        (BindingUpdate(1, 2, options=(BindingIdentifier(1 << 16),)), "BindingIdentifier"),
        (BindingAck(0, 0, 0, options=(BindingIdentifier(1, status=256),)), "BindingIdentifier"),
        (HomeTestInit(1, (FlowSummary((1,)),)), "FlowSummary option is not valid"),
        (BindingUpdate(1, 2, options=(FlowSummary(()),)), "FlowSummary: FID list: no identifier"),
        (BindingUpdate(1, 2, options=(FlowSummary((1 << 16,)),)), "FlowSummary"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1 << 16, 1),)), "FlowIdentification"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, -1),)), "FlowIdentification"),
        (BindingAck(0, 0, 0, options=(FlowIdentification(1, 1, 256),)), "FlowIdentification"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            BindingReference(()),)),)), "BindingReference: no identifier"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            BindingReference((1 << 16,)),)),)), "FlowIdentification"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            TrafficSelector6(destination_port=(5002, 5001)),)),)),
         "TrafficSelector6.destination_port: end 5001 below start 5002"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            TrafficSelector4(source_port=(70000, 70000)),)),)),
         r"TrafficSelector4.source_port: 70000 not in 0..65535"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            TrafficSelector6(flow_label=(0, 1 << 20)),)),)),
         r"TrafficSelector6.flow_label: 1048576 not in 0..1048575"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            TrafficSelector4(protocol=(-1, 6)),)),)), r"protocol: -1 not in 0..255"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            TrafficSelector4(destination_address=(HA, HA)),)),)),  # type: ignore[arg-type]
         "TrafficSelector4.destination_address: .* is not an IPv4Address"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            TrafficSelector6(destination_port=5001),)),)),  # type: ignore[arg-type]
         r"destination_port: 5001 is not a \(start, end\) pair"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            UnknownTrafficSelector(2, b""),)),)), "use TrafficSelector4/TrafficSelector6"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            UnknownFlowSubOption(3, b""),)),)), "type 3 not in 4..255"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            UnknownFlowSubOption(9, bytes(256)),)),)), "sub-option type 9 data over 255"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            UnknownFlowSubOption(9, bytes(250)),)),)), "FlowIdentification data over 255"),
        (BindingUpdate(1, 2, options=(FlowIdentification(1, 1, sub_options=(
            "x",)),)), "not a Flow Identification sub-option: str"),  # type: ignore[arg-type]
        (UnknownMessage(9, 59, b"\x00"), "not a multiple of 8"),
        (UnknownMessage(300, 59, b"\x00\x00"), "not in 0..255"),
        (BindingUpdate(1, 2, options=(UnknownOption(9, bytes(255)),) * 9), "Header Len range"),
    ],
)
def test_encode_errors(msg: mh.Message, message: str):
    with pytest.raises(EncodeError, match=message):
        mh.encode(msg, HOA, HA)


def test_encode_payload_proto():
    wire = mh.encode(BindingRefreshRequest(), CN, HOA, payload_proto=6)
    assert wire[0] == 6
    with pytest.raises(DecodeError, match="Payload Proto 6"):
        mh.decode(wire, CN, HOA)
    with pytest.raises(EncodeError):
        mh.encode(BindingRefreshRequest(), CN, HOA, payload_proto=256)


def test_encode_rejects_foreign_objects():
    with pytest.raises(EncodeError, match="not a Mobility Header message"):
        mh.encode(object(), CN, HOA)  # type: ignore[arg-type]


def test_padn_of_any_size_and_alignment_after_it():
    msg = BindingUpdate(1, 2, options=(PadN(11), AlternateCareOfAddress(COA)))
    wire = mh.encode(msg, HOA, HA)
    # 12 fixed + 11 given + 7 computed (to 30 = 8*3+6) + 18 = 48
    assert wire[12:23] == h("0109") + bytes(9)
    assert wire[23:30] == h("0105") + bytes(5)
    assert wire[30:32] == h("0310")
    assert len(wire) == 48
    assert mh.decode(wire, HOA, HA) == BindingUpdate(1, 2, options=(AlternateCareOfAddress(COA),))


# --------------------------------------------------------------------------- properties

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u64 = st.integers(0, (1 << 64) - 1)
addresses = st.integers(0, (1 << 128) - 1).map(IPv6Address)


@st.composite
def prefixes(draw: st.DrawFn) -> IPv6Network:
    length = draw(st.integers(0, 128))
    value = draw(st.integers(0, (1 << 128) - 1))
    return IPv6Network((value >> (128 - length) << (128 - length), length))


unknown_options = st.builds(
    UnknownOption, st.integers(7, 255).filter(lambda t: t not in mh.OPTIONS), st.binary(max_size=40)
)
binding_identifiers = st.builds(
    BindingIdentifier,
    u16,
    st.one_of(st.none(), st.integers(0, (1 << 32) - 1).map(IPv4Address), addresses),
    u8.map(lambda s: BA_STATUS.get(s, s)),
    st.booleans(),
    st.integers(0, 127),
)


def ranges(values: st.SearchStrategy[object]) -> st.SearchStrategy[tuple[object, object] | None]:
    """An optional inclusive range of ``values``, start first."""
    return st.none() | st.lists(values, min_size=2, max_size=2).map(
        lambda pair: tuple(sorted(pair))  # type: ignore[arg-type]
    )


ipv4s = st.integers(0, (1 << 32) - 1).map(IPv4Address)
u32 = st.integers(0, (1 << 32) - 1)
selectors4 = st.builds(TrafficSelector4, ranges(ipv4s), ranges(ipv4s), ranges(u32), ranges(u16),
                       ranges(u16), ranges(u8), ranges(u8))
selectors6 = st.builds(TrafficSelector6, ranges(addresses), ranges(addresses), ranges(u32),
                       ranges(st.integers(0, 0xFFFFF)), ranges(u16), ranges(u16), ranges(u8),
                       ranges(u8))
FI_STATUS: dict[int, FlowIdentificationStatus | int] = {int(s): s for s in FlowIdentificationStatus}
flow_sub_options = st.one_of(
    st.builds(BindingReference, st.lists(u16, min_size=1, max_size=4).map(tuple)),
    selectors4,
    selectors6,
    st.builds(UnknownTrafficSelector, st.sampled_from([0, 3, 200, 255]), st.binary(max_size=20)),
    st.builds(UnknownFlowSubOption, st.integers(4, 255), st.binary(max_size=20)),
)
flow_identifications = st.builds(
    FlowIdentification, u16, u16, u8.map(lambda s: FI_STATUS.get(s, s)),
    st.lists(flow_sub_options, max_size=3).map(tuple),
).filter(lambda o: len(mh.OPTIONS[45].encode(o)) <= 255)
flow_summaries = st.builds(FlowSummary, st.lists(u16, min_size=1, max_size=20).map(tuple))
bu_options = st.lists(
    st.one_of(
        st.builds(AlternateCareOfAddress, addresses),
        st.builds(NonceIndices, u16, u16),
        st.builds(MobileNetworkPrefix, prefixes()),
        binding_identifiers,
        flow_identifications,
        flow_summaries,
        unknown_options,
    ),
    max_size=5,
)
ba_options = st.lists(st.one_of(st.builds(BindingRefreshAdvice, u16), binding_identifiers,
                                flow_identifications, flow_summaries, unknown_options),
                      max_size=4)
authorization = st.lists(st.builds(BindingAuthorizationData, st.binary(max_size=40)), max_size=1)
BA_STATUS: dict[int, BAStatus | int] = {int(s): s for s in BAStatus}
BE_STATUS: dict[int, BEStatus | int] = {int(s): s for s in BEStatus}
no_options = st.lists(unknown_options, max_size=3).map(tuple)

MESSAGES = {
    "brr": st.builds(BindingRefreshRequest, no_options),
    "hoti": st.builds(HomeTestInit, u64, no_options),
    "coti": st.builds(CareOfTestInit, u64, no_options),
    "hot": st.builds(HomeTest, u16, u64, u64, no_options),
    "cot": st.builds(CareOfTest, u16, u64, u64, no_options),
    "bu": st.builds(
        BindingUpdate,
        u16,
        u16,
        u16.map(BUFlag),
        st.builds(lambda a, b: tuple(a + b), bu_options, authorization),
    ),
    "ba": st.builds(
        BindingAck,
        u8.map(lambda s: BA_STATUS.get(s, s)),
        u16,
        u16,
        u8.map(BAFlag),
        st.builds(lambda a, b: tuple(a + b), ba_options, authorization),
    ),
    "be": st.builds(
        BindingError, u8.map(lambda s: BE_STATUS.get(s, s)), addresses, no_options
    ),
    "unknown": st.builds(
        UnknownMessage,
        st.integers(8, 255),
        st.just(59),
        st.integers(0, 30).map(lambda n: bytes(range(2 + 8 * n))[: 2 + 8 * n]),
    ),
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_round_trip_property(kind: str):
    @given(msg=MESSAGES[kind], src=addresses, dst=addresses)
    def check(msg: mh.Message, src: IPv6Address, dst: IPv6Address) -> None:
        wire = mh.encode(msg, src, dst)
        assert len(wire) % 8 == 0
        assert wire[1] == len(wire) // 8 - 1
        assert rfc1071_checksum(src, dst, 135, wire) == 0
        decoded = mh.decode(wire, src, dst)
        assert decoded == msg
        assert mh.encode(decoded, src, dst) == wire
        # every option sits at its alignment
        offset = 6 + mh.MESSAGES[wire[2]].body.size if wire[2] in mh.MESSAGES else len(wire)
        while offset < len(wire):
            kind_ = wire[offset]
            if kind_ == 0:
                offset += 1
                continue
            spec = mh.OPTIONS.get(kind_)
            if spec is not None and kind_ in mh.MESSAGES[wire[2]].options:
                x, y = spec.alignment
                assert offset % x == y
            offset += 2 + wire[offset + 1]

    check()


# --------------------------------------------------------------------------- traffic selectors


def test_selector_layouts_follow_the_dataclasses():
    for cls in (TrafficSelector4, TrafficSelector6):
        assert [f.name for f in dataclasses.fields(cls)] == [f.name for f in flowsel._LAYOUTS[cls]]


def test_a_single_value_is_sent_as_the_start_field_alone():
    """RFC 6088 section 3.1: an end field only for a range of more than one value; a
    received Start == End pair is the same selector."""
    single = flowsel.encode_selector(TrafficSelector4(source_port=(80, 80)))
    assert single.hex() == "02000000" "0050"  # flag G only
    both = h("03000000" "0050" "0050")  # flags G and H, End == Start
    assert flowsel.decode_selector(1, both, 0) == TrafficSelector4(source_port=(80, 80))
    assert flowsel.decode_selector(1, single, 0) == TrafficSelector4(source_port=(80, 80))


def test_selector_reserved_and_flow_label_high_bits_are_ignored():
    wire = h("8000ffff" "20010db8000100000000000000000001" "fff12345")
    assert flowsel.decode_selector(2, wire[:20], 0) == TrafficSelector6(
        source_address=(IPv6Address("2001:db8:1::1"),) * 2)  # type: ignore[arg-type]
    labelled = h("02000000" "fff12345")  # flag G: Start Flow Label, 12 high bits set
    assert flowsel.decode_selector(2, labelled, 0) == TrafficSelector6(flow_label=(0x12345,) * 2)
    assert flowsel.encode_selector(TrafficSelector6(flow_label=(0x12345, 0x12345))) == (
        h("02000000" "00012345"))


def test_selector_decoder_refuses_other_formats():
    with pytest.raises(DecodeError, match="format 3 is not a binary selector"):
        flowsel.decode_selector(3, h("00000000"), 7)
    with pytest.raises(EncodeError, match="not a traffic selector"):
        flowsel.encode_selector(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["ipv4", "ipv6"])
def test_selector_round_trip_property(kind: str):
    @given(selector=selectors4 if kind == "ipv4" else selectors6)
    def check(selector: flowsel.TrafficSelector) -> None:
        wire = flowsel.encode_selector(selector)
        assert flowsel.decode_selector(selector.format, wire, 0) == selector

    check()
