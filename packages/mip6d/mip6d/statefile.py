"""Atomic persistence of the daemon's state (``StateFile``).

:func:`write_atomic` writes a temporary file in the target's directory, fsyncs it,
renames it over the target and fsyncs the directory: a crash at any point leaves either
the old file or the new one, never a half-written one. :func:`save` and :func:`load`
put JSON through it; a file that cannot be read back is moved aside to
``<name>.corrupt-<UTC timestamp>`` (:func:`quarantine`), never deleted, and the daemon
starts without it.

:class:`Debouncer` (pure, clock passed in) says when to save: at most once per
``interval`` while changes keep coming, and on shutdown if anything is unsaved.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, overload

from mip6d.logs import log_event

__all__ = [
    "Debouncer",
    "StateFileError",
    "load",
    "quarantine",
    "save",
    "write_atomic",
]

_log = logging.getLogger("mip6d.statefile")

T = TypeVar("T")
StrPath = str | os.PathLike[str]


class StateFileError(OSError):
    """The state file cannot be written or read (not a content problem: permissions,
    a full disk, a directory in its place); the message names the file."""


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def write_atomic(path: StrPath, content: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``content``: temporary file, fsync, rename, fsync of the
    directory. On failure the old file is intact, no temporary file is left behind
    and :class:`StateFileError` says what failed."""
    target = Path(path)
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=directory)
    except OSError as exc:
        raise StateFileError(f"{target}: cannot create a temporary file: {exc.strerror}") from exc
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise StateFileError(f"{target}: cannot write: {exc.strerror or exc}") from exc
        raise
    try:
        _fsync_directory(directory)
    except OSError as exc:
        raise StateFileError(f"{directory}: cannot sync the directory: {exc.strerror}") from exc


def save(path: StrPath, data: Any, *, mode: int = 0o600) -> None:
    """Write ``data`` as JSON to ``path`` with :func:`write_atomic`."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode(), mode=mode)


def _timestamp(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def quarantine(path: StrPath, reason: str, *, now: float | None = None) -> Path:
    """Move the unreadable ``path`` aside to ``<name>.corrupt-<timestamp>`` (``-1``,
    ``-2``, ... if that exists), log why, and return the new name."""
    source = Path(path)
    stamp = _timestamp(datetime.datetime.now(datetime.UTC).timestamp() if now is None else now)
    base = source.with_name(f"{source.name}.corrupt-{stamp}")
    target, n = base, 0
    while target.exists():
        n += 1
        target = base.with_name(f"{base.name}-{n}")
    try:
        os.rename(source, target)
        _fsync_directory(source.parent)
    except OSError as exc:
        raise StateFileError(f"{source}: cannot move it aside: {exc.strerror}") from exc
    log_event(
        _log, logging.ERROR, "state-file-corrupt",
        file=str(source), reason=reason, moved_to=str(target),
    )
    return target


def _remove_leftovers(target: Path) -> None:
    """Delete temporary files a crash left between write and rename."""
    with contextlib.suppress(OSError):
        for leftover in target.parent.glob(f"{_temp_prefix(target)}*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                log_event(_log, logging.INFO, "state-file-leftover-removed", file=str(leftover))


@overload
def load(path: StrPath) -> Any: ...


@overload
def load(path: StrPath, parse: Callable[[str], T], *, now: float | None = None) -> T | None: ...


def load(
    path: StrPath, parse: Callable[[str], Any] = json.loads, *, now: float | None = None
) -> Any:
    """The state in ``path`` as ``parse`` reads it (JSON by default), or ``None`` when
    there is none.

    A file that is not UTF-8 or that ``parse`` rejects with :class:`ValueError`
    (``json.JSONDecodeError``, the binding cache's format error) is corrupt: it is
    moved aside (:func:`quarantine`), logged with the file and the reason, and
    ``None`` is returned so the daemon starts afresh. A file that cannot be read at all
    raises :class:`StateFileError`.
    """
    target = Path(path)
    _remove_leftovers(target)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"{target}: cannot read: {exc.strerror or exc}") from exc
    try:
        return parse(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 (byte {exc.start})"
    except json.JSONDecodeError as exc:
        reason = f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except ValueError as exc:
        reason = str(exc)
    quarantine(target, reason, now=now)
    return None


@dataclass(frozen=True, slots=True)
class Debouncer:
    """When to save after changes: pure, every method takes ``now`` and returns a new
    value.

    A change is saved as soon as :attr:`interval` has passed since the last attempt
    (immediately after a quiet period), so saves happen at most once per interval and
    no change waits longer than that. The daemon calls :meth:`changed` after each
    change, arms a timer for :meth:`deadline`, and when :meth:`due` takes a snapshot
    (remembering :attr:`changes`), writes it and reports :meth:`saved` or
    :meth:`failed`; on shutdown it saves if :attr:`dirty`.
    """

    interval: float = 1.0
    changes: int = 0
    """Changes counted so far."""
    saved_changes: int = 0
    """:attr:`changes` as of the snapshot last saved."""
    unsaved_since: float | None = None
    """When the oldest unsaved change happened."""
    last_attempt: float | None = None

    def __post_init__(self) -> None:
        if self.interval < 0:
            raise ValueError(f"interval {self.interval}: expected a duration >= 0")

    @property
    def dirty(self) -> bool:
        """Whether some change is not saved."""
        return self.changes != self.saved_changes

    def changed(self, now: float) -> Debouncer:
        return replace(
            self,
            changes=self.changes + 1,
            unsaved_since=self.unsaved_since if self.dirty else now,
        )

    def deadline(self) -> float | None:
        """When the next save is due, ``None`` if nothing is unsaved."""
        if not self.dirty:
            return None
        assert self.unsaved_since is not None
        if self.last_attempt is None:
            return self.unsaved_since
        return max(self.unsaved_since, self.last_attempt + self.interval)

    def due(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def saved(self, now: float, snapshot: int | None = None) -> Debouncer:
        """A save of the state as of ``snapshot`` (the value of :attr:`changes` when
        it was taken; the current one if not given) succeeded. Changes made since the
        snapshot stay unsaved."""
        upto = self.changes if snapshot is None else snapshot
        still_dirty = upto != self.changes
        return replace(
            self,
            saved_changes=upto,
            last_attempt=now,
            unsaved_since=now if still_dirty else None,
        )

    def failed(self, now: float) -> Debouncer:
        """A save failed: try again one interval later."""
        return replace(self, last_attempt=now)
