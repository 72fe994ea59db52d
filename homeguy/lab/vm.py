"""The kernel lab: Debian's stock kernel booted under QEMU (TCG) by virtme-ng.

The guest sees the host's root file system read-only, so the checkout, the virtualenv
and the host's tools are all there; `rwdir` (under out/lab/) is the one writable host
directory, through which results come back.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from homeguy.run import CommandError, command_line

TOP = Path(__file__).resolve().parents[2]
VENV_BIN = TOP / ".venv" / "bin"
LAB_OUT = TOP / "out" / "lab"
BOOT = Path("/boot")
# The modules every lab test may need; loaded before the tests run.
MODULES = ("ip6_tunnel", "esp6", "xfrm_user", "xfrm6_tunnel", "ah6", "tunnel6")
GUEST_CPUS, GUEST_MEMORY = 2, "2G"


class LabError(RuntimeError):
    pass


def kernel_version(path: Path) -> tuple[int, ...]:
    """Sort key for /boot/vmlinuz-6.1.0-56-amd64 style names."""
    return tuple(int(n) for n in re.findall(r"\d+", path.name))


def debian_kernel(boot: Path = BOOT) -> Path:
    """The newest Debian stock kernel image installed in /boot (linux-image-amd64)."""
    kernels = sorted(boot.glob("vmlinuz-*-amd64"), key=kernel_version)
    if not kernels:
        raise LabError(
            f"no Debian kernel in {boot} (vmlinuz-*-amd64): `make test` installs "
            "linux-image-amd64, or run `apt-get install linux-image-amd64`"
        )
    return kernels[-1]


def vng_argv(kernel: Path, rwdir: Path, command: str, cpus: int = GUEST_CPUS) -> list[str]:
    return [
        str(VENV_BIN / "vng"), "--run", str(kernel), "--disable-kvm",  # KVM guests hang here
        "--cpus", str(cpus), "--memory", GUEST_MEMORY,
        "--rwdir", str(rwdir), "--exec", command,
    ]  # fmt: skip


def boot(
    command: str,
    rwdir: Path,
    console_log: Path,
    timeout: float,
    progress: Callable[[], None] = lambda: None,
    cpus: int = GUEST_CPUS,
) -> int:
    """Boot the lab, run `command` (a shell line) inside, return the guest command's status.

    The console goes to `console_log`; `progress` is called every few seconds while the
    guest runs, so long sessions can say how far they are; an exception it raises stops
    the guest and comes out of here.
    """
    kernel = debian_kernel()
    argv = vng_argv(kernel, rwdir, command, cpus)
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    with open(console_log, "wb") as console:
        try:
            process = subprocess.Popen(argv, stdout=console, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env, cwd=TOP)
        except FileNotFoundError:
            raise LabError(f"{argv[0]} not found: `make test` installs virtme-ng") from None
        deadline = time.monotonic() + timeout
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise CommandError(command_line(argv), None, console_log.read_text())
                progress()  # may raise to stop the guest
                time.sleep(2)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return process.returncode
