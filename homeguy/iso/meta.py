"""A built image's .json, the one place for its format: what `build` records next to an
image (the inputs digest, size, SHA-256, SOURCE_DATE_EPOCH, the slot's place) and the hash
state of the bytes before the slot, from which a node's image's checksum is computed
without reading the whole image (`homeguy_slot.prefix_record`; the HAiku service reads the
same keys)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, BinaryIO

from homeguy_slot import ResumableSha256, prefix_from_record, prefix_record

from homeguy.files import write_atomic
from homeguy.iso import IsoError

CHUNK = 1 << 22
PREFIX_KEY = "prefix_sha256"


def meta_path(iso: Path) -> Path:
    return iso.with_name(iso.name + ".json")


def image_meta(iso: Path) -> dict[str, Any]:
    meta = meta_path(iso)
    if not meta.is_file():
        raise IsoError(f"{meta} is missing: personalize only images `homeguy iso build` made")
    data: dict[str, Any] = json.loads(meta.read_text())
    return data


def write_meta(iso: Path, meta: dict[str, Any]) -> None:
    write_atomic(meta_path(iso), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())


def write_checksum(iso: Path, sha256: str) -> None:
    """The image's SHA-256 next to it, as `sha256sum` writes it (`sha256sum -c` reads it)."""
    write_atomic(iso.with_name(iso.name + ".sha256"), f"{sha256}  {iso.name}\n".encode())


def _hash_from(hasher: ResumableSha256, stream: BinaryIO, length: int, iso: Path) -> None:
    """Hash the stream's next `length` bytes."""
    end = hasher.length + length
    while hasher.length < end:
        block = stream.read(min(CHUNK, end - hasher.length))
        if not block:
            raise IsoError(f"{iso} is shorter than its slot's offset")
        hasher.update(block)


def hash_image(iso: Path, slot_offset: int) -> tuple[str, ResumableSha256]:
    """The image's SHA-256 and the hash state after its first `slot_offset` bytes, in one
    pass."""
    digest = ResumableSha256()
    with iso.open("rb", buffering=0) as stream:
        _hash_from(digest, stream, slot_offset, iso)
        prefix = digest.copy()
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest(), prefix


def prefix_hash(iso: Path, meta: dict[str, Any]) -> ResumableSha256:
    """The hash state of the image's bytes before its slot: the one its .json keeps when it
    is for this image and this slot offset; otherwise (an image built before the .json
    kept it, a stale or damaged record) hashed again and kept in the .json."""
    offset = int(meta["slot"]["offset"])
    if prefix := prefix_from_record(meta.get(PREFIX_KEY), meta["sha256"], offset):
        return prefix
    prefix = ResumableSha256()
    with iso.open("rb", buffering=0) as stream:
        _hash_from(prefix, stream, offset, iso)
    with contextlib.suppress(OSError):  # a read-only base: hashed again next time
        write_meta(iso, {**meta, PREFIX_KEY: prefix_record(prefix, meta["sha256"])})
    return prefix


def read_after(path: Path, offset: int, size: int) -> bytes:
    """The bytes [offset, size) of a file (what follows the slot: small, see build)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, size - offset, offset)
    finally:
        os.close(fd)
    if len(data) != size - offset:
        raise IsoError(f"{path} is shorter than its .json says ({size} bytes)")
    return data
