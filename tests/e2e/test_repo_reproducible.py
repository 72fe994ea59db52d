"""Same inputs, same key and SOURCE_DATE_EPOCH: byte-identical dists/, signatures included
(Ed25519 signatures carry no randomness and gpg signs at a fixed time)."""

import os
import shutil
from pathlib import Path

import pytest

from homeguy.repo import signing
from homeguy.repo.publish import publish
from homeguy.repo.release import rfc2822
from testkit import apt

pytestmark = pytest.mark.e2e

EPOCH = "1700000000"


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def inputs(directory: Path, reverse_names: bool) -> Path:
    """The same .debs under other file names (the pool's names do not depend on them)."""
    directory.mkdir()
    debs = [apt.build_deb(directory, "hg-hello", "1.0"),
            apt.build_deb(directory, "hg-tool", "2:1.0-1", "amd64", depends="hg-hello"),
            *[Path(shutil.copy(p, directory)) for p in apt.apt_download(
                apt.REAL_PACKAGES)]]
    if reverse_names:
        for number, deb in enumerate(reversed(debs)):
            deb.rename(directory / f"{number}-input.deb")
    return directory


def test_two_publishes_give_identical_dists(tmp_path: Path) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    with apt.gnupg_home() as home:
        config = apt.config_for_tests(home)
        one = publish(config, inputs(tmp_path / "in-1", False), tmp_path / "one", env=env)
        two = publish(config, inputs(tmp_path / "in-2", True), tmp_path / "two", env=env)
        later = publish(config, tmp_path / "in-1", tmp_path / "later",
                        env={**env, "SOURCE_DATE_EPOCH": str(int(EPOCH) + 86400)})
        verify = signing.gpg(home, "--status-fd", "1", "--verify",
                             tmp_path / "one/dists/bookworm/InRelease")
    assert one.keys == two.keys
    first, second = tree(tmp_path / "one/dists"), tree(tmp_path / "two/dists")
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []
    assert "bookworm/InRelease" in first and "trixie/Release.gpg" in first
    assert tree(tmp_path / "one/pool") == tree(tmp_path / "two/pool")
    release = first["bookworm/Release"].decode()
    assert f"Date: {rfc2822(int(EPOCH))}\n" in release
    # The signature time is SOURCE_DATE_EPOCH, or the key's creation when that is later.
    signed_at = max(int(EPOCH), one.keys[0].created)
    assert f" {signed_at} " in next(line for line in verify.splitlines()
                                    if "VALIDSIG" in line)
    # Another SOURCE_DATE_EPOCH: another Date, the same indices.
    other = tree(tmp_path / "later/dists")
    assert other["bookworm/Release"] != first["bookworm/Release"]
    assert {n: d for n, d in other.items() if "/binary-" in n} == {
        n: d for n, d in first.items() if "/binary-" in n}
    assert later.plan.report.added == one.plan.report.added
