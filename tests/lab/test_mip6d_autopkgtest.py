"""mip6d's autopkgtest `start` (packages/mip6d/debian/tests/start) in the kernel lab.

It declares `isolation-machine`: the suite's autopkgtest runs (chroot backend,
tests/e2e/test_packages_debian.py) skip it, and a Mobile IPv6 kernel is what it needs.
Here the package's own script runs as autopkgtest runs a test (its declared restrictions
honoured: as root, from the source tree, AUTOPKGTEST_TMP and AUTOPKGTEST_ARTIFACTS set,
stdin closed, exit status 0 a pass and 77 a skip) on Debian's kernel, with the packages
installed by apt (homeguy.lab.installed: the root's /usr; its /etc/mip6d, which mip6d's
postinst wrote, copied into the guest's /etc). The guest's init is virtme-ng's, not
systemd: the script starts the daemon with its unit's commands.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian.deb822 import Deb822

from homeguy.lab import installed
from homeguy.lab.pytest_plugin import ARTIFACTS_ENV
from homeguy.packages import PACKAGES

pytestmark = pytest.mark.lab

SOURCE = PACKAGES / "mip6d"
TEST = "start"
CONFIG = Path("/etc/mip6d")
STATE = Path("/var/lib/mip6d")


def declared(source: Path, name: str) -> Deb822:
    """The debian/tests/control stanza that declares test `name`."""
    control = (source / "debian/tests/control").read_text()
    (stanza,) = [s for s in Deb822.iter_paragraphs(control)
                 if name in s.get("Tests", "").replace(",", " ").split()]
    return stanza


@pytest.fixture
def configured() -> Iterator[None]:
    """The installed root's /etc/mip6d in the guest's /etc (a writable overlay there)
    while the test runs; the daemon's state gone afterwards."""
    assert not CONFIG.exists(), f"{CONFIG} exists in the guest before the test"
    shutil.copytree(installed.ROOT / CONFIG.relative_to("/"), CONFIG, symlinks=True)
    try:
        yield
    finally:
        shutil.rmtree(CONFIG)
        shutil.rmtree(STATE, ignore_errors=True)


def test_start_passes_on_debians_kernel(configured: None, tmp_path: Path) -> None:
    restrictions = declared(SOURCE, TEST)["Restrictions"].replace(",", " ").split()
    assert {"needs-root", "isolation-machine", "skippable"} <= set(restrictions)
    assert os.geteuid() == 0  # needs-root
    artifacts = Path(os.environ.get(ARTIFACTS_ENV, tmp_path)) / "autopkgtest-start"
    scratch = tmp_path / "autopkgtest-tmp"
    for directory in (artifacts, scratch):
        directory.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AUTOPKGTEST_TMP": str(scratch), "ADTTMP": str(scratch),
           "AUTOPKGTEST_ARTIFACTS": str(artifacts), "ADT_ARTIFACTS": str(artifacts)}
    result = subprocess.run(installed.argv(str(SOURCE / "debian/tests" / TEST)), cwd=SOURCE,
                            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=600, check=False)  # TCG: slow starts
    (artifacts / "stdout").write_text(result.stdout)
    (artifacts / "stderr").write_text(result.stderr)
    report = f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}"
    # 77 would be a skip: this kernel has Mobile IPv6, the test must run and pass.
    assert result.returncode == 0, report
    if "allow-stderr" not in restrictions:
        assert result.stderr == "", report
    assert "systemd is not running" in result.stdout, report  # the unit's own commands
    status = dict(line.split(":", 1) for line in result.stdout.splitlines()
                  if line.split(":", 1)[0] in ("role", "config"))
    assert status["role"].strip() == "CN" and "/etc/mip6d/mip6d.conf" in status["config"], \
        report
