"""File writes of the service: always to a temporary file in the same directory, then
renamed, so that readers (mip6d, the service itself) never see half a file."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

__all__ = ["read_or_create_secret", "remove", "write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o644) -> None:
    target = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(raw)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove(path: str | os.PathLike[str]) -> bool:
    """Remove a file; False if it was not there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def read_or_create_secret(path: str | os.PathLike[str], nbytes: int = 50) -> str:
    """The secret in ``path``, created (mode 0600) on first use. Two processes that start
    at once agree: the file is created with a link that fails if another won."""
    target = Path(path)
    try:
        return target.read_text().strip()
    except FileNotFoundError:
        pass
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise RuntimeError(f"cannot create the secrets directory {target.parent}: "
                           f"{exc.strerror}; set HAIKU_SECRETS_DIR or HAIKU_STATE_DIR") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(nbytes) + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, target)
    finally:
        os.unlink(tmp)
    return target.read_text().strip()
