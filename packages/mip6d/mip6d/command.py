"""The one way mip6d runs an external command (``ip xfrm``: pyroute2 has no XFRM).

Each command is logged in a form that can be pasted into a shell, its exit status is
checked, and a failure raises :class:`CommandError` naming the command, the status and
what it printed. ``tolerate`` lists phrases of the error output that mean "nothing to
do" (an object that is already there, or already gone): those are not failures.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence

__all__ = ["CommandError", "Runner", "command_line", "run"]

Runner = Callable[[Sequence[str], Sequence[str]], str]
"""``runner(argv, tolerate) -> output``: the signature the kernel adapter uses."""


class CommandError(RuntimeError):
    """An external command failed."""

    def __init__(self, command: str, returncode: int | None, output: str) -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        how = "timed out" if returncode is None else f"exit status {returncode}"
        tail = "\n".join(output.rstrip().splitlines()[-10:])
        super().__init__(f"command failed ({how}): {command}" + (f"\n{tail}" if tail else ""))


# `ip xfrm state` words followed by an algorithm name and then a key.
_KEYED_WORDS = frozenset({"enc", "auth", "auth-trunc", "aead", "comp"})


def command_line(argv: Sequence[str]) -> str:
    """The pasteable form of ``argv``, with IPsec keys replaced by ``[redacted]`` so that
    no key reaches a log or an error message."""
    words = [
        "[redacted]" if i >= 2 and argv[i - 2] in _KEYED_WORDS else shlex.quote(word)
        for i, word in enumerate(argv)
    ]
    return " ".join(words)


def run(
    argv: Sequence[str],
    tolerate: Sequence[str] = (),
    log: Callable[..., None] | None = None,
    timeout: float = 30,
) -> str:
    """Run ``argv`` (no shell) and return its standard output."""
    line = command_line(argv)
    if log is not None:
        log("debug", "command", command=line)
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise CommandError(line, None, "") from None
    except FileNotFoundError:
        raise CommandError(line, 127, f"{argv[0]}: not found (install iproute2)") from None
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if any(phrase in output for phrase in tolerate):
            return result.stdout
        raise CommandError(line, result.returncode, output)
    return result.stdout
