"""The pure core of a publish: from the state, the configuration and the incoming .debs,
decide every file to write and delete, in the order clients may see them.

No I/O: the shell (publish.py) hashes the inputs, reads control files of .debs it has not
seen before, answers `exists` for a few paths, executes the plan and signs the Release
files. The order clients see (pool, then indices with their by-hash copies, then Release,
then deletions of what expired) is the order of the Plan's fields.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from homeguy.repo import compress
from homeguy.repo.config import RepoConfig, Suite
from homeguy.repo.packages import PackageRecord, index_entries, make_record
from homeguy.repo.release import HASH_FIELDS, IndexFile, render_release
from homeguy.repo.state import ReleaseRecord, State


class PublishError(RuntimeError):
    """The publish cannot go ahead; str() says which file, why, and what to do."""


class ConflictError(PublishError):
    """Same package name, version and architecture as a published one, different bytes."""


@dataclass(frozen=True)
class Input:
    """An input .deb as the shell found it. `control` (with `md5`) is set when the state
    does not know the .deb's SHA256 yet."""

    path: str
    sha256: str
    size: int
    md5: str | None = None
    control: str | None = None


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


def index_directories(config: RepoConfig, suite: Suite) -> list[tuple[str, str, str]]:
    """(component, architecture, directory under dists/<suite>/) of every index."""
    return [(component, arch, f"{component}/binary-{arch}")
            for component in config.components for arch in config.architectures]


def in_index(record: PackageRecord, arch: str) -> bool:
    """binary-all lists Architecture: all; binary-<arch> lists <arch> and all."""
    return record.architecture in (arch, "all")


class _Planner:
    """One publish's working set; `plan_publish` is the interface."""

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
        self.files: dict[str, IndexFile] = dict(state.files)
        self.retired: dict[str, int] = dict(state.retired)
        self.releases: dict[str, ReleaseRecord] = dict(state.releases)

    # --- packages -------------------------------------------------------------------

    def admit(self, inputs: Iterable[Input], suites: tuple[str, ...], component: str
              ) -> tuple[dict[str, str], list[tuple[str, str]], int]:
        """Add the inputs to the suites; refuse conflicts. Returns the new .debs' sources,
        what was added, and how many inputs were there already."""
        by_identity = {r.identity: r for r in self.records.values()}
        by_pool = {r.pool: r for r in self.records.values()}
        holders: dict[str, str] = {}  # sha256 -> where it came from, for messages
        sources: dict[str, str] = {}
        added: list[tuple[str, str]] = []
        unchanged = 0
        for item in sorted(inputs, key=lambda i: i.path):
            record = self.records.get(item.sha256)
            if record is None:
                record = self.new_record(item, component)
                if record.architecture not in (*self.config.architectures, "all"):
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
                self.records[record.sha256] = record
                by_identity[record.identity] = record
                by_pool[record.pool] = record
                holders[record.sha256] = item.path
            if item.sha256 not in self.state.packages or not self.exists(record.pool):
                sources.setdefault(item.sha256, item.path)
            fresh = False
            for suite in suites:
                comps = self.suites[suite]
                if not any(record.sha256 in members for members in comps.values()):
                    comps[component].append(record.sha256)
                    added.append((suite, record.describe()))
                    fresh = True
            unchanged += not fresh
        return sources, added, unchanged

    def new_record(self, item: Input, component: str) -> PackageRecord:
        if item.control is None or item.md5 is None:
            raise AssertionError(f"{item.path}: the shell must read control data of new .debs")
        return make_record(item.control, item.path, component, item.size, item.md5,
                           item.sha256)

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
        return {sha for comps in self.suites.values() for m in comps.values() for sha in m}

    def retire_pool(self, referenced: set[str]) -> None:
        before = {sha for comps in self.state.suites.values()
                  for members in comps.values() for sha in members}
        for sha in before - referenced:
            self.retired.setdefault(self.records[sha].pool, self.now)
        for sha in referenced:
            self.retired.pop(self.records[sha].pool, None)

    # --- indices and Release ----------------------------------------------------------

    def write_indices(self, suite: Suite) -> tuple[list[FileWrite], list[IndexFile]]:
        """The suite's changed index files, and all of its index files for Release."""
        writes: list[FileWrite] = []
        listed: list[IndexFile] = []
        prefix = f"dists/{suite.name}/"
        for component, arch, directory in index_directories(self.config, suite):
            members = self.suites[suite.name][component]
            records = [self.records[sha] for sha in members if in_index(self.records[sha], arch)]
            pieces = compress.chunks(index_entries(records))
            data = b"".join(pieces)
            name = f"{prefix}{directory}/Packages"
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
        """The suite's Release when its contents changed, it is missing, or Valid-Until
        is less than half its period away."""
        content = hashlib.sha256(render_release(self.config, suite, None, listed)).hexdigest()
        last = self.releases.get(suite.name)
        valid_for = self.config.valid_for
        stale = (valid_for is not None and last is not None
                 and self.now >= last.date + valid_for // 2)
        directory = f"dists/{suite.name}"
        if (last is not None and last.content_sha256 == content and not stale
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
                        if sha in referenced or r.pool in self.retired}
        return expired


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
    """Everything one publish writes and deletes.

    `now` (the wall clock) times retirements; `date` is the Release Date (the wall clock,
    or SOURCE_DATE_EPOCH for reproducible output). `exists(path)` says whether a path
    under the repository root is there (asked only for the files the state says exist).
    `compressor` compresses one chunk of an index (the shell's caches earlier results).
    """
    known_suites = [s.name for s in config.suites]
    for name in suites:
        if name not in known_suites:
            raise PublishError(f"suite {name!r} is not in {config.config_file} (suites: "
                               f"{', '.join(known_suites)}); add a [[suite]] or pick one")
    if component not in config.components:
        raise PublishError(f"component {component!r} is not in {config.config_file} "
                           f"(components: {', '.join(config.components)})")
    planner = _Planner(config, state, now, exists, compressor)
    sources, added, unchanged = planner.admit(inputs, suites, component)
    dropped = planner.apply_retention()
    referenced = planner.referenced()
    planner.retire_pool(referenced)
    pool = tuple(
        PoolCopy(source, planner.records[sha].pool, sha)
        for sha, source in sorted(sources.items(), key=lambda item: item[1])
        if sha in referenced
    )
    indices: list[FileWrite] = []
    releases: list[ReleaseWrite] = []
    for suite in config.suites:
        writes, listed = planner.write_indices(suite)
        indices += writes
        release = planner.write_release(suite, listed, date)
        if release is not None:
            releases.append(release)
    deletions = planner.expire(referenced)
    new_state = State(
        packages=planner.records,
        suites={s: {c: tuple(m) for c, m in comps.items()} for s, comps in planner.suites.items()},
        files=planner.files,
        retired=planner.retired,
        releases=planner.releases,
        seen=state.seen,
        chunks=planner.chunks,
    )
    report = Report(
        added=tuple(added),
        unchanged=unchanged,
        dropped=tuple(dropped),
        rewritten=tuple(w.path for w in indices),
        signed=tuple(r.suite for r in releases),
        deleted=tuple(deletions),
    )
    return Plan(pool, tuple(indices), tuple(releases), tuple(deletions), new_state, report)
