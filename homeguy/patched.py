"""Patched Debian packages: Debian's newest source package plus the project's patch series.

Each `packages/<name>/patched.toml` declares one (see `SETTINGS`); its quilt series lives
in `packages/<name>/patches/` (`series` plus the patch files). The build follows Debian:
no version is written in the recipe.

0. follow  with a private apt configuration whose only entries are copies (deb and
           deb-src) of the host's Debian entries for the suite (point and security
           updates included; the host's own apt configuration is never changed):
           `apt-get update`, the source versions Debian publishes (`apt-cache showsrc`)
           and Debian's binary candidate of the published packages (`apt-cache policy`);
           the newest source that can be fetched and patched is built, VERSION+SUFFIX;
           when Debian's binary candidate sorts above that build (a newer source that
           cannot be fetched, or the series no longer applies to it), the build says so
           loudly (`Follow.report`): Homeguy's build is published without any pin, so
           apt installs Debian's newer build (see packages/strongswan-mip6/README.md);
1. fetch   `apt-get source --download-only SOURCE=VERSION`;
2. patch   `dpkg-source -x`, the project's patches appended to debian/patches/series
           under homeguy/, pushed one by one with `quilt push --fuzz=0`: a patch that no
           longer applies is named (the next older Debian version is tried; with none
           left, the build stops); the recipe's own autopkgtests
           (`packages/<name>/debian/tests/`) added beside Debian's (its `control`
           appended to Debian's debian/tests/control, its scripts copied; a Debian
           version that already has a test of that name is passed over the same way);
3. version a changelog entry VERSION+SUFFIX, dated SOURCE_DATE_EPOCH;
4. build   `dpkg-buildpackage -b` (build dependencies from `apt-get build-dep`);
5. source  `dpkg-source -b` on the same patched tree: the modified source package
           (.dsc, Debian's orig tarball, our debian.tar.xz) that the GPL asks us to
           offer beside the binaries (`apt-get source` from our repository);
6. publish the binary packages the recipe lists and the source package are copied to
           out/debs.

Downloads, work trees and results are cached outside the checkout (`CACHE`,
$HOMEGUY_PATCHED_CACHE overrides it), results keyed by the hash of every input: the
recipe's build settings, the Debian version, the series and its patches, the added
tests, the date and BUILDER_VERSION. Unchanged inputs
are never rebuilt. Planning (parsing, hashing, the changelog entry) is pure; the shell
functions below it run the commands.
"""

from __future__ import annotations

import dataclasses
import fcntl
import filecmp
import functools
import hashlib
import os
import shutil
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from debian.changelog import Changelog
from debian.deb822 import Deb822
from debian.debian_support import version_compare

from homeguy import mirror
from homeguy.files import exclusive
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
    ("source", str, True, "Debian source package name, as `apt-get source` takes it "
     "(its newest version in the host's suite is built)"),
    ("suffix", str, True, "local version suffix, e.g. +homeguy1; bump it when the series or "
     "the tests change (a new Debian version needs none), never lower it"),
    ("publish", list, True, "binary packages copied to out/debs and the repository"),
    ("summary", str, False, "one line for the changelog entry"),
    ("build_options", str, False, "DEB_BUILD_OPTIONS (default: nocheck noddebs)"),
)


class PatchedError(RuntimeError):
    """A recipe, patch or build problem, worded for the person who has to fix it."""


class UnbuildableError(PatchedError):
    """This Debian version cannot be built on: its source cannot be fetched, or the
    series does not apply to it. An older version may still be."""


@dataclass(frozen=True)
class Recipe:
    name: str  # the folder under packages/
    path: Path
    source: str
    suffix: str
    publish: tuple[str, ...]
    summary: str = "Homeguy build with the project's patch series."
    build_options: str = "nocheck noddebs"
    # The Debian version of `source` to build on: not in the recipe, found by `follow`
    # (`at`); empty until then.
    version: str = ""

    def at(self, version: str) -> Recipe:
        return dataclasses.replace(self, version=version)

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
    if "version" in data:
        raise PatchedError(f"{where}: `version` is no longer set: the builder follows Debian "
                           "(the newest source of the suite); remove the line")
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
                           f"Debian's version: got {values['suffix']!r}")
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
    `where`); a script of ours named like one of Debian's would replace it: that Debian
    version cannot be built on (an older one may be)."""
    if clash := sorted(debian_names & set(ours_names)):
        raise UnbuildableError(f"{where}: {', '.join(clash)} already in Debian's "
                               f"{TESTS_DIR}: give the project's test another name")
    head = debian.rstrip("\n") + "\n\n" if debian.strip() else ""
    return f"{head}# Added by Homeguy ({PATCH_DIR}):\n{ours.lstrip()}"


def debian_sources(entries: list[mirror.SourceEntry], codename: str) -> str:
    """deb822 entries, binaries and sources, copying the URIs, suites, components and
    Signed-By of the binary entries that serve `codename` (bookworm, bookworm-updates,
    bookworm-security...)."""
    wanted = [e for e in entries
              if "deb" in e.types and any(s.split("-")[0] == codename for s in e.suites)]
    if not wanted:
        mirror.pick_mirror([], codename)  # raises the mirror module's actionable error
    return "\n".join(f"Types: deb deb-src\nURIs: {e.uris[0]}\nSuites: {' '.join(e.suites)}\n"
                     f"Components: {' '.join(e.components)}\n" + signed_by_field(e.signed_by)
                     for e in wanted)


def signed_by_field(value: str) -> str:
    """A deb822 Signed-By field: a keyring path, or an embedded key folded (sources.list(5))."""
    lines = [line.strip() for line in value.strip().splitlines()]
    if len(lines) <= 1:
        return f"Signed-By: {lines[0]}\n" if lines else ""
    return "Signed-By:\n" + "".join(f" {line or '.'}\n" for line in lines)


def newest_first(versions: list[str]) -> list[str]:
    """Debian versions, newest first, each once."""
    return sorted(set(versions), key=functools.cmp_to_key(version_compare), reverse=True)


def parse_showsrc(text: str, source: str) -> list[str]:
    """The versions of `source` in `apt-cache showsrc` output (its Sources records)."""
    return [p["Version"] for p in Deb822.iter_paragraphs(text)
            if p.get("Package") == source and "Version" in p]


def parse_candidates(text: str) -> dict[str, str]:
    """Package -> candidate version from `apt-cache policy NAME...` output; packages
    without a candidate are left out."""
    candidates: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            name = line[:-1]
        elif line.strip().startswith("Candidate:") and name:
            value = line.split(":", 1)[1].strip()
            if value != "(none)":
                candidates[name] = value
    return candidates


@dataclass(frozen=True)
class Follow:
    """What the builder does with Debian's state: the recipe at the Debian version it
    builds on (`recipe.version`), Debian's binary candidate, and the newer Debian source
    versions it had to pass over, with why."""

    recipe: Recipe
    candidate: str | None  # Debian's newest binary candidate among `publish`
    passed_over: tuple[tuple[str, str], ...] = ()  # (version, why)

    @property
    def overtaken(self) -> bool:
        """Debian's build sorts above ours: apt installs Debian's, without the series."""
        return (self.candidate is not None
                and version_compare(self.candidate, self.recipe.local_version) > 0)

    def report(self) -> list[str]:
        """What the build says: one line when it follows Debian, a loud block when
        Debian has overtaken what can be built."""
        ours = f"{self.recipe.source} {self.recipe.local_version}"
        if not self.overtaken:
            return [f"follow  {ours}: on Debian's newest source {self.recipe.version} "
                    f"(Debian's binary candidate: {self.candidate or 'none'})"]
        why = [f"    {version}: {reason.splitlines()[0]}" for version, reason in self.passed_over]
        return [
            "!" * 78,
            f"!!! DEBIAN'S {self.recipe.source.upper()} {self.candidate} IS NEWER THAN WHAT "
            "HOMEGUY CAN BUILD",
            f"!!! Homeguy builds {ours} (the project's patches on Debian's "
            f"{self.recipe.version}); newer Debian sources could not be built on:",
            *(why or [f"    {self.candidate}: no source of that version is published"]),
            "!!! What happens: Homeguy's build is published without any pin, so apt installs",
            f"!!! Debian's {self.candidate} (its security fixes) and not Homeguy's; the",
            "!!! packages' README says what needs the patches and what does not.",
            f"!!! To fix: build on {self.candidate} when its source is served (rerun make), or",
            f"!!! refresh the series in {self.recipe.path / 'patches'} (quilt refresh).",
            "!" * 78,
        ]


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


def apt_config(cache: Path, codename: str,
               debian: list[mirror.SourceEntry] | None = None) -> Path:
    """A private apt configuration whose sources are copies of the host's Debian entries
    for `codename` (or $HOMEGUY_MIRROR, or `debian`), with its own lists, caches and (no)
    preferences: Debian's candidate, whatever the host pins."""
    apt = cache / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "sources.list.d",
                "preferences.d"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    if debian is not None:
        entries = debian
    elif override := os.environ.get(mirror.OVERRIDE):
        entries = [mirror.SourceEntry(("deb",), (override,), (codename,), ("main",), "$"
                                      + mirror.OVERRIDE)]
    else:
        entries = mirror.host_entries()
    sources = debian_sources(entries, codename)
    # The name of this file while only sources were fetched (nothing followed).
    (apt / "sources.list.d" / "debian-src.sources").unlink(missing_ok=True)
    (apt / "sources.list.d" / "debian.sources").write_text(sources)
    (apt / "sources.list").write_text("")
    config = apt / "apt.conf"
    config.write_text(
        f'Dir::Etc::sourcelist "{apt}/sources.list";\n'
        f'Dir::Etc::sourceparts "{apt}/sources.list.d";\n'
        f'Dir::Etc::preferences "{apt}/preferences";\n'
        f'Dir::Etc::preferencesparts "{apt}/preferences.d";\n'
        f'Dir::State::Lists "{apt}/lists";\n'
        f'Dir::Cache "{apt}/cache";\n'
        'APT::Sandbox::User "root";\n'  # the download dirs belong to root, not _apt
    )
    return config


@contextmanager
def private_apt(cache: Path, debian: list[mirror.SourceEntry] | None) -> Iterator[dict[str, str]]:
    """The environment that points apt at the private configuration, held by one process
    at a time (make and a lab session may share the cache; apt refuses a locked list)."""
    with exclusive(cache / "apt.lock", lambda: None):
        yield {"APT_CONFIG": str(apt_config(cache, mirror.host_codename(), debian))}


def follow(recipe: Recipe, cache: Path = CACHE, say: Callable[[str], None] = print,
           debian: list[mirror.SourceEntry] | None = None) -> tuple[list[str], str | None]:
    """What Debian publishes now for the recipe (after `apt-get update`): its source
    versions, newest first, and the newest binary candidate among `publish`."""
    say(f"follow  apt-get update; apt-cache showsrc {recipe.source}")
    with private_apt(cache, debian) as env:
        update = run(["apt-get", "update", "-q"], env=env, check=False)
        if update.returncode != 0:  # offline: what the last update saw, said plainly
            say(f"follow  apt-get update failed, using the lists of the last update:\n"
                f"{(update.stdout + update.stderr).strip()}")
        shown = run(["apt-cache", "showsrc", "-q", recipe.source], env=env, check=False)
        policy = run(["apt-cache", "policy", *recipe.publish], env=env).stdout
    versions = newest_first(parse_showsrc(shown.stdout, recipe.source))
    if not versions:
        raise PatchedError(f"{recipe.path / RECIPE}: Debian publishes no source package "
                           f"{recipe.source} for {mirror.host_codename()} (apt-cache showsrc: "
                           f"{(shown.stdout + shown.stderr).strip() or 'nothing'})")
    candidates = list(parse_candidates(policy).values())
    return versions, (newest_first(candidates)[0] if candidates else None)


def fetch(recipe: Recipe, cache: Path, say: Callable[[str], None],
          debian: list[mirror.SourceEntry] | None = None) -> Path:
    """The source package's .dsc, downloaded once into the cache."""
    target = cache / "sources" / f"{recipe.source}_{recipe.version}"
    dsc = target / f"{recipe.source}_{recipe.version.rpartition(':')[2]}.dsc"
    if dsc.exists():
        return dsc
    say(f"fetch   {recipe.source} {recipe.version} (apt-get source)")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    get = ["apt-get", "source", "-q", "--download-only", f"{recipe.source}={recipe.version}"]
    try:
        with private_apt(cache, debian) as env:
            run(get, cwd=partial, env=env)
    except CommandError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise UnbuildableError(f"its source cannot be fetched from the host's Debian mirror "
                               f"(apt-get source {recipe.source}={recipe.version} failed)\n"
                               f"{exc}") from None
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
            raise UnbuildableError(
                f"{recipe.path / 'patches' / name} no longer applies to {recipe.source} "
                f"{recipe.version}: refresh it (quilt refresh) or drop it from the series\n"
                + (result.stdout + result.stderr).strip())


def build(recipe: Recipe, say: Callable[[str], None] = print, force: bool = False,
          cache: Path = CACHE, debs: Path = DEBS,
          debian: list[mirror.SourceEntry] | None = None) -> list[Path]:
    """Build (or take from the cache) the recipe on Debian's newest source it can be
    built on; its published .debs in `debs`, its source package beside them. Says what
    it did (`Follow.report`), loudly when Debian's candidate is newer than that build.
    `debian` replaces the host's Debian entries (tests)."""
    outcome = build_newest(recipe, say, force, cache, debian)
    for line in outcome.report():
        say(line)
    built = outcome.recipe
    keep_source(ensure_source(built, say, cache, debian), debs)
    result = ensure_built(built, say, False, cache, debian)
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


def build_newest(recipe: Recipe, say: Callable[[str], None] = print, force: bool = False,
                 cache: Path = CACHE,
                 debian: list[mirror.SourceEntry] | None = None) -> Follow:
    """Follow Debian: the newest source version that can be fetched, patched and built
    (built, or found in the cache), Debian's binary candidate and the newer versions
    passed over. Raises when no version can be built on, with the newest one's reason."""
    versions, candidate = follow(recipe, cache, say, debian)
    passed_over: list[tuple[str, str]] = []
    for version in versions:
        try:
            ensure_built(recipe.at(version), say, force, cache, debian)
        except UnbuildableError as exc:
            say(f"skip    {recipe.source} {version}: {str(exc).splitlines()[0]}")
            passed_over.append((version, str(exc)))
            continue
        return Follow(recipe.at(version), candidate, tuple(passed_over))
    raise PatchedError(passed_over[0][1])


def resolve(recipe: Recipe, cache: Path = CACHE, say: Callable[[str], None] = print) -> Recipe:
    """The recipe at the Debian version `build` builds on, without compiling: the newest
    source that can be fetched and patched, its patched source package made on the way
    (`ensure_source`, seconds): the kernel lab's and the tests' choice, as `make`'s."""
    versions, _ = follow(recipe, cache, say)
    passed_over: list[str] = []
    for version in versions:
        try:
            ensure_source(recipe.at(version), say, cache)
        except UnbuildableError as exc:
            passed_over.append(str(exc))
            continue
        return recipe.at(version)
    raise PatchedError(passed_over[0])


def ensure_built(recipe: Recipe, say: Callable[[str], None] = print, force: bool = False,
                 cache: Path = CACHE, debian: list[mirror.SourceEntry] | None = None) -> Path:
    """The cache directory holding every .deb the recipe's inputs build, built if needed."""
    series, files = read_inputs(recipe)
    epoch = source_date_epoch(recipe)
    digest = inputs_digest(files, epoch)
    result = cache / "results" / recipe.name / digest
    result.parent.mkdir(parents=True, exist_ok=True)
    if not force and (result / "complete").exists():  # renamed into place whole: no lock
        say(f"cached  {recipe.name} {recipe.local_version} ({digest[:12]})")
        return result
    # One build of a recipe at a time (make and a test session may race): the second
    # waits, then finds the first one's result.
    with open(result.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not (result / "complete").exists():
            build_into(recipe, series, epoch, cache, result, say, debian)
        else:
            say(f"cached  {recipe.name} {recipe.local_version} ({digest[:12]})")
    return result


def patched_tree(recipe: Recipe, series: list[str], epoch: int, cache: Path, work: Path,
                 say: Callable[[str], None],
                 debian: list[mirror.SourceEntry] | None = None) -> Path:
    """Debian's source unpacked in `work` (emptied first), the series pushed, the local
    version's changelog entry on top; the tree."""
    dsc = fetch(recipe, cache, say, debian)
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
                  cache: Path = CACHE, debian: list[mirror.SourceEntry] | None = None) -> Path:
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
            source_into(recipe, series, epoch, cache, result, say, debian)
    return dsc


def source_into(recipe: Recipe, series: list[str], epoch: int, cache: Path, result: Path,
                say: Callable[[str], None],
                debian: list[mirror.SourceEntry] | None = None) -> None:
    work = cache / "work" / f"{recipe.name}.source"
    tree = patched_tree(recipe, series, epoch, cache, work, say, debian)
    # dpkg-source -b takes Debian's orig tarball (and its signature) from beside the tree.
    fetched = fetch(recipe, cache, say, debian).parent
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
               say: Callable[[str], None],
               debian: list[mirror.SourceEntry] | None = None) -> None:
    work = cache / "work" / recipe.name
    tree = patched_tree(recipe, series, epoch, cache, work, say, debian)
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
