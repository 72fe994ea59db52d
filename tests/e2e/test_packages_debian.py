"""The packages behave like Debian's: each one goes through a piuparts-style cycle
(install, upgrade to a next version that changes its configuration files, remove, purge)
in a clean bookworm root with real apt and dpkg and leaves no file behind; a role package
turns its role on at install and off at removal; no file that enrollment rewrites is a
conffile; and every source package's autopkgtests pass against the built .debs, run by
the real autopkgtest: the tree's packages, the archive keyring (built with a scratch
signing key) and the patched strongSwan (its source package, Debian's tests and the
project's; the project's fails with Debian's own build).

One set of built .debs, one clean root with the packages' Debian dependencies installed
once (testkit.testbed); the cycles leave it as they found it (they assert so), and
autopkgtest runs in a copy of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from haiku.core import render

from homeguy import keyring, packages, patched
from homeguy.run import run
from testkit import apt, strongswan_lab, testbed

pytestmark = pytest.mark.e2e

# The next version that each package upgrades to in the cycle.
NEXT = "+next1"
# The files HAiku's configuration endpoint sends and enrollment writes on a node
# (packages/haiku/haiku/payload.py, live/hooks/enroll/homeguy_enroll.py): never conffiles,
# or the next upgrade would ask about them.
ENROLLED = ("/etc/mip6d/mip6d.conf", "/etc/swanctl/conf.d/haiku-mip6.conf",
            *(f"/etc/swanctl/{name}" for name in (render.SWANCTL_CERT, render.SWANCTL_KEY,
                                                   render.SWANCTL_CA)))
# What a purge leaves on purpose: HAiku's system user and groups stay, as Debian keeps
# system accounts (files owned by them may be left); adduser keeps backups of the files.
ACCOUNTS = frozenset({"etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-"})
# Files the postinst creates from a template: the next version changes the template.
TEMPLATES = {"mip6d": ("/usr/share/mip6d/mip6d.conf",)}
# Role package -> mip6-kernel-config's name of the role.
ROLES = {"homeguy-mobile-host": "mn", "homeguy-mobile-router": "mr", "homeguy-home-agent": "ha"}
# What each source package's autopkgtests must report here. mip6d's start needs a Mobile
# IPv6 kernel and isolation-machine: the chroot backend skips it (the kernel lab runs it:
# tests/lab/test_mip6d_autopkgtest.py).
AUTOPKGTESTS = {
    "mip6d": {"check-configs": "PASS", "start": "SKIP", "status-view": "PASS"},
    "haiku": {"migrate-and-serve": "PASS"},
    "mip6-kernel-config": {"kernel-check": "PASS"},
    "homeguy-meta": {"mobile-host": "PASS", "mobile-router": "PASS", "home-agent": "PASS"},
    "homeguy-slot": {"command1": "PASS", "command2": "PASS"},
    "homeguy-installer": {"refuses-and-reads-roles": "PASS"},
    "homeguy-wifi": {"key-and-errors": "PASS"},
    "homeguy-archive-keyring": {"apt-reads-it": "PASS"},
    # Debian's own tests want isolation-container or isolation-machine (skipped here);
    # mip6-selectors is the project's (packages/strongswan-mip6/debian/tests/).
    "strongswan": {"admin-strongswan-charon": "SKIP", "admin-strongswan-starter": "SKIP",
                   "daemon": "SKIP", "plugins": "SKIP", "mip6-selectors": "PASS"},
}
STRONGSWAN = "strongswan-mip6"  # the recipe


@pytest.fixture(scope="module")
def built() -> list[testbed.Deb]:
    """Every package of the tree built once (unchanged ones are reused)."""
    return [testbed.Deb.read(deb) for source in keyring.other_packages()
            for deb in packages.build(source, progress=False)]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with testbed.scratch(tmp_path_factory.mktemp("testbed")) as directory:
        yield directory


@pytest.fixture(scope="module")
def base(built: list[testbed.Deb], scratch: Path) -> apt.Chroot:
    """The clean root: Debian's dependencies installed, the built .debs and their next
    versions as two flat apt sources."""
    (scratch / "next").mkdir()
    following = [testbed.repack(deb, scratch / "next", NEXT,
                                deb.conffiles + TEMPLATES.get(deb.name, ()))
                 for deb in built]
    return testbed.prepare(scratch / "root", built, {"built": [deb.path for deb in built],
                                                     "next": following})


def test_no_conffile_is_rewritten_by_enrollment(built: list[testbed.Deb]) -> None:
    conffiles = {path for deb in built for path in deb.conffiles}
    assert "/etc/default/haiku" in conffiles  # the listing is real
    assert conffiles.isdisjoint(ENROLLED)


def assert_service_account(chroot: apt.Chroot) -> None:
    """HAiku's own user and what its postinst gives it (names as the chroot resolves them):
    the control socket's group, the vici socket's group, the settings' file to read, the
    state directory, nodes.d/ to write (mip6d reads it through its group), and swanctl's
    directories as dpkg-statoverride entries (applied when strongSwan's swanctl package
    unpacks them, whatever the order)."""
    def inside(*argv: str) -> str:
        return run(["chroot", chroot.root, *argv]).stdout.strip()

    assert sorted(inside("id", "-nG", "haiku").split()) == ["haiku", "mip6d", "swanctl"]
    assert inside("getent", "passwd", "haiku").endswith(":/var/lib/haiku:/usr/sbin/nologin")
    assert inside("stat", "-c", "%U:%G %a", "/etc/default/haiku", "/var/lib/haiku",
                  "/etc/mip6d/nodes.d").splitlines() == [
        "root:haiku 640", "haiku:haiku 700", "haiku:mip6d 2750"]
    assert sorted(inside("dpkg-statoverride", "--list").splitlines()) == [
        "haiku mip6d 2750 /etc/mip6d/nodes.d", "root haiku 1770 /etc/swanctl/private",
        *(f"root haiku 1775 /etc/swanctl/{name}"
          for name in ("conf.d", "x509", "x509ca", "x509crl"))]


def installed(chroot: apt.Chroot, package: str) -> str:
    return run(["chroot", chroot.root, "dpkg-query", "-W", "-f=${Version}", package],
               check=False).stdout


def assert_role(root: Path, package: str, on: bool) -> None:
    """On: the role's unit enabled, its sysctl.d and modules-load.d files in place; off:
    all gone (after a purge, the enablement too)."""
    code = ROLES[package]
    for path in (f"usr/lib/sysctl.d/60-mip6-{code}.conf",
                 f"usr/lib/modules-load.d/mip6-{code}.conf",
                 f"lib/systemd/system/{package}.service"):
        assert (root / path).exists() == on, path
    link = root / f"etc/systemd/system/multi-user.target.wants/{package}.service"
    if on:
        assert os.readlink(link) == f"/lib/systemd/system/{package}.service"


# python3-mip6d and python3-homeguy-slot go through it as dependencies of mip6d and haiku.
@pytest.mark.parametrize("package", ["mip6d", "mip6-kernel-config", "haiku", "homeguy-installer",
                                     "homeguy-wifi", *ROLES])
def test_install_upgrade_remove_purge_leave_nothing(base: apt.Chroot, built: list[testbed.Deb],
                                                    package: str) -> None:
    root = base.root
    version = next(deb.version for deb in built if deb.name == package)
    before = testbed.files(root)

    def apt_get(*args: str) -> None:
        # stdin closed: a conffile question would fail dpkg instead of waiting.
        result = run(["chroot", root, "apt-get", "-q", "-y", "-o", "Dpkg::Use-Pty=0",
                      "--no-install-recommends", *args], env=apt.APT_ENV, check=False,
                     input="", timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "dpkg: warning" not in result.stderr, result.stderr

    apt_get("install", f"{package}={version}")
    assert installed(base, package) == version
    if package in ROLES:
        assert_role(root, package, on=True)
    if package == "mip6d":
        # Created by the postinst, then rewritten as enrollment does.
        conf = root / "etc/mip6d/mip6d.conf"
        assert conf.read_text() == (root / "usr/share/mip6d/mip6d.conf").read_text()
        conf.write_text("NodeConfig MN;\n")
        conf.chmod(0o600)
    if package == "haiku":
        assert_service_account(base)
        # As an older version (run as root) left it: world-readable.
        (root / "etc/default/haiku").chmod(0o644)
        os.chown(root / "etc/default/haiku", 0, 0)
    with testbed.use_source(base, "next"):
        apt_get("install", package)
    assert installed(base, package) == version + NEXT
    if package == "mip6d":
        assert (root / "etc/mip6d/mip6d.conf").read_text() == "NodeConfig MN;\n"
        assert not list((root / "etc/mip6d").glob("mip6d.conf.*"))
    if package == "haiku":
        assert_service_account(base)
        assert "# changed by the next version" in (root / "etc/default/haiku").read_text()

    apt_get("remove", package)
    if package in ROLES:
        assert_role(root, package, on=False)
    apt_get("purge", package)
    apt_get("autoremove", "--purge")
    left = run(["chroot", root, "dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n"]
               ).stdout.split("\n")
    ours = {deb.name for deb in built}
    assert [line for line in left if line.split(" ")[0] in ours] == []
    after = testbed.files(root)
    assert (sorted(after - before - ACCOUNTS), sorted(before - after)) == ([], [])
    if package == "haiku":
        # The postinst's dpkg-statoverrides went with it (--list fails when there is none).
        overrides = run(["chroot", root, "dpkg-statoverride", "--list"], check=False)
        assert (overrides.returncode, overrides.stdout) == (1, ""), overrides.stdout


@pytest.fixture
def autopkgtest_root(base: apt.Chroot, scratch: Path, request: pytest.FixtureRequest
                     ) -> Iterator[Path]:
    """A fresh copy of the clean root for each run, as Debian CI gives each package a
    fresh testbed (what a test installs stays: the keyring's apt source would reach the
    next run), /proc mounted, apt knowing Debian only: autopkgtest brings the .debs under
    test itself; /proc and /sys mounted, as on a testbed machine (lsblk reads /sys)."""
    root = scratch / f"autopkgtest-{request.node.name}"
    run(["cp", "-a", base.root, root])
    (root / "etc/apt/sources.list.d/built.sources").unlink()
    with testbed.mounted_proc(root), testbed.mounted(root / "sys", "sysfs", "-t", "sysfs",
                                                     "-o", "ro"):
        yield root
    run(["rm", "-rf", "--one-file-system", root])


def test_every_source_with_autopkgtests_is_run() -> None:
    with_tests = {source.name for source in packages.source_packages()
                  if (source.path / "debian/tests/control").is_file()}
    with_tests |= {recipe.source for recipe in patched.recipes()
                   if patched.test_files(recipe)}
    assert with_tests == set(AUTOPKGTESTS)


@pytest.fixture(scope="module")
def strongswan() -> patched.Recipe:
    """The patched strongSwan at the Debian version `make` builds it on (built, or taken
    from the cache)."""
    (recipe,) = [r for r in patched.recipes() if r.name == STRONGSWAN]
    return patched.build_newest(recipe, say=lambda line: None).recipe


@pytest.fixture(scope="module")
def under_test(built: list[testbed.Deb], strongswan: patched.Recipe,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[Path]]]:
    """Source package -> (its built tree or .dsc, the .debs to test): the tree's packages
    with every built .deb; the archive keyring built with a scratch key into this test's
    own folder (not out/debs); the patched strongSwan's source package and binaries."""
    debs = [deb.path for deb in built]
    subjects = {source.name: (packages.BUILD / source.name / source.name, debs)  # stamped
                for source in keyring.other_packages()}
    with apt.gnupg_home() as home:
        config = apt.config_for_tests(home, url="http://127.0.0.1:9/")
        folder = tmp_path_factory.mktemp("keyring")
        (keyring_deb,) = keyring.build(config, folder / "work", into=folder / "debs")
    subjects[keyring.PACKAGE] = (packages.BUILD / keyring.PACKAGE / keyring.PACKAGE,
                                 [keyring_deb])
    result = patched.ensure_built(strongswan, say=lambda line: None)
    subjects[strongswan.source] = (patched.ensure_source(strongswan, say=lambda line: None),
                                   [deb for deb in sorted(result.glob("*.deb"))
                                    if patched.deb_package(deb) in strongswan.publish])
    return subjects


@pytest.mark.parametrize("source", list(AUTOPKGTESTS))
def test_autopkgtest(under_test: dict[str, tuple[Path, list[Path]]], autopkgtest_root: Path,
                     tmp_path: Path, source: str) -> None:
    tree, debs = under_test[source]
    result = testbed.autopkgtest(tree, debs, autopkgtest_root, tmp_path)
    verdicts = {name: verdict.split(" ")[0] for name, verdict in result.results.items()}
    assert verdicts == AUTOPKGTESTS[source], result.log
    assert result.returncode == (2 if "SKIP" in verdicts.values() else 0), result.log


def test_strongswan_mip6_autopkgtest_fails_with_debians_build(
        under_test: dict[str, tuple[Path, list[Path]]], strongswan: patched.Recipe,
        autopkgtest_root: Path, tmp_path: Path) -> None:
    """The project's strongSwan test can fail: Debian's binaries of the version ours is
    built on, with the same tests."""
    dsc, ours = under_test["strongswan"]
    stock = strongswan_lab.stock_debs(tuple(patched.deb_package(deb) for deb in ours),
                                      strongswan.version)
    assert len(stock) == len(ours) and not any("homeguy" in deb.name for deb in stock)
    result = testbed.autopkgtest(dsc, stock, autopkgtest_root, tmp_path)
    verdicts = {name: verdict.split(" ")[0] for name, verdict in result.results.items()}
    assert verdicts == {**AUTOPKGTESTS["strongswan"], "mip6-selectors": "FAIL"}, result.log
    assert "no out policy for MH type 5" in result.log, result.log
