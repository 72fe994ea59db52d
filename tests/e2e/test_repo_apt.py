"""Real apt, signature checking on, against the published repository served over HTTP.

A clean bookworm chroot (mmdebstrap, cached) gets only the public key and a deb822 source
with Signed-By; apt-get update and install must succeed, and each kind of tampering must
be refused by apt itself.
"""

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian.deb822 import Deb822, Release

from homeguy.repo import compress, signing
from homeguy.repo.publish import Result, publish
from homeguy.run import run
from testkit import apt

pytestmark = pytest.mark.e2e

FILLERS = 60
GZIP_MEMBER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"  # deflate, no name, no time


@dataclass(frozen=True)
class Published:
    out: Path
    result: Result


def output(process: subprocess.CompletedProcess[str]) -> str:
    return process.stdout + process.stderr


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """Tiny .debs from dpkg-deb and real ones from the Debian mirror, published in two
    rounds (the second adds versions, some of which keep_versions drops)."""
    base = tmp_path_factory.mktemp("published")
    first, second = base / "debs-1", base / "debs-2"
    first.mkdir()
    second.mkdir()
    apt.build_deb(first, "hg-hello", "1.0", files={"usr/share/hg-hello/greeting": "hi\n"})
    apt.build_deb(first, "hg-tool", "1.0", "amd64", depends="hg-hello (>= 1.0)")
    for deb in apt.apt_download(apt.REAL_PACKAGES):
        shutil.copy(deb, first)
    for version in ("1.0", "2.0"):
        apt.build_deb(first, "hg-multi", version)
    for number in range(FILLERS):  # enough packages for indices of several chunks
        apt.build_deb(first, f"hg-filler{number:02d}", "1.0")
    for version in ("3.0", "4.0"):
        apt.build_deb(second, "hg-multi", version)
    with apt.gnupg_home() as home:
        config = apt.config_for_tests(home)
        out = base / "repo"
        publish(config, first, out)
        yield Published(out, publish(config, second, out))


@pytest.fixture
def chroot(tmp_path: Path) -> Iterator[apt.Chroot]:
    with apt.chroot(tmp_path / "root") as root:
        yield root


def served_copy(published: Published, tmp_path: Path) -> Path:
    """A copy of the repository that a test may tamper with."""
    copy = tmp_path / "repo"
    shutil.copytree(published.out, copy)
    return copy


def keyring(published: Published) -> Path:
    return published.result.public_keys[1]


def complaints(process: subprocess.CompletedProcess[str]) -> list[str]:
    """apt's error and warning lines (apt-get update exits 0 on some failed fetches)."""
    return [line for line in output(process).splitlines()
            if line.startswith(("Err:", "E:", "W:"))]


def test_update_and_install(published: Published, chroot: apt.Chroot) -> None:
    index = published.out / "dists/bookworm/main/binary-amd64/Packages"
    with apt.serve(published.out) as server:
        chroot.add_source("homeguy", server.url, "bookworm trixie", keyring(published))
        update = chroot.apt_get("update")
        assert update.returncode == 0 and not complaints(update), output(update)
        install = chroot.apt_get("install", "-y", "hg-tool", "hello", "tree")
        assert install.returncode == 0, output(install)
        old = chroot.apt_get("install", "-y", "hg-multi=2.0")
        assert old.returncode == 0, output(old)
        first_requests = list(server.requests)
        # apt reads the gzip indices as well (lists emptied so that it fetches them again).
        shutil.rmtree(chroot.root / "var/lib/apt/lists")
        (chroot.root / "var/lib/apt/lists/partial").mkdir(parents=True)
        by_gzip = chroot.apt_get("update", "-o", "Acquire::CompressionTypes::Order::=gz")
        assert by_gzip.returncode == 0 and not complaints(by_gzip), output(by_gzip)
        last = chroot.apt_get("install", "-y", f"hg-filler{FILLERS - 1:02d}")
        assert last.returncode == 0, output(last)
    # apt fetched the signed InRelease and every index by hash, never by its plain name:
    # first the .xz, then the .gz.
    paths = [path for path, _ in first_requests]
    assert "/dists/bookworm/InRelease" in paths and "/dists/trixie/InRelease" in paths
    assert [p for p in paths if "/main/binary-" in p and "/by-hash/SHA512/" not in p] == []
    by_hash = "/dists/bookworm/main/binary-amd64/by-hash/SHA512/"
    for form, requests in ((".xz", first_requests), (".gz", server.requests)):
        digest = hashlib.sha512(index.with_suffix(form).read_bytes()).hexdigest()
        assert by_hash + digest in [path for path, _ in requests], form
    # Those indices are made of several xz blocks (in one stream) and gzip members.
    listing = run(["xz", "--robot", "--list", index.with_suffix(".xz")]).stdout
    totals = next(line.split("\t") for line in listing.splitlines() if line.startswith("totals"))
    assert (int(totals[1]), int(totals[2]) > 1) == (1, True), listing  # streams, blocks
    assert index.with_suffix(".gz").read_bytes().count(GZIP_MEMBER) > 1
    assert (chroot.root / "usr/share/hg-hello/greeting").read_text() == "hi\n"
    assert chroot.run("hello").stdout == "Hello, world!\n"
    assert chroot.run("dpkg-query", "-W", "-f", "${Version}", "hg-multi").stdout == "2.0"
    versions = chroot.run("apt-cache", "madison", "hg-multi").stdout
    assert sorted({line.split("|")[1].strip() for line in versions.splitlines()}) == [
        "2.0", "3.0", "4.0"]  # keep_versions = 3 dropped 1.0
    policy = chroot.run("apt-cache", "policy").stdout
    assert "release o=Homeguy,a=bookworm,n=bookworm,l=Homeguy,c=main,b=amd64" in policy
    assert "release o=Homeguy,a=trixie,n=trixie,l=Homeguy,c=main,b=amd64" in policy


def test_modified_deb_in_the_pool_is_refused_at_install(
    published: Published, chroot: apt.Chroot, tmp_path: Path
) -> None:
    repo = served_copy(published, tmp_path)
    deb = repo / "pool/main/h/hg-hello/hg-hello_1.0_all.deb"
    data = bytearray(deb.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    deb.write_bytes(bytes(data))
    with apt.serve(repo) as server:
        chroot.add_source("homeguy", server.url, "bookworm", keyring(published))
        update = chroot.apt_get("update")
        assert update.returncode == 0, output(update)
        install = chroot.apt_get("install", "-y", "hg-hello")
    assert install.returncode == 100, output(install)
    assert "Hash Sum mismatch" in output(install)
    assert not (chroot.root / "usr/share/hg-hello/greeting").exists()


def forged_index(plain: bytes, old: str, new: str) -> dict[str, bytes]:
    """Packages{,.gz,.xz} with `old` replaced by `new`, cut into chunks as the publisher
    does, so that only the chunk holding the change differs."""
    stanzas = [s + "\n" for s in plain.decode().rstrip("\n").split("\n\n")]
    entries = [(Deb822(stanza)["SHA256"], stanza.replace(old, new)) for stanza in stanzas]
    return dict(compress.variants("Packages", compress.chunks(entries)))


def test_modified_packages_file_is_refused_at_update(
    published: Published, chroot: apt.Chroot, tmp_path: Path
) -> None:
    repo = served_copy(published, tmp_path)
    directory = repo / "dists/bookworm/main/binary-amd64"
    release = Release((repo / "dists/bookworm/Release").read_text())
    current = {entry[field.lower()]: entry["name"].rpartition("/")[2]
               for field in ("SHA256", "SHA512") for entry in release[field]
               if entry["name"].startswith("main/binary-amd64/")}
    original = {name: (directory / name).read_bytes() for name in set(current.values())}
    assert forged_index(original["Packages"], "", "") == original
    # Another version in a dependency, chosen so that every file keeps its size: apt's size
    # check passes, its hash check must not.
    for version in (f"{major}.{minor}" for major in range(1, 10) for minor in range(10)):
        forged = forged_index(original["Packages"], "hg-hello (>= 1.0)",
                              f"hg-hello (>= {version})")
        if version != "1.0" and all(len(forged[n]) == len(original[n]) for n in original):
            break
    else:
        pytest.fail("no forged version keeps every file's size")
    for name in original:  # the files under their names and their current by-hash copies
        (directory / name).write_bytes(forged[name])
    for digest, name in current.items():
        field = "SHA256" if len(digest) == 64 else "SHA512"
        (directory / "by-hash" / field / digest).write_bytes(forged[name])
    with apt.serve(repo) as server:
        chroot.add_source("homeguy", server.url, "bookworm", keyring(published))
        update = chroot.apt_get("update")
    assert update.returncode == 100, output(update)
    assert "Hash Sum mismatch" in output(update), output(update)


def resign(repo: Path, key: signing.SigningKey) -> None:
    suite = repo / "dists/bookworm"
    for name in ("InRelease", "Release.gpg"):
        (suite / name).unlink()
    signing.sign_release((key,), suite / "Release", suite / "InRelease", suite / "Release.gpg",
                         None)


def test_release_signed_by_another_key_is_refused(
    published: Published, chroot: apt.Chroot, tmp_path: Path
) -> None:
    repo = served_copy(published, tmp_path)
    with apt.gnupg_home() as home:
        stranger, _ = signing.ensure_key(home, "Somebody else <else@homeguy.invalid>")
        resign(repo, stranger)
    with apt.serve(repo) as server:
        chroot.add_source("homeguy", server.url, "bookworm", keyring(published))
        update = chroot.apt_get("update")
    assert update.returncode == 100, output(update)
    assert f"NO_PUBKEY {stranger.fingerprint[-16:]}" in output(update)
    assert "is not signed" in output(update)


def test_altered_release_text_is_refused(
    published: Published, chroot: apt.Chroot, tmp_path: Path
) -> None:
    repo = served_copy(published, tmp_path)
    inrelease = repo / "dists/bookworm/InRelease"
    text = inrelease.read_text()
    assert "Label: Homeguy\n" in text
    inrelease.write_text(text.replace("Label: Homeguy\n", "Label: Homeguz\n"))
    with apt.serve(repo) as server:
        chroot.add_source("homeguy", server.url, "bookworm", keyring(published))
        update = chroot.apt_get("update")
    assert update.returncode == 100, output(update)
    assert "BADSIG" in output(update)


def test_release_past_valid_until_is_refused(chroot: apt.Chroot, tmp_path: Path) -> None:
    debs = tmp_path / "debs"
    debs.mkdir()
    apt.build_deb(debs, "hg-hello", "1.0")
    forty_days_ago = str(int(time.time()) - 40 * 86400)
    with apt.gnupg_home() as home:
        config = apt.config_for_tests(home)
        assert config.valid_for == 30 * 86400
        result = publish(config, debs, tmp_path / "repo",
                         env={**os.environ, "SOURCE_DATE_EPOCH": forty_days_ago})
    with apt.serve(tmp_path / "repo") as server:
        chroot.add_source("homeguy", server.url, "bookworm", result.public_keys[1])
        update = chroot.apt_get("update")
    assert update.returncode == 100, output(update)
    assert "is expired (invalid since 10d" in output(update)
