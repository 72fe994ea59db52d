"""Structured logging: levels from DebugLevel, logfmt and JSON lines, redaction, setup."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d import logs
from mip6d.core.effects import Log, log

pytestmark = pytest.mark.unit

CORE = Path(logs.__file__).parent / "core"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, own = root.handlers[:], root.level, logs.LOGGER.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs.LOGGER.setLevel(own)


def capture(
    fmt: logs.Format = logs.Format.LOGFMT, *, timestamps: bool = False, prefix: bool = False
) -> tuple[logging.Logger, io.StringIO]:
    """A logger under mip6d whose lines go to a string, at TRACE, time fixed at 0."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logs.StructuredFormatter(
            fmt, timestamps=timestamps, priority_prefix=prefix, clock=lambda record: 0.0
        )
    )
    logger = logging.getLogger(f"mip6d.test.{fmt}.{timestamps}.{prefix}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logs.TRACE)
    return logger, stream


# -- levels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("debug_level", "level"),
    [(0, logging.INFO), (1, logging.DEBUG), (4, logging.DEBUG), (5, logs.TRACE),
     (10, logs.TRACE)],
)
def test_debug_level_maps_to_a_logging_level(debug_level: int, level: int) -> None:
    assert logs.level_for(debug_level) == level


@pytest.mark.parametrize("debug_level", [-1, 11])
def test_debug_level_out_of_range_is_refused(debug_level: int) -> None:
    with pytest.raises(ValueError, match=rf"DebugLevel {debug_level}: expected 0\.\.10"):
        logs.level_for(debug_level)


def test_every_event_the_core_logs_has_a_level() -> None:
    source = "\n".join(p.read_text() for p in CORE.glob("*.py"))
    events = set(re.findall(r'\blog\(\s*"([a-z0-9-]+)"', source))
    assert events, "no log(...) calls found in the core"
    assert events <= set(logs.EVENT_LEVELS), sorted(events - set(logs.EVENT_LEVELS))


# -- logfmt and JSON lines ---------------------------------------------------------------


def test_logfmt_line_exact() -> None:
    logger, out = capture(timestamps=True)
    logs.log_event(logger, logging.INFO, "binding-expired",
                   {"home_address": "2001:db8:1::10"}, lifetime=3600, mr=True)
    assert out.getvalue() == (
        "ts=1970-01-01T00:00:00.000Z level=info event=binding-expired "
        "home_address=2001:db8:1::10 lifetime=3600 mr=true\n"
    )


def test_logfmt_quotes_what_needs_quoting() -> None:
    logger, out = capture()
    logs.log_event(logger, logging.WARNING, "x", [
        ("space", "a b"), ("quote", 'say "hi"'), ("backslash", "C:\\x"), ("newline", "1\n2"),
        ("empty", ""), ("none", None), ("equals", "a=b"), ("float", 1.5), ("no", False),
    ])
    assert out.getvalue() == (
        'level=warning event=x space="a b" quote="say \\"hi\\"" backslash="C:\\\\x" '
        'newline="1\\n2" empty="" none=null equals="a=b" float=1.5 no=false\n'
    )


def test_json_line_exact() -> None:
    logger, out = capture(logs.Format.JSON, timestamps=True)
    logs.log_event(logger, logging.ERROR, "kernel-error", effect="AddTunnel", code=17, ok=None)
    assert out.getvalue() == (
        '{"ts": "1970-01-01T00:00:00.000Z", "level": "error", "event": "kernel-error", '
        '"effect": "AddTunnel", "code": 17, "ok": null}\n'
    )


def test_plain_records_are_logged_as_msg_and_foreign_loggers_named() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.StructuredFormatter(timestamps=False))
    foreign = logging.getLogger("pyroute2.test")
    foreign.handlers[:] = [handler]
    foreign.propagate = False
    foreign.warning("netlink %s", "busy")
    assert stream.getvalue() == 'level=warning msg="netlink busy" logger=pyroute2.test\n'


def test_fields_named_like_the_line_s_own_keys_are_renamed() -> None:
    logger, out = capture()
    logs.log_event(logger, logging.INFO, "e", level="x", event="y", ts=1)
    assert out.getvalue() == "level=info event=e level_=x event_=y ts_=1\n"


def test_odd_field_names_stay_parseable() -> None:
    logger, out = capture()
    logs.log_event(logger, logging.INFO, "e", {"a b=c": 1, "": 2})
    assert out.getvalue() == "level=info event=e a_b_c=1 _=2\n"


@pytest.mark.parametrize("fmt", list(logs.Format))
def test_an_exception_stays_on_one_line(fmt: logs.Format) -> None:
    logger, out = capture(fmt)
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logs.log_exception(logger, "failed", step=2)
    text = out.getvalue()
    assert text.count("\n") == 1
    assert "RuntimeError: boom" in text
    assert "Traceback" in text


def test_priority_prefix_for_the_journal() -> None:
    logger, out = capture(prefix=True)
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO,
                  logging.DEBUG, logs.TRACE):
        logs.log_event(logger, level, "e")
    prefixes = [line.split(">")[0] + ">" for line in out.getvalue().splitlines()]
    assert prefixes == ["<2>", "<3>", "<4>", "<6>", "<7>", "<7>"]


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["key", "psk", "PreSharedKey", "Password", "db_passwd", "passphrase", "api_token",
     "client_secret", "credentials"],
)
def test_secret_names(name: str) -> None:
    assert logs.is_secret(name)


@pytest.mark.parametrize("name", ["home_address", "care_of", "sequence", "status", "tunnel"])
def test_ordinary_names(name: str) -> None:
    assert not logs.is_secret(name)


def test_redact_reaches_nested_mappings() -> None:
    assert logs.redact({"a": 1, "token": "t", "peer": {"id": 1, "psk": "k"}}) == {
        "a": 1, "token": logs.REDACTED, "peer": {"id": 1, "psk": logs.REDACTED},
    }


@pytest.mark.parametrize("fmt", list(logs.Format))
@given(secret=st.text(min_size=1), name=st.sampled_from(["key", "secret", "password", "token"]))
def test_a_secret_value_never_reaches_the_line(fmt: logs.Format, secret: str, name: str) -> None:
    logger, out = capture(fmt)
    value = f"S3CR3T{secret}"
    logs.log_event(logger, logging.INFO, "e", {f"ike_{name}": value, "peer": {name: value}})
    assert "S3CR3T" not in out.getvalue()
    assert logs.REDACTED in out.getvalue()


def test_redaction_also_covers_records_not_made_by_log_event() -> None:
    logger, out = capture()
    logger.info("configured", extra={"fields": {"password": "hunter2"}})
    assert out.getvalue() == 'level=info msg=configured password=[redacted]\n'


# -- the core's Log effects ---------------------------------------------------------------


def test_emit_uses_the_event_s_level() -> None:
    logger, out = capture()
    logger.setLevel(logging.INFO)
    logs.emit(log("binding-update-sent", home_address="2001:db8:1::10"), logger)  # DEBUG
    logs.emit(log("registration-refused", status=129), logger)  # WARNING
    logs.emit(Log("something-new", (("x", 1),)), logger)  # not in the table: INFO
    assert out.getvalue() == (
        "level=warning event=registration-refused status=129\n"
        "level=info event=something-new x=1\n"
    )


# -- journal detection and setup ---------------------------------------------------------


def _journal_value(path: Path) -> str:
    st_ = os.stat(path)
    return f"{st_.st_dev}:{st_.st_ino}"


def test_under_journal(tmp_path: Path) -> None:
    target = tmp_path / "stderr"
    with target.open("w") as stream:
        assert not logs.under_journal({}, stream)
        assert logs.under_journal({"JOURNAL_STREAM": _journal_value(target)}, stream)
        assert not logs.under_journal({"JOURNAL_STREAM": "1:2"}, stream)
    assert logs.under_journal({"JOURNAL_STREAM": "1:2"}, io.StringIO())  # cannot tell


def test_setup_under_the_journal_drops_timestamps(tmp_path: Path) -> None:
    target = tmp_path / "stderr"
    with target.open("w") as stream:
        logs.setup(0, stream=stream, environ={"JOURNAL_STREAM": _journal_value(target)})
        logs.log_event(logging.getLogger("mip6d.x"), logging.INFO, "started", pid=1)
        logs.log_event(logging.getLogger("mip6d.x"), logging.DEBUG, "hidden")
    assert target.read_text() == "<6>level=info event=started pid=1\n"


def test_setup_elsewhere_stamps_lines_and_follows_the_level() -> None:
    stream = io.StringIO()
    logs.setup(1, "json", stream=stream, environ={})
    logs.log_event(logging.getLogger("mip6d.x"), logging.DEBUG, "shown")
    logging.getLogger("somelib").info("not shown: other libraries from WARNING")
    record = json.loads(stream.getvalue())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("ts"))
    assert record == {"level": "debug", "event": "shown"}


def test_setup_again_replaces_its_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    logs.setup(0, stream=first, environ={})
    logs.setup(0, stream=second, environ={})
    logs.log_event(logging.getLogger("mip6d.x"), logging.INFO, "once")
    assert first.getvalue() == ""
    assert second.getvalue().endswith("event=once\n")
    logs.set_debug_level(5)
    assert logs.LOGGER.level == logs.TRACE
