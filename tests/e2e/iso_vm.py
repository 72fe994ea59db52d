"""Boot a Homeguy live ISO under QEMU (TCG) for the e2e tests, and read its console.

Guest networking is QEMU's user network with `restrict=on`: the guest reaches exactly one
address, 10.0.2.100:8080, forwarded to one port on the host's loopback, and nothing else.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from homeguy import cli, packages
from homeguy.iso.build import build
from homeguy.repo.config import load_config
from homeguy.repo.publish import publish
from homeguy.run import run

SERVICE_IN_GUEST = "http://10.0.2.100:8080"
# The live entry's command line without the profile's extras (host name, locale), as a
# user who boots the kernel by hand would write it.
LIVE_APPEND = "boot=live components net.ifnames=0 console=ttyS0,115200n8"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


_published: list[bool] = []


def enroll_append(token: str, *extra: str) -> str:
    """A kernel command line that enrolls the guest with the service by token."""
    return " ".join((LIVE_APPEND, f"homeguy.url={SERVICE_IN_GUEST}", "homeguy.allow_http=yes",
                     f"homeguy.token={token}", *extra))


def built_iso(profile: str) -> Path:
    """One profile's image for a test session: out/repo first (what `make` does, quick when
    nothing changed), then the image (reused from out/iso when its inputs are unchanged)."""
    if not _published:
        for _what, step in cli.BUILD_STEPS:
            step()
        _published.append(True)
    return build(profile)


def repo_with_new_version(package: str, suffix: str, into: Path) -> tuple[Path, str]:
    """A signed repository like out/repo, with `package` at its version + `suffix` (the
    same files, the .deb's control file changed): what publishing a changed Homeguy package
    gives. Returns the repository and the new version."""
    debs = into / "debs"
    debs.mkdir(parents=True)
    original = [deb for deb in sorted(packages.DEBS.glob("*.deb"))
                if deb.name.startswith(f"{package}_")]
    if len(original) != 1:
        raise AssertionError(f"expected one {package}_*.deb in {packages.DEBS}: {original}")
    for deb in packages.DEBS.glob("*.deb"):
        if deb != original[0]:
            shutil.copy2(deb, debs / deb.name)
    tree = into / "tree"
    run(["dpkg-deb", "-R", original[0], tree])
    control = tree / "DEBIAN" / "control"
    old = re.search(r"^Version: (\S+)$", control.read_text(), re.M)
    assert old, control
    version = old.group(1) + suffix
    control.write_text(control.read_text().replace(f"Version: {old.group(1)}\n",
                                                   f"Version: {version}\n"))
    arch = original[0].name.rsplit("_", 1)[1]
    run(["dpkg-deb", "--root-owner-group", "-b", tree, debs / f"{package}_{version}_{arch}"])
    repo = into / "repo"
    publish(load_config(), debs, repo)
    return repo, version


def installed_packages(image: Path, into: Path) -> dict[str, str]:
    """The image's /live/filesystem.packages (`dpkg-query -W` in the chroot that became its
    squashfs, after the build): name -> version."""
    manifest = into / "filesystem.packages"
    run(["xorriso", "-osirrox", "on", "-indev", image, "-extract",
         "/live/filesystem.packages", manifest])
    lines = manifest.read_text().splitlines()
    return dict(line.split("\t", 1) for line in lines if "\t" in line)


def extract_kernel(iso: Path, into: Path) -> tuple[Path, Path]:
    """/live/vmlinuz-* and /live/initrd.img-* out of the image (cached next to it)."""
    into.mkdir(parents=True, exist_ok=True)
    kernel, initrd = into / "vmlinuz", into / "initrd.img"
    stamp = into / "source"
    key = f"{iso} {iso.stat().st_size} {iso.stat().st_mtime_ns}"
    if not (stamp.exists() and stamp.read_text() == key and kernel.exists()):
        listing = run(["xorriso", "-indev", iso, "-find", "/live", "-name", "vmlinuz*"],
                      ).stdout
        name = sorted(re.findall(r"'/live/(vmlinuz[^']*)'", listing))[-1]
        version = name.removeprefix("vmlinuz")
        run(["xorriso", "-osirrox", "on", "-indev", iso,
             "-extract", f"/live/{name}", kernel,
             "-extract", f"/live/initrd.img{version}", initrd])
        stamp.write_text(key)
    return kernel, initrd


@dataclass
class Guest:
    """One QEMU guest; `console` is its serial console log."""

    iso: Path | None  # None: no CD-ROM (boot from the disk)
    workdir: Path
    host_port: int | None  # the service's port on the host; None: no service at all
    firmware: str = "bios"  # bios | uefi
    kernel: tuple[Path, Path] | None = None
    append: str = ""
    disk: Path | None = None
    # A second interface (eth1, a mobile router's mobile network), on its own restricted
    # user network with nothing forwarded.
    second_nic: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def console(self) -> Path:
        return self.workdir / "console.log"

    def argv(self) -> list[str]:
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "2048", "-smp", "1",
                "-display", "none", "-monitor", "none", "-no-reboot",
                "-serial", f"file:{self.console}",
                "-netdev", "user,id=n0,restrict=on" + (
                    "" if self.host_port is None else
                    f",guestfwd=tcp:10.0.2.100:8080-tcp:127.0.0.1:{self.host_port}"),
                "-device", "virtio-net-pci,netdev=n0"]
        if self.second_nic:
            argv += ["-netdev", "user,id=n1,restrict=on", "-device", "virtio-net-pci,netdev=n1"]
        if self.iso is not None:
            argv += ["-drive", f"file={self.iso},media=cdrom,readonly=on,if=ide"]
        if self.disk is not None:
            argv += ["-drive", f"file={self.disk},format=qcow2,if=virtio"]
        if self.firmware == "uefi":
            vars_copy = self.workdir / "OVMF_VARS.fd"
            shutil.copy(OVMF_VARS, vars_copy)
            argv += ["-machine", "q35",
                     "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                     "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
        if self.kernel is not None:
            argv += ["-kernel", str(self.kernel[0]), "-initrd", str(self.kernel[1]),
                     "-append", self.append]
        else:
            argv += ["-boot", "d" if self.iso is not None else "c"]
        return argv

    def start(self) -> Guest:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console.write_bytes(b"")
        argv = self.argv()
        (self.workdir / "qemu.cmdline").write_text(" ".join(argv) + "\n")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                        stdout=(self.workdir / "qemu.log").open("wb"),
                                        stderr=subprocess.STDOUT)
        return self

    def text(self) -> str:
        return self.console.read_bytes().decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of `pattern` on the console; AssertionError with the console's
        end after `timeout` seconds or when QEMU exits."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.MULTILINE)
        while True:
            found = regex.search(self.text())
            if found:
                return found
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"QEMU exited ({self.process.returncode}) before "
                                     f"{pattern!r}; console end:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on the console within {timeout:.0f} s "
                                     f"({self.console}); console end:\n{self.text()[-3000:]}")
            time.sleep(1)

    def wait_exit(self, timeout: float) -> int:
        """QEMU's exit status once the guest has rebooted or powered off (-no-reboot)."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"QEMU still runs after {timeout:.0f} s; console end:\n"
                                 f"{self.text()[-3000:]}") from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
