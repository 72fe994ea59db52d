"""mip6ctl against a real control socket served from a thread, with a fake daemon."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from mip6d import __version__, control, ctl

from testkit.mip6d_fakes import ControlServer, FakeDaemon, FakeHomeAgent

pytestmark = pytest.mark.unit

BINDINGS = [
    {"home_address": "2001:db8:1::10", "care_of": "2001:db8:2::10", "lifetime_left": 3599,
     "sequence": 7, "flags": "A|H", "prefixes": [], "last_handover": None,
     "tunnel_traffic": None},
    {"home_address": "2001:db8:1::20", "bid": 2, "care_of": "2001:db8:3::abcd",
     "lifetime_left": 42,
     "sequence": 65535, "flags": "A|H|R", "prefixes": ["2001:db8:5::/48", "2001:db8:6::/48"],
     "last_handover": 1796433825.0, "tunnel_traffic": {
         "rx_bytes": 1040, "rx_packets": 10, "tx_bytes": 2_080_000, "tx_packets": 1500}},
]
BUL = [
    {"home_address": "2001:db8:1::10", "home_agent": "2001:db8:1::1",
     "care_of": "2001:db8:2::10", "state": "registered", "lifetime_left": 7200,
     "sequence": 12, "prefixes": [],
     "bindings": {"1": "2001:db8:2::10", "2": "2001:db8:3::10"}},
    {"home_address": "2001:db8:7::10", "home_agent": "2001:db8:7::1", "care_of": None,
     "state": "home", "lifetime_left": None, "sequence": 0, "prefixes": [], "bindings": {}},
]


def home_agent() -> FakeHomeAgent:
    return FakeHomeAgent(
        status_result={"version": __version__, "role": "HA", "pid": 4242, "uptime": 3723,
                       "bindings": 2, "bul_entries": {"registered": 1},
                       "config": "/etc/mip6d.conf"},
        binding_records=BINDINGS, bul_records=BUL,
        counter_values={"bindings_expired": 3, "binding_updates_received/accepted": 1027})


@pytest.fixture
def mip6d(tmp_path: Path) -> Iterator[ControlServer]:
    running = ControlServer(tmp_path / "control.sock", home_agent())
    yield running
    running.close()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = ctl.main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


# -- tables --------------------------------------------------------------------------------


def test_bindings_table(mip6d: ControlServer) -> None:
    assert run("--socket", str(mip6d.path), "bindings") == (0, (
        "HOME ADDRESS    BID  CARE-OF           LIFETIME LEFT  SEQ    FLAGS  MR PREFIXES"
        "                      LAST HANDOVER         TUNNEL TRAFFIC\n"
        "2001:db8:1::10  -    2001:db8:2::10    59m59s         7      A|H    -"
        "                                -                     -\n"
        "2001:db8:1::20  2    2001:db8:3::abcd  42s            65535  A|H|R  "
        "2001:db8:5::/48,2001:db8:6::/48  2026-12-05T01:23:45Z  "
        "in 1.0 kB (10 packets), out 2.1 MB (1500 packets)\n"
    ), "")


def test_bul_table(mip6d: ControlServer) -> None:
    assert run("--socket", str(mip6d.path), "bul") == (0, (
        "HOME ADDRESS    HOME AGENT     CARE-OF         BINDINGS                           "
        "STATE       LIFETIME LEFT  SEQ  MR PREFIXES\n"
        "2001:db8:1::10  2001:db8:1::1  2001:db8:2::10  1=2001:db8:2::10 2=2001:db8:3::10  "
        "registered  2h00m00s       12   -\n"
        "2001:db8:7::10  2001:db8:7::1  -               -                                  "
        "home        -              0    -\n"
    ), "")


def test_empty_tables(tmp_path: Path) -> None:
    empty = home_agent()
    empty.binding_records, empty.bul_records = [], []
    running = ControlServer(tmp_path / "control.sock", empty)
    try:
        assert run("--socket", str(running.path), "bindings") == (0, "no bindings\n", "")
        assert run("--socket", str(running.path), "bul") == (
            0, "no Binding Update List entries\n", ""
        )
    finally:
        running.close()


def test_status(mip6d: ControlServer) -> None:
    assert run("--socket", str(mip6d.path), "status") == (0, (
        f"version:     {__version__}\n"
        "role:        HA\n"
        "pid:         4242\n"
        "uptime:      1h02m03s\n"
        "config:      /etc/mip6d.conf\n"
        "bindings:    2\n"
        "bul_entries: registered=1\n"
    ), "")


def test_status_of_a_mobile_node_counts_its_records(tmp_path: Path) -> None:
    moves = [{"at": 1000.0, "from": None, "to": "2001:db8:a::5", "interface": "eth1"},
             {"at": 1060.0, "from": "2001:db8:a::5", "to": "2001:db8:b::5",
              "interface": "wlan0"}]
    running = ControlServer(tmp_path / "control.sock", FakeDaemon(status_result={
        "role": "MN", "care_of_interface": "wlan0", "recent_handovers": moves,
        "tunnel_traffic": {}}))
    try:
        assert run("--socket", str(running.path), "status") == (0, (
            "role:              MN\n"
            "care_of_interface: wlan0\n"
            "recent_handovers:  2 (--json shows them)\n"
            "tunnel_traffic:    -\n"
        ), "")
    finally:
        running.close()


def test_counters(mip6d: ControlServer) -> None:
    assert run("--socket", str(mip6d.path), "counters") == (0, (
        "binding_updates_received/accepted  1027\n"
        "bindings_expired                   3\n"
    ), "")


def test_version(mip6d: ControlServer) -> None:
    assert run("--socket", str(mip6d.path), "version") == (
        0, f"mip6ctl {__version__}, mip6d {__version__} (control protocol 1)\n", ""
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_json_is_the_raw_result(mip6d: ControlServer, where: str) -> None:
    argv = ["--socket", str(mip6d.path), "bindings"]
    argv.insert(0 if where == "before" else len(argv), "--json")
    status, out, err = run(*argv)
    assert (status, err) == (0, "")
    assert json.loads(out) == BINDINGS


# -- reload and remove ---------------------------------------------------------------------


def test_reload(mip6d: ControlServer) -> None:
    mip6d.daemon.reload_result = {"ok": True, "error": None, "warnings": ["line 3: ignored"]}
    assert run("--socket", str(mip6d.path), "reload") == (
        0, "configuration reloaded\nwarning: line 3: ignored\n", ""
    )


def test_reload_failure_prints_the_daemon_s_error(mip6d: ControlServer) -> None:
    mip6d.daemon.reload_result = {
        "ok": False, "error": "/etc/mip6d.conf:12:3: expected ';' after HaMaxBindingLife 3600",
    }
    assert run("--socket", str(mip6d.path), "reload") == (1, "", (
        "mip6ctl: reload failed: /etc/mip6d.conf:12:3: expected ';' after HaMaxBindingLife 3600\n"
    ))


def test_remove(mip6d: ControlServer) -> None:
    assert run("--socket", str(mip6d.path), "remove", "2001:DB8:1::0:20") == (
        0, "removed the binding of 2001:db8:1::20\n", ""
    )
    assert mip6d.daemon.removed == [IPv6Address("2001:db8:1::20")]


def test_remove_unknown(mip6d: ControlServer) -> None:
    assert run("--socket", str(mip6d.path), "remove", "2001:db8:1::99") == (
        1, "", "mip6ctl: remove failed: no binding for 2001:db8:1::99\n"
    )


def test_remove_needs_an_address(
    mip6d: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run("--socket", str(mip6d.path), "remove", "not-an-address")
    assert exit_.value.code == 2
    assert "not an IPv6 address: 'not-an-address'" in capsys.readouterr().err
    assert mip6d.daemon.removed == []


# -- no daemon, bad daemon ---------------------------------------------------------------


def test_daemon_not_running(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    assert run("--socket", str(path), "status") == (1, "", (
        f"mip6ctl: cannot connect to {path}: is mip6d running? (No such file or directory)\n"
    ))


def test_daemon_gone_leaving_its_socket(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    assert run("--socket", str(path), "bindings") == (1, "", (
        f"mip6ctl: cannot connect to {path}: is mip6d running? (Connection refused)\n"
    ))


def test_the_default_socket() -> None:
    assert ctl._parser().parse_args(["status"]).socket == "/run/mip6d/control.sock"


def test_a_result_of_another_shape_is_shown_as_json() -> None:
    assert ctl.render("status", [1, 2], None) == "[\n  1,\n  2\n]\n"  # type: ignore[arg-type]


def _one_shot_server(path: Path, answer: bytes | None) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            if answer is not None:
                conn.sendall(answer)
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"garbage\n", "the daemon's answer is not JSON: b'garbage'"),
        (b"[1]\n", "unexpected answer from the daemon: b'[1]'"),
        (None, "connection lost: the daemon closed the connection"),
    ],
)
def test_a_daemon_that_answers_badly(tmp_path: Path, answer: bytes | None, error: str) -> None:
    path = tmp_path / "control.sock"
    thread = _one_shot_server(path, answer)
    assert run("--socket", str(path), "status") == (1, "", f"mip6ctl: {path}: {error}\n")
    thread.join(5)


def test_a_daemon_that_does_not_answer(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    try:
        assert run("--socket", str(path), "--timeout", "0.2", "status") == (
            1, "", f"mip6ctl: {path}: no answer from mip6d within 0.2 seconds\n"
        )
    finally:
        listener.close()


# -- formatting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), ("x", "-"), (True, "-"), (0, "expired"), (-5, "expired"), (1, "1s"),
     (59, "59s"), (60, "1m00s"), (3599, "59m59s"), (3600, "1h00m00s"), (3723.9, "1h02m03s"),
     (86400, "1d00h00m"), (262140, "3d00h49m")],
)
def test_format_duration(seconds: object, shown: str) -> None:
    assert ctl.format_duration(seconds) == shown


def test_subcommands_are_control_commands() -> None:
    assert set(ctl.SUBCOMMANDS) <= set(control.COMMANDS)
    assert set(ctl.COLUMNS) <= set(ctl.SUBCOMMANDS)


def test_render_table_missing_members_show_a_dash() -> None:
    assert ctl.render_table(ctl.COLUMNS["bindings"], [{"home_address": "::1"}]) == (
        "HOME ADDRESS  BID  CARE-OF  LIFETIME LEFT  SEQ  FLAGS  MR PREFIXES  LAST HANDOVER  "
        "TUNNEL TRAFFIC\n"
        "::1           -    -        -              -    -      -            -              "
        "-\n"
    )
