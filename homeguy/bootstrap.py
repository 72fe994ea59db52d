"""Install what the build and the tests need: Debian packages and the project virtualenv.

Standard library only: this runs before the virtualenv exists. Idempotent and fast when
nothing changed: packages already installed are not asked for again, and the virtualenv
is rebuilt only when requirements.lock changes.

    python3 -m homeguy.bootstrap build|test
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
VENV = TOP / ".venv"
LOCK = TOP / "requirements.lock"

# Debian packages per purpose. `make` needs "build"; `make test` needs everything.
APT_PACKAGES: dict[str, tuple[str, ...]] = {
    # `make` builds the Debian packages: dpkg-buildpackage, debhelper, lintian; each
    # package's own build dependencies come from `apt-get build-dep` at build time.
    "build": (
        "python3", "python3-venv", "python3-dev", "git", "make", "gcc",
        "dpkg-dev", "debhelper", "lintian",
        # Patched Debian sources (homeguy/patched.py): the project's series goes on with quilt.
        "quilt",
    ),
    # The kernel lab: Debian's stock kernel booted under QEMU by virtme-ng (needs a
    # static busybox), with the tools the lab topologies run inside it.
    "lab": (
        "linux-image-amd64",
        "qemu-system-x86",
        "busybox-static",
        "iproute2",
        "iputils-ping",
        "radvd",
        # The Wi-Fi lab's access point: mac80211_hwsim radios, one moved into its namespace.
        "hostapd",
        "iw",
        "tshark",
        "procps",
    ),
    "lint": ("shellcheck",),
    # The kernel side of Mobile IPv6 (packages/mip6-kernel-config/): Debian's kernel source
    # tarball and what its `make olddefconfig` needs (flex, bison), for merging the fragment;
    # debhelper, dh-python and lintian for building and checking the package.
    "kernel-config": (
        "linux-source-6.1",
        "xz-utils",
        "flex",
        "bison",
        "debhelper",
        "dh-python",
        "lintian",
    ),
    # The apt repository publisher (homeguy/repo/): signing, and the tools its tests and benchmark
    # compare against or drive (real apt in an mmdebstrap chroot, apt-ftparchive, reprepro,
    # aptly).
    "repo": (
        "gnupg",
        "gpgv",
        "dpkg-dev",
        "xz-utils",
        "apt-utils",
        "reprepro",
        "aptly",
        "mmdebstrap",
    ),
    # The packages tested the way Debian does (tests/e2e/test_packages_debian.py): their
    # debian/tests with autopkgtest (chroot backend) in an mmdebstrap root.
    "packages": ("autopkgtest", "mmdebstrap"),
    # The HAiku service (packages/haiku/): its runtime as the Debian package runs it
    # (python3-django, gunicorn, ...), PostgreSQL for the database tests, Chromium for the
    # browser tests, wrk for the benchmark, dh-python for building the package.
    "haiku": (
        "python3-django",
        "python3-cryptography",
        "python3-argon2",
        "python3-psycopg2",
        "gunicorn",
        "postgresql",
        "chromium",
        "wrk",
        "dh-python",
        # Keys made on the node: the enrollment's certificate request is made with the
        # node's strongSwan pki (--gen, --req), and its tests run that same pki, with the
        # plugins the roles install (openssl for ECDSA, curve25519 for Ed25519).
        "strongswan-pki",
        "libstrongswan-standard-plugins",
    ),
    # The live ISOs (live/, profiles/): live-build and what it runs on the host (xorriso,
    # mksquashfs, grub for BIOS and UEFI, a FAT image for the EFI partition), and QEMU with
    # OVMF for booting them in the e2e tests.
    "live": (
        "live-build",
        "debootstrap",
        "xorriso",
        "squashfs-tools",
        "grub-pc-bin",
        "grub-efi-amd64-bin",
        "mtools",
        "dosfstools",
        "cpio",
        "ovmf",
        "qemu-system-x86",
        "qemu-utils",
        "fdisk",  # sfdisk: homeguy-install's partition table, checked by its unit tests
    ),
}
PURPOSES = {
    "build": ("build",),
    "test": ("build", "lab", "lint", "repo", "kernel-config", "packages", "haiku", "live"),
    "live": ("build", "live"),
}


def say(message: str) -> None:
    print(f"homeguy bootstrap: {message}", flush=True)


def run(argv: list[str], **env: str) -> None:
    """Run one command, printed as it can be pasted; stop with its exit status on failure."""
    prefix = " ".join(f"{k}={v}" for k, v in env.items())
    say(f"$ {prefix + ' ' if prefix else ''}{' '.join(argv)}")
    result = subprocess.run(argv, env={**os.environ, **env}, check=False)
    if result.returncode != 0:
        sys.exit(f"homeguy bootstrap: command failed (exit {result.returncode}): {' '.join(argv)}")


def missing_packages(names: tuple[str, ...]) -> list[str]:
    query = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split()[0] for line in query.stdout.splitlines() if line.endswith(" installed")
    }
    return [name for name in names if name not in installed]


def ensure_packages(purposes: tuple[str, ...]) -> None:
    wanted = tuple(name for purpose in purposes for name in APT_PACKAGES[purpose])
    missing = missing_packages(wanted)
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"homeguy bootstrap: run as root to install: {' '.join(missing)}")
    say(f"installing {len(missing)} Debian packages: {' '.join(missing)}")
    run(["apt-get", "update", "-q"])
    run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        DEBIAN_FRONTEND="noninteractive",
    )


def ensure_venv() -> None:
    stamp = VENV / ".homeguy-lock"
    want = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    say(f"building the virtualenv {VENV} from {LOCK.name}")
    # Debian's python3, so that what runs here runs the same on an installed system.
    run(["/usr/bin/python3", "-m", "venv", "--clear", str(VENV)])
    pip = str(VENV / "bin" / "pip")
    run([pip, "install", "-q", "--disable-pip-version-check", "-r", str(LOCK)])
    stamp.write_text(want)


def main(argv: list[str]) -> None:
    if len(argv) != 1 or argv[0] not in PURPOSES:
        sys.exit(f"usage: python3 -m homeguy.bootstrap {'|'.join(PURPOSES)}")
    ensure_packages(PURPOSES[argv[0]])
    ensure_venv()


if __name__ == "__main__":
    main(sys.argv[1:])
