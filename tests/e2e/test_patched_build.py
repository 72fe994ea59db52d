"""The patched-package builder end to end, with real apt, quilt and dpkg-buildpackage.

GNU hello (a small real Debian source) shows the builder's behaviour quickly: a patch
that no longer applies is named, a patched build carries the patch and the local
version, and unchanged inputs are not built again. A small fake Debian (a signed
repository of tiny source and binary packages) shows how the builder follows Debian's
versions: it builds on the newest source, and when Debian's candidate is newer than what
it can build it says so and publishes its build unpinned. The strongSwan packages are
then installed by real apt from the signed repository into a clean bookworm chroot,
beside a newer "Debian" build, which apt takes.
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
from homeguy.mirror import SourceEntry, debian_mirror
from homeguy.repo.publish import publish
from homeguy.run import run
from testkit import apt

pytestmark = pytest.mark.e2e

HELLO = """\
source = "hello"
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
    print(f"hello: cold build {cold:.1f} s, cached {warm:.3f} s (with apt-get update)")
    # Debian asked again (apt-get update), nothing built: the same source, cached.
    assert [line.split()[0] for line in said] == ["follow", "cached", "follow", "cached"]
    assert said[2] == ("follow  hello 2.10-3+homeguytest1: on Debian's newest source 2.10-3 "
                       "(Debian's binary candidate: 2.10-3)")
    assert deb.stat().st_mtime_ns == built_at  # not copied again either


# A fake Debian: a tiny buildable source package in a signed repository that the builder
# reads instead of the host's Debian entries.
FAKE = """\
source = "hgfollow"
suffix = "+homeguytest1"
publish = ["hgfollow"]
"""
MARK = """\
Description: the project's change
Forwarded: not-needed
--- a/README
+++ b/README
@@ -1 +1 @@
-hgfollow from Debian
+hgfollow patched by Homeguy
"""


def fake_source(directory: Path, version: str, readme: str = "hgfollow from Debian\n") -> None:
    """A real native source package that builds one tiny binary package (debhelper)."""
    tree = directory / f".src-{version}"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "debian/source").mkdir(parents=True)
    (tree / "debian/source/format").write_text("3.0 (native)\n")
    (tree / "debian/control").write_text(
        "Source: hgfollow\nMaintainer: Homeguy tests <tests@homeguy.invalid>\n"
        "Section: misc\nPriority: optional\nBuild-Depends: debhelper-compat (= 13)\n"
        "Standards-Version: 4.6.2\n\nPackage: hgfollow\nArchitecture: all\n"
        "Description: Homeguy test source\n Follows Debian.\n")
    (tree / "debian/rules").write_text("#!/usr/bin/make -f\n%:\n\tdh $@\n")
    (tree / "debian/rules").chmod(0o755)
    (tree / "debian/hgfollow.docs").write_text("README\n")
    (tree / "debian/changelog").write_text(
        f"hgfollow ({version}) bookworm; urgency=medium\n\n  * Test.\n\n"
        " -- Homeguy tests <tests@homeguy.invalid>  Tue, 14 Nov 2023 22:13:20 +0000\n")
    (tree / "README").write_text(readme)
    run(["dpkg-source", "-b", tree.name], cwd=directory, env={"SOURCE_DATE_EPOCH": "1700000000"})
    shutil.rmtree(tree)


def test_builder_follows_debian_and_says_when_debian_is_ahead(tmp_path: Path) -> None:
    """The newest source is built on, a newer one whose source cannot be fetched or to
    which the series no longer applies is passed over loudly, with Debian's binary
    candidate named: what `make` does after a Debian update."""
    folder = tmp_path / "hgfollow"
    (folder / "patches").mkdir(parents=True)
    (folder / patched.RECIPE).write_text(FAKE)
    (folder / "patches/series").write_text("0001-mark.patch\n")
    (folder / "patches/0001-mark.patch").write_text(MARK)
    recipe = patched.parse_recipe(FAKE, folder)
    inputs, repo, debs, cache = (tmp_path / n for n in ("inputs", "repo", "debs", "cache"))
    inputs.mkdir()
    repo.mkdir()
    with apt.gnupg_home() as home, apt.serve(repo) as server:
        config = apt.config_for_tests(home, origin="Debian", label="Debian",
                                      keyring_name="fake-debian", keep_versions=10)
        debian = [SourceEntry(("deb",), (server.url,), ("bookworm",), ("main",), "fake",
                              str(repo / "fake-debian.gpg"))]

        def debian_publishes(version: str, *, served: bool = True, **source: str) -> None:
            fake_source(inputs, version, **source)
            apt.build_deb(inputs, "hgfollow", version)
            publish(config, inputs, repo)
            if not served:  # listed in Sources, but a 404: as the mirror does for +deb12u6
                for name in (f"hgfollow_{version}.dsc", f"hgfollow_{version}.tar.xz"):
                    (next(repo.glob(f"pool/**/{name}"))).unlink()
                    (inputs / name).unlink()  # or the next publish puts it back

        def make() -> tuple[list[str], list[Path]]:
            said: list[str] = []
            built = patched.build(recipe, say=said.append, debs=debs, cache=cache,
                                  debian=debian)
            print("\n".join(said))
            return said, built

        # Debian has 1.0 and 1.1: ours is 1.1+homeguytest1, quietly, with the patch.
        debian_publishes("1.0")
        debian_publishes("1.1")
        said, built = make()
        assert built == [debs / "hgfollow_1.1+homeguytest1_all.deb"]
        assert ("follow  hgfollow 1.1+homeguytest1: on Debian's newest source 1.1 "
                "(Debian's binary candidate: 1.1)") in said
        assert not any(line.startswith("!!!") for line in said)
        run(["dpkg-deb", "-x", built[0], tmp_path / "root"])
        assert (tmp_path / "root/usr/share/doc/hgfollow/README").read_text() == \
            "hgfollow patched by Homeguy\n"

        # Debian publishes 1.2, whose source the mirror does not serve: ours stays 1.1
        # (no rebuild), and the build says loudly that Debian's 1.2 is ahead and why.
        debian_publishes("1.2", served=False)
        said, built = make()
        assert built == [debs / "hgfollow_1.1+homeguytest1_all.deb"]
        text = "\n".join(said)
        assert "!!! DEBIAN'S HGFOLLOW 1.2 IS NEWER THAN WHAT HOMEGUY CAN BUILD" in text
        assert ("    1.2: its source cannot be fetched from the host's Debian mirror "
                "(apt-get source hgfollow=1.2 failed)") in text
        assert "published without any pin, so apt installs" in text
        assert [line.split()[0] for line in said if line.startswith(("build", "cached"))] == [
            "cached", "cached"]

        # Debian's 1.3 changed the line the series patches: passed over, the patch named.
        debian_publishes("1.3", readme="hgfollow from Debian, 1.3\n")
        said, built = make()
        assert built == [debs / "hgfollow_1.1+homeguytest1_all.deb"]
        text = "\n".join(said)
        assert "!!! DEBIAN'S HGFOLLOW 1.3 IS NEWER THAN WHAT HOMEGUY CAN BUILD" in text
        assert (f"    1.3: {folder}/patches/0001-mark.patch no longer applies to hgfollow "
                "1.3: refresh it") in text

        # Debian's 1.4 is served and patchable: a plain rebuild builds on it, no edit.
        debian_publishes("1.4")
        said, built = make()
        assert built == [debs / "hgfollow_1.4+homeguytest1_all.deb"]
        assert not any(line.startswith("!!!") for line in said)
        assert sorted(p.name for p in debs.glob("hgfollow_*")) == [
            "hgfollow_1.4+homeguytest1.dsc", "hgfollow_1.4+homeguytest1.tar.xz",
            "hgfollow_1.4+homeguytest1_all.deb"]


# What Homeguy shipped before 0.2.0 of the keyring package: this pin, as a conffile. It
# held every node on Homeguy's strongSwan when Debian published a newer security build.
OLD_PIN = """\
Package: charon-systemd libstrongswan strongswan-charon strongswan-libcharon strongswan-swanctl
Pin: release o=Homeguy,l=Homeguy
Pin-Priority: 1001
"""


def next_security_update(version: str) -> str:
    """Debian's next security upload of `version`: 5.9.8-5+deb12u5 -> 5.9.8-5+deb12u6."""
    return re.sub(r"u(\d+)$", lambda m: f"u{int(m[1]) + 1}", version)


@dataclass
class Repositories:
    homeguy: Path
    homeguy_url: str
    keyring_deb: Path
    old_keyring_deb: Path
    ours: str  # the version of Homeguy's strongSwan build
    competitor: str  # the version of "Debian's" newer one
    competitor_url: str
    competitor_keyring: Path


@pytest.fixture(scope="module")
def repositories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repositories]:
    """Homeguy's repository with the strongSwan packages (from the builder's cache once
    `make` built them), signed with a scratch key and served, with the keyring package
    pointing at where it is served, and an old keyring package with the pin; and a
    "Debian security" repository, signed with another key, whose strongSwan binaries are
    Debian's next upload."""
    base = tmp_path_factory.mktemp("patched-install")
    debs, competitor_debs = base / "debs", base / "competitor-debs"
    competitor_debs.mkdir()
    (strongswan,) = [r for r in patched.recipes() if r.name == "strongswan-mip6"]
    published = patched.build(strongswan, debs=debs)
    ours = published[0].name.split("_")[1]
    assert ours.endswith(strongswan.suffix)
    competitor = next_security_update(ours.removesuffix(strongswan.suffix))
    for name in strongswan.publish:
        apt.build_deb(competitor_debs, name, competitor, "amd64",
                      description="a newer strongSwan from Debian's security archive")
    (base / "repo").mkdir()
    (base / "competitor").mkdir()
    old_keyring = apt.build_deb(base, keyring.PACKAGE, "0.1.0+190.gold", files={
        "etc/apt/preferences.d/homeguy.pref": OLD_PIN,
        "DEBIAN/conffiles": f"{keyring.OLD_PIN}\n"})
    with apt.gnupg_home() as home, apt.gnupg_home() as other, \
            apt.serve(base / "repo") as server, \
            apt.serve(base / "competitor") as competitor_server:
        config = apt.config_for_tests(home, url=server.url)
        for source in keyring.other_packages():
            for deb in packages.build(source, progress=False):
                shutil.copy(deb, debs)
        (keyring_deb,) = keyring.build(config, base / "keyring", into=debs)  # not out/debs
        publish(config, debs, base / "repo")
        rival = apt.config_for_tests(other, origin="Debian", label="Debian-Security",
                                     keyring_name="competitor-keyring")
        publish(rival, competitor_debs, base / "competitor")
        yield Repositories(base / "repo", server.url, keyring_deb, old_keyring, ours,
                           competitor, competitor_server.url,
                           base / "competitor" / "competitor-keyring.gpg")


def candidate(chroot: apt.Chroot, name: str) -> str:
    policy = chroot.run("apt-cache", "policy", name).stdout
    found = re.search(r"Candidate: (\S+)", policy)
    assert found, policy
    return found.group(1)


def test_apt_installs_patched_strongswan_from_the_signed_repository(
        repositories: Repositories, tmp_path: Path) -> None:
    """Homeguy's build installs and runs; when Debian publishes a newer build, apt takes
    Debian's (nothing pins ours any more), and the keyring package's upgrade removes the
    pin that older versions installed."""
    ours, debians = repositories.ours, repositories.competitor
    assert ours.endswith("+homeguy2") and version_compare(debians, ours) > 0
    with apt.chroot(tmp_path / "root") as chroot:
        (chroot.root / "etc/apt/sources.list.d/debian.sources").write_text(
            f"Types: deb\nURIs: {debian_mirror('bookworm')}\nSuites: bookworm\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        # What a user does: install the keyring package (the repository's key and
        # source), then use apt.
        shutil.copy(repositories.keyring_deb, chroot.root / "tmp/keyring.deb")
        chroot.run("dpkg", "-i", "/tmp/keyring.deb")
        assert not (chroot.root / "etc/apt/preferences.d/homeguy.pref").exists()
        update = chroot.apt_get("update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert "NO_PUBKEY" not in update.stderr and "not signed" not in update.stderr
        assert repositories.homeguy_url.rstrip("/") in update.stdout, update.stdout
        assert candidate(chroot, "libstrongswan") == ours  # above Debian's in the mirror

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
        upgrade = chroot.apt_get("-s", "upgrade")
        assert upgrade.returncode == 0 and "\n0 upgraded" in upgrade.stdout, upgrade.stdout

        # Debian's security archive publishes a newer build: apt upgrades to it.
        chroot.add_source("competitor", repositories.competitor_url, "bookworm",
                          repositories.competitor_keyring)
        update = chroot.apt_get("update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert candidate(chroot, "libstrongswan") == debians
        upgrade = chroot.apt_get("-s", "upgrade")
        assert re.search(rf"^Inst libstrongswan \[{re.escape(ours)}\] \({re.escape(debians)} ",
                         upgrade.stdout, re.M), upgrade.stdout

        # A node that installed the old keyring package (0.1.0, with the pin) was held on
        # Homeguy's build; upgrading the keyring package removes the pin.
        shutil.copy(repositories.old_keyring_deb, chroot.root / "tmp/old-keyring.deb")
        chroot.run("dpkg", "-i", "/tmp/old-keyring.deb")  # a downgrade, to get there
        pin = chroot.root / "etc/apt/preferences.d/homeguy.pref"
        assert pin.read_text() == OLD_PIN
        assert candidate(chroot, "libstrongswan") == ours  # what the issue was about
        chroot.run("dpkg", "-i", "/tmp/keyring.deb")
        assert not pin.exists() and not pin.with_name("homeguy.pref.dpkg-bak").exists()
        assert candidate(chroot, "libstrongswan") == debians
