"""ICMPv6 messages of Mobile IPv6 and the Router Advertisement a mobile node reads.

- Home Agent Address Discovery Request (type 144) and Reply (type 145), RFC 6275
  sections 6.5 and 6.6, with the Mobile Router flag of RFC 3963 section 7;
- Mobile Prefix Solicitation (type 146) and Advertisement (type 147), RFC 6275
  sections 6.7 and 6.8;
- Router Advertisement (type 134, RFC 4861 section 4.2) as modified by RFC 6275 section 7:
  the Home Agent (H) flag (7.1), the Router Address (R) flag of the Prefix Information
  option (7.2), the Advertisement Interval option (7.3) and the Home Agent Information
  option (7.4, with the RFC 3963 Mobile Router support flag).

Every message starts with the ICMPv6 header (RFC 4443 section 2.1)::

    +---------------+---------------+-------------------------------+
    |     Type      |     Code      |           Checksum            |
    +---------------+---------------+-------------------------------+

and the checksum covers the IPv6 pseudo-header with next header 58.

As in :mod:`mip6d.wire.mh`, the per-message layout is a table (:data:`MESSAGES`) and so
are the Neighbor Discovery options (:data:`ND_OPTIONS`, RFC 4861 section 4.6: Type,
Length in units of 8 octets, data). Options that are unknown, or not valid in the
message that carries them, are kept as :class:`UnknownNDOption`. Decoders raise
:class:`DecodeError` and nothing else.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from ipaddress import IPv6Address, IPv6Network
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeAlias

from mip6d.wire.checksum import pseudo_header_checksum, verify_pseudo_header_checksum
from mip6d.wire.errors import DecodeError, EncodeError

__all__ = [
    "IPPROTO_ICMPV6",
    "MESSAGES",
    "MTU",
    "ND_OPTIONS",
    "AdvertisementInterval",
    "DHAADFlag",
    "DHAADReply",
    "DHAADRequest",
    "DecodeError",
    "EncodeError",
    "HAIFlag",
    "HomeAgentInformation",
    "ICMPv6Message",
    "ICMPv6MessageSpec",
    "ICMPv6Type",
    "MPAFlag",
    "MobilePrefixAdvertisement",
    "MobilePrefixSolicitation",
    "NDOption",
    "NDOptionSpec",
    "NDOptionType",
    "PrefixFlag",
    "PrefixInformation",
    "RAFlag",
    "RouterAdvertisement",
    "SourceLinkLayerAddress",
    "UnknownNDOption",
    "decode",
    "decode_router_advertisement",
    "encode",
]

IPPROTO_ICMPV6 = 58


class ICMPv6Type(IntEnum):
    """ICMPv6 message types handled here (IANA "ICMPv6 Type Numbers")."""

    ROUTER_ADVERTISEMENT = 134
    DHAAD_REQUEST = 144
    DHAAD_REPLY = 145
    MOBILE_PREFIX_SOLICITATION = 146
    MOBILE_PREFIX_ADVERTISEMENT = 147


class NDOptionType(IntEnum):
    """Neighbor Discovery option types (RFC 4861 section 4.6, RFC 6275 sections 7.3
    and 7.4)."""

    SOURCE_LINK_LAYER_ADDRESS = 1
    TARGET_LINK_LAYER_ADDRESS = 2
    PREFIX_INFORMATION = 3
    REDIRECTED_HEADER = 4
    MTU = 5
    ADVERTISEMENT_INTERVAL = 7
    HOME_AGENT_INFORMATION = 8


class DHAADFlag(IntFlag):
    """The 16-bit word after the Identifier of a DHAAD Request or Reply."""

    R = 0x8000
    """Mobile Router: the requester is / the listed home agents support a mobile
    router (RFC 3963 section 7)."""


class MPAFlag(IntFlag):
    """The 16-bit word after the Identifier of a Mobile Prefix Advertisement (RFC 6275
    section 6.8)."""

    M = 0x8000
    """Managed address configuration."""
    O = 0x4000  # noqa: E741 - the flag's name in the RFC
    """Other stateful configuration."""


class RAFlag(IntFlag):
    """The flags octet of a Router Advertisement. The two Prf bits (0x18, RFC 4191)
    and reserved bits are kept as received."""

    M = 0x80
    """Managed address configuration (RFC 4861)."""
    O = 0x40  # noqa: E741 - the flag's name in the RFC
    """Other configuration (RFC 4861)."""
    H = 0x20
    """Home Agent (RFC 6275 section 7.1)."""
    P = 0x04
    """Proxy (RFC 4389)."""


class PrefixFlag(IntFlag):
    """The flags octet of a Prefix Information option."""

    L = 0x80
    """On-link (RFC 4861 section 4.6.2)."""
    A = 0x40
    """Autonomous address configuration (RFC 4861 section 4.6.2)."""
    R = 0x20
    """Router Address: the Prefix field holds a full address of the router (RFC 6275
    section 7.2)."""


class HAIFlag(IntFlag):
    """The 16-bit word after the Length of a Home Agent Information option."""

    R = 0x8000
    """The home agent supports mobile routers (RFC 3963)."""


_NO_DHAAD_FLAGS = DHAADFlag(0)
_NO_MPA_FLAGS = MPAFlag(0)
_NO_RA_FLAGS = RAFlag(0)
_NO_HAI_FLAGS = HAIFlag(0)

# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class SourceLinkLayerAddress:
    """Source Link-layer Address (type 1, RFC 4861 section 4.6.1). ``address`` is the
    whole option data (6 octets on Ethernet); ``2 + len(address)`` must be a multiple
    of 8."""

    address: bytes


@dataclass(frozen=True, slots=True)
class PrefixInformation:
    """Prefix Information (type 3, RFC 4861 section 4.6.2, R flag RFC 6275 section 7.2).

    ``prefix`` is the Prefix field as received: with the R flag it is a complete address
    of the router, so host bits are kept. :attr:`network` gives the prefix itself.
    """

    prefix_length: int
    flags: PrefixFlag
    valid_lifetime: int
    preferred_lifetime: int
    prefix: IPv6Address

    @property
    def network(self) -> IPv6Network:
        return IPv6Network((self.prefix, self.prefix_length), strict=False)

    @property
    def router_address(self) -> IPv6Address | None:
        """The router's global address when the R flag is set (RFC 6275 section 7.2)."""
        return self.prefix if self.flags & PrefixFlag.R else None


@dataclass(frozen=True, slots=True)
class MTU:
    """MTU (type 5, RFC 4861 section 4.6.4)."""

    mtu: int


@dataclass(frozen=True, slots=True)
class AdvertisementInterval:
    """Advertisement Interval (type 7, RFC 6275 section 7.3): the longest time, in
    milliseconds, between this router's unsolicited multicast RAs."""

    interval: int


@dataclass(frozen=True, slots=True)
class HomeAgentInformation:
    """Home Agent Information (type 8, RFC 6275 section 7.4). ``preference`` is signed
    (higher is better), ``lifetime`` in seconds."""

    preference: int
    lifetime: int
    flags: HAIFlag = _NO_HAI_FLAGS


@dataclass(frozen=True, slots=True)
class UnknownNDOption:
    """An option not decoded here (or not valid in its message): type and raw data
    (``2 + len(data)`` is a multiple of 8)."""

    type: int
    data: bytes


NDOption: TypeAlias = (
    SourceLinkLayerAddress
    | PrefixInformation
    | MTU
    | AdvertisementInterval
    | HomeAgentInformation
    | UnknownNDOption
)


@dataclass(frozen=True)
class NDOptionSpec:
    """One row of the ND option table: type, dataclass, required Length (in 8-octet
    units, ``None`` for any non-zero), codec of the data after Type and Length."""

    option_type: NDOptionType
    cls: type
    length: int | None
    decode: Callable[[bytes, int], NDOption]
    encode: Callable[[Any], bytes]
    reference: str


_PIO = struct.Struct("!BBIII16s")  # Prefix Length, L|A|R|Reserved1, Valid, Preferred, Reserved2
_RESERVED16_U32 = struct.Struct("!2xI")
_HAI = struct.Struct("!HhH")


def _decode_pio(data: bytes, offset: int) -> NDOption:
    plen, flags, valid, preferred, _reserved, prefix = _PIO.unpack(data)
    if plen > 128:
        raise DecodeError(f"Prefix Information prefix length {plen} > 128", offset)
    return PrefixInformation(plen, PrefixFlag(flags), valid, preferred, IPv6Address(prefix))


def _encode_pio(o: PrefixInformation) -> bytes:
    if not 0 <= o.prefix_length <= 128:
        raise struct.error(f"prefix length {o.prefix_length} not in 0..128")
    return _PIO.pack(
        o.prefix_length, o.flags, o.valid_lifetime, o.preferred_lifetime, 0, o.prefix.packed
    )


def _decode_hai(data: bytes, offset: int) -> NDOption:
    flags, preference, lifetime = _HAI.unpack(data)
    return HomeAgentInformation(preference, lifetime, HAIFlag(flags))


ND_OPTIONS: Mapping[int, NDOptionSpec] = MappingProxyType(
    {
        spec.option_type: spec
        for spec in (
            NDOptionSpec(
                NDOptionType.SOURCE_LINK_LAYER_ADDRESS,
                SourceLinkLayerAddress,
                None,
                lambda d, off: SourceLinkLayerAddress(d),
                lambda o: bytes(o.address),
                "RFC 4861 section 4.6.1",
            ),
            NDOptionSpec(
                NDOptionType.PREFIX_INFORMATION,
                PrefixInformation,
                4,
                _decode_pio,
                _encode_pio,
                "RFC 4861 section 4.6.2, RFC 6275 section 7.2",
            ),
            NDOptionSpec(
                NDOptionType.MTU,
                MTU,
                1,
                lambda d, off: MTU(_RESERVED16_U32.unpack(d)[0]),
                lambda o: _RESERVED16_U32.pack(o.mtu),
                "RFC 4861 section 4.6.4",
            ),
            NDOptionSpec(
                NDOptionType.ADVERTISEMENT_INTERVAL,
                AdvertisementInterval,
                1,
                lambda d, off: AdvertisementInterval(_RESERVED16_U32.unpack(d)[0]),
                lambda o: _RESERVED16_U32.pack(o.interval),
                "RFC 6275 section 7.3",
            ),
            NDOptionSpec(
                NDOptionType.HOME_AGENT_INFORMATION,
                HomeAgentInformation,
                1,
                _decode_hai,
                lambda o: _HAI.pack(o.flags, o.preference, o.lifetime),
                "RFC 6275 section 7.4, RFC 3963",
            ),
        )
    }
)
"""The ND option table, by option type."""

_ND_OPTION_BY_CLASS: dict[type, NDOptionSpec] = {s.cls: s for s in ND_OPTIONS.values()}


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class DHAADRequest:
    """Home Agent Address Discovery Request (type 144, RFC 6275 section 6.5)."""

    icmp_type: ClassVar[ICMPv6Type] = ICMPv6Type.DHAAD_REQUEST
    identifier: int
    flags: DHAADFlag = _NO_DHAAD_FLAGS


@dataclass(frozen=True, slots=True)
class DHAADReply:
    """Home Agent Address Discovery Reply (type 145, RFC 6275 section 6.6): the home
    agents in order of preference."""

    icmp_type: ClassVar[ICMPv6Type] = ICMPv6Type.DHAAD_REPLY
    identifier: int
    home_agents: tuple[IPv6Address, ...] = ()
    flags: DHAADFlag = _NO_DHAAD_FLAGS


@dataclass(frozen=True, slots=True)
class MobilePrefixSolicitation:
    """Mobile Prefix Solicitation (type 146, RFC 6275 section 6.7). No options are
    defined for it; any present are kept as :class:`UnknownNDOption`."""

    icmp_type: ClassVar[ICMPv6Type] = ICMPv6Type.MOBILE_PREFIX_SOLICITATION
    identifier: int
    options: tuple[NDOption, ...] = ()


@dataclass(frozen=True, slots=True)
class MobilePrefixAdvertisement:
    """Mobile Prefix Advertisement (type 147, RFC 6275 section 6.8), carrying Prefix
    Information options."""

    icmp_type: ClassVar[ICMPv6Type] = ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT
    identifier: int
    flags: MPAFlag = _NO_MPA_FLAGS
    options: tuple[NDOption, ...] = ()

    @property
    def prefixes(self) -> tuple[PrefixInformation, ...]:
        return tuple(o for o in self.options if isinstance(o, PrefixInformation))


@dataclass(frozen=True, slots=True)
class RouterAdvertisement:
    """Router Advertisement (type 134, RFC 4861 section 4.2; H flag RFC 6275 section
    7.1). Router lifetime in seconds, reachable time and retransmission timer in ms."""

    icmp_type: ClassVar[ICMPv6Type] = ICMPv6Type.ROUTER_ADVERTISEMENT
    cur_hop_limit: int = 0
    flags: RAFlag = _NO_RA_FLAGS
    router_lifetime: int = 0
    reachable_time: int = 0
    retrans_timer: int = 0
    options: tuple[NDOption, ...] = ()

    @property
    def prefixes(self) -> tuple[PrefixInformation, ...]:
        return tuple(o for o in self.options if isinstance(o, PrefixInformation))

    @property
    def home_agent_information(self) -> HomeAgentInformation | None:
        return next((o for o in self.options if isinstance(o, HomeAgentInformation)), None)

    @property
    def advertisement_interval(self) -> int | None:
        """The Advertisement Interval option's value in milliseconds, if present."""
        return next(
            (o.interval for o in self.options if isinstance(o, AdvertisementInterval)), None
        )

    @property
    def mtu(self) -> int | None:
        return next((o.mtu for o in self.options if isinstance(o, MTU)), None)

    @property
    def source_link_layer_address(self) -> bytes | None:
        return next(
            (o.address for o in self.options if isinstance(o, SourceLinkLayerAddress)), None
        )


ICMPv6Message: TypeAlias = (
    DHAADRequest
    | DHAADReply
    | MobilePrefixSolicitation
    | MobilePrefixAdvertisement
    | RouterAdvertisement
)


@dataclass(frozen=True)
class ICMPv6MessageSpec:
    """One row of the message table. ``body`` is the fixed part after the 4-octet ICMPv6
    header; ``tail`` says what follows it: nothing, ND options (those in ``options`` are
    decoded, others kept as unknown) or a list of IPv6 addresses."""

    icmp_type: ICMPv6Type
    cls: type
    body: struct.Struct
    tail: Literal["none", "options", "addresses"]
    options: frozenset[NDOptionType]
    fields: Callable[[Any], tuple[Any, ...]]
    build: Callable[[tuple[Any, ...], tuple[Any, ...]], ICMPv6Message]
    reference: str


_NONE: frozenset[NDOptionType] = frozenset()

MESSAGES: Mapping[int, ICMPv6MessageSpec] = MappingProxyType(
    {
        spec.icmp_type: spec
        for spec in (
            ICMPv6MessageSpec(
                ICMPv6Type.ROUTER_ADVERTISEMENT,
                RouterAdvertisement,
                # Cur Hop Limit, M|O|H|Prf|P|Reserved, Router Lifetime, Reachable, Retrans
                struct.Struct("!BBHII"),
                "options",
                frozenset(
                    {
                        NDOptionType.SOURCE_LINK_LAYER_ADDRESS,
                        NDOptionType.PREFIX_INFORMATION,
                        NDOptionType.MTU,
                        NDOptionType.ADVERTISEMENT_INTERVAL,
                        NDOptionType.HOME_AGENT_INFORMATION,
                    }
                ),
                lambda m: (
                    m.cur_hop_limit,
                    m.flags,
                    m.router_lifetime,
                    m.reachable_time,
                    m.retrans_timer,
                ),
                lambda f, t: RouterAdvertisement(f[0], RAFlag(f[1]), f[2], f[3], f[4], t),
                "RFC 4861 section 4.2, RFC 6275 section 7.1",
            ),
            ICMPv6MessageSpec(
                ICMPv6Type.DHAAD_REQUEST,
                DHAADRequest,
                struct.Struct("!HH"),  # Identifier, R|Reserved
                "none",
                _NONE,
                lambda m: (m.identifier, m.flags),
                lambda f, t: DHAADRequest(f[0], DHAADFlag(f[1])),
                "RFC 6275 section 6.5, RFC 3963 section 7",
            ),
            ICMPv6MessageSpec(
                ICMPv6Type.DHAAD_REPLY,
                DHAADReply,
                struct.Struct("!HH"),  # Identifier, R|Reserved
                "addresses",
                _NONE,
                lambda m: (m.identifier, m.flags),
                lambda f, t: DHAADReply(f[0], t, DHAADFlag(f[1])),
                "RFC 6275 section 6.6, RFC 3963 section 7",
            ),
            ICMPv6MessageSpec(
                ICMPv6Type.MOBILE_PREFIX_SOLICITATION,
                MobilePrefixSolicitation,
                struct.Struct("!H2x"),  # Identifier, Reserved
                "options",
                _NONE,
                lambda m: (m.identifier,),
                lambda f, t: MobilePrefixSolicitation(f[0], t),
                "RFC 6275 section 6.7",
            ),
            ICMPv6MessageSpec(
                ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT,
                MobilePrefixAdvertisement,
                struct.Struct("!HH"),  # Identifier, M|O|Reserved
                "options",
                frozenset({NDOptionType.PREFIX_INFORMATION}),
                lambda m: (m.identifier, m.flags),
                lambda f, t: MobilePrefixAdvertisement(f[0], MPAFlag(f[1]), t),
                "RFC 6275 section 6.8",
            ),
        )
    }
)
"""The ICMPv6 message table, by type."""

_MESSAGE_BY_CLASS: dict[type, ICMPv6MessageSpec] = {s.cls: s for s in MESSAGES.values()}


# --------------------------------------------------------------------------- codec


def _encode_options(options: tuple[NDOption, ...], spec: ICMPv6MessageSpec) -> bytes:
    name = spec.cls.__name__
    out = bytearray()
    for option in options:
        if isinstance(option, UnknownNDOption):
            kind, data = option.type, bytes(option.data)
            if not 0 <= kind <= 255:
                raise EncodeError(f"{name}: option type {kind} not in 0..255")
        else:
            ospec = _ND_OPTION_BY_CLASS[type(option)]
            if ospec.option_type not in spec.options:
                raise EncodeError(
                    f"{name}: {type(option).__name__} option is not valid in this message "
                    f"({spec.reference})"
                )
            kind = ospec.option_type
            try:
                data = ospec.encode(option)
            except struct.error as exc:
                raise EncodeError(f"{name}: {type(option).__name__}: {exc}") from None
        size = 2 + len(data)
        if size % 8 or size > 255 * 8:
            raise EncodeError(
                f"{name}: option type {kind} of {size} octets is not a multiple of 8 "
                "in 8..2040 (RFC 4861 section 4.6)"
            )
        out += bytes((kind, size // 8))
        out += data
    return bytes(out)


def encode(msg: ICMPv6Message, src: IPv6Address, dst: IPv6Address) -> bytes:
    """The complete ICMPv6 message with its checksum over the pseudo-header of ``src``
    and ``dst``. Raises :class:`EncodeError` for a field out of range."""
    spec = _MESSAGE_BY_CLASS.get(type(msg))
    if spec is None:
        raise EncodeError(f"not an ICMPv6 message of this codec: {type(msg).__name__}")
    try:
        body = spec.body.pack(*spec.fields(msg))
    except struct.error as exc:
        raise EncodeError(f"{spec.cls.__name__}: {exc}") from None
    if isinstance(msg, DHAADReply):
        tail = b"".join(address.packed for address in msg.home_agents)
    elif isinstance(msg, DHAADRequest):
        tail = b""
    else:
        tail = _encode_options(msg.options, spec)
    packet = bytes((spec.icmp_type, 0, 0, 0)) + body + tail
    checksum = pseudo_header_checksum(src, dst, IPPROTO_ICMPV6, packet)
    return packet[:2] + checksum.to_bytes(2, "big") + packet[4:]


def _decode_options(
    data: bytes, offset: int, allowed: frozenset[NDOptionType]
) -> tuple[NDOption, ...]:
    options: list[NDOption] = []
    end = len(data)
    while offset < end:
        if offset + 2 > end:
            raise DecodeError("option truncated: no Length octet", offset)
        kind = data[offset]
        length = data[offset + 1]
        if length == 0:
            raise DecodeError(
                f"option type {kind} with Length 0 (RFC 4861 section 4.6)", offset + 1
            )
        following = offset + 8 * length
        if following > end:
            raise DecodeError(
                f"option type {kind} of {8 * length} octets runs past the end ({end})",
                offset + 1,
            )
        value = data[offset + 2 : following]
        ospec = ND_OPTIONS.get(kind) if kind in allowed else None
        if ospec is None:
            options.append(UnknownNDOption(kind, value))
        else:
            if ospec.length is not None and length != ospec.length:
                raise DecodeError(
                    f"{ospec.cls.__name__} option Length {length}, expected {ospec.length}",
                    offset + 1,
                )
            options.append(ospec.decode(value, offset + 2))
        offset = following
    return tuple(options)


def decode(
    data: bytes, src: IPv6Address, dst: IPv6Address, verify_checksum: bool = True
) -> ICMPv6Message:
    """Decode one ICMPv6 message of the types in :class:`ICMPv6Type` (as a raw ICMPv6
    socket returns it: from the Type octet to the end of the packet).

    Checks: the fixed part is complete, the checksum (unless ``verify_checksum`` is
    false), the type is one of :class:`ICMPv6Type`, Code is 0, options are well formed
    (no zero Length, none past the end, known options have their defined Length), a
    DHAAD Request has nothing after its fixed part and a DHAAD Reply a whole number of
    addresses. Raises :class:`DecodeError` (and nothing else) on any invalid input.
    """
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size < 8:
        raise DecodeError(f"ICMPv6 message of {size} octets, shorter than 8", size)
    if verify_checksum and not verify_pseudo_header_checksum(src, dst, IPPROTO_ICMPV6, data):
        raise DecodeError("bad ICMPv6 checksum", 2)
    kind = data[0]
    spec = MESSAGES.get(kind)
    if spec is None:
        raise DecodeError(f"ICMPv6 type {kind} is not one this codec decodes", 0)
    if data[1] != 0:
        raise DecodeError(f"{spec.cls.__name__} with Code {data[1]}, expected 0", 1)
    fixed_end = 4 + spec.body.size
    if size < fixed_end:
        raise DecodeError(f"{spec.cls.__name__} of {size} octets, shorter than {fixed_end}", size)
    fields = spec.body.unpack_from(data, 4)
    tail: tuple[Any, ...]
    if spec.tail == "options":
        tail = _decode_options(data, fixed_end, spec.options)
    elif spec.tail == "addresses":
        if (size - fixed_end) % 16:
            raise DecodeError(
                f"{size - fixed_end} octets of home agent addresses, not a multiple of 16",
                fixed_end,
            )
        tail = tuple(IPv6Address(data[i : i + 16]) for i in range(fixed_end, size, 16))
    else:
        if size != fixed_end:
            raise DecodeError(
                f"{size - fixed_end} unexpected octets after {spec.cls.__name__}", fixed_end
            )
        tail = ()
    return spec.build(fields, tail)


def decode_router_advertisement(
    data: bytes, src: IPv6Address, dst: IPv6Address, verify_checksum: bool = True
) -> RouterAdvertisement:
    """Decode a Router Advertisement (RFC 4861 section 4.2 with the RFC 6275 section 7
    additions) as received on a raw ICMPv6 socket. Raises :class:`DecodeError` for
    anything else, including another valid ICMPv6 message.

    The checks of RFC 4861 section 6.1.2 that need the IP header are the caller's: the
    hop limit must be 255 (``IPV6_RECVHOPLIMIT``) and the source link-local.
    """
    if type(data) is not bytes:
        data = bytes(data)
    if data[:1] != bytes((ICMPv6Type.ROUTER_ADVERTISEMENT,)):
        raise DecodeError(
            f"ICMPv6 type {data[0] if data else None}, expected 134 (Router Advertisement)", 0
        )
    message = decode(data, src, dst, verify_checksum)
    assert isinstance(message, RouterAdvertisement)
    return message
