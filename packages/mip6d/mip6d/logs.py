"""Structured logging for the daemon, a foreground systemd service.

One line per event, either logfmt (``level=info event=binding-expired
home_address=2001:db8::10``) or one JSON object. Events carry their fields in the
record (:func:`log_event`, :func:`emit` for the core's :class:`~mip6d.core.effects.Log`
effects); records from other code (pyroute2, asyncio) are logged with their message as
``msg``.

* Under systemd (``JOURNAL_STREAM`` names standard error) lines carry no timestamp,
  since the journal stamps them, and start with the syslog priority (``<6>``) that
  journald turns into the entry's priority (sd-daemon(3)); elsewhere they start with an
  ISO 8601 timestamp.
* The level follows ``DebugLevel`` (:data:`DEBUG_LEVELS`): UMIP logs notices and
  errors at 0 and everything at any higher level; Homeguy adds per-packet records
  (:data:`TRACE`) from level 5 up.
* Values of fields whose name looks secret (:data:`SECRET_WORDS`) are replaced by
  :data:`REDACTED` in every record, whoever logged it.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, TextIO

from mip6d.core.effects import Log

__all__ = [
    "DEBUG_LEVELS",
    "EVENT_LEVELS",
    "LOGGER",
    "REDACTED",
    "SECRET_WORDS",
    "TRACE",
    "Format",
    "StructuredFormatter",
    "emit",
    "is_secret",
    "level_for",
    "log_event",
    "log_exception",
    "redact",
    "set_debug_level",
    "setup",
    "under_journal",
]

LOGGER = logging.getLogger("mip6d")
"""The daemon's logger; modules log to children of it (``mip6d.control``)."""

TRACE = 5
"""Below DEBUG: one record per packet sent or received."""
logging.addLevelName(TRACE, "TRACE")

DEBUG_LEVELS: tuple[tuple[int, int], ...] = (
    (0, logging.INFO),  # UMIP: notices and errors only
    (1, logging.DEBUG),  # UMIP: any non-zero level turns debug output on
    (5, TRACE),  # Homeguy: per-packet records as well
)
"""``(lowest DebugLevel, logging level)``, ascending: the last row whose DebugLevel is
at most the configured one applies."""

SECRET_WORDS = (
    "key", "secret", "password", "passwd", "passphrase", "token", "credential", "psk",
)
"""A field whose name contains one of these (case-insensitively) is never logged."""

REDACTED = "[redacted]"

EVENT_LEVELS: Mapping[str, int] = {
    # Mobile node (mip6d.core.bul, mip6d.core.mobile).
    "binding-update-sent": logging.DEBUG,
    "binding-ack-ignored": logging.DEBUG,
    "registration-refused": logging.WARNING,
    "sequence-number-resync": logging.INFO,
    "care-of-address-selected": logging.INFO,
    "care-of-address-ignored": logging.DEBUG,
    "care-of-address-lost": logging.WARNING,
    "care-of-bindings-changed": logging.INFO,
    "care-of-bindings-deregistered": logging.INFO,
    "binding-identifier-refused": logging.WARNING,
    "binding-without-bid-replaced": logging.INFO,
    "multiple-care-of-prohibited": logging.WARNING,
    "binding-deregistered": logging.INFO,
    "stopped": logging.INFO,
    "dhaad-request-sent": logging.DEBUG,
    "dhaad-reply-ignored": logging.INFO,
    "dhaad-unanswered": logging.WARNING,
    "home-agents-discovered": logging.INFO,
    "home-agent-fallback": logging.WARNING,
    "mobile-prefix-solicitation-sent": logging.DEBUG,
    "mobile-prefix-solicitation-unanswered": logging.WARNING,
    "mobile-prefix-advertisement-received": logging.INFO,
    "mobile-prefix-advertisement-ignored": logging.INFO,
    "home-prefix-renumbered": logging.WARNING,
    "home-address-renumbered": logging.WARNING,
    "renumbering-ignored": logging.WARNING,
    # Home agent (mip6d.core.homeagent).
    "binding-cache-restored": logging.INFO,
    "binding-update-dropped": logging.WARNING,
    "binding-update-ignored": logging.DEBUG,
    "binding-update-pending": logging.DEBUG,
    "binding-update-refused": logging.INFO,
    "binding-updated": logging.DEBUG,
    "binding-removed": logging.INFO,
    "duplicate-address-detection": logging.DEBUG,
    "duplicate-address-detection-ignored": logging.DEBUG,
    "forwarding-failed-ignored": logging.DEBUG,
    "registration-cancelled": logging.INFO,
    "remove-node-unknown": logging.WARNING,
    "flow-bindings": logging.INFO,
    "flow-binding-refused": logging.WARNING,
    # Home agent, dynamic home agent address discovery (mip6d.core.dhaad).
    "home-agent-heard": logging.INFO,
    "home-agent-gone": logging.INFO,
    "dhaad-reply": logging.INFO,
    "dhaad-request-ignored": logging.INFO,
    # Home agent, mobile prefix discovery (mip6d.core.prefixdisc).
    "mobile-prefix-advertisement": logging.INFO,
    "mobile-prefix-solicitation-ignored": logging.INFO,
    "mobile-prefix-advertisement-scheduled": logging.INFO,
    # Both.
    "binding-expired": logging.INFO,
}
"""The severity of each event the core logs; events not listed are logged at INFO."""

_SYSLOG_PRIORITY = (  # (lowest logging level, syslog priority), descending
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
    (logging.NOTSET, 7),
)
_RESERVED = ("ts", "level", "event", "msg", "logger")


class Format(StrEnum):
    """How a record is written."""

    LOGFMT = "logfmt"
    JSON = "json"


def level_for(debug_level: int) -> int:
    """The logging level for ``DebugLevel`` 0..10 (:data:`DEBUG_LEVELS`)."""
    if not 0 <= debug_level <= 10:
        raise ValueError(f"DebugLevel {debug_level}: expected 0..10")
    return next(level for lowest, level in reversed(DEBUG_LEVELS) if debug_level >= lowest)


def is_secret(name: str) -> bool:
    """Whether a field called ``name`` may hold a secret (:data:`SECRET_WORDS`)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with the values of secret-looking names replaced, nested mappings
    included."""
    return {
        name: REDACTED if is_secret(name) else redact(value) if isinstance(value, Mapping)
        else value
        for name, value in fields.items()
    }


def under_journal(environ: Mapping[str, str], stream: TextIO) -> bool:
    """Whether ``stream`` is connected to the journal: ``JOURNAL_STREAM`` holds the
    ``device:inode`` of the journal's socket, and is inherited by children whose
    output goes elsewhere, so it must match ``stream``'s (systemd.exec(5))."""
    value = environ.get("JOURNAL_STREAM")
    if not value:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return True  # cannot tell: trust the variable
    return value == f"{st.st_dev}:{st.st_ino}"


# -- emitting ----------------------------------------------------------------------------


def log_event(
    logger: logging.Logger,
    level: int,
    event: str,
    fields: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
    /,
    **more: Any,
) -> None:
    """Log ``event`` with ``fields`` (a mapping or ``(name, value)`` pairs) and
    ``more``, in that order."""
    _log(logger, level, event, fields, more, exc_info=False)


def log_exception(
    logger: logging.Logger,
    event: str,
    fields: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
    /,
    **more: Any,
) -> None:
    """Like :func:`log_event` at ERROR, with the exception being handled (its type,
    message and traceback, on the same line)."""
    _log(logger, logging.ERROR, event, fields, more, exc_info=True)


def _log(
    logger: logging.Logger,
    level: int,
    event: str,
    fields: Mapping[str, Any] | Iterable[tuple[str, Any]],
    more: Mapping[str, Any],
    *,
    exc_info: bool,
) -> None:
    if not logger.isEnabledFor(level):
        return
    items = dict(fields.items() if isinstance(fields, Mapping) else fields)
    items.update(more)
    logger.log(level, "%s", event, exc_info=exc_info, extra={"event": event, "fields": items})


def emit(record: Log, logger: logging.Logger = LOGGER) -> None:
    """Log one of the core's :class:`~mip6d.core.effects.Log` effects at the level
    :data:`EVENT_LEVELS` gives its event."""
    log_event(logger, EVENT_LEVELS.get(record.event, logging.INFO), record.event, record.fields)


# -- formatting --------------------------------------------------------------------------


def _logfmt_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and all(c.isprintable() and c not in ' ="\\' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _logfmt_key(name: str) -> str:
    key = "".join(c if c.isprintable() and c not in ' ="\\' else "_" for c in name)
    return key or "_"


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return str(value)


def _syslog_priority(level: int) -> int:
    return next(prio for lowest, prio in _SYSLOG_PRIORITY if level >= lowest)


class StructuredFormatter(logging.Formatter):
    """Formats a record as one logfmt or JSON line (see the module's docstring).

    ``clock`` gives the time of a record (seconds since the epoch) for tests; by default
    the record's own.
    """

    def __init__(
        self,
        fmt: Format = Format.LOGFMT,
        *,
        timestamps: bool = True,
        priority_prefix: bool = False,
        clock: Callable[[logging.LogRecord], float] | None = None,
    ) -> None:
        super().__init__()
        self.fmt = fmt
        self.timestamps = timestamps
        self.priority_prefix = priority_prefix
        self.clock = clock or (lambda record: record.created)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record as ordered, redacted fields."""
        out: dict[str, Any] = {}
        if self.timestamps:
            when = datetime.datetime.fromtimestamp(self.clock(record), datetime.UTC)
            out["ts"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out["level"] = record.levelname.lower()
        event = getattr(record, "event", None)
        if isinstance(event, str):
            out["event"] = event
        else:
            out["msg"] = record.getMessage()
        if not record.name.startswith(LOGGER.name):
            out["logger"] = record.name
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            for name, value in redact(extra).items():
                key = str(name)
                out[f"{key}_" if key in _RESERVED else key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["error"] = f"{type(exc).__name__}: {exc}"
            out["traceback"] = self.formatException(record.exc_info)
        return out

    def format(self, record: logging.LogRecord) -> str:
        fields = self.fields(record)
        if self.fmt is Format.JSON:
            line = json.dumps({k: _json_value(v) for k, v in fields.items()})
        else:
            line = " ".join(f"{_logfmt_key(k)}={_logfmt_value(v)}" for k, v in fields.items())
        if self.priority_prefix:
            line = f"<{_syslog_priority(record.levelno)}>{line}"
        return line


# -- setup -------------------------------------------------------------------------------


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`setup` installed, so that a second call replaces it."""


def setup(
    debug_level: int = 0,
    fmt: Format | str = Format.LOGFMT,
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Send every record to ``stream`` (standard error) as :class:`StructuredFormatter`
    lines: the daemon's at the level of ``debug_level``, other libraries' from WARNING.

    Calling it again (on reload) replaces the handler it installed.
    """
    out = stream if stream is not None else sys.stderr
    journal = under_journal(os.environ if environ is None else environ, out)
    handler = _Handler(out)
    handler.setFormatter(
        StructuredFormatter(Format(fmt), timestamps=not journal, priority_prefix=journal)
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    set_debug_level(debug_level)
    return handler


def set_debug_level(debug_level: int) -> None:
    """Change the daemon's level (a reload with a new ``DebugLevel``)."""
    LOGGER.setLevel(level_for(debug_level))
