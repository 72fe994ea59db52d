"""Static keying material for RFC 3776 protection between a mobile node and its home agent.

A node with slot ``s`` (its index in the home address pool, unique by construction) uses
the reqids and SPIs of :func:`reqids` and :func:`spis`: unique across all nodes of one
home agent, as mip6d requires of SPIs towards the home agent address. Randomness is
passed in, so that tests can give fixed bytes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Direction", "SaKey", "reqids", "spis", "static_keys"]

REQID_BASE = 1000
SPI_BASE = 0x10000
PER_NODE = 4  # (signalling, payload) x (MnToHa, HaToMn)
MAX_SLOT = (0xFFFFFFFF - SPI_BASE) // PER_NODE

# aes-gcm (RFC 4106): a 128-bit key and a 32-bit salt, 20 bytes; no separate integrity.
ENCRYPTION = "aes-gcm"
KEY_BYTES = 20


class Direction(StrEnum):
    MN_TO_HA = "MnToHa"
    HA_TO_MN = "HaToMn"


@dataclass(frozen=True)
class SaKey:
    """One manually keyed ESP security association (mip6d's ``StaticKey``)."""

    direction: Direction
    spi: int
    reqid: int
    encryption: str
    key: str  # hexadecimal, no 0x


def _check(slot: int) -> None:
    if not 0 <= slot <= MAX_SLOT:
        raise ValueError(f"slot {slot} outside 0..{MAX_SLOT}: no SPI range left for it")


def reqids(slot: int) -> tuple[int, int, int, int]:
    """(signalling MnToHa, signalling HaToMn, payload MnToHa, payload HaToMn)."""
    _check(slot)
    base = REQID_BASE + PER_NODE * slot
    return (base, base + 1, base + 2, base + 3)


def spis(slot: int) -> tuple[int, int, int, int]:
    """The SPIs, in the order of :func:`reqids`."""
    _check(slot)
    base = SPI_BASE + PER_NODE * slot
    return (base, base + 1, base + 2, base + 3)


def static_keys(slot: int, protect_all: bool,
                random: Callable[[int], bytes] = secrets.token_bytes) -> tuple[SaKey, ...]:
    """Fresh keys for the signalling SAs, and for the payload SAs if ``protect_all``."""
    directions = (Direction.MN_TO_HA, Direction.HA_TO_MN) * 2
    count = PER_NODE if protect_all else 2
    return tuple(
        SaKey(direction, spi, reqid, ENCRYPTION, random(KEY_BYTES).hex())
        for direction, spi, reqid in list(zip(directions, spis(slot), reqids(slot),
                                              strict=True))[:count]
    )
