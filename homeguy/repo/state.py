"""What the publisher remembers between publishes (<out>/.homeguy/state.json).

Pure: `State` and its JSON form. The repository's contents are the state's `suites`; the
control data of every .deb still in the pool is cached by its SHA256 in `packages`; index
files and pool files that stopped being current are in `retired` with the time they did,
and are deleted once older than `keep_superseded`.
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


@dataclass(frozen=True)
class State:
    packages: Mapping[str, PackageRecord] = field(default_factory=dict)  # by .deb SHA256
    suites: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    files: Mapping[str, IndexFile] = field(default_factory=dict)  # by path under out/
    retired: Mapping[str, int] = field(default_factory=dict)  # path under out/ -> since
    releases: Mapping[str, ReleaseRecord] = field(default_factory=dict)
    seen: Mapping[str, SeenFile] = field(default_factory=dict)  # by absolute input path
    # The compression chunks (compress.chunks) of each current Packages index, by path:
    # their compressed forms are cached in <out>/.homeguy/chunks/.
    chunks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _fields(record: Any) -> dict[str, Any]:
    """A flat dataclass as a dict (dataclasses.asdict deep-copies, ten times slower)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def to_json(state: State) -> str:
    document = {
        "format": FORMAT,
        "packages": {k: _fields(v) for k, v in sorted(state.packages.items())},
        "suites": {s: {c: list(v) for c, v in sorted(comps.items())}
                   for s, comps in sorted(state.suites.items())},
        "files": {k: _fields(v) for k, v in sorted(state.files.items())},
        "retired": dict(sorted(state.retired.items())),
        "releases": {k: _fields(v) for k, v in sorted(state.releases.items())},
        "seen": {k: _fields(v) for k, v in sorted(state.seen.items())},
        "chunks": {k: list(v) for k, v in sorted(state.chunks.items())},
    }
    return json.dumps(document, indent=0, separators=(",", ":")) + "\n"


def from_json(text: str, origin: str) -> State:
    try:
        document: dict[str, Any] = json.loads(text)
        if document.get("format") != FORMAT:
            raise StateError(f"{origin}: state format {document.get('format')!r}, this "
                             f"publisher reads format {FORMAT}")
        return State(
            packages={k: PackageRecord(**v) for k, v in document["packages"].items()},
            suites={s: {c: tuple(v) for c, v in comps.items()}
                    for s, comps in document["suites"].items()},
            files={k: IndexFile(**v) for k, v in document["files"].items()},
            retired=dict(document["retired"]),
            releases={k: ReleaseRecord(**v) for k, v in document["releases"].items()},
            seen={k: SeenFile(**v) for k, v in document["seen"].items()},
            chunks={k: tuple(v) for k, v in document["chunks"].items()},
        )
    except StateError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(
            f"{origin}: the publisher's state is damaged ({type(exc).__name__}: {exc}); "
            "publish into a new directory, or delete the repository and publish again"
        ) from None
