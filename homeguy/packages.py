"""Build the Debian packages of packages/*/ into out/debs, reproducibly.

Every folder of packages/ with a debian/control is one source package. The build copies
its tracked files (git ls-files: nothing stray gets in) to out/build/<name>/, stamps the
changelog with a version derived from git, installs missing build dependencies with
`apt-get build-dep`, runs dpkg-buildpackage under SOURCE_DATE_EPOCH (the last commit's
time; a full build: the source package, .dsc and tarball, as well as the .debs) and
checks the result with lintian. The .debs and the source package go to out/debs, where
the publisher takes both. A package whose inputs did not change since its last build is
not rebuilt.

Versions: `<upstream>+<commits>.g<hash>` where <upstream> is the changelog's top version
and <commits> the commit count of HEAD: increasing along main, the same for the same
commit (plus `.m<digest>` while the package's files have uncommitted changes; homeguy/git.py).
"""

from __future__ import annotations

import filecmp
import hashlib
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from debian.changelog import Changelog
from debian.deb822 import Deb822

from homeguy import git
from homeguy.git import TOP
from homeguy.repo.packages import dsc_files, parse_dsc
from homeguy.run import CommandError, run

PACKAGES = TOP / "packages"
OUT = TOP / "out"
DEBS = OUT / "debs"
BUILD = OUT / "build"
MAINTAINER = "Homeguy maintainers <maintainers@homeguy.example.org>"
# Lintian findings that fail a build: errors and warnings (overrides need a reason).
LINTIAN = ("lintian", "--fail-on", "error,warning")


class PackageError(RuntimeError):
    pass


@dataclass(frozen=True)
class SourcePackage:
    name: str
    path: Path
    upstream: str
    binaries: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> SourcePackage:
        source, *binaries = Deb822.iter_paragraphs((path / "debian" / "control").read_text())
        changelog = Changelog((path / "debian" / "changelog").read_text(), max_blocks=1)
        return cls(source["Source"], path, str(changelog.version.upstream_version),
                   tuple(binary["Package"] for binary in binaries))


def source_packages() -> list[SourcePackage]:
    return [SourcePackage.read(control.parent.parent)
            for control in sorted(PACKAGES.glob("*/debian/control"))]


def tracked_files(package: SourcePackage) -> list[str]:
    relative = package.path.relative_to(TOP)
    listed = git.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", str(relative))
    return sorted(name for name in listed.split("\0") if name and (TOP / name).is_file())


def inputs_digest(files: list[str], extra: Mapping[str, Path]) -> str:
    """The package's inputs: tracked files and generated extras, names and contents."""
    digest = hashlib.sha256()
    sources = [(name, TOP / name) for name in files] + sorted(extra.items())
    for name, path in sources:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def version(package: SourcePackage, digest: str) -> str:
    """Unique per commit; uncommitted changes add `.m<inputs digest>` (modified), so that a
    rebuild with other content never reuses a version the repository already holds."""
    return git.version(package.upstream, [str(package.path.relative_to(TOP))], digest)


def keep_source(dsc: Path, into: Path) -> list[Path]:
    """Copy a source package (the .dsc and the files it lists) into `into`, where it
    replaces the other versions of that source; the copied files."""
    parsed = parse_dsc(dsc.read_text(), str(dsc))
    names = [dsc.name, *(name for name, *_ in dsc_files(parsed))]
    into.mkdir(parents=True, exist_ok=True)
    for old in into.glob(f"{parsed['Source']}_*.dsc"):
        if old.name != dsc.name:
            stale = [old.name, *(n for n, *_ in dsc_files(parse_dsc(old.read_text(),
                                                                    str(old))))]
            for name in stale:
                if name not in names:
                    (into / name).unlink(missing_ok=True)
            old.unlink(missing_ok=True)
    copied = []
    for name in names:
        target = into / name
        if not (target.exists() and filecmp.cmp(dsc.parent / name, target, shallow=False)):
            shutil.copy2(dsc.parent / name, target)
        copied.append(target)
    return copied


def built_source(package: SourcePackage) -> Path:
    """The .dsc of the source package's last build in out/debs (keep_source keeps one)."""
    found = sorted(DEBS.glob(f"{package.name}_*.dsc"))
    if len(found) != 1:
        raise PackageError(f"{DEBS}: {len(found)} source packages of {package.name}; build "
                           "it first (make)")
    return found[0]


def stamp_changelog(path: Path, package: SourcePackage, new_version: str, epoch: int) -> None:
    changelog = Changelog(path.read_text())
    changelog.new_block(
        package=package.name,
        version=new_version,
        distributions="bookworm",
        urgency="medium",
        author=MAINTAINER,
        date=format_datetime(datetime.fromtimestamp(epoch, UTC)),
        changes=["", f"  * Build of {new_version} from the Homeguy tree.", ""],
    )
    path.write_text(str(changelog))


def build(
    package: SourcePackage,
    progress: bool = True,
    force: bool = False,
    extra: Mapping[str, Path] | None = None,
    version_suffix: str = "",
    into: Path = DEBS,
) -> list[Path]:
    """Build one source package (unless its inputs are unchanged); its .debs in `into`
    (out/debs unless told). `version_suffix` follows the git-derived version (the
    keyring's key generation).

    `extra` maps paths inside the package to generated files copied in before the build
    (the archive keyring's public key, which lives outside the tree).
    """
    extra = extra or {}
    files = tracked_files(package)
    digest = inputs_digest(files, extra)
    stamped = version(package, digest) + version_suffix
    workdir = BUILD / package.name
    stamp = workdir / "inputs.sha256"
    previous = [deb for binary in package.binaries
                for deb in into.glob(f"{binary}_{stamped}_*.deb")]
    dsc = into / f"{package.name}_{stamped}.dsc"
    complete = len(previous) == len(package.binaries) and dsc.exists()
    if not force and complete and stamp.exists() and stamp.read_text() == digest:
        return previous
    shutil.rmtree(workdir, ignore_errors=True)
    src = workdir / package.name
    for name in files:
        target = src / Path(name).relative_to(package.path.relative_to(TOP))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TOP / name, target)
    for name, path in extra.items():
        shutil.copy2(path, src / name)
    epoch = git.source_date_epoch()
    stamp_changelog(src / "debian" / "changelog", package, stamped, epoch)
    # The system PATH: Debian tools and Debian's python3, whatever the caller's PATH holds.
    env = {"SOURCE_DATE_EPOCH": str(epoch), "DEB_BUILD_OPTIONS": "nocheck", "LC_ALL": "C.UTF-8",
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if run(["dpkg-checkbuilddeps"], cwd=src, check=False).returncode != 0:
        run(["apt-get", "build-dep", "-y", "-q", "./"], cwd=src,
            env={"DEBIAN_FRONTEND": "noninteractive"}, capture=not progress)
    try:
        # Source and binaries: the GPL asks for the one with the other.
        run(["dpkg-buildpackage", "-uc", "-us"], cwd=src, env=env, capture=not progress)
    except CommandError as error:
        raise PackageError(f"{package.name}: dpkg-buildpackage failed in {src}\n{error}") from None
    changes = next(workdir.glob("*.changes"))
    run([*LINTIAN, changes], cwd=workdir)
    into.mkdir(parents=True, exist_ok=True)
    built = []
    for deb in sorted(workdir.glob("*.deb")):
        for old in into.glob(f"{deb.name.split('_', 1)[0]}_*.deb"):
            old.unlink()  # out/debs holds the newest build of each binary package
        built.append(Path(shutil.copy2(deb, into / deb.name)))
    keep_source(next(workdir.glob("*.dsc")), into)
    stamp.write_text(digest)
    return built
