"""Patched Debian packages: a pinned Debian source package plus the project's patch series.

Each `packages/<name>/patched.toml` declares one (see `SETTINGS`); its quilt series lives
in `packages/<name>/patches/` (`series` plus the patch files). The build:

1. fetch   `apt-get source --download-only SOURCE=VERSION` with a private apt
           configuration whose only entries are deb-src copies of the host's Debian
           entries (the host's own apt configuration is never changed);
2. patch   `dpkg-source -x`, the project's patches appended to debian/patches/series
           under homeguy/, pushed one by one with `quilt push --fuzz=0`: a patch that no
           longer applies stops the build with its file named; the recipe's own
           autopkgtests (`packages/<name>/debian/tests/`) added beside Debian's (its
           `control` appended to Debian's debian/tests/control, its scripts copied);
3. version a changelog entry VERSION+SUFFIX, dated SOURCE_DATE_EPOCH;
4. build   `dpkg-buildpackage -b` (build dependencies from `apt-get build-dep`);
5. source  `dpkg-source -b` on the same patched tree: the modified source package
           (.dsc, Debian's orig tarball, our debian.tar.xz) that the GPL asks us to
           offer beside the binaries (`apt-get source` from our repository);
6. publish the binary packages the recipe lists and the source package are copied to
           out/debs.

Downloads, work trees and results are cached outside the checkout (`CACHE`,
$HOMEGUY_PATCHED_CACHE overrides it), results keyed by the hash of every input: the
recipe's build settings, the series and its patches, the added tests, the date and
BUILDER_VERSION. Unchanged inputs
are never rebuilt. Planning (parsing, hashing, the changelog entry) is pure; the shell
functions below it run the commands.
"""

from __future__ import annotations

import fcntl
import filecmp
import hashlib
import os
import shutil
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from debian.changelog import Changelog

from homeguy import mirror
from homeguy.git import TOP, git
from homeguy.packages import DEBS, MAINTAINER, PACKAGES, keep_source
from homeguy.run import CommandError, run

CACHE = Path(os.environ.get("HOMEGUY_PATCHED_CACHE", "/var/cache/homeguy/patched"))
RECIPE = "patched.toml"
# Where the project's patches go inside debian/patches/, after Debian's own.
PATCH_DIR = "homeguy"
# The recipe's autopkgtests, in the recipe's folder and in the source package alike.
TESTS_DIR = Path("debian/tests")
# Bump when a change to this module changes what it builds: every cached result is stale.
BUILDER_VERSION = 1
# Debian's tools and Debian's python3 whatever the caller's PATH holds (as packages.py).
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

# The recipe's keys: (key, type, required, what it means). Drives parsing and its errors.
SETTINGS: tuple[tuple[str, type, bool, str], ...] = (
    ("source", str, True, "Debian source package name, as `apt-get source` takes it"),
    ("version", str, True, "the pinned Debian version of that source"),
    ("suffix", str, True, "local version suffix, e.g. +homeguy1; bump it with every change"),
    ("publish", list, True, "binary packages copied to out/debs and the repository"),
    ("summary", str, False, "one line for the changelog entry"),
    ("build_options", str, False, "DEB_BUILD_OPTIONS (default: nocheck noddebs)"),
)


class PatchedError(RuntimeError):
    """A recipe, patch or build problem, worded for the person who has to fix it."""


@dataclass(frozen=True)
class Recipe:
    name: str  # the folder under packages/
    path: Path
    source: str
    version: str
    suffix: str
    publish: tuple[str, ...]
    summary: str = "Homeguy build with the project's patch series."
    build_options: str = "nocheck noddebs"

    @property
    def local_version(self) -> str:
        return self.version + self.suffix

    @property
    def upstream_version(self) -> str:
        """The orig tarball's version: no epoch, no Debian revision."""
        without_epoch = self.version.rpartition(":")[2]
        return without_epoch.rpartition("-")[0] or without_epoch


def parse_recipe(text: str, path: Path) -> Recipe:
    """A recipe from its TOML text; every problem names the file and the key."""
    where = path / RECIPE
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PatchedError(f"{where}: not valid TOML: {exc}") from None
    known = {key for key, *_ in SETTINGS}
    if unknown := sorted(set(data) - known):
        raise PatchedError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                           f"known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key, kind, required, meaning in SETTINGS:
        if key not in data:
            if required:
                raise PatchedError(f"{where}: missing `{key}` ({meaning})")
            continue
        value: Any = data[key]
        if not isinstance(value, kind) or (isinstance(value, list) and not all(
                isinstance(v, str) for v in value)):
            raise PatchedError(f"{where}: `{key}` must be a {kind.__name__} ({meaning})")
        values[key] = tuple(value) if isinstance(value, list) else value
    if not values["suffix"].startswith("+"):
        raise PatchedError(f"{where}: `suffix` must start with '+' so that it sorts after "
                           f"{values['version']}: got {values['suffix']!r}")
    return Recipe(name=path.name, path=path, **values)


def parse_series(text: str) -> list[str]:
    """Patch names of a quilt series file: comments, blank lines and -pN options dropped."""
    names = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            names.append(words[0])
    return names


def inputs_digest(files: Mapping[str, bytes], epoch: int) -> str:
    """The hash of a build's inputs: named file contents (recipe, series, patches, builder
    code) and the changelog date."""
    digest = hashlib.sha256(f"epoch={epoch}\0".encode())
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def changelog_entry(changelog_text: str, recipe: Recipe, patches: list[str], epoch: int,
                    tests: Sequence[str] = ()) -> str:
    """The Debian changelog with the local version's entry on top, dated `epoch`: the
    patches and the added test scripts listed."""
    changelog = Changelog(changelog_text)
    changelog.new_block(
        package=recipe.source,
        version=recipe.local_version,
        distributions=changelog.distributions,
        urgency="medium",
        author=MAINTAINER,
        date=format_datetime(datetime.fromtimestamp(epoch, UTC)),
        changes=["", f"  * {recipe.summary}",
                 *(f"    - debian/patches/{PATCH_DIR}/{name}" for name in patches),
                 *(f"    - {TESTS_DIR}/{name}" for name in tests), ""],
    )
    return str(changelog)


def tests_control(debian: str, ours: str, debian_names: set[str], ours_names: list[str],
                  where: Path) -> str:
    """Debian's debian/tests/control with the recipe's stanzas appended (`ours`, from
    `where`); a script of ours named like one of Debian's would replace it: an error."""
    if clash := sorted(debian_names & set(ours_names)):
        raise PatchedError(f"{where}: {', '.join(clash)} already in Debian's {TESTS_DIR}: "
                           "give the project's test another name")
    head = debian.rstrip("\n") + "\n\n" if debian.strip() else ""
    return f"{head}# Added by Homeguy ({PATCH_DIR}):\n{ours.lstrip()}"


def deb_src_sources(entries: list[mirror.SourceEntry], codename: str) -> str:
    """deb822 deb-src entries copying the URIs, suites and components of the binary
    entries that serve `codename` (bookworm, bookworm-updates, bookworm-security...)."""
    wanted = [e for e in entries
              if "deb" in e.types and any(s.split("-")[0] == codename for s in e.suites)]
    if not wanted:
        mirror.pick_mirror([], codename)  # raises the mirror module's actionable error
    return "\n".join(f"Types: deb-src\nURIs: {e.uris[0]}\nSuites: {' '.join(e.suites)}\n"
                     f"Components: {' '.join(e.components)}\n" for e in wanted)


def deb_package(deb: Path) -> str:
    """The binary package name of a .deb file named NAME_VERSION_ARCH.deb."""
    return deb.name.split("_", 1)[0]


# ---- the shell: everything below runs commands or touches files ----------------------


def recipes() -> list[Recipe]:
    return [parse_recipe(path.read_text(), path.parent)
            for path in sorted(PACKAGES.glob(f"*/{RECIPE}"))]


def read_inputs(recipe: Recipe) -> tuple[list[str], dict[str, bytes]]:
    """The series' patch names and every input file's bytes, keyed by a stable name."""
    patches_dir = recipe.path / "patches"
    series_file = patches_dir / "series"
    series = parse_series(series_file.read_text()) if series_file.exists() else []
    # What changes the built .debs; `publish` only picks among them.
    declared = (recipe.source, recipe.version, recipe.suffix, recipe.summary,
                recipe.build_options, f"builder-{BUILDER_VERSION}")
    files = {RECIPE: "\0".join(declared).encode()}
    if series_file.exists():
        files["patches/series"] = series_file.read_bytes()
    for name in series:
        patch = patches_dir / name
        if not patch.is_file():
            raise PatchedError(f"{series_file}: lists {name}, but {patch} does not exist")
        files[f"patches/{name}"] = patch.read_bytes()
    for path in test_files(recipe):
        files[f"{TESTS_DIR}/{path.name}"] = path.read_bytes()
    return series, files


def test_files(recipe: Recipe) -> list[Path]:
    """The recipe's autopkgtest files (`control` and the scripts it names), if any."""
    folder = recipe.path / TESTS_DIR
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def add_tests(recipe: Recipe, tree: Path) -> list[str]:
    """The recipe's autopkgtests added to the unpacked source `tree`; their script names."""
    ours = {path.name: path for path in test_files(recipe)}
    if not ours:
        return []
    where = recipe.path / TESTS_DIR
    if "control" not in ours:
        raise PatchedError(f"{where}: no control file declaring its tests")
    target = tree / TESTS_DIR
    target.mkdir(parents=True, exist_ok=True)
    control = target / "control"
    scripts = sorted(set(ours) - {"control"})
    control.write_text(tests_control(
        control.read_text() if control.exists() else "", ours["control"].read_text(),
        {p.name for p in target.iterdir()}, scripts, where))
    for name in scripts:
        shutil.copy2(ours[name], target / name)  # keeps the executable bit
    return scripts


def source_date_epoch(recipe: Recipe) -> int:
    """$SOURCE_DATE_EPOCH, else the last commit touching the recipe, its patches or its
    tests (HEAD's while they have none): the same for the same inputs, whatever else
    changes."""
    if value := os.environ.get("SOURCE_DATE_EPOCH"):
        return int(value)
    inputs = [str(p.relative_to(TOP)) for p in (recipe.path / RECIPE, recipe.path / "patches",
                                                recipe.path / TESTS_DIR)
              if p.is_relative_to(TOP) and p.exists()]
    for paths in (["--", *inputs], []):
        out = git("log", "-1", "--format=%ct", *paths)
        if out:
            return int(out)
    raise PatchedError(f"no commit to date {recipe.name} by; set SOURCE_DATE_EPOCH")


def apt_config(cache: Path, codename: str) -> Path:
    """A private apt configuration whose sources are deb-src copies of the host's Debian
    entries for `codename` (or $HOMEGUY_MIRROR), with its own lists and caches."""
    apt = cache / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "sources.list.d"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    if override := os.environ.get(mirror.OVERRIDE):
        entries = [mirror.SourceEntry(("deb",), (override,), (codename,), ("main",), "$"
                                      + mirror.OVERRIDE)]
    else:
        entries = mirror.host_entries()
    sources = deb_src_sources(entries, codename)
    (apt / "sources.list.d" / "debian-src.sources").write_text(sources)
    (apt / "sources.list").write_text("")
    config = apt / "apt.conf"
    config.write_text(
        f'Dir::Etc::sourcelist "{apt}/sources.list";\n'
        f'Dir::Etc::sourceparts "{apt}/sources.list.d";\n'
        f'Dir::State::Lists "{apt}/lists";\n'
        f'Dir::Cache "{apt}/cache";\n'
        'APT::Sandbox::User "root";\n'  # the download dirs belong to root, not _apt
    )
    return config


def fetch(recipe: Recipe, cache: Path, say: Callable[[str], None]) -> Path:
    """The source package's .dsc, downloaded once into the cache."""
    target = cache / "sources" / f"{recipe.source}_{recipe.version}"
    dsc = target / f"{recipe.source}_{recipe.version.rpartition(':')[2]}.dsc"
    if dsc.exists():
        return dsc
    say(f"fetch   {recipe.source} {recipe.version} (apt-get source)")
    env = {"APT_CONFIG": str(apt_config(cache, mirror.host_codename()))}
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    get = ["apt-get", "source", "-q", "--download-only", f"{recipe.source}={recipe.version}"]
    if run(get, cwd=partial, env=env, check=False).returncode != 0:
        run(["apt-get", "update", "-q"], env=env)
        try:
            run(get, cwd=partial, env=env)
        except CommandError as exc:
            raise PatchedError(f"{recipe.path / RECIPE}: cannot fetch source {recipe.source} "
                               f"version {recipe.version} from the host's Debian mirror "
                               f"(is the version still there?)\n{exc}") from None
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return dsc


def apply_patches(recipe: Recipe, tree: Path, series: list[str]) -> None:
    """Append the project's patches to the Debian series and push them one by one."""
    debian_patches = tree / "debian" / "patches"
    (debian_patches / PATCH_DIR).mkdir(parents=True, exist_ok=True)
    with open(debian_patches / "series", "a") as out:
        for name in series:
            shutil.copyfile(recipe.path / "patches" / name, debian_patches / PATCH_DIR / name)
            out.write(f"{PATCH_DIR}/{name}\n")
    env = {"QUILT_PATCHES": "debian/patches", "QUILT_PC": ".pc", "PATH": SYSTEM_PATH}
    for name in series:
        # --fuzz=0: dpkg-source rejects fuzz, and a patch that needs it must be refreshed.
        result = run(["quilt", "push", "--fuzz=0"], cwd=tree, env=env, check=False)
        if result.returncode != 0:
            raise PatchedError(
                f"{recipe.path / 'patches' / name} no longer applies to {recipe.source} "
                f"{recipe.version}: refresh it (quilt refresh) or drop it from the series\n"
                + (result.stdout + result.stderr).strip())


def build(recipe: Recipe, say: Callable[[str], None] = print, force: bool = False,
          cache: Path = CACHE, debs: Path = DEBS) -> list[Path]:
    """Build (or take from the cache) the recipe's packages; its published .debs in `debs`,
    its source package beside them."""
    keep_source(ensure_source(recipe, say, cache), debs)
    result = ensure_built(recipe, say, force, cache)
    wanted = [deb for deb in sorted(result.glob("*.deb")) if deb_package(deb) in recipe.publish]
    debs.mkdir(parents=True, exist_ok=True)
    published = []
    for deb in wanted:
        target = debs / deb.name
        if not (target.exists() and filecmp.cmp(deb, target, shallow=False)):
            for old in debs.glob(f"{deb_package(deb)}_*.deb"):
                old.unlink()  # out/debs holds the newest build of each binary package
            shutil.copy2(deb, target)
        published.append(target)
    return published


def ensure_built(recipe: Recipe, say: Callable[[str], None] = print, force: bool = False,
                 cache: Path = CACHE) -> Path:
    """The cache directory holding every .deb the recipe's inputs build, built if needed."""
    series, files = read_inputs(recipe)
    epoch = source_date_epoch(recipe)
    digest = inputs_digest(files, epoch)
    result = cache / "results" / recipe.name / digest
    result.parent.mkdir(parents=True, exist_ok=True)
    # One build of a recipe at a time (make and a test session may race): the second
    # waits, then finds the first one's result.
    with open(result.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not (result / "complete").exists():
            build_into(recipe, series, epoch, cache, result, say)
        else:
            say(f"cached  {recipe.name} {recipe.local_version} ({digest[:12]})")
    return result


def patched_tree(recipe: Recipe, series: list[str], epoch: int, cache: Path, work: Path,
                 say: Callable[[str], None]) -> Path:
    """Debian's source unpacked in `work` (emptied first), the series pushed, the local
    version's changelog entry on top; the tree."""
    dsc = fetch(recipe, cache, say)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tree = work / f"{recipe.source}-{recipe.upstream_version}"
    say(f"patch   {len(series)} project patch(es) on {dsc.name}")
    run(["dpkg-source", "--no-check", "-x", dsc, tree])  # apt checked it against Sources
    apply_patches(recipe, tree, series)
    tests = add_tests(recipe, tree)
    changelog = tree / "debian" / "changelog"
    changelog.write_text(changelog_entry(changelog.read_text(), recipe, series, epoch, tests))
    return tree


def ensure_source(recipe: Recipe, say: Callable[[str], None] = print,
                  cache: Path = CACHE) -> Path:
    """The .dsc of the patched source package (beside it, the files it lists), made by
    `dpkg-source -b` once per set of inputs (seconds: nothing is compiled)."""
    series, files = read_inputs(recipe)
    epoch = source_date_epoch(recipe)
    result = cache / "source-packages" / recipe.name / inputs_digest(files, epoch)
    dsc = result / f"{recipe.source}_{recipe.local_version.rpartition(':')[2]}.dsc"
    result.parent.mkdir(parents=True, exist_ok=True)
    with open(result.parent / ".lock", "w") as lock:  # as ensure_built: one at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not dsc.exists():
            source_into(recipe, series, epoch, cache, result, say)
    return dsc


def source_into(recipe: Recipe, series: list[str], epoch: int, cache: Path, result: Path,
                say: Callable[[str], None]) -> None:
    work = cache / "work" / f"{recipe.name}.source"
    tree = patched_tree(recipe, series, epoch, cache, work, say)
    # dpkg-source -b takes Debian's orig tarball (and its signature) from beside the tree.
    fetched = fetch(recipe, cache, say).parent
    for orig in fetched.glob(f"{recipe.source}_{recipe.upstream_version}.orig*"):
        shutil.copy2(orig, work / orig.name)
    say(f"source  dpkg-source -b {recipe.source} {recipe.local_version}")
    run(["dpkg-source", "-b", tree.name], cwd=work,
        env={"SOURCE_DATE_EPOCH": str(epoch), "LC_ALL": "C.UTF-8", "PATH": SYSTEM_PATH})
    made = next(work.glob("*.dsc"))
    partial = result.with_name(result.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    keep_source(made, partial)
    shutil.rmtree(result, ignore_errors=True)
    partial.rename(result)
    shutil.rmtree(work)


def build_into(recipe: Recipe, series: list[str], epoch: int, cache: Path, result: Path,
               say: Callable[[str], None]) -> None:
    work = cache / "work" / recipe.name
    tree = patched_tree(recipe, series, epoch, cache, work, say)
    env = {"SOURCE_DATE_EPOCH": str(epoch), "LC_ALL": "C.UTF-8", "PATH": SYSTEM_PATH,
           "DEB_BUILD_OPTIONS": f"{recipe.build_options} parallel={os.cpu_count() or 1}"}
    if run(["dpkg-checkbuilddeps"], cwd=tree, check=False).returncode != 0:
        say(f"deps    apt-get build-dep {recipe.source}")
        run(["apt-get", "build-dep", "-y", "-q", "./"], cwd=tree,
            env={"DEBIAN_FRONTEND": "noninteractive"})
    say(f"build   dpkg-buildpackage {recipe.source} {recipe.local_version} "
        f"(minutes; log in {work}/build.log)")
    log = work / "build.log"
    status = run(["dpkg-buildpackage", "-b", "-uc", "-us"], cwd=tree, env=env, check=False)
    log.write_text(status.stdout + status.stderr)
    if status.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise PatchedError(f"{recipe.name}: dpkg-buildpackage failed; full log {log}\n{tail}")
    built = sorted(work.glob("*.deb"))
    if missing := sorted(set(recipe.publish) - {deb_package(deb) for deb in built}):
        raise PatchedError(f"{recipe.path / RECIPE}: `publish` names packages the source "
                           f"did not build: {', '.join(missing)}")
    partial = result.with_name(result.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for deb in built:
        shutil.copy2(deb, partial / deb.name)
    (partial / "complete").write_text("\n".join(deb.name for deb in built) + "\n")
    shutil.rmtree(result, ignore_errors=True)
    partial.rename(result)
    shutil.rmtree(work)  # hundreds of MB; the result and the downloaded source stay
