"""homeguy-install from the mobile-router live ISO, unattended, to an empty disk; then the
installed system boots from that disk alone and runs mip6d as a NEMO mobile router.

QEMU guests (TCG): the live system with the kernel command line ``homeguy.url=
homeguy.token= homeguy.install=/dev/vda`` (it enrolls as the service's mobile router,
installs, reboots: QEMU exits, -no-reboot), then the disk with no CD-ROM, by BIOS and by
UEFI with Secure Boot enforced (Debian's signed shim, GRUB and kernel) side by side. All
reach only the service (restricted user network). The installation (one guest on one
core, about six minutes) begins when the session's tests do (testkit.headstart).

And the boot menu's "install to a disk" entry (``homeguy.install=ask``), chosen as a
person would, up to the installer's question on the screen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from iso_haiku import serve  # tests/e2e/iso_haiku.py

from homeguy.git import TOP
from homeguy.run import run
from testkit.headstart import HeadStart
from testkit.images import (
    LIVE_APPEND,
    SERVICE_IN_GUEST,
    Guest,
    built_iso,
    enroll_append,
    extract_kernel,
)

pytestmark = [pytest.mark.e2e, pytest.mark.machine]

WORK = TOP / "out" / "iso" / "e2e-install"
INSTALL_LIMIT = 1800.0  # s: live boot, enrollment, copy, initramfs and GRUB under TCG
BOOT_LIMIT = 600.0  # s: the installed system's boot until its role report
DISK = WORK / "disk.qcow2"  # what the live system installs to
INSTALLED = r"homeguy-install: installed to /dev/vda as (\S+); reboot next"
# The installed disk boots by each of these firmwares (testkit.qemu.Guest.firmware).
DISK_FIRMWARES = ("bios", "secureboot")
ASK_LIMIT = 600.0  # s: the boot menu's install entry until the installer's question
SCREENS = WORK / "screens"  # what the person at the screen saw


@dataclass
class Installed:
    """The service (open until the module ends), the live guest that installs the router
    to the disk, and once it has: its console and seconds."""

    service: dict[str, Any]
    stack: ExitStack
    live: Guest
    console: str = ""
    install_s: float = 0.0


def begin_install() -> Installed:
    """The image and the service (their builds and start take the machine: not in the
    background), and the live guest that installs, not started yet."""
    iso = built_iso("mobile-router")
    WORK.mkdir(parents=True, exist_ok=True)
    stack = ExitStack()
    service = stack.enter_context(serve(WORK, SERVICE_IN_GUEST))
    run(["qemu-img", "create", "-q", "-f", "qcow2", DISK, "8G"])
    append = enroll_append(service["router_token"], "homeguy.install=/dev/vda")
    live = Guest(iso, WORK / "live", service["port"], kernel=extract_kernel(iso, WORK / "kernel"),
                 append=append, disk=DISK)
    return Installed(service, stack, live)


def install(installed: Installed) -> Installed:
    """Boot the live system, which enrolls, installs to the disk and reboots (QEMU exits:
    -no-reboot); one guest on one core for about six minutes."""
    live = installed.live
    started = time.monotonic()
    live.start()
    try:
        live.wait_for(INSTALLED + "|homeguy-install: installation failed: .*", INSTALL_LIMIT)
        live.wait_exit(180)
    finally:
        live.stop()
    installed.console, installed.install_s = live.text(), time.monotonic() - started
    return installed


def stop(installed: Installed) -> None:
    installed.live.stop()
    installed.stack.close()


def begin_head_start() -> tuple[Callable[[], Installed], Callable[[], None]]:
    """The installation beside the session's first tests."""
    begun = begin_install()
    return lambda: install(begun), lambda: stop(begun)


HEAD_START: HeadStart[Installed] = HeadStart(begin_head_start, "router-install")


@pytest.fixture(scope="module")
def installation() -> Iterator[Installed]:
    started = HEAD_START.take()  # installed since the session began
    done = started if started is not None else begin_install()
    try:
        yield done if started is not None else install(done)
    finally:
        stop(done)


@pytest.fixture(scope="module")
def service(installation: Installed) -> dict[str, Any]:
    return installation.service


@pytest.fixture(scope="module")
def installed(installation: Installed, service: dict[str, Any]) -> dict[str, Any]:
    """The installation, then the disk booted by each firmware; the consoles and the
    times."""
    install_s = installation.install_s
    outcome: dict[str, Any] = {"live": installation.console, "install_s": install_s}

    def boot(firmware: str) -> None:
        # Each boot on its own copy-on-write layer over the installed disk: side by side.
        layer = WORK / f"disk-{firmware}.qcow2"
        layer.unlink(missing_ok=True)
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", DISK, "-F", "qcow2", layer])
        booted = Guest(None, WORK / f"disk-{firmware}", service["port"], disk=layer,
                       second_nic=True, firmware=firmware)
        started = time.monotonic()
        booted.start()
        try:
            booted.wait_for(r"homeguy-install: report: done", BOOT_LIMIT)
        except AssertionError as error:
            outcome[firmware] = error  # the other firmware's boot still counts
        else:
            outcome[firmware] = booted.text()
        finally:
            booted.stop()
        outcome[f"{firmware}_s"] = time.monotonic() - started

    with ThreadPoolExecutor(max_workers=len(DISK_FIRMWARES)) as pool:
        list(pool.map(boot, DISK_FIRMWARES))
    print(f"install {install_s:.0f} s; boot from the disk to the role report: "
          + ", ".join(f"{f} {outcome[f + '_s']:.0f} s" for f in DISK_FIRMWARES))
    return outcome


def test_the_boot_menu_s_install_entry_asks_on_the_screen_which_disk(
        service: dict[str, Any]) -> None:
    """The image booted as a person would (no serial port): the BIOS menu's "install to a
    disk" entry (its hotkey), its command line edited to add nomodeset (VGA text the test
    can read) and the enrollment a generic image needs (the router's token); then on
    tty1, before the login, the installer's question: the role it would install, the
    blank disk offered and not the CD-ROM the system runs from. q installs nothing; Enter
    goes on to the live system's login."""
    blank = WORK / "ask-disk.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", blank, "8G"])
    guest = Guest(built_iso("mobile-router"), WORK / "ask", service["port"], disk=blank,
                  serial=False)
    guest.start()
    try:
        guest.wait_for_boot_menu(120)
        guest.press("i", redrawn=5)
        guest.screenshot(SCREENS / "router-boot-menu-install.png")
        enrollment = enroll_append(service["router_token"]).removeprefix(LIVE_APPEND)
        guest.press(f"\t nomodeset{enrollment}\n")
        guest.wait_on_screen(r"Disk to erase and install to \(number or name; q: do "
                             r"nothing\):", ASK_LIMIT)
        screen = guest.screen_text()
        guest.screenshot(SCREENS / "router-install-question.png")
        unwrapped = screen.replace("\n", "")  # 80 columns cut the long lines
        assert re.search(r"install this live system to a disk, as mobile-router \(home "
                         r"address 2001:db8:\S+\)\.", unwrapped), screen
        # Not the CD-ROM it runs from, nor QEMU's floppy drive with no disk in it.
        assert re.findall(r"^\s+\d+\. (\S+)", screen, re.M) == ["/dev/vda"], screen
        guest.press("q\n")
        guest.wait_on_screen(r"homeguy-install: nothing done\s+Press Enter to go on", 60)
        guest.press("\n")
        guest.wait_on_screen(r"user@homeguy-mr:~\$", 120)  # tty1's login, as always
    finally:
        guest.stop()


def disk_console(installed: dict[str, Any], firmware: str) -> str:
    console = installed[firmware]
    if isinstance(console, AssertionError):
        raise console
    assert isinstance(console, str)
    return console


def test_unattended_install_as_mobile_router(installed: dict[str, Any],
                                             service: dict[str, Any]) -> None:
    console = installed["live"]
    assert "homeguy-install: installation failed" not in console, console[-4000:]
    assert re.search(INSTALLED, console).group(1) == "mobile-router"  # type: ignore[union-attr]
    # It enrolled first (the kernel command line), then installed the enrolled role.
    assert console.index("homeguy-enroll: enrolled") < console.index("homeguy-install: installing")
    prefix = service["router_prefixes"][0]
    assert f"installing to /dev/vda as mobile-router (prefixes {prefix} on eth1)" in console
    for step in ("$ sfdisk --wipe always /dev/vda", "$ mkfs.ext4 -q -F -L homeguy-root",
                 "$ chroot /run/homeguy-install/target env", "dpkg --purge live-boot",
                 "grub-install --target=i386-pc /dev/vda",
                 "grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable "
                 "--no-nvram --uefi-secure-boot",
                 "UEFI Secure Boot chain on /boot/efi/EFI/BOOT: BOOTX64.EFI = "
                 "/usr/lib/shim/shimx64.efi.signed, grubx64.efi = "
                 "/usr/lib/grub/x86_64-efi-signed/", "update-grub",
                 "wrote /etc/radvd.conf", "wrote /etc/fstab"):
        assert step in console, step


def test_installed_system_boots_from_disk_as_mobile_router(installed: dict[str, Any],
                                                           service: dict[str, Any]) -> None:
    console = disk_console(installed, "bios")
    assert "homeguy-install: report: secure boot no UEFI" in console
    report = re.search(r"homeguy-install: report: role (\S+), root (\S+) ext4, live system "
                       r"(\w+), ipv6 forwarding (\d)", console)
    assert report, console[-4000:]
    assert report.groups() == ("mobile-router", "/dev/vda3", "no", "1")
    assert "homeguy-install: report: mip6d.service active" in console
    assert "homeguy-install: report: radvd.service active" in console
    router = re.search(r"homeguy-install: report: eth1 (.*)", console)
    prefix = service["router_prefixes"][0]
    assert router and prefix.replace("::/64", "::1/64") in router.group(1), console[-3000:]
    # mip6d's own log on the console: ready, with the router's home address.
    assert '{"level": "info", "event": "ready", "role": "MN"' in console
    bul = re.search(r"homeguy-install: report: mip6ctl bul: (.*)", console)
    assert bul and '"mobile_router": true' in bul.group(1), console[-3000:]
    assert service["router_home_address"] in bul.group(1)
    assert "boot=live" not in console.split("Linux version", 1)[-1].split("\n", 1)[0]


def test_installed_system_boots_with_secure_boot_enforced(installed: dict[str, Any]) -> None:
    """Firmware with Microsoft's keys and Secure Boot on starts the disk's shim, shim the
    signed GRUB, GRUB the signed kernel; the system says Secure Boot is on and its role
    runs."""
    console = disk_console(installed, "secureboot")
    assert "Access Denied" not in console and "Security Violation" not in console
    assert "homeguy-install: report: secure boot on" in console, console[-3000:]
    assert re.search(r"homeguy-install: report: role mobile-router, root /dev/vda3 ext4, "
                     r"live system no", console), console[-3000:]
    assert "homeguy-install: report: mip6d.service active" in console
