"""Per-user live images, streamed: the base image with only its node slot replaced.

Pure functions (no I/O, no Django): the slot's bytes (the same format as Homeguy's
``homeguy.iso.slot_bytes``; a test keeps the two byte-identical), HTTP Range parsing
(RFC 9110 section 14), the pieces a byte range is made of, and the node's image token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["SLOT_HEADER", "ByteRange", "RangeNotSatisfiable", "image_token", "parse_range",
           "pieces", "slot_bytes"]

SLOT_HEADER = b"# HOMEGUY-NODE-SLOT v1\n"
_VALUE = re.compile(r"[\x21-\x7e]*")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def slot_bytes(url: str, token: str, timeout: int | None, size: int) -> bytes:
    """The node's enrollment settings as the live image reads them, padded to `size`."""
    lines = [SLOT_HEADER.decode(),
             "# Per-node enrollment settings, read at boot by live-config's homeguy-enroll.\n"]
    for key, value in (("url", url), ("token", token),
                       ("timeout", None if timeout is None else str(timeout))):
        if value is None:
            continue
        if not _VALUE.fullmatch(value):
            raise ValueError(f"slot {key} must be printable ASCII without spaces")
        lines.append(f"{key}={value}\n")
    body = "".join(lines).encode()
    if len(body) > size:
        raise ValueError(f"the node settings take {len(body)} bytes; the slot has {size}")
    return body + b"\n" * (size - len(body))


class RangeNotSatisfiable(ValueError):
    pass


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """A ``Range`` header -> the one range to send, or None for the whole image.

    Several ranges, other units and malformed headers are ignored (the whole image is
    sent, as RFC 9110 section 14.2 allows); a range that starts past the end raises
    RangeNotSatisfiable (416)."""
    if not header:
        return None
    found = _RANGE.fullmatch(header.strip())
    if not found or (not found[1] and not found[2]):
        return None
    if not found[1]:  # the last N bytes
        suffix = int(found[2])
        if suffix == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(0, size - suffix), size)
    start = int(found[1])
    end = min(int(found[2]) + 1, size) if found[2] else size
    if start >= size:
        raise RangeNotSatisfiable(header)
    if end <= start:
        return None
    return ByteRange(start, end)


def pieces(size: int, slot_offset: int, slot_size: int,
           wanted: ByteRange) -> Iterator[tuple[str, int, int]]:
    """The bytes [start, end) of a node's image: ("base", offset, length) from the base
    image, ("slot", offset in the slot, length) from the slot's bytes."""
    slot_end = slot_offset + slot_size
    for lo_bound, hi_bound, kind in ((0, slot_offset, "base"), (slot_offset, slot_end, "slot"),
                                     (slot_end, size, "base")):
        lo, hi = max(wanted.start, lo_bound), min(wanted.end, hi_bound)
        if lo < hi:
            yield kind, (lo - slot_offset if kind == "slot" else lo), hi - lo


def image_token(secret: str, node_id: int, issued: str) -> str:
    """The node token written into its image: derived from the service's secret, the node
    and the time the token was issued, so that every request for the image (resumed
    downloads, Range requests) carries the same token without storing it."""
    mac = hmac.new(secret.encode(), f"homeguy-iso:{node_id}:{issued}".encode(),
                   hashlib.sha256).digest()
    return "hgn_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")
