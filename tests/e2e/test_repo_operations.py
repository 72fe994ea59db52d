"""Source packages and the operations beyond publish, as real apt sees them.

One repository, one client chroot and one HTTP server for the whole module. A source
package is fetched by `apt-get source` with a deb-src line, signature checked. Then
`homeguy repo` (the command line people run) takes a snapshot, publishes a bad version,
rolls back, removes a version, promotes to another suite and rotates the signing key; the
client updates after each step and sees its result, while a second client runs
`apt-get update` in a loop through all of it and never fails. Retiring the old key then
leaves only the client that installed the keyring package (with both keys) working, and
that client upgrades to the keyring package built after the retirement.
"""

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian.deb822 import Deb822

from homeguy import keyring
from homeguy.lab.vm import TOP
from homeguy.repo.config import RepoConfig
from homeguy.repo.publish import publish
from homeguy.run import run
from testkit import apt

pytestmark = pytest.mark.e2e

@dataclass
class World:
    base: Path
    out: Path
    home: Path
    config: RepoConfig
    server: apt.Server
    client: apt.Chroot
    old_keyring: Path  # the keyring as the first publish exported it (the old key only)


def output(process: subprocess.CompletedProcess[str]) -> str:
    return process.stdout + process.stderr


def complaints(process: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in output(process).splitlines()
            if line.startswith(("Err:", "E:", "W:"))]


def homeguy_repo(world: World, *args: str) -> str:
    """`python -m homeguy repo ARGS --out OUT --signing-home HOME --config (two suites)`;
    its output."""
    done = subprocess.run(
        [sys.executable, "-m", "homeguy", "repo", *args, "--out", str(world.out),
         "--signing-home", str(world.home), "--config", str(world.base / "repo.toml")],
        cwd=TOP, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """hg-app 1.0 and 2.0 and the source package of 2.0 in bookworm, served; a client
    trusting the first key, with a deb and a deb-src line."""
    base = tmp_path_factory.mktemp("operations")
    debs = base / "debs"
    debs.mkdir()
    for version in ("1.0", "2.0"):
        apt.build_deb(debs, "hg-app", version)
    apt.build_source(debs, "hg-app", "2.0")
    out = base / "repo"
    with apt.gnupg_home() as home, apt.chroot(base / "client") as client, \
            apt.serve(out.parent) as server:
        server.url += "repo/"
        config = apt.config_for_tests(home, url=server.url)
        apt.config_file_for_tests(base)  # the same suites for homeguy_repo
        result = publish(config, debs, out, suites=("bookworm",))
        old_keyring = Path(base / "old-keyring.gpg")
        old_keyring.write_bytes(result.public_keys[1].read_bytes())
        # Named and worded as the keyring package's own source, which then
        # replaces it without a conffile question; trixie beside it.
        keys = out / "homeguy-archive-keyring.gpg"
        client.add_source("homeguy", server.url, "bookworm", keys)
        assert (client.root / "etc/apt/sources.list.d/homeguy.sources").read_text() == (
            keyring.apt_source(config))
        client.add_source("homeguy-trixie", server.url, "trixie", keys)
        client.add_source("homeguy-src", server.url, "bookworm", keys, types="deb-src")
        yield World(base, out, home, config, server, client, old_keyring)


def update(world: World) -> None:
    done = world.client.apt_get("update")
    assert done.returncode == 0 and not complaints(done), output(done)


def versions(world: World, suite: str, name: str = "hg-app") -> list[str]:
    """The versions of `name` that the client's apt sees in `suite`."""
    madison = world.client.run("apt-cache", "madison", name).stdout
    return sorted(line.split("|")[1].strip() for line in madison.splitlines()
                  if f" {suite}/main " in line and "Packages" in line)


def test_apt_get_source_fetches_a_signed_source_package(world: World) -> None:
    update(world)
    fetched = world.client.run("sh", "-c", "cd /tmp && apt-get source -q --download-only "
                                           "hg-app")
    assert "bookworm/main hg-app 2.0 (dsc)" in fetched.stdout, output(fetched)
    for name in ("hg-app_2.0.dsc", "hg-app_2.0.tar.xz"):
        assert (world.client.root / "tmp" / name).read_bytes() == (
            world.out / "pool/main/h/hg-app" / name).read_bytes()
    # The index came by hash, named by the signed InRelease.
    requests = [path for path, _ in world.server.requests]
    assert any(p.startswith("/repo/dists/bookworm/main/source/by-hash/SHA512/")
               for p in requests), requests
    # A tarball changed in the pool (same size) is refused: the chain from the signed
    # InRelease through Sources reaches every file of the source package.
    tarball = world.out / "pool/main/h/hg-app/hg-app_2.0.tar.xz"
    original = tarball.read_bytes()
    try:
        tarball.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
        forged = world.client.run("sh", "-c", "mkdir -p /tmp/forged && cd /tmp/forged && "
                                              "apt-get source -q --download-only hg-app; "
                                              "echo status=$?")
    finally:
        tarball.write_bytes(original)
    assert "Hash Sum mismatch" in output(forged) and "status=100" in forged.stdout, (
        output(forged))
    sources = (world.out / "dists/bookworm/main/source/Sources").read_text()
    assert [p["Package"] for p in Deb822.iter_paragraphs(sources)] == ["hg-app"]
    assert "main/source/Sources.xz" in (world.out / "dists/bookworm/InRelease").read_text()


def test_operations_reach_a_client_and_never_break_one_updating(world: World,
                                                                tmp_path: Path) -> None:
    stop = threading.Event()
    failures: list[str] = []
    rounds = [0]
    with apt.chroot(tmp_path / "watcher") as watcher:
        watcher.add_source("homeguy", world.server.url, "bookworm trixie", world.old_keyring)

        def watch() -> None:
            while not stop.is_set():
                done = watcher.apt_get("update", "-o", "Acquire::Retries=0")
                rounds[0] += 1
                if done.returncode or complaints(done):
                    failures.append(output(done))

        thread = threading.Thread(target=watch)
        thread.start()
        try:
            homeguy_repo(world, "snapshot", "take", "good")
            bad = tmp_path / "bad"
            bad.mkdir()
            apt.build_deb(bad, "hg-app", "3.0")
            publish(world.config, bad, world.out, suites=("bookworm",))
            update(world)
            assert versions(world, "bookworm") == ["1.0", "2.0", "3.0"]

            rolled = homeguy_repo(world, "rollback", "good")
            assert "  - bookworm: hg-app 3.0 (all)" in rolled
            update(world)
            assert versions(world, "bookworm") == ["1.0", "2.0"]

            removed = homeguy_repo(world, "remove", "--suite", "bookworm", "hg-app=1.0")
            assert "  - bookworm: hg-app 1.0 (all)" in removed
            update(world)
            assert versions(world, "bookworm") == ["2.0"]

            copied = homeguy_repo(world, "copy", "--from", "bookworm", "--to", "trixie",
                                  "hg-app")
            assert "  + trixie: hg-app 2.0 (source)" in copied
            update(world)
            assert versions(world, "trixie") == ["2.0"]
            assert "good  taken " in homeguy_repo(world, "snapshot", "list")

            rotated = homeguy_repo(world, "key", "rotate")
            assert "Release signed for: bookworm, trixie" in rotated
            status = homeguy_repo(world, "key", "status")
            assert "a rotation is under way" in status
            assert status.count(" expires 20") == 2, status  # key_valid_for: both expire
            update(world)  # the client still trusts the old key only
        finally:
            stop.set()
            thread.join(timeout=300)
        assert failures == [], failures[0]
        assert rounds[0] >= 3
        inrelease = (world.out / "dists/bookworm/InRelease").read_text()
        assert inrelease.count("-----BEGIN PGP SIGNATURE-----") == 1
        verified = run(["gpgv", "--keyring", world.out / "homeguy-archive-keyring.gpg",
                        world.out / "dists/bookworm/InRelease"], env={"LC_ALL": "C"})
        assert verified.stderr.count("Good signature") == 2, verified.stderr

        # The keyring package built now carries both keys; the client installs it.
        publish_keyring(world, tmp_path / "keyring-1")
        update(world)
        install = world.client.apt_get("install", "-y", "homeguy-archive-keyring")
        assert install.returncode == 0, output(install)

        retired = homeguy_repo(world, "key", "retire")
        assert "signing key " in retired and "signing keys" not in retired
        update(world)  # the keyring package's keyring trusts the new key
        # Only the old key: refused, as it must be (apt keeps its previous indices).
        stale = watcher.apt_get("update")
    assert complaints(stale) and "NO_PUBKEY" in output(stale), output(stale)
    assert versions(world, "trixie") == ["2.0"]
    # Built again in the same commit, the keyring package (the new key only) has a newer
    # version: the repository takes it and the client upgrades to it.
    publish_keyring(world, tmp_path / "keyring-2")
    update(world)
    upgrade = world.client.apt_get("install", "-y", "homeguy-archive-keyring")
    assert upgrade.returncode == 0 and "Unpacking homeguy-archive-keyring" in upgrade.stdout, (
        output(upgrade))
    installed = world.client.root / "usr/share/keyrings/homeguy-archive-keyring.gpg"
    assert installed.read_bytes() == (world.out / "homeguy-archive-keyring.gpg").read_bytes()
    update(world)


def publish_keyring(world: World, workdir: Path) -> None:
    """Build the keyring package from the signing keys as they are, and publish it."""
    (package,) = keyring.build(world.config, workdir, into=workdir / "debs")  # not out/debs
    inbox = workdir / "inbox"
    inbox.mkdir()
    (inbox / package.name).write_bytes(package.read_bytes())
    publish(world.config, inbox, world.out, suites=("bookworm",))
