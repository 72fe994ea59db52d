"""The patched-package builder end to end, with real apt, quilt and dpkg-buildpackage.

GNU hello (a small real Debian source) shows the builder's behaviour quickly: a patch
that no longer applies is named, a patched build carries the patch and the local
version, and unchanged inputs are not built again. The strongSwan packages are then
installed by real apt from the signed repository into a clean bookworm chroot.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeguy import keyring, packages, patched
from homeguy.mirror import debian_mirror
from homeguy.run import run
from repo import testkit
from repo.publisher.publish import publish

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


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Homeguy's repository with the strongSwan packages (from the builder's cache once
    `make` built them), signed with a scratch key."""
    base = tmp_path_factory.mktemp("patched-install")
    debs = base / "debs"
    (strongswan,) = [r for r in patched.recipes() if r.name == "strongswan-mip6"]
    patched.build(strongswan, debs=debs)
    with testkit.gnupg_home() as home:
        config = testkit.config_for_tests(home, url="http://127.0.0.1:9/")
        for source in keyring.other_packages():
            for deb in packages.build(source, progress=False):
                shutil.copy(deb, debs)
        keyring.build(config, base / "keyring")
        for deb in (base / "keyring").glob("*.deb"):
            shutil.copy(deb, debs)
        publish(config, debs, base / "repo")
        yield base / "repo"


def test_apt_installs_patched_strongswan_from_the_signed_repository(
        repository: Path, tmp_path: Path) -> None:
    (strongswan,) = [r for r in patched.recipes() if r.name == "strongswan-mip6"]
    with testkit.chroot(tmp_path / "root") as chroot, testkit.serve(repository) as server:
        (chroot.root / "etc/apt/sources.list.d/debian.sources").write_text(
            f"Types: deb\nURIs: {debian_mirror('bookworm')}\nSuites: bookworm\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        chroot.add_source("homeguy", server.url, "bookworm",
                          repository / "homeguy-archive-keyring.gpg")
        update = chroot.apt_get("update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert "NO_PUBKEY" not in update.stderr and "not signed" not in update.stderr
        # The openssl plugin (ECDSA, AES-GCM) is only recommended: ask for it.
        wanted = ("charon-systemd", "strongswan-swanctl", "libcharon-extra-plugins",
                  "libstrongswan-standard-plugins", "strongswan-pki")
        install = chroot.apt_get("install", "-y", "--no-install-recommends", *wanted)
        assert install.returncode == 0, install.stdout + install.stderr
        versions = chroot.run("dpkg-query", "-W", "-f", "${Package} ${Version}\n",
                              *wanted, "libstrongswan", "strongswan-libcharon").stdout
        assert versions.splitlines() == [
            f"{name} {strongswan.local_version}" for name in sorted(
                (*wanted, "libstrongswan", "strongswan-libcharon"))]
        for program in ("usr/sbin/swanctl", "usr/sbin/charon-systemd"):
            assert (chroot.root / program).is_file()
        assert chroot.run("pki", "--gen", "--type", "ecdsa", "--size", "256",
                          "--outform", "pem").stdout.startswith("-----BEGIN EC PRIVATE KEY")
