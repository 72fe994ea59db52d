"""The dashboard's pure core: what a node's binding at the home agent looks like on the page,
what counts as a home agent failure, and the plotted series made of stored samples.

Records are mip6d's control socket answers (:func:`mip6d.control.binding_record`); a
field the record does not carry is shown as not reported, never guessed. A cell is
``(text, tone)``: the server renders it and the page's script updates it from the same
values (``live.json``), so the page without JavaScript shows what the refreshed one does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

__all__ = [
    "LIVE_COLUMNS",
    "MAX_PLOTTED",
    "MIN_SAMPLE_INTERVAL",
    "NODE_COLUMNS",
    "SERIES",
    "SUMMARY",
    "Cell",
    "Column",
    "Point",
    "Reading",
    "Tone",
    "ago",
    "binding_updates",
    "by_home_address",
    "duration",
    "failures",
    "home_agent_cell",
    "node_cells",
    "reading",
    "series",
    "size",
    "summary_cells",
]

MIN_SAMPLE_INTERVAL = 60.0
"""Seconds between two stored samples, at least: what the plots resolve, and the bound
(with the collector's retention) on how many rows they take."""


class Tone(StrEnum):
    """How a cell is coloured (a CSS class)."""

    PLAIN = ""
    GOOD = "good"
    OFF = "off"
    BAD = "bad"


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = Tone.PLAIN


def duration(seconds: float) -> str:
    """``0 s``, ``42 s``, ``3 min 20 s``, ``2 h 5 min``, ``3 d 4 h``: two units at most."""
    s = max(0, int(seconds))
    for big, big_name, small, small_name in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"),
                                             (60, "min", 1, "s")):
        if s >= big:
            rest = (s % big) // small
            return f"{s // big} {big_name}" + (f" {rest} {small_name}" if rest else "")
    return f"{s} s"


def ago(when: float, now: float) -> str:
    """``3 min 20 s ago (14:02 UTC)``."""
    clock = datetime.fromtimestamp(when, UTC).strftime("%H:%M UTC")
    return f"{duration(now - when)} ago ({clock})"


def size(count: float) -> str:
    """Bytes with a decimal unit: ``512 B``, ``1.5 kB``, ``2.0 MB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} B"


def _number(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


NOT_GIVEN = Cell("\u2014", Tone.OFF)
"""A value the home agent does not give (an older mip6d, a kernel without counters)."""

# Tunnel traffic: mip6d's ``tunnel_traffic``, the kernel's link statistics of the
# binding's tunnel device (shared by the nodes behind one care-of address).
TRAFFIC = (("rx", "\u2193"), ("tx", "\u2191"))


def _tunnel_traffic(record: Mapping[str, Any], now: float) -> Cell:
    counters = record.get("tunnel_traffic")
    if not isinstance(counters, Mapping):
        return NOT_GIVEN
    parts = []
    for direction, arrow in TRAFFIC:
        packets, octets = (_number(counters, f"{direction}_packets"),
                           _number(counters, f"{direction}_bytes"))
        if packets is not None and octets is not None:
            parts.append(f"{arrow} {size(octets)} ({int(packets)} packets)")
    return Cell(" ".join(parts)) if parts else NOT_GIVEN


def _care_of(record: Mapping[str, Any], now: float) -> Cell:
    return Cell(str(record.get("care_of") or "not reported by mip6d"))


def _lifetime(record: Mapping[str, Any], now: float) -> Cell:
    expires = _number(record, "expires_at")
    if expires is None:
        return Cell("not reported by mip6d", Tone.OFF)
    return Cell(duration(expires - now), Tone.BAD if expires - now < 30 else Tone.PLAIN)


def _last_handover(record: Mapping[str, Any], now: float) -> Cell:
    """mip6d's ``last_handover``: when the care-of address last changed, ``None`` when
    it never did since registering (``registered_at``)."""
    if "last_handover" not in record:
        return NOT_GIVEN  # a mip6d that does not time handovers
    moved = _number(record, "last_handover")
    count = _number(record, "handovers")
    if moved is not None:
        return Cell(ago(moved, now) + (f", {int(count)} in all" if count and count > 1
                                       else ""))
    if count:
        return NOT_GIVEN  # moved before its mip6d timed handovers
    registered = _number(record, "registered_at")
    return Cell("none" + (f" since registering {ago(registered, now)}"
                          if registered is not None else ""))


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: Callable[[Mapping[str, Any], float], Cell]


LIVE_COLUMNS: tuple[Column, ...] = (
    Column("care-of", "Care-of address", _care_of),
    Column("lifetime", "Lifetime left", _lifetime),
    Column("last-handover", "Last handover", _last_handover),
    Column("tunnel-traffic", "Tunnel traffic", _tunnel_traffic),
)
"""What the page shows of a registered node's binding, one row per column."""

NODE_COLUMNS = (("state", "At the home agent"), *((c.key, c.label) for c in LIVE_COLUMNS))
"""A node's live cells in the order shown: (key after the node's prefix, label)."""


@dataclass(frozen=True)
class Reading:
    """One look at the home agent: its bindings, or why there are none to show."""

    bindings: tuple[Mapping[str, Any], ...] | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.bindings is not None


def reading(answer: object, error: str = "") -> Reading:
    """A :class:`Reading` of mip6d's ``bindings`` answer (``None`` with the error)."""
    if error:
        return Reading(None, error)
    if not isinstance(answer, list) or not all(isinstance(b, Mapping) for b in answer):
        return Reading(None, f"mip6d answered {str(answer)[:80]!r} instead of its bindings")
    return Reading(tuple(answer))


def by_home_address(bindings: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(b.get("home_address")): b for b in bindings}


def home_agent_cell(ha: Reading) -> Cell:
    if not ha.ok:
        return Cell(f"Home agent not answering: {ha.error}", Tone.BAD)
    count = len(ha.bindings or ())
    return Cell(f"Home agent answering: {count} binding{'' if count == 1 else 's'}",
                Tone.GOOD)


def node_cells(prefix: str, enabled: bool, binding: Mapping[str, Any] | None, ha: Reading,
               now: float) -> dict[str, Cell]:
    """The live cells of one node (keys ``<prefix>-state`` and ``<prefix>-<column>``)."""
    blank = Cell("\u2014", Tone.OFF)
    if not ha.ok:
        state = Cell("unknown: the home agent is not answering", Tone.BAD)
    elif binding is not None:
        state = Cell("registered", Tone.GOOD)
    elif not enabled:
        state = Cell("not registered (disabled)", Tone.OFF)
    else:
        state = Cell("not registered", Tone.OFF)
    cells = {f"{prefix}-state": state}
    for column in LIVE_COLUMNS:
        cells[f"{prefix}-{column.key}"] = (column.cell(binding, now) if binding is not None
                                           else blank)
    return cells


# -- the operator's counters --------------------------------------------------------------

BINDING_UPDATES = "binding_updates_received"
# Failures by counter family (mip6d.metrics.METRICS): which labels are failures. A Binding
# Update counts unless accepted, or ignored while duplicate address detection runs (the
# node gets its answer then).
FAILURES: Mapping[str, Callable[[str], bool]] = {
    BINDING_UPDATES: lambda label: label not in (
        "accepted", "accepted-prefix-discovery-necessary", "ignored"),
    "kernel_failures": lambda label: True,
    "handler_failures": lambda label: True,
    "message_send_failures": lambda label: True,
    "receive_failures": lambda label: True,
    "malformed_packets_dropped": lambda label: True,
    "reloads": lambda label: label == "failed",
    "state_saves": lambda label: label == "failed",
}


def _numbers(counters: Mapping[str, object]) -> Iterable[tuple[str, str, float]]:
    for key, value in counters.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            family, _, label = str(key).partition("/")
            yield family, label, float(value)


def binding_updates(counters: Mapping[str, object]) -> int:
    """Binding Updates the home agent decided on since it started."""
    return int(sum(v for family, _, v in _numbers(counters) if family == BINDING_UPDATES))


def failures(counters: Mapping[str, object]) -> int:
    """Failures (:data:`FAILURES`) since the home agent started."""
    return int(sum(v for family, label, v in _numbers(counters)
                   if family in FAILURES and FAILURES[family](label)))


SUMMARY = (("bindings-now", "Bindings now"),
           ("binding-updates", "Binding Updates since mip6d started"),
           ("failures", "Failures since mip6d started"))
"""The operator's summary rows: (cell key, label)."""


def summary_cells(ha: Reading, counters: object) -> dict[str, Cell]:
    """The operator's live cells: the banner and :data:`SUMMARY`, from the ``bindings``
    reading and the ``counters`` answer (anything else: unknown)."""
    unknown = Cell("unknown", Tone.OFF)
    cells = {"home-agent": home_agent_cell(ha),
             "bindings-now": Cell(str(len(ha.bindings or ()))) if ha.ok else unknown,
             "binding-updates": unknown, "failures": unknown}
    if ha.ok and isinstance(counters, Mapping):
        failed = failures(counters)
        cells["binding-updates"] = Cell(str(binding_updates(counters)))
        cells["failures"] = Cell(str(failed), Tone.BAD if failed else Tone.GOOD)
    return cells


# -- plotted series -----------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """A stored sample, as the plots need it (``None``: the home agent did not answer)."""

    taken: float
    bindings: int | None
    binding_updates: int
    failures: int


def _per_minute(points: Sequence[Point], value: Callable[[Point], int]
                ) -> list[tuple[float, float]]:
    """Rates between consecutive answered samples; a counter that went down means mip6d
    restarted, so what it counted since is the increase."""
    out = []
    answered = [p for p in points if p.bindings is not None]
    for before, after in pairwise(answered):
        minutes = (after.taken - before.taken) / 60
        if minutes <= 0:
            continue
        increase = value(after) - value(before)
        out.append((after.taken, (increase if increase >= 0 else value(after)) / minutes))
    return out


SERIES: Mapping[str, tuple[str, Callable[[Sequence[Point]], list[tuple[float, float]]]]] = {
    "bindings": ("bindings", lambda ps: [(p.taken, float(p.bindings)) for p in ps
                                         if p.bindings is not None]),
    "binding-updates": ("Binding Updates per minute",
                        lambda ps: _per_minute(ps, lambda p: p.binding_updates)),
    "failures": ("failures per minute", lambda ps: _per_minute(ps, lambda p: p.failures)),
    "down": ("home agent not answering (1) per sample",
             lambda ps: [(p.taken, float(p.bindings is None)) for p in ps]),
}
"""The operator's plots: name -> (title, series of (time, value) from the samples)."""


MAX_PLOTTED = 600
"""Points a plot draws at most (about its width): 31 days of samples are 44,640."""


def _thinned(values: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most ``limit`` points: the highest of each run of consecutive ones (a peak of
    failures stays visible)."""
    if len(values) <= limit:
        return values
    size = -(-len(values) // limit)
    return [max(values[i:i + size], key=lambda p: p[1]) for i in range(0, len(values), size)]


def series(name: str, points: Sequence[Point], limit: int = MAX_PLOTTED
           ) -> tuple[str, list[tuple[float, float]]]:
    """(title, at most ``limit`` points) of one plot; :class:`KeyError` for a name not in
    :data:`SERIES`."""
    title, make = SERIES[name]
    return title, _thinned(make(points), limit)
