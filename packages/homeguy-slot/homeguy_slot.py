"""The per-node slot: one node's enrollment settings, in a fixed-size file on the live medium.

A live image carries the slot at SLOT_PATH on its ISO 9660 medium (live-boot mounts the
medium at /run/live/medium). A node's image is the base image with only the slot's bytes
replaced, so that the build tool and the HAiku service can make one without rebuilding
anything: the build tool writes the base image's slot (no url, no token) and personalized
images (`homeguy iso personalize`); the service streams a node's image with its slot.

Format, version 1 (ASCII): the header line, a comment line, then ``key=value`` lines for
url, token, timeout, tls_fingerprint and allow_http, in that order and each only when
given (a reader ignores keys it does not know), padded with newlines to
the slot's size. A value is printable ASCII without spaces (one token), so that the boot
time reader, the live-config component live/hooks/enroll/2000-homeguy-enroll (POSIX sh,
``IFS='=' read -r key value``), reads back exactly what was written. The test vectors in
vectors/ hold the golden bytes that the writers, `parse_slot` and that component are
tested against. `image_pieces` says which bytes of a node's image come from the base
image and which from the slot (streaming, HTTP Range requests).

Standard library only: this module ships alone as python3-homeguy-slot, for the service.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["SLOT_HEADER", "SLOT_PATH", "SLOT_SIZE", "SlotError", "image_pieces", "parse_slot",
           "slot_bytes"]

SLOT_PATH = "homeguy/node.conf"  # on the medium: /run/live/medium/homeguy/node.conf
SLOT_SIZE = 8192
SLOT_HEADER = b"# HOMEGUY-NODE-SLOT v1\n"
_COMMENT = "# Per-node enrollment settings, read at boot by live-config's homeguy-enroll.\n"
_VALUE = re.compile(r"[\x21-\x7e]*")  # printable, no spaces: one token per value


class SlotError(ValueError):
    """Settings that the slot cannot hold, or bytes that are not a slot; says which."""


def slot_bytes(url: str | None, token: str | None, timeout: int | None = None,
               size: int = SLOT_SIZE, *, tls_fingerprint: str | None = None,
               allow_http: bool | None = None) -> bytes:
    """The slot's bytes: header, ``key=value`` lines, padded with newlines to `size`.

    The base image carries it with no url and token; a node's image with both, and with
    the SHA-256 fingerprint of the service's TLS certificate when the node is to trust
    that certificate rather than the system's CAs, or ``allow_http`` when the service is
    reached over plain http:// (the boot-time enrollment refuses http:// otherwise).
    """
    lines = [SLOT_HEADER.decode(), _COMMENT]
    for key, value in (("url", url), ("token", token),
                       ("timeout", None if timeout is None else str(timeout)),
                       ("tls_fingerprint", tls_fingerprint),
                       ("allow_http", None if allow_http is None else
                        ("yes" if allow_http else "no"))):
        if value is None:
            continue
        if not _VALUE.fullmatch(value):
            raise SlotError(f"slot {key} must be printable ASCII without spaces: {value!r}")
        lines.append(f"{key}={value}\n")
    body = "".join(lines).encode()
    if len(body) > size:
        raise SlotError(f"the node settings take {len(body)} bytes; the slot has {size}")
    return body + b"\n" * (size - len(body))


def parse_slot(data: bytes) -> dict[str, str]:
    """A slot's bytes -> its ``key=value`` settings (comments and padding skipped)."""
    if not data.startswith(SLOT_HEADER):
        raise SlotError("not a Homeguy node slot: its header is missing")
    values = {}
    for line in data.decode().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def image_pieces(size: int, slot_offset: int, slot_size: int, start: int,
                 end: int) -> Iterator[tuple[str, int, int]]:
    """The bytes [start, end) of a node's image of `size` bytes, whose slot is at
    `slot_offset`, as pieces: ("base", offset, length) read from the base image, ("slot",
    offset in the slot, length) from the node's slot bytes."""
    if not 0 <= start <= end <= size:
        raise SlotError(f"range {start}-{end} is outside the image's {size} bytes")
    slot_end = slot_offset + slot_size
    for piece_start, piece_end, kind in ((0, slot_offset, "base"),
                                         (slot_offset, slot_end, "slot"),
                                         (slot_end, size, "base")):
        lo, hi = max(start, piece_start), min(end, piece_end)
        if lo < hi:
            yield kind, (lo - slot_offset if kind == "slot" else lo), hi - lo
