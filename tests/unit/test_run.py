import logging

import pytest

from homeguy.run import CommandError, command_line, run

pytestmark = pytest.mark.unit


def test_command_line_is_pasteable() -> None:
    assert command_line(["echo", "a b", "c'd"]) == "echo 'a b' 'c'\"'\"'d'"
    assert command_line(["ls"], cwd="/tmp/x y", env={"B": "2", "A": "1 2"}) == (
        "cd '/tmp/x y' && A='1 2' B=2 ls"
    )


def test_run_returns_output_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="homeguy.run"):
        result = run(["sh", "-c", "echo $HG_X", "--"], env={"HG_X": "seen"})
    assert result.stdout == "seen\n"
    assert caplog.messages == ["$ HG_X=seen sh -c 'echo $HG_X' --"]


def test_failure_names_command_status_and_output() -> None:
    with pytest.raises(CommandError) as error:
        run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert str(error.value) == (
        "command failed (exit status 3): sh -c 'echo out; echo err >&2; exit 3'\nout\nerr"
    )
    assert error.value.returncode == 3


def test_unchecked_failure_is_returned() -> None:
    assert run(["false"], check=False).returncode == 1


def test_missing_program() -> None:
    with pytest.raises(CommandError, match="no-such-tool: not found"):
        run(["no-such-tool", "x"])


def test_timeout() -> None:
    with pytest.raises(CommandError, match=r"timed out\): sleep 5"):
        run(["sleep", "5"], timeout=0.2)


def test_a_watched_command_calls_its_watch_while_it_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("homeguy.run.WATCH_INTERVAL", 0.05)
    calls = []
    result = run(["sleep", "0.5"], capture=False, watch=lambda: calls.append(1))
    assert result.returncode == 0
    assert len(calls) >= 3


def test_a_watched_command_fails_and_times_out_like_any_other(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("homeguy.run.WATCH_INTERVAL", 0.05)
    with pytest.raises(CommandError, match=r"exit status 3\): sh -c 'exit 3'"):
        run(["sh", "-c", "exit 3"], capture=False, watch=lambda: None)
    with pytest.raises(CommandError, match=r"timed out\): sleep 5"):
        run(["sleep", "5"], capture=False, timeout=0.2, watch=lambda: None)
    with pytest.raises(ValueError, match="not captured"):
        run(["true"], watch=lambda: None)
