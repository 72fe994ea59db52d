"""The per-node slot: its bytes and its parser, where it is in an image, and the pieces a
byte range of a node's image is made of (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from homeguy.iso import IsoError

SLOT_PATH = "homeguy/node.conf"  # on the medium: /run/live/medium/homeguy/node.conf
SLOT_SIZE = 8192
SLOT_HEADER = b"# HOMEGUY-NODE-SLOT v1\n"
SLOT_VALUE = re.compile(r"[\x21-\x7e]*")  # printable, no spaces: one token per value


def slot_bytes(url: str | None, token: str | None, timeout: int | None = None,
               size: int = SLOT_SIZE) -> bytes:
    """The per-node slot: header, ``key=value`` lines, padded with newlines to `size`.

    The base image carries it with no url and token; a node's image with both. The same
    format is produced by the HAiku service (haiku/isoslot.py); a unit test keeps the two
    byte-identical.
    """
    lines = [SLOT_HEADER.decode(),
             "# Per-node enrollment settings, read at boot by live-config's homeguy-enroll.\n"]
    for key, value in (("url", url), ("token", token),
                       ("timeout", None if timeout is None else str(timeout))):
        if value is None:
            continue
        if not SLOT_VALUE.fullmatch(value):
            raise IsoError(f"slot {key} must be printable ASCII without spaces: {value!r}")
        lines.append(f"{key}={value}\n")
    body = "".join(lines).encode()
    if len(body) > size:
        raise IsoError(f"the node settings take {len(body)} bytes; the slot has {size}")
    return body + b"\n" * (size - len(body))


def parse_slot(data: bytes) -> dict[str, str]:
    if not data.startswith(SLOT_HEADER):
        raise IsoError("not a Homeguy node slot: its header is missing")
    values = {}
    for line in data.decode().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


@dataclass(frozen=True)
class SlotLocation:
    offset: int
    size: int


def parse_report_lba(output: str, path: str = SLOT_PATH) -> SlotLocation:
    """xorriso `-find PATH -exec report_lba` output -> where the file's bytes are."""
    for line in output.splitlines():
        if line.startswith("File data lba:") and line.rstrip().endswith(f"'/{path}'"):
            fields = [f.strip() for f in line.split(":", 1)[1].split(",")]
            extent, lba, _blocks, size = (int(f) for f in fields[:4])
            if extent != 0:
                raise IsoError(f"/{path} is stored in more than one extent")
            return SlotLocation(lba * 2048, size)
    raise IsoError(f"xorriso does not report /{path} in the image:\n{output}")


def personalized_ranges(size: int, slot: SlotLocation, start: int,
                        end: int) -> Iterator[tuple[str, int, int]]:
    """The byte range [start, end) of a node's image as pieces: ("base", offset, length)
    read from the base image, ("slot", offset in slot, length) from the slot bytes."""
    if not 0 <= start <= end <= size:
        raise IsoError(f"range {start}-{end} is outside the image's {size} bytes")
    slot_end = slot.offset + slot.size
    position = start
    for piece_start, piece_end, kind in ((0, slot.offset, "base"),
                                         (slot.offset, slot_end, "slot"),
                                         (slot_end, size, "base")):
        lo, hi = max(position, piece_start), min(end, piece_end)
        if lo < hi:
            yield (kind, lo - slot.offset if kind == "slot" else lo, hi - lo)
            position = hi
