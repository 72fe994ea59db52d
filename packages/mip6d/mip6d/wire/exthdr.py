"""IPv6 extension headers of Mobile IPv6, and a parser for whole captured packets.

- The Destination Options header carrying the Home Address option (option type 201,
  alignment 8n+6, RFC 6275 section 6.3)::

      +-------------+-------------+-------------+-------------+
      | Next Header | Hdr Ext = 2 |  PadN: 01   |     02      |
      +-------------+-------------+-------------+-------------+
      |     00      |     00      | Type = 201  | Length = 16 |
      +-------------+-------------+-------------+-------------+
      |                 Home Address (16 octets)              |

- The Type 2 Routing Header (RFC 6275 section 6.4)::

      +-------------+-------------+-------------+-------------+
      | Next Header | Hdr Ext = 2 |  Type = 2   | Seg Left= 1 |
      +-------------+-------------+-------------+-------------+
      |                     Reserved (32 bits)                |
      +-------------+-------------+-------------+-------------+
      |                 Home Address (16 octets)              |

The encoders return the whole header, as a sender passes it to the kernel in an
``IPV6_DSTOPTS`` or ``IPV6_RTHDR`` ancillary data object (RFC 3542 sections 9 and 7:
the kernel overwrites Next Header, so 0 is fine there). Note that on receipt Linux
processes both headers before handing them up as ``IPV6_RECVDSTOPTS`` /
``IPV6_RECVRTHDR`` ancillary data: it swaps the Home Address option with the IPv6
source, so the option then holds the care-of address, and it swaps the Type 2 Routing
Header address with the IPv6 destination and decrements Segments Left to 0, so the
header then holds the care-of address too. :func:`decode_type2_routing_header` accepts
Segments Left 0 and 1 for that reason; in a capture taken on the wire it is 1.

:func:`parse_ipv6_packet` walks a captured packet (fixed header and extension header
chain) for tests that read captures.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address
from typing import TypeAlias

from mip6d.wire.errors import DecodeError, EncodeError
from mip6d.wire.mh import Pad1, PadN

__all__ = [
    "HOME_ADDRESS_OPTION_TYPE",
    "DecodeError",
    "DestinationOption",
    "DestinationOptionsHeader",
    "EncodeError",
    "HomeAddressOption",
    "IPv6Packet",
    "NextHeader",
    "Pad1",
    "PadN",
    "Type2RoutingHeader",
    "UnknownDestinationOption",
    "decode_destination_options",
    "decode_type2_routing_header",
    "encode_destination_options",
    "encode_type2_routing_header",
    "home_address_option",
    "parse_ipv6_packet",
    "type2_routing_header",
]

HOME_ADDRESS_OPTION_TYPE = 201
"""Option type of the Home Address option (0b11001001: skip-and-ICMP if unknown, does
not change en route; RFC 6275 sections 6.3 and 19)."""

ROUTING_TYPE_2 = 2


class NextHeader(IntEnum):
    """IPv6 next header values met in Mobile IPv6 traffic (IANA "Assigned Internet
    Protocol Numbers")."""

    HOPOPTS = 0
    TCP = 6
    UDP = 17
    IPV6 = 41
    ROUTING = 43
    FRAGMENT = 44
    ESP = 50
    AH = 51
    ICMPV6 = 58
    NONE = 59
    DSTOPTS = 60
    MH = 135


@dataclass(frozen=True, slots=True)
class HomeAddressOption:
    """Home Address destination option (RFC 6275 section 6.3)."""

    address: IPv6Address


@dataclass(frozen=True, slots=True)
class UnknownDestinationOption:
    """Any other destination option, kept with its raw data."""

    type: int
    data: bytes


DestinationOption: TypeAlias = Pad1 | PadN | HomeAddressOption | UnknownDestinationOption


@dataclass(frozen=True, slots=True)
class DestinationOptionsHeader:
    """A Destination Options header (RFC 8200 section 4.6). Decoding drops padding;
    encoding puts the Home Address option at 8n+6 and pads the header to 8n octets."""

    options: tuple[DestinationOption, ...] = ()
    next_header: int = 0

    @property
    def home_address(self) -> IPv6Address | None:
        return next((o.address for o in self.options if isinstance(o, HomeAddressOption)), None)


@dataclass(frozen=True, slots=True)
class Type2RoutingHeader:
    """Type 2 Routing Header (RFC 6275 section 6.4)."""

    home_address: IPv6Address
    next_header: int = 0
    segments_left: int = 1


def _pad(n: int) -> bytes:
    if n == 0:
        return b""
    if n == 1:
        return b"\x00"
    return bytes((1, n - 2)) + bytes(n - 2)


def encode_destination_options(header: DestinationOptionsHeader) -> bytes:
    """The Destination Options header, Home Address option aligned at 8n+6."""
    if not 0 <= header.next_header <= 255:
        raise EncodeError(f"Next Header {header.next_header} not in 0..255")
    out = bytearray((header.next_header, 0))
    for option in header.options:
        if isinstance(option, Pad1):
            out += b"\x00"
        elif isinstance(option, PadN):
            if not 2 <= option.length <= 257:
                raise EncodeError(f"PadN length {option.length} not in 2..257")
            out += _pad(option.length)
        elif isinstance(option, HomeAddressOption):
            out += _pad((6 - len(out)) % 8)
            out += bytes((HOME_ADDRESS_OPTION_TYPE, 16)) + option.address.packed
        else:
            if not 2 <= option.type <= 255 or len(option.data) > 255:
                raise EncodeError(
                    f"destination option type {option.type} not in 2..255 or data over 255 octets"
                )
            out += bytes((option.type, len(option.data))) + option.data
    out += _pad(-len(out) % 8)
    if len(out) > 256 * 8:
        raise EncodeError(f"Destination Options header of {len(out)} octets is too long")
    out[1] = len(out) // 8 - 1
    return bytes(out)


def decode_destination_options(data: bytes) -> DestinationOptionsHeader:
    """Decode a whole Destination Options header (``data`` is exactly the header).
    Raises :class:`DecodeError`."""
    data = bytes(data)
    size = len(data)
    if size < 8:
        raise DecodeError(f"Destination Options header of {size} octets, shorter than 8", size)
    if (data[1] + 1) * 8 != size:
        raise DecodeError(
            f"Hdr Ext Len {data[1]} means {(data[1] + 1) * 8} octets, but {size} were given", 1
        )
    options: list[DestinationOption] = []
    offset = 2
    while offset < size:
        kind = data[offset]
        if kind == 0:
            offset += 1
            continue
        if offset + 1 >= size:
            raise DecodeError(f"option type {kind} truncated: no Length octet", offset)
        length = data[offset + 1]
        following = offset + 2 + length
        if following > size:
            raise DecodeError(
                f"option type {kind} length {length} runs past the end of the header",
                offset + 1,
            )
        value = data[offset + 2 : following]
        if kind == HOME_ADDRESS_OPTION_TYPE:
            if length != 16:
                raise DecodeError(f"Home Address option length {length}, expected 16", offset + 1)
            options.append(HomeAddressOption(IPv6Address(value)))
        elif kind != 1:
            options.append(UnknownDestinationOption(kind, value))
        offset = following
    return DestinationOptionsHeader(tuple(options), data[0])


def home_address_option(home_address: IPv6Address, next_header: int = 0) -> bytes:
    """The 24-octet Destination Options header carrying only ``home_address``."""
    return encode_destination_options(
        DestinationOptionsHeader((HomeAddressOption(home_address),), next_header)
    )


_RH2 = struct.Struct("!BBBB4x16s")


def encode_type2_routing_header(header: Type2RoutingHeader) -> bytes:
    """The 24-octet Type 2 Routing Header."""
    try:
        return _RH2.pack(
            header.next_header, 2, ROUTING_TYPE_2, header.segments_left, header.home_address.packed
        )
    except struct.error as exc:
        raise EncodeError(f"Type2RoutingHeader: {exc}") from None


def decode_type2_routing_header(data: bytes) -> Type2RoutingHeader:
    """Decode a whole Type 2 Routing Header. Hdr Ext Len must be 2, Routing Type 2 and
    Segments Left 1 (or 0, once the receiving kernel has processed it). Raises
    :class:`DecodeError`."""
    data = bytes(data)
    if len(data) != 24:
        raise DecodeError(f"Type 2 Routing Header of {len(data)} octets, expected 24", 0)
    next_header, ext_len, routing_type, segments_left, address = _RH2.unpack(data)
    if ext_len != 2:
        raise DecodeError(f"Type 2 Routing Header Hdr Ext Len {ext_len}, expected 2", 1)
    if routing_type != ROUTING_TYPE_2:
        raise DecodeError(f"Routing Type {routing_type}, expected 2", 2)
    if segments_left > 1:
        raise DecodeError(f"Type 2 Routing Header Segments Left {segments_left} > 1", 3)
    return Type2RoutingHeader(IPv6Address(address), next_header, segments_left)


def type2_routing_header(home_address: IPv6Address, next_header: int = 0) -> bytes:
    """The 24-octet Type 2 Routing Header for ``home_address``."""
    return encode_type2_routing_header(Type2RoutingHeader(home_address, next_header))


@dataclass(frozen=True, slots=True)
class IPv6Packet:
    """A parsed IPv6 packet: addresses of the fixed header, the Home Address option and
    Type 2 Routing Header addresses when present, the upper-layer protocol and its
    octets (extension headers not listed in :func:`parse_ipv6_packet` count as upper
    layer, e.g. ESP)."""

    src: IPv6Address
    dst: IPv6Address
    hop_limit: int
    protocol: int
    payload: bytes
    home_address: IPv6Address | None = None
    routing_address: IPv6Address | None = None
    routing_segments_left: int = 0

    @property
    def checksum_src(self) -> IPv6Address:
        """Source address of the upper-layer pseudo-header: the home address when a
        Home Address option is present (RFC 6275 sections 6.1.1 and 6.3)."""
        return self.home_address if self.home_address is not None else self.src

    @property
    def checksum_dst(self) -> IPv6Address:
        """Destination address of the upper-layer pseudo-header: the final destination,
        i.e. the Type 2 Routing Header address while Segments Left is 1 (RFC 8200
        section 8.1)."""
        if self.routing_address is not None and self.routing_segments_left:
            return self.routing_address
        return self.dst


_IPV6 = struct.Struct("!IHBB16s16s")


def parse_ipv6_packet(data: bytes) -> IPv6Packet:
    """Parse an IPv6 packet as captured (no link-layer header): the fixed header, then
    Hop-by-Hop, Routing, Fragment, Destination Options and AH headers until the first
    other next header. Fragments are not reassembled. Octets past Payload Length
    (link-layer padding) are ignored. Raises :class:`DecodeError`."""
    data = bytes(data)
    if len(data) < 40:
        raise DecodeError(f"IPv6 packet of {len(data)} octets, shorter than 40", len(data))
    word, payload_length, next_header, hop_limit, src, dst = _IPV6.unpack_from(data)
    if word >> 28 != 6:
        raise DecodeError(f"IP version {word >> 28}, expected 6", 0)
    end = 40 + payload_length
    if payload_length == 0 and next_header == NextHeader.HOPOPTS:
        raise DecodeError("jumbograms (Payload Length 0) are not supported", 4)
    if end > len(data):
        raise DecodeError(
            f"Payload Length {payload_length} runs past the {len(data)} captured octets", 4
        )
    home_address = routing_address = None
    segments_left = 0
    offset = 40
    while next_header in (
        NextHeader.HOPOPTS,
        NextHeader.ROUTING,
        NextHeader.DSTOPTS,
        NextHeader.FRAGMENT,
        NextHeader.AH,
    ):
        if offset + 8 > end:
            raise DecodeError(f"extension header {next_header} truncated", offset)
        if next_header == NextHeader.FRAGMENT:
            length = 8
        elif next_header == NextHeader.AH:
            length = (data[offset + 1] + 2) * 4
        else:
            length = (data[offset + 1] + 1) * 8
        if offset + length > end:
            raise DecodeError(f"extension header {next_header} runs past the payload", offset)
        chunk = data[offset : offset + length]
        try:
            if next_header == NextHeader.DSTOPTS:
                found = decode_destination_options(chunk).home_address
                home_address = found if found is not None else home_address
            elif next_header == NextHeader.ROUTING and chunk[2] == ROUTING_TYPE_2:
                rh2 = decode_type2_routing_header(chunk)
                routing_address, segments_left = rh2.home_address, rh2.segments_left
        except DecodeError as exc:
            raise DecodeError(exc.reason, offset + exc.offset) from None
        next_header = chunk[0]
        offset += length
    return IPv6Packet(
        IPv6Address(src),
        IPv6Address(dst),
        hop_limit,
        next_header,
        data[offset:end],
        home_address,
        routing_address,
        segments_left,
    )
