"""Boot-time enrollment: the live-config component and homeguy_enroll.py, on the host."""

import datetime
import http.server
import importlib.util
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from homeguy_slot import slot_bytes
from mip6d import enrollment

from homeguy.git import TOP
from homeguy.iso.build import LIVE
from testkit.slot import Vector, vectors

pytestmark = pytest.mark.unit

ENROLL = LIVE / "hooks" / "enroll"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("homeguy_enroll", ENROLL / "homeguy_enroll.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["homeguy_enroll"] = module
    spec.loader.exec_module(module)
    return module


E = load()


@pytest.fixture(autouse=True)
def outcome_and_screen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The outcome file, the screen (a plain file here), the login banner and the kept
    answer of every test, under its tmp_path: never the host's /run/homeguy, /dev/tty1,
    /etc/issue.d or /etc/homeguy."""
    outcome, screen = tmp_path / "run" / "enrollment.json", tmp_path / "tty1"
    screen.write_text("")
    monkeypatch.setattr(E, "ISSUE", tmp_path / "issue.d" / "20-homeguy-enrollment.issue")
    monkeypatch.setattr(E, "OUTCOME", outcome)
    monkeypatch.setattr(E, "SCREEN", screen)
    monkeypatch.setattr(E, "KEPT", tmp_path / "kept" / "node-config.json")
    consoles = tmp_path / "consoles"  # a serial console's: the screen is not /dev/console
    consoles.write_text("tty0 ttyS0\n")
    monkeypatch.setattr(E, "CONSOLES", consoles)
    return outcome, screen

PAYLOAD: dict[str, Any] = {
    "node": {"id": 1, "name": "mh", "home_address": "2001:db8:1::1000",
             "home_agent_address": "2001:db8:1::1"},
    "mip6d_conf": "NodeConfig MN;\n",
    "keying": {"method": "static"},
    "files": [{"path": "/etc/mip6d/mip6d.conf", "mode": "0600", "content": "NodeConfig MN;\n"},
              {"path": "/etc/mip6d/ikev2/node.pem", "mode": "0644", "content": "PEM\n"}],
    "sysctl": {"net.ipv6.conf.all.forwarding": "1"},
    "services": ["mip6d"],
}


# A SHA-256 fingerprint as the service's operator reads it (openssl x509 -fingerprint).
PIN = "0123456789abcdef" * 4
PIN_COLONS = ":".join(PIN[i:i + 2] for i in range(0, 64, 2)).upper()


# ------------------------------------------------------------ live-config component

def component(tmp_path: Path, cmdline: str, slot: bytes | None) -> tuple[str, str | None]:
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    if slot is not None:
        (tmp_path / "node.conf").write_bytes(slot)
    target = tmp_path / "etc" / "enroll.conf"
    env = {**os.environ, "HOMEGUY_CMDLINE": str(tmp_path / "cmdline"),
           "HOMEGUY_MEDIUM_SLOT": str(tmp_path / "node.conf"),
           "HOMEGUY_ENROLL_CONF": str(target)}
    result = subprocess.run(["sh", ENROLL / "2000-homeguy-enroll"], env=env,
                            capture_output=True, text=True, check=True)
    if target.exists():
        assert target.stat().st_mode & 0o777 == 0o600
        return result.stdout, target.read_text()
    return result.stdout, None


def test_component_reads_the_kernel_command_line(tmp_path: Path) -> None:
    out, conf = component(tmp_path, "boot=live homeguy.url=http://10.0.2.100:8080 "
                          "homeguy.token=abc homeguy.timeout=20 homeguy.allow_http=yes quiet",
                          None)
    assert out == " homeguy-enroll(kernel command line)"
    assert conf is not None
    settings = E.parse_settings(conf)
    assert settings == E.Settings("http://10.0.2.100:8080", "abc", 20.0, "kernel command line",
                                  allow_http=True)
    _, conf = component(tmp_path, f"homeguy.url=https://ha.example homeguy.token=abc "
                        f"homeguy.tls_fingerprint=SHA256:{PIN_COLONS}", None)
    assert conf is not None
    assert E.parse_settings(conf) == E.Settings("https://ha.example", "abc",
                                                source="kernel command line",
                                                tls_fingerprint=PIN)


def test_component_reads_the_medium_slot(tmp_path: Path) -> None:
    slot = slot_bytes("https://10.0.2.100:8443", "tok", 30)
    _, conf = component(tmp_path, "boot=live components", slot)
    assert conf is not None
    assert E.parse_settings(conf) == E.Settings("https://10.0.2.100:8443", "tok", 30.0, "medium")


def test_command_line_wins_over_the_medium(tmp_path: Path) -> None:
    slot = slot_bytes("https://a", "from-medium", 30)
    _, conf = component(tmp_path, "homeguy.url=https://b homeguy.token=from-cmdline", slot)
    assert conf is not None
    assert E.parse_settings(conf).token == "from-cmdline"


def test_component_without_settings_writes_nothing(tmp_path: Path) -> None:
    assert component(tmp_path, "boot=live *", slot_bytes(None, None, 90)) == ("", None)


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: v.file)
def test_component_reads_the_slot_vectors(tmp_path: Path, vector: Vector) -> None:
    """The boot-time reader against the slot format's golden bytes: it finds what
    homeguy_slot.parse_slot finds, and enrolls from the medium only with a url and a token."""
    out, conf = component(tmp_path, "boot=live components", vector.data)
    url, token = vector.values.get("url", ""), vector.values.get("token", "")
    if not (url and token):
        assert (out, conf) == ("", None)
        return
    assert out == " homeguy-enroll(medium)"
    assert conf == ("# written at boot by live-config's homeguy-enroll component\n"
                    f"source=medium\nurl={url}\ntoken={token}\n"
                    f"timeout={vector.values.get('timeout', '')}\ninstall=\n"
                    f"tls_fingerprint={vector.values.get('tls_fingerprint', '')}\n"
                    f"allow_http={vector.values.get('allow_http', '')}\n")
    settings = E.parse_settings(conf)  # what the enrollment then makes of it
    assert (settings.url, settings.token) == (url, token)
    assert settings.tls_fingerprint == vector.values.get("tls_fingerprint", "")
    assert settings.allow_http is (vector.values.get("allow_http") == "yes")


# --------------------------------------------------------------------- settings

def test_parse_settings_errors() -> None:
    assert E.parse_settings("# nothing\nsource=medium\n") is None
    with pytest.raises(E.Permanent, match="no service URL"):
        E.parse_settings("token=x\n")
    with pytest.raises(E.Permanent, match="no node token"):
        E.parse_settings("url=http://x\n")
    with pytest.raises(E.Permanent, match="not an http:// or https:// URL"):
        E.parse_settings("url=ftp://x\ntoken=t\n")
    with pytest.raises(E.Permanent, match="not a number of seconds"):
        E.parse_settings("url=https://x\ntoken=t\ntimeout=soon\n")
    with pytest.raises(E.Permanent, match=r"plain http://.*homeguy\.allow_http=yes"):
        E.parse_settings("url=http://x\ntoken=t\n")
    with pytest.raises(E.Permanent, match="plain http://"):
        E.parse_settings("url=http://x\ntoken=t\nallow_http=no\n")
    with pytest.raises(E.Permanent, match="allow_http='maybe': say yes or no"):
        E.parse_settings("url=https://x\ntoken=t\nallow_http=maybe\n")
    with pytest.raises(E.Permanent, match="not a SHA-256 fingerprint"):
        E.parse_settings("url=https://x\ntoken=t\ntls_fingerprint=sha1:abcd\n")


def test_backoff() -> None:
    delays = E.backoff()
    assert [next(delays) for _ in range(7)] == [1, 2, 4, 8, 15, 15, 15]


# --------------------------------------------------------------------- validation

def test_validate_payload() -> None:
    plan = E.validate(PAYLOAD)
    assert [f.path for f in plan.files] == ["/etc/mip6d/mip6d.conf", "/etc/mip6d/ikev2/node.pem"]
    assert plan.files[0].mode == 0o600
    assert plan.sysctl == (("net.ipv6.conf.all.forwarding", "1"),)
    assert plan.services == ("mip6d",)


def edited(**changes: Any) -> dict[str, Any]:
    return {**PAYLOAD, **changes}


@pytest.mark.parametrize(("payload", "message"), [
    ([], "not a JSON object"),
    (edited(node={"name": "x"}), "has no node.home_address"),
    (edited(files=[{"path": "/etc/passwd", "mode": "0644", "content": ""}]),
     "'/etc/passwd' is outside /etc/mip6d/"),
    (edited(files=[{"path": "/etc/mip6d/../shadow", "mode": "0644", "content": ""}]),
     "is outside /etc/mip6d/"),
    (edited(files=[{"path": "/etc/mip6d/x", "mode": "rw", "content": ""}]),
     "files\\[0\\].mode is not an octal mode"),
    (edited(files=[{"path": "/etc/mip6d/x", "mode": "4755", "content": ""}]),
     "has more than permission bits"),
    (edited(files=[]), "no /etc/mip6d/mip6d.conf in files"),
    (edited(sysctl={"kernel.x; reboot": "1"}), "is not a sysctl name"),
    (edited(services=["ssh"]), "asks to start \\['ssh'\\]"),
    (edited(files=[{"path": "/etc/mip6d/mip6d.conf", "mode": "0600", "content": 3}]),
     "content of type int, expected str"),
])
def test_validate_refuses(payload: Any, message: str) -> None:
    with pytest.raises(E.Permanent, match=message):
        E.validate(payload)


# ------------------------------------------------------------------------- fetch

class Answer:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status_code, self.body = status, body

    def json(self) -> Any:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


SETTINGS = E.Settings("http://svc", "tok", 20.0)


def test_fetch_retries_until_it_works(capsys: pytest.CaptureFixture[str]) -> None:
    answers: list[Any] = [requests.ConnectionError("refused"), Answer(503), Answer(200, {"a": 1})]
    seen = []

    def get(url: str, headers: dict[str, str], timeout: float) -> Any:
        seen.append((url, headers["Authorization"]))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = Clock()
    assert E.fetch(SETTINGS, get, clock.sleep, clock) == {"a": 1}
    assert seen == [("http://svc/api/v1/node/config", "Bearer tok")] * 3
    assert clock.slept == [1, 2]
    out = capsys.readouterr().out
    assert "attempt 1 failed (cannot reach http://svc: ConnectionError: refused)" in out
    assert "attempt 2 failed (http://svc/api/v1/node/config answered HTTP 503)" in out


def test_fetch_gives_up_at_the_time_limit() -> None:
    def get(url: str, headers: dict[str, str], timeout: float) -> Any:
        raise requests.ConnectionError("no route to host")

    clock = Clock()
    with pytest.raises(E.EnrollError, match="gave up after 20 s: cannot reach http://svc: "
                       "ConnectionError: no route to host"):
        E.fetch(SETTINGS, get, clock.sleep, clock)
    assert sum(clock.slept) == 20 and clock.slept == [1, 2, 4, 8, 5]


@pytest.mark.parametrize(("answer", "message"), [
    (Answer(401), "refused the node token \\(HTTP 401\\)"),
    (Answer(404), "answered 404: is http://svc the HAiku service"),
    (Answer(200, ValueError("x")), "answered 200 with something that is not JSON"),
])
def test_fetch_does_not_retry_permanent_failures(answer: Answer, message: str) -> None:
    clock = Clock()
    with pytest.raises(E.Permanent, match=message):
        E.fetch(SETTINGS, lambda *a, **k: answer, clock.sleep, clock)
    assert clock.slept == []


# ------------------------------------------------------------------------- writing

def test_write_files_checks_before_renaming(tmp_path: Path) -> None:
    plan = E.validate(PAYLOAD)
    checked = []

    def check(path: Path) -> None:
        checked.append(path.read_text())

    E.write_files(plan, tmp_path, check)
    conf = tmp_path / "etc/mip6d/mip6d.conf"
    assert conf.read_text() == "NodeConfig MN;\n" and conf.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "etc/mip6d/ikev2/node.pem").read_text() == "PEM\n"
    assert checked == ["NodeConfig MN;\n"]
    assert sorted(p.name for p in (tmp_path / "etc/mip6d").iterdir()) == ["ikev2", "mip6d.conf"]


def test_a_rejected_configuration_leaves_the_old_one_untouched(tmp_path: Path) -> None:
    conf = tmp_path / "etc/mip6d/mip6d.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("NodeConfig CN;\n")
    with pytest.raises(E.Permanent, match="mip6d --check rejected the configuration: line 1"):
        E.write_files(E.validate(PAYLOAD), tmp_path, lambda path: "line 1: bad")
    assert conf.read_text() == "NodeConfig CN;\n"
    assert sorted(p.name for p in conf.parent.rglob("*")) == ["ikev2", "mip6d.conf"]


def test_real_mip6d_check_on_the_service_rendering(tmp_path: Path) -> None:
    """The check the image runs: mip6d's own parser, from packages/mip6d."""
    good = tmp_path / "good.conf"
    good.write_text("NodeConfig CN;\n")
    bad = tmp_path / "bad.conf"
    bad.write_text("NodeConfig WHAT;\n")
    env_mip6d = [sys.executable, "-m", "mip6d"]
    os.environ["PYTHONPATH"] = str(TOP / "packages" / "mip6d")
    try:
        E.MIP6D = "/bin/false"
        assert E.mip6d_check(good) == "exit status 1"
        E.MIP6D = env_mip6d[0]
        script = tmp_path / "mip6d"
        script.write_text(f"#!/bin/sh\nexec {sys.executable} -m mip6d \"$@\"\n")
        script.chmod(0o755)
        E.MIP6D = str(script)
        assert E.mip6d_check(good) is None
        problem = E.mip6d_check(bad)
        assert problem is not None and "config-invalid" in problem
    finally:
        E.MIP6D = "/usr/sbin/mip6d"
        del os.environ["PYTHONPATH"]


def test_main_without_settings_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E, "CONF", tmp_path / "missing.conf")
    assert E.main(["--at-boot"]) == 0
    assert capsys.readouterr().out.startswith(
        "homeguy-enroll: not enrolling: no service URL and node token")


def test_the_outcome_goes_to_its_file_and_the_screen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        outcome_and_screen: tuple[Path, Path]) -> None:
    outcome_file, screen = outcome_and_screen
    monkeypatch.setattr(E, "CONF", tmp_path / "missing.conf")
    before = time.time()
    E.main(["--at-boot"])
    outcome = enrollment.read(outcome_file)
    assert outcome is not None
    assert (outcome.state, outcome.url) == (enrollment.EnrollmentState.NOT_ENROLLING, None)
    assert outcome.message == f"not enrolling: {E.NO_SETTINGS}"
    assert before <= outcome.at <= time.time()
    assert screen.read_bytes().decode() == (f"homeguy-enroll: not enrolling: {E.NO_SETTINGS}\r\n"
                                  f"homeguy-enroll: {E.STATUS_HINT}\r\n")
    assert outcome_file.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in outcome_file.parent.iterdir()] == ["enrollment.json"]
    banner = (tmp_path / "issue.d" / "20-homeguy-enrollment.issue").read_text()
    when = time.strftime("%H:%M:%S %Z", time.localtime(outcome.at))
    assert banner == f"Enrollment ({when}): not enrolling: {E.NO_SETTINGS}\n\n"


def test_without_a_serial_console_the_screen_is_written_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        outcome_and_screen: tuple[Path, Path]) -> None:
    """/dev/console is the screen (the kernel's last console a terminal): what the service
    prints reaches it there, so it is not written to it again."""
    monkeypatch.setattr(E, "CONF", tmp_path / "missing.conf")
    (tmp_path / "consoles").write_text("ttyS0 tty0\n")
    E.main(["--at-boot"])
    assert outcome_and_screen[1].read_bytes() == b""
    assert enrollment.read(outcome_and_screen[0]) is not None


def test_bad_settings_are_a_reason_not_to_enroll(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        outcome_and_screen: tuple[Path, Path]) -> None:
    conf = tmp_path / "enroll.conf"
    conf.write_text("url=ftp://haiku\ntoken=t\n")
    monkeypatch.setattr(E, "CONF", conf)
    assert E.main(["--at-boot"]) == 0
    outcome = enrollment.read(outcome_and_screen[0])
    assert outcome is not None and outcome.state is enrollment.EnrollmentState.NOT_ENROLLING
    assert "'ftp://haiku' is not an http:// or https:// URL" in outcome.message


def test_a_refused_token_is_a_failure_with_its_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, https_service: tuple[str, str],
        outcome_and_screen: tuple[Path, Path]) -> None:
    url, fingerprint = https_service
    conf = tmp_path / "enroll.conf"
    conf.write_text(f"url={url}\ntoken=wrong\ntls_fingerprint={fingerprint}\n")
    monkeypatch.setattr(E, "CONF", conf)
    assert E.main(["--at-boot"]) == 0
    outcome = enrollment.read(outcome_and_screen[0])
    assert outcome is not None
    assert (outcome.state, outcome.url) == (enrollment.EnrollmentState.FAILED, url)
    assert outcome.message.startswith("enrollment failed: ") and "refused the node token" \
        in outcome.message
    assert outcome_and_screen[1].read_text().startswith("homeguy-enroll: enrollment failed: ")


def test_an_enrolled_node_is_named_with_its_home_address_and_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        outcome_and_screen: tuple[Path, Path]) -> None:
    conf = tmp_path / "enroll.conf"
    conf.write_text("url=https://haiku.test\ntoken=t\n")
    monkeypatch.setattr(E, "CONF", conf)
    seen: list[enrollment.Outcome | None] = []

    def fetched(*args: Any) -> Any:  # the service's answer; what follows would write to /
        seen.append(enrollment.read(outcome_and_screen[0]))
        return {**PAYLOAD, "services": []}

    monkeypatch.setattr(E, "fetch", fetched)
    monkeypatch.setattr(E, "write_files", lambda *a: None)
    monkeypatch.setattr(E, "apply", lambda plan: None)
    assert E.main(["--at-boot"]) == 0
    assert seen[0] is not None and seen[0].state is enrollment.EnrollmentState.ENROLLING
    outcome = enrollment.read(outcome_and_screen[0])
    assert outcome == enrollment.Outcome(
        enrollment.EnrollmentState.ENROLLED,
        "enrolled with home address 2001:db8:1::1000 from https://haiku.test", outcome.at,
        url="https://haiku.test", node="mh", home_address="2001:db8:1::1000",
        home_agent="2001:db8:1::1")
    assert outcome_and_screen[1].read_bytes().decode().split("\n")[0] == (
        "homeguy-enroll: enrolled with home address 2001:db8:1::1000 from "
        "https://haiku.test\r")


def test_the_next_boot_starts_from_the_kept_answer_without_asking_the_service(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        outcome_and_screen: tuple[Path, Path]) -> None:
    """A stick with persistence keeps the service's answer: the next boot with the same
    settings writes and starts from it, and asks nothing; another token asks again, and
    so does a person enrolling by hand."""
    conf = tmp_path / "enroll.conf"
    conf.write_text("url=https://haiku.test\ntoken=t\n")
    monkeypatch.setattr(E, "CONF", conf)
    fetched: list[str] = []
    written: list[E.Plan] = []

    def fetch(settings: Any, *args: Any) -> Any:
        fetched.append(settings.token)
        return {**PAYLOAD, "services": []}

    monkeypatch.setattr(E, "fetch", fetch)
    monkeypatch.setattr(E, "write_files", lambda plan, root, check: written.append(plan))
    monkeypatch.setattr(E, "apply", lambda plan: None)
    assert E.main(["--at-boot"]) == 0
    assert E.KEPT.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in E.KEPT.parent.iterdir()] == ["node-config.json"]

    assert E.main(["--at-boot"]) == 0  # the next boot
    assert fetched == ["t"] and len(written) == 2 and written[0] == written[1]
    outcome = enrollment.read(outcome_and_screen[0])
    assert outcome is not None and outcome.state is enrollment.EnrollmentState.ENROLLED
    assert outcome.message == ("enrolled with home address 2001:db8:1::1000 from "
                               "https://haiku.test (its configuration kept on this medium)")

    conf.write_text("url=https://haiku.test\ntoken=another\n")  # a new image's token
    assert E.main(["--at-boot"]) == 0
    assert fetched == ["t", "another"]
    E.KEPT.write_text("{not json")  # a kept answer damaged: asked again, not failed
    assert E.main(["--at-boot"]) == 0
    assert fetched == ["t", "another", "another"]
    # By hand, the service is asked whatever was kept (a renewed certificate, say).
    assert E.main(["https://haiku.test", "another"]) == 0
    assert fetched == ["t", "another", "another", "another"]


# -------------------------------------------------------------------- by hand


def test_by_hand_asks_for_what_is_missing_and_enrolls_as_the_boot_would(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, https_service: tuple[str, str],
        outcome_and_screen: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """`sudo homeguy-enroll --tls-fingerprint ...` on a generic image: the URL asked, the
    token asked without echo, enroll.conf written (root's only), and a real HTTPS service
    asked with them; it refuses the token, and the command says so and fails."""
    url, fingerprint = https_service
    conf = tmp_path / "etc" / "enroll.conf"
    monkeypatch.setattr(E, "CONF", conf)
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or url)
    monkeypatch.setattr(E.getpass, "getpass", lambda prompt: asked.append(prompt) or "wrong")
    assert E.main(["--tls-fingerprint", f"sha256:{fingerprint}", "--timeout", "5"]) == 1
    assert asked == ["Service URL (e.g. https://haiku.example): ",
                     "Node token (from the node's page; not shown): "]
    assert conf.stat().st_mode & 0o777 == 0o600
    assert conf.read_text() == (
        f"# written by homeguy-enroll command\nsource=homeguy-enroll command\nurl={url}\n"
        f"token=wrong\ntimeout=5\ntls_fingerprint=sha256:{fingerprint}\nallow_http=no\n")
    said = capsys.readouterr().out
    assert f"homeguy-enroll: settings written to {conf}\n" in said
    assert "(settings from the homeguy-enroll command; time limit 5 s)" in said
    outcome = enrollment.read(outcome_and_screen[0])
    assert outcome is not None and outcome.state is enrollment.EnrollmentState.FAILED
    assert "refused the node token" in outcome.message
    assert outcome_and_screen[1].read_bytes() == b""  # the person's terminal has it once


@pytest.mark.parametrize(("argv", "fix"), [
    (["http://10.0.2.100:8080", "t"], "is plain http://"),
    (["haiku.example", "t"], "'haiku.example' is not an http:// or https:// URL"),
    (["https://haiku.example", "t", "--tls-fingerprint", "md5:ab"],
     "is not a SHA-256 fingerprint"),
])
def test_by_hand_settings_to_fix_are_named_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], fix: str) -> None:
    conf = tmp_path / "enroll.conf"
    conf.write_text("url=https://kept.example\ntoken=kept\n")
    monkeypatch.setattr(E, "CONF", conf)
    assert E.main(argv) == 2
    said = capsys.readouterr().out
    assert said.startswith("homeguy-enroll: not enrolling: ") and fix in said, said
    assert conf.read_text() == "url=https://kept.example\ntoken=kept\n"


def test_by_hand_stopped_at_a_question_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(E, "CONF", tmp_path / "enroll.conf")

    def ctrl_d(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", ctrl_d)
    assert E.main([]) == 2
    assert "stopped before the settings were complete" in capsys.readouterr().out
    assert not (tmp_path / "enroll.conf").exists()


# ------------------------------------------------------------------- HTTPS, for real

@pytest.fixture(scope="module")
def https_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real HTTPS server on 127.0.0.1 answering the node configuration, with a
    self-made certificate: (its URL, its SHA-256 fingerprint in hex)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "haiku.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    base = tmp_path_factory.mktemp("https")
    (base / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (base / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(PAYLOAD).encode()
            ok = self.headers.get("Authorization") == "Bearer tok"
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if ok else b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(base / "cert.pem", base / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (f"https://127.0.0.1:{server.server_address[1]}",
               cert.fingerprint(hashes.SHA256()).hex())
    finally:
        server.shutdown()
        server.server_close()


def https_fetch(url: str, **settings: Any) -> Any:
    chosen = E.Settings(url, "tok", timeout=5, **settings)
    return E.fetch(chosen, E.http_get(chosen), lambda s: None, iter(range(1000)).__next__)


def test_https_with_the_service_fingerprint_fetches(https_service: tuple[str, str]) -> None:
    url, fingerprint = https_service
    assert https_fetch(url, tls_fingerprint=fingerprint) == PAYLOAD


def test_https_with_another_fingerprint_is_refused_at_once(
        https_service: tuple[str, str]) -> None:
    url, fingerprint = https_service
    other = fingerprint[::-1]
    with pytest.raises(E.Permanent, match="does not have the SHA-256 fingerprint given"):
        https_fetch(url, tls_fingerprint=other)


def test_https_without_a_fingerprint_trusts_only_the_system_cas(
        https_service: tuple[str, str]) -> None:
    url, _ = https_service
    with pytest.raises(E.Permanent, match=r"not trusted by this system.*tls_fingerprint"):
        https_fetch(url)


# ------------------------------------------------- keys made on the node (pki)

OWN_KEY = {**PAYLOAD, "keying": {
    "method": "certificate", "key_origin": "node", "certificate_pem": "",
    "private_key_path": "/etc/swanctl/private/haiku-node.pem",
    "csr_url": "/api/v1/node/csr"}}


@pytest.mark.parametrize(("keying", "message"), [
    ({"private_key_path": "/etc/shadow"}, "is not in /etc/swanctl/private/"),
    ({"private_key_path": "/etc/swanctl/private/../../shadow"}, "is not in"),
    ({"csr_url": "https://elsewhere.example/csr"}, "is not a path on the service"),
    ({"csr_url": "//elsewhere.example/csr"}, "is not a path on the service"),
    ({"csr_url": None}, "keying.csr_url of type NoneType"),
])
def test_own_key_refuses_what_the_service_should_not_ask(
        tmp_path: Path, keying: dict[str, Any], message: str) -> None:
    """The key stays in swanctl's private directory, and the request goes to the
    service the token is for, nowhere else."""
    payload = {**OWN_KEY, "keying": {**OWN_KEY["keying"], **keying}}
    sent: list[str] = []
    with pytest.raises(E.Permanent, match=message):
        E.own_key_file(payload, tmp_path, lambda path, csr: sent.append(csr))
    assert sent == []


def test_own_key_refuses_an_answer_without_its_certificate(tmp_path: Path) -> None:
    """A real pki key and request; a service that answers with another certificate."""
    sent: list[str] = []

    def request(path: str, csr: str) -> Any:
        sent.append(csr)
        return {**OWN_KEY, "keying": {**OWN_KEY["keying"], "certificate_pem": ""}}

    with pytest.raises(E.Permanent, match="no certificate for this node's new key"):
        E.own_key_file(OWN_KEY, tmp_path, request)
    assert sent[0].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    request_ = x509.load_pem_x509_csr(sent[0].encode())
    assert request_.is_signature_valid
    san = request_.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["2001:db8:1::1000"]
    assert not (tmp_path / "etc").exists()  # the key is written only with the other files


def test_a_refused_request_says_what_the_service_said() -> None:
    answer = Answer(403, {"error": "the request asks for 2001:db8:1::1001"})
    clock = Clock()
    with pytest.raises(E.Permanent, match=r"refused the request \(HTTP 403\): the request "
                       "asks for 2001:db8:1::1001"):
        E.send_request(SETTINGS, lambda *a, **k: answer, "/api/v1/node/csr", "CSR",
                       clock.sleep, clock)
    assert clock.slept == []


def test_refusals_name_the_fields() -> None:
    assert E.refusal(Answer(400, {"error": "the request has errors: see fields",
                                  "fields": {"csr": ["RSA key has 1024 bits"]}})) == (
        "the request has errors: see fields (csr: RSA key has 1024 bits)")
    assert E.refusal(Answer(409, {"error": "another node's key"})) == "another node's key"
    assert E.refusal(Answer(400, ValueError("x"))) == "HTTP 400"
