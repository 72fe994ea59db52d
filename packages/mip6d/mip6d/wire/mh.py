"""Mobility Header messages and mobility options (RFC 6275 sections 6.1 and 6.2, RFC 3963,
RFC 5648, RFC 6089 with RFC 6088's traffic selectors).

The Mobility Header (IPv6 next header 135, RFC 6275 section 6.1.1)::

    +---------------+---------------+---------------+---------------+
    | Payload Proto |  Header Len   |   MH Type     |   Reserved    |
    +---------------+---------------+---------------+---------------+
    |           Checksum            |                               |
    +-------------------------------+                               |
    .                  Message Data (fixed part, then options)      .
    +---------------------------------------------------------------+

Header Len counts 8-octet units after the first 8 octets, so a Mobility Header is always
a multiple of 8 octets long. The checksum covers the IPv6 pseudo-header (next header 135)
and the whole Mobility Header.

Everything that differs between message types is in two tables: :data:`MESSAGES` (fixed
fields as a :class:`struct.Struct`, which options the message may carry, how fields map
to the dataclass) and :data:`OPTIONS` (alignment ``xn+y``, fixed data length, codec).
:func:`encode` and :func:`decode` are generic over both tables.

Padding is never part of a decoded message: :func:`decode` drops Pad1/PadN and
:func:`encode` inserts the padding each option's alignment asks for, then pads the header
to a multiple of 8 octets. A caller may still put :class:`Pad1`/:class:`PadN` into
``options`` explicitly; they are written where they stand, and the computed alignment
padding accounts for them. ``encode(decode(x)) == x`` holds for every ``x`` whose padding
is the one :func:`encode` computes and whose reserved fields are zero.

Known options that are not valid in the message that carries them (RFC 6275 section 6.2.1
asks receivers to ignore options they do not understand; an option out of place is one)
decode as :class:`UnknownOption` with their raw data, so nothing is dropped and
re-encoding is exact.

Flow bindings (RFC 6089): :class:`FlowIdentification` (type 45) carries sub-options in a
TLV format of its own (section 4.2.1: Pad1 is one octet, PadN and the others have a
length octet counting the data after it). Sub-option padding is dropped like option
padding and never written (no sub-option has an alignment requirement); unknown
sub-options, and Traffic Selector sub-options of a TS Format other than the binary ones
of RFC 6088 (:mod:`mip6d.wire.flowsel`), are kept raw so that a home agent can answer
them (status 133, traffic selector format not supported) and re-encoding is exact.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias

from mip6d.wire.checksum import pseudo_header_checksum, verify_pseudo_header_checksum
from mip6d.wire.errors import DecodeError, EncodeError
from mip6d.wire.flowsel import (
    TrafficSelector4,
    TrafficSelector6,
    TrafficSelectorFormat,
    decode_selector,
    encode_selector,
)

__all__ = [
    "IPPROTO_MH",
    "IPPROTO_NONE",
    "MESSAGES",
    "OPTIONS",
    "OPTION_RULES",
    "AlternateCareOfAddress",
    "BAFlag",
    "BAStatus",
    "BEStatus",
    "BUFlag",
    "BindingAck",
    "BindingAuthorizationData",
    "BindingError",
    "BindingIdentifier",
    "BindingReference",
    "BindingRefreshAdvice",
    "BindingRefreshRequest",
    "BindingUpdate",
    "CareOfTest",
    "CareOfTestInit",
    "DecodeError",
    "EncodeError",
    "FlowIdentification",
    "FlowIdentificationStatus",
    "FlowSubOption",
    "FlowSubOptionType",
    "FlowSummary",
    "HomeTest",
    "HomeTestInit",
    "MHOptionType",
    "MHType",
    "Message",
    "MessageSpec",
    "MobileNetworkPrefix",
    "NonceIndices",
    "Option",
    "OptionSpec",
    "Pad1",
    "PadN",
    "TrafficSelector4",
    "TrafficSelector6",
    "TrafficSelectorFormat",
    "UnknownFlowSubOption",
    "UnknownMessage",
    "UnknownOption",
    "UnknownTrafficSelector",
    "accepted",
    "decode",
    "encode",
    "lifetime_from_seconds",
]

IPPROTO_MH = 135
"""IPv6 next header value of the Mobility Header (RFC 6275 section 6.1.1)."""
IPPROTO_NONE = 59
"""The only valid Payload Proto value (RFC 6275 sections 6.1.1 and 9.2)."""

LIFETIME_UNIT = 4
"""Seconds per unit of the BU and BA Lifetime fields (RFC 6275 sections 6.1.7, 6.1.8)."""


# --------------------------------------------------------------------------- enums


class MHType(IntEnum):
    """Mobility Header Type (RFC 6275 section 6.1, IANA "Mobility Header Types")."""

    BRR = 0
    HOTI = 1
    COTI = 2
    HOT = 3
    COT = 4
    BU = 5
    BA = 6
    BE = 7


class MHOptionType(IntEnum):
    """Mobility option type (RFC 6275 section 6.2, RFC 3963 section 4.3, RFC 5648 section
    6.1, RFC 6089 sections 4.2 and 4.3; IANA "Mobility Options")."""

    PAD1 = 0
    PADN = 1
    BINDING_REFRESH_ADVICE = 2
    ALTERNATE_CARE_OF_ADDRESS = 3
    NONCE_INDICES = 4
    BINDING_AUTHORIZATION_DATA = 5
    MOBILE_NETWORK_PREFIX = 6
    BINDING_IDENTIFIER = 35
    FLOW_SUMMARY = 44
    FLOW_IDENTIFICATION = 45


class BAStatus(IntEnum):
    """Binding Acknowledgement status (RFC 6275 section 6.1.8; 140-143 from RFC 3963; 4, 5
    and 164-169 from RFC 5648 section 6.2, for multiple care-of addresses).

    Values below 128 mean the Binding Update was accepted.
    """

    ACCEPTED = 0
    ACCEPTED_PREFIX_DISCOVERY_NECESSARY = 1
    MCOA_NOTCOMPLETE = 4
    MCOA_RETURNHOME_WO_NDP = 5
    REASON_UNSPECIFIED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INSUFFICIENT_RESOURCES = 130
    HOME_REGISTRATION_NOT_SUPPORTED = 131
    NOT_HOME_SUBNET = 132
    NOT_HOME_AGENT_FOR_THIS_MN = 133
    DAD_FAILED = 134
    SEQUENCE_NUMBER_OUT_OF_WINDOW = 135
    EXPIRED_HOME_NONCE_INDEX = 136
    EXPIRED_CARE_OF_NONCE_INDEX = 137
    EXPIRED_NONCES = 138
    REGISTRATION_TYPE_CHANGE_DISALLOWED = 139
    MOBILE_ROUTER_OPERATION_NOT_PERMITTED = 140
    INVALID_PREFIX = 141
    NOT_AUTHORIZED_FOR_PREFIX = 142
    FORWARDING_SETUP_FAILED = 143
    MCOA_MALFORMED = 164
    MCOA_NON_MCOA_BINDING_EXISTS = 165
    MCOA_PROHIBITED = 166
    MCOA_UNKNOWN_COA = 167
    MCOA_BULK_REGISTRATION_PROHIBITED = 168
    MCOA_SIMULTANEOUS_HOME_AND_FOREIGN_PROHIBITED = 169

    @property
    def accepted(self) -> bool:
        """Whether this status accepts the binding (status < 128)."""
        return self.value < 128


class FlowIdentificationStatus(IntEnum):
    """Status of a Flow Identification option (RFC 6089 section 4.2; IANA "Flow
    Identification Mobility Option Status Codes"). Meaningful in a Binding
    Acknowledgement only (a Binding Update's is ignored). Values below 128 are successes;
    RFC 6089 adds no Binding Acknowledgement status of its own."""

    FLOW_BINDING_SUCCESSFUL = 0
    ADMINISTRATIVELY_PROHIBITED = 128
    REJECTED_REASON_UNSPECIFIED = 129
    """Flow binding rejected, reason unspecified."""
    OPTION_MALFORMED = 130
    """Flow identification mobility option malformed."""
    BID_NOT_FOUND = 131
    FID_NOT_FOUND = 132
    TRAFFIC_SELECTOR_FORMAT_NOT_SUPPORTED = 133

    @property
    def accepted(self) -> bool:
        """Whether this status reports success (status < 128)."""
        return self.value < 128


class FlowSubOptionType(IntEnum):
    """Flow Identification sub-option type (RFC 6089 section 4.2.1; IANA "Flow
    Identification Sub-Options"). Types 4 and 5 (RFC 7109) are not decoded here."""

    PAD1 = 0
    PADN = 1
    BINDING_REFERENCE = 2
    TRAFFIC_SELECTOR = 3


class BEStatus(IntEnum):
    """Binding Error status (RFC 6275 section 6.1.9)."""

    UNKNOWN_BINDING_FOR_HAO = 1
    """Unknown binding for Home Address destination option."""
    UNRECOGNIZED_MH_TYPE = 2
    """Unrecognized MH Type value."""


class BUFlag(IntFlag):
    """The 16-bit flags word of a Binding Update (RFC 6275 section 6.1.7).

    Bits that no member names (reserved ones) are kept as they were received.
    """

    A = 0x8000
    """Acknowledge (RFC 6275)."""
    H = 0x4000
    """Home Registration (RFC 6275)."""
    L = 0x2000
    """Link-Local Address Compatibility (RFC 6275)."""
    K = 0x1000
    """Key Management Mobility Capability (RFC 6275)."""
    M = 0x0800
    """MAP Registration (RFC 4140 / RFC 5380)."""
    R = 0x0400
    """Mobile Router (RFC 3963 section 4.1)."""
    P = 0x0200
    """Proxy Registration (RFC 5213 section 8.1)."""


class BAFlag(IntFlag):
    """The 8-bit flags octet of a Binding Acknowledgement (RFC 6275 section 6.1.8)."""

    K = 0x80
    """Key Management Mobility Capability (RFC 6275)."""
    R = 0x40
    """Mobile Router (RFC 3963 section 4.2)."""
    P = 0x20
    """Proxy Registration (RFC 5213 section 8.2)."""


_NO_BU_FLAGS = BUFlag(0)
_NO_BA_FLAGS = BAFlag(0)
_BA_STATUS: dict[int, BAStatus] = {int(s): s for s in BAStatus}
_BE_STATUS: dict[int, BEStatus] = {int(s): s for s in BEStatus}
_FI_STATUS: dict[int, FlowIdentificationStatus] = {int(s): s for s in FlowIdentificationStatus}


def accepted(status: int) -> bool:
    """Whether a Binding Acknowledgement status accepts the binding (RFC 6275 section
    6.1.8: values below 128 indicate that the Binding Update was accepted)."""
    return 0 <= int(status) < 128


def lifetime_from_seconds(seconds: int) -> int:
    """The Lifetime field value for ``seconds`` (4-second units, rounded down so the
    binding never outlives what was asked, capped at 0xffff)."""
    if seconds < 0:
        raise ValueError(f"negative lifetime: {seconds} s")
    return min(seconds // LIFETIME_UNIT, 0xFFFF)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class Pad1:
    """One octet of padding (RFC 6275 section 6.2.2). Never produced by decode."""


@dataclass(frozen=True, slots=True)
class PadN:
    """``length`` octets of padding, ``length >= 2``, Type and Length octets included
    (RFC 6275 section 6.2.3). Never produced by decode."""

    length: int = 2


@dataclass(frozen=True, slots=True)
class BindingRefreshAdvice:
    """Binding Refresh Advice (type 2, RFC 6275 section 6.2.4): the interval, in units
    of 4 seconds, after which the mobile node should refresh its binding."""

    interval: int

    @property
    def interval_seconds(self) -> int:
        return self.interval * LIFETIME_UNIT


@dataclass(frozen=True, slots=True)
class AlternateCareOfAddress:
    """Alternate Care-of Address (type 3, RFC 6275 section 6.2.5)."""

    address: IPv6Address


@dataclass(frozen=True, slots=True)
class NonceIndices:
    """Nonce Indices (type 4, RFC 6275 section 6.2.6)."""

    home: int
    care_of: int


@dataclass(frozen=True, slots=True)
class BindingAuthorizationData:
    """Binding Authorization Data (type 5, RFC 6275 section 6.2.7). The authenticator
    is 96 bits with the RFC 6275 algorithm; other lengths are carried as they are."""

    authenticator: bytes


@dataclass(frozen=True, slots=True)
class MobileNetworkPrefix:
    """Mobile Network Prefix (type 6, RFC 3963 section 4.3). Host bits must be zero
    (decode rejects a prefix with host bits set)."""

    prefix: IPv6Network


@dataclass(frozen=True, slots=True)
class BindingIdentifier:
    """Binding Identifier (type 35, RFC 5648 section 6.1): which of a node's bindings (one
    per care-of address) the message is about. In a Binding Update it carries that
    binding's care-of address (none, IPv4 or IPv6); in a Binding Acknowledgement its own
    ``status`` (0: the message's). ``simultaneous_home`` is the H flag (registered at home
    and away at once); ``priority`` is the BID-PRI of RFC 6089 section 4.1 (7 bits, lower
    is preferred, 0 reserved), what RFC 5648 left reserved."""

    bid: int
    care_of: IPv4Address | IPv6Address | None = None
    status: BAStatus | int = 0
    simultaneous_home: bool = False
    priority: int = 0


@dataclass(frozen=True, slots=True)
class BindingReference:
    """Binding Reference sub-option (type 2, RFC 6089 section 4.2.2): the bindings, by
    BID (RFC 5648), the flow is bound to; one or more."""

    bids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UnknownTrafficSelector:
    """A Traffic Selector sub-option (RFC 6089 section 4.2.3) whose TS Format is not one
    of RFC 6088's binary selectors (0 is reserved): format and raw selector, so that a
    home agent can answer "traffic selector format not supported" (status 133)."""

    format: int
    data: bytes


@dataclass(frozen=True, slots=True)
class UnknownFlowSubOption:
    """A Flow Identification sub-option this codec does not know: type and raw data."""

    type: int
    data: bytes


FlowSubOption: TypeAlias = (
    BindingReference | TrafficSelector4 | TrafficSelector6 | UnknownTrafficSelector
    | UnknownFlowSubOption
)
"""A Flow Identification sub-option: a traffic selector stands for the Traffic Selector
sub-option with its TS Format (RFC 6089 section 4.2.3)."""


@dataclass(frozen=True, slots=True)
class FlowIdentification:
    """Flow Identification (type 45, RFC 6089 section 4.2): one flow binding.

    ``fid`` names the flow binding (16 bits, 0 reserved); ``priority`` is FID-PRI (16
    bits, lower is preferred, 0 reserved, unique per mobile node); ``status`` is the
    outcome, in a Binding Acknowledgement (:class:`FlowIdentificationStatus` when known);
    ``sub_options`` say which bindings (:class:`BindingReference`) and which traffic (a
    traffic selector), in the order given. The reserved values 0 are carried, not
    refused: answering them (status 130) is the receiver's business.
    """

    fid: int
    priority: int
    status: FlowIdentificationStatus | int = 0
    sub_options: tuple[FlowSubOption, ...] = ()


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """Flow Summary (type 44, RFC 6089 section 4.3): the FIDs of flow bindings being
    refreshed or, in a Binding Acknowledgement, kept; one or more."""

    fids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UnknownOption:
    """An option this codec does not know, or a known one that is not valid in the
    message carrying it: type and raw data, kept so that re-encoding is exact."""

    type: int
    data: bytes


Option: TypeAlias = (
    Pad1
    | PadN
    | BindingRefreshAdvice
    | AlternateCareOfAddress
    | NonceIndices
    | BindingAuthorizationData
    | MobileNetworkPrefix
    | BindingIdentifier
    | FlowSummary
    | FlowIdentification
    | UnknownOption
)


@dataclass(frozen=True)
class OptionSpec:
    """One row of the option table: wire type, dataclass, alignment ``xn+y`` as
    ``(x, y)``, length of the option data (``None`` when variable), codec, reference."""

    option_type: MHOptionType
    cls: type
    alignment: tuple[int, int]
    data_length: int | None
    decode: Callable[[bytes, int], Option]
    encode: Callable[[Any], bytes]
    reference: str


_H = struct.Struct("!H")
_HH = struct.Struct("!HH")


def _decode_bra(data: bytes, offset: int) -> Option:
    return BindingRefreshAdvice(_H.unpack(data)[0])


def _decode_altcoa(data: bytes, offset: int) -> Option:
    return AlternateCareOfAddress(IPv6Address(data))


def _decode_nonce_indices(data: bytes, offset: int) -> Option:
    home, care_of = _HH.unpack(data)
    return NonceIndices(home, care_of)


def _decode_bad(data: bytes, offset: int) -> Option:
    return BindingAuthorizationData(data)


def _decode_mnp(data: bytes, offset: int) -> Option:
    plen = data[1]
    if plen > 128:
        raise DecodeError(f"Mobile Network Prefix length {plen} > 128", offset + 1)
    address = int.from_bytes(data[2:18], "big")
    if address & ((1 << (128 - plen)) - 1):
        raise DecodeError(
            f"Mobile Network Prefix {IPv6Address(address)}/{plen} has host bits set", offset + 2
        )
    return MobileNetworkPrefix(IPv6Network((address, plen)))


def _encode_mnp(option: MobileNetworkPrefix) -> bytes:
    return bytes((0, option.prefix.prefixlen)) + option.prefix.network_address.packed


_BID = struct.Struct("!HBB")  # BID, Status, H|BID-PRI; then the care-of address, if any
_BID_H, _BID_PRI = 0x80, 0x7F
# The care-of address by its length: none, IPv4 (RFC 5555's dual stack), IPv6.
_BID_CARE_OF: dict[int, type[IPv4Address] | type[IPv6Address] | None] = {
    0: None, 4: IPv4Address, 16: IPv6Address}


def _decode_bid(data: bytes, offset: int) -> Option:
    length = len(data) - _BID.size
    if length not in _BID_CARE_OF:
        raise DecodeError(f"BindingIdentifier option length {len(data)}, expected 4 (no "
                          "care-of address), 8 (IPv4) or 20 (IPv6)", offset - 1)
    address = _BID_CARE_OF[length]
    bid, status, flags = _BID.unpack_from(data)
    return BindingIdentifier(bid, None if address is None else address(data[_BID.size:]),
                             _BA_STATUS.get(status, status), bool(flags & _BID_H),
                             flags & _BID_PRI)


def _encode_bid(option: BindingIdentifier) -> bytes:
    if not 0 <= option.priority <= _BID_PRI:
        raise struct.error(f"BID-PRI {option.priority} not in 0..127 (RFC 6089 section 4.1)")
    flags = (_BID_H if option.simultaneous_home else 0) | option.priority
    care_of = b"" if option.care_of is None else option.care_of.packed
    return _BID.pack(option.bid, option.status, flags) + care_of


def _decode_fids(data: bytes, offset: int, what: str) -> tuple[int, ...]:
    """A list of 16-bit identifiers (FIDs, BIDs) filling ``data``: one or more."""
    if not data or len(data) % 2:
        raise DecodeError(f"{what} length {len(data)}, expected a positive even number "
                          "(one or more 16-bit identifiers)", offset - 1)
    return struct.unpack(f"!{len(data) // 2}H", data)


def _encode_fids(values: tuple[int, ...], what: str) -> bytes:
    if not values:
        raise EncodeError(f"{what}: no identifier (one or more, RFC 6089)")
    return struct.pack(f"!{len(values)}H", *values)


def _decode_flow_summary(data: bytes, offset: int) -> Option:
    return FlowSummary(_decode_fids(data, offset, "FlowSummary option"))


def _encode_flow_summary(option: FlowSummary) -> bytes:
    return _encode_fids(option.fids, "FID list")


_FID = struct.Struct("!HHxB")  # FID, FID-PRI, Reserved, Status; then the sub-options
_TS_FORMATS = frozenset(int(f) for f in TrafficSelectorFormat)
_TS_HEAD = 2  # TS Format, Reserved (RFC 6089 section 4.2.3)


def _decode_flow_sub_option(kind: int, value: bytes, at: int) -> FlowSubOption:
    """One sub-option other than padding; ``at`` is the offset of ``value``."""
    if kind == FlowSubOptionType.BINDING_REFERENCE:
        return BindingReference(_decode_fids(value, at, "Binding Reference sub-option"))
    if kind == FlowSubOptionType.TRAFFIC_SELECTOR:
        if len(value) < _TS_HEAD:
            raise DecodeError(f"Traffic Selector sub-option length {len(value)}, shorter than "
                              f"{_TS_HEAD} (TS Format, Reserved)", at - 1)
        ts_format = value[0]
        if ts_format in _TS_FORMATS:
            return decode_selector(ts_format, value[_TS_HEAD:], at + _TS_HEAD)
        return UnknownTrafficSelector(ts_format, value[_TS_HEAD:])
    return UnknownFlowSubOption(kind, value)


def _decode_flow_id(data: bytes, offset: int) -> Option:
    size = len(data)
    if size < _FID.size:
        raise DecodeError(f"FlowIdentification option length {size}, shorter than "
                          f"{_FID.size} (FID, FID-PRI, Reserved, Status)", offset - 1)
    fid, priority, status = _FID.unpack_from(data)
    sub_options: list[FlowSubOption] = []
    pos = _FID.size
    while pos < size:
        kind = data[pos]
        if kind == FlowSubOptionType.PAD1:
            pos += 1
            continue
        if pos + 1 >= size:
            raise DecodeError(f"Flow Identification sub-option type {kind} truncated: no "
                              "Length octet", offset + pos)
        following = pos + 2 + data[pos + 1]
        if following > size:
            raise DecodeError(f"Flow Identification sub-option type {kind} length "
                              f"{data[pos + 1]} runs past the end of the option",
                              offset + pos + 1)
        if kind != FlowSubOptionType.PADN:
            sub_options.append(
                _decode_flow_sub_option(kind, data[pos + 2 : following], offset + pos + 2))
        pos = following
    return FlowIdentification(fid, priority, _FI_STATUS.get(status, status), tuple(sub_options))


def _encode_flow_sub_option(sub: FlowSubOption) -> bytes:
    kind: int = FlowSubOptionType.TRAFFIC_SELECTOR
    if isinstance(sub, BindingReference):
        kind, data = FlowSubOptionType.BINDING_REFERENCE, _encode_fids(sub.bids, "BindingReference")
    elif isinstance(sub, TrafficSelector4 | TrafficSelector6):
        data = bytes((sub.format, 0)) + encode_selector(sub)
    elif isinstance(sub, UnknownTrafficSelector):
        if not 0 <= sub.format <= 255 or sub.format in _TS_FORMATS:
            raise EncodeError(f"UnknownTrafficSelector: TS Format {sub.format} not in 0..255 or "
                              "a binary one (use TrafficSelector4/TrafficSelector6)")
        data = bytes((sub.format, 0)) + bytes(sub.data)
    elif isinstance(sub, UnknownFlowSubOption):
        if not len(FlowSubOptionType) <= sub.type <= 255:
            raise EncodeError(f"UnknownFlowSubOption: type {sub.type} not in 4..255 (0-3 are "
                              "padding, Binding Reference and Traffic Selector)")
        kind, data = sub.type, bytes(sub.data)
    else:
        raise EncodeError(f"not a Flow Identification sub-option: {type(sub).__name__}")
    if len(data) > 255:
        raise EncodeError(f"sub-option type {kind} data over 255 octets")
    return bytes((kind, len(data))) + data


def _encode_flow_id(option: FlowIdentification) -> bytes:
    head = _FID.pack(option.fid, option.priority, option.status)
    return head + b"".join(_encode_flow_sub_option(sub) for sub in option.sub_options)


OPTIONS: Mapping[int, OptionSpec] = MappingProxyType(
    {
        spec.option_type: spec
        for spec in (
            OptionSpec(
                MHOptionType.BINDING_REFRESH_ADVICE,
                BindingRefreshAdvice,
                (2, 0),
                2,
                _decode_bra,
                lambda o: _H.pack(o.interval),
                "RFC 6275 section 6.2.4",
            ),
            OptionSpec(
                MHOptionType.ALTERNATE_CARE_OF_ADDRESS,
                AlternateCareOfAddress,
                (8, 6),
                16,
                _decode_altcoa,
                lambda o: o.address.packed,
                "RFC 6275 section 6.2.5",
            ),
            OptionSpec(
                MHOptionType.NONCE_INDICES,
                NonceIndices,
                (2, 0),
                4,
                _decode_nonce_indices,
                lambda o: _HH.pack(o.home, o.care_of),
                "RFC 6275 section 6.2.6",
            ),
            OptionSpec(
                # No alignment of its own, but it must be the last option, hence the
                # implicit 8n+2 (RFC 6275 section 6.2.7).
                MHOptionType.BINDING_AUTHORIZATION_DATA,
                BindingAuthorizationData,
                (8, 2),
                None,
                _decode_bad,
                lambda o: bytes(o.authenticator),
                "RFC 6275 section 6.2.7",
            ),
            OptionSpec(
                MHOptionType.MOBILE_NETWORK_PREFIX,
                MobileNetworkPrefix,
                (8, 4),
                18,
                _decode_mnp,
                _encode_mnp,
                "RFC 3963 section 4.3",
            ),
            OptionSpec(
                MHOptionType.BINDING_IDENTIFIER,
                BindingIdentifier,
                (2, 0),
                None,  # 4, 8 or 20: checked by the decoder
                _decode_bid,
                _encode_bid,
                "RFC 5648 section 6.1, RFC 6089 section 4.1",
            ),
            # RFC 6089's options hold 16-bit fields after Type and Length: 2n, like the
            # Binding Identifier option they refer to (RFC 5648 section 6.1).
            OptionSpec(
                MHOptionType.FLOW_SUMMARY,
                FlowSummary,
                (2, 0),
                None,  # 2 octets per FID: checked by the decoder
                _decode_flow_summary,
                _encode_flow_summary,
                "RFC 6089 section 4.3",
            ),
            OptionSpec(
                MHOptionType.FLOW_IDENTIFICATION,
                FlowIdentification,
                (2, 0),
                None,  # 6 octets and the sub-options
                _decode_flow_id,
                _encode_flow_id,
                "RFC 6089 section 4.2",
            ),
        )
    }
)
"""The option table, by wire type (padding options are handled by the option walker)."""

_OPTION_BY_CLASS: dict[type, OptionSpec] = {spec.cls: spec for spec in OPTIONS.values()}


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class BindingRefreshRequest:
    """Binding Refresh Request (MH type 0, RFC 6275 section 6.1.2)."""

    mh_type: ClassVar[MHType] = MHType.BRR
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class HomeTestInit:
    """Home Test Init (MH type 1, RFC 6275 section 6.1.3); ``cookie`` is 64 bits."""

    mh_type: ClassVar[MHType] = MHType.HOTI
    cookie: int
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class CareOfTestInit:
    """Care-of Test Init (MH type 2, RFC 6275 section 6.1.4); ``cookie`` is 64 bits."""

    mh_type: ClassVar[MHType] = MHType.COTI
    cookie: int
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class HomeTest:
    """Home Test (MH type 3, RFC 6275 section 6.1.5): home nonce index (16 bits), home
    init cookie and home keygen token (64 bits each, as unsigned integers)."""

    mh_type: ClassVar[MHType] = MHType.HOT
    nonce_index: int
    cookie: int
    keygen_token: int
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class CareOfTest:
    """Care-of Test (MH type 4, RFC 6275 section 6.1.6): care-of nonce index, care-of
    init cookie and care-of keygen token, laid out as in :class:`HomeTest`."""

    mh_type: ClassVar[MHType] = MHType.COT
    nonce_index: int
    cookie: int
    keygen_token: int
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class BindingUpdate:
    """Binding Update (MH type 5, RFC 6275 section 6.1.7; R flag RFC 3963 section 4.1).

    ``lifetime`` is in 4-second units, as on the wire.
    """

    mh_type: ClassVar[MHType] = MHType.BU
    sequence: int
    lifetime: int
    flags: BUFlag = _NO_BU_FLAGS
    options: tuple[Option, ...] = ()

    @property
    def lifetime_seconds(self) -> int:
        return self.lifetime * LIFETIME_UNIT


@dataclass(frozen=True, slots=True)
class BindingAck:
    """Binding Acknowledgement (MH type 6, RFC 6275 section 6.1.8; R flag and status
    140-143 RFC 3963). ``status`` is a :class:`BAStatus` when the value is known, else
    the plain integer; ``lifetime`` is in 4-second units."""

    mh_type: ClassVar[MHType] = MHType.BA
    status: BAStatus | int
    sequence: int
    lifetime: int
    flags: BAFlag = _NO_BA_FLAGS
    options: tuple[Option, ...] = ()

    @property
    def lifetime_seconds(self) -> int:
        return self.lifetime * LIFETIME_UNIT

    @property
    def accepted(self) -> bool:
        return accepted(self.status)


@dataclass(frozen=True, slots=True)
class BindingError:
    """Binding Error (MH type 7, RFC 6275 section 6.1.9). ``status`` is a
    :class:`BEStatus` when known, else the plain integer."""

    mh_type: ClassVar[MHType] = MHType.BE
    status: BEStatus | int
    home_address: IPv6Address
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A Mobility Header whose MH Type this codec does not know (a receiver answers it
    with a Binding Error, status 2, RFC 6275 section 9.2).

    ``data`` is everything after the Checksum field; ``6 + len(data)`` must be a multiple
    of 8 to encode. :func:`encode` writes ``payload_proto`` from this object.
    """

    mh_type: int
    payload_proto: int
    data: bytes

    @property
    def options(self) -> tuple[Option, ...]:
        return ()


Message: TypeAlias = (
    BindingRefreshRequest
    | HomeTestInit
    | CareOfTestInit
    | HomeTest
    | CareOfTest
    | BindingUpdate
    | BindingAck
    | BindingError
    | UnknownMessage
)


@dataclass(frozen=True)
class MessageSpec:
    """One row of the message table.

    ``body`` is the fixed part after the Checksum field; ``fields`` maps a message to
    the values ``body`` packs, ``build`` maps unpacked values and decoded options back to
    a message. ``options`` lists the option types valid in this message.
    """

    mh_type: MHType
    cls: type
    body: struct.Struct
    options: frozenset[MHOptionType]
    fields: Callable[[Any], tuple[Any, ...]]
    build: Callable[[tuple[Any, ...], tuple[Option, ...]], Message]
    reference: str

    @property
    def min_header_len(self) -> int:
        """The smallest valid Header Len (RFC 6275 section 9.2)."""
        return (6 + self.body.size + 7) // 8 - 1


_NO_OPTIONS: frozenset[MHOptionType] = frozenset()

MESSAGES: Mapping[int, MessageSpec] = MappingProxyType(
    {
        spec.mh_type: spec
        for spec in (
            MessageSpec(
                MHType.BRR,
                BindingRefreshRequest,
                struct.Struct("!2x"),  # Reserved
                _NO_OPTIONS,
                lambda m: (),
                lambda f, o: BindingRefreshRequest(o),
                "RFC 6275 section 6.1.2",
            ),
            MessageSpec(
                MHType.HOTI,
                HomeTestInit,
                struct.Struct("!2xQ"),  # Reserved, Home Init Cookie
                _NO_OPTIONS,
                lambda m: (m.cookie,),
                lambda f, o: HomeTestInit(f[0], o),
                "RFC 6275 section 6.1.3",
            ),
            MessageSpec(
                MHType.COTI,
                CareOfTestInit,
                struct.Struct("!2xQ"),  # Reserved, Care-of Init Cookie
                _NO_OPTIONS,
                lambda m: (m.cookie,),
                lambda f, o: CareOfTestInit(f[0], o),
                "RFC 6275 section 6.1.4",
            ),
            MessageSpec(
                MHType.HOT,
                HomeTest,
                struct.Struct("!HQQ"),  # Home Nonce Index, Home Init Cookie, Keygen Token
                _NO_OPTIONS,
                lambda m: (m.nonce_index, m.cookie, m.keygen_token),
                lambda f, o: HomeTest(f[0], f[1], f[2], o),
                "RFC 6275 section 6.1.5",
            ),
            MessageSpec(
                MHType.COT,
                CareOfTest,
                struct.Struct("!HQQ"),  # Care-of Nonce Index, Init Cookie, Keygen Token
                _NO_OPTIONS,
                lambda m: (m.nonce_index, m.cookie, m.keygen_token),
                lambda f, o: CareOfTest(f[0], f[1], f[2], o),
                "RFC 6275 section 6.1.6",
            ),
            MessageSpec(
                MHType.BU,
                BindingUpdate,
                struct.Struct("!HHH"),  # Sequence #, A|H|L|K|M|R|P|Reserved, Lifetime
                frozenset(
                    {
                        MHOptionType.BINDING_AUTHORIZATION_DATA,
                        MHOptionType.NONCE_INDICES,
                        MHOptionType.ALTERNATE_CARE_OF_ADDRESS,
                        MHOptionType.MOBILE_NETWORK_PREFIX,  # RFC 3963 section 4.3
                        MHOptionType.BINDING_IDENTIFIER,  # RFC 5648 section 6.1
                        MHOptionType.FLOW_IDENTIFICATION,  # RFC 6089 section 4.2
                        MHOptionType.FLOW_SUMMARY,  # RFC 6089 section 4.3
                    }
                ),
                lambda m: (m.sequence, m.flags, m.lifetime),
                lambda f, o: BindingUpdate(f[0], f[2], BUFlag(f[1]), o),
                "RFC 6275 section 6.1.7, RFC 3963 section 4.1",
            ),
            MessageSpec(
                MHType.BA,
                BindingAck,
                struct.Struct("!BBHH"),  # Status, K|R|P|Reserved, Sequence #, Lifetime
                frozenset(
                    {
                        MHOptionType.BINDING_AUTHORIZATION_DATA,
                        MHOptionType.BINDING_REFRESH_ADVICE,
                        MHOptionType.BINDING_IDENTIFIER,  # RFC 5648 section 6.1
                        MHOptionType.FLOW_IDENTIFICATION,  # RFC 6089 section 4.2
                        MHOptionType.FLOW_SUMMARY,  # RFC 6089 section 4.3
                    }
                ),
                lambda m: (m.status, m.flags, m.sequence, m.lifetime),
                lambda f, o: BindingAck(_BA_STATUS.get(f[0], f[0]), f[2], f[3], BAFlag(f[1]), o),
                "RFC 6275 section 6.1.8, RFC 3963 section 4.2",
            ),
            MessageSpec(
                MHType.BE,
                BindingError,
                struct.Struct("!Bx16s"),  # Status, Reserved, Home Address
                _NO_OPTIONS,
                lambda m: (m.status, m.home_address.packed),
                lambda f, o: BindingError(_BE_STATUS.get(f[0], f[0]), IPv6Address(f[1]), o),
                "RFC 6275 section 6.1.9",
            ),
        )
    }
)
"""The message table, by MH Type."""

OPTION_RULES: Mapping[MHType, frozenset[MHOptionType]] = MappingProxyType(
    {spec.mh_type: spec.options for spec in MESSAGES.values()}
)
"""Which options each message may carry (besides Pad1 and PadN, valid anywhere)."""

_MESSAGE_BY_CLASS: dict[type, MessageSpec] = {spec.cls: spec for spec in MESSAGES.values()}


# --------------------------------------------------------------------------- codec

_PADDING = [b"", b"\x00"] + [bytes((1, n - 2)) + bytes(n - 2) for n in range(2, 8)]


def _padding(n: int) -> bytes:
    """``n`` octets of padding: Pad1 for one octet, PadN otherwise."""
    return _PADDING[n] if n < 8 else bytes((1, n - 2)) + bytes(n - 2)


def _encode_options(options: tuple[Option, ...], offset: int, spec: MessageSpec) -> bytes:
    name = spec.cls.__name__
    out = bytearray()
    pos = offset
    after_bad = False
    for option in options:
        if isinstance(option, Pad1):
            chunk = b"\x00"
        elif isinstance(option, PadN):
            if not 2 <= option.length <= 257:
                raise EncodeError(f"{name}: PadN length {option.length} not in 2..257")
            chunk = _padding(option.length)
        else:
            if after_bad:
                raise EncodeError(
                    f"{name}: Binding Authorization Data must be the last option "
                    "(RFC 6275 section 6.2.7)"
                )
            if isinstance(option, UnknownOption):
                if not 2 <= option.type <= 255:
                    raise EncodeError(
                        f"{name}: unknown option type {option.type} not in 2..255 "
                        "(use Pad1/PadN for padding)"
                    )
                if len(option.data) > 255:
                    raise EncodeError(f"{name}: option type {option.type} data over 255 octets")
                chunk = bytes((option.type, len(option.data))) + option.data
            else:
                ospec = _OPTION_BY_CLASS[type(option)]
                if ospec.option_type not in spec.options:
                    raise EncodeError(
                        f"{name}: {type(option).__name__} option is not valid in this message "
                        f"({spec.reference})"
                    )
                x, y = ospec.alignment
                pad = (y - pos) % x
                out += _padding(pad)
                pos += pad
                try:
                    data = ospec.encode(option)
                except (struct.error, EncodeError) as exc:
                    raise EncodeError(f"{name}: {type(option).__name__}: {exc}") from None
                if len(data) > 255:
                    raise EncodeError(f"{name}: {type(option).__name__} data over 255 octets")
                chunk = bytes((ospec.option_type, len(data))) + data
                after_bad = ospec.option_type == MHOptionType.BINDING_AUTHORIZATION_DATA
        out += chunk
        pos += len(chunk)
    out += _padding(-pos % 8)
    return bytes(out)


def encode(
    msg: Message, src: IPv6Address, dst: IPv6Address, payload_proto: int = IPPROTO_NONE
) -> bytes:
    """The complete Mobility Header for ``msg``, checksum computed over the pseudo-header
    with ``src`` and ``dst`` (RFC 6275 section 6.1.1: the home address when a Home Address
    option is sent, the final destination when there is a routing header).

    Raises :class:`EncodeError` for a field out of range or an option not valid in the
    message.
    """
    if isinstance(msg, UnknownMessage):
        mh_type, payload_proto, body = msg.mh_type, msg.payload_proto, bytes(msg.data)
        if (6 + len(body)) % 8:
            raise EncodeError(f"UnknownMessage: 6 + {len(body)} data octets is not a multiple of 8")
    else:
        spec = _MESSAGE_BY_CLASS.get(type(msg))
        if spec is None:
            raise EncodeError(f"not a Mobility Header message: {type(msg).__name__}")
        mh_type = spec.mh_type
        try:
            fixed = spec.body.pack(*spec.fields(msg))
        except struct.error as exc:
            raise EncodeError(f"{spec.cls.__name__}: {exc}") from None
        body = fixed + _encode_options(msg.options, 6 + len(fixed), spec)
    total = 6 + len(body)
    header_len = total // 8 - 1
    if header_len > 255:
        raise EncodeError(f"{type(msg).__name__}: {total} octets exceed the Header Len range")
    if not 0 <= payload_proto <= 255 or not 0 <= mh_type <= 255:
        raise EncodeError(f"{type(msg).__name__}: Payload Proto or MH Type not in 0..255")
    head = bytes((payload_proto, header_len, mh_type, 0))
    checksum = pseudo_header_checksum(src, dst, IPPROTO_MH, head + b"\x00\x00" + body)
    return head + checksum.to_bytes(2, "big") + body


_BAD = MHOptionType.BINDING_AUTHORIZATION_DATA


def _decode_options(data: bytes, offset: int, end: int, spec: MessageSpec) -> tuple[Option, ...]:
    options: list[Option] = []
    allowed = spec.options
    bad_at = -1
    while offset < end:
        kind = data[offset]
        if kind == 0:  # Pad1
            offset += 1
            continue
        if offset + 1 >= end:
            raise DecodeError(f"option type {kind} truncated: no Length octet", offset)
        length = data[offset + 1]
        following = offset + 2 + length
        if following > end:
            raise DecodeError(
                f"option type {kind} length {length} runs past the end of the header ({end})",
                offset + 1,
            )
        if kind == 1:  # PadN
            offset = following
            continue
        if bad_at >= 0:
            raise DecodeError(
                f"option type {kind} after Binding Authorization Data at {bad_at}, "
                "which must be the last option",
                offset,
            )
        value = data[offset + 2 : following]
        ospec = OPTIONS.get(kind) if kind in allowed else None
        if ospec is None:
            options.append(UnknownOption(kind, value))
        else:
            if ospec.data_length is not None and length != ospec.data_length:
                raise DecodeError(
                    f"{ospec.cls.__name__} option length {length}, expected {ospec.data_length}",
                    offset + 1,
                )
            options.append(ospec.decode(value, offset + 2))
            if kind == _BAD:
                bad_at = offset
        offset = following
    return tuple(options)


def decode(
    data: bytes, src: IPv6Address, dst: IPv6Address, verify_checksum: bool = True
) -> Message:
    """Decode one Mobility Header (exactly the octets of the header, as a raw
    ``IPPROTO_MH`` socket returns them).

    Checks, in this order (RFC 6275 section 9.2): at least 8 octets; Header Len agrees
    with the length of ``data``; the checksum (unless ``verify_checksum`` is false);
    Payload Proto is 59; Header Len is not below the minimum for the MH Type; every
    option fits, known options have their defined length, Binding Authorization Data is
    last. An unknown MH Type gives an :class:`UnknownMessage`.

    Raises :class:`DecodeError` (and nothing else) on any invalid input.
    """
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size < 8:
        raise DecodeError(f"Mobility Header of {size} octets, shorter than 8", size)
    header_len = data[1]
    if (header_len + 1) * 8 != size:
        raise DecodeError(
            f"Header Len {header_len} means {(header_len + 1) * 8} octets, "
            f"but {size} were received",
            1,
        )
    if verify_checksum and not verify_pseudo_header_checksum(src, dst, IPPROTO_MH, data):
        raise DecodeError("bad Mobility Header checksum", 4)
    if data[0] != IPPROTO_NONE:
        raise DecodeError(f"Payload Proto {data[0]}, expected {IPPROTO_NONE}", 0)
    mh_type = data[2]
    spec = MESSAGES.get(mh_type)
    if spec is None:
        return UnknownMessage(mh_type, data[0], data[6:])
    if header_len < spec.min_header_len:
        raise DecodeError(
            f"Header Len {header_len} below the minimum {spec.min_header_len} "
            f"for MH Type {mh_type} ({spec.cls.__name__})",
            1,
        )
    fields = spec.body.unpack_from(data, 6)
    options = _decode_options(data, 6 + spec.body.size, size, spec)
    return spec.build(fields, options)
