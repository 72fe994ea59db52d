"""The per-node slot in a built image: its place (xorriso's report), personalizing an image.
The slot's bytes are homeguy_slot's (packages/homeguy-slot/tests/)."""

import hashlib
import json
import os
from pathlib import Path

import pytest
from homeguy_slot import SLOT_SIZE, parse_slot, slot_bytes

from homeguy.iso import IsoError
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


def fake_base(tmp_path: Path) -> tuple[Path, bytes]:
    data = bytearray(os.urandom(16384))
    data[4096:4096 + SLOT_SIZE] = slot_bytes(None, None, 90)
    base = tmp_path / "base.iso"
    base.write_bytes(data)
    meta = {"profile": "mobile-host", "size": len(data), "sha256": "x",
            "slot": {"path": "/homeguy/node.conf", "offset": 4096, "size": SLOT_SIZE}}
    (tmp_path / "base.iso.json").write_text(json.dumps(meta))
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
