"""The pure core of a publish and of every other repository operation: from the state,
the configuration and the operation (new .debs and .dsc files, a removal, a copy between
suites, a snapshot or a rollback, new signing keys), decide every file to write and
delete, in the order clients may see them.

No I/O: the shell (publish.py) hashes the inputs, reads control files of .debs it has not
seen before, answers `exists` for a few paths, executes the plan and signs the Release
files. The order clients see (pool, then indices with their by-hash copies, then Release,
then deletions of what expired) is the order of the Plan's fields.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from homeguy.repo import compress
from homeguy.repo.config import SUITE_NAME, RepoConfig, Suite
from homeguy.repo.packages import (
    SOURCE,
    PackageRecord,
    index_entries,
    make_record,
    make_source_record,
)
from homeguy.repo.release import HASH_FIELDS, IndexFile, render_release
from homeguy.repo.state import ReleaseRecord, Snapshot, State


class PublishError(RuntimeError):
    """The publish cannot go ahead; str() says which file, why, and what to do."""


class ConflictError(PublishError):
    """Same package name, version and architecture as a published one, different bytes."""


@dataclass(frozen=True)
class Input:
    """An input .deb or .dsc as the shell found it. `control` (with `md5`) is set when the
    state does not know its SHA256 yet: the .deb's control file, or the .dsc's text (the
    shell has checked that the files it lists are next to it, with those hashes)."""

    path: str
    sha256: str
    size: int
    md5: str | None = None
    control: str | None = None

    @property
    def is_source(self) -> bool:
        return self.path.endswith(".dsc")


@dataclass(frozen=True)
class PoolCopy:
    source: str  # input file
    path: str  # under the repository root
    sha256: str


@dataclass(frozen=True)
class FileWrite:
    """An index file: written under each of `by_hash` first, then under `path`."""

    path: str
    data: bytes
    by_hash: tuple[str, ...]


@dataclass(frozen=True)
class ReleaseWrite:
    suite: str
    directory: str  # dists/<suite>
    release: bytes


@dataclass(frozen=True)
class Report:
    added: tuple[tuple[str, str], ...]  # (suite, "name version (arch)")
    unchanged: int  # inputs already published in every target suite
    dropped: tuple[tuple[str, str], ...]  # (suite, package) left out by keep_versions
    removed: tuple[tuple[str, str], ...]  # (suite, package) taken out by the operation
    rewritten: tuple[str, ...]  # index files written
    signed: tuple[str, ...]  # suites whose Release was written
    deleted: tuple[str, ...]  # expired by-hash and pool files


@dataclass(frozen=True)
class Plan:
    pool: tuple[PoolCopy, ...]
    indices: tuple[FileWrite, ...]
    releases: tuple[ReleaseWrite, ...]
    deletions: tuple[str, ...]
    state: State
    report: Report


def by_hash_paths(path: str, entry: IndexFile) -> tuple[str, ...]:
    """by-hash/<SHA256|SHA512>/<hex> beside the index file (apt's Acquire-By-Hash)."""
    directory = path.rpartition("/")[0]
    return tuple(f"{directory}/by-hash/{field}/{entry.digest(field)}" for field in HASH_FIELDS)


def conflict_message(path: str, new: PackageRecord, holder: str, old_sha256: str) -> str:
    return (
        f"{path}: refusing {new.describe()}: {holder} has the same name, version and "
        f"architecture with different content (SHA256 {old_sha256} there, {new.sha256} "
        f"here); publish the rebuild under a new version, for example {new.version}+b1"
    )


# (index name, what a record's architecture must be to be listed) of the binary and the
# source indices of each component: binary-<arch>/Packages and source/Sources.
def index_directories(config: RepoConfig, suite: Suite) -> list[tuple[str, str, str]]:
    """(component, architecture, directory under dists/<suite>/) of every index; the
    architecture `source` is the component's Sources index."""
    return [(component, arch, f"{component}/binary-{arch}" if arch != SOURCE
             else f"{component}/{SOURCE}")
            for component in config.components for arch in (*config.architectures, SOURCE)]


def index_name(arch: str) -> str:
    return "Sources" if arch == SOURCE else "Packages"


def in_index(record: PackageRecord, arch: str) -> bool:
    """binary-all lists Architecture: all; binary-<arch> lists <arch> and all; source
    lists the source packages."""
    if SOURCE in (arch, record.architecture):
        return record.architecture == arch
    return record.architecture in (arch, "all")


# --- the operations: what each one does to the suites -----------------------------------

@dataclass(frozen=True)
class Publish:
    """Add .debs and .dsc files to suites."""

    inputs: tuple[Input, ...]
    suites: tuple[str, ...]
    component: str


@dataclass(frozen=True)
class Remove:
    """Take packages (NAME or NAME=VERSION: binary and source of that name) out of a
    suite."""

    suite: str
    specs: tuple[str, ...]


@dataclass(frozen=True)
class Copy:
    """Copy packages from one suite to another (promote); no specs: all of the suite.
    NAME copies the newest version of each architecture, NAME=VERSION that version."""

    source: str
    target: str
    specs: tuple[str, ...] = ()


@dataclass(frozen=True)
class TakeSnapshot:
    """Remember what every suite holds under a name (its files stay in the pool)."""

    name: str


@dataclass(frozen=True)
class Rollback:
    """Make every suite hold what it held when the snapshot was taken."""

    name: str


@dataclass(frozen=True)
class DropSnapshot:
    name: str


@dataclass(frozen=True)
class Resign:
    """Sign every suite's Release again (the signing keys changed)."""


Operation = Publish | Remove | Copy | TakeSnapshot | Rollback | DropSnapshot | Resign


def parse_spec(spec: str) -> tuple[str, str | None]:
    """NAME or NAME=VERSION."""
    name, _, version = spec.partition("=")
    if not name:
        raise PublishError(f"{spec!r}: name a package, as NAME or NAME=VERSION")
    return name, version or None


def all_members(suites: Mapping[str, Mapping[str, Collection[str]]],
                snapshots: Mapping[str, Snapshot]) -> set[str]:
    """The SHA256 of every package a suite or a snapshot holds."""
    held = {sha for comps in suites.values() for m in comps.values() for sha in m}
    return held | {sha for snapshot in snapshots.values()
                   for comps in snapshot.suites.values() for m in comps.values() for sha in m}


class _Planner:
    """One operation's working set; `plan` is the interface."""

    def __init__(self, config: RepoConfig, state: State, now: int,
                 exists: Callable[[str], bool], compressor: compress.Compress) -> None:
        self.config = config
        self.state = state
        self.now = now
        self.exists = exists
        self.compress = compressor
        self.chunks: dict[str, tuple[str, ...]] = dict(state.chunks)
        self.records: dict[str, PackageRecord] = dict(state.packages)
        self.suites: dict[str, dict[str, list[str]]] = {
            s: {c: list(v) for c, v in comps.items()} for s, comps in state.suites.items()
        }
        for suite in config.suites:
            comps = self.suites.setdefault(suite.name, {})
            for component in config.components:
                comps.setdefault(component, [])
        self.snapshots: dict[str, Snapshot] = dict(state.snapshots)
        self.files: dict[str, IndexFile] = dict(state.files)
        self.retired: dict[str, int] = dict(state.retired)
        self.releases: dict[str, ReleaseRecord] = dict(state.releases)
        self.sources: dict[str, str] = {}  # SHA256 -> input file to copy into the pool
        self.added: list[tuple[str, str]] | None = None  # a publish's own order
        self.unchanged = 0
        self.resign = False

    # --- packages -------------------------------------------------------------------

    def admit(self, inputs: Iterable[Input], suites: tuple[str, ...], component: str) -> None:
        """Add the inputs to the suites; refuse conflicts."""
        by_identity = {r.identity: r for r in self.records.values()}
        by_pool = {path: r for r in self.records.values() for path in r.paths}
        file_sha = {path: sha for r in self.records.values() for path, sha in r.files}
        holders: dict[str, str] = {}  # sha256 -> where it came from, for messages
        added: list[tuple[str, str]] = []
        for item in sorted(inputs, key=lambda i: i.path):
            record = self.records.get(item.sha256)
            if record is None:
                record = self.new_record(item, component)
                if record.architecture not in (*self.config.architectures, "all", SOURCE):
                    raise PublishError(
                        f"{item.path}: architecture {record.architecture} is not published "
                        f"by this repository ({self.config.config_file}: architectures = "
                        f"{list(self.config.architectures)}); add it there or leave the "
                        "file out"
                    )
                known = by_identity.get(record.identity)
                if known is not None:
                    holder = holders.get(known.sha256, f"the repository ({known.pool})")
                    raise ConflictError(conflict_message(item.path, record, holder,
                                                         known.sha256))
                taken = by_pool.get(record.pool)
                if taken is not None:
                    raise ConflictError(
                        f"{item.path}: refusing {record.describe()}: its pool file "
                        f"{record.pool} is taken by {taken.describe()}; versions that "
                        "differ only in their epoch cannot share a repository"
                    )
                for path, sha in record.files:  # tarballs may be shared, never differ
                    if file_sha.setdefault(path, sha) != sha:
                        raise ConflictError(
                            f"{item.path}: refusing {record.describe()}: its file {path} "
                            f"differs from the one {by_pool[path].describe()} has in the "
                            "pool (same name, other content); rebuild it with the same "
                            "orig tarball or under a new upstream version")
                self.records[record.sha256] = record
                by_identity[record.identity] = record
                by_pool.update(dict.fromkeys(record.paths, record))
                holders[record.sha256] = item.path
            if item.sha256 not in self.state.packages or not all(
                    self.exists(path) for path in record.paths):
                self.sources.setdefault(item.sha256, item.path)
            fresh = False
            for suite in suites:
                comps = self.suites[suite]
                if not any(record.sha256 in members for members in comps.values()):
                    comps[component].append(record.sha256)
                    added.append((suite, record.describe()))
                    fresh = True
            self.unchanged += not fresh
        self.added = added

    def new_record(self, item: Input, component: str) -> PackageRecord:
        if item.control is None or item.md5 is None:
            raise AssertionError(f"{item.path}: the shell must read control data of new files")
        make = make_source_record if item.is_source else make_record
        return make(item.control, item.path, component, item.size, item.md5, item.sha256)

    def held(self, suite: str) -> list[tuple[str, PackageRecord]]:
        """(component, record) of every package in `suite`."""
        return [(component, self.records[sha])
                for component, members in self.suites[suite].items() for sha in members]

    def select(self, suite: str, spec: str, newest: bool) -> list[tuple[str, PackageRecord]]:
        """The packages of `suite` that `spec` names; NAME alone: every version, or with
        `newest` the newest of each architecture."""
        name, version = parse_spec(spec)
        found = [(c, r) for c, r in self.held(suite)
                 if r.name == name and version in (None, r.version)]
        if not found:
            names = sorted({r.name for _, r in self.held(suite)})
            raise PublishError(f"suite {suite!r} has no package {spec}; it holds: "
                               f"{', '.join(names) or 'nothing'}")
        if newest and version is None:
            best: dict[str, tuple[str, PackageRecord]] = {}
            for component, record in found:
                kept = best.get(record.architecture)
                if kept is None or record.debian_version > kept[1].debian_version:
                    best[record.architecture] = (component, record)
            found = list(best.values())
        return found

    def remove(self, suite: str, specs: tuple[str, ...]) -> None:
        self.check_suites((suite,))
        for spec in specs:
            for component, record in self.select(suite, spec, newest=False):
                self.suites[suite][component].remove(record.sha256)

    def copy(self, source: str, target: str, specs: tuple[str, ...]) -> None:
        self.check_suites((source, target))
        if source == target:
            raise PublishError(f"copy from {source!r} to itself; name another target suite")
        chosen = ([pair for spec in specs for pair in self.select(source, spec, newest=True)]
                  if specs else self.held(source))
        for component, record in chosen:
            comps = self.suites[target]
            if not any(record.sha256 in members for members in comps.values()):
                comps.setdefault(component, []).append(record.sha256)

    def take_snapshot(self, name: str) -> None:
        if not SUITE_NAME.fullmatch(name):
            raise PublishError(f"snapshot name {name!r} is not valid (letters, digits, '.', "
                               "'+', '_', '-')")
        if name in self.snapshots:
            raise PublishError(f"snapshot {name!r} exists already (taken at "
                               f"{self.snapshots[name].created}); drop it first "
                               "(homeguy repo snapshot drop) or choose another name")
        self.snapshots[name] = Snapshot(self.now, {
            suite: {c: tuple(sorted(m)) for c, m in comps.items()}
            for suite, comps in sorted(self.suites.items())})

    def snapshot(self, name: str) -> Snapshot:
        if name not in self.snapshots:
            raise PublishError(f"no snapshot {name!r}; snapshots: "
                               f"{', '.join(sorted(self.snapshots)) or 'none'} (homeguy "
                               "repo snapshot list)")
        return self.snapshots[name]

    def rollback(self, name: str) -> None:
        taken = self.snapshot(name)
        for suite in self.config.suites:
            comps = taken.suites.get(suite.name, {})
            self.suites[suite.name] = {c: list(comps.get(c, ())) for c in self.config.components}

    def check_suites(self, suites: tuple[str, ...]) -> None:
        known = [s.name for s in self.config.suites]
        for name in suites:
            if name not in known:
                raise PublishError(f"suite {name!r} is not in {self.config.config_file} "
                                   f"(suites: {', '.join(known)}); add a [[suite]] or pick one")

    def apply(self, operation: Operation) -> None:
        match operation:
            case Publish(inputs, suites, component):
                self.check_suites(suites)
                if component not in self.config.components:
                    raise PublishError(
                        f"component {component!r} is not in {self.config.config_file} "
                        f"(components: {', '.join(self.config.components)})")
                self.admit(inputs, suites, component)
            case Remove(suite, specs):
                self.remove(suite, specs)
            case Copy(source, target, specs):
                self.copy(source, target, specs)
            case TakeSnapshot(name):
                self.take_snapshot(name)
            case Rollback(name):
                self.rollback(name)
            case DropSnapshot(name):
                self.snapshot(name)
                del self.snapshots[name]
            case Resign():
                self.resign = True

    def apply_retention(self) -> list[tuple[str, str]]:
        """Keep the `keep_versions` newest versions of each (name, architecture) per suite."""
        dropped = []
        for suite in sorted(self.suites):
            comps = self.suites[suite]
            groups: dict[tuple[str, str], list[PackageRecord]] = defaultdict(list)
            for members in comps.values():
                for sha in members:
                    record = self.records[sha]
                    groups[(record.name, record.architecture)].append(record)
            gone: set[str] = set()
            for group in groups.values():
                group.sort(key=lambda r: r.debian_version, reverse=True)
                for record in group[self.config.keep_versions:]:
                    gone.add(record.sha256)
                    dropped.append((suite, record.describe()))
            for component, members in comps.items():
                comps[component] = sorted(sha for sha in members if sha not in gone)
        return dropped

    def referenced(self) -> set[str]:
        return all_members(self.suites, self.snapshots)

    def retire_pool(self, referenced: set[str]) -> None:
        """Pool files no suite or snapshot holds any more start their keep_superseded."""
        before = {path for sha in all_members(self.state.suites, self.state.snapshots)
                  for path in self.records[sha].paths}
        now = {path for sha in referenced for path in self.records[sha].paths}
        for path in before - now:
            self.retired.setdefault(path, self.now)
        for path in now:
            self.retired.pop(path, None)

    def pool_copies(self, referenced: set[str]) -> tuple[PoolCopy, ...]:
        """Every pool file of the new packages: a .dsc's files come from its folder."""
        copies: dict[str, PoolCopy] = {}
        known = {path for sha in self.state.packages for path in self.records_paths(sha)}
        for sha, source in sorted(self.sources.items(), key=lambda item: item[1]):
            if sha not in referenced:
                continue
            record = self.records[sha]
            copies.setdefault(record.pool, PoolCopy(source, record.pool, sha))
            folder = source.rpartition("/")[0]
            for path, file_sha in record.files:
                if path not in known or not self.exists(path):
                    copies.setdefault(path, PoolCopy(f"{folder}/{path.rpartition('/')[2]}",
                                                     path, file_sha))
        return tuple(copies.values())

    def records_paths(self, sha: str) -> tuple[str, ...]:
        record = self.state.packages.get(sha)
        return record.paths if record is not None else ()

    # --- indices and Release ----------------------------------------------------------

    def write_indices(self, suite: Suite) -> tuple[list[FileWrite], list[IndexFile]]:
        """The suite's changed index files, and all of its index files for Release."""
        writes: list[FileWrite] = []
        listed: list[IndexFile] = []
        prefix = f"dists/{suite.name}/"
        for component, arch, directory in index_directories(self.config, suite):
            members = self.suites[suite.name].get(component, [])
            records = [self.records[sha] for sha in members if in_index(self.records[sha], arch)]
            pieces = compress.chunks(index_entries(records))
            data = b"".join(pieces)
            name = f"{prefix}{directory}/{index_name(arch)}"
            current = self.files.get(name)
            names = [name + suffix for suffix in compress.SUFFIXES]
            unchanged = (current is not None
                         and current.sha256 == hashlib.sha256(data).hexdigest()
                         and all(n in self.files and self.exists(n) for n in names))
            if not unchanged:
                self.chunks[name] = tuple(compress.chunk_key(p) for p in pieces)
                for path, variant in compress.variants(name, pieces, self.compress):
                    entry = IndexFile.of(path, variant)
                    links = by_hash_paths(path, entry)
                    old = self.files.get(path)
                    if old is not None and old != entry:
                        for link in by_hash_paths(path, old):
                            self.retired.setdefault(link, self.now)
                    for link in links:
                        self.retired.pop(link, None)
                    self.files[path] = entry
                    writes.append(FileWrite(path, variant, links))
            for path in names:
                entry = self.files[path]
                listed.append(IndexFile(path[len(prefix):], entry.size, entry.sha256,
                                        entry.sha512))
        return writes, listed

    def write_release(self, suite: Suite, listed: list[IndexFile], date: int
                      ) -> ReleaseWrite | None:
        """The suite's Release when its contents changed, it is missing, Valid-Until is
        less than half its period away, or the signing keys changed."""
        content = hashlib.sha256(render_release(self.config, suite, None, listed)).hexdigest()
        last = self.releases.get(suite.name)
        valid_for = self.config.valid_for
        stale = (valid_for is not None and last is not None
                 and self.now >= last.date + valid_for // 2)
        directory = f"dists/{suite.name}"
        if (last is not None and last.content_sha256 == content and not stale
                and not self.resign
                and all(self.exists(f"{directory}/{n}")
                        for n in ("InRelease", "Release", "Release.gpg"))):
            return None
        self.releases[suite.name] = ReleaseRecord(content, date)
        return ReleaseWrite(suite.name, directory, render_release(self.config, suite, date,
                                                                  listed))

    # --- expiry -----------------------------------------------------------------------

    def expire(self, referenced: set[str]) -> list[str]:
        expired = sorted(path for path, since in self.retired.items()
                         if self.now - since >= self.config.keep_superseded)
        for path in expired:
            del self.retired[path]
        self.records = {sha: r for sha, r in self.records.items()
                        if sha in referenced or any(p in self.retired for p in r.paths)}
        return expired

    # --- the whole plan -----------------------------------------------------------------

    def changes(self, dropped: list[tuple[str, str]]
                ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(suite, package) added and removed by the operation (not by keep_versions)."""
        added, removed = [], []
        for suite in sorted(self.suites):
            before = {sha for m in self.state.suites.get(suite, {}).values() for sha in m}
            after = {sha for m in self.suites[suite].values() for sha in m}
            for sha in sorted(after - before, key=lambda s: self.records[s].describe()):
                added.append((suite, self.records[sha].describe()))
            for sha in sorted(before - after, key=lambda s: self.records[s].describe()):
                if (suite, self.records[sha].describe()) not in dropped:
                    removed.append((suite, self.records[sha].describe()))
        return added, removed

    def finish(self, date: int) -> Plan:
        dropped = self.apply_retention()
        referenced = self.referenced()
        self.retire_pool(referenced)
        pool = self.pool_copies(referenced)
        added, removed = self.changes(dropped)
        indices: list[FileWrite] = []
        releases: list[ReleaseWrite] = []
        for suite in self.config.suites:
            writes, listed = self.write_indices(suite)
            indices += writes
            release = self.write_release(suite, listed, date)
            if release is not None:
                releases.append(release)
        deletions = self.expire(referenced)
        new_state = State(
            packages=self.records,
            suites={s: {c: tuple(m) for c, m in comps.items()}
                    for s, comps in self.suites.items()},
            files=self.files,
            retired=self.retired,
            releases=self.releases,
            seen=self.state.seen,
            chunks=self.chunks,
            snapshots=self.snapshots,
        )
        report = Report(
            added=tuple(self.added if self.added is not None else added),
            unchanged=self.unchanged,
            dropped=tuple(dropped),
            removed=tuple(removed),
            rewritten=tuple(w.path for w in indices),
            signed=tuple(r.suite for r in releases),
            deleted=tuple(deletions),
        )
        return Plan(pool, tuple(indices), tuple(releases), tuple(deletions), new_state, report)


def plan(
    config: RepoConfig,
    state: State,
    operation: Operation,
    *,
    now: int,
    date: int,
    exists: Callable[[str], bool],
    compressor: compress.Compress = compress.compress_uncached,
) -> Plan:
    """Everything one operation writes and deletes.

    `now` (the wall clock) times retirements; `date` is the Release Date (the wall clock,
    or SOURCE_DATE_EPOCH for reproducible output). `exists(path)` says whether a path
    under the repository root is there (asked only for the files the state says exist).
    `compressor` compresses one chunk of an index (the shell's caches earlier results).
    """
    planner = _Planner(config, state, now, exists, compressor)
    planner.apply(operation)
    return planner.finish(date)


def plan_publish(
    config: RepoConfig,
    state: State,
    inputs: Iterable[Input],
    *,
    suites: tuple[str, ...],
    component: str,
    now: int,
    date: int,
    exists: Callable[[str], bool],
    compressor: compress.Compress = compress.compress_uncached,
) -> Plan:
    """Everything one publish of `inputs` into `suites` writes and deletes (see `plan`)."""
    return plan(config, state, Publish(tuple(inputs), suites, component), now=now, date=date,
                exists=exists, compressor=compressor)
