"""What the publisher remembers between publishes (<out>/.homeguy/state.json).

Pure: `State` and its JSON form. The repository's contents are the state's `suites`; the
control data of every .deb still in the pool is cached by its SHA256 in `packages`; index
files and pool files that stopped being current are in `retired` with the time they did,
and are deleted once older than `keep_superseded`. Named snapshots remember what every
suite held; their packages stay in the pool until the snapshot is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from homeguy.repo.packages import PackageRecord
from homeguy.repo.release import IndexFile

FORMAT = 1


class StateError(ValueError):
    pass


@dataclass(frozen=True)
class SeenFile:
    """An input .deb's stat() result and hash: unchanged files are not read again."""

    size: int
    mtime_ns: int
    inode: int
    sha256: str


@dataclass(frozen=True)
class ReleaseRecord:
    """The last Release written for a suite: its contents without dates, and its Date."""

    content_sha256: str
    date: int


# What a suite holds: the SHA256 of its packages by component.
Members = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Snapshot:
    created: int  # seconds since the epoch
    suites: Mapping[str, Members]


@dataclass(frozen=True)
class State:
    packages: Mapping[str, PackageRecord] = field(default_factory=dict)  # by .deb SHA256
    suites: Mapping[str, Members] = field(default_factory=dict)
    files: Mapping[str, IndexFile] = field(default_factory=dict)  # by path under out/
    retired: Mapping[str, int] = field(default_factory=dict)  # path under out/ -> since
    releases: Mapping[str, ReleaseRecord] = field(default_factory=dict)
    seen: Mapping[str, SeenFile] = field(default_factory=dict)  # by absolute input path
    # The compression chunks (compress.chunks) of each current Packages index, by path:
    # their compressed forms are cached in <out>/.homeguy/chunks/.
    chunks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    snapshots: Mapping[str, Snapshot] = field(default_factory=dict)  # by name


def _fields(record: Any) -> dict[str, Any]:
    """A flat dataclass as a dict (dataclasses.asdict deep-copies, ten times slower)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _suites_json(suites: Mapping[str, Members]) -> dict[str, Any]:
    return {s: {c: list(v) for c, v in sorted(comps.items())}
            for s, comps in sorted(suites.items())}


def _suites(document: Mapping[str, Any]) -> dict[str, Members]:
    return {s: {c: tuple(v) for c, v in comps.items()} for s, comps in document.items()}


def _record(document: dict[str, Any]) -> PackageRecord:
    files = tuple((path, sha) for path, sha in document.pop("files", ()))
    return PackageRecord(**document, files=files)


def to_json(state: State) -> str:
    document = {
        "format": FORMAT,
        "packages": {k: _fields(v) for k, v in sorted(state.packages.items())},
        "suites": _suites_json(state.suites),
        "files": {k: _fields(v) for k, v in sorted(state.files.items())},
        "retired": dict(sorted(state.retired.items())),
        "releases": {k: _fields(v) for k, v in sorted(state.releases.items())},
        "seen": {k: _fields(v) for k, v in sorted(state.seen.items())},
        "chunks": {k: list(v) for k, v in sorted(state.chunks.items())},
        "snapshots": {k: {"created": v.created, "suites": _suites_json(v.suites)}
                      for k, v in sorted(state.snapshots.items())},
    }
    return json.dumps(document, indent=0, separators=(",", ":")) + "\n"


def from_json(text: str, origin: str) -> State:
    try:
        document: dict[str, Any] = json.loads(text)
        if document.get("format") != FORMAT:
            raise StateError(f"{origin}: state format {document.get('format')!r}, this "
                             f"publisher reads format {FORMAT}")
        return State(
            packages={k: _record(v) for k, v in document["packages"].items()},
            suites=_suites(document["suites"]),
            files={k: IndexFile(**v) for k, v in document["files"].items()},
            retired=dict(document["retired"]),
            releases={k: ReleaseRecord(**v) for k, v in document["releases"].items()},
            seen={k: SeenFile(**v) for k, v in document["seen"].items()},
            chunks={k: tuple(v) for k, v in document["chunks"].items()},
            snapshots={k: Snapshot(v["created"], _suites(v["suites"]))
                       for k, v in document.get("snapshots", {}).items()},
        )
    except StateError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(
            f"{origin}: the publisher's state is damaged ({type(exc).__name__}: {exc}); "
            "publish into a new directory, or delete the repository and publish again"
        ) from None
