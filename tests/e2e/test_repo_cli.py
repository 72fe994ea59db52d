"""`python -m homeguy repo publish` as a person runs it: what it prints, what it refuses."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from homeguy.lab.vm import TOP
from testkit import apt

pytestmark = pytest.mark.e2e


def homeguy_repo(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    return subprocess.run([sys.executable, "-m", "homeguy", "repo", *map(str, args)],
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def dists(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "dists").rglob("*"))
            if p.is_file()}


def test_publish_republish_and_refuse_a_rebuild(tmp_path: Path) -> None:
    debs, rebuilt, out = tmp_path / "debs", tmp_path / "rebuilt", tmp_path / "repo"
    debs.mkdir()
    rebuilt.mkdir()
    apt.build_deb(debs, "hg-hello", "1.0")
    apt.build_deb(debs, "hg-tool", "1.0", "amd64")
    other = apt.build_deb(rebuilt, "hg-hello", "1.0", files={"usr/share/x": "changed\n"})
    config = apt.config_file_for_tests(tmp_path)  # two suites
    with apt.gnupg_home() as home:
        common = ("--out", out, "--signing-home", home, "--config", config)
        first = homeguy_repo("publish", "--debs", debs, *common)
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines()[:4] == [
            f"{out}: 2 .deb/.dsc file(s) read, 4 added to suites, 0 already published",
            "  + bookworm: hg-hello 1.0 (all)",
            "  + trixie: hg-hello 1.0 (all)",
            "  + bookworm: hg-tool 1.0 (amd64)",
        ]
        assert "created the signing key" in first.stdout
        assert (out / "homeguy-archive-keyring.asc").read_text().startswith(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----")
        before = dists(out)

        again = homeguy_repo("publish", "--debs", debs, *common)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[:2] == [
            f"{out}: 2 .deb/.dsc file(s) read, 0 added to suites, 2 already published",
            "  0 index file(s) written, Release signed for: none (unchanged), 0 expired "
            "file(s) deleted",
        ]
        assert dists(out) == before

        refused = homeguy_repo("publish", "--debs", rebuilt, "--suite", "trixie", *common)
    old = hashlib.sha256((debs / "hg-hello_1.0_all.deb").read_bytes()).hexdigest()
    new = hashlib.sha256(other.read_bytes()).hexdigest()
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == (
        f"homeguy repo: {other}: refusing hg-hello 1.0 (all): the repository "
        f"(pool/main/h/hg-hello/hg-hello_1.0_all.deb) has the same name, version and "
        f"architecture with different content (SHA256 {old} there, {new} here); publish the "
        f"rebuild under a new version, for example 1.0+b1"
    )
    assert dists(out) == before


@pytest.mark.parametrize(("args", "message"), [
    (("--debs", "/nonexistent/debs"),
     "homeguy repo: /nonexistent/debs: no such directory; build the packages first or point "
     "--debs at a directory of .deb files"),
    (("--debs", "/", "--suite", "sid"),
     "homeguy repo: suite 'sid' is not in {config} (suites: bookworm); add a "
     "[[suite]] or pick one"),
])
def test_errors_say_what_to_do(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    args = tuple(str(empty) if a == "/" else a for a in args)
    result = homeguy_repo("publish", *args, "--out", tmp_path / "repo")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == message.format(config=TOP / "repo" / "repo.toml")


def test_operations_refuse_what_is_not_there(tmp_path: Path) -> None:
    missing = homeguy_repo("rollback", "before", "--out", tmp_path / "repo")
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[-1] == (
        f"homeguy repo: {tmp_path}/repo: no repository published here (no .homeguy/"
        "state.json); publish into it first or name another --out")
    debs = tmp_path / "debs"
    debs.mkdir()
    apt.build_deb(debs, "hg-hello", "1.0")
    with apt.gnupg_home() as home:
        common = ("--out", tmp_path / "repo", "--signing-home", home)
        assert homeguy_repo("publish", "--debs", debs, *common).returncode == 0
        unknown = homeguy_repo("remove", "--suite", "bookworm", "hg-nope", *common)
        no_snapshot = homeguy_repo("rollback", "before", *common)
        one_key = homeguy_repo("key", "retire", *common)
    assert unknown.stderr.splitlines()[-1] == (
        "homeguy repo: suite 'bookworm' has no package hg-nope; it holds: hg-hello")
    assert no_snapshot.stderr.splitlines()[-1] == (
        "homeguy repo: no snapshot 'before'; snapshots: none (homeguy repo snapshot list)")
    assert one_key.stderr.splitlines()[-1].endswith(
        "only one signing key; start a rotation first (homeguy repo key rotate), ship the "
        "keyring package with both keys, then retire the old one")
    assert (unknown.returncode, no_snapshot.returncode, one_key.returncode) == (1, 1, 1)
