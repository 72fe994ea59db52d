"""The per-node slot: its bytes, its parser, its place in the image, byte ranges."""

import hashlib
import json
import os
from pathlib import Path

import pytest
from haiku.core import isoimage

from homeguy.iso import IsoError
from homeguy.iso.personalize import personalize
from homeguy.iso.slot import (
    SLOT_SIZE,
    SlotLocation,
    parse_report_lba,
    parse_slot,
    personalized_ranges,
    slot_bytes,
)

pytestmark = pytest.mark.unit


def test_slot_bytes_exact() -> None:
    data = slot_bytes("http://10.0.2.100:8080", "tok-1", 60, size=256)
    body = (b"# HOMEGUY-NODE-SLOT v1\n"
            b"# Per-node enrollment settings, read at boot by live-config's homeguy-enroll.\n"
            b"url=http://10.0.2.100:8080\ntoken=tok-1\ntimeout=60\n")
    assert data == body + b"\n" * (256 - len(body))
    assert parse_slot(data) == {"url": "http://10.0.2.100:8080", "token": "tok-1",
                                "timeout": "60"}


def test_slot_refuses_what_does_not_fit_or_would_break_parsing() -> None:
    with pytest.raises(IsoError, match=r"take 4\d\d bytes; the slot has 64"):
        slot_bytes("http://x", "t" * 300, size=64)
    with pytest.raises(IsoError, match="printable ASCII without spaces"):
        slot_bytes("http://x", "a\nurl=http://evil")
    with pytest.raises(IsoError, match="header is missing"):
        parse_slot(b"url=x\n")


REPORT = """Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path
File data lba:  0 ,    31234 ,        4 ,     8192 , '/homeguy/node.conf'
"""


def test_report_lba() -> None:
    assert parse_report_lba(REPORT) == SlotLocation(31234 * 2048, 8192)
    with pytest.raises(IsoError, match="more than one extent"):
        parse_report_lba(REPORT.replace("lba:  0 ,", "lba:  1 ,"))
    with pytest.raises(IsoError, match=r"does not report /homeguy/node\.conf"):
        parse_report_lba("nothing\n")


SLOT = SlotLocation(100, 10)


@pytest.mark.parametrize(("start", "end", "pieces"), [
    (0, 200, [("base", 0, 100), ("slot", 0, 10), ("base", 110, 90)]),
    (0, 100, [("base", 0, 100)]),
    (95, 105, [("base", 95, 5), ("slot", 0, 5)]),
    (103, 107, [("slot", 3, 4)]),
    (105, 150, [("slot", 5, 5), ("base", 110, 40)]),
    (110, 200, [("base", 110, 90)]),
    (50, 50, []),
])
def test_personalized_ranges(start, end, pieces) -> None:  # type: ignore[no-untyped-def]
    assert list(personalized_ranges(200, SLOT, start, end)) == pieces


def test_ranges_outside_the_image_are_refused() -> None:
    with pytest.raises(IsoError, match="outside the image's 200 bytes"):
        list(personalized_ranges(200, SLOT, 0, 201))


def test_the_service_writes_the_same_slot_bytes() -> None:
    """haiku (packaged apart from homeguy/) keeps its own copy of the slot format."""
    for url, token, timeout in (("http://10.0.2.100:8080", "hgn_abc", 90), ("", "", 90)):
        assert isoimage.slot_bytes(url, token, timeout, SLOT_SIZE) == \
            slot_bytes(url, token, timeout)


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
    image, checksum = personalize(base, out, "http://svc", "tok", 30)
    new = out.read_bytes()
    assert image == out and base.read_bytes() == data
    assert new[:4096] == data[:4096] and new[4096 + SLOT_SIZE:] == data[4096 + SLOT_SIZE:]
    assert parse_slot(new[4096:4096 + SLOT_SIZE]) == {"url": "http://svc",
                                                      "token": "tok", "timeout": "30"}
    assert checksum == hashlib.sha256(new).hexdigest()
    assert (tmp_path / "node.iso.sha256").read_text() == f"{checksum}  node.iso\n"
    _, again = personalize(base, None, "http://svc", "tok", 30)  # in place
    assert again == checksum and base.read_bytes() == new


def test_personalize_refuses_an_image_without_its_slot(tmp_path: Path) -> None:
    base, data = fake_base(tmp_path)
    base.write_bytes(bytes(len(data)))
    with pytest.raises(IsoError, match="no Homeguy slot at offset 4096"):
        personalize(base, tmp_path / "node.iso", "http://svc", "tok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.iso", "base.iso.json"]
    with pytest.raises(IsoError, match=r"other\.iso\.json is missing"):
        personalize(tmp_path / "other.iso", None, "http://svc", "tok")
