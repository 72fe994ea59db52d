"""Binary traffic selectors for flow bindings (RFC 6088), the TS Format values of the
Traffic Selector sub-option of RFC 6089 section 4.2.3.

A selector starts with a 32-bit word of flags, one per field, saying which fields follow;
the fields present come next, in the RFC's order, with no padding between them::

    IPv4 (TS Format 1, RFC 6088 section 3.1)   IPv6 (TS Format 2, RFC 6088 section 3.2)
    |A|B|C|D|E|F|G|H|I|J|K|L|M|N| Reserved  |   |A|B|...|O|P|          Reserved          |
    A, B  start, end source address       4    A, B  start, end source address      16
    C, D  start, end destination address  4    C, D  start, end destination address 16
    E, F  start, end IPsec SPI            4    E, F  start, end IPsec SPI            4
    G, H  start, end source port          2    G, H  start, end flow label           4
    I, J  start, end destination port     2    I, J  start, end source port          2
    K, L  start, end DS                   1    K, L  start, end destination port     2
    M, N  start, end protocol             1    M, N  start, end traffic class        1
                                               O, P  start, end next header          1

Each field pair is a range here, ``(start, end)`` inclusive, or ``None`` when the flags
leave both out. An end field "MUST NOT be included unless the start field is included"
(RFC 6088 sections 3.1, 3.2): a single value is sent as the start field alone, so
``(x, x)`` encodes as the start field only; a received ``start == end`` pair decodes to
the same ``(x, x)`` (and re-encodes without the end field). The end of a range is never
below its start: :func:`encode_selector` refuses such a range and :func:`decode_selector`
rejects it.

The flow label field is 32 bits on the wire, drawn as a full word in RFC 6088 section
3.2, which has the sender zero-prefix the flow label and the receiver ignore the prefix.
The flow label being 20 bits (RFC 2460), it is the word's low 20 bits here: written with
zeros above them, the bits above them ignored when decoding. The DS and traffic class
fields are the whole octet: the RFC compares only their 6 high bits (the DSCP); the 2 ECN
bits are carried as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Any, ClassVar, TypeAlias

from mip6d.wire.errors import DecodeError, EncodeError

__all__ = [
    "FLOW_LABEL_MAX",
    "TrafficSelector",
    "TrafficSelector4",
    "TrafficSelector6",
    "TrafficSelectorFormat",
    "decode_selector",
    "encode_selector",
]

FLOW_LABEL_MAX = 0xFFFFF
"""The largest flow label (20 bits, RFC 8200 section 6)."""


class TrafficSelectorFormat(IntEnum):
    """TS Format of the Traffic Selector sub-option (RFC 6089 section 4.2.3; IANA
    "Traffic Selector Format"). 0 is reserved."""

    IPV4_BINARY = 1
    """IPv4 binary traffic selector (RFC 6088 section 3.1)."""
    IPV6_BINARY = 2
    """IPv6 binary traffic selector (RFC 6088 section 3.2)."""


@dataclass(frozen=True, slots=True)
class TrafficSelector4:
    """IPv4 binary traffic selector (TS Format 1, RFC 6088 section 3.1). Every field is
    an inclusive ``(start, end)`` range, or ``None`` to leave it out (match any)."""

    source_address: tuple[IPv4Address, IPv4Address] | None = None
    """(A)/(B) Start/End Source Address: the correspondent node's side of the flow."""
    destination_address: tuple[IPv4Address, IPv4Address] | None = None
    """(C)/(D) Start/End Destination Address: the mobile node's side."""
    spi: tuple[int, int] | None = None
    """(E)/(F) Start/End IPsec SPI (32 bits)."""
    source_port: tuple[int, int] | None = None
    """(G)/(H) Start/End Source Port (16 bits)."""
    destination_port: tuple[int, int] | None = None
    """(I)/(J) Start/End Destination Port (16 bits)."""
    ds: tuple[int, int] | None = None
    """(K)/(L) Start/End DS: the whole former TOS octet, DSCP in its 6 high bits."""
    protocol: tuple[int, int] | None = None
    """(M)/(N) Start/End Protocol (8 bits)."""

    format: ClassVar[TrafficSelectorFormat] = TrafficSelectorFormat.IPV4_BINARY


@dataclass(frozen=True, slots=True)
class TrafficSelector6:
    """IPv6 binary traffic selector (TS Format 2, RFC 6088 section 3.2). Every field is
    an inclusive ``(start, end)`` range, or ``None`` to leave it out (match any)::

        TrafficSelector6(destination_port=(5001, 5001), next_header=(17, 17))
    """

    source_address: tuple[IPv6Address, IPv6Address] | None = None
    """(A)/(B) Start/End Source Address: the correspondent node's side of the flow."""
    destination_address: tuple[IPv6Address, IPv6Address] | None = None
    """(C)/(D) Start/End Destination Address: the mobile node's side."""
    spi: tuple[int, int] | None = None
    """(E)/(F) Start/End IPsec SPI (32 bits)."""
    flow_label: tuple[int, int] | None = None
    """(G)/(H) Start/End Flow Label (20 bits, in a 32-bit field)."""
    source_port: tuple[int, int] | None = None
    """(I)/(J) Start/End Source Port (16 bits)."""
    destination_port: tuple[int, int] | None = None
    """(K)/(L) Start/End Destination Port (16 bits)."""
    traffic_class: tuple[int, int] | None = None
    """(M)/(N) Start/End Traffic Class: the whole octet, DSCP in its 6 high bits."""
    next_header: tuple[int, int] | None = None
    """(O)/(P) Start/End Next Header (8 bits)."""

    format: ClassVar[TrafficSelectorFormat] = TrafficSelectorFormat.IPV6_BINARY


TrafficSelector: TypeAlias = TrafficSelector4 | TrafficSelector6


@dataclass(frozen=True)
class _Field:
    """One range of a selector: attribute, RFC name, octets of each end on the wire,
    largest value (for integers) or address class, and a mask applied when decoding."""

    name: str
    label: str
    size: int
    address: type[IPv4Address] | type[IPv6Address] | None = None
    maximum: int = 0
    mask: int = -1


_U8, _U16, _U32 = 0xFF, 0xFFFF, 0xFFFFFFFF

_LAYOUTS: dict[type, tuple[_Field, ...]] = {
    TrafficSelector4: (
        _Field("source_address", "Source Address", 4, IPv4Address),
        _Field("destination_address", "Destination Address", 4, IPv4Address),
        _Field("spi", "IPsec SPI", 4, maximum=_U32),
        _Field("source_port", "Source Port", 2, maximum=_U16),
        _Field("destination_port", "Destination Port", 2, maximum=_U16),
        _Field("ds", "DS", 1, maximum=_U8),
        _Field("protocol", "Protocol", 1, maximum=_U8),
    ),
    TrafficSelector6: (
        _Field("source_address", "Source Address", 16, IPv6Address),
        _Field("destination_address", "Destination Address", 16, IPv6Address),
        _Field("spi", "IPsec SPI", 4, maximum=_U32),
        _Field("flow_label", "Flow Label", 4, maximum=FLOW_LABEL_MAX, mask=FLOW_LABEL_MAX),
        _Field("source_port", "Source Port", 2, maximum=_U16),
        _Field("destination_port", "Destination Port", 2, maximum=_U16),
        _Field("traffic_class", "Traffic Class", 1, maximum=_U8),
        _Field("next_header", "Next Header", 1, maximum=_U8),
    ),
}
_BY_FORMAT: dict[int, type] = {
    TrafficSelectorFormat.IPV4_BINARY: TrafficSelector4,
    TrafficSelectorFormat.IPV6_BINARY: TrafficSelector6,
}
_SECTION = {TrafficSelector4: "RFC 6088 section 3.1", TrafficSelector6: "RFC 6088 section 3.2"}
_FLAGS_SIZE = 4  # the flags (14 or 16 bits) and the reserved bits after them


def _flag(index: int, end: bool) -> int:
    """The flags-word bit of field pair ``index`` (A is the most significant bit)."""
    return 1 << (31 - 2 * index - int(end))


def _letter(index: int, end: bool) -> str:
    return chr(ord("A") + 2 * index + int(end))


def _read(field: _Field, chunk: bytes) -> int | IPv4Address | IPv6Address:
    if field.address is not None:
        return field.address(chunk)
    return int.from_bytes(chunk, "big") & field.mask


def _check_end(field: _Field, value: Any, cls: type) -> int | IPv4Address | IPv6Address:
    if field.address is not None:
        if type(value) is not field.address:
            raise EncodeError(f"{cls.__name__}.{field.name}: {value!r} is not an "
                              f"{field.address.__name__}")
        return value
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= field.maximum:
        raise EncodeError(f"{cls.__name__}.{field.name}: {value!r} not in 0..{field.maximum}")
    return value


def encode_selector(selector: TrafficSelector) -> bytes:
    """The binary traffic selector (flags word, then the fields present), without the
    sub-option's TS Format and Reserved octets.

    Raises :class:`EncodeError` for a value out of range, an address of the wrong family,
    a range that is not a pair or whose end is below its start.
    """
    cls = type(selector)
    layout = _LAYOUTS.get(cls)
    if layout is None:
        raise EncodeError(f"not a traffic selector: {cls.__name__}")
    flags = 0
    body = bytearray()
    for index, field in enumerate(layout):
        value = getattr(selector, field.name)
        if value is None:
            continue
        if not isinstance(value, tuple) or len(value) != 2:
            raise EncodeError(f"{cls.__name__}.{field.name}: {value!r} is not a "
                              "(start, end) pair")
        start, end = (_check_end(field, v, cls) for v in value)
        if end < start:  # type: ignore[operator]
            raise EncodeError(f"{cls.__name__}.{field.name}: end {end} below start {start}")
        ends = (start,) if end == start else (start, end)
        for is_end, item in enumerate(ends):
            flags |= _flag(index, bool(is_end))
            body += (item.to_bytes(field.size, "big") if isinstance(item, int)
                     else item.packed)
    return flags.to_bytes(_FLAGS_SIZE, "big") + bytes(body)


def decode_selector(ts_format: int, data: bytes, offset: int) -> TrafficSelector:
    """Decode a binary traffic selector of format ``ts_format`` (1 or 2) from ``data``,
    the octets after the sub-option's TS Format and Reserved octets; ``offset`` is where
    ``data`` starts in the message, for error offsets.

    Raises :class:`DecodeError` when the length does not match what the flags promise,
    when an end field comes without its start field, or an end is below its start.
    Reserved bits are ignored, and so are the flow label field's bits above 20.
    """
    cls = _BY_FORMAT.get(ts_format)
    if cls is None:
        raise DecodeError(f"traffic selector format {ts_format} is not a binary selector "
                          "(1: IPv4, 2: IPv6)", offset)
    layout = _LAYOUTS[cls]
    section = _SECTION[cls]
    if len(data) < _FLAGS_SIZE:
        raise DecodeError(f"{cls.__name__} of {len(data)} octets, shorter than its "
                          f"{_FLAGS_SIZE}-octet flags ({section})", offset)
    flags = int.from_bytes(data[:_FLAGS_SIZE], "big")
    needed = _FLAGS_SIZE
    for index, field in enumerate(layout):
        start, end = flags & _flag(index, False), flags & _flag(index, True)
        if end and not start:
            raise DecodeError(f"{cls.__name__} flag {_letter(index, True)} (End "
                              f"{field.label}) without {_letter(index, False)} (Start "
                              f"{field.label}) ({section})", offset)
        needed += field.size * (bool(start) + bool(end))
    if needed != len(data):
        raise DecodeError(f"{cls.__name__} flags promise {needed} octets, the selector "
                          f"has {len(data)} ({section})", offset)
    values: dict[str, tuple[Any, Any]] = {}
    position = _FLAGS_SIZE
    for index, field in enumerate(layout):
        if not flags & _flag(index, False):
            continue
        first = _read(field, data[position : position + field.size])
        position += field.size
        last = first
        if flags & _flag(index, True):
            last = _read(field, data[position : position + field.size])
            if last < first:  # type: ignore[operator]
                raise DecodeError(f"{cls.__name__} End {field.label} {last} below Start "
                                  f"{field.label} {first} ({section})", offset + position)
            position += field.size
        values[field.name] = (first, last)
    return cls(**values)  # type: ignore[no-any-return]
