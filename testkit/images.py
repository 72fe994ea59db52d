"""The live images for the e2e tests and benchmarks: each profile's image built once per
session, a repository with one package's version bumped, an image's package list and
kernel, and the command line that boots a guest enrolling with a service (booted with
:class:`testkit.qemu.Guest`).

Guest networking is QEMU's user network with `restrict=on`: the guest reaches exactly one
address, 10.0.2.100:8080, forwarded to one port on the host's loopback, and nothing else.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from homeguy import cli, packages
from homeguy.iso.build import build
from homeguy.repo.config import load_config
from homeguy.repo.publish import publish
from homeguy.run import run
from testkit.qemu import Guest

__all__ = ["SERVICE_IN_GUEST", "Guest", "built_iso", "enroll_append", "extract_kernel",
           "installed_packages", "repo_with_new_version"]

SERVICE_IN_GUEST = "http://10.0.2.100:8080"
# The live entry's command line without the profile's extras (host name, locale), as a
# user who boots the kernel by hand would write it.
LIVE_APPEND = "boot=live components net.ifnames=0 console=ttyS0,115200n8"


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
