"""The slot format against its golden bytes (vectors/), and what it refuses."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from homeguy_slot import (
    SLOT_SIZE,
    ResumableSha256,
    SlotError,
    image_pieces,
    node_image_sha256,
    parse_slot,
    prefix_from_record,
    prefix_record,
    slot_bytes,
)

from testkit.slot import vectors

pytestmark = pytest.mark.unit

MODULE_DIR = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: v.file)
def test_writer_and_reader_match_the_golden_bytes(vector) -> None:  # type: ignore[no-untyped-def]
    assert slot_bytes(vector.url, vector.token, vector.timeout, vector.size,
                      tls_fingerprint=vector.tls_fingerprint,
                      allow_http=vector.allow_http) == vector.data
    assert parse_slot(vector.data) == vector.values


def test_the_base_vector_is_a_full_size_slot() -> None:
    [base] = [v for v in vectors() if v.url is None]
    assert len(base.data) == SLOT_SIZE == 8192


def test_the_exact_bytes_of_a_node_slot() -> None:
    body = (b"# HOMEGUY-NODE-SLOT v1\n"
            b"# Per-node enrollment settings, read at boot by live-config's homeguy-enroll.\n"
            b"url=http://10.0.2.100:8080\ntoken=tok-1\ntimeout=60\n")
    assert slot_bytes("http://10.0.2.100:8080", "tok-1", 60, size=256) == \
        body + b"\n" * (256 - len(body))


def test_refuses_what_does_not_fit_or_would_break_parsing() -> None:
    with pytest.raises(SlotError, match=r"take 4\d\d bytes; the slot has 64"):
        slot_bytes("http://x", "t" * 300, size=64)
    with pytest.raises(SlotError, match="printable ASCII without spaces"):
        slot_bytes("http://x", "a\nurl=http://evil")
    with pytest.raises(SlotError, match="printable ASCII without spaces"):
        slot_bytes("http://x y", "t")
    with pytest.raises(SlotError, match="header is missing"):
        parse_slot(b"url=x\n")
    assert issubclass(SlotError, ValueError)  # the service handles it as bad input


@pytest.mark.parametrize(("start", "end", "pieces"), [
    (0, 200, [("base", 0, 100), ("slot", 0, 10), ("base", 110, 90)]),
    (0, 100, [("base", 0, 100)]),
    (95, 105, [("base", 95, 5), ("slot", 0, 5)]),
    (103, 107, [("slot", 3, 4)]),
    (105, 150, [("slot", 5, 5), ("base", 110, 40)]),
    (110, 200, [("base", 110, 90)]),
    (50, 50, []),
])
def test_image_pieces(start, end, pieces) -> None:  # type: ignore[no-untyped-def]
    assert list(image_pieces(200, 100, 10, start, end)) == pieces


def test_pieces_outside_the_image_are_refused() -> None:
    with pytest.raises(SlotError, match="outside the image's 200 bytes"):
        list(image_pieces(200, 100, 10, 0, 201))


# The resumable SHA-256 (block size 64: sizes on, just before and just after the block
# boundaries and the padding boundary 56).
SIZES = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 2048, 8191, 8192, 100_003]


def data_of(size: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(f"{seed}".encode()).digest(size)


@pytest.mark.parametrize("size", SIZES)
def test_a_saved_state_resumes_to_hashlibs_digest(size: int) -> None:
    whole = data_of(size + 777)
    prefix = ResumableSha256()
    prefix.update(whole[:size])
    assert prefix.length == size
    assert prefix.hexdigest() == hashlib.sha256(whole[:size]).hexdigest()
    state = json.loads(json.dumps(prefix.state()))  # as the .json keeps it
    assert len(bytes.fromhex(state["pending"])) == size % 64
    resumed = ResumableSha256.from_state(state)
    resumed.update(whole[size:size + 100])
    resumed.update(whole[size + 100:])
    assert resumed.hexdigest() == hashlib.sha256(whole).hexdigest()
    assert prefix.hexdigest() == hashlib.sha256(whole[:size]).hexdigest()  # unchanged


def test_a_state_resumes_in_another_process() -> None:
    whole = data_of(5000, 1)
    prefix = ResumableSha256()
    prefix.update(whole[:4099])
    code = ("import json, sys; from homeguy_slot import ResumableSha256; "
            "h = ResumableSha256.from_state(json.loads(sys.argv[1])); "
            "h.update(bytes.fromhex(sys.argv[2])); print(h.hexdigest())")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(prefix.state()),
                           whole[4099:].hex()], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(MODULE_DIR)})
    assert done.stdout.strip() == hashlib.sha256(whole).hexdigest()


def test_states_that_cannot_be_are_refused() -> None:
    good = ResumableSha256()
    good.update(b"x" * 70)
    state = good.state()
    for bad in ({**state, "h": state["h"][:-2]}, {**state, "pending": ""},
                {**state, "length": -1}, {**state, "h": "zz" * 32}, {"h": state["h"]}):
        with pytest.raises(SlotError, match="not a SHA-256 state"):
            ResumableSha256.from_state(bad)


@pytest.mark.parametrize("offset", [0, 64, 2048, 4097])
def test_a_node_images_checksum_from_the_prefix_record(offset: int) -> None:
    base = bytearray(data_of(offset + 3 * SLOT_SIZE, 2))
    base[offset:offset + SLOT_SIZE] = slot_bytes(None, None, 90)
    base_sha256 = hashlib.sha256(base).hexdigest()
    prefix = ResumableSha256()
    prefix.update(bytes(base[:offset]))
    record = json.loads(json.dumps(prefix_record(prefix, base_sha256)))
    loaded = prefix_from_record(record, base_sha256, offset)
    assert loaded is not None
    node = bytearray(base)
    slot = slot_bytes("https://ha.example.org", "tok", 90)
    node[offset:offset + SLOT_SIZE] = slot
    after = bytes(base[offset + SLOT_SIZE:])
    assert node_image_sha256(loaded, slot, after) == hashlib.sha256(node).hexdigest()
    assert node_image_sha256(loaded, slot, after) == hashlib.sha256(node).hexdigest()  # again


def test_stale_foreign_or_damaged_records_are_not_used() -> None:
    prefix = ResumableSha256()
    prefix.update(data_of(2048))
    record = prefix_record(prefix, "a" * 64)
    assert prefix_from_record(record, "a" * 64, 2048) is not None
    assert prefix_from_record(record, "b" * 64, 2048) is None  # another base image
    assert prefix_from_record(record, "a" * 64, 4096) is None  # the slot moved
    other = ResumableSha256()
    other.update(data_of(2048, 3))
    h = other.state()["h"]
    assert prefix_from_record({**record, "h": h}, "a" * 64, 2048) is None  # damaged
    assert prefix_from_record({**record, "format": "v0"}, "a" * 64, 2048) is None
    assert prefix_from_record(None, "a" * 64, 2048) is None  # not recorded
    assert prefix_from_record({**record, "pending": "00"}, "a" * 64, 2048) is None
