"""The two Neighbor Discovery messages of Duplicate Address Detection (RFC 4861 sections
4.3 and 4.4, RFC 4862 section 5.4), for a home agent defending a home address on the
home link (RFC 6275 section 10.3.1).

Neighbor Solicitation (135) and Neighbor Advertisement (136) share their layout::

    +---------------+---------------+-------------------------------+
    |     Type      |     Code      |           Checksum            |
    +---------------+---------------+-------------------------------+
    |  R|S|O flags (NA) / Reserved (NS)                             |
    +---------------------------------------------------------------+
    |                      Target Address (16)                      |
    +---------------------------------------------------------------+
    |  Options ...

A DAD probe is a whole IPv6 packet (:func:`dad_probe`): it must leave from the
unspecified address (RFC 4862 section 5.4.2), which a raw ICMPv6 socket cannot do (Linux
fills in a source address), so the daemon sends it with its own IPv6 header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address

from mip6d.wire.checksum import pseudo_header_checksum, verify_pseudo_header_checksum
from mip6d.wire.errors import DecodeError

__all__ = [
    "HOP_LIMIT",
    "NdType",
    "NeighborMessage",
    "dad_probe",
    "decode_neighbor_message",
    "is_duplicate",
    "solicited_node",
]

IPPROTO_ICMPV6 = 58
HOP_LIMIT = 255
"""Neighbor Discovery messages are sent, and accepted, only with hop limit 255 (RFC 4861
sections 7.1.1 and 7.1.2): they cannot have crossed a router."""
_UNSPECIFIED = IPv6Address("::")
_SOLICITED_NODE = int(IPv6Address("ff02::1:ff00:0"))
_IPV6_HEADER = struct.Struct("!IHBB16s16s")
_BODY = struct.Struct("!BBHI16s")


class NdType(IntEnum):
    """ICMPv6 types of Neighbor Discovery used here (IANA)."""

    NEIGHBOR_SOLICITATION = 135
    NEIGHBOR_ADVERTISEMENT = 136


@dataclass(frozen=True, slots=True)
class NeighborMessage:
    """A decoded Neighbor Solicitation or Advertisement (its options are not needed)."""

    type: NdType
    target: IPv6Address


def solicited_node(address: IPv6Address) -> IPv6Address:
    """The solicited-node multicast address of ``address`` (RFC 4291 section 2.7.1)."""
    return IPv6Address(_SOLICITED_NODE | (int(address) & 0xFFFFFF))


def dad_probe(target: IPv6Address) -> tuple[bytes, IPv6Address]:
    """``(packet, destination)``: the IPv6 packet of a DAD Neighbor Solicitation for
    ``target``, from ``::`` to its solicited-node address, hop limit 255, with no Source
    Link-layer Address option (RFC 4862 section 5.4.2)."""
    dst = solicited_node(target)
    body = bytearray(_BODY.pack(NdType.NEIGHBOR_SOLICITATION, 0, 0, 0, target.packed))
    struct.pack_into("!H", body, 2, pseudo_header_checksum(_UNSPECIFIED, dst, IPPROTO_ICMPV6,
                                                           bytes(body)))
    header = _IPV6_HEADER.pack(6 << 28, len(body), IPPROTO_ICMPV6, HOP_LIMIT,
                               _UNSPECIFIED.packed, dst.packed)
    return header + bytes(body), dst


def decode_neighbor_message(data: bytes, src: IPv6Address, dst: IPv6Address
                            ) -> NeighborMessage:
    """Decode an NS or NA as a raw ICMPv6 socket returns it (from the Type octet); the
    checks of RFC 4861 sections 7.1.1 and 7.1.2 that need only the message. Raises
    :class:`DecodeError` and nothing else."""
    data = bytes(data)
    if len(data) < _BODY.size:
        raise DecodeError(f"Neighbor Discovery message of {len(data)} octets, "
                          f"shorter than {_BODY.size}", len(data))
    kind, code, _checksum, _flags, target = _BODY.unpack_from(data)
    if kind not in (NdType.NEIGHBOR_SOLICITATION, NdType.NEIGHBOR_ADVERTISEMENT):
        raise DecodeError(f"ICMPv6 type {kind} is not NS or NA", 0)
    if code != 0:
        raise DecodeError(f"Code {code}, expected 0", 1)
    if not verify_pseudo_header_checksum(src, dst, IPPROTO_ICMPV6, data):
        raise DecodeError("bad ICMPv6 checksum", 2)
    address = IPv6Address(target)
    if address.is_multicast:
        raise DecodeError(f"multicast target {address}", 8)
    return NeighborMessage(NdType(kind), address)


def is_duplicate(message: NeighborMessage, src: IPv6Address,
                 probing: frozenset[IPv6Address]) -> bool:
    """Whether ``message`` (from ``src``) proves one of the addresses being probed in use
    (RFC 4862 sections 5.4.3 and 5.4.4): any Neighbor Advertisement for it, or a
    Solicitation for it from ``::`` (another node running DAD for the same address). A
    Solicitation from a unicast address is address resolution, not a conflict."""
    if message.target not in probing:
        return False
    if message.type is NdType.NEIGHBOR_ADVERTISEMENT:
        return True
    return src == _UNSPECIFIED
