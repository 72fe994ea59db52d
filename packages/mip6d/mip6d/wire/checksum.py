"""Internet checksum over the IPv6 pseudo-header (RFC 8200 section 8.1, RFC 1071).

Used by the Mobility Header (RFC 6275 section 6.1.1, next header 135) and ICMPv6
(RFC 4443 section 2.3, next header 58). The pseudo-header is the source address, the
destination address, the upper-layer packet length as 32 bits, three zero octets and the
next header value.

The one's-complement sum of 16-bit words is computed arithmetically: since
``2**16 == 1 (mod 0xffff)``, the buffer read as one big-endian integer is congruent to the
sum of its 16-bit words modulo ``0xffff``, which is exactly what end-around-carry
addition computes. One ``int.from_bytes`` and one ``%`` replace a Python loop over the
words, which keeps decoding fast enough for the fuzz test's million inputs.
"""

from __future__ import annotations

import struct
from ipaddress import IPv6Address

__all__ = ["ones_complement_sum", "pseudo_header_checksum", "verify_pseudo_header_checksum"]

_LENGTH_AND_NEXT = struct.Struct("!I3xB")


def ones_complement_sum(data: bytes) -> int:
    """The folded 16-bit one's-complement sum of ``data`` (padded with a zero octet when
    its length is odd): 0 only for an all-zero buffer, else in ``1..0xffff``."""
    if len(data) & 1:
        data += b"\x00"
    value = int.from_bytes(data, "big")
    if value == 0:
        return 0
    folded = value % 0xFFFF
    return folded if folded else 0xFFFF


def _pseudo_header(src: IPv6Address, dst: IPv6Address, next_header: int, length: int) -> bytes:
    return src.packed + dst.packed + _LENGTH_AND_NEXT.pack(length, next_header)


def pseudo_header_checksum(
    src: IPv6Address, dst: IPv6Address, next_header: int, payload: bytes
) -> int:
    """The checksum to write into ``payload``'s checksum field.

    ``payload`` is the whole upper-layer packet (Mobility Header or ICMPv6 message) with
    its checksum field set to zero.
    """
    total = ones_complement_sum(_pseudo_header(src, dst, next_header, len(payload)) + payload)
    return 0xFFFF - total


def verify_pseudo_header_checksum(
    src: IPv6Address, dst: IPv6Address, next_header: int, packet: bytes
) -> bool:
    """Whether ``packet`` (checksum field included, as received) sums to ``0xffff``."""
    pseudo = _pseudo_header(src, dst, next_header, len(packet))
    return ones_complement_sum(pseudo + packet) == 0xFFFF
