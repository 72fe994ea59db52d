"""testkit.qemu's screen and keyboard: VGA text memory read as lines, text typed as QEMU's
sendkey names (the demo's laptop has no serial port, only these)."""

from __future__ import annotations

import pytest

from testkit.qemu import COLUMNS, ROWS, keys, text_screen

pytestmark = pytest.mark.unit


def cells(*rows: str) -> bytes:
    """A text screen's memory: each row padded to the width, a colour byte after each
    character (grey on black, 0x07), the rows left blank after them."""
    text = "".join(row.ljust(COLUMNS) for row in rows).ljust(COLUMNS * ROWS)
    return bytes(byte for char in text.encode("cp437") for byte in (char, 0x07))


def test_the_text_screen_is_its_rows_without_trailing_blanks() -> None:
    screen = text_screen(cells("homeguy-mh login: user (automatic login)", "",
                               "user@homeguy-mh:~$"))
    lines = screen.split("\n")
    assert len(lines) == ROWS
    assert lines[:4] == ["homeguy-mh login: user (automatic login)", "",
                         "user@homeguy-mh:~$", ""]


def test_a_long_line_fills_its_row_and_goes_on_on_the_next() -> None:
    line = "homeguy-status: 02:12:05 registered: home address 2001:db8:1::10, " \
           "home agent 2001:db8:1::1, care-of 2001:db8:a1::5 on eth0"
    screen = text_screen(cells(line[:COLUMNS], line[COLUMNS:]))
    assert screen.split("\n")[:2] == [line[:COLUMNS], line[COLUMNS:]]


def test_code_page_437_box_drawing_is_read_as_such() -> None:
    assert text_screen(bytes([0xC4, 0x07, 0xB3, 0x1F]) + b" \x07" * 78) == "\u2500\u2502"


@pytest.mark.parametrize(("text", "names"), [
    ("t", ["t"]),
    ("\n", ["ret"]),
    ("sudo homeguy-status\n", ["s", "u", "d", "o", "spc", "h", "o", "m", "e", "g", "u", "y",
                               "minus", "s", "t", "a", "t", "u", "s", "ret"]),
    ('A_"$(x)|[]', ["shift-a", "shift-minus", "shift-apostrophe", "shift-4", "shift-9", "x",
                   "shift-0", "shift-backslash", "bracket_left", "bracket_right"]),
    ("~/.;:'", ["shift-grave_accent", "slash", "dot", "semicolon", "shift-semicolon",
                "apostrophe"]),
])
def test_text_is_typed_as_a_us_keyboard_would(text: str, names: list[str]) -> None:
    assert keys(text) == names


def test_a_character_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="no key for 'é' on a US keyboard"):
        keys("café")
