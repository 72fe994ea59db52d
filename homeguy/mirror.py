"""The Debian mirror, read from the host's apt configuration, never written in the tree.

`HOMEGUY_MIRROR` overrides it. The pure part parses source entries (deb822 `.sources`
with python-debian, and one-line `sources.list`); the shell reads /etc/apt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822

APT_DIR = Path("/etc/apt")
OVERRIDE = "HOMEGUY_MIRROR"


class MirrorError(LookupError):
    pass


@dataclass(frozen=True)
class SourceEntry:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    origin: str  # file (and line for one-line entries) it came from
    signed_by: str = ""  # the keyring (or key) that signs it; empty: apt's trusted keys


def parse_deb822(text: str, origin: str) -> list[SourceEntry]:
    entries = []
    for paragraph in Deb822.iter_paragraphs(text):
        if paragraph.get("Enabled", "yes").strip().lower() == "no" or "URIs" not in paragraph:
            continue
        entries.append(
            SourceEntry(
                types=tuple(paragraph.get("Types", "").split()),
                uris=tuple(paragraph["URIs"].split()),
                suites=tuple(paragraph.get("Suites", "").split()),
                components=tuple(paragraph.get("Components", "").split()),
                origin=origin,
                signed_by=paragraph.get("Signed-By", "").strip(),
            )
        )
    return entries


def parse_one_line(text: str, origin: str) -> list[SourceEntry]:
    """`deb [options] uri suite component...` lines (sources.list(5))."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        rest = rest.strip()
        options: dict[str, str] = {}
        if rest.startswith("["):
            inside, _, rest = rest[1:].partition("]")
            options = dict(o.partition("=")[::2] for o in inside.split())
            rest = rest.strip()
        words = rest.split()
        if kind not in ("deb", "deb-src") or len(words) < 2:
            continue
        entries.append(
            SourceEntry((kind,), (words[0],), (words[1],), tuple(words[2:]), f"{origin}:{number}",
                        options.get("signed-by", ""))
        )
    return entries


def pick_mirror(entries: list[SourceEntry], codename: str) -> str:
    """The URI of the first binary entry serving `codename` with component main."""
    for entry in entries:
        if "deb" in entry.types and codename in entry.suites and "main" in entry.components:
            return entry.uris[0].rstrip("/")
    raise MirrorError(
        f"no apt source serves '{codename} main' in {APT_DIR}/sources.list(.d); "
        f"add one or set {OVERRIDE}=<mirror URI>"
    )


def host_entries(apt_dir: Path = APT_DIR) -> list[SourceEntry]:
    entries: list[SourceEntry] = []
    one_line = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if path.is_file():
            entries += parse_one_line(path.read_text(), str(path))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        entries += parse_deb822(path.read_text(), str(path))
    return entries


def host_codename(os_release: Path = Path("/etc/os-release")) -> str:
    for line in os_release.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME":
            return value.strip().strip('"')
    raise MirrorError(f"{os_release}: no VERSION_CODENAME")


def debian_mirror(codename: str | None = None) -> str:
    """The mirror for Debian `codename` (default: the host's), or $HOMEGUY_MIRROR."""
    if override := os.environ.get(OVERRIDE):
        return override.rstrip("/")
    return pick_mirror(host_entries(), codename or host_codename())
