"""The pure part of the patched-package builder: recipes, series, input hashes, the
changelog entry, the private apt entries, following Debian's versions."""

from pathlib import Path

import pytest
from debian.changelog import Changelog
from debian.debian_support import version_compare

from homeguy import patched
from homeguy.mirror import MirrorError, SourceEntry

pytestmark = pytest.mark.unit

HERE = Path("/src/packages/demo")
RECIPE = """\
source = "strongswan"
suffix = "+homeguy1"
publish = ["charon-systemd", "strongswan-swanctl"]
"""
CHANGELOG = """\
strongswan (5.9.8-5+deb12u5) bookworm; urgency=medium

  * Fix a thing.

 -- Debian Maintainer <dm@example.org>  Mon, 01 Jan 2024 00:00:00 +0000
"""


def test_recipe_is_parsed_with_defaults_and_no_version() -> None:
    recipe = patched.parse_recipe(RECIPE, HERE)
    assert recipe == patched.Recipe(
        name="demo", path=HERE, source="strongswan",
        suffix="+homeguy1", publish=("charon-systemd", "strongswan-swanctl"))
    assert recipe.version == ""  # Debian's newest, found by the build
    at = recipe.at("5.9.8-5+deb12u5")
    assert at.local_version == "5.9.8-5+deb12u5+homeguy1"
    assert at.upstream_version == "5.9.8"
    assert recipe.build_options == "nocheck noddebs"


@pytest.mark.parametrize(("version", "upstream"), [
    ("1:2.3-4", "2.3"), ("2.0", "2.0"), ("1.2-3-4", "1.2-3")])
def test_upstream_version(version: str, upstream: str) -> None:
    assert patched.parse_recipe(RECIPE, HERE).at(version).upstream_version == upstream


@pytest.mark.parametrize(("text", "message"), [
    (RECIPE.replace('suffix = "+homeguy1"\n', ""), "missing `suffix`"),
    (RECIPE + "colour = 1\n", "unknown key(s) colour"),
    (RECIPE.replace('"+homeguy1"', '"homeguy1"'), "must start with '+'"),
    (RECIPE.replace('["charon-systemd", "strongswan-swanctl"]', '"charon"'),
     "`publish` must be a list"),
    (RECIPE.replace('["charon-systemd", "strongswan-swanctl"]', "[1]"),
     "`publish` must be a list"),
    ("source = ", "not valid TOML"),
    (RECIPE + 'version = "5.9.8-5+deb12u5"\n', "`version` is no longer set: the builder "
     "follows Debian"),
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
    recipe = patched.parse_recipe(RECIPE, HERE).at("5.9.8-5+deb12u5")
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


def test_private_apt_copies_the_codenames_binary_entries() -> None:
    entries = [
        SourceEntry(("deb",), ("http://m.example/debian",), ("bookworm", "bookworm-updates"),
                    ("main",), "a", "/usr/share/keyrings/debian-archive-keyring.gpg"),
        SourceEntry(("deb",), ("http://m.example/debian-security",), ("bookworm-security",),
                    ("main", "contrib"), "b"),
        SourceEntry(("deb",), ("http://other.example/apt",), ("cloud-sdk-bookworm",),
                    ("main",), "c"),
        SourceEntry(("deb",), ("http://m.example/debian",), ("trixie",), ("main",), "d"),
    ]
    assert patched.debian_sources(entries, "bookworm") == (
        "Types: deb deb-src\nURIs: http://m.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb deb-src\nURIs: http://m.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main contrib\n")
    with pytest.raises(MirrorError, match="no apt source serves 'bullseye main'"):
        patched.debian_sources(entries, "bullseye")


# `apt-cache showsrc strongswan` and `apt-cache policy` as bookworm answered them after
# the +deb12u6 security upload (records shortened).
SHOWSRC = """\
Package: strongswan
Binary: charon-systemd, libstrongswan
Version: 5.9.8-5+deb12u5
Maintainer: strongSwan Maintainers <pkg-swan-devel@lists.alioth.debian.org>

Package: strongswan
Binary: charon-systemd, libstrongswan
Version: 5.9.8-5+deb12u6
Maintainer: strongSwan Maintainers <pkg-swan-devel@lists.alioth.debian.org>

Package: strongswan-other
Version: 9.9-1
"""
POLICY = """\
charon-systemd:
  Installed: (none)
  Candidate: 5.9.8-5+deb12u6
  Version table:
     5.9.8-5+deb12u6 500
        500 http://m.example/debian-security bookworm-security/main amd64 Packages
     5.9.8-5+deb12u5 500
        500 http://m.example/debian bookworm/main amd64 Packages
strongswan-swanctl:
  Installed: (none)
  Candidate: 5.9.8-5+deb12u6
  Version table:
gone:
  Installed: (none)
  Candidate: (none)
  Version table:
"""


def test_debian_versions_newest_first() -> None:
    versions = patched.parse_showsrc(SHOWSRC, "strongswan")
    assert versions == ["5.9.8-5+deb12u5", "5.9.8-5+deb12u6"]
    assert patched.newest_first([*versions, "5.9.8-5+deb12u10", "5.9.8-5", "1:1.0-1",
                                 "5.9.8-5+deb12u6"]) == [
        "1:1.0-1", "5.9.8-5+deb12u10", "5.9.8-5+deb12u6", "5.9.8-5+deb12u5", "5.9.8-5"]
    assert patched.parse_candidates(POLICY) == {"charon-systemd": "5.9.8-5+deb12u6",
                                                "strongswan-swanctl": "5.9.8-5+deb12u6"}


def test_follow_on_debians_newest_is_quiet() -> None:
    recipe = patched.parse_recipe(RECIPE, HERE).at("5.9.8-5+deb12u6")
    follow = patched.Follow(recipe, "5.9.8-5+deb12u6")
    assert not follow.overtaken  # +homeguy1 sorts above Debian's own
    assert follow.report() == [
        "follow  strongswan 5.9.8-5+deb12u6+homeguy1: on Debian's newest source "
        "5.9.8-5+deb12u6 (Debian's binary candidate: 5.9.8-5+deb12u6)"]


def test_overtaken_by_debian_is_said_loudly_with_the_cause_and_the_fix() -> None:
    recipe = patched.parse_recipe(RECIPE, HERE).at("5.9.8-5+deb12u5")
    follow = patched.Follow(recipe, "5.9.8-5+deb12u6", (
        ("5.9.8-5+deb12u6", "its source cannot be fetched from the host's Debian mirror "
         "(apt-get source strongswan=5.9.8-5+deb12u6 failed)\nE: 404"),))
    assert follow.overtaken
    lines = follow.report()
    assert lines[0] == lines[-1] == "!" * 78
    text = "\n".join(lines)
    assert "DEBIAN'S STRONGSWAN 5.9.8-5+deb12u6 IS NEWER THAN WHAT HOMEGUY CAN BUILD" in text
    assert "Homeguy builds strongswan 5.9.8-5+deb12u5+homeguy1" in text
    assert ("    5.9.8-5+deb12u6: its source cannot be fetched from the host's Debian mirror "
            "(apt-get source strongswan=5.9.8-5+deb12u6 failed)\n") in text
    assert "E: 404" not in text  # one line per version
    assert "published without any pin, so apt installs" in text
    assert "Debian's 5.9.8-5+deb12u6 (its security fixes)" in text
    assert f"{HERE}/patches (quilt refresh)" in text
    # No candidate at all (the binaries are not in the suite): nothing overtakes us.
    assert not patched.Follow(recipe, None).overtaken


def test_deb_package_name() -> None:
    assert patched.deb_package(Path("out/libstrongswan_5.9.8-5+h1_amd64.deb")) == "libstrongswan"


def test_the_strongswan_recipe_in_the_tree_is_valid() -> None:
    (recipe,) = [r for r in patched.recipes() if r.name == "strongswan-mip6"]
    assert recipe.source == "strongswan" and recipe.suffix.startswith("+homeguy")
    assert recipe.version == ""  # followed, not pinned
    # Builds were published as +homeguy2: a lower suffix would go backwards for apt.
    assert version_compare(recipe.at("5.9.8-5+deb12u5").local_version,
                           "5.9.8-5+deb12u5+homeguy2") >= 0
    series, files = patched.read_inputs(recipe)
    assert all(f"patches/{name}" in files for name in series)
    assert {"debian/tests/control", "debian/tests/mip6-selectors"} <= set(files)
    # The Debian version is an input: a new Debian upload is a new build.
    assert patched.read_inputs(recipe.at("1.0-1"))[1] != patched.read_inputs(recipe.at("1.0-2"))[1]


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
    # Passed over like a patch that no longer applies: an older Debian version may build.
    with pytest.raises(patched.UnbuildableError, match=r"/src/packages/demo: daemon already in"):
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
    text = patched.changelog_entry(CHANGELOG, recipe.at("5.9.8-5+deb12u5"), [], 1700000000,
                                   ["ours"])
    assert "    - debian/tests/ours\n" in text


def test_recipe_tests_without_control_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "debian/tests").mkdir(parents=True)
    (tmp_path / "debian/tests/ours").write_text("#!/bin/sh\n")
    recipe = patched.parse_recipe(RECIPE, tmp_path)
    with pytest.raises(patched.PatchedError, match="no control file"):
        patched.add_tests(recipe, tmp_path / "tree")


def test_an_embedded_signed_by_key_stays_folded() -> None:
    key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n.\nmQINBF\n-----END PGP PUBLIC KEY BLOCK-----"
    entry = SourceEntry(("deb",), ("http://m.example/debian",), ("bookworm",), ("main",), "a",
                        key)
    assert patched.debian_sources([entry], "bookworm").endswith(
        "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF\n"
        " -----END PGP PUBLIC KEY BLOCK-----\n")
