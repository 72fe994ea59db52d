"""Where the per-node slot is in a built image (pure). The slot's format is the module
homeguy_slot (packages/homeguy-slot/), shared with the HAiku service."""

from __future__ import annotations

from dataclasses import dataclass

from homeguy_slot import SLOT_PATH

from homeguy.iso import IsoError


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

