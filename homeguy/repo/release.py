"""The Release file of a suite (DebianRepository/Format, "Release files").

Pure; written with python-debian's deb822.Release. Dates are RFC 2822 in UTC with English
names from tables (never the locale), as apt parses them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, cast

from debian.deb822 import Release

from homeguy.repo.config import RepoConfig, Suite

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The checksum lists of Release, strongest last; each index file also gets a by-hash copy
# under by-hash/<field>/<hex> (apt fetches the strongest it knows).
HASH_FIELDS: tuple[str, ...] = ("SHA256", "SHA512")


def rfc2822(epoch: int) -> str:
    """`Sat, 01 Jan 2000 00:00:00 UTC`."""
    t = time.gmtime(epoch)
    return (f"{WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} UTC")


@dataclass(frozen=True)
class IndexFile:
    """One published index file, as Release lists it (path relative to dists/<suite>/)."""

    path: str
    size: int
    sha256: str
    sha512: str

    @classmethod
    def of(cls, path: str, data: bytes) -> IndexFile:
        return cls(path, len(data), hashlib.sha256(data).hexdigest(),
                   hashlib.sha512(data).hexdigest())

    def digest(self, field: str) -> str:
        return {"SHA256": self.sha256, "SHA512": self.sha512}[field]


def render_release(
    config: RepoConfig, suite: Suite, date: int | None, files: list[IndexFile]
) -> bytes:
    """The Release file; `date=None` leaves Date and Valid-Until out (to compare contents)."""
    release = Release()
    fields: tuple[tuple[str, str | None], ...] = (
        ("Origin", config.origin),
        ("Label", config.label),
        ("Suite", suite.name),
        ("Codename", suite.codename),
        ("Date", None if date is None else rfc2822(date)),
        ("Valid-Until", None if date is None or config.valid_for is None
         else rfc2822(date + config.valid_for)),
        ("Acquire-By-Hash", "yes"),
        # Architecture: all packages are also in every binary-<arch> index, as in Debian.
        ("No-Support-for-Architecture-all", "Packages" if "all" in config.architectures
         else None),
        ("Architectures", " ".join(config.architectures)),
        ("Components", " ".join(config.components)),
        ("Description", suite.description or None),
    )
    for field, value in fields:
        if value is not None:
            release[field] = value
    ordered = sorted(files, key=lambda f: f.path)
    for field in HASH_FIELDS:
        key = field.lower()
        # A multivalued field: python-debian takes a list of dicts (typed as str).
        cast(Any, release)[field] = [{key: f.digest(field), "size": str(f.size),
                                      "name": f.path} for f in ordered]
    text = release.dump()
    assert text is not None
    return text.encode()
