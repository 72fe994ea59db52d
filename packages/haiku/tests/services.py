"""Real servers for the e2e tests: a PostgreSQL cluster made with Debian's postgresql
(initdb into a temporary directory, run as the postgres user since the suite runs as
root), and the service itself run with the very command line of its systemd unit."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.smtp import free_port

PACKAGE = Path(__file__).resolve().parents[1]
# Screenshots and other things a person looks at after a browser test.
ARTIFACTS = Path(os.environ.get("HAIKU_TEST_ARTIFACTS",
                                PACKAGE.parents[1] / "out" / "test-artifacts" / "haiku"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
UNIT = PACKAGE / "debian" / "haiku.service"
INSTALLED = "/usr/share/haiku"  # where debian/haiku.install puts manage.py and haiku/
# The slot format's module, which the package depends on (python3-homeguy-slot), in the tree.
SLOT_MODULE_DIR = PACKAGE.parent / "homeguy-slot"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium driven by playwright (a playwright browser download fails here)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {shlex.join(argv)}\n"
                           f"{result.stdout}{result.stderr}")
    return result


@contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster on 127.0.0.1; yields the database URL of database haiku."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"{PG_BIN}/initdb is missing: apt-get install postgresql")
    base = Path(tempfile.mkdtemp(prefix="haiku-pg-"))
    base.chmod(0o755)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
    port = free_port()
    try:
        _run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust",
                           "-U", "postgres", "--no-sync", "-E", "UTF8"]))
        _run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l",
                           str(base / "log"), "-w", "-t", "60", "-o",
                           f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} "
                           "-c fsync=off -c max_connections=200", "start"]))
        try:
            _run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q", "-c",
                  "CREATE DATABASE haiku"])
            yield f"postgresql://postgres@127.0.0.1:{port}/haiku"
        finally:
            subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m",
                                         "fast", "-w", "stop"]), capture_output=True,
                           check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def unit_lines(key: str) -> list[str]:
    """The values of ``key=`` lines of the systemd unit."""
    return [line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
            if line.startswith(f"{key}=")]


def unit_command(line: str, port: int | None = None) -> list[str]:
    """A command line of the unit, run from this source tree instead of /usr/share/haiku
    (the only change), on another port if asked."""
    argv = [arg.replace(INSTALLED, str(PACKAGE)) for arg in shlex.split(line)]
    if port is not None:
        argv = [arg.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for arg in argv]
    return argv


def unit_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """The unit's environment, plus what an installed system has and this tree keeps
    elsewhere: the slot format's module (a dependency) on PYTHONPATH."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
           "PYTHONPATH": str(SLOT_MODULE_DIR)}
    for assignment in unit_lines("Environment"):
        name, _, value = assignment.partition("=")
        env[name] = value
    env.update(overrides)
    return env


def wait_http(url: str, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None
              ) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}) before {url} answered")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout} s")
        time.sleep(0.2)


@contextmanager
def service(overrides: Mapping[str, str], log: Path) -> Iterator[str]:
    """The service as its unit runs it: the ExecStartPre commands, then ExecStart (Debian's
    gunicorn and python3), on a free port; yields the base URL."""
    env = unit_environment(overrides)
    Path(env["HAIKU_STATE_DIR"]).mkdir(parents=True, exist_ok=True)
    for line in unit_lines("ExecStartPre"):
        _run(unit_command(line), env=env)
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(unit_command(unit_lines("ExecStart")[0], port), env=env,
                                   stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{base}/healthz", process=process)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def manage(overrides: Mapping[str, str], *args: str) -> str:
    """``manage.py`` with Debian's python3 and the unit's environment."""
    env = unit_environment(overrides)
    return _run(["/usr/bin/python3", str(PACKAGE / "manage.py"), *args], env=env).stdout
