"""The shell of personalizing: a node's image is the base image with only its slot replaced
(the slot's place comes from the base image's .json, written by `build`), and its SHA-256
is the base's saved hash state before the slot, then the slot and the tail after it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from homeguy_slot import SLOT_HEADER, SlotError, node_image_sha256, slot_bytes

from homeguy.iso import IsoError
from homeguy.iso.meta import image_meta, prefix_hash, read_after, write_checksum
from homeguy.iso.slot import SlotLocation

__all__ = ["add_arguments", "main", "personalize"]

HELP = "a node's image: the base with its slot filled"


def personalize(base: Path, out: Path | None, url: str, token: str,
                timeout: int | None = None, checksum: bool = True, *,
                tls_fingerprint: str | None = None,
                allow_http: bool = False) -> tuple[Path, str]:
    """A node's image: the base image with only its slot replaced. With `out`, a copy is
    made first (copy_file_range: in the kernel, a reflink where the file system can);
    without, `base` is changed in place. Returns the image and its SHA-256 (also written
    next to it as .sha256), hashed from the base's saved state before the slot (its
    .json), so only the slot and what follows it are read.

    A plain http:// `url` needs `allow_http` (the image says so, or it would refuse to
    enroll); `tls_fingerprint` makes the node trust the service's certificate by it."""
    if url.startswith("http://") and not allow_http:
        raise IsoError(f"{url} is plain http://: the node would fetch its token and keys in "
                       "clear. Give the service's https:// URL, or --allow-http")
    meta = image_meta(base)
    slot = SlotLocation(meta["slot"]["offset"], meta["slot"]["size"])
    size = int(meta["size"])
    if base.stat().st_size != size:
        raise IsoError(f"{base} has {base.stat().st_size} bytes, its .json says {size}: "
                       "the .json belongs to another build; rebuild the image")
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
    digest = node_image_sha256(prefix_hash(base, meta), data,
                               read_after(target, slot.offset + slot.size, size))
    write_checksum(target, digest)
    return target, digest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`homeguy iso personalize`'s arguments (homeguy.cli's parser and `main`'s)."""
    parser.add_argument("base", type=Path, help="a base image built by `homeguy iso build`")
    parser.add_argument("--url", required=True, help="the HAiku service's URL")
    parser.add_argument("--token", required=True, help="the node's token")
    parser.add_argument("--timeout", type=int, default=None, help="enrollment time limit (s)")
    parser.add_argument("--tls-fingerprint", default=None,
                        help="the SHA-256 fingerprint of the service's TLS certificate, which "
                             "the node then trusts instead of the system's CAs")
    parser.add_argument("--allow-http", action="store_true",
                        help="let the node enroll over a plain http:// URL (token and keys "
                             "in clear)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write the node's image here")
    where.add_argument("--in-place", action="store_true", help="change BASE itself")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    image, checksum = personalize(args.base, None if args.in_place else args.out,
                                  args.url, args.token, args.timeout,
                                  tls_fingerprint=args.tls_fingerprint,
                                  allow_http=args.allow_http)
    print(f"{checksum}  {image}", flush=True)


def main(argv: list[str]) -> None:
    """`python -m homeguy iso personalize ...` without importing the rest of the build
    tool (homeguy/__main__.py): a node's image takes milliseconds, the whole tool's
    imports several times that."""
    parser = argparse.ArgumentParser(prog="homeguy iso personalize", description=HELP)
    add_arguments(parser)
    try:
        run(parser.parse_args(argv))
    except (IsoError, SlotError) as exc:
        sys.exit(f"homeguy: {exc}")
