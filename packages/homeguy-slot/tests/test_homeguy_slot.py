"""The slot format against its golden bytes (vectors/), and what it refuses."""

import pytest
from homeguy_slot import SLOT_SIZE, SlotError, image_pieces, parse_slot, slot_bytes

from testkit.slot import vectors

pytestmark = pytest.mark.unit


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
