"""The per-user ISO download: the base live image streamed with only the node's slot
replaced, HTTP Range requests supported, nothing stored per node.

The base image is ``HAIKU_BASE_ISO``, built by ``homeguy iso build``; the slot's offset
and size come from the ``.json`` written next to it. The image carries a token derived
from the service's secret (:func:`haiku.core.isoimage.image_token`): the first download
issues it (the node's previous token stops working), later requests (a resumed download)
get the same bytes. Each image's SHA-256 is published in ``X-Checksum-SHA256`` and at
``.../iso.sha256``: it is computed from the hash state of the base image's bytes before
the slot, which the ``.json`` keeps (``homeguy_slot.prefix_record``, written by the build),
so a node's image hashes only its slot and the tail after it (under 1.4 MiB), from the first
request after a start on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from homeguy_slot import (
    SLOT_HEADER,
    ResumableSha256,
    image_pieces,
    node_image_sha256,
    prefix_from_record,
    slot_bytes,
)

from haiku.core import tokens
from haiku.core.isoimage import ByteRange, RangeNotSatisfiable, image_token, parse_range
from haiku.core.render import NodeKind
from haiku.models import Node

CHUNK = 1 << 20
ENROLL_TIMEOUT = 90
PREFIX_KEY = "prefix_sha256"  # in the base image's .json (homeguy/iso/meta.py)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Base:
    path: Path
    size: int
    slot_offset: int
    slot_size: int
    sha256: str
    profile: str
    prefix: Any  # the .json's hash state before the slot (checked before use), or None


_lock = threading.Lock()
_prefix_hash: dict[tuple[str, int], ResumableSha256] = {}  # (base sha256, slot offset)
_checksums: dict[tuple[str, bytes], str] = {}  # (base sha256, slot digest) -> image sha256


def available() -> bool:
    """Whether nodes' images can be downloaded (a base image is configured and there):
    pages offer the download only then."""
    return bool(settings.HAIKU.base_iso) and Path(settings.HAIKU.base_iso).is_file()


def _base(kind: str) -> Base | None:
    """The base image for a node of this kind: a mobile router's own when configured."""
    configured = (kind == NodeKind.ROUTER and settings.HAIKU.base_iso_router) \
        or settings.HAIKU.base_iso
    path = Path(configured) if configured else None
    if path is None or not path.is_file():
        return None
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    base = Base(path, path.stat().st_size, int(meta["slot"]["offset"]),
                int(meta["slot"]["size"]), str(meta["sha256"]), str(meta["profile"]),
                meta.get(PREFIX_KEY))
    if base.size != int(meta["size"]):
        raise RuntimeError(f"{path} does not match its .json (size)")
    return base


def _read(fd: int, offset: int, length: int) -> Iterator[bytes]:
    while length > 0:
        block = os.pread(fd, min(CHUNK, length), offset)
        if not block:
            raise RuntimeError("the base image is shorter than its .json says")
        yield block
        offset += len(block)
        length -= len(block)


def _stream(base: Base, slot: bytes, wanted: ByteRange) -> Iterator[bytes]:
    fd = os.open(base.path, os.O_RDONLY)
    try:
        for kind, offset, length in image_pieces(base.size, base.slot_offset, base.slot_size,
                                                 wanted.start, wanted.end):
            if kind == "slot":
                yield slot[offset:offset + length]
            else:
                yield from _read(fd, offset, length)
    finally:
        os.close(fd)


def _prefix(base: Base, fd: int) -> ResumableSha256:
    """The hash state of the base image's bytes before its slot: from its .json when that
    holds one for this image and offset, else hashed once and kept in memory."""
    key = (base.sha256, base.slot_offset)
    with _lock:
        if key in _prefix_hash:
            return _prefix_hash[key]
    state = prefix_from_record(base.prefix, base.sha256, base.slot_offset)
    if state is None:
        log.warning("%s.json keeps no valid hash state before the slot: hashing %d bytes "
                    "(rebuild the image, or run `homeguy iso personalize` on it once)",
                    base.path, base.slot_offset)
        state = ResumableSha256()
        for block in _read(fd, 0, base.slot_offset):
            state.update(block)
    with _lock:
        _prefix_hash[key] = state
    return state


def _checksum(base: Base, slot: bytes) -> str:
    """SHA-256 of the node's image: the base's hash state before the slot, then the slot
    and what follows it."""
    key = (base.sha256, hashlib.sha256(slot).digest())
    with _lock:
        if key in _checksums:
            return _checksums[key]
    fd = os.open(base.path, os.O_RDONLY)
    try:
        after = base.slot_offset + base.slot_size
        result = node_image_sha256(_prefix(base, fd), slot,
                                   b"".join(_read(fd, after, base.size - after)))
    finally:
        os.close(fd)
    with _lock:
        if len(_checksums) > 4096:
            _checksums.clear()
        _checksums[key] = result
    return result


def _node_slot(request: HttpRequest, node: Node, base: Base) -> bytes:
    """The node's slot; issues the image token on the first download."""
    with transaction.atomic():
        node = Node.objects.select_for_update().get(pk=node.pk)
        issued = node.token_created
        token = image_token(settings.SECRET_KEY, node.pk, issued.isoformat()) if issued else ""
        if not issued or node.token_digest != tokens.digest(token):
            issued = timezone.now()
            token = image_token(settings.SECRET_KEY, node.pk, issued.isoformat())
            node.token_digest, node.token_created = tokens.digest(token), issued
            node.save(update_fields=["token_digest", "token_created"])
    return slot_bytes(enrollment_url(request), token, ENROLL_TIMEOUT, base.slot_size,
                      tls_fingerprint=settings.HAIKU.tls_fingerprint or None,
                      allow_http=True if _plain_http(request) else None)


def enrollment_url(request: HttpRequest) -> str:
    """Where the node's image enrolls: the service's public URL, or this request's."""
    return (settings.HAIKU.base_url or request.build_absolute_uri("/")).rstrip("/")


def _plain_http(request: HttpRequest) -> bool:
    return enrollment_url(request).startswith("http://")


def _prepare(request: HttpRequest, node_id: int) -> tuple[Base, Node, bytes] | HttpResponse:
    node = get_object_or_404(Node.objects.select_related("owner"), pk=node_id,
                             owner=request.user)
    base = _base(node.kind)
    if base is None:
        return JsonResponse({"error": "preconfigured ISO images are not available yet: no "
                             "base image is configured (HAIKU_BASE_ISO)"}, status=501)
    if _plain_http(request) and not settings.HAIKU.enroll_allow_http:
        return JsonResponse({"error": f"this service's URL is {enrollment_url(request)}: a "
                             "node would send its token and receive its keys in clear, so "
                             "its image would refuse to enroll. Serve the service over "
                             "https:// (HAIKU_BASE_URL), or allow plain http:// explicitly "
                             "(HAIKU_ENROLL_ALLOW_HTTP=yes)"}, status=409)
    with open(base.path, "rb") as stream:
        stream.seek(base.slot_offset)
        if stream.read(len(SLOT_HEADER)) != SLOT_HEADER:
            return JsonResponse({"error": "the base image has no node slot where its .json "
                                 "says; rebuild it with `homeguy iso build`"}, status=500)
    return base, node, _node_slot(request, node, base)


def _filename(base: Base, node: Node) -> str:
    return f"homeguy-{base.profile}-node-{node.pk}-amd64.hybrid.iso"


@require_http_methods(["GET", "HEAD"])
def node_iso(request: HttpRequest, node_id: int) -> HttpResponse:
    prepared = _prepare(request, node_id)
    if isinstance(prepared, HttpResponse):
        return prepared
    base, node, slot = prepared
    checksum = _checksum(base, slot)
    etag = f'"{checksum}"'
    header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range != etag:
        header = None  # the image changed since the client's first part: send it whole
    try:
        wanted = parse_range(header, base.size)
    except RangeNotSatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{base.size}"
        return response
    status = 206 if wanted is not None else 200
    wanted = wanted or ByteRange(0, base.size)
    body = _stream(base, slot, wanted) if request.method == "GET" else iter(())
    response = StreamingHttpResponse(body, status=status,
                                     content_type="application/x-iso9660-image")
    response["Content-Length"] = str(wanted.length)
    if status == 206:
        response["Content-Range"] = f"bytes {wanted.start}-{wanted.end - 1}/{base.size}"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["X-Checksum-SHA256"] = checksum
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = f'attachment; filename="{_filename(base, node)}"'
    return response


@require_http_methods(["GET"])
def node_iso_checksum(request: HttpRequest, node_id: int) -> HttpResponse:
    prepared = _prepare(request, node_id)
    if isinstance(prepared, HttpResponse):
        return prepared
    base, node, slot = prepared
    response = HttpResponse(f"{_checksum(base, slot)}  {_filename(base, node)}\n",
                            content_type="text/plain")
    response["Cache-Control"] = "private, no-store"
    return response
