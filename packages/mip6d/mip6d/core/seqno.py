"""Binding Update sequence numbers, compared modulo 2**16 (RFC 6275 section 9.5.1).

RFC 6275 section 9.5.1: the comparison "MUST be performed modulo 2**16, i.e., the number
is a free running counter represented modulo 65536. A Sequence Number in a received
Binding Update is considered less than or equal to the last received number if its value
lies in the range of the last received number and the preceding 32768 values, inclusive."

So of the 65536 values, 32769 (``last`` and the 32768 before it) are "not greater" and
the 32767 values ``last + 1 .. last + 32767`` are greater. The TAHI conformance suite
checks exactly this edge: after 15, 32782 is accepted and 32783 is refused with status
135 (HA_2_5_8, HA_2_6_6).

A mobile node increments the number for every Binding Update it sends, retransmissions
included (RFC 6275 section 11.7.1: each Binding Update carries a number greater than the
previous one sent to the same destination), which is why a Binding Acknowledgement may
match any number sent in the current exchange: :func:`in_window`.
"""

from __future__ import annotations

__all__ = ["HALF", "MODULUS", "add", "check", "distance", "in_window", "is_greater"]

MODULUS = 1 << 16
"""Sequence numbers live in ``0 .. MODULUS - 1``."""

HALF = 1 << 15
"""Width of the "greater than" window: ``last + 1 .. last + HALF - 1``."""


def check(value: int) -> int:
    """``value`` if it is a 16-bit sequence number, else :class:`ValueError`."""
    if not 0 <= value < MODULUS:
        raise ValueError(f"sequence number {value} is outside 0..{MODULUS - 1}")
    return value


def add(seq: int, n: int = 1) -> int:
    """``seq + n`` modulo 2**16 (``n`` may be negative)."""
    return (check(seq) + n) % MODULUS


def distance(new: int, last: int) -> int:
    """How far ``new`` is ahead of ``last``, in ``0 .. MODULUS - 1``."""
    return (check(new) - check(last)) % MODULUS


def is_greater(new: int, last: int) -> bool:
    """Whether ``new`` is greater than ``last`` in the sense of RFC 6275 section 9.5.1."""
    return 0 < distance(new, last) < HALF


def in_window(seq: int, first: int, last: int) -> bool:
    """Whether ``seq`` is one of ``first, first + 1, .., last`` (modulo 2**16).

    ``first .. last`` is the run of numbers a mobile node sent in one exchange; a run
    never spans more than ``HALF`` values in practice (32 s retransmissions would take
    twelve days), and a wider one is treated as empty beyond ``last``.
    """
    return distance(seq, first) <= distance(last, first)
