"""The Debian packages: built with dpkg-buildpackage, lintian clean, reproducible."""

import hashlib
from pathlib import Path

import pytest

from homeguy import keyring, packages
from homeguy.run import run

pytestmark = pytest.mark.e2e


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    """Every package built once (lintian runs inside the build and fails it on findings)."""
    debs = [deb for source in keyring.other_packages()
            for deb in packages.build(source, progress=False)]
    return {deb.name.split("_", 1)[0]: deb for deb in debs}


def test_every_source_package_builds(built: dict[str, Path]) -> None:
    assert {"mip6d", "python3-mip6d", "mip6-kernel-config", "homeguy-mobile-host",
            "homeguy-mobile-router", "homeguy-home-agent"} <= set(built)


def test_versions_come_from_git(built: dict[str, Path]) -> None:
    count = run(["git", "rev-list", "--count", "HEAD"], cwd=packages.TOP).stdout.strip()
    short = run(["git", "rev-parse", "--short=7", "HEAD"], cwd=packages.TOP).stdout.strip()
    version = run(["dpkg-deb", "-f", built["mip6d"], "Version"]).stdout.strip()
    assert version.startswith(f"0.1.0+{count}.g{short}")


def test_mip6d_package_contents(built: dict[str, Path], tmp_path: Path) -> None:
    listing = run(["dpkg-deb", "-c", built["mip6d"]]).stdout
    for path in ("./usr/sbin/mip6d", "./usr/bin/mip6ctl", "./usr/share/mip6d/mip6d.conf",
                 "./etc/mip6d/nodes.d/", "./lib/systemd/system/mip6d.service",
                 "./usr/share/man/man8/mip6d.8.gz", "./usr/share/man/man5/mip6d.conf.5.gz",
                 "./usr/share/man/man8/mip6ctl.8.gz"):
        assert f" {path}\n" in listing + "\n", path
    run(["dpkg-deb", "--control", built["mip6d"], tmp_path / "control"])
    # mip6d.conf is the node's (enrollment rewrites it): made by the postinst, no conffile.
    assert (tmp_path / "control" / "conffiles").read_text().split() == [
        "/etc/mip6d/nodes.d/README"
    ]
    depends = run(["dpkg-deb", "-f", built["python3-mip6d"], "Depends"]).stdout
    assert "python3-pyroute2" in depends


def test_builds_are_reproducible(built: dict[str, Path]) -> None:
    first = {name: sha256(deb) for name, deb in built.items()}
    again = [deb for source in keyring.other_packages()
             for deb in packages.build(source, progress=False, force=True)]
    assert {deb.name.split("_", 1)[0]: sha256(deb) for deb in again} == first


@pytest.mark.parametrize(("package", "role"), [
    ("homeguy-mobile-host", "mn"), ("homeguy-mobile-router", "mr"), ("homeguy-home-agent", "ha"),
])
def test_role_packages_turn_on_their_kernel_side(built: dict[str, Path], package: str,
                                                 role: str) -> None:
    listing = run(["dpkg-deb", "-c", built[package]]).stdout
    assert (f"./usr/lib/modules-load.d/mip6-{role}.conf -> "
            f"../../share/mip6-kernel-config/modules-load.d/mip6-{role}.conf") in listing
    assert f"./usr/lib/sysctl.d/60-mip6-{role}.conf -> " in listing
    depends = run(["dpkg-deb", "-f", built[package], "Depends"]).stdout
    assert "mip6d" in depends and "mip6-kernel-config" in depends
