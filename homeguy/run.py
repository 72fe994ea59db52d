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
import time
from collections.abc import Callable, Mapping, Sequence
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
    watch: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv (no shell). `env` is added to the current environment.

    With `capture`, stdout and stderr are returned (stderr merged into the error on
    failure); without it they go to this process's own streams, for long builds whose
    progress a person watches. `watch` (only without `capture`) is called every
    WATCH_INTERVAL seconds while the command runs, to end what it finds stuck.
    """
    line = command_line(argv, cwd, env)
    log.info("$ %s", line)
    if watch is not None:
        if capture or input is not None:
            raise ValueError("run(watch=...) is for commands whose output is not captured")
        return _run_watched(argv, line, cwd, env, check, timeout, watch)
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


# How often a watched command's `watch` is called, in seconds.
WATCH_INTERVAL = 5.0


def _run_watched(argv: Sequence[str | Path], line: str, cwd: str | Path | None,
                 env: Mapping[str, str] | None, check: bool, timeout: float | None,
                 watch: Callable[[], None]) -> subprocess.CompletedProcess[str]:
    try:
        process = subprocess.Popen([str(a) for a in argv], cwd=cwd,
                                   env={**os.environ, **env} if env else None)
    except FileNotFoundError:
        raise CommandError(line, 127, f"{argv[0]}: not found; `make test` installs it") from None
    deadline = None if timeout is None else time.monotonic() + timeout
    with process:
        while True:
            try:
                returncode = process.wait(timeout=WATCH_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    raise CommandError(line, None, "") from None
                watch()
    if check and returncode != 0:
        raise CommandError(line, returncode, "")
    return subprocess.CompletedProcess([str(a) for a in argv], returncode)
