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

A node's image's SHA-256 is computed from the base image's hash state after the bytes
before the slot (`ResumableSha256`, kept in the base image's .json as a `prefix_record`),
then the slot and what follows it: the build places the slot last, so that is a few
hundred KiB, not the whole image.

Standard library only (and libcrypto through ctypes): this module ships alone as
python3-homeguy-slot, for the service.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["SLOT_HEADER", "SLOT_PATH", "SLOT_SIZE", "ResumableSha256", "SlotError",
           "image_pieces", "node_image_sha256", "parse_slot", "prefix_from_record",
           "prefix_record", "slot_bytes"]

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


# The image's checksum from a saved hash state ------------------------------------------

class _Sha256Ctx(ctypes.Structure):
    """OpenSSL's SHA256_CTX (openssl/sha.h): a plain struct, unlike hashlib's objects."""
    _fields_ = [("h", ctypes.c_uint32 * 8), ("Nl", ctypes.c_uint32), ("Nh", ctypes.c_uint32),
                ("data", ctypes.c_uint8 * 64), ("num", ctypes.c_uint), ("md_len", ctypes.c_uint)]


_libcrypto: ctypes.CDLL | None = None


def _crypto() -> ctypes.CDLL:
    global _libcrypto  # noqa: PLW0603 - loaded once, on first use
    if _libcrypto is None:
        lib = ctypes.CDLL("libcrypto.so.3")  # Debian's libssl3 (python3 depends on it)
        ctx = ctypes.POINTER(_Sha256Ctx)
        lib.SHA256_Init.argtypes = [ctx]
        lib.SHA256_Update.argtypes = [ctx, ctypes.c_char_p, ctypes.c_size_t]
        lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctx]
        for function in (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final):
            function.restype = ctypes.c_int
        _libcrypto = lib
    return _libcrypto


class ResumableSha256:
    """SHA-256 whose state can be saved and resumed in another process (hashlib's cannot):
    the base image's hash after the bytes before its slot is computed once, and each
    node's image hashes only its slot and what follows. OpenSSL's SHA256 functions of
    libcrypto.so.3, the implementation hashlib uses."""

    def __init__(self) -> None:
        self._ctx = _Sha256Ctx()
        _crypto().SHA256_Init(ctypes.byref(self._ctx))

    @property
    def length(self) -> int:
        """The number of bytes hashed so far."""
        bits: int = (self._ctx.Nh << 32) | self._ctx.Nl
        return bits >> 3

    def update(self, data: bytes) -> None:
        _crypto().SHA256_Update(ctypes.byref(self._ctx), data, len(data))

    def copy(self) -> ResumableSha256:
        other = ResumableSha256.__new__(ResumableSha256)
        other._ctx = _Sha256Ctx.from_buffer_copy(self._ctx)
        return other

    def hexdigest(self) -> str:
        out = ctypes.create_string_buffer(32)
        _crypto().SHA256_Final(out, ctypes.byref(_Sha256Ctx.from_buffer_copy(self._ctx)))
        return out.raw.hex()

    def state(self) -> dict[str, Any]:
        """The state, portable (not the struct's host byte order): the eight chaining
        words, the bytes hashed, and the bytes of the block not yet compressed."""
        pending = bytes(self._ctx.data)[:self._ctx.num]
        return {"h": b"".join(w.to_bytes(4, "big") for w in self._ctx.h).hex(),
                "length": self.length, "pending": pending.hex()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ResumableSha256:
        """The hash a `state()` came from; SlotError if it cannot be one."""
        try:
            words, length = bytes.fromhex(state["h"]), int(state["length"])
            pending = bytes.fromhex(state["pending"])
        except (KeyError, TypeError, ValueError) as error:
            raise SlotError(f"not a SHA-256 state: {error}") from None
        if len(words) != 32 or length < 0 or length >= 1 << 61 or len(pending) != length % 64:
            raise SlotError("not a SHA-256 state: wrong sizes")
        hasher = cls()
        ctx = hasher._ctx
        for i in range(8):
            ctx.h[i] = int.from_bytes(words[4 * i:4 * i + 4], "big")
        bits = length << 3
        ctx.Nl, ctx.Nh = bits & 0xFFFFFFFF, bits >> 32
        ctypes.memmove(ctx.data, pending, len(pending))
        ctx.num = len(pending)
        return hasher


_RECORD_FORMAT = "homeguy-prefix-sha256 v1"


def _record_check(base_sha256: str, state: dict[str, Any]) -> str:
    canonical = json.dumps([_RECORD_FORMAT, base_sha256, state], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def prefix_record(prefix: ResumableSha256, base_sha256: str) -> dict[str, Any]:
    """What the base image's .json keeps: the hash state after the bytes before the slot
    (its length is the slot's offset), for the base image of this SHA-256."""
    state = prefix.state()
    return {"format": _RECORD_FORMAT, "base_sha256": base_sha256, **state,
            "check": _record_check(base_sha256, state)}


def prefix_from_record(record: object, base_sha256: str,
                       slot_offset: int) -> ResumableSha256 | None:
    """The saved prefix hash, if `record` is one for this base image and this slot offset
    and is intact; None when it is missing, stale (another build, another offset),
    foreign or damaged: the caller hashes the prefix again, never trusts it."""
    if not isinstance(record, dict) or record.get("format") != _RECORD_FORMAT \
            or record.get("base_sha256") != base_sha256 or record.get("length") != slot_offset:
        return None
    state = {key: record.get(key) for key in ("h", "length", "pending")}
    if record.get("check") != _record_check(base_sha256, state):
        return None
    try:
        return ResumableSha256.from_state(state)
    except SlotError:
        return None


def node_image_sha256(prefix: ResumableSha256, slot: bytes, after: bytes) -> str:
    """A node's image's SHA-256: the base's prefix hash, then the slot's bytes, then the
    base image's bytes after the slot."""
    digest = prefix.copy()
    digest.update(slot)
    digest.update(after)
    return digest.hexdigest()
