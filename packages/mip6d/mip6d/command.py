"""The one way mip6d runs external commands (``ip xfrm``: pyroute2 has no XFRM), a
batch of them in one ``ip -batch`` process (:func:`run_batch`).

Each command is logged in a form that can be pasted into a shell, its exit status is
checked, and a failure raises :class:`CommandError` naming the command, the status and
what it printed. ``tolerate`` lists phrases of the error output that mean "nothing to
do" (an object that is already there, or already gone): those are not failures.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence

__all__ = ["BatchError", "BatchRunner", "Command", "CommandError", "Runner", "command_line",
           "one_by_one", "run_batch"]

Runner = Callable[[Sequence[str], Sequence[str]], str]
"""``runner(argv, tolerate) -> output``: one command (:func:`one_by_one` makes a batch runner
of it; tests record the commands so)."""

Command = tuple[Sequence[str], Sequence[str]]
"""``(argv, tolerate)``: one command of a batch, with the phrases that are no failure."""

BatchRunner = Callable[[Sequence[Command]], None]
"""``batch(commands)``: runs them in order; :class:`BatchError` at the first failure."""


class CommandError(RuntimeError):
    """An external command failed."""

    def __init__(self, command: str, returncode: int | None, output: str) -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        how = "timed out" if returncode is None else f"exit status {returncode}"
        tail = "\n".join(output.rstrip().splitlines()[-10:])
        super().__init__(f"command failed ({how}): {command}" + (f"\n{tail}" if tail else ""))


class BatchError(CommandError):
    """A command of a batch failed: ``index`` is its place; the ones after it did not run."""

    def __init__(self, index: int, error: CommandError) -> None:
        super().__init__(error.command, error.returncode, error.output)
        self.index = index


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


# `ip xfrm` exits at its first error without saying which line of a batch it was on
# ("Command failed" is printed only by commands that return): a marker after each
# command prints a line, and the lines printed count the commands done.
_MARKER = "xfrm state count"
_MARKER_OUTPUT = "SAD count"
_UNBATCHABLE = frozenset(" \t\n'\"#")  # what ip's batch line splitter would read as syntax


def _batch_line(argv: Sequence[str]) -> str:
    """``argv`` but its ``ip`` as a line of ``ip -batch``, an empty word quoted."""
    return " ".join(word or '""' for word in argv[1:])


def run_batch(
    commands: Sequence[Command],
    log: Callable[..., None] | None = None,
    timeout: float = 30,
) -> None:
    """Run ``ip`` commands in one ``ip -batch`` process instead of one process each
    (under emulation a process takes a third of a second, and a registration's IPsec is a
    dozen commands). As if one by one: each is logged; a failure whose
    output has one of its ``tolerate`` phrases is none, and the batch goes on after it;
    another raises :class:`BatchError`. ``timeout`` is per process, plus a second per
    command (a daemon's cleanup can be thousands). No word may hold a space, a quote or
    ``#``; an empty one (the null algorithm's key) is written ``""``."""
    for argv, _tolerate in commands:
        if argv[0] != "ip" or any(set(word) & _UNBATCHABLE for word in argv):
            raise ValueError(f"not a batch line: {command_line(argv)}")
        if log is not None:
            log("debug", "command", command=command_line(argv))
    start = 0
    while start < len(commands):
        rest = commands[start:]
        script = "".join(_batch_line(argv) + f"\n{_MARKER}\n" for argv, _tolerate in rest)
        try:
            result = subprocess.run(["ip", "-batch", "-"], input=script, capture_output=True,
                                    text=True, check=False, timeout=timeout + len(rest))
        except subprocess.TimeoutExpired:
            raise BatchError(start, CommandError(command_line(rest[0][0]), None, "")) from None
        except FileNotFoundError:
            raise BatchError(start, CommandError(
                command_line(rest[0][0]), 127, "ip: not found (install iproute2)")) from None
        done = result.stdout.count(_MARKER_OUTPUT)
        if result.returncode == 0 and done == len(rest):
            return
        # Failed (or, exit status 0, ended the process: a listing command) at `done`.
        failed = start + min(done, len(rest) - 1)
        argv, tolerate = commands[failed]
        if not any(phrase in result.stderr for phrase in tolerate):
            raise BatchError(failed, CommandError(command_line(argv), result.returncode,
                                                  result.stderr))
        start = failed + 1


def one_by_one(runner: Runner) -> BatchRunner:
    """A batch runner that hands each command to ``runner`` (tests record them so)."""

    def batch(commands: Sequence[Command]) -> None:
        for index, (argv, tolerate) in enumerate(commands):
            try:
                runner(argv, tolerate)
            except CommandError as error:
                raise BatchError(index, error) from None

    return batch
