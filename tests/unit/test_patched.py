"""The pure part of the patched-package builder: recipes, series, input hashes, the
changelog entry, deb-src entries."""

from pathlib import Path

import pytest
from debian.changelog import Changelog

from homeguy import patched
from homeguy.mirror import MirrorError, SourceEntry

pytestmark = pytest.mark.unit

HERE = Path("/src/packages/demo")
RECIPE = """\
source = "strongswan"
version = "5.9.8-5+deb12u5"
suffix = "+homeguy1"
publish = ["charon-systemd", "strongswan-swanctl"]
"""
CHANGELOG = """\
strongswan (5.9.8-5+deb12u5) bookworm; urgency=medium

  * Fix a thing.

 -- Debian Maintainer <dm@example.org>  Mon, 01 Jan 2024 00:00:00 +0000
"""


def test_recipe_is_parsed_with_defaults() -> None:
    recipe = patched.parse_recipe(RECIPE, HERE)
    assert recipe == patched.Recipe(
        name="demo", path=HERE, source="strongswan", version="5.9.8-5+deb12u5",
        suffix="+homeguy1", publish=("charon-systemd", "strongswan-swanctl"))
    assert recipe.local_version == "5.9.8-5+deb12u5+homeguy1"
    assert recipe.upstream_version == "5.9.8"
    assert recipe.build_options == "nocheck noddebs"


@pytest.mark.parametrize(("version", "upstream"), [
    ("1:2.3-4", "2.3"), ("2.0", "2.0"), ("1.2-3-4", "1.2-3")])
def test_upstream_version(version: str, upstream: str) -> None:
    text = RECIPE.replace('"5.9.8-5+deb12u5"', f'"{version}"')
    assert patched.parse_recipe(text, HERE).upstream_version == upstream


@pytest.mark.parametrize(("text", "message"), [
    (RECIPE.replace('suffix = "+homeguy1"\n', ""), "missing `suffix`"),
    (RECIPE + "colour = 1\n", "unknown key(s) colour"),
    (RECIPE.replace('"+homeguy1"', '"homeguy1"'), "must start with '+'"),
    (RECIPE.replace('["charon-systemd", "strongswan-swanctl"]', '"charon"'),
     "`publish` must be a list"),
    (RECIPE.replace('["charon-systemd", "strongswan-swanctl"]', "[1]"),
     "`publish` must be a list"),
    ("source = ", "not valid TOML"),
])
def test_recipe_errors_name_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(patched.PatchedError) as error:
        patched.parse_recipe(text, HERE)
    assert str(error.value).startswith(f"{HERE}/patched.toml: ")
    assert message in str(error.value)


def test_series_drops_comments_blank_lines_and_options() -> None:
    text = "# ours\n0001-a.patch\n\n0002-b.patch -p1\n  0003-c.patch # why\n"
    assert patched.parse_series(text) == ["0001-a.patch", "0002-b.patch", "0003-c.patch"]


def test_digest_changes_with_any_input_and_not_with_order() -> None:
    files = {"patched.toml": b"a", "patches/series": b"0001.patch\n", "patches/0001.patch": b"x"}
    digest = patched.inputs_digest(files, 1700000000)
    assert digest == patched.inputs_digest(dict(reversed(files.items())), 1700000000)
    assert digest != patched.inputs_digest(files, 1700000001)
    assert digest != patched.inputs_digest({**files, "patches/0001.patch": b"y"}, 1700000000)
    assert digest != patched.inputs_digest({**files, "patches/0002.patch": b""}, 1700000000)
    assert len(digest) == 64


def test_changelog_entry_on_top_dated_by_epoch() -> None:
    recipe = patched.parse_recipe(RECIPE, HERE)
    text = patched.changelog_entry(CHANGELOG, recipe, ["0001-mh.patch"], 1700000000)
    assert text.startswith(
        "strongswan (5.9.8-5+deb12u5+homeguy1) bookworm; urgency=medium\n\n"
        "  * Homeguy build with the project's patch series.\n"
        "    - debian/patches/homeguy/0001-mh.patch\n\n"
        " -- Homeguy maintainers <maintainers@homeguy.example.org>  "
        "Tue, 14 Nov 2023 22:13:20 +0000\n\n"
        "strongswan (5.9.8-5+deb12u5) bookworm; urgency=medium\n")
    assert [str(block.version) for block in Changelog(text)] == [
        "5.9.8-5+deb12u5+homeguy1", "5.9.8-5+deb12u5"]


def test_deb_src_copies_the_codenames_binary_entries() -> None:
    entries = [
        SourceEntry(("deb",), ("http://m.example/debian",), ("bookworm", "bookworm-updates"),
                    ("main",), "a"),
        SourceEntry(("deb",), ("http://m.example/debian-security",), ("bookworm-security",),
                    ("main", "contrib"), "b"),
        SourceEntry(("deb",), ("http://other.example/apt",), ("cloud-sdk-bookworm",),
                    ("main",), "c"),
        SourceEntry(("deb",), ("http://m.example/debian",), ("trixie",), ("main",), "d"),
    ]
    assert patched.deb_src_sources(entries, "bookworm") == (
        "Types: deb-src\nURIs: http://m.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\n"
        "Types: deb-src\nURIs: http://m.example/debian-security\nSuites: bookworm-security\n"
        "Components: main contrib\n")
    with pytest.raises(MirrorError, match="no apt source serves 'bullseye main'"):
        patched.deb_src_sources(entries, "bullseye")


def test_deb_package_name() -> None:
    assert patched.deb_package(Path("out/libstrongswan_5.9.8-5+h1_amd64.deb")) == "libstrongswan"


def test_the_strongswan_recipe_in_the_tree_is_valid() -> None:
    (recipe,) = [r for r in patched.recipes() if r.name == "strongswan-mip6"]
    assert recipe.source == "strongswan" and recipe.suffix.startswith("+homeguy")
    series, files = patched.read_inputs(recipe)
    assert all(f"patches/{name}" in files for name in series)


def test_tests_control_appends_ours_to_debians() -> None:
    debian = "Tests: daemon\nDepends: strongswan-starter\n"
    ours = "# why\n\nTests: mip6-selectors\nDepends: charon-systemd\n"
    assert patched.tests_control(debian, ours, {"control", "daemon"}, ["mip6-selectors"],
                                 HERE) == (
        "Tests: daemon\nDepends: strongswan-starter\n\n# Added by Homeguy (homeguy):\n"
        "# why\n\nTests: mip6-selectors\nDepends: charon-systemd\n")
    assert patched.tests_control("", ours, set(), ["mip6-selectors"], HERE).startswith(
        "# Added by Homeguy (homeguy):\n# why\n")


def test_tests_control_refuses_to_replace_a_debian_test() -> None:
    with pytest.raises(patched.PatchedError, match=r"/src/packages/demo: daemon already in"):
        patched.tests_control("Tests: daemon\n", "Tests: daemon\n", {"daemon"}, ["daemon"],
                              HERE)


def test_added_tests_are_copied_and_listed_in_the_changelog(tmp_path: Path) -> None:
    recipe_dir, tree = tmp_path / "recipe", tmp_path / "tree"
    (recipe_dir / "debian/tests").mkdir(parents=True)
    (recipe_dir / "debian/tests/control").write_text("Tests: ours\n")
    (recipe_dir / "debian/tests/ours").write_text("#!/bin/sh\n")
    (recipe_dir / "debian/tests/ours").chmod(0o755)
    (tree / "debian/tests").mkdir(parents=True)
    (tree / "debian/tests/control").write_text("Tests: theirs\n")
    recipe = patched.parse_recipe(RECIPE, recipe_dir)
    assert patched.add_tests(recipe, tree) == ["ours"]
    assert (tree / "debian/tests/control").read_text() == (
        "Tests: theirs\n\n# Added by Homeguy (homeguy):\nTests: ours\n")
    assert (tree / "debian/tests/ours").stat().st_mode & 0o111
    _, files = patched.read_inputs(recipe)
    assert set(files) >= {"debian/tests/control", "debian/tests/ours"}
    text = patched.changelog_entry(CHANGELOG, recipe, [], 1700000000, ["ours"])
    assert "    - debian/tests/ours\n" in text


def test_recipe_tests_without_control_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "debian/tests").mkdir(parents=True)
    (tmp_path / "debian/tests/ours").write_text("#!/bin/sh\n")
    recipe = patched.parse_recipe(RECIPE, tmp_path)
    with pytest.raises(patched.PatchedError, match="no control file"):
        patched.add_tests(recipe, tmp_path / "tree")
