"""The per-node slot in a built image: its place (xorriso's report), personalizing an image.
The slot's bytes are homeguy_slot's (packages/homeguy-slot/tests/)."""

import hashlib
import json
import os
from pathlib import Path

import pytest
from homeguy_slot import SLOT_SIZE, parse_slot, slot_bytes

from homeguy.iso import IsoError, meta
from homeguy.iso.meta import image_meta
from homeguy.iso.personalize import personalize
from homeguy.iso.slot import SlotLocation, parse_report_lba

pytestmark = pytest.mark.unit


REPORT = """Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path
File data lba:  0 ,    31234 ,        4 ,     8192 , '/homeguy/node.conf'
"""


def test_report_lba() -> None:
    assert parse_report_lba(REPORT) == SlotLocation(31234 * 2048, 8192)
    with pytest.raises(IsoError, match="more than one extent"):
        parse_report_lba(REPORT.replace("lba:  0 ,", "lba:  1 ,"))
    with pytest.raises(IsoError, match=r"does not report /homeguy/node\.conf"):
        parse_report_lba("nothing\n")


def fake_base(tmp_path: Path, offset: int = 4096, after: int = 4096,
              name: str = "base.iso") -> tuple[Path, bytes]:
    data = bytearray(os.urandom(offset + SLOT_SIZE + after))
    data[offset:offset + SLOT_SIZE] = slot_bytes(None, None, 90)
    base = tmp_path / name
    base.write_bytes(data)
    meta = {"profile": "mobile-host", "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "slot": {"path": "/homeguy/node.conf", "offset": offset, "size": SLOT_SIZE}}
    (tmp_path / f"{name}.json").write_text(json.dumps(meta))
    return base, bytes(data)


def test_personalize_writes_only_the_slot(tmp_path: Path) -> None:
    base, data = fake_base(tmp_path)
    out = tmp_path / "node.iso"
    image, checksum = personalize(base, out, "http://svc", "tok", 30, allow_http=True)
    new = out.read_bytes()
    assert image == out and base.read_bytes() == data
    assert new[:4096] == data[:4096] and new[4096 + SLOT_SIZE:] == data[4096 + SLOT_SIZE:]
    assert parse_slot(new[4096:4096 + SLOT_SIZE]) == {"url": "http://svc", "token": "tok",
                                                      "timeout": "30", "allow_http": "yes"}
    assert checksum == hashlib.sha256(new).hexdigest()
    assert (tmp_path / "node.iso.sha256").read_text() == f"{checksum}  node.iso\n"
    _, again = personalize(base, None, "http://svc", "tok", 30, allow_http=True)  # in place
    assert again == checksum and base.read_bytes() == new


def test_personalize_refuses_plain_http_unless_allowed(tmp_path: Path) -> None:
    base, data = fake_base(tmp_path)
    with pytest.raises(IsoError, match=r"plain http://.*--allow-http"):
        personalize(base, tmp_path / "node.iso", "http://svc", "tok")
    assert base.read_bytes() == data and not (tmp_path / "node.iso").exists()
    pin = "ab" * 32
    personalize(base, None, "https://svc", "tok", tls_fingerprint=pin)
    assert parse_slot(base.read_bytes()[4096:4096 + SLOT_SIZE]) == {
        "url": "https://svc", "token": "tok", "tls_fingerprint": pin}


def test_personalize_refuses_an_image_without_its_slot(tmp_path: Path) -> None:
    base, data = fake_base(tmp_path)
    base.write_bytes(bytes(len(data)))
    with pytest.raises(IsoError, match="no Homeguy slot at offset 4096"):
        personalize(base, tmp_path / "node.iso", "https://svc", "tok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.iso", "base.iso.json"]
    with pytest.raises(IsoError, match=r"other\.iso\.json is missing"):
        personalize(tmp_path / "other.iso", None, "https://svc", "tok")


@pytest.mark.parametrize(("offset", "after"), [(0, 0), (2048, 0), (4096, 333), (4097, 64),
                                               (65536, 300 * 1024), (1 << 20, 17)])
def test_the_published_checksum_is_the_files_for_any_slot(tmp_path: Path, offset: int,
                                                          after: int) -> None:
    base, _ = fake_base(tmp_path, offset, after)
    assert "prefix_sha256" not in image_meta(base)
    for n in range(3):  # the first run hashes the prefix and keeps it; the next ones use it
        out = tmp_path / f"node-{n}.iso"
        _, checksum = personalize(base, out, "https://svc", f"tok{n}", 30)
        assert checksum == hashlib.sha256(out.read_bytes()).hexdigest()
        assert image_meta(base)["prefix_sha256"]["length"] == offset
    _, checksum = personalize(base, None, "https://svc", "in-place", 30)
    assert checksum == hashlib.sha256(base.read_bytes()).hexdigest()


def test_the_kept_prefix_state_is_used_and_a_wrong_one_never(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    base, _ = fake_base(tmp_path, 6144, 1000)
    other, _ = fake_base(tmp_path, 6144, 1000, name="other.iso")
    hashed: list[int] = []
    original = meta._hash_from
    monkeypatch.setattr(meta, "_hash_from", lambda hasher, stream, length, iso: (
        hashed.append(length), original(hasher, stream, length, iso)))
    personalize(base, tmp_path / "a.iso", "https://svc", "tok", 30)
    personalize(other, tmp_path / "b.iso", "https://svc", "tok", 30)
    assert hashed == [6144, 6144]
    personalize(base, tmp_path / "a.iso", "https://svc", "tok", 30)
    assert hashed == [6144, 6144], "the kept state was not used"
    kept = image_meta(base)
    foreign = {**kept, "prefix_sha256": image_meta(other)["prefix_sha256"]}
    stale = {**kept, "sha256": hashlib.sha256(b"a rebuilt image").hexdigest()}
    moved = {**kept, "prefix_sha256": {**kept["prefix_sha256"], "length": 2048}}
    for wrong in (foreign, stale, moved):
        meta.write_meta(base, wrong)
        _, checksum = personalize(base, tmp_path / "c.iso", "https://svc", "tok2", 30)
        assert checksum == hashlib.sha256((tmp_path / "c.iso").read_bytes()).hexdigest()
    assert hashed == [6144] * 5


def test_hash_image_gives_the_whole_and_the_prefix(tmp_path: Path) -> None:
    base, data = fake_base(tmp_path, 10240, 999)
    whole, prefix = meta.hash_image(base, 10240)
    assert whole == hashlib.sha256(data).hexdigest()
    assert prefix.hexdigest() == hashlib.sha256(data[:10240]).hexdigest()


def test_a_json_of_another_build_is_refused(tmp_path: Path) -> None:
    base, data = fake_base(tmp_path)
    base.write_bytes(data + b"\0" * 2048)
    with pytest.raises(IsoError, match=r"has 18432 bytes, its \.json says 16384"):
        personalize(base, tmp_path / "node.iso", "https://svc", "tok")
