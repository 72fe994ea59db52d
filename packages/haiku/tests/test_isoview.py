"""The per-user ISO download: the base image streamed with only the node's slot replaced,
Range requests, the published checksum, the image token; on a small stand-in base image."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from haiku import isoview
from haiku.core import isoimage
from haiku.core.config import SettingsError, from_environ
from haiku.core.render import Keying, NodeKind
from haiku.models import Node, User
from haiku.nodes import NodeRequest, create_node, node_by_token, rotate_token
from homeguy_slot import ResumableSha256, prefix_record, slot_bytes

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

SLOT_OFFSET, SLOT_SIZE, SIZE = 6144, 4096, 20480


@pytest.fixture
def base(tmp_path: Path, haiku_settings: Any) -> bytes:
    data = bytearray(bytes(range(256)) * (SIZE // 256))
    data[SLOT_OFFSET:SLOT_OFFSET + SLOT_SIZE] = slot_bytes("", "", 90, SLOT_SIZE)
    iso = tmp_path / "base.iso"
    iso.write_bytes(data)
    meta = {"profile": "mobile-host", "size": SIZE, "sha256": hashlib.sha256(data).hexdigest(),
            "slot": {"path": "/homeguy/node.conf", "offset": SLOT_OFFSET, "size": SLOT_SIZE}}
    (tmp_path / "base.iso.json").write_text(json.dumps(meta))
    haiku_settings.change_haiku(base_iso=str(iso), base_url="http://10.0.2.100:8080",
                                enroll_allow_http=True)
    return bytes(data)


@pytest.fixture
def owner(home_agent: Any) -> tuple[Client, Node]:
    user = User.objects.create_user("alice", "alice@example.org", "correct horse battery")
    node = create_node(user, NodeRequest("mh", NodeKind.HOST, 0, Keying.STATIC))
    client = Client()
    client.force_login(user)
    return client, node


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_image_is_the_base_with_the_slot_filled(base: bytes, owner: tuple[Client, Node]) -> None:
    client, node = owner
    old_token = rotate_token(node)
    response = client.get(f"/api/v1/nodes/{node.pk}/iso")
    assert response.status_code == 200
    image = body(response)
    assert len(image) == SIZE == int(response["Content-Length"])
    assert image[:SLOT_OFFSET] == base[:SLOT_OFFSET]
    assert image[SLOT_OFFSET + SLOT_SIZE:] == base[SLOT_OFFSET + SLOT_SIZE:]
    slot = image[SLOT_OFFSET:SLOT_OFFSET + SLOT_SIZE].decode()
    values = dict(line.split("=", 1) for line in slot.splitlines() if "=" in line)
    assert values["url"] == "http://10.0.2.100:8080" and values["timeout"] == "90"
    assert values["allow_http"] == "yes"  # the operator allowed it (HAIKU_ENROLL_ALLOW_HTTP)
    # The image's token works for the node's configuration; the old one no longer does.
    found = node_by_token(values["token"])
    assert found is not None and found.pk == node.pk
    assert node_by_token(old_token) is None
    checksum = hashlib.sha256(image).hexdigest()
    assert response["X-Checksum-SHA256"] == checksum and response["ETag"] == f'"{checksum}"'
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == \
        f'attachment; filename="homeguy-mobile-host-node-{node.pk}-amd64.hybrid.iso"'
    listed = client.get(f"/api/v1/nodes/{node.pk}/iso.sha256").content.decode()
    assert listed == f"{checksum}  homeguy-mobile-host-node-{node.pk}-amd64.hybrid.iso\n"
    # A second download (a resumed one) is the same image: the token is not reissued.
    again = client.get(f"/api/v1/nodes/{node.pk}/iso")
    assert body(again) == image


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-99", 0, 100),
    ("bytes=6000-6200", 6000, 6201),
    ("bytes=7000-", 7000, SIZE),
    ("bytes=-500", SIZE - 500, SIZE),
    ("bytes=20000-99999", 20000, SIZE),
])
def test_range_requests(base: bytes, owner: tuple[Client, Node], header: str, start: int,
                        end: int) -> None:
    client, node = owner
    whole = body(client.get(f"/api/v1/nodes/{node.pk}/iso"))
    part = client.get(f"/api/v1/nodes/{node.pk}/iso", HTTP_RANGE=header)
    assert part.status_code == 206
    assert body(part) == whole[start:end]
    assert part["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert part["Content-Length"] == str(end - start)


def test_unsatisfiable_and_stale_ranges(base: bytes, owner: tuple[Client, Node]) -> None:
    client, node = owner
    url = f"/api/v1/nodes/{node.pk}/iso"
    bad = client.get(url, HTTP_RANGE=f"bytes={SIZE}-")
    assert bad.status_code == 416 and bad["Content-Range"] == f"bytes */{SIZE}"
    stale = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"other"')
    assert stale.status_code == 200 and len(body(stale)) == SIZE
    several = client.get(url, HTTP_RANGE="bytes=0-9,20-29")
    assert several.status_code == 200
    head = client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(SIZE)


def test_other_users_nodes_and_missing_base(base: bytes, owner: tuple[Client, Node],
                                            haiku_settings: Any) -> None:
    _, node = owner
    bob = User.objects.create_user("bob", "bob@example.org", "correct horse battery")
    client = Client()
    client.force_login(bob)
    assert client.get(f"/api/v1/nodes/{node.pk}/iso").status_code == 404
    haiku_settings.change_haiku(base_iso="")
    mine = owner[0].get(f"/api/v1/nodes/{node.pk}/iso")
    assert mine.status_code == 501 and "HAIKU_BASE_ISO" in mine.json()["error"]


def test_parse_range_pure() -> None:
    assert isoimage.parse_range(None, 10) is None
    assert isoimage.parse_range("items=0-1", 10) is None
    assert isoimage.parse_range("bytes=5-2", 10) is None
    assert isoimage.parse_range("bytes=-20", 10) == isoimage.ByteRange(0, 10)
    with pytest.raises(isoimage.RangeNotSatisfiable):
        isoimage.parse_range("bytes=-0", 10)


def test_image_token_is_stable_and_bound_to_node_and_time() -> None:
    token = isoimage.image_token("secret", 1, "2026-01-01T00:00:00+00:00")
    assert token == isoimage.image_token("secret", 1, "2026-01-01T00:00:00+00:00")
    assert token.startswith("hgn_") and len(token) == 47
    assert token != isoimage.image_token("secret", 2, "2026-01-01T00:00:00+00:00")
    assert token != isoimage.image_token("secret", 1, "2026-01-01T00:00:01+00:00")
    assert token != isoimage.image_token("other", 1, "2026-01-01T00:00:00+00:00")


def _slot_of(response: Any) -> dict[str, str]:
    slot = body(response)[SLOT_OFFSET:SLOT_OFFSET + SLOT_SIZE].decode()
    return dict(line.split("=", 1) for line in slot.splitlines() if "=" in line)


def test_an_http_service_makes_no_image_unless_allowed(base: bytes, owner: tuple[Client, Node],
                                                       haiku_settings: Any) -> None:
    client, node = owner
    haiku_settings.change_haiku(enroll_allow_http=False)
    for path in (f"/api/v1/nodes/{node.pk}/iso", f"/api/v1/nodes/{node.pk}/iso.sha256"):
        refused = client.get(path)
        assert refused.status_code == 409
        assert "HAIKU_ENROLL_ALLOW_HTTP=yes" in refused.json()["error"]
        assert "https://" in refused.json()["error"]


def test_an_https_service_pins_its_certificate_when_told(
        base: bytes, owner: tuple[Client, Node], haiku_settings: Any) -> None:
    client, node = owner
    pin = "AB:" * 31 + "CD"
    haiku_settings.change_haiku(base_url="https://ha.example.org", enroll_allow_http=False,
                                tls_fingerprint=from_environ(
                                    {"HAIKU_TLS_FINGERPRINT": pin}).tls_fingerprint)
    values = _slot_of(client.get(f"/api/v1/nodes/{node.pk}/iso"))
    assert values["url"] == "https://ha.example.org"
    assert values["tls_fingerprint"] == "ab" * 31 + "cd"
    assert "allow_http" not in values
    haiku_settings.change_haiku(tls_fingerprint="")
    assert "tls_fingerprint" not in _slot_of(client.get(f"/api/v1/nodes/{node.pk}/iso"))


def test_a_fingerprint_that_is_not_one_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match=r"HAIKU_TLS_FINGERPRINT='sha1:ab'.*SHA-256"):
        from_environ({"HAIKU_TLS_FINGERPRINT": "sha1:ab"})


@pytest.mark.parametrize("record", ["kept", "foreign", "missing"])
def test_the_checksum_starts_from_the_kept_prefix_state(
        base: bytes, owner: tuple[Client, Node], haiku_settings: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, record: str) -> None:
    """After a start, the first image's checksum hashes only the slot and what follows it
    when the base's .json keeps the state before the slot; a state that is not this
    image's is never used."""
    client, node = owner
    meta_file = tmp_path / "base.iso.json"
    meta = json.loads(meta_file.read_text())
    prefix = ResumableSha256()
    prefix.update(base[:SLOT_OFFSET] if record == "kept" else bytes(SLOT_OFFSET))
    if record != "missing":
        meta["prefix_sha256"] = prefix_record(
            prefix, meta["sha256"] if record == "kept" else hashlib.sha256(b"other").hexdigest())
    meta_file.write_text(json.dumps(meta))
    monkeypatch.setattr(isoview, "_prefix_hash", {})  # as after a restart
    monkeypatch.setattr(isoview, "_checksums", {})
    reads: list[tuple[int, int]] = []
    original = isoview._read
    monkeypatch.setattr(isoview, "_read", lambda fd, offset, length: (
        reads.append((offset, length)) or original(fd, offset, length)))
    response = client.get(f"/api/v1/nodes/{node.pk}/iso.sha256")
    checksum = response.content.decode().split()[0]
    prefix_read = (0, SLOT_OFFSET) in reads
    assert prefix_read == (record != "kept"), reads
    image = body(client.get(f"/api/v1/nodes/{node.pk}/iso"))
    assert checksum == hashlib.sha256(image).hexdigest()
