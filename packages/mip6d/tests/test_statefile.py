"""Atomic state persistence: write, crash, corrupt files moved aside, the debouncer."""

from __future__ import annotations

import itertools
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d import statefile
from mip6d.core.bcache import BindingCache
from mip6d.statefile import Debouncer, StateFileError

pytestmark = pytest.mark.unit

PACKAGE_ROOT = Path(statefile.__file__).parents[1]
EPOCH_2024 = 1704067200.0  # 2024-01-01T00:00:00Z
STAMP_2024 = "20240101T000000Z"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- save and load -------------------------------------------------------------------------


def test_save_then_load(tmp_path: Path) -> None:
    path = tmp_path / "bindings.json"
    data = {"format": "x", "bindings": [{"home_address": "2001:db8:1::10", "sequence": 7}]}
    statefile.save(path, data)
    assert statefile.load(path) == data
    assert json.loads(path.read_text()) == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


def test_load_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert statefile.load(tmp_path / "bindings.json") is None


def test_write_atomic_replaces_the_content_exactly(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_bytes(b"old")
    statefile.write_atomic(path, b"new\x00bytes", mode=0o644)
    assert path.read_bytes() == b"new\x00bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert leftovers(tmp_path) == []


def test_binding_cache_document_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "bindings.json"
    statefile.write_atomic(path, BindingCache().to_json().encode())
    loaded = statefile.load(path, BindingCache.from_json)
    assert isinstance(loaded, BindingCache)
    assert len(loaded) == 0


# -- crashes and write failures -----------------------------------------------------------

CRASH = """
import os, sys
from mip6d import statefile
os.replace = lambda src, dst: os._exit(9)  # the process dies between write and rename
statefile.save(sys.argv[1], {"generation": 2})
"""


def test_crash_between_write_and_rename_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "bindings.json"
    statefile.save(path, {"generation": 1})
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    done = subprocess.run([sys.executable, "-c", CRASH, str(path)], env=env, check=False)
    assert done.returncode == 9
    assert json.loads(path.read_text()) == {"generation": 1}
    [leftover] = leftovers(tmp_path)
    assert leftover.startswith(".bindings.json.")
    assert json.loads((tmp_path / leftover).read_text()) == {"generation": 2}
    # The next start reads the old state and clears the leftover.
    assert statefile.load(path) == {"generation": 1}
    assert leftovers(tmp_path) == []


def test_failed_rename_keeps_the_old_file_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bindings.json"
    statefile.save(path, {"generation": 1})

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(StateFileError, match=rf"^{path}: cannot write: No space left on device$"):
        statefile.save(path, {"generation": 2})
    assert json.loads(path.read_text()) == {"generation": 1}
    assert leftovers(tmp_path) == []


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "bindings.json"
    with pytest.raises(StateFileError, match=rf"^{path}: cannot create a temporary file: "):
        statefile.save(path, {})


def test_unserialisable_data_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "bindings.json"
    with pytest.raises(TypeError):
        statefile.save(path, {"x": object()})
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_path_is_an_error_not_corruption(tmp_path: Path) -> None:
    path = tmp_path / "bindings.json"
    path.mkdir()
    with pytest.raises(StateFileError, match=rf"^{path}: cannot read: Is a directory$"):
        statefile.load(path)
    assert path.is_dir()


# -- corrupt files ---------------------------------------------------------------------------


def test_corrupt_json_is_moved_aside_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mip6d")
    path = tmp_path / "bindings.json"
    path.write_bytes(b'{"format": "mip6d-binding-cache",\n  "version": ')
    assert statefile.load(path, now=EPOCH_2024) is None
    aside = tmp_path / f"bindings.json.corrupt-{STAMP_2024}"
    assert not path.exists()
    assert aside.read_bytes() == b'{"format": "mip6d-binding-cache",\n  "version": '
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "state-file-corrupt"]
    assert record.levelno == logging.ERROR
    assert record.fields == {  # type: ignore[attr-defined]
        "file": str(path),
        "reason": "not JSON: Expecting value at line 2 column 14",
        "moved_to": str(aside),
    }


def test_a_second_corrupt_file_in_the_same_second_gets_another_name(tmp_path: Path) -> None:
    path = tmp_path / "bindings.json"
    for content in (b"first", b"second"):
        path.write_bytes(content)
        assert statefile.load(path, now=EPOCH_2024) is None
    assert (tmp_path / f"bindings.json.corrupt-{STAMP_2024}").read_bytes() == b"first"
    assert (tmp_path / f"bindings.json.corrupt-{STAMP_2024}-1").read_bytes() == b"second"


def test_non_utf8_is_corrupt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mip6d")
    path = tmp_path / "bindings.json"
    path.write_bytes(b'{"a": "\xff"}')
    assert statefile.load(path, now=EPOCH_2024) is None
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "state-file-corrupt"]
    assert record.fields["reason"] == "not UTF-8 (byte 7)"  # type: ignore[attr-defined]


def test_a_document_the_parser_rejects_is_corrupt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mip6d")
    path = tmp_path / "bindings.json"
    path.write_text('{"format": "something-else"}')
    assert statefile.load(path, BindingCache.from_json, now=EPOCH_2024) is None
    assert (tmp_path / f"bindings.json.corrupt-{STAMP_2024}").exists()
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "state-file-corrupt"]
    assert "mip6d-binding-cache" in record.fields["reason"]  # type: ignore[attr-defined]


def test_quarantine_returns_the_new_name(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("x")
    aside = statefile.quarantine(path, "checked by the daemon", now=0.0)
    assert aside == tmp_path / "state.json.corrupt-19700101T000000Z"
    assert aside.read_text() == "x"


# -- the debouncer -------------------------------------------------------------------------


def test_debouncer_clean_has_no_deadline() -> None:
    d = Debouncer()
    assert not d.dirty
    assert d.deadline() is None
    assert not d.due(100.0)


def test_debouncer_first_change_is_saved_at_once() -> None:
    d = Debouncer(interval=1.0).changed(10.0)
    assert d.dirty
    assert d.deadline() == 10.0
    assert d.due(10.0)


def test_debouncer_saves_at_most_once_per_interval() -> None:
    d = Debouncer(interval=1.0).changed(10.0).saved(10.0)
    assert not d.dirty
    for t in (10.2, 10.5, 10.9):
        d = d.changed(t)
    assert d.deadline() == 11.0
    assert not d.due(10.95)
    assert d.due(11.0)
    d = d.saved(11.0)
    assert d.deadline() is None
    d = d.changed(30.0)  # after a quiet spell: at once again
    assert d.deadline() == 30.0


def test_debouncer_changes_during_a_save_stay_unsaved() -> None:
    d = Debouncer(interval=1.0).changed(10.0)
    snapshot = d.changes
    d = d.changed(10.01)  # while the snapshot was being written
    d = d.saved(10.02, snapshot)
    assert d.dirty
    assert d.deadline() == 11.02


def test_debouncer_retries_a_failed_save_one_interval_later() -> None:
    d = Debouncer(interval=2.0).changed(10.0).failed(10.0)
    assert d.dirty
    assert d.deadline() == 12.0


def test_debouncer_shutdown_saves_only_when_dirty() -> None:
    d = Debouncer().changed(1.0)
    assert d.dirty  # save on shutdown
    assert not d.saved(1.0).dirty  # nothing to save


def test_debouncer_refuses_a_negative_interval() -> None:
    with pytest.raises(ValueError, match="interval -1"):
        Debouncer(interval=-1)


@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=50),
    interval=st.floats(min_value=0.1, max_value=2.0),
)
def test_debouncer_spacing_and_staleness(gaps: list[float], interval: float) -> None:
    """Driven like the daemon drives it: saves are at least one interval apart, and no
    change waits more than one interval."""
    d = Debouncer(interval=interval)
    saves: list[float] = []
    waits: list[tuple[float, float]] = []  # (change time, deadline then)
    now = 0.0
    for gap in gaps:
        deadline = d.deadline()
        if deadline is not None and deadline <= now + gap:  # the timer fires first
            saves.append(deadline)
            d = d.saved(deadline)
        now += gap
        d = d.changed(now)
        if d.due(now):
            saves.append(now)
            d = d.saved(now)
        else:
            deadline = d.deadline()
            assert deadline is not None
            waits.append((now, deadline))
    assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(saves))
    assert all(deadline - t <= interval + 1e-9 for t, deadline in waits)
