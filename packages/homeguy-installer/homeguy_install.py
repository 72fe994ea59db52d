"""homeguy-install: install the running Homeguy live system to a disk.

    homeguy-install DISK [--mobile-interface eth1] [--then reboot|poweroff|none] --yes
    homeguy-install --from-cmdline      (homeguy-install.service: unattended;
                                         homeguy.install=ask: which disk is asked on tty1)
    homeguy-install --report            (homeguy-role-report.service, installed system)

What it does, in order (each step is printed, prefixed ``homeguy-install:``):

1. checks DISK: a whole block device, nothing of it mounted, not the live medium;
2. partitions it (GPT): a BIOS boot partition, an EFI system partition, the root file
   system (ext4), then makes the file systems;
3. copies the live root file system as it was built (live-boot's read-only squashfs
   mount, not the running overlay) to the root partition;
4. writes /etc/fstab (by UUID), the host name, GRUB's settings (serial console too),
   and the node's role from the enrolled mip6d configuration: for a NEMO mobile router
   mip6d with the node's prefixes, radvd and a static address on the mobile network
   interface (forwarding comes with the homeguy-mobile-router package);
5. in the new system: purges live-boot and live-config (a normal initramfs is made),
   installs GRUB for BIOS (i386-pc) and UEFI (x86_64-efi, removable path) with UEFI
   Secure Boot's signed chain (Debian's shim, signed GRUB, signed kernel; checked on the
   EFI system partition afterwards), update-grub, enables mip6d and radvd and disables
   the live system's enrollment and this installer;
6. unmounts, then reboots (or powers off, or nothing).

Unattended: ``homeguy.install=DISK`` on the kernel command line (with
``homeguy.url=`` and ``homeguy.token=`` for the enrollment that runs first);
``homeguy.mobile_interface=IFACE`` and ``homeguy.install_then=reboot|poweroff|none``.

Pure core (no I/O): the command line options, the partition table, fstab, GRUB settings,
the role's files. The shell: `install` and `main`, with one function running commands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

PREFIX = "homeguy-install"
CMDLINE = Path("/proc/cmdline")
# live-boot mounts the image's squashfs read-only here: the system as it was built.
LIVE_ROOT = Path("/run/live/rootfs/filesystem.squashfs")
LIVE_MEDIUM = Path("/run/live/medium")
MIP6D_CONF = Path("/etc/mip6d/mip6d.conf")
TARGET = Path("/run/homeguy-install/target")
THEN = ("reboot", "poweroff", "none")
# Packages of the live system that an installed system must not have.
LIVE_PACKAGES = ("live-boot", "live-boot-initramfs-tools", "live-config",
                 "live-config-systemd", "live-tools")
# Units of the live system that an installed one does not run.
LIVE_UNITS = ("homeguy-enroll.service", "homeguy-install.service",
              "homeguy-install-ask.service")
# homeguy.install=ask (the boot menu's "install to a disk" entry): which disk is asked on
# tty1 (homeguy-install-ask.service), instead of named on the command line.
ASK = "ask"
# What `offered_disks` chooses from: every block device, its partitions as children.
# The smallest disk offered: the live system's files (about 1.5 GB, firmware included)
# with room to run, and not a drive that only reports a token size with no medium in it
# (an empty floppy drive says 4 KiB).
MIN_DISK_BYTES = 4_000_000_000
LSBLK_DISKS = ["lsblk", "-J", "-b", "-o", "PATH,SIZE,MODEL,TYPE,RO,MOUNTPOINTS"]
# The installed system reports its role on the console at each boot.
REPORT_UNIT = "homeguy-role-report.service"
INITRAMFS_CONF = ("# Written by homeguy-install: only the modules this machine needs to boot.\n"
                  "# For a disk that moves to other hardware: MODULES=most, update-initramfs -u\n"
                  "MODULES=dep\n")
# UEFI Secure Boot's chain on the EFI system partition's removable path (what Debian's
# `grub-install --uefi-secure-boot --removable` copies): file there -> the signed files
# of the new system it may be. The firmware starts shim (signed by Microsoft's UEFI CA),
# shim starts GRUB (signed by Debian), GRUB has shim check the kernel (signed by Debian).
# For the removable path grub-install takes the signed image that finds its
# configuration without an EFI/debian directory (gcd), elsewhere the other one.
EFI_BOOT = "boot/efi/EFI/BOOT"
SIGNED_GRUB = "usr/lib/grub/x86_64-efi-signed"
SECURE_BOOT_CHAIN: Mapping[str, tuple[str, ...]] = {
    "BOOTX64.EFI": ("usr/lib/shim/shimx64.efi.signed",),
    "grubx64.efi": (f"{SIGNED_GRUB}/gcdx64.efi.signed", f"{SIGNED_GRUB}/grubx64.efi.signed"),
}
# The firmware's SecureBoot variable (UEFI 2.10 section 3.3), as efivarfs shows it.
SECURE_BOOT_VAR = Path("/sys/firmware/efi/efivars/"
                       "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c")
# Kernel parameters the installed system keeps from the live one's command line.
KEPT_PARAMETERS = ("console=", "net.ifnames=")


class InstallError(Exception):
    """The installation cannot go on; the message says why and what to do."""


# ------------------------------------------------------------------------ options

@dataclass(frozen=True)
class Options:
    disk: str
    mobile_interface: str = "eth1"
    then: str = "reboot"


# Kernel command line parameter -> Options field (one table for the parser and the docs).
CMDLINE_OPTIONS: Mapping[str, str] = {
    "homeguy.install": "disk",
    "homeguy.mobile_interface": "mobile_interface",
    "homeguy.install_then": "then",
}


def parse_cmdline(text: str) -> Options | None:
    """/proc/cmdline -> the unattended installation's options; None without
    ``homeguy.install=``."""
    values: dict[str, str] = {}
    for word in text.split():
        key, equals, value = word.partition("=")
        if equals and key in CMDLINE_OPTIONS:
            values[CMDLINE_OPTIONS[key]] = value
    if not values.get("disk"):
        return None
    options = Options(**values)
    check_options(options)
    return options


def check_options(options: Options) -> None:
    if options.disk != ASK and (not options.disk.startswith("/dev/")
                                or options.disk.rstrip("/") == "/dev"):
        raise InstallError(f"the disk {options.disk!r} is not a /dev/ path, e.g. /dev/vda")
    if options.then not in THEN:
        raise InstallError(f"after the installation {options.then!r}: expected one of "
                           + ", ".join(THEN))
    if not options.mobile_interface.replace("-", "").replace(".", "").isalnum():
        raise InstallError(f"{options.mobile_interface!r} is not an interface name")


@dataclass(frozen=True)
class Disk:
    path: str
    size: int  # bytes
    model: str

    def __str__(self) -> str:
        return f"{self.path} ({self.size / 1e9:.1f} GB{', ' + self.model if self.model else ''})"


def _mounted(device: Mapping[str, Any]) -> bool:
    """Whether anything of an lsblk device (it, or a partition of it) is mounted."""
    return (any(device.get("mountpoints") or [])
            or any(_mounted(child) for child in device.get("children") or []))


def offered_disks(lsblk_json: str) -> list[Disk]:
    """The disks an installation may erase, from `LSBLK_DISKS`: whole disks, writable,
    of `MIN_DISK_BYTES` or more, nothing of them mounted (not the live medium, a USB
    stick the system runs from)."""
    devices = json.loads(lsblk_json).get("blockdevices", [])
    return [Disk(d["path"], int(d["size"]), (d.get("model") or "").strip())
            for d in devices
            if d.get("type") == "disk" and not d.get("ro")
            and int(d["size"] or 0) >= MIN_DISK_BYTES and not _mounted(d)]


def disk_choice(answer: str, disks: Sequence[Disk]) -> Disk | None:
    """The disk a person typed (its number, /dev path or name); None to do nothing."""
    answer = answer.strip()
    if answer.lower() in ("", "q", "quit"):
        return None
    if answer.isdigit() and 1 <= int(answer) <= len(disks):
        return disks[int(answer) - 1]
    for disk in disks:
        if answer in (disk.path, disk.path.removeprefix("/dev/")):
            return disk
    raise InstallError(f"no disk {answer!r} among those offered: type its number (1 to "
                       f"{len(disks)}) or its name, or q")


def kept_parameters(cmdline: str) -> list[str]:
    """The live command line's console and interface naming, for the installed system."""
    return [word for word in cmdline.split() if word.startswith(KEPT_PARAMETERS)]


# ---------------------------------------------------------------------- partitions

@dataclass(frozen=True)
class Partition:
    name: str
    size_mib: int | None  # None: the rest of the disk
    type_guid: str
    filesystem: str | None


# GPT partition types: BIOS boot (GRUB's core.img), EFI system, Linux file system.
PARTITIONS: tuple[Partition, ...] = (
    Partition("bios", 1, "21686148-6449-6E6F-744E-656564454649", None),
    Partition("esp", 63, "C12A7328-F81F-11D2-BA4B-00A0C93EC3B8", "vfat"),
    Partition("root", None, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "ext4"),
)


def sfdisk_script(partitions: Sequence[Partition] = PARTITIONS) -> str:
    """Input for ``sfdisk DISK``: a new GPT with the partitions, 1 MiB aligned."""
    lines = ["label: gpt"]
    for part in partitions:
        size = f"size={part.size_mib}MiB, " if part.size_mib is not None else ""
        lines.append(f"{size}type={part.type_guid}, name={part.name}")
    return "\n".join(lines) + "\n"


def partition_device(disk: str, number: int) -> str:
    """/dev/vda, 3 -> /dev/vda3; /dev/nvme0n1, 3 -> /dev/nvme0n1p3 (names ending in a
    digit take a 'p')."""
    return f"{disk}{'p' if disk[-1].isdigit() else ''}{number}"


def fstab_text(root_uuid: str, esp_uuid: str) -> str:
    return ("# /etc/fstab: written by homeguy-install; file systems by UUID.\n"
            "# <file system>  <mount point>  <type>  <options>  <dump>  <pass>\n"
            f"UUID={root_uuid}  /  ext4  errors=remount-ro  0  1\n"
            f"UUID={esp_uuid}  /boot/efi  vfat  umask=0077  0  1\n")


def grub_default_text(parameters: Sequence[str]) -> str:
    """/etc/default/grub.d/homeguy.cfg: the kernel command line and a serial console."""
    serial = any(p.startswith("console=ttyS") for p in parameters)
    lines = ["# Written by homeguy-install.",
             "GRUB_TIMEOUT=2",
             f'GRUB_CMDLINE_LINUX="{" ".join(parameters)}"']
    if serial:
        lines += ['GRUB_TERMINAL="console serial"',
                  'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"']
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- role

@dataclass(frozen=True)
class Role:
    """What the enrolled mip6d configuration makes of this node."""

    name: str  # mobile-router, mobile-host, none
    egress: str = ""
    home_address: str = ""
    prefixes: tuple[IPv6Network, ...] = ()


def role_of(config_text: str | None, path: str = str(MIP6D_CONF)) -> Role:
    """The role in mip6d.conf (parsed by mip6d's own parser); none without a file."""
    if config_text is None:
        return Role("none")
    from mip6d.config import ConfigError, NodeRole, parse  # noqa: PLC0415

    try:
        config = parse(config_text, path)
    except ConfigError as error:
        raise InstallError(f"the enrolled configuration is not valid: {error}") from None
    if config.node_config is not NodeRole.MN or not config.home_links:
        raise InstallError(f"{path}: NodeConfig {config.node_config} with "
                           f"{len(config.home_links)} home links; this installer sets up "
                           "mobile routers and mobile hosts (NodeConfig MN, one MnHomeLink)")
    link = config.home_links[0]
    if not link.is_mob_rtr:
        return Role("mobile-host", link.interface, str(link.home_address.ip))
    if not link.mobile_network_prefixes:
        raise InstallError(f"{path}: a mobile router (IsMobRtr enabled) with no mobile "
                           "network prefixes on its HomeAddress line")
    return Role("mobile-router", link.interface, str(link.home_address.ip),
                link.mobile_network_prefixes)


def link_prefix(prefix: IPv6Network) -> IPv6Network:
    """The /64 advertised on the mobile network link: the prefix's first /64."""
    if prefix.prefixlen > 64:
        raise InstallError(f"mobile network prefix {prefix} is longer than /64: stateless "
                           "address autoconfiguration needs a /64 on the link")
    return next(prefix.subnets(new_prefix=64)) if prefix.prefixlen < 64 else prefix


def router_address(prefix: IPv6Network) -> IPv6Address:
    return link_prefix(prefix)[1]


def radvd_conf_text(role: Role, interface: str) -> str:
    """/etc/radvd.conf: Router Advertisements of the mobile network prefixes."""
    prefixes = "".join(
        f"    prefix {link_prefix(p)} {{\n        AdvOnLink on;\n        AdvAutonomous on;\n"
        "    };\n" for p in role.prefixes)
    return ("# Written by homeguy-install: the mobile network of this NEMO mobile router.\n"
            f"interface {interface} {{\n"
            "    AdvSendAdvert on;\n"
            "    IgnoreIfMissing on;\n"
            "    MinRtrAdvInterval 3;\n"
            "    MaxRtrAdvInterval 10;\n"
            f"{prefixes}"
            "};\n")


def networkd_text(role: Role, interface: str) -> str:
    """systemd-networkd: the router's own address on each mobile network link; radvd,
    not networkd, sends the Router Advertisements."""
    addresses = "".join(f"Address={router_address(p)}/64\n" for p in role.prefixes)
    return ("# Written by homeguy-install: the mobile network interface.\n"
            f"[Match]\nName={interface}\n\n"
            "[Link]\nRequiredForOnline=no\n\n"
            "[Network]\nConfigureWithoutCarrier=yes\nIPv6AcceptRA=no\n"
            "LinkLocalAddressing=ipv6\n"
            f"{addresses}")


# What mip6d and radvd print reaches the console too (an installed router is often read
# from its serial console).
CONSOLE_DROPIN = ("# Written by homeguy-install: the daemon's log on the console too.\n"
                  "[Service]\nStandardOutput=journal+console\nStandardError=journal+console\n")


def role_files(role: Role, interface: str) -> dict[str, str]:
    """Files of the role in the new system, by absolute path."""
    if role.name == "none":
        return {}
    files = {"/etc/systemd/system/mip6d.service.d/homeguy-console.conf": CONSOLE_DROPIN}
    if role.name == "mobile-router":
        files["/etc/radvd.conf"] = radvd_conf_text(role, interface)
        files[f"/etc/systemd/network/70-homeguy-mobile-network-{interface}.network"] = \
            networkd_text(role, interface)
    return files


def role_units(role: Role) -> tuple[str, ...]:
    """Units enabled in the new system."""
    return {"mobile-router": ("mip6d.service", "radvd.service", REPORT_UNIT),
            "mobile-host": ("mip6d.service", REPORT_UNIT)}.get(role.name, ())


# ---------------------------------------------------------------------------- shell

def say(message: str) -> None:
    print(f"{PREFIX}: {message}", flush=True)


def run(argv: Sequence[str | Path], stdin: str | None = None, *, capture: bool = True,
        check: bool = True, show: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one command, every command this program runs.

    With `show` it is printed first, so that it can be pasted (off for the report's
    polling and for the best-effort commands around it, which would only fill the
    console); with `check` a failure raises InstallError; with `capture` its output is
    returned, else it goes to the console.
    """
    words = [str(a) for a in argv]
    if show:
        say("$ " + " ".join(words))
    result = subprocess.run(words, input=stdin, text=True, check=False,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:] if capture else ""
        raise InstallError(f"{' '.join(words)} failed (exit {result.returncode}) {detail}")
    return result


def in_target(*argv: str) -> str:
    env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8",
           "DEBIAN_FRONTEND=noninteractive"]
    return run(["chroot", TARGET, *env, *argv]).stdout


def write(path: str, content: str, mode: int = 0o644) -> None:
    target = TARGET / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.homeguy-install")
    temp.write_text(content)
    temp.chmod(mode)
    os.replace(temp, target)
    say(f"wrote {path}")


def check_disk(disk: str) -> None:
    if not Path(disk).is_block_device():
        raise InstallError(f"{disk} is not a block device; the disks are:\n"
                           + run(["lsblk", "-d", "-n", "-o", "PATH,SIZE,MODEL"]).stdout)
    kind = run(["lsblk", "-d", "-n", "-o", "TYPE", disk]).stdout.strip()
    if kind != "disk":
        raise InstallError(f"{disk} is a {kind}, not a whole disk")
    mounted = run(["lsblk", "-n", "-o", "MOUNTPOINTS", disk]).stdout.split()
    if mounted:
        raise InstallError(f"{disk} has mounted file systems ({', '.join(mounted)}): "
                           "is it the live medium? Choose another disk")


def ask_disk(options: Options) -> Options | None:
    """homeguy.install=ask: the person at the screen picks the disk and confirms; None
    when they do not."""
    try:
        role = role_of(MIP6D_CONF.read_text() if MIP6D_CONF.exists() else None)
    except InstallError as error:
        raise InstallError(f"{error}. Is this node enrolled? `sudo homeguy-enroll` asks for "
                           "the service's URL and the node's token; then choose this entry "
                           "again, or run `sudo homeguy-install DISK`") from None
    if sys.stdout.isatty():  # a clean screen: the boot's kernel messages are on it
        print("\033[H\033[2J", end="")
    print(f"Homeguy: install this live system to a disk, as {role.name}"
          + (f" (home address {role.home_address})" if role.home_address else "") + ".")
    disks = offered_disks(run(LSBLK_DISKS, show=False).stdout)
    if not disks:
        say(f"no disk to install to: none of {MIN_DISK_BYTES / 1e9:.0f} GB or more but the "
            "live medium")
        return None
    for number, offered in enumerate(disks, 1):
        print(f"  {number}. {offered}")
    try:
        while True:
            try:
                chosen = disk_choice(input("Disk to erase and install to (number or name; "
                                         "q: do nothing): "), disks)
                break
            except InstallError as error:
                say(str(error))
        if chosen is None or input(f"Everything on {chosen} will be erased. Type yes to "
                                   "go on: ").strip() != "yes":
            return None
    except EOFError:  # no one at the keyboard
        return None
    return Options(chosen.path, options.mobile_interface, options.then)


def pause() -> None:
    """Keep what was said on the screen until the person goes on: tty1's login, which
    starts next, clears it."""
    with contextlib.suppress(EOFError):  # no one at the keyboard
        input("Press Enter to go on to the live system. ")


def uuid_of(device: str) -> str:
    return run(["blkid", "-s", "UUID", "-o", "value", device]).stdout.strip()


def install(options: Options, cmdline: str) -> Role:
    disk = options.disk
    check_disk(disk)
    if not LIVE_ROOT.is_dir():
        raise InstallError(f"{LIVE_ROOT} is missing: homeguy-install runs in a Homeguy "
                           "live system (live-boot mounts the image there)")
    role = role_of(MIP6D_CONF.read_text() if MIP6D_CONF.exists() else None)
    say(f"installing to {disk} as {role.name}"
        + (f" (prefixes {', '.join(map(str, role.prefixes))} on {options.mobile_interface})"
           if role.prefixes else ""))
    run(["wipefs", "--all", disk])
    run(["sfdisk", "--wipe", "always", disk], stdin=sfdisk_script())
    run(["udevadm", "settle"])
    devices = {p.name: partition_device(disk, n) for n, p in enumerate(PARTITIONS, start=1)}
    run(["mkfs.fat", "-F", "32", "-n", "EFI", devices["esp"]])
    run(["mkfs.ext4", "-q", "-F", "-L", "homeguy-root", devices["root"]])
    TARGET.mkdir(parents=True, exist_ok=True)
    mounts: list[Path] = []
    try:
        run(["mount", devices["root"], TARGET])
        mounts.append(TARGET)
        say(f"copying the system from {LIVE_ROOT} (this takes a few minutes)")
        run(["cp", "-a", "--one-file-system", f"{LIVE_ROOT}/.", f"{TARGET}/"])
        (TARGET / "boot/efi").mkdir(parents=True, exist_ok=True)
        run(["mount", devices["esp"], TARGET / "boot/efi"])
        mounts.append(TARGET / "boot/efi")
        configure(options, role, cmdline, devices)
        for name, how in (("dev", ["--rbind", "/dev"]), ("proc", ["-t", "proc", "proc"]),
                          ("sys", ["--rbind", "/sys"])):
            run(["mount", *how, TARGET / name])
            mounts.append(TARGET / name)
        finish(options, role)
    finally:
        for mount in reversed(mounts):
            run(["umount", "-R", mount], capture=False, check=False, show=False)
    run(["sync"])
    return role


def configure(options: Options, role: Role, cmdline: str, devices: Mapping[str, str]) -> None:
    """Files of the new system, written before anything runs in it."""
    write("/etc/fstab", fstab_text(uuid_of(devices["root"]), uuid_of(devices["esp"])))
    for name in ("/etc/hostname", "/etc/hosts"):
        if Path(name).is_file():
            write(name, Path(name).read_text())
    write("/etc/default/grub.d/homeguy.cfg", grub_default_text(kept_parameters(cmdline)))
    # The image's machine id is empty (a live system makes one at each boot); an installed
    # one gets its own now, so its first boot does not run the interactive first-boot
    # wizard (systemd-firstboot) on a console nobody reads.
    run(["systemd-machine-id-setup", f"--root={TARGET}"])
    if MIP6D_CONF.parent.is_dir():  # the enrolled configuration and its keys
        shutil.copytree(MIP6D_CONF.parent, TARGET / "etc/mip6d", dirs_exist_ok=True)
        say("copied /etc/mip6d (the enrolled configuration)")
    for path, content in role_files(role, options.mobile_interface).items():
        write(path, content)


def installed_packages(status: str) -> set[str]:
    """``dpkg-query -W -f='${Package} ${db:Status-Status}\\n'`` -> the installed ones."""
    return {name for name, _, state in (line.partition(" ") for line in status.splitlines())
            if state.strip() == "installed"}


def finish(options: Options, role: Role) -> None:
    """Inside the new system: no live packages, a boot loader, the role's services."""
    status = in_target("dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n")
    live = [name for name in LIVE_PACKAGES if name in installed_packages(status)]
    if live:
        # Removing live-boot runs update-initramfs from its postrm and again from the
        # trigger; under emulation each run takes minutes. Held off during the purge, the
        # initramfs is made once afterwards, without live-boot.
        conf = TARGET / "etc/initramfs-tools/update-initramfs.conf"
        saved = conf.read_bytes() if conf.exists() else None
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("# held off by homeguy-install while it removes the live packages\n"
                        "update_initramfs=no\n")
        try:
            in_target("dpkg", "--purge", *live)
        finally:
            if saved is None:
                conf.unlink()
            else:
                conf.write_bytes(saved)
    # A targeted initramfs (debian-installer's "targeted" choice): the drivers this machine
    # boots from, not every module; made in seconds rather than minutes under emulation.
    write("/etc/initramfs-tools/conf.d/homeguy-install.conf", INITRAMFS_CONF)
    in_target("update-initramfs", "-u", "-k", "all")
    in_target("grub-install", "--target=i386-pc", options.disk)
    if Path(TARGET / "usr/lib/grub/x86_64-efi").is_dir():
        missing = [sources[0] for sources in SECURE_BOOT_CHAIN.values()
                   if not any((TARGET / source).is_file() for source in sources)]
        if missing:
            raise InstallError(f"{', '.join(missing)} missing from the live system: "
                               "install shim-signed and grub-efi-amd64-signed in the image "
                               "(homeguy-installer depends on them)")
        in_target("grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi",
                  "--removable", "--no-nvram", "--uefi-secure-boot")
        check_secure_boot_chain(TARGET)
    in_target("update-grub")
    for unit in LIVE_UNITS:
        run(["systemctl", f"--root={TARGET}", "disable", unit], check=False, show=False)
    for unit in role_units(role):
        run(["systemctl", f"--root={TARGET}", "enable", unit])


def secure_boot_chain_problems(root: Path) -> list[str]:
    """What on `root`'s EFI system partition differs from SECURE_BOOT_CHAIN (pure but for
    reading the files): empty when the firmware's removable path starts the signed chain."""
    problems = []
    for name, sources in SECURE_BOOT_CHAIN.items():
        installed = root / EFI_BOOT / name
        if not installed.is_file():
            problems.append(f"/{EFI_BOOT}/{name} is missing")
        elif source_of(installed, root, sources) is None:
            problems.append(f"/{EFI_BOOT}/{name} is none of /" + ", /".join(sources))
    return problems


def source_of(installed: Path, root: Path, sources: Sequence[str]) -> str | None:
    """Which of `sources` (under root) `installed` is a copy of; None: none."""
    content = installed.read_bytes()
    return next((source for source in sources if (root / source).is_file()
                 and (root / source).read_bytes() == content), None)


def check_secure_boot_chain(root: Path) -> None:
    problems = secure_boot_chain_problems(root)
    if problems:
        raise InstallError("the EFI system partition would not boot with Secure Boot on: "
                           + "; ".join(problems))
    say(f"UEFI Secure Boot chain on /{EFI_BOOT}: " + ", ".join(
        f"{name} = /{source_of(root / EFI_BOOT / name, root, sources)}"
        for name, sources in SECURE_BOOT_CHAIN.items()))


def secure_boot_state(efivar: bytes | None) -> str:
    """The SecureBoot variable's efivarfs bytes (4 of attributes, then the value) ->
    on, off, or `no UEFI` (None: booted by a BIOS, or no such variable)."""
    if efivar is None or len(efivar) < 5:
        return "no UEFI"
    return "on" if efivar[4] == 1 else "off"


def report(seconds: float = 180.0) -> int:
    """The installed system's role, on the console (homeguy-role-report.service): the
    root file system, forwarding, radvd, and mip6d's Binding Update List once mip6d is
    ready (mip6ctl)."""
    import time  # noqa: PLC0415

    role = role_of(MIP6D_CONF.read_text() if MIP6D_CONF.exists() else None)
    root = run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "/"], check=False,
               show=False).stdout.strip()
    forwarding = Path("/proc/sys/net/ipv6/conf/all/forwarding").read_text().strip()
    say(f"report: role {role.name}, root {root}, live system "
        f"{'yes' if Path('/run/live').exists() else 'no'}, ipv6 forwarding {forwarding}")
    efivar = SECURE_BOOT_VAR.read_bytes() if SECURE_BOOT_VAR.is_file() else None
    say(f"report: secure boot {secure_boot_state(efivar)}")
    deadline = time.monotonic() + seconds
    for unit in (u for u in role_units(role) if u != REPORT_UNIT):
        while True:
            state = run(["systemctl", "is-active", unit], check=False,
                        show=False).stdout.strip()
            if state == "active" or time.monotonic() > deadline:
                break
            time.sleep(2)
        say(f"report: {unit} {state}")
    if "mip6d.service" in role_units(role):
        while True:
            bul = run(["mip6ctl", "--json", "bul"], check=False, show=False)
            if (bul.returncode == 0 and bul.stdout.strip() not in ("", "[]")) \
                    or time.monotonic() > deadline:
                break
            time.sleep(2)
        say(f"report: mip6ctl bul: {' '.join(bul.stdout.split()) or bul.stderr.strip()}")
    for interface in sorted({line.split("=", 1)[1] for text in
                             Path("/etc/systemd/network").glob("70-homeguy-mobile-network-*")
                             for line in text.read_text().splitlines()
                             if line.startswith("Name=")}):
        shown = run(["ip", "-6", "-brief", "address", "show", "dev", interface],
                    check=False, show=False)
        say(f"report: {interface} {' '.join(shown.stdout.split()[1:]) or shown.stderr.strip()}")
    say("report: done")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PREFIX, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("disk", nargs="?", help="the whole disk to install to: erased")
    parser.add_argument("--mobile-interface", default="eth1",
                        help="a mobile router's mobile network interface (default eth1)")
    parser.add_argument("--then", choices=THEN, default="none",
                        help="after the installation (default: none)")
    parser.add_argument("--yes", action="store_true", help="erase DISK without asking")
    parser.add_argument("--from-cmdline", action="store_true",
                        help="unattended, from homeguy.install= on the kernel command line")
    parser.add_argument("--report", action="store_true",
                        help="print the installed system's role (homeguy-role-report.service)")
    args = parser.parse_args(argv)
    if args.report:
        try:
            return report()
        except InstallError as error:
            say(f"report: {error}")
            return 1
    cmdline = CMDLINE.read_text() if CMDLINE.exists() else ""
    asked = False
    try:
        if args.from_cmdline:
            options = parse_cmdline(cmdline)
            if options is None:
                say("no homeguy.install= on the kernel command line: nothing to do")
                return 0
            if options.disk == ASK:
                asked, options = True, ask_disk(options)
                if options is None:
                    say("nothing done")
                    pause()
                    return 0
        else:
            if not args.disk:
                parser.error("give the DISK to install to (e.g. /dev/vda), or --from-cmdline")
            options = Options(args.disk, args.mobile_interface, args.then)
            check_options(options)
            if not args.yes:
                answer = input(f"Erase {options.disk} and install Homeguy on it? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    say("nothing done")
                    return 1
        role = install(options, cmdline)
    except InstallError as error:
        say(f"installation failed: {error}")
        if asked:
            pause()
        return 1
    say(f"installed to {options.disk} as {role.name}; {options.then} next")
    if options.then != "none":
        run(["systemctl", options.then], capture=False, check=False, show=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
