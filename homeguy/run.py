"""The one way Homeguy runs external commands.

Every command is logged as a line that can be pasted into a shell and rerun (working
directory and changed environment included), its exit status is checked, and a failure
raises `CommandError` naming the command, the status and the end of what it printed.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger("homeguy.run")

# How much of a failed command's output goes into the error message.
OUTPUT_TAIL_LINES = 20


class CommandError(RuntimeError):
    """An external command failed; str() says which, how, and what it printed."""

    def __init__(self, command: str, returncode: int | None, output: str) -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:])
        how = "timed out" if returncode is None else f"exit status {returncode}"
        super().__init__(f"command failed ({how}): {command}" + (f"\n{tail}" if tail else ""))


def command_line(
    argv: Sequence[str | Path], cwd: str | Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The pasteable form of a command: `cd DIR && VAR=value argv...`."""
    words = [f"{k}={shlex.quote(v)}" for k, v in sorted((env or {}).items())]
    words += [shlex.quote(str(a)) for a in argv]
    line = " ".join(words)
    return f"cd {shlex.quote(str(cwd))} && {line}" if cwd else line


def run(
    argv: Sequence[str | Path],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    capture: bool = True,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv (no shell). `env` is added to the current environment.

    With `capture`, stdout and stderr are returned (stderr merged into the error on
    failure); without it they go to this process's own streams, for long builds whose
    progress a person watches.
    """
    line = command_line(argv, cwd, env)
    log.info("$ %s", line)
    try:
        result = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            input=input,
            text=True,
            capture_output=capture,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        raise CommandError(line, None, out) from None
    except FileNotFoundError:
        raise CommandError(line, 127, f"{argv[0]}: not found; `make test` installs it") from None
    if check and result.returncode != 0:
        raise CommandError(line, result.returncode, (result.stdout or "") + (result.stderr or ""))
    return result
