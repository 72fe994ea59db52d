"""The patched-package builder end to end, with real apt, quilt and dpkg-buildpackage.

GNU hello (a small real Debian source) shows the builder's behaviour quickly: a patch
that no longer applies is named, a patched build carries the patch and the local
version, and unchanged inputs are not built again. The strongSwan packages are then
installed by real apt from the signed repository into a clean bookworm chroot.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian.debian_support import version_compare

from homeguy import keyring, packages, patched
from homeguy.mirror import debian_mirror
from homeguy.repo.publish import publish
from homeguy.run import run
from testkit import apt

pytestmark = pytest.mark.e2e

HELLO = """\
source = "hello"
version = "2.10-3"
suffix = "+homeguytest1"
publish = ["hello"]
"""
GREETING = """\
Description: a mobile greeting
Forwarded: not-needed
--- a/src/hello.c
+++ b/src/hello.c
@@ -57,7 +57,7 @@
 #endif
\x20
   /* Having initialized gettext, get the default message. */
-  greeting_msg = _("Hello, world!");
+  greeting_msg = _("Hello, mobile world!");
\x20
   /* Even exiting has subtleties.  On exit, if any writes failed, change
      the exit status.  The /dev/full device on GNU/Linux can be used for
"""
# The same change against a line that is not there (any more).
STALE = GREETING.replace('-  greeting_msg = _("Hello, world!");',
                         '-  greeting_msg = _("Hello, old world!");')


def recipe(folder: Path, patches: dict[str, str]) -> patched.Recipe:
    (folder / "patches").mkdir(parents=True)
    (folder / patched.RECIPE).write_text(HELLO)
    (folder / "patches" / "series").write_text("".join(f"{name}\n" for name in patches))
    for name, text in patches.items():
        (folder / "patches" / name).write_text(text)
    return patched.parse_recipe(HELLO, folder)


def test_a_patch_that_no_longer_applies_is_named(tmp_path: Path) -> None:
    stale = recipe(tmp_path / "hello-stale", {"0001-greeting.patch": GREETING,
                                              "0002-stale.patch": STALE})
    with pytest.raises(patched.PatchedError) as error:
        patched.build(stale, say=print, debs=tmp_path / "debs", cache=tmp_path / "cache")
    message = str(error.value)
    assert message.startswith(f"{tmp_path}/hello-stale/patches/0002-stale.patch no longer "
                              "applies to hello 2.10-3: refresh it")
    assert "0001-greeting.patch" not in message.splitlines()[0]
    assert not (tmp_path / "debs").exists()


def test_patched_build_then_cache_hit(tmp_path: Path) -> None:
    hello = recipe(tmp_path / "hello", {"0001-greeting.patch": GREETING})
    debs, cache = tmp_path / "debs", tmp_path / "cache"  # a cold cache: a real first build
    start = time.monotonic()
    (deb,) = patched.build(hello, say=print, debs=debs, cache=cache)
    cold = time.monotonic() - start
    assert deb == debs / "hello_2.10-3+homeguytest1_amd64.deb"
    run(["dpkg-deb", "-x", deb, tmp_path / "root"])
    assert run([tmp_path / "root/usr/bin/hello"]).stdout == "Hello, mobile world!\n"
    changelog = run(["sh", "-c", f"zcat {tmp_path}/root/usr/share/doc/hello/changelog.Debian.gz"
                     " | head -5"]).stdout
    assert changelog.startswith("hello (2.10-3+homeguytest1) ")
    assert "debian/patches/homeguy/0001-greeting.patch" in changelog
    built_at = deb.stat().st_mtime_ns

    said: list[str] = []
    start = time.monotonic()
    assert patched.build(hello, say=said.append, debs=debs, cache=cache) == [deb]
    warm = time.monotonic() - start
    print(f"hello: cold build {cold:.1f} s, cached {warm:.3f} s")
    assert [line.split()[0] for line in said] == ["cached"]
    assert deb.stat().st_mtime_ns == built_at  # not copied again either
    assert warm < 2


# A later Debian security update of strongSwan, in a second signed repository: apt must
# still take Homeguy's build (the keyring package's pin).
COMPETITOR_VERSION = "5.9.8-5+deb12u6"


@dataclass
class Repositories:
    homeguy: Path
    homeguy_url: str
    keyring_deb: Path
    competitor_url: str
    competitor_keyring: Path


@pytest.fixture(scope="module")
def repositories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repositories]:
    """Homeguy's repository with the strongSwan packages (from the builder's cache once
    `make` built them), signed with a scratch key and served, with the keyring package
    pointing at where it is served; and a competitor, signed with another key, whose
    strongSwan binaries have a higher version."""
    base = tmp_path_factory.mktemp("patched-install")
    debs, competitor_debs = base / "debs", base / "competitor-debs"
    competitor_debs.mkdir()
    (strongswan,) = [r for r in patched.recipes() if r.name == "strongswan-mip6"]
    patched.build(strongswan, debs=debs)
    for name in strongswan.publish:
        apt.build_deb(competitor_debs, name, COMPETITOR_VERSION, "amd64",
                          description="a newer strongSwan from elsewhere")
    (base / "repo").mkdir()
    (base / "competitor").mkdir()
    with apt.gnupg_home() as home, apt.gnupg_home() as other, \
            apt.serve(base / "repo") as server, \
            apt.serve(base / "competitor") as competitor:
        config = apt.config_for_tests(home, url=server.url)
        for source in keyring.other_packages():
            for deb in packages.build(source, progress=False):
                shutil.copy(deb, debs)
        (keyring_deb,) = keyring.build(config, base / "keyring", into=debs)  # not out/debs
        publish(config, debs, base / "repo")
        rival = apt.config_for_tests(other, origin="Debian", label="Debian-Security",
                                         keyring_name="competitor-keyring")
        publish(rival, competitor_debs, base / "competitor")
        yield Repositories(base / "repo", server.url, keyring_deb, competitor.url,
                           base / "competitor" / "competitor-keyring.gpg")


def candidate(chroot: apt.Chroot, name: str) -> str:
    policy = chroot.run("apt-cache", "policy", name).stdout
    found = re.search(r"Candidate: (\S+)", policy)
    assert found, policy
    return found.group(1)


def test_apt_installs_patched_strongswan_from_the_signed_repository(
        repositories: Repositories, tmp_path: Path) -> None:
    (strongswan,) = [r for r in patched.recipes() if r.name == "strongswan-mip6"]
    ours = strongswan.local_version
    assert ours.endswith("+homeguy2")
    with apt.chroot(tmp_path / "root") as chroot:
        (chroot.root / "etc/apt/sources.list.d/debian.sources").write_text(
            f"Types: deb\nURIs: {debian_mirror('bookworm')}\nSuites: bookworm\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        # What a user does: install the keyring package (the repository's key, source and
        # pin), then use apt. The competitor is trusted as Debian's own would be.
        shutil.copy(repositories.keyring_deb, chroot.root / "tmp/keyring.deb")
        chroot.run("dpkg", "-i", "/tmp/keyring.deb")
        pin = chroot.root / "etc/apt/preferences.d/homeguy.pref"
        assert "Pin: release o=Homeguy,l=Homeguy\n" in pin.read_text()
        chroot.add_source("competitor", repositories.competitor_url, "bookworm",
                          repositories.competitor_keyring)
        update = chroot.apt_get("update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert "NO_PUBKEY" not in update.stderr and "not signed" not in update.stderr
        assert repositories.homeguy_url.rstrip("/") in update.stdout, update.stdout

        # Without the pin apt would take the competitor's higher version; with it, ours.
        assert version_compare(COMPETITOR_VERSION, ours) > 0
        assert candidate(chroot, "libstrongswan") == ours
        policy = chroot.run("apt-cache", "policy", "libstrongswan").stdout
        homeguy_url = repositories.homeguy_url.rstrip("/")
        # Our version, from our repository, pinned to 1001 (the others stay at 500).
        assert re.search(rf"^\s+{re.escape(ours)} 1001\n\s+\d+ {re.escape(homeguy_url)} ",
                         policy, re.M), policy
        pin.rename(pin.with_suffix(".off"))
        assert candidate(chroot, "libstrongswan") == COMPETITOR_VERSION
        pin.with_suffix(".off").rename(pin)

        # The openssl plugin (ECDSA, AES-GCM) is only recommended: ask for it.
        wanted = ("charon-systemd", "strongswan-charon", "strongswan-swanctl",
                  "libcharon-extra-plugins", "libstrongswan-standard-plugins",
                  "strongswan-pki")
        install = chroot.apt_get("install", "-y", "--no-install-recommends", *wanted)
        assert install.returncode == 0, install.stdout + install.stderr
        versions = chroot.run("dpkg-query", "-W", "-f", "${Package} ${Version}\n",
                              *wanted, "libstrongswan", "strongswan-libcharon").stdout
        assert versions.splitlines() == [
            f"{name} {ours}" for name in sorted(
                (*wanted, "libstrongswan", "strongswan-libcharon"))]
        for program in ("usr/sbin/swanctl", "usr/sbin/charon-systemd"):
            assert (chroot.root / program).is_file()
        assert chroot.run("pki", "--gen", "--type", "ecdsa", "--size", "256",
                          "--outform", "pem").stdout.startswith("-----BEGIN EC PRIVATE KEY")
        # The daemon runs, on the installed libraries (charon-systemd has no --version).
        upstream = ours.split("-")[0]
        assert chroot.run("/usr/lib/ipsec/charon", "--version").stdout == \
            f"Linux strongSwan {upstream}\n"
        # And an upgrade keeps it.
        upgrade = chroot.apt_get("-s", "upgrade")
        assert upgrade.returncode == 0 and "\n0 upgraded" in upgrade.stdout, upgrade.stdout
