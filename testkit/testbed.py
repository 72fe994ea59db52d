"""A clean bookworm root for testing the built packages the way Debian does: autopkgtest
(its chroot backend) and piuparts-style install, upgrade, remove and purge cycles.

The root comes from the cached testbed tarball (testkit.apt: bookworm with dpkg-dev),
gets the Debian dependencies of the packages installed once, and flat apt sources of
.deb folders (file:, indexed by dpkg-scanpackages), so that apt resolves the packages
among themselves the way it does from Homeguy's repository.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import PkgRelation
from debian.debfile import DebFile

from homeguy.mirror import debian_mirror
from homeguy.run import run
from testkit import apt

# Inside the root: where the flat sources' .debs live.
SOURCES_DIR = Path("srv/homeguy-debs")
# Debian's .debs that roots download, kept between sessions (apt's own cache layout).
ARCHIVES = apt.CACHE / "testbed-archives"
# What every node runs besides the packages' own dependencies: the role packages' units
# are for systemd.
BASE_PACKAGES = "systemd"
# What a file list leaves out: mounts, scratch space and package managers' own records,
# as piuparts does (what dpkg and apt keep about packages is checked through dpkg).
VOLATILE = frozenset({"proc", "dev", "sys", "run", "tmp", "var/tmp", "var/cache", "var/log",
                      "var/lib/apt", "var/lib/dpkg", "var/backups", "srv"})


@dataclass(frozen=True)
class Deb:
    path: Path
    name: str
    version: str
    depends: str
    conffiles: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> Deb:
        deb = DebFile(str(path))
        control = deb.debcontrol()
        has = deb.control.has_file("conffiles")
        conffiles = deb.control.get_content("conffiles", encoding="utf-8") if has else None
        return cls(path, control["Package"], control["Version"], control.get("Depends", ""),
                   tuple((conffiles or "").split()))


def debian_dependencies(debs: Iterable[Deb]) -> str:
    """The Depends of `debs` that Debian provides, for `apt-get satisfy`: every relation
    with an alternative among `debs` left out."""
    debs = list(debs)
    own = {deb.name for deb in debs}
    relations = {
        PkgRelation.str([alternatives])
        for deb in debs
        for alternatives in PkgRelation.parse_relations(deb.depends)
        if not any(alternative["name"] in own for alternative in alternatives)
    }
    return ", ".join(sorted(relations))


def repack(deb: Deb, directory: Path, suffix: str, changed: Iterable[str]) -> Path:
    """`deb` as its next version (Version + suffix, its exact own dependencies too), with a
    comment line added to each of `changed` (paths inside the package): what an upgrade
    that changes configuration files brings."""
    tree = directory / f".tree-{deb.name}"
    shutil.rmtree(tree, ignore_errors=True)
    run(["dpkg-deb", "--raw-extract", deb.path, tree])
    control = tree / "DEBIAN" / "control"
    text = re.sub(rf"(?m)^Version: {re.escape(deb.version)}$", f"Version: {deb.version}{suffix}",
                  control.read_text())
    control.write_text(text.replace(f"(= {deb.version})", f"(= {deb.version}{suffix})"))
    for path in changed:
        with (tree / path.lstrip("/")).open("a") as stream:
            stream.write("# changed by the next version\n")
    target = directory / f"{deb.name}_{deb.version}{suffix}_all.deb"
    run(["dpkg-deb", "--root-owner-group", "--build", tree, target])
    shutil.rmtree(tree)
    return target


def prepare(root: Path, debs: list[Deb], sources: dict[str, list[Path]]) -> apt.Chroot:
    """`root` from the testbed tarball, with Debian's bookworm, the first of `sources`
    (name -> .debs) as a flat apt source (the others for `use_source`), and the Debian
    dependencies of `debs` installed."""
    root.mkdir(parents=True)
    run(["tar", "-C", root, "-xf", apt.testbed_tarball()])
    chroot = apt.Chroot(root)
    (root / "etc/apt/sources.list").write_text("")
    (root / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {debian_mirror('bookworm')}\nSuites: bookworm\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    for name, files in sources.items():
        folder = root / SOURCES_DIR / name
        folder.mkdir(parents=True)
        for path in files:
            shutil.copy2(path, folder)
        chroot.run("sh", "-c", f"cd /{SOURCES_DIR}/{name} && dpkg-scanpackages . > Packages")
    _source_file(root, next(iter(sources))).write_text(_source(next(iter(sources))))
    ARCHIVES.mkdir(parents=True, exist_ok=True)
    with mounted(root / "var/cache/apt/archives", ARCHIVES):
        for step in (("update",),
                     ("satisfy", "-y", "--no-install-recommends",
                      f"{BASE_PACKAGES}, {debian_dependencies(debs)}")):
            result = chroot.apt_get(*step)
            assert result.returncode == 0, result.stdout + result.stderr
    return chroot


def _source(name: str) -> str:
    return f"Types: deb\nURIs: file:/{SOURCES_DIR}/{name}\nSuites: ./\nTrusted: yes\n"


def _source_file(root: Path, name: str) -> Path:
    return root / f"etc/apt/sources.list.d/{name}.sources"


@contextmanager
def use_source(chroot: apt.Chroot, name: str) -> Iterator[None]:
    """apt in `chroot` knows the flat source `name` while the block runs (only that source
    is updated; its lists stay, unused, after its file is gone)."""
    path = _source_file(chroot.root, name)
    path.write_text(_source(name))
    try:
        only = f"/{path.relative_to(chroot.root)}"
        result = chroot.apt_get("update", "-o", f"Dir::Etc::SourceList={only}",
                                "-o", "Dir::Etc::SourceParts=-",
                                "-o", "APT::Get::List-Cleanup=0")
        assert result.returncode == 0, result.stdout + result.stderr
        yield
    finally:
        path.unlink()


def files(root: Path) -> set[str]:
    """Every path under `root` (files, links, directories) but the volatile ones."""
    found: set[str] = set()
    for directory, subdirs, names in os.walk(root):
        relative = os.path.relpath(directory, root)
        subdirs[:] = [d for d in subdirs
                      if os.path.normpath(os.path.join(relative, d)) not in VOLATILE]
        found.update(os.path.normpath(os.path.join(relative, n)) for n in subdirs + names)
    return found


@contextmanager
def mounted(target: Path, source: Path | str, *options: str) -> Iterator[Path]:
    """`source` mounted on `target` while the block runs (`mount OPTIONS SOURCE TARGET`;
    with no options a bind mount)."""
    target.mkdir(parents=True, exist_ok=True)
    run(["mount", *(options or ("--bind",)), source, target])
    try:
        yield target
    finally:
        run(["umount", "--lazy", target])


def mounted_proc(root: Path) -> contextlib.AbstractContextManager[Path]:
    """/proc inside `root` (tests read /proc/sys, unshare needs it)."""
    return mounted(root / "proc", "proc", "-t", "proc")


def scratch(directory: Path) -> contextlib.AbstractContextManager[Path]:
    """A tmpfs on `directory`: roots unpack, install and copy in memory, and go at once
    when it is unmounted (deleting them from disk took as long as making them)."""
    return mounted(directory, "tmpfs", "-t", "tmpfs", "-o", "size=8G,mode=0755")


@dataclass(frozen=True)
class Autopkgtest:
    returncode: int
    results: dict[str, str]  # test name -> PASS, FAIL, SKIP ... (with the reason)
    log: str


def autopkgtest(source: Path, debs: list[Path], root: Path, output: Path) -> Autopkgtest:
    """The autopkgtests of `source` (a built source tree, or a source package's .dsc)
    against `debs`, in `root` (the chroot backend: no isolation, no revert; tests needing
    more are skipped by it)."""
    summary = output / "summary"
    # A trailing // tells autopkgtest the tree is built: it does not build it again.
    where = str(source) if source.suffix == ".dsc" else f"{source}//"
    result = subprocess.run(
        ["autopkgtest", "--summary-file", str(summary), "--output-dir", str(output / "out"),
         *map(str, debs), where, "--", "chroot", str(root)],
        capture_output=True, text=True, check=False, timeout=900)
    results = {}
    for line in summary.read_text().splitlines() if summary.exists() else []:
        name, _, verdict = line.partition(" ")
        results[name] = verdict.strip()
    return Autopkgtest(result.returncode, results, result.stdout[-4000:] + result.stderr[-4000:])
