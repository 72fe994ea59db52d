"""The shell of personalizing: a node's image is the base image with only its slot replaced
(the slot's place comes from the base image's .json, written by `build`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from homeguy_slot import SLOT_HEADER, slot_bytes

from homeguy.files import sha256_file, write_atomic
from homeguy.iso import IsoError
from homeguy.iso.slot import SlotLocation


def image_meta(iso: Path) -> dict[str, Any]:
    meta = iso.with_name(iso.name + ".json")
    if not meta.is_file():
        raise IsoError(f"{meta} is missing: personalize only images `homeguy iso build` made")
    data: dict[str, Any] = json.loads(meta.read_text())
    return data


def personalize(base: Path, out: Path | None, url: str, token: str,
                timeout: int | None = None, checksum: bool = True, *,
                tls_fingerprint: str | None = None,
                allow_http: bool = False) -> tuple[Path, str]:
    """A node's image: the base image with only its slot replaced. With `out`, a copy is
    made first (copy_file_range, in the kernel); without, `base` is changed in place.
    Returns the image and its SHA-256 (also written next to it as .sha256).

    A plain http:// `url` needs `allow_http` (the image says so, or it would refuse to
    enroll); `tls_fingerprint` makes the node trust the service's certificate by it."""
    if url.startswith("http://") and not allow_http:
        raise IsoError(f"{url} is plain http://: the node would fetch its token and keys in "
                       "clear. Give the service's https:// URL, or --allow-http")
    meta = image_meta(base)
    slot = SlotLocation(meta["slot"]["offset"], meta["slot"]["size"])
    data = slot_bytes(url, token, timeout, size=slot.size, tls_fingerprint=tls_fingerprint,
                      allow_http=True if allow_http else None)
    target = base if out is None else out.with_name(f".{out.name}.tmp")
    try:
        if out is not None:
            with base.open("rb") as src, target.open("wb") as dst:
                left = os.fstat(src.fileno()).st_size
                while left > 0:
                    left -= os.copy_file_range(src.fileno(), dst.fileno(), left)
        with target.open("r+b") as stream:
            stream.seek(slot.offset)
            if stream.read(len(SLOT_HEADER)) != SLOT_HEADER:
                raise IsoError(f"{base}: no Homeguy slot at offset {slot.offset}")
            stream.seek(slot.offset)
            stream.write(data)
        if out is not None:
            os.replace(target, out)
            target = out
    finally:
        if out is not None and target != out:
            target.unlink(missing_ok=True)
    if not checksum:
        return target, ""
    digest = sha256_file(target)
    write_atomic(target.with_name(target.name + ".sha256"),
                 f"{digest}  {target.name}\n".encode())
    return target, digest
