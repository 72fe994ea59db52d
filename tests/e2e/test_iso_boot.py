"""The mobile-host live ISO under QEMU (TCG): enrollment from the HAiku service, by the
kernel command line, by UEFI, and by UEFI with Secure Boot enforced (Debian's signed
shim, GRUB and kernel). A per-user image booted by BIOS is the demonstration's mobile
host (tests/e2e/test_demo.py): not booted again here.

One image is built per session (or reused from out/iso when its inputs are unchanged);
guests boot in parallel, two at a time (the machine has two cores); each test has a time
limit. Guests reach only the service (restricted user network, one forwarded port).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from homeguy_slot import parse_slot
from iso_haiku import serve  # tests/e2e/iso_haiku.py

from homeguy.files import sha256_file
from homeguy.git import TOP
from homeguy.iso.meta import image_meta
from homeguy.iso.personalize import personalize
from homeguy.run import run
from testkit.images import (
    SERVICE_IN_GUEST,
    Guest,
    built_iso,
    enroll_append,
    extract_kernel,
)

pytestmark = [pytest.mark.e2e, pytest.mark.machine]

WORK = TOP / "out" / "iso" / "e2e"
BOOT_LIMIT = 900.0  # seconds from QEMU's start to the line a test waits for (TCG, shared cores)
RUNNING = r"homeguy-enroll: mip6d is running with home address {}"
# What the kernel says on the console when the firmware enforced Secure Boot: its EFI
# stub, then its own check of the SecureBoot variable, then the lockdown that follows.
SECURE_BOOT_LINES = ("EFI stub: UEFI Secure Boot is enabled.",
                     "secureboot: Secure boot enabled",
                     "Kernel is locked down from EFI Secure Boot")
# What a person at the machine sees (QEMU's screendump, PNG), for people to look at: the
# UEFI guest's boot menu and its screen once enrolled.
SCREENS = WORK / "screens"
# GRUB draws its menu on the serial console too: the first entry's title.
MENU_ENTRY = r"Homeguy mobile host \S+: live"


@pytest.fixture(scope="session")
def base_iso() -> Path:
    return built_iso("mobile-host")


@pytest.fixture(scope="session")
def service(base_iso: Path) -> Iterator[dict[str, Any]]:
    with serve(WORK, SERVICE_IN_GUEST, base_iso) as info:
        yield info


def download(service: dict[str, Any], path: str, target: Path,
             headers: dict[str, str] | None = None) -> requests.Response:
    """GET one of the service's pages as the node's owner, the body saved to target."""
    base = f"http://127.0.0.1:{service['port']}"
    session = requests.Session()
    login = session.get(f"{base}/accounts/login/", timeout=30)
    session.post(f"{base}/accounts/login/", timeout=30,
                 data={"username": service["user"], "password": service["password"],
                       "csrfmiddlewaretoken": login.cookies["csrftoken"]},
                 headers={"Referer": f"{base}/accounts/login/"}).raise_for_status()
    with session.get(base + path, stream=True, timeout=60, headers=headers) as response:
        response.raise_for_status()
        with target.open("wb") as stream:
            for block in response.iter_content(1 << 20):
                stream.write(block)
    return response


@pytest.fixture(scope="session")
def node_iso(base_iso: Path, service: dict[str, Any]) -> Path:
    """The per-user image of the service's second node, from its streaming endpoint."""
    target = WORK / "node.iso"
    response = download(service, f"/api/v1/nodes/{service['iso_node_id']}/iso", target)
    assert response.headers["X-Checksum-SHA256"] == sha256_file(target)
    return target


def guests(base_iso: Path, node_iso: Path, service: dict[str, Any]) -> dict[str, Guest]:
    kernel = extract_kernel(base_iso, WORK / "kernel")
    token = service["token"]
    return {
        "cmdline": Guest(base_iso, WORK / "cmdline", service["port"], kernel=kernel,
                         append=enroll_append(token)),
        # No forwarding at all: 10.0.2.100 answers nothing, as a service that is down.
        "unreachable": Guest(base_iso, WORK / "unreachable", None, kernel=kernel,
                             append=enroll_append(token, "homeguy.timeout=20")),
        "node-uefi": Guest(node_iso, WORK / "node-uefi", service["port"], firmware="uefi"),
        "node-secureboot": Guest(node_iso, WORK / "node-secureboot", service["port"],
                                 firmware="secureboot"),
    }


# Which guest each test reads; only the guests of the selected tests boot.
GUEST_OF = {
    "test_kernel_command_line_enrollment_starts_mip6d": "cmdline",
    "test_unreachable_service_still_boots_and_says_why": "unreachable",
    "test_per_user_image_enrolls_itself_by_uefi": "node-uefi",
    "test_per_user_image_enrolls_itself_with_secure_boot_enforced": "node-secureboot",
}


@pytest.fixture(scope="session")
def boots(request: pytest.FixtureRequest, base_iso: Path, node_iso: Path,
          service: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The selected tests' guests booted (two at a time), each until its lines or its time
    limit."""
    wanted = {  # the lines each guest must print, in any order
        "cmdline": [RUNNING.format(service["home_address"])],
        "unreachable": [r"homeguy-enroll: the live system works without it", r"\blogin: "],
        "node-uefi": [RUNNING.format(service["iso_home_address"])],
        "node-secureboot": [RUNNING.format(service["iso_home_address"])],
    }
    all_guests = guests(base_iso, node_iso, service)
    shutil.rmtree(SCREENS, ignore_errors=True)  # this session's screens, none older
    selected = {GUEST_OF[item.name] for item in request.session.items if item.name in GUEST_OF}
    wanted = {name: lines for name, lines in wanted.items() if name in selected}

    def boot(name: str) -> Any:
        guest = all_guests[name].start()
        try:
            started = time.monotonic()
            if name == "node-uefi":  # a key stops GRUB's countdown while the menu is taken
                guest.wait_for(MENU_ENTRY, BOOT_LIMIT)
                guest.monitor("sendkey up")
                guest.screenshot(SCREENS / "uefi-boot-menu.png")
                guest.monitor("sendkey ret")
            for line in wanted[name]:
                guest.wait_for(line, BOOT_LIMIT - (time.monotonic() - started))
            if name == "node-uefi":
                guest.screenshot(SCREENS / "uefi-enrolled.png")
            return (guest, time.monotonic() - started)
        except AssertionError as error:
            return error
        finally:
            guest.stop()

    with ThreadPoolExecutor(max_workers=int(os.environ.get("HOMEGUY_ISO_GUESTS", "2"))) as pool:
        results = dict(zip(wanted, pool.map(boot, wanted), strict=True))
    yield results


def result(boots: dict[str, Any], name: str) -> tuple[Guest, float]:
    outcome = boots[name]
    if isinstance(outcome, AssertionError):
        raise outcome
    guest, seconds = outcome
    print(f"{name}: {seconds:.0f} s to the line")
    return guest, seconds


def test_kernel_command_line_enrollment_starts_mip6d(boots: dict[str, Any],
                                                     service: dict[str, Any]) -> None:
    guest, _ = result(boots, "cmdline")
    console = guest.text()
    assert "homeguy-enroll: fetching this node's configuration from http://10.0.2.100:8080 " \
           "(settings from the kernel command line" in console
    assert f"node 'live-mh': home address {service['home_address']}" in console
    assert "wrote /etc/mip6d/mip6d.conf (checked with mip6d --check)" in console
    # mip6d's own log: a mobile node, with the node's home address set up.
    assert 'homeguy-enroll: mip6d: {"level": "info", "event": "ready", "role": "MN"' \
        in console, console[-3000:]
    assert f"AddAddress({service['home_address']}/128, lo" in console


def test_unreachable_service_still_boots_and_says_why(boots: dict[str, Any]) -> None:
    guest, _ = result(boots, "unreachable")
    console = guest.text()
    assert "homeguy-enroll: enrollment failed: gave up after 20 s: cannot reach " \
           "http://10.0.2.100:8080" in console
    assert "the live system works without it" in console


def test_per_user_image_enrolls_itself_by_uefi(boots: dict[str, Any]) -> None:
    guest, _ = result(boots, "node-uefi")
    assert "(settings from the medium;" in guest.text()
    # The same image (shim first) by firmware that does not enforce Secure Boot: the kernel
    # finds it off (the Secure Boot test's lines are its finding, not the image's).
    assert "secureboot: Secure boot disabled" in guest.text()
    assert "Kernel is locked down" not in guest.text()
    # Its screens, taken on the way (not blank, or the boot would have failed).
    for screen in ("uefi-boot-menu.png", "uefi-enrolled.png"):
        assert (SCREENS / screen).read_bytes().startswith(b"\x89PNG"), screen


def test_per_user_image_enrolls_itself_with_secure_boot_enforced(
        boots: dict[str, Any]) -> None:
    """Firmware with Microsoft's keys and Secure Boot on: shim, GRUB and the kernel all
    passed its checks (or nothing would run), the running kernel says Secure Boot is on,
    and the system reached its normal state (enrolled, mip6d running)."""
    guest, _ = result(boots, "node-secureboot")
    console = guest.text()
    assert "(settings from the medium;" in console
    assert "Access Denied" not in console and "Security Violation" not in console
    for line in SECURE_BOOT_LINES:
        assert line in console, line
    assert "secureboot: Secure boot disabled" not in console


def unsigned_boot_disk(into: Path) -> Path:
    """A disk whose only boot loader is a GRUB built here, signed by no one: it says so
    and powers off."""
    into.mkdir(parents=True, exist_ok=True)
    config = into / "grub.cfg"
    config.write_text("echo homeguy: unsigned GRUB runs\nhalt\n")
    loader, raw, disk = into / "BOOTX64.EFI", into / "esp.img", into / "esp.qcow2"
    for path in (loader, raw, disk):
        path.unlink(missing_ok=True)
    run(["grub-mkstandalone", "-O", "x86_64-efi", "-o", loader,
         f"boot/grub/grub.cfg={config}"])
    run(["mkfs.fat", "-C", "-n", "ESP", raw, "16384"])
    run(["mmd", "-i", raw, "::/EFI", "::/EFI/BOOT"])
    run(["mcopy", "-i", raw, loader, "::/EFI/BOOT/BOOTX64.EFI"])
    run(["qemu-img", "convert", "-O", "qcow2", raw, disk])
    return disk


def test_secure_boot_refuses_an_unsigned_boot_loader() -> None:
    """The Secure Boot firmware above does enforce: the same unsigned GRUB that plain UEFI
    runs is refused (seconds per boot: no operating system starts)."""
    disk = unsigned_boot_disk(WORK / "unsigned")
    plain = Guest(None, WORK / "unsigned-uefi", None, firmware="uefi", disk=disk).start()
    try:
        plain.wait_for(r"homeguy: unsigned GRUB runs", 300)
        plain.wait_exit(120)
    finally:
        plain.stop()
    enforced = Guest(None, WORK / "unsigned-secureboot", None, firmware="secureboot",
                     disk=disk).start()
    try:
        # The disk's boot entry refused; the firmware goes on to network boot (nothing).
        enforced.wait_for(r"BdsDxe: failed to load Boot\d+ .*: Access Denied", 300)
        enforced.wait_for(r"PXE", 120)
    finally:
        enforced.stop()
    assert "GRUB" not in enforced.text()


def test_per_user_image_differs_from_the_base_only_in_its_slot(base_iso: Path,
                                                               node_iso: Path) -> None:
    meta = image_meta(base_iso)
    start, size = meta["slot"]["offset"], meta["slot"]["size"]
    assert base_iso.stat().st_size == node_iso.stat().st_size
    chunk = 1 << 22
    differing = []
    with base_iso.open("rb") as a, node_iso.open("rb") as b:
        position = 0
        while block := a.read(chunk):
            other = b.read(chunk)
            if block != other:
                differing += [position + i for i in range(len(block)) if block[i] != other[i]]
            position += len(block)
    assert differing and start <= min(differing) and max(differing) < start + size
    # `homeguy iso personalize` makes the very same image from the same settings.
    with node_iso.open("rb") as stream:
        stream.seek(start)
        slot = parse_slot(stream.read(size))
    assert slot["allow_http"] == "yes"  # the service (plain http here) was allowed to
    again, checksum = personalize(base_iso, WORK / "personalized.iso", slot["url"],
                                  slot["token"], int(slot["timeout"]), allow_http=True)
    assert checksum == sha256_file(node_iso)
    again.unlink()


def test_endpoint_range_requests_and_published_checksum(base_iso: Path, node_iso: Path,
                                                        service: dict[str, Any]) -> None:
    path = f"/api/v1/nodes/{service['iso_node_id']}/iso"
    meta = image_meta(base_iso)
    start = meta["slot"]["offset"] - 100
    part = WORK / "part"
    response = download(service, path, part, {"Range": f"bytes={start}-{start + 999}"})
    assert response.status_code == 206
    with node_iso.open("rb") as stream:
        stream.seek(start)
        assert part.read_bytes() == stream.read(1000)
    listed = WORK / "node.iso.sha256"
    download(service, path + ".sha256", listed)
    assert listed.read_text().split()[0] == sha256_file(node_iso)
