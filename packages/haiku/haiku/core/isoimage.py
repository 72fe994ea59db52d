"""Per-user live images, streamed: the base image with only its node slot replaced.

Pure functions (no I/O, no Django): HTTP Range parsing (RFC 9110 section 14) and the
node's image token. The slot's bytes and the pieces a byte range of the image is made of
are the slot format's own, module homeguy_slot (package python3-homeguy-slot), which
Homeguy's build tool writes the base image's slot with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

__all__ = ["ByteRange", "RangeNotSatisfiable", "image_token", "parse_range"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


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


def image_token(secret: str, node_id: int, issued: str) -> str:
    """The node token written into its image: derived from the service's secret, the node
    and the time the token was issued, so that every request for the image (resumed
    downloads, Range requests) carries the same token without storing it."""
    mac = hmac.new(secret.encode(), f"homeguy-iso:{node_id}:{issued}".encode(),
                   hashlib.sha256).digest()
    return "hgn_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")
