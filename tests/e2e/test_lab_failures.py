"""A failure inside the kernel lab fails the host's run and says which test and command."""

import subprocess
import sys
from pathlib import Path

import pytest

from homeguy.lab.vm import TOP

pytestmark = [pytest.mark.e2e, pytest.mark.machine]

BROKEN = '''
import pytest
from homeguy.run import run

pytestmark = pytest.mark.lab


def test_broken_command():
    run(["ip", "link", "set", "nosuchlink0", "up"])


def test_still_fine():
    assert open("/proc/sys/net/ipv6/conf/all/forwarding").read() == "0\\n"
'''


def test_broken_lab_test_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    lab: in the kernel lab\n")
    (tmp_path / "test_broken.py").write_text(BROKEN)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "homeguy.lab.pytest_plugin", "-p",
         "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(TOP)},
        capture_output=True, text=True, timeout=600, check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "FAILED test_broken.py::test_broken_command" in out
    assert "command failed (exit status 1): ip link set nosuchlink0 up" in out
    assert 'Cannot find device "nosuchlink0"' in out
    assert "1 failed, 1 passed" in out
