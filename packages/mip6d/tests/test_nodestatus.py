"""homeguy-status: the view drawn from a real mobile node daemon's answers (the fakes'
kernel and Mobility Header socket, its own control socket) and the enrollment's file."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Address
from pathlib import Path

import mip6d
import pytest
from mip6d import __version__, enrollment, screen
from mip6d.core.mobile import CareOfAddressAvailable, CareOfAddressGone
from mip6d.enrollment import EnrollmentState, Outcome
from mip6d.nodestatus import DENIED, format_bytes, frame, gather, main, render, summary
from mip6d.shell.mhsocket import Received
from mip6d.shell.mobile import MobilePart
from mip6d.wire import mh

from testkit.mip6d_fakes import ControlServer, Rig, binding_update_from, rig

pytestmark = pytest.mark.unit

HA, HOA = IPv6Address("2001:db8:1::1"), IPv6Address("2001:db8:1::10")
COA, COA2 = IPv6Address("2001:db8:a::5"), IPv6Address("2001:db8:b::5")
MN_CONF = """\
NodeConfig MN;
Interface "eth1";
Interface "wlan0";
UseMnHaIPsec disabled;
MnHomeLink "eth0" {
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::10/64;
}
"""
HA_CONF = """\
NodeConfig HA;
Interface "eth0";
UseMnHaIPsec disabled;
DefaultBindingAclPolicy allow;
"""
ENROLLED = Outcome(EnrollmentState.ENROLLED,
                   "enrolled with home address 2001:db8:1::10 from https://haiku.test", 940.0,
                   url="https://haiku.test", node="laptop", home_address="2001:db8:1::10",
                   home_agent="2001:db8:1::1")


def moved(r: Rig, part: MobilePart, *moves: object) -> None:
    """Apply ``moves`` and have the home agent accept the Binding Update they send."""
    for move in moves:
        r.daemon.apply(part.node.handle_movement(move, r.now[0]))  # type: ignore[arg-type]
    sent = r.mh.sent[-1]
    assert isinstance(sent.msg, mh.BindingUpdate)
    r.receive(Received(mh.BindingAck(mh.BAStatus.ACCEPTED, sent.msg.sequence, 420),
                       HA, HOA, routing_header=HOA))


@dataclass
class Node:
    rig: Rig
    socket: Path
    outcome: Path


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A mobile node that registered from eth1, then moved to wlan0 a minute later, ten
    seconds ago; its control socket served; the enrollment's outcome written."""
    tmp = tmp_path_factory.mktemp("node")
    r = rig(tmp, MN_CONF)
    part = r.daemon.part = MobilePart(r.daemon, initial_sequence=1)
    moved(r, part, CareOfAddressAvailable(COA, "eth1"))
    r.now[0] += 60
    moved(r, part, CareOfAddressGone(COA), CareOfAddressAvailable(COA2, "wlan0"))
    r.now[0] += 10
    # What the kernel counted through the tunnel, where mip6d reads it.
    r.count_traffic("mip6mn0", rx_bytes=1_534_000, rx_packets=1100, tx_bytes=512,
                    tx_packets=4)
    outcome = tmp / "run" / "enrollment.json"
    enrollment.write(outcome, ENROLLED)
    server = ControlServer(tmp / "control.sock", r.daemon)
    yield Node(r, tmp / "control.sock", outcome)
    server.close()


VIEW = """\
Homeguy node status, 1970-01-01 00:17:50

Enrollment   enrolled with home address 2001:db8:1::10 from https://haiku.test
             00:15:40 (2m10s ago)
mip6d        mobile node, version {version}, up 1m10s

Home address 2001:db8:1::10   home agent 2001:db8:1::1
Care-of      2001:db8:b::5 on wlan0
Binding      registered, 27m50s left of 28m00s, sequence 3
Tunnel       mip6mn0: in 1.5 MB (1100 packets), out 512 B (4 packets)

Handovers    newest first
  00:17:40 (10s ago)  moved 2001:db8:a::5 -> 2001:db8:b::5 on wlan0
  00:16:40 (1m10s ago)  registered 2001:db8:a::5 on eth1
Counters     handovers 1, Binding Updates sent 2, accepted 2
"""


def test_the_view_of_a_node_that_moved(node: Node) -> None:
    view = gather(str(node.socket), str(node.outcome), clock=lambda: node.rig.now[0])
    assert render(view, time.gmtime) == VIEW.format(version=__version__)
    assert max(len(line) for line in VIEW.splitlines()) <= 80  # a text console


def test_json_is_the_daemons_answers_and_the_outcome(node: Node) -> None:
    out = io.StringIO()
    assert main(["--socket", str(node.socket), "--enrollment", str(node.outcome), "--json"],
                out) == 0
    document = json.loads(out.getvalue())
    assert document["enrollment"] == ENROLLED.to_json()
    status = document["mip6d"]["status"]
    assert (status["role"], status["care_of"], status["care_of_interface"]) == (
        "MN", str(COA2), "wlan0")
    assert [(m["from"], m["to"], m["interface"]) for m in status["recent_handovers"]] == [
        (None, str(COA), "eth1"), (str(COA), str(COA2), "wlan0")]
    assert [e["state"] for e in document["mip6d"]["bul"]] == ["registered"]
    assert document["mip6d"]["counters"]["handovers"] == 1
    assert status["tunnel_traffic"] == {"mip6mn0": {
        "rx_bytes": 1_534_000, "rx_packets": 1100, "tx_bytes": 512, "tx_packets": 4}}


def test_a_terminal_frame_is_drawn_over_the_last_one() -> None:
    assert frame("a\nbc\n") == "\x1b[Ha\x1b[K\nbc\x1b[K\n\x1b[J"


@pytest.mark.parametrize(("count", "shown"), [
    (0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (1_534_000, "1.5 MB"),
    (7 * 10**12, "7000.0 GB"), (None, "-"), (True, "-")])
def test_byte_counts_for_people(count: object, shown: str) -> None:
    assert format_bytes(count) == shown


def test_once_prints_the_view_and_live_redraws_until_ctrl_c(node: Node) -> None:
    args = ["--socket", str(node.socket), "--enrollment", str(node.outcome)]
    once = io.StringIO()
    assert main([*args, "--once"], once) == 0
    assert "Care-of      2001:db8:b::5 on wlan0\n" in once.getvalue()
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    live = io.StringIO()
    assert main(args, live, sleep=sleep) == 0
    assert naps == [1.0, 1.0]
    assert live.getvalue().count("Homeguy node status") == 2
    assert live.getvalue().endswith("Ctrl-C leaves)\n\n")


@pytest.mark.parametrize(("outcome", "next_step"), [
    (None, "enrollment has not reported yet"),
    (Outcome(EnrollmentState.NOT_ENROLLING, "not enrolling: no service URL", 0.0),
     "to enroll, boot with homeguy.url=URL homeguy.token=TOKEN"),
    (Outcome(EnrollmentState.FAILED, "enrollment failed: refused the token", 0.0),
     "fix the cause above, then run 'systemctl restart homeguy-enroll'"),
])
def test_without_mip6d_it_says_so_and_what_to_do(
        tmp_path: Path, outcome: Outcome | None, next_step: str) -> None:
    path = tmp_path / "enrollment.json"
    if outcome is not None:
        enrollment.write(path, outcome)
    out = io.StringIO()
    assert main(["--socket", str(tmp_path / "none.sock"), "--enrollment", str(path),
                 "--once"], out) == 1
    text = out.getvalue()
    flat = " ".join(text.split())  # unfolded for the 80 columns of a text console
    assert (f"mip6d not answering: cannot connect to {tmp_path / 'none.sock'}: "
            "is mip6d running?") in flat
    assert flat.split(" Next ", 1)[1].startswith(next_step)
    if outcome is not None:
        assert f"Enrollment   {outcome.message}\n" in text


def test_an_unreadable_outcome_is_named_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "enrollment.json"
    path.write_text('{"state": "maybe", "message": "x", "at": 1}')
    view = gather(str(tmp_path / "none.sock"), str(path), clock=lambda: 0.0)
    assert view["enrollment_error"] == (f"{path}: state 'maybe' is not one of enrolling, "
                                        "enrolled, not-enrolling, failed")
    assert f"Enrollment unreadable: {path}: state 'maybe'" in " ".join(
        render(view, time.gmtime).split())
    path.write_text("{")
    assert "not JSON" in gather(str(tmp_path / "none.sock"), str(path))["enrollment_error"]


def test_the_outcome_round_trips_and_its_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "run" / "enrollment.json"
    assert enrollment.read(path) is None
    enrollment.write(path, ENROLLED)
    assert enrollment.read(path) == ENROLLED
    failed = Outcome(EnrollmentState.FAILED, "enrollment failed: x", 1.5)
    enrollment.write(path, failed)
    assert enrollment.read(path) == failed
    assert [p.name for p in path.parent.iterdir()] == ["enrollment.json"]


def answers(r: Rig) -> dict[str, object]:
    """What :func:`gather` has of ``r``'s daemon, asked in process."""
    daemon = r.daemon
    return {"at": r.now[0], "enrollment": None,
            "mip6d": {"status": daemon.status(), "bul": daemon.binding_update_list(),
                      "counters": daemon.counters()}}


def test_a_node_not_yet_on_a_foreign_link(tmp_path: Path) -> None:
    r = rig(tmp_path, MN_CONF)
    r.daemon.part = MobilePart(r.daemon, initial_sequence=1)
    text = render(answers(r), time.gmtime)
    assert "Enrollment   no outcome yet\n" in text
    assert "Care-of      none: no usable address on a foreign link\n" in text
    assert "Binding      idle, sequence 1\n" in text
    assert "Tunnel       mip6mn0: not up\n" in text
    assert "Handovers    none yet\n" in text


def test_a_home_agent_counts_its_bindings(tmp_path: Path) -> None:
    r = rig(tmp_path, HA_CONF, [("eth0", "2001:db8:1::1/64")])
    r.daemon.start()
    r.receive(binding_update_from(mh.BindingUpdate(1, 25, mh.BUFlag.A | mh.BUFlag.H, ()),
                                  HOA, COA, HA))
    text = render(answers(r), time.gmtime)
    assert f"mip6d        home agent, version {__version__}, up 0s\n" in text
    assert "Bindings     1 (mip6ctl bindings)\n" in text
    assert "Handovers" not in text and "Care-of" not in text


def test_a_user_who_may_not_ask_is_told_to_use_sudo(node: Node) -> None:
    """As the live system's user: mip6d's runtime directory is root's (mode 0750)."""
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        run = Path(top) / "mip6d"
        run.mkdir(mode=0o750)
        (run / "control.sock").symlink_to(node.socket)
        result = subprocess.run(
            ["runuser", "-u", "nobody", "--", sys.executable, "-m", "mip6d.nodestatus",
             "--once", "--socket", str(run / "control.sock"), "--enrollment", str(node.outcome)],
            capture_output=True, text=True, check=False,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(Path(mip6d.__file__).parents[1])})
    assert (result.returncode, result.stderr) == (1, "")
    flat = " ".join(result.stdout.split())
    assert "are you root or in the socket's group? (Permission denied)" in flat
    assert flat.endswith(f"Next {' '.join(DENIED.split())}")


# -- the screen: what --announce says there ------------------------------------------------


@pytest.fixture
def tty(tmp_path: Path) -> Path:
    """The screen, a plain file here."""
    path = tmp_path / "tty1"
    path.write_text("")
    return path


@pytest.mark.parametrize(("active", "is_the_screen"), [
    ("tty0 ttyS0\n", False), ("ttyS0 tty0\n", True), ("tty0\n", True), ("tty1\n", True),
    ("ttyS0\n", False), ("", False), (None, False)])
def test_the_console_is_the_screen_when_its_last_console_is_a_terminal(
        tmp_path: Path, active: str | None, is_the_screen: bool) -> None:
    consoles = tmp_path / "active"
    if active is not None:
        consoles.write_text(active)
    assert screen.console_is_the_screen(consoles) is is_the_screen


def test_the_screen_gets_lines_as_a_terminal_shows_them(tmp_path: Path, tty: Path) -> None:
    screen.show("one\ntwo\n", tty)
    screen.show("three\n", tty)
    assert tty.read_bytes() == b"one\r\ntwo\r\nthree\r\n"
    screen.show("gone\n", tmp_path / "no-such-tty")  # no screen: no error, nothing made
    assert not (tmp_path / "no-such-tty").exists()


def test_a_banner_is_replaced_whole_with_its_escapes_doubled(tmp_path: Path) -> None:
    banner = tmp_path / "issue.d" / "30-homeguy-mobility.issue"
    assert screen.write_banner(banner, "a \\l b\n") is None
    assert banner.read_text() == "a \\\\l b\n"
    assert [p.name for p in banner.parent.iterdir()] == [banner.name]
    blocked = tmp_path / "file"
    blocked.write_text("")
    error = screen.write_banner(blocked / "x.issue", "text")
    assert error is not None and error.startswith(f"cannot write {blocked / 'x.issue'}: ")


def view_of(bul: list[dict[str, object]], **status: object) -> dict[str, object]:
    return {"at": 0.0, "mip6d": {"status": {"role": "MN", **status}, "bul": bul}}


ENTRY = {"home_address": str(HOA), "home_agent": str(HA), "care_of": str(COA),
         "home_link": None, "state": "registered"}


@pytest.mark.parametrize(("view", "lines"), [
    ({"at": 0.0, "mip6d": None, "mip6d_error": "no socket"}, ["mip6d is not running"]),
    ({"at": 0.0, "mip6d": None, "mip6d_denied": True}, ["mip6d does not answer this user"]),
    (view_of([ENTRY], care_of=str(COA), care_of_interface="eth1"),
     ["registered: home address 2001:db8:1::10, home agent 2001:db8:1::1, "
      "care-of 2001:db8:a::5 on eth1"]),
    # Refreshing a binding is still registered: nothing new to say every lifetime.
    (view_of([{**ENTRY, "state": "refreshing"}], care_of=str(COA), care_of_interface="eth1"),
     ["registered: home address 2001:db8:1::10, home agent 2001:db8:1::1, "
      "care-of 2001:db8:a::5 on eth1"]),
    (view_of([{**ENTRY, "state": "registering", "care_of": str(COA2)}]),
     ["registering: home address 2001:db8:1::10, home agent 2001:db8:1::1, "
      "care-of 2001:db8:b::5"]),
    (view_of([{**ENTRY, "state": "home", "care_of": None, "home_link": "eth0"}]),
     ["at home: home address 2001:db8:1::10 on its home link eth0"]),
    (view_of([{**ENTRY, "state": "failed", "care_of": None}]),
     ["not registered (refused or no answer): home address 2001:db8:1::10, "
      "home agent 2001:db8:1::1"]),
    (view_of([]), ["mip6d runs with no home registration configured"]),
    ({"at": 0.0, "mip6d": {"status": {"role": "HA", "bindings": 3}}},
     ["home agent with 3 bindings"]),
])
def test_the_summary_says_what_a_person_wants_to_know(view: dict[str, object],
                                                      lines: list[str]) -> None:
    assert summary(view) == lines


def test_announce_says_each_change_on_the_screen_and_in_the_banner(
        tmp_path: Path, tty: Path) -> None:
    """A real daemon's answers: registered from eth1, a second with no change, then the
    move to wlan0 (the home agent accepting it): two announcements, the banner the last."""
    r = rig(tmp_path, MN_CONF)
    part = r.daemon.part = MobilePart(r.daemon, initial_sequence=1)
    moved(r, part, CareOfAddressAvailable(COA, "eth1"))
    server = ControlServer(tmp_path / "control.sock", r.daemon)
    banner = tmp_path / "issue.d" / "30-homeguy-mobility.issue"
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            moved(r, part, CareOfAddressGone(COA), CareOfAddressAvailable(COA2, "wlan0"))
        if len(naps) == 3:
            raise KeyboardInterrupt

    out = io.StringIO()
    try:
        assert main(["--socket", str(tmp_path / "control.sock"),
                     "--enrollment", str(tmp_path / "none.json"),
                     "--announce", str(tty), "--banner", str(banner)],
                    out, sleep=sleep) == 0
    finally:
        server.close()
    said = [line.split(" ", 2)[2] for line in out.getvalue().splitlines()]
    assert said == [
        "registered: home address 2001:db8:1::10, home agent 2001:db8:1::1, "
        "care-of 2001:db8:a::5 on eth1",
        "registered: home address 2001:db8:1::10, home agent 2001:db8:1::1, "
        "care-of 2001:db8:b::5 on wlan0"], out.getvalue()
    assert tty.read_bytes() == out.getvalue().replace("\n", "\r\n").encode()
    assert banner.read_text().startswith("Mobility (")
    assert banner.read_text().endswith("): registered: home address 2001:db8:1::10, home agent "
                                       "2001:db8:1::1, care-of 2001:db8:b::5 on wlan0\n\n")


def test_banner_goes_with_announce(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--banner", "/tmp/x.issue"], io.StringIO())
    assert "--banner goes with --announce TTY" in capsys.readouterr().err
