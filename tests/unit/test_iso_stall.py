"""homeguy.iso.stall: apt methods in a build's chroot are ended when its log goes quiet."""

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeguy.iso.stall import APT_METHODS, MirrorStall, apt_methods

pytestmark = pytest.mark.unit


@pytest.fixture
def method(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose program is the chroot's apt http method (sleep, under that name)."""
    program = tmp_path / "chroot" / APT_METHODS / "http"
    program.parent.mkdir(parents=True)
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    process = subprocess.Popen([program, "60"])
    yield process
    process.kill()
    process.wait()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_methods_are_found_by_their_program_in_the_chroot(
        tmp_path: Path, method: subprocess.Popen[bytes]) -> None:
    assert apt_methods(tmp_path / "chroot") == [method.pid]
    assert apt_methods(tmp_path / "other") == []


def test_a_quiet_log_with_apt_downloading_ends_the_methods(
        tmp_path: Path, method: subprocess.Popen[bytes]) -> None:
    log, clock, said = tmp_path / "build.log", Clock(), []
    log.write_text("Get:6 http://mirror bookworm/main amd64 Packages [8790 kB]\n")
    stall = MirrorStall(log, tmp_path / "chroot", said.append, seconds=180, clock=clock)
    stall()
    clock.now = 179
    stall()
    assert method.poll() is None and stall.ended == 0
    clock.now = 181
    stall()
    assert method.wait(timeout=5) == -signal.SIGTERM
    assert stall.ended == 1
    assert said == [f"      the mirror stalled: {log} quiet for 181 s with apt downloading; "
                    "ended its 1 download method(s)"]


def test_a_growing_log_or_no_apt_leaves_the_build_alone(
        tmp_path: Path, method: subprocess.Popen[bytes]) -> None:
    log, clock, said = tmp_path / "build.log", Clock(), []
    log.write_text("line\n")
    stall = MirrorStall(log, tmp_path / "chroot", said.append, seconds=180, clock=clock)
    for minute in range(1, 10):
        with log.open("a") as stream:
            stream.write("another line\n")
        clock.now = minute * 100
        stall()
    assert method.poll() is None
    quiet = MirrorStall(log, tmp_path / "elsewhere", said.append, seconds=180, clock=clock)
    quiet()
    clock.now += 1000
    quiet()
    assert method.poll() is None and quiet.ended == 0 and said == []
