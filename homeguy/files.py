"""Files written so that a crash or a second writer never leaves half of one, locks that
keep a second process out, and file digests."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary(path: Path) -> Path:
    """A name next to `path` for its next content: hidden, and one per process."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file next to `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def exclusive(path: Path, when_busy: Callable[[], None]) -> Iterator[None]:
    """Hold an exclusive lock (flock) on `path`, made if missing, for the block. When
    another process holds it, `when_busy()` runs first: it raises to give up, or returns
    to wait for the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            when_busy()
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
