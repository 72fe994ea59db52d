"""Sequence numbers modulo 2**16 (RFC 6275 section 9.5.1), at every boundary."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d.core import seqno

pytestmark = pytest.mark.unit

sequences = st.integers(0, 0xFFFF)


@pytest.mark.parametrize(
    ("new", "last", "greater"),
    [
        (1, 0, True),
        (0, 0, False),
        (0, 1, False),
        (32767, 0, True),  # last + 2**15 - 1: the far edge of the window
        (32768, 0, False),  # last + 2**15: "preceding 32768 values", not greater
        (32769, 0, False),
        (65535, 0, False),
        (0, 65535, True),  # wraparound
        (1, 65535, True),
        (32766, 65535, True),  # 65535 + 32767 mod 2**16
        (32767, 65535, False),
        (65534, 65535, False),
        (16, 15, True),  # TAHI HA_2_5_1
        (32782, 15, True),  # TAHI HA_2_5_8: 15 + 32767
        (32783, 15, False),  # TAHI HA_2_6_6: 15 + 32768, refused with 135
        (14, 15, False),  # TAHI HA_2_6_10
        (15, 15, False),
        (32768, 32767, True),
        (0, 32768, False),  # 32768 + 32768 = 0 mod 2**16
        (65535, 32768, True),  # 32768 + 32767
    ],
)
def test_is_greater_boundaries(new: int, last: int, greater: bool) -> None:
    assert seqno.is_greater(new, last) is greater


def test_exactly_half_the_space_is_greater() -> None:
    last = 40000
    greater = sum(seqno.is_greater(n, last) for n in range(seqno.MODULUS))
    assert greater == 32767  # and 32769 values (last and the 32768 before it) are not


@given(sequences, sequences)
def test_antisymmetric(a: int, b: int) -> None:
    assert not (seqno.is_greater(a, b) and seqno.is_greater(b, a))


@given(sequences, st.integers(1, 32767))
def test_adding_inside_the_window_is_greater(last: int, step: int) -> None:
    assert seqno.is_greater(seqno.add(last, step), last)
    assert not seqno.is_greater(last, seqno.add(last, step))


@given(sequences, st.integers(32768, 65536))
def test_adding_half_or_more_is_not_greater(last: int, step: int) -> None:
    assert not seqno.is_greater(seqno.add(last, step), last)


@pytest.mark.parametrize(
    ("seq", "n", "result"),
    [(0, 1, 1), (65535, 1, 0), (65535, 2, 1), (0, -1, 65535), (100, 65536, 100)],
)
def test_add_wraps(seq: int, n: int, result: int) -> None:
    assert seqno.add(seq, n) == result


@pytest.mark.parametrize(
    ("seq", "first", "last", "inside"),
    [
        (5, 5, 5, True),
        (4, 5, 5, False),
        (6, 5, 5, False),
        (7, 5, 9, True),
        (10, 5, 9, False),
        (65535, 65534, 1, True),  # the exchange wrapped
        (0, 65534, 1, True),
        (1, 65534, 1, True),
        (2, 65534, 1, False),
        (65533, 65534, 1, False),
    ],
)
def test_in_window(seq: int, first: int, last: int, inside: bool) -> None:
    assert seqno.in_window(seq, first, last) is inside


@pytest.mark.parametrize("bad", [-1, 65536, 1 << 20])
def test_out_of_range_is_an_error(bad: int) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.65535"):
        seqno.is_greater(bad, 0)
    with pytest.raises(ValueError, match=r"outside 0\.\.65535"):
        seqno.add(bad)
