"""Account names people can tell apart (after Unicode TS #39's skeletons, with a small
table): a name's skeleton is its NFKC form, case-folded, with the Cyrillic and Greek
letters that look like Latin ones replaced by those. Two names with the same skeleton are
confusable ("аdmin" with a Cyrillic а, "ADMIN", "ａｄｍｉｎ" and "admin")."""

# ruff: noqa: RUF001, RUF002, RUF003 (look-alike letters are what this module is about)
from __future__ import annotations

import unicodedata

__all__ = ["CONFUSABLES", "skeleton"]

# Lower-case look-alikes (names are case-folded first, so "А" and "Α" are here as "а", "α").
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "һ": "h", "н": "h", "і": "i", "ј": "j", "к": "k",
    "ӏ": "l", "м": "m", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y",
    "ү": "y", "ԝ": "w", "х": "x", "с": "c", "ԁ": "d",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ζ": "z", "ι": "i", "κ": "k", "μ": "m", "ο": "o",
    "ρ": "p", "τ": "t", "χ": "x", "γ": "y",
}
_TABLE = str.maketrans(CONFUSABLES)


def skeleton(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold().translate(_TABLE)
