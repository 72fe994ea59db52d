"""``homeguy-status``: what a Homeguy node is doing, for the person at its console.

::

    homeguy-status [--socket PATH] [--enrollment PATH] [--once | --json | --announce TTY]

Live by default: the view is drawn again every second until Ctrl-C. It shows the
boot-time enrollment's outcome (:mod:`mip6d.enrollment`) and, from mip6d's control
socket (:func:`mip6d.ctl.request`), the home address, home agent, care-of address and
its interface, the binding's state and lifetime left, the last handovers and the
tunnel. ``--once`` prints the view once; ``--json`` prints the data it is drawn from,
one JSON document. Either exits 0 when mip6d answered, 1 when it did not.
``--announce`` (the live images' homeguy-status-screen service) says in a line, on the
screen and in the login banner (:mod:`mip6d.screen`), each change of :func:`summary`:
registered, moved, at home, no longer answering.

:func:`gather` asks (the I/O), :func:`render` draws (pure): data in, text out.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from mip6d import enrollment, screen
from mip6d.control import DEFAULT_SOCKET
from mip6d.ctl import CtlError, format_bytes, format_duration, format_traffic, request
from mip6d.enrollment import EnrollmentState

__all__ = ["QUERIES", "announce", "format_bytes", "frame", "gather", "main", "render", "summary"]

QUERIES = ("status", "bul", "counters")
"""The control commands one view is made of; :func:`gather` keys their results so."""
SUMMARY_QUERIES = ("status", "bul")
"""What :func:`summary` reads of them (asked each second while announcing)."""
REFRESH = 1.0
WIDTH = 80
TIMEOUT = 2.0
HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
Local = Callable[[float], time.struct_time]
"""Epoch seconds to the clock time shown (``time.localtime``; tests: ``time.gmtime``)."""

# What to do next, by what enrollment said, when mip6d does not answer.
NEXT_STEP: Mapping[EnrollmentState | None, str] = {
    None: "enrollment has not reported yet: it runs at boot once the network is up "
          "(systemctl status homeguy-enroll)",
    EnrollmentState.ENROLLING: "enrollment is fetching this node's configuration; wait, "
                               "or see 'journalctl -u homeguy-enroll'",
    EnrollmentState.NOT_ENROLLING: "to enroll, boot with homeguy.url=URL homeguy.token=TOKEN "
                                   "on the kernel command line, or use your own image from "
                                   "the Homeguy service",
    EnrollmentState.FAILED: "fix the cause above, then run 'systemctl restart homeguy-enroll'",
    EnrollmentState.ENROLLED: "mip6d should be running: see 'systemctl status mip6d' and "
                              "'journalctl -u mip6d'",
}

DENIED = ("run 'sudo homeguy-status': mip6d answers root and its control socket's group "
          "only")
ROLES = {"MN": "mobile node", "HA": "home agent", "CN": "correspondent node"}
COUNTERS = (
    ("handovers", "handovers"),
    ("messages_sent/binding-update", "Binding Updates sent"),
    ("binding_acks_received/accepted", "accepted"),
)
"""The counters the view shows, by sample key (:data:`mip6d.metrics.METRICS`)."""


# -- gathering (I/O) -----------------------------------------------------------------------


def gather(socket_path: str, enrollment_path: str | None,
           clock: Callable[[], float] = time.time, timeout: float = TIMEOUT,
           queries: Sequence[str] = QUERIES) -> dict[str, Any]:
    """One view's data, JSON-able: ``at``; ``enrollment`` (the outcome or None) or
    ``enrollment_error`` (not read without ``enrollment_path``); ``mip6d`` (``queries``
    and their results) or ``mip6d_error`` and ``mip6d_denied`` (not allowed to ask).
    Never raises for a missing daemon or file."""
    view: dict[str, Any] = {"at": clock(), "enrollment": None, "mip6d": None}
    try:
        outcome = None if enrollment_path is None else enrollment.read(enrollment_path)
        view["enrollment"] = None if outcome is None else outcome.to_json()
    except enrollment.OutcomeError as exc:
        view["enrollment_error"] = str(exc)
    try:
        view["mip6d"] = {q: request(socket_path, q, timeout) for q in queries}
    except CtlError as exc:
        view["mip6d_error"] = str(exc)
        # /run/mip6d is root's and the socket's group's: a person logged in as the
        # live system's user gets here first.
        view["mip6d_denied"] = exc.errno in (errno.EACCES, errno.EPERM)
    return view


# -- drawing (pure) ------------------------------------------------------------------------


def _clock_time(at: object, now: float, local: Local) -> str:
    if isinstance(at, bool) or not isinstance(at, int | float):
        return "-"
    return f"{time.strftime('%H:%M:%S', local(at))} ({_elapsed(now - at)} ago)"


def _elapsed(seconds: object) -> str:
    """Like :func:`format_duration`, for time gone by: under a second is ``0s``."""
    shown = format_duration(seconds)
    return "0s" if shown == "expired" else shown


def _mapping(value: object) -> Mapping[str, Any]:
    """``value`` if the daemon sent an object there; an empty one else."""
    return value if isinstance(value, Mapping) else {}


def _row(label: str, text: str) -> str:
    """``label`` in a column of its own, ``text`` beside it, folded for an 80-column
    console (the text console a person boots to)."""
    return textwrap.fill(text, WIDTH, initial_indent=f"{label:<13}", subsequent_indent=" " * 13,
                         break_long_words=False, break_on_hyphens=False) + "\n"


def _enrollment(view: Mapping[str, Any], now: float, local: Local
                ) -> tuple[str, str, EnrollmentState | None]:
    """The enrollment's rows, the home address it names, its state."""
    if view.get("enrollment_error"):
        return _row("Enrollment", f"unreadable: {view['enrollment_error']}"), "", None
    try:
        outcome = (None if view.get("enrollment") is None
                   else enrollment.Outcome.from_json(view["enrollment"]))
    except enrollment.OutcomeError as exc:
        return _row("Enrollment", f"unreadable: {exc}"), "", None
    if outcome is None:
        return _row("Enrollment", "no outcome yet"), "", None
    return (_row("Enrollment", outcome.line()) + _row("", _clock_time(outcome.at, now, local)),
            outcome.home_address or "", outcome.state)


def _on_interface(entry: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    """`` on IFACE`` when the daemon says which interface the entry's care-of address is on."""
    if status.get("care_of_interface") and status.get("care_of") == entry.get("care_of"):
        return f" on {status['care_of_interface']}"
    return ""


def _binding(entry: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    out = _row("Home address", f"{entry.get('home_address')}   home agent "
                               f"{entry.get('home_agent')}")
    if entry.get("home_link"):
        out += _row("Care-of", f"none: at home on {entry['home_link']}")
    elif entry.get("care_of"):
        out += _row("Care-of", f"{entry['care_of']}{_on_interface(entry, status)}")
    else:
        out += _row("Care-of", "none: no usable address on a foreign link")
    state = str(entry.get("state") or "-")
    left = entry.get("lifetime_left")
    if left is not None:
        state += f", {format_duration(left)} left of {format_duration(entry.get('lifetime'))}"
    out += _row("Binding", f"{state}, sequence {entry.get('sequence')}")
    if entry.get("prefixes"):
        out += _row("Networks", ", ".join(str(p) for p in entry["prefixes"]))
    tunnel = str(entry.get("tunnel") or "")
    traffic = _mapping(status.get("tunnel_traffic")).get(tunnel)
    if tunnel and isinstance(traffic, Mapping):
        out += _row("Tunnel", f"{tunnel}: {format_traffic(traffic)}")
    elif tunnel:
        out += _row("Tunnel", f"{tunnel}: not up")
    return out


def _handovers(status: Mapping[str, Any], now: float,
               local: Local) -> str:
    moves = [m for m in status.get("recent_handovers") or () if isinstance(m, Mapping)]
    if not moves:
        return _row("Handovers", "none yet")
    out = _row("Handovers", "newest first")
    for move in reversed(moves):
        src, dst = move.get("from"), move.get("to")
        via = f" on {move['interface']}" if move.get("interface") else ""
        what = (f"registered {dst}{via}" if src is None
                else f"deregistered {src} (home)" if dst is None
                else f"moved {src} -> {dst}{via}")
        out += f"  {_clock_time(move.get('at'), now, local)}  {what}\n"
    return out


def render(view: Mapping[str, Any],
           local: Local = time.localtime) -> str:
    """The text :func:`gather`'s ``view`` is shown as; ``local`` turns epoch seconds into
    the clock time shown."""
    now = float(view.get("at") or 0.0)
    out = f"Homeguy node status, {time.strftime('%Y-%m-%d %H:%M:%S', local(now))}\n\n"
    text, enrolled_home, state = _enrollment(view, now, local)
    out += text
    daemon = view.get("mip6d")
    if not isinstance(daemon, Mapping):
        reason = view.get("mip6d_error") or "no answer"
        out += _row("mip6d", f"not answering: {reason}")
        step = DENIED if view.get("mip6d_denied") else NEXT_STEP[state]
        return out + "\n" + _row("Next", step)
    status = _mapping(daemon.get("status"))
    role = str(status.get("role") or "-")
    out += _row("mip6d", f"{ROLES.get(role, role)}, version {status.get('version')}, "
                         f"up {_elapsed(status.get('uptime'))}")
    entries = [e for e in daemon.get("bul") or () if isinstance(e, Mapping)]
    if role == "HA":
        out += _row("Bindings", f"{status.get('bindings', 0)} (mip6ctl bindings)")
    elif not entries:
        home = f" for {enrolled_home}" if enrolled_home else ""
        out += _row("Binding", f"none{home}: mip6d has no home registration configured")
    for entry in entries:
        out += "\n" + _binding(entry, status)
    if role != "HA":
        out += "\n" + _handovers(status, now, local)
    counters = _mapping(daemon.get("counters"))
    shown = [f"{label} {counters[key]}" for key, label in COUNTERS if key in counters]
    if shown:
        out += _row("Counters", ", ".join(shown))
    return out


# What a registration's state means to a person, in the summary: refreshing a binding is
# still being registered (no announcement every lifetime), deregistering is going home.
SUMMARY_STATES: Mapping[str, str] = {
    "registered": "registered", "refreshing": "registered",
    "registering": "registering", "deregistering": "returning home", "home": "at home",
    "discovering": "looking for a home agent", "failed": "not registered (refused or no answer)",
    "idle": "not registered",
}


def _summary_line(entry: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    state = str(entry.get("state") or "-")
    said = f"{SUMMARY_STATES.get(state, state)}: home address {entry.get('home_address')}"
    if state == "home":
        return f"{said} on its home link {entry.get('home_link')}"
    said += f", home agent {entry.get('home_agent')}"
    if entry.get("care_of"):
        said += f", care-of {entry['care_of']}{_on_interface(entry, status)}"
    return said


def summary(view: Mapping[str, Any]) -> list[str]:
    """The node's mobility state in a line per home registration (:func:`gather`'s
    ``view``), which changes when a person would want to know: registered, moved, home,
    mip6d gone; not with lifetimes and counters."""
    daemon = view.get("mip6d")
    if not isinstance(daemon, Mapping):
        return ["mip6d is not running" if not view.get("mip6d_denied")
                else "mip6d does not answer this user"]
    status = _mapping(daemon.get("status"))
    if status.get("role") == "HA":
        return [f"home agent with {status.get('bindings', 0)} bindings"]
    entries = [e for e in daemon.get("bul") or () if isinstance(e, Mapping)]
    return ([_summary_line(e, status) for e in entries]
            or ["mip6d runs with no home registration configured"])


def frame(text: str) -> str:
    """``text`` drawn over the previous one on a terminal: from the top left, each line
    and what is below cleared after it (no blank flash between two views)."""
    return HOME + text.replace("\n", CLEAR_LINE + "\n") + CLEAR_BELOW


# -- the command line ----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeguy-status",
        description="Show this Homeguy node's enrollment and mobility state, live.")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH",
                        help=f"mip6d's control socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--enrollment", default=enrollment.DEFAULT_PATH, metavar="PATH",
                        help=f"the enrollment's outcome (default {enrollment.DEFAULT_PATH})")
    once = parser.add_mutually_exclusive_group()
    once.add_argument("--once", action="store_true", help="print the view once and exit")
    once.add_argument("--json", action="store_true",
                      help="print the view's data as one JSON document and exit")
    once.add_argument("--announce", metavar="TTY",
                      help="say each change of the node's state in a line, here and on TTY "
                           "(e.g. /dev/tty1), until stopped")
    parser.add_argument("--banner", metavar="PATH",
                        help="with --announce: keep the latest line in this login banner "
                             "file too (e.g. /etc/issue.d/30-homeguy-mobility.issue)")
    return parser


def announce(socket_path: str, tty: Path, banner: Path | None, out: TextIO,
             sleep: Callable[[float], None] = time.sleep,
             local: Local = time.localtime) -> None:
    """Say each change of :func:`summary` on ``out`` and ``tty``, and keep it in the
    login ``banner``; asks mip6d every second (only what the summary reads) until
    stopped."""
    said: list[str] = []
    while True:
        view = gather(socket_path, None, queries=SUMMARY_QUERIES)
        lines = summary(view)
        if lines != said:
            when = time.strftime("%H:%M:%S", local(view["at"]))
            text = "".join(f"homeguy-status: {when} {line}\n" for line in lines)
            out.write(text)
            out.flush()
            screen.show(text, tty)
            if banner is not None:
                zone = time.strftime("%Z", local(view["at"]))
                error = screen.write_banner(banner, "".join(
                    f"Mobility ({when} {zone}): {line}\n" for line in lines) + "\n")
                if error:
                    out.write(f"homeguy-status: {error}\n")
            said = lines
        sleep(REFRESH)


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         sleep: Callable[[float], None] = time.sleep) -> int:
    """Run ``homeguy-status``; returns the exit status."""
    out = stdout or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    if args.banner and not args.announce:
        parser.error("--banner goes with --announce TTY")
    if args.announce:
        try:
            announce(args.socket, Path(args.announce),
                     None if args.banner is None else Path(args.banner), out, sleep)
        except KeyboardInterrupt:
            return 0
    if args.json or args.once:
        view = gather(args.socket, args.enrollment)
        out.write(json.dumps(view, indent=2) + "\n" if args.json else render(view))
        return 0 if view["mip6d"] is not None else 1
    draw = frame if out.isatty() else (lambda text: "\n" + text)
    try:
        while True:
            out.write(draw(render(gather(args.socket, args.enrollment))
                           + "\n(updated every second; Ctrl-C leaves)\n"))
            out.flush()
            sleep(REFRESH)
    except KeyboardInterrupt:
        out.write("\n")
        return 0


if __name__ == "__main__":
    sys.exit(main())
