from pathlib import Path

import pytest

from homeguy.mirror import (
    MirrorError,
    SourceEntry,
    debian_mirror,
    host_entries,
    parse_deb822,
    parse_one_line,
    pick_mirror,
)

pytestmark = pytest.mark.unit

SOURCES = """\
Types: deb deb-src
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no
"""

ONE_LINE = """\
# a comment
deb [arch=amd64 signed-by=/k.gpg] https://vendor.example/apt vendor-bookworm main
deb http://one.example/debian bookworm main  # trailing
deb-src http://src.example/debian bookworm main
"""


def test_deb822_entries() -> None:
    assert parse_deb822(SOURCES, "x.sources") == [
        SourceEntry(("deb", "deb-src"), ("http://mirror.example/debian/",),
                    ("bookworm", "bookworm-updates"), ("main", "contrib"), "x.sources",
                    "/usr/share/keyrings/debian-archive-keyring.gpg")
    ]


def test_one_line_entries() -> None:
    entries = parse_one_line(ONE_LINE, "sources.list")
    assert [(e.uris[0], e.suites[0], e.origin, e.signed_by) for e in entries] == [
        ("https://vendor.example/apt", "vendor-bookworm", "sources.list:2", "/k.gpg"),
        ("http://one.example/debian", "bookworm", "sources.list:3", ""),
        ("http://src.example/debian", "bookworm", "sources.list:4", ""),
    ]


def test_pick_first_binary_main_entry_for_codename() -> None:
    entries = parse_one_line(ONE_LINE, "l") + parse_deb822(SOURCES, "s")
    assert pick_mirror(entries, "bookworm") == "http://one.example/debian"
    assert pick_mirror(parse_deb822(SOURCES, "s"), "bookworm") == "http://mirror.example/debian"


def test_no_mirror_says_what_to_do() -> None:
    with pytest.raises(MirrorError, match=r"no apt source serves 'trixie main'.*HOMEGUY_MIRROR"):
        pick_mirror(parse_deb822(SOURCES, "s"), "trixie")


def test_host_configuration_directory(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(SOURCES)
    assert pick_mirror(host_entries(tmp_path), "bookworm") == "http://mirror.example/debian"


def test_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEGUY_MIRROR", "http://override.example/debian/")
    assert debian_mirror() == "http://override.example/debian"


def test_this_host_has_a_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOMEGUY_MIRROR", raising=False)
    assert debian_mirror().startswith(("http://", "https://"))
