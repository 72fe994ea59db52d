"""`apt install mip6d` from Homeguy's signed repository into a clean bookworm chroot.

What `make` builds (the packages and their source packages, the patched strongSwan's
source, the archive keyring, the repository) is published with a scratch signing key,
served over HTTP on 127.0.0.1, and installed by real apt with signature checking on: the
chroot gets only the keyring and a deb822 source with Signed-By for it, next to Debian's
own source for the dependencies; `apt-get source` fetches our sources the same way.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeguy import keyring, packages, patched
from homeguy.mirror import debian_mirror
from homeguy.repo.publish import publish
from homeguy.run import run
from testkit import apt

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def followed() -> list[patched.Recipe]:
    """The patched recipes at the Debian versions `make` builds them on."""
    return [patched.resolve(recipe, say=lambda line: None) for recipe in patched.recipes()]


@pytest.fixture(scope="module")
def repository(followed: list[patched.Recipe], tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Path, Path]]:
    """The repository and the archive keyring .deb, built with a scratch signing key."""
    base = tmp_path_factory.mktemp("install")
    debs = base / "debs"
    debs.mkdir()
    with apt.gnupg_home() as home:
        config = apt.config_for_tests(home, url="http://127.0.0.1:9/")
        for source in keyring.other_packages():
            for deb in packages.build(source, progress=False):
                shutil.copy(deb, debs)
            packages.keep_source(packages.built_source(source), debs)
        for recipe in followed:  # the source only: dpkg-source -b, seconds
            packages.keep_source(patched.ensure_source(recipe, say=lambda line: None), debs)
        # Into this test's own folder: a keyring for 127.0.0.1:9 in out/debs would go into
        # the images built after this test (the mirror's "stall" of an image build was apt
        # retrying that source).
        (keyring_deb,) = keyring.build(config, base / "keyring", into=debs)
        publish(config, debs, base / "repo")
        yield base / "repo", Path(shutil.copy(keyring_deb, base))


def test_keyring_package_holds_the_key_and_source(repository: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    repo, keyring_deb = repository
    run(["dpkg-deb", "-x", keyring_deb, tmp_path])
    shipped = tmp_path / "usr/share/keyrings/homeguy-archive-keyring.gpg"
    assert shipped.read_bytes() == (repo / "homeguy-archive-keyring.gpg").read_bytes()
    assert (tmp_path / "etc/apt/sources.list.d/homeguy.sources").read_text() == (
        "Types: deb\nURIs: http://127.0.0.1:9/\nSuites: bookworm\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/homeguy-archive-keyring.gpg\n"
    )
    # No pin: Debian's newer strongSwan wins over Homeguy's (packages/strongswan-mip6).
    assert not (tmp_path / "etc/apt/preferences.d").exists()


def test_apt_installs_mip6d_from_the_signed_repository(repository: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    repo, _ = repository
    with apt.chroot(tmp_path / "root") as chroot, apt.serve(repo) as server:
        (chroot.root / "etc/apt/sources.list.d/debian.sources").write_text(
            f"Types: deb\nURIs: {debian_mirror('bookworm')}\nSuites: bookworm\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        chroot.add_source("homeguy", server.url, "bookworm", repo / "homeguy-archive-keyring.gpg")
        update = chroot.apt_get("update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert "NO_PUBKEY" not in update.stderr and "not signed" not in update.stderr
        install = chroot.apt_get("install", "-y", "--no-install-recommends",
                                 "mip6d", "mip6-kernel-config", "homeguy-mobile-host")
        assert install.returncode == 0, install.stdout + install.stderr
        upstream = packages.SourcePackage.read(packages.PACKAGES / "mip6d").upstream
        assert chroot.run("mip6d", "--version").stdout == f"mip6d {upstream}\n"
        assert "usage: mip6-kernel-check" in chroot.run("mip6-kernel-check", "--help").stdout
        # The mobile host role turned on its kernel side.
        modules = chroot.root / "usr/lib/modules-load.d/mip6-mn.conf"
        assert modules.is_symlink() and "ip6_tunnel" in modules.read_text()
        # ... and brought strongSwan for certificate keying, set up for mip6d.
        assert chroot.run("dpkg-query", "-W", "-f=${Status}", "charon-systemd",
                          "strongswan-swanctl", "libstrongswan-extra-plugins").stdout.count(
            "install ok installed") == 3
        charon = (chroot.root / "etc/strongswan.d/homeguy-mip6.conf").read_text()
        assert "ignore_routing_tables = 252" in charon and "roam_events = no" in charon


def test_apt_get_source_fetches_our_sources(repository: tuple[Path, Path],
                                            followed: list[patched.Recipe],
                                            tmp_path: Path) -> None:
    """The GPL's other half: mip6d's source and the patched strongSwan's, with our patch
    series, from the same signed repository through a deb-src line."""
    repo, _ = repository
    (strongswan,) = [r for r in followed if r.source == "strongswan"]
    with apt.chroot(tmp_path / "root") as chroot, apt.serve(repo) as server:
        keys = repo / "homeguy-archive-keyring.gpg"
        chroot.add_source("homeguy-src", server.url, "bookworm", keys, types="deb-src")
        update = chroot.apt_get("update")
        assert update.returncode == 0 and "W:" not in update.stdout + update.stderr, (
            update.stdout + update.stderr)
        fetched = chroot.run("sh", "-c", "cd /tmp && apt-get source -q --download-only "
                                         "mip6d strongswan")
        assert f"bookworm/main strongswan {strongswan.local_version} (dsc)" in fetched.stdout
        (mip6d_dsc,) = (chroot.root / "tmp").glob("mip6d_*.dsc")
        (strongswan_dsc,) = (chroot.root / "tmp").glob("strongswan_*.dsc")
        # dpkg-source checks every file against the .dsc while it unpacks.
        run(["dpkg-source", "-x", mip6d_dsc, tmp_path / "mip6d"])
        run(["dpkg-source", "-x", strongswan_dsc, tmp_path / "strongswan"])
    assert (tmp_path / "mip6d/mip6d/shell/loop.py").is_file()
    series = (tmp_path / "strongswan/debian/patches/series").read_text().splitlines()
    ours = patched.parse_series((strongswan.path / "patches/series").read_text())
    assert [f"homeguy/{name}" for name in ours] == series[-len(ours):]
    for name in ours:  # applied, as the binaries were built
        patch = (tmp_path / "strongswan/debian/patches/homeguy" / name).read_text()
        assert patch == (strongswan.path / "patches" / name).read_text()
    changelog = (tmp_path / "strongswan/debian/changelog").read_text()
    assert changelog.startswith(f"strongswan ({strongswan.local_version}) ")
