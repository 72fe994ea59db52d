"""``mip6ctl``: ask a running mip6d what it is doing, over its control socket.

::

    mip6ctl [--socket PATH] [--json] status|bindings|bul|counters|reload|version
    mip6ctl [--socket PATH] [--json] remove HOME-ADDRESS

Tables for people by default, the daemon's JSON result with ``--json``. Exit status 0
on success, 1 when the daemon cannot be reached or the command fails (the daemon's
error on standard error), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import errno
import json
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv6Address
from typing import Any, TextIO

from mip6d import __version__
from mip6d.control import COMMANDS, DEFAULT_SOCKET

__all__ = [
    "COLUMNS",
    "SUBCOMMANDS",
    "CtlError",
    "format_bytes",
    "format_duration",
    "format_time",
    "format_traffic",
    "main",
    "render",
    "render_table",
    "request",
]

DEFAULT_TIMEOUT = 10.0

_CONNECT_HINTS = {
    errno.ENOENT: "is mip6d running?",
    errno.ECONNREFUSED: "is mip6d running?",
    errno.EACCES: "are you root or in the socket's group?",
    errno.EPERM: "are you root or in the socket's group?",
}


class CtlError(Exception):
    """What to tell the user; exit status 1. ``errno``: why the socket could not be
    reached, when that was the failure."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


# -- the client ----------------------------------------------------------------------------


def request(path: str, command: str, timeout: float = DEFAULT_TIMEOUT, **args: object) -> Any:
    """Send one request to the daemon at ``path`` and return its result; a failure of
    any kind raises :class:`CtlError` with a message for people."""
    line = json.dumps({"command": command, **args}).encode() + b"\n"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            hint = _CONNECT_HINTS.get(exc.errno or 0)
            reason = exc.strerror or str(exc)
            message = f"{hint} ({reason})" if hint else reason
            raise CtlError(f"cannot connect to {path}: {message}", exc.errno) from None
        try:
            sock.sendall(line)
            response = _read_line(sock)
        except TimeoutError:
            raise CtlError(f"{path}: no answer from mip6d within {timeout:g} seconds") from None
        except OSError as exc:
            raise CtlError(f"{path}: connection lost: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        decoded = json.loads(response)
    except ValueError:
        raise CtlError(f"{path}: the daemon's answer is not JSON: {response[:200]!r}") from None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("ok"), bool):
        raise CtlError(f"{path}: unexpected answer from the daemon: {response[:200]!r}")
    if not decoded["ok"]:
        raise CtlError(str(decoded.get("error")))
    return decoded.get("result")


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError(errno.ECONNRESET, "the daemon closed the connection")
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk:
            return b"".join(chunks).split(b"\n", 1)[0]
        if size > 1 << 30:
            raise ConnectionResetError(errno.EMSGSIZE, "answer too long")


# -- formatting ----------------------------------------------------------------------------


def format_duration(seconds: object) -> str:
    """``"1h02m03s"``, ``"45s"``, ``"expired"`` at 0, ``"-"`` when unknown."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return "-"
    total = int(seconds)
    if total <= 0:
        return "expired"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_bytes(count: object) -> str:
    """``"512 B"``, ``"1.5 MB"`` (powers of 1000, as ``ip -h`` shows them)."""
    if isinstance(count, bool) or not isinstance(count, int):
        return "-"
    if count < 1000:
        return f"{count} B"
    amount = count / 1000
    for unit in ("kB", "MB"):
        if amount < 1000:
            return f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} GB"


def format_traffic(counters: object) -> str:
    """A tunnel's counters (``tunnel_traffic``): ``"in 1.0 kB (10 packets), out 2.1 kB
    (20 packets)"``; ``"-"`` when the kernel gave none."""
    if not isinstance(counters, Mapping):
        return "-"
    return (f"in {format_bytes(counters.get('rx_bytes'))} ({counters.get('rx_packets')} "
            f"packets), out {format_bytes(counters.get('tx_bytes'))} "
            f"({counters.get('tx_packets')} packets)")


def format_time(at: object) -> str:
    """Epoch seconds as ``"2026-12-05T01:23:45Z"`` (UTC); ``"-"`` when unknown."""
    if isinstance(at, bool) or not isinstance(at, int | float):
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _text(value: object) -> str:
    if value is None or value in ("", [], (), {}):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its heading, the record's member and how to show it."""

    heading: str
    key: str
    show: Callable[[object], str] = _text


COLUMNS: Mapping[str, tuple[Column, ...]] = {
    "bindings": (
        Column("HOME ADDRESS", "home_address"),
        Column("BID", "bid"),
        Column("CARE-OF", "care_of"),
        Column("LIFETIME LEFT", "lifetime_left", format_duration),
        Column("SEQ", "sequence"),
        Column("FLAGS", "flags"),
        Column("MR PREFIXES", "prefixes"),
        Column("LAST HANDOVER", "last_handover", format_time),
        Column("TUNNEL TRAFFIC", "tunnel_traffic", format_traffic),
    ),
    "bul": (
        Column("HOME ADDRESS", "home_address"),
        Column("HOME AGENT", "home_agent"),
        Column("CARE-OF", "care_of"),
        Column("BINDINGS", "bindings"),
        Column("STATE", "state"),
        Column("LIFETIME LEFT", "lifetime_left", format_duration),
        Column("SEQ", "sequence"),
        Column("MR PREFIXES", "prefixes"),
    ),
}
"""The columns of the commands whose result is a list of records."""

_EMPTY = {"bindings": "no bindings", "bul": "no Binding Update List entries"}
_STATUS_ORDER = ("version", "role", "pid", "started_at", "uptime", "config")


def render_table(columns: Sequence[Column], records: Sequence[Mapping[str, Any]]) -> str:
    """Left-aligned columns two spaces apart, a heading line first."""
    rows = [[c.heading for c in columns]]
    rows += [[c.show(record.get(c.key)) for c in columns] for record in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )


def _render_status(status: Mapping[str, Any]) -> str:
    keys = [k for k in _STATUS_ORDER if k in status]
    keys += sorted(k for k in status if k not in _STATUS_ORDER)
    width = max((len(k) for k in keys), default=0) + 1
    out = []
    for key in keys:
        value = status[key]
        if key == "uptime":
            shown = format_duration(value)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            shown = f"{len(value)} (--json shows them)"  # records, a table's worth each
        else:
            shown = _text(value)
        out.append(f"{key + ':':<{width}} {shown}\n")
    return "".join(out)


def _render_counters(counters: Mapping[str, Any]) -> str:
    if not counters:
        return "no counters\n"
    width = max(len(k) for k in counters)
    return "".join(f"{k:<{width}}  {counters[k]}\n" for k in sorted(counters))


def render(command: str, result: Any, args: argparse.Namespace) -> str:
    """The human-readable form of ``command``'s result (JSON when it is not of the
    expected shape)."""
    if command in COLUMNS and isinstance(result, list):
        if not result:
            return f"{_EMPTY[command]}\n"
        return render_table(COLUMNS[command], [r for r in result if isinstance(r, Mapping)])
    if command == "status" and isinstance(result, Mapping):
        return _render_status(result)
    if command == "counters" and isinstance(result, Mapping):
        return _render_counters(result)
    if command == "reload":
        warnings = (result.get("warnings") or []) if isinstance(result, Mapping) else []
        return "configuration reloaded\n" + "".join(f"warning: {w}\n" for w in warnings)
    if command == "remove":
        return f"removed the binding of {args.home_address}\n"
    if command == "version" and isinstance(result, Mapping):
        return (f"mip6ctl {__version__}, mip6d {result.get('version')} "
                f"(control protocol {result.get('protocol')})\n")
    return json.dumps(result, indent=2) + "\n"


# -- the command line ----------------------------------------------------------------------


def _home_address(value: str) -> str:
    try:
        return str(IPv6Address(value))
    except AddressValueError:
        raise argparse.ArgumentTypeError(f"not an IPv6 address: {value!r}") from None


SUBCOMMANDS = ("status", "bindings", "bul", "counters", "reload", "remove", "version")
"""The control commands mip6ctl offers, under the same names (help from
:data:`mip6d.control.COMMANDS`)."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the daemon's JSON result")
    parser = argparse.ArgumentParser(
        prog="mip6ctl", parents=[common],
        description="Query and control a running mip6d over its control socket.",
    )
    parser.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH",
                        help=f"the daemon's control socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for an answer (default {DEFAULT_TIMEOUT:g})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        text = COMMANDS[name].help
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        for argument in COMMANDS[name].arguments:
            p.add_argument(argument.name, metavar=argument.name.upper().replace("_", "-"),
                           type=_home_address, help=argument.help)
    return parser


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``mip6ctl``; returns the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser().parse_args(argv)
    command = args.command
    extra = {a.name: getattr(args, a.name) for a in COMMANDS[command].arguments}
    try:
        result = request(args.socket, command, args.timeout, **extra)
    except CtlError as exc:
        what = f"{command} failed: " if command in ("reload", "remove") else ""
        err.write(f"mip6ctl: {what}{exc}\n")
        return 1
    if getattr(args, "json", False):
        out.write(json.dumps(result, indent=2) + "\n")
    else:
        out.write(render(command, result, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
