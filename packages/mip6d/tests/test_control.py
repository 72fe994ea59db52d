"""The control socket: the pure request handler, the command table, the Unix socket."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d import __version__, control
from mip6d.control import COMMANDS, MAX_REQUEST, ControlSocketError, handle
from mip6d.core.bcache import Binding, NemoMode
from mip6d.core.bul import BulEntry, BulState, CareOfBinding, HomeRegistration
from mip6d.wire.mh import BUFlag

from testkit.mip6d_fakes import FakeDaemon, FakeHomeAgent

pytestmark = pytest.mark.unit

HOA = "2001:db8:1::10"
BINDING = {"home_address": HOA, "care_of": "2001:db8:2::10", "sequence": 7, "flags": "A|H"}


def fake(kind: type[FakeDaemon] = FakeDaemon) -> FakeDaemon:
    """A daemon with one binding and one counter (a home agent: ``FakeHomeAgent``)."""
    return kind(binding_records=[BINDING], counter_values={"bindings_expired": 2})


def ask(request: object, daemon: control.Daemon | None = None) -> dict[str, Any]:
    raw = request if isinstance(request, bytes) else json.dumps(request).encode()
    response = handle(raw, daemon or fake(FakeHomeAgent))
    assert response.endswith(b"\n")
    assert response.count(b"\n") == 1
    decoded: dict[str, Any] = json.loads(response)
    return decoded


# -- the commands --------------------------------------------------------------------------


def test_bindings_exact_bytes() -> None:
    response = handle(b'{"command": "bindings"}\n', fake())
    assert response == (
        b'{"ok": true, "result": [{"home_address": "2001:db8:1::10", '
        b'"care_of": "2001:db8:2::10", "sequence": 7, "flags": "A|H"}]}\n'
    )


@pytest.mark.parametrize(
    ("command", "result"),
    [
        ("status", {"version": __version__, "role": "HA", "pid": 42}),
        ("bul", []),
        ("counters", {"bindings_expired": 2}),
        ("reload", {}),
        ("version", {"version": __version__, "protocol": control.PROTOCOL_VERSION}),
    ],
)
def test_simple_commands(command: str, result: object) -> None:
    assert ask({"command": command}) == {"ok": True, "result": result}


def test_help_lists_the_table() -> None:
    result = ask({"command": "help"})["result"]
    assert [c["command"] for c in result] == list(COMMANDS)
    assert {"command": "remove", "help": COMMANDS["remove"].help,
            "arguments": [{"name": "home_address", "help": "the home address of the binding"}]
            } in result


def test_every_command_has_help() -> None:
    assert set(COMMANDS) == {"status", "bindings", "bul", "counters", "reload", "remove",
                             "version", "help"}
    for name, command in COMMANDS.items():
        assert command.name == name
        assert command.help


def test_reload_failure_carries_the_daemon_s_error() -> None:
    daemon = fake()
    daemon.reload_result = {"ok": False, "error": "/etc/mip6d.conf:12:3: expected ';'"}
    assert ask({"command": "reload"}, daemon) == {
        "ok": False, "error": "/etc/mip6d.conf:12:3: expected ';'",
    }


def test_reload_passes_warnings_on() -> None:
    daemon = fake()
    daemon.reload_result = {"ok": True, "error": None, "warnings": ["DebugLogFile ignored"]}
    assert ask({"command": "reload"}, daemon)["result"] == {"warnings": ["DebugLogFile ignored"]}


def test_a_reload_answer_that_is_not_an_outcome() -> None:
    daemon = fake()
    daemon.reload_result = {"status": "fine"}
    response = ask({"command": "reload"}, daemon)
    assert response == {
        "ok": False, "error": "the daemon answered {'status': 'fine'} instead of an outcome",
    }


def test_remove_passes_a_parsed_address() -> None:
    daemon = fake(FakeHomeAgent)
    assert isinstance(daemon, FakeHomeAgent)
    assert ask({"command": "remove", "home_address": "2001:DB8:1:0::10"}, daemon) == {
        "ok": True, "result": {},
    }
    assert daemon.removed == [IPv6Address(HOA)]


def test_remove_failure() -> None:
    assert ask({"command": "remove", "home_address": "2001:db8:1::99"}) == {
        "ok": False, "error": "no binding for 2001:db8:1::99",
    }


def test_remove_on_a_daemon_without_bindings() -> None:
    assert ask({"command": "remove", "home_address": HOA}, fake()) == {
        "ok": False,
        "error": "remove: this daemon holds no bindings to remove (not a home agent)",
    }


# -- bad requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "error"),
    [
        (b"", 'empty request; send {"command": "help"} for the commands'),
        (b"  \r\n", 'empty request; send {"command": "help"} for the commands'),
        (b"{nope", "malformed JSON: Expecting property name enclosed in double quotes "
                   "at column 2"),
        (b'{"command": "status"} x', "malformed JSON: Extra data at column 23"),
        (b"\xff\xfe", "request is not UTF-8 (byte 0)"),
        (b"[1, 2]", 'a request is a JSON object, such as {"command": "status"}'),
        (b'"status"', 'a request is a JSON object, such as {"command": "status"}'),
        (b"{}", 'the request has no "command" string; try {"command": "help"}'),
        (b'{"command": 7}', 'the request has no "command" string; try {"command": "help"}'),
        (b'{"command": "reboot"}', "unknown command 'reboot'; commands: status, bindings, "
                                   "bul, counters, reload, remove, version, help"),
        (b'{"command": "status", "verbose": true}',
         "status: unknown argument 'verbose'; it takes no arguments"),
        (b'{"command": "remove", "hoa": "::1"}',
         "remove: unknown argument 'hoa'; it takes home_address"),
        (b'{"command": "remove"}',
         "remove: missing 'home_address' (the home address of the binding)"),
        (b'{"command": "remove", "home_address": "10.0.0.1"}',
         "remove: home_address: expected an IPv6 address, got '10.0.0.1'"),
        (b'{"command": "remove", "home_address": 1}',
         "remove: home_address: expected an IPv6 address as a string, got 1"),
        (b"[" * 100000, f"request too long (100000 bytes; the limit is {MAX_REQUEST})"),
        (b"[" * 5000 + b"]" * 5000, "malformed JSON: nested too deeply"),
    ],
)
def test_bad_requests(request_bytes: bytes, error: str) -> None:
    assert ask(request_bytes) == {"ok": False, "error": error}


def test_the_limit_is_exact() -> None:
    padding = MAX_REQUEST - len(b'{"command": "status", "x": ""}')
    at_limit = b'{"command": "status", "x": "' + b"a" * padding + b'"}'
    assert len(at_limit) == MAX_REQUEST
    assert ask(at_limit)["error"].startswith("status: unknown argument 'x'")
    assert ask(at_limit + b" ")["error"].startswith("status: unknown argument 'x'")
    assert ask(b" " + at_limit + b"a")["error"].startswith("request too long")


def test_a_daemon_that_raises_gives_an_error_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mip6d")
    daemon = fake()
    daemon.fail_with = KeyError("role")
    assert ask({"command": "status"}, daemon) == {
        "ok": False, "error": "status failed inside the daemon: KeyError: 'role'",
    }
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "control-command-failed"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


def test_results_that_json_does_not_know_are_sent_as_strings() -> None:
    class Odd(FakeDaemon):
        def status(self) -> dict[str, Any]:
            return {"address": IPv6Address(HOA), "set": {"b", "a"}, "tuple": (1, 2)}

    assert ask({"command": "status"}, fake(Odd))["result"] == {
        "address": HOA, "set": ["a", "b"], "tuple": [1, 2],
    }


def test_a_result_that_cannot_be_json_is_an_error() -> None:
    class Nan(FakeDaemon):
        def counters(self) -> dict[str, int]:
            return {"x": float("nan")}  # type: ignore[dict-item]

    response = ask({"command": "counters"}, fake(Nan))
    assert response["ok"] is False
    assert response["error"].startswith("the result cannot be sent as JSON: ")


@given(st.binary(max_size=300))
def test_any_bytes_get_one_json_line(data: bytes) -> None:
    response = ask(data)
    assert isinstance(response["ok"], bool)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["command", "home_address", "x"]), json_values))
def test_any_json_object_gets_an_answer(request_obj: dict[str, Any]) -> None:
    response = ask(request_obj)
    command = request_obj.get("command")
    known = isinstance(command, str) and command in COMMANDS
    assert response["ok"] is (known and "x" not in request_obj and (
        ("home_address" in request_obj) == (command == "remove")
    ) and response.get("error") is None)
    if not response["ok"]:
        assert isinstance(response["error"], str)


# -- records -------------------------------------------------------------------------------


def test_binding_record() -> None:
    binding = Binding(
        home_address=IPv6Address(HOA), care_of=IPv6Address("2001:db8:2::10"),
        ha_address=IPv6Address("2001:db8:1::1"), home_ifname="eth0", tunnel="mip6t0",
        sequence=7, flags=BUFlag.A | BUFlag.H | BUFlag.R, lifetime=3600,
        registered_at=1000.0, refreshed_at=1100.0, expires_at=4700.0,
        prefixes=(IPv6Network("2001:db8:5::/48"),), nemo_mode=NemoMode.EXPLICIT,
        updates=2, handovers=1,
    )
    assert control.binding_record(binding, now=1200.5) == {
        "home_address": HOA, "care_of": "2001:db8:2::10", "home_agent": "2001:db8:1::1",
        "interface": "eth0", "tunnel": "mip6t0", "sequence": 7, "flags": "A|H|R",
        "lifetime": 3600, "lifetime_left": 3500, "expires_at": 4700.0,
        "registered_at": 1000.0, "refreshed_at": 1100.0, "prefixes": ["2001:db8:5::/48"],
        "nemo_mode": "explicit", "updates": 2, "handovers": 1, "last_handover": None,
        "bid": None, "priority": 0, "tunnel_traffic": None,
    }
    assert control.binding_record(binding, now=5000.0)["lifetime_left"] == 0
    traffic = {"rx_bytes": 1040, "rx_packets": 10, "tx_bytes": 2080, "tx_packets": 20}
    moved = control.binding_record(replace(binding, last_handover=1050.0), 1200.5, traffic)
    assert (moved["last_handover"], moved["tunnel_traffic"]) == (1050.0, traffic)


def test_bul_record() -> None:
    entry = BulEntry(
        registration=HomeRegistration(
            home_address=IPv6Interface(f"{HOA}/64"), home_agent=IPv6Address("2001:db8:1::1"),
        ),
        state=BulState.REGISTERED, sequence=5, care_of=IPv6Address("2001:db8:2::10"),
        lifetime=3600, expires_at=4600.0,
        registered_bindings=(CareOfBinding(1, IPv6Address("2001:db8:2::10"), 10),
                             CareOfBinding(2, IPv6Address("2001:db8:3::10"))),
    )
    assert control.bul_record(entry, now=1000.0) == {
        "home_address": HOA, "home_agent": "2001:db8:1::1", "care_of": "2001:db8:2::10",
        "bindings": {"1": "2001:db8:2::10", "2": "2001:db8:3::10"},
        "state": "registered", "sequence": 5, "lifetime": 3600, "lifetime_left": 3600,
        "expires_at": 4600.0, "home_link": None, "tunnel": "mip6mn0", "mobile_router": False,
        "prefixes": [],
    }
    idle = BulEntry(registration=entry.registration)
    assert control.bul_record(idle, now=0.0)["lifetime_left"] is None


# -- the socket ----------------------------------------------------------------------------


async def _talk(path: Path, *lines: bytes) -> list[bytes]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    answers = []
    for line in lines:
        writer.write(line)
        await writer.drain()
        answers.append(await asyncio.wait_for(reader.readline(), 5))
    writer.close()
    await writer.wait_closed()
    return answers


def test_socket_serves_requests(tmp_path: Path) -> None:
    path = tmp_path / "run" / "mip6d" / "control.sock"

    async def scenario() -> None:
        server = await control.serve(path, fake(FakeHomeAgent))
        try:
            assert stat.S_ISSOCK(path.stat().st_mode)
            assert stat.S_IMODE(path.stat().st_mode) == control.SOCKET_MODE
            status, bad, version = await _talk(
                path, b'{"command": "status"}\n', b"nonsense\n", b'{"command": "version"}\n'
            )
            assert json.loads(status)["result"]["role"] == "HA"
            assert json.loads(bad)["ok"] is False
            assert json.loads(version)["result"]["version"] == __version__
        finally:
            await control.stop(server, path)
        assert not path.exists()

    asyncio.run(scenario())


def test_socket_survives_abusive_clients(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def scenario() -> None:
        server = await control.serve(path, fake(FakeHomeAgent))
        try:
            # Over the limit: an error, then the connection is closed.
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b"x" * (MAX_REQUEST + 10) + b"\n")
            answer = await asyncio.wait_for(reader.readline(), 5)
            assert json.loads(answer)["error"].startswith("request too long")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            # Half a request, then gone.
            _, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b'{"command": "sta')
            await writer.drain()
            writer.close()
            # Connect and leave at once.
            _, writer = await asyncio.open_unix_connection(str(path))
            writer.close()
            # A last request without a newline, then end of file: still answered.
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b'{"command": "bul"}')
            writer.write_eof()
            assert json.loads(await asyncio.wait_for(reader.readline(), 5)) == {
                "ok": True, "result": [],
            }
            writer.close()
            # Blank lines are skipped; the server still answers everyone.
            [answer] = await _talk(path, b'\n\n{"command": "counters"}\n')
            assert json.loads(answer)["result"] == {"bindings_expired": 2}
        finally:
            await control.stop(server, path)

    asyncio.run(scenario())


def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # bound, never listening: what a crashed daemon leaves
    dead.close()

    async def scenario() -> None:
        server = await control.serve(path, fake())
        try:
            [answer] = await _talk(path, b'{"command": "version"}\n')
            assert json.loads(answer)["ok"] is True
        finally:
            await control.stop(server, path)

    asyncio.run(scenario())


def test_a_live_socket_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def scenario() -> None:
        server = await control.serve(path, fake())
        try:
            with pytest.raises(ControlSocketError, match="another mip6d is listening there"):
                await control.serve(path, fake())
            [answer] = await _talk(path, b'{"command": "version"}\n')
            assert json.loads(answer)["ok"] is True
        finally:
            await control.stop(server, path)

    asyncio.run(scenario())


def test_a_file_in_the_way_is_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("not a socket")
    with pytest.raises(ControlSocketError, match="exists and is not a socket"):
        asyncio.run(control.serve(path, fake()))
    assert path.read_text() == "not a socket"


def test_a_path_that_cannot_be_bound_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 120)
    with pytest.raises(ControlSocketError, match=rf"^{path}: cannot listen: "):
        asyncio.run(control.serve(path, fake()))
    assert not os.path.exists(path)
