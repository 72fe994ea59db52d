"""The mobile-host live ISO under QEMU (TCG): enrollment from the HAiku service, by the
kernel command line, by hand after a failed one, by UEFI from a USB stick (its menu's
safe-graphics entry), and by UEFI with Secure Boot enforced (Debian's signed shim, GRUB
and kernel). Per-user images booted by BIOS are the demonstration's mobile routers, and
a stick's persistence across a reboot is its laptop's (tests/e2e/test_demo.py): not
booted again here (live-boot's persistence makes a boot minutes slower under TCG).

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
DOWN = "http://10.0.2.100:8081"  # no service there: the guest reaches only :8080
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


def node_stick(node_iso: Path) -> Path:
    """The per-user image written to a USB stick with persistence (`homeguy iso stick`)."""
    stick = WORK / "node-stick.img"
    stick.unlink(missing_ok=True)
    run([str(TOP / ".venv/bin/python"), "-m", "homeguy", "iso", "stick", str(node_iso),
         str(stick), "--persistence", "64MiB"], cwd=TOP)
    return stick


def guests(base_iso: Path, node_iso: Path, service: dict[str, Any]) -> dict[str, Guest]:
    kernel = extract_kernel(base_iso, WORK / "kernel")
    token = service["token"]
    stick = node_stick(node_iso)
    return {
        "node-uefi": Guest(None, WORK / "node-uefi", service["port"], firmware="uefi",
                           disk=stick, disk_format="raw"),
        "cmdline": Guest(base_iso, WORK / "cmdline", service["port"], kernel=kernel,
                         append=enroll_append(token)),
        # The command line names a port nothing answers on, as a service that is down;
        # the person then enrolls by hand with the right one.
        "unreachable": Guest(base_iso, WORK / "unreachable", service["port"], kernel=kernel,
                             append=enroll_append(token, "homeguy.timeout=20",
                                                  f"homeguy.url={DOWN}")),
        "node-secureboot": Guest(node_iso, WORK / "node-secureboot", service["port"],
                                 firmware="secureboot"),
    }


# Which guest each test reads; only the guests of the selected tests boot.
GUEST_OF = {
    "test_kernel_command_line_enrollment_starts_mip6d": "cmdline",
    "test_unreachable_service_still_boots_and_says_why": "unreachable",
    "test_by_hand_enrollment_of_a_generic_image": "unreachable",
    "test_per_user_image_enrolls_itself_by_uefi": "node-uefi",
    "test_per_user_image_enrolls_itself_with_secure_boot_enforced": "node-secureboot",
}


@pytest.fixture(scope="session")
def boots(request: pytest.FixtureRequest, base_iso: Path, node_iso: Path,
          service: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The selected tests' guests booted (two at a time), each until its lines or its time
    limit."""
    running = RUNNING.format(service["iso_home_address"])
    wanted = {  # the lines each guest must print, in any order
        "node-uefi": [running],
        "cmdline": [RUNNING.format(service["home_address"])],
        "unreachable": [r"homeguy-enroll: the live system works without it", r"\blogin: "],
        "node-secureboot": [running],
    }
    all_guests = guests(base_iso, node_iso, service)
    shutil.rmtree(SCREENS, ignore_errors=True)  # this session's screens, none older
    selected = {GUEST_OF[item.name] for item in request.session.items if item.name in GUEST_OF}
    wanted = {name: lines for name, lines in wanted.items() if name in selected}
    def boot(name: str) -> Any:
        guest = all_guests[name].start()
        try:
            started = time.monotonic()
            if name == "node-uefi":  # the stick's safe-graphics entry, by keys
                guest.wait_for(MENU_ENTRY, BOOT_LIMIT)
                guest.send_keys("down", redrawn=5)
                guest.screenshot(SCREENS / "uefi-boot-menu.png")
                guest.send_keys("ret")
            for line in wanted[name]:
                guest.wait_for(line, BOOT_LIMIT - (time.monotonic() - started))
            if name == "unreachable":
                enroll_by_hand(guest, service)
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


def enroll_by_hand(guest: Guest, service: dict[str, Any]) -> None:
    """A person at the console of a generic image: `homeguy-enroll`, answering its two
    questions (the service's URL, the node's token) until mip6d runs."""
    guest.login_root(BOOT_LIMIT)
    mark = len(guest.heard())
    guest.type("homeguy-enroll --allow-http\n")
    guest.wait_for(r"Service URL \(e\.g\. https://haiku\.example\): $", 60, after=mark,
                   source=guest.heard)
    guest.type(f"{SERVICE_IN_GUEST}\n")
    guest.wait_for(r"Node token \(from the node's page; not shown\): $", 60, after=mark,
                   source=guest.heard)
    guest.type(f"{service['token']}\n")
    guest.wait_for(RUNNING.format(service["home_address"]), 600, after=mark,
                   source=guest.heard)


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
           f"{DOWN}" in console
    assert "the live system works without it" in console
    assert "or enroll by hand: 'sudo homeguy-enroll'" in console


def test_by_hand_enrollment_of_a_generic_image(boots: dict[str, Any],
                                               service: dict[str, Any]) -> None:
    """After the failed enrollment above, `homeguy-enroll` with the service's URL and the
    node's token, typed at its questions: the settings written, the node's configuration
    fetched and shown, mip6d started."""
    guest, _ = result(boots, "unreachable")
    said = guest.heard()
    assert "homeguy-enroll: settings written to /etc/homeguy/enroll.conf" in said
    assert f"fetching this node's configuration from {SERVICE_IN_GUEST} (settings from the " \
           "homeguy-enroll command;" in said
    assert f"node 'live-mh': home address {service['home_address']}" in said
    assert f"homeguy-enroll: enrolled with home address {service['home_address']}" in said
    assert service["token"] not in said  # asked without echo


def test_per_user_image_enrolls_itself_by_uefi(boots: dict[str, Any]) -> None:
    """From a USB stick (the image and a persistence partition, `homeguy iso stick`),
    booted by its menu's safe-graphics entry."""
    guest, _ = result(boots, "node-uefi")
    assert "(settings from the medium;" in guest.text()
    assert " nomodeset" in guest.text().split("Command line:", 1)[1].split("\n", 1)[0]
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
