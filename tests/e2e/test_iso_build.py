"""The mobile-host ISO as built: hybrid (BIOS and UEFI, CD and USB), Homeguy's packages
installed by apt from the signed repository, the node slot in place, and reproducible."""

from __future__ import annotations

import re
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from debian.debian_support import version_compare
from homeguy_slot import SLOT_PATH, SLOT_SIZE, parse_slot, prefix_from_record

from homeguy import patched
from homeguy.files import sha256_file
from homeguy.git import TOP
from homeguy.iso import stall
from homeguy.iso.build import CACHE, build, locate_slot
from homeguy.iso.meta import image_meta, meta_path
from homeguy.iso.profile import load_profile
from homeguy.iso.serve import RepoHandler
from homeguy.iso.slot import SlotLocation
from homeguy.packages import DEBS
from homeguy.run import run
from testkit.images import built_iso, installed_packages, repo_with_new_version

pytestmark = [pytest.mark.e2e, pytest.mark.machine]

RECIPE = TOP / "packages" / "strongswan-mip6"

WORK = TOP / "out" / "iso" / "e2e"


@pytest.fixture(scope="module")
def base_iso() -> Path:
    return built_iso("mobile-host")


def test_image_is_hybrid_for_bios_and_uefi(base_iso: Path) -> None:
    assert re.fullmatch(r"homeguy-mobile-host-0\.1\.0\+\d+\.g[0-9a-f]{7}(\.m[0-9a-f]{6})?"
                        r"-amd64\.hybrid\.iso", base_iso.name)
    report = run(["xorriso", "-indev", base_iso, "-report_el_torito", "plain",
                  "-report_system_area", "plain"]).stdout
    assert re.search(r"El Torito boot img :\s+1\s+BIOS", report), report
    assert re.search(r"El Torito boot img :\s+2\s+UEFI", report), report
    with base_iso.open("rb") as stream:  # USB sticks: an MBR with a partition, and a GPT
        mbr = stream.read(1024)
    assert mbr[510:512] == b"\x55\xaa"
    first = mbr[446:462]  # the first MBR partition: bootable, starting at 64, the image
    assert first[0] == 0x80 and int.from_bytes(first[8:12], "little") == 64
    assert int.from_bytes(first[12:16], "little") * 512 > base_iso.stat().st_size * 0.9
    assert mbr[512:520] == b"EFI PART", "no GPT header (UEFI from a USB stick)"


def test_homeguy_packages_came_from_the_signed_repository(base_iso: Path) -> None:
    log = (CACHE / "build" / "mobile-host.log").read_text()
    assert "Get:" in log and "http://127.0.0.1:" in log
    for name in ("homeguy-archive-keyring", "homeguy-mobile-host", "mip6d", "python3-mip6d"):
        assert re.search(rf"Setting up {name} \(", log), name
    assert "trusted=yes" not in log and "allow-unauthenticated" not in log.lower()
    assert "NO_PUBKEY" not in log and "is not signed" not in log
    listing = run(["xorriso", "-indev", base_iso, "-find", "/live", "-name",
                   "filesystem.packages"]).stdout
    assert "filesystem.packages" in listing


def test_the_image_runs_the_newest_strongswan_and_pins_nothing(base_iso: Path,
                                                                tmp_path: Path) -> None:
    """The role brings strongSwan for certificate keying: the highest version of
    Homeguy's patched build (in out/debs, published) and Debian's candidate (the host's
    mirror, which the image is made from), with no pin in the image: Homeguy's when the
    builder could build on Debian's newest source, Debian's when that is newer."""
    suffix = patched.parse_recipe((RECIPE / patched.RECIPE).read_text(), RECIPE).suffix
    versions = installed_packages(base_iso, tmp_path)
    for name in ("charon-systemd", "strongswan-swanctl", "libstrongswan-extra-plugins"):
        (ours,) = [deb.name.split("_")[1] for deb in DEBS.glob(f"{name}_*.deb")]
        assert ours.endswith(suffix)
        debians = re.search(r"Candidate: (\S+)", run(["apt-cache", "policy", name]).stdout)
        assert debians, name
        expected = ours if version_compare(ours, debians[1]) > 0 else debians[1]
        assert versions[name] == expected, (name, versions[name], ours, debians[1])
    squashfs = tmp_path / "filesystem.squashfs"
    run(["xorriso", "-osirrox", "on", "-indev", base_iso, "-extract",
         "/live/filesystem.squashfs", squashfs])
    run(["unsquashfs", "-q", "-d", tmp_path / "root", squashfs,
         "etc/apt/preferences.d", "etc/strongswan.d/homeguy-mip6.conf"])
    preferences = tmp_path / "root/etc/apt/preferences.d"
    assert not (preferences.exists() and any(preferences.iterdir()))  # no pin
    assert "roam_events = no" in (tmp_path / "root/etc/strongswan.d/homeguy-mip6.conf"
                                  ).read_text()


# A file each firmware package of the profile brings (/lib/firmware/...): the adapters
# it is there for.
FIRMWARE_FILES = {
    "firmware-iwlwifi": "iwlwifi-",  # Intel
    "firmware-realtek": "rtw88/",  # Realtek
    "firmware-atheros": "ath10k/",  # Qualcomm Atheros
    "firmware-brcm80211": "brcm/brcmfmac",  # Broadcom
    "firmware-misc-nonfree": "mediatek/",  # MediaTek (mt76)
}


def test_a_laptop_s_wifi_comes_with_the_image(base_iso: Path, tmp_path: Path) -> None:
    """What a laptop needs to join a Wi-Fi network from the console: homeguy-wifi and
    wpa_supplicant, the firmware of common adapters (non-free-firmware), the generator
    that joins a saved network at boot, and networkd configuring the Wi-Fi link."""
    versions = installed_packages(base_iso, tmp_path)
    firmware = [name for name in load_profile("mobile-host").debian_packages
                if name.startswith("firmware-")]
    assert sorted(firmware) == sorted(FIRMWARE_FILES)
    for name in ("homeguy-wifi", "wpasupplicant", "wireless-regdb", "iw", "rfkill", *firmware):
        assert name in versions, f"{name} not in the image"
    squashfs = tmp_path / "filesystem.squashfs"
    run(["xorriso", "-osirrox", "on", "-indev", base_iso, "-extract",
         "/live/filesystem.squashfs", squashfs])
    listing = run(["unsquashfs", "-l", squashfs]).stdout
    for name, file in FIRMWARE_FILES.items():
        assert f"/lib/firmware/{file}" in listing, f"{name}: no /lib/firmware/{file}*"
    for path in ("/lib/systemd/system-generators/homeguy-wifi-generator",
                 "/sbin/homeguy-wifi", "/lib/systemd/system/wpa_supplicant@.service"):
        assert f"{path}\n" in listing, path  # under /usr (merged /usr) or not
    run(["unsquashfs", "-q", "-d", tmp_path / "root", squashfs,
         "etc/systemd/network/80-homeguy-dhcp.network"])
    network = (tmp_path / "root/etc/systemd/network/80-homeguy-dhcp.network").read_text()
    assert re.search(r"^Name=.*\bwlan\*", network, re.M), network


def test_the_boot_menus_name_homeguy_the_role_and_its_version(base_iso: Path,
                                                              tmp_path: Path) -> None:
    """BIOS (isolinux) and UEFI (GRUB): the live entry, then the same with safe graphics,
    then with live-boot's persistence, all with the profile's boot options, named with the
    role package's version in the image (isolinux's in its title)."""
    version = installed_packages(base_iso, tmp_path)["homeguy-mobile-host"]
    run(["xorriso", "-osirrox", "on", "-indev", base_iso,
         "-extract", "/isolinux/live.cfg", tmp_path / "live.cfg",
         "-extract", "/isolinux/menu.cfg", tmp_path / "menu.cfg",
         "-extract", "/boot/grub/grub.cfg", tmp_path / "grub.cfg"])
    title = f"Homeguy mobile host {version}: live"
    live, grub = (tmp_path / "live.cfg").read_text(), (tmp_path / "grub.cfg").read_text()
    # isolinux's entries leave the version to the menu's title: vesamenu's box is narrow.
    assert re.findall(r"menu label \^?(.*)", live) == [
        "Homeguy mobile host: live", "Homeguy mobile host: live, ^text only (safe graphics)",
        "Homeguy mobile host: live with ^persistence"]
    assert re.findall(r'menuentry "(.*)"', grub)[:3] == [
        title, title + ", text only (safe graphics)",
        title + " with persistence"]
    assert f"menu title Homeguy mobile host {version}\n" in (tmp_path / "menu.cfg").read_text()
    profile = load_profile("mobile-host")
    for menu in (live, grub):
        live_options, safe, keeping = re.findall(r"(?:append|linux\t\S+) (.*)", menu)
        assert profile.bootappend in live_options and "nomodeset" not in live_options
        assert (safe, keeping) == (live_options + " nomodeset", live_options + " persistence")


def test_slot_is_recorded_where_the_image_has_it(base_iso: Path) -> None:
    meta = image_meta(base_iso)
    assert meta["slot"]["size"] == SLOT_SIZE
    assert locate_slot(base_iso) == SlotLocation(meta["slot"]["offset"], SLOT_SIZE)
    with base_iso.open("rb") as stream:
        stream.seek(meta["slot"]["offset"])
        assert parse_slot(stream.read(SLOT_SIZE)) == {"timeout": "90"}


# What may follow the slot: xorriso's padding (300 KiB of zeros), the zeros that round an
# isohybrid image up to whole 1 MiB cylinders (xorriso's -partition_cyl_align "auto"), and
# the GPT's backup (its partition entries, then its header in the last sector); a node's
# image's checksum hashes these after the slot. (One image had 620 KiB.)
AFTER_SLOT_LIMIT = 300 * 1024 + 1024 * 1024 + 64 * 1024


def test_the_slot_is_the_last_file_data_before_a_small_fixed_tail(base_iso: Path) -> None:
    meta = image_meta(base_iso)
    offset, size = meta["slot"]["offset"], meta["slot"]["size"]
    files = extents(base_iso)
    last = max(files, key=lambda name: files[name][0])
    assert last == f"/{SLOT_PATH}", f"{last} comes after the slot: {files[last]}"
    end = base_iso.stat().st_size
    assert end - (offset + size) <= AFTER_SLOT_LIMIT, end - (offset + size)
    with base_iso.open("rb") as stream:
        stream.seek(offset + size)
        tail = stream.read()
    header = tail[-512:]
    assert header.startswith(b"EFI PART"), "no GPT backup header in the last sector"
    assert int.from_bytes(header[24:32], "little") * 512 == end - 512  # it says so itself
    entries = int.from_bytes(header[72:80], "little") * 512 - (offset + size)
    assert 0 <= entries < len(tail) - 512, "the GPT's backup entries are not after the slot"
    assert tail[:entries] == bytes(entries), "the padding after the slot is not zeros"


def test_personalize_publishes_the_checksum_of_the_file_it_writes(base_iso: Path,
                                                                  tmp_path: Path) -> None:
    """`homeguy iso personalize` as a user runs it (a new process: the hash state before
    the slot comes from the base's .json), into a new file and in place."""
    assert prefix_from_record(image_meta(base_iso).get("prefix_sha256"),
                              image_meta(base_iso)["sha256"],
                              image_meta(base_iso)["slot"]["offset"]) is not None
    copy = tmp_path / "copy.iso"
    shutil.copy(base_iso, copy)
    shutil.copy(meta_path(base_iso), meta_path(copy))
    for n, where in enumerate((["--out", str(tmp_path / "node.iso")], ["--in-place"])):
        printed = run([sys.executable, "-m", "homeguy", "iso", "personalize", copy,
                       "--url", "https://ha.example.org", "--token", f"hgn_e2e{n}", *where],
                      cwd=TOP).stdout
        checksum, image = printed.split()
        assert run(["sha256sum", image]).stdout.split()[0] == checksum
        assert Path(image + ".sha256").read_text() == f"{checksum}  {Path(image).name}\n"


def extents(image: Path) -> dict[str, tuple[int, int]]:
    """Path -> (offset, size) of every file's data in the image."""
    report = run(["xorriso", "-indev", image, "-find", "/", "-type", "f", "-exec",
                  "report_lba", "--"]).stdout
    found = re.findall(r"File data lba:\s*\d+ ,\s*(\d+) ,\s*\d+ ,\s*(\d+) , '(.*)'", report)
    return {name: (int(lba) * 2048, int(size)) for lba, size, name in found}


def differing_files(a: Path, b: Path) -> list[str]:
    """The files whose contents differ between two images (for the failure message)."""
    one, two = extents(a), extents(b)
    names = sorted(set(one) ^ set(two))
    with a.open("rb") as x, b.open("rb") as y:
        for name in sorted(set(one) & set(two)):
            (offset_a, size_a), (offset_b, size_b) = one[name], two[name]
            if size_a != size_b:
                names.append(f"{name} (size)")
                continue
            x.seek(offset_a)
            y.seek(offset_b)
            if x.read(size_a) != y.read(size_b):
                names.append(name)
    return names or ["no file: the ISO 9660 metadata or the system area"]


def test_rebuild_after_a_homeguy_package_change_has_the_new_version(
        base_iso: Path, tmp_path: Path) -> None:
    # What a developer's rebuild does: one Homeguy package changed and published; the
    # Debian layer of the chroot comes from the cache, the new package from the repository.
    epoch = image_meta(base_iso)["source_date_epoch"]
    before = installed_packages(base_iso, tmp_path)
    repo, version = repo_with_new_version("homeguy-mobile-host", "+e2e1", tmp_path / "new")
    assert before["homeguy-mobile-host"] != version
    again = build("mobile-host", out_dir=tmp_path / "out", epoch=epoch, repo=repo)
    log = (CACHE / "build" / "mobile-host.log").read_text()
    assert "chroot: Debian layer restored from" in log, "the Debian layer was made again"
    assert re.search(rf"Setting up homeguy-mobile-host \({re.escape(version)}\)", log)
    after = installed_packages(again, tmp_path)
    assert after["homeguy-mobile-host"] == version
    assert {k: v for k, v in after.items() if k != "homeguy-mobile-host"} == \
        {k: v for k, v in before.items() if k != "homeguy-mobile-host"}


def test_two_builds_give_the_same_bytes_even_when_a_download_stalls(
        base_iso: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The mirror has held apt's connection open without sending anything, for an hour in
    # one CI run. Here out/repo's server does that to the first InRelease request: the
    # build must end the stuck download, say so, and make the image again, and that image
    # must be the first build's, byte for byte, with the same SOURCE_DATE_EPOCH (by default
    # the last commit's time, which a commit in between would change).
    monkeypatch.setattr(stall, "STALL_SECONDS", 20.0)
    stalled: list[str] = []
    released = threading.Event()

    class Stalling(RepoHandler):
        def do_GET(self) -> None:
            if self.path.endswith("InRelease") and not stalled:
                stalled.append(self.path)
                released.wait(600)  # the connection stays open, silent
                return
            super().do_GET()

    @contextmanager
    def stalling_repo(repo: Path, port: int, keyring_url: str) -> Iterator[str]:
        handler = type("Handler", (Stalling,), {"prefix": urlsplit(keyring_url).path})
        server = ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(repo)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            released.set()
            server.shutdown()
            server.server_close()

    monkeypatch.setattr("homeguy.iso.build.serve_repo", stalling_repo)
    said: list[str] = []
    epoch = image_meta(base_iso)["source_date_epoch"]
    again = build("mobile-host", out_dir=tmp_path / "out", epoch=epoch, force=True,
                  say=said.append)
    assert stalled, "the build asked the repository for no InRelease"
    assert any("the mirror stalled" in line and "ended its" in line for line in said), said
    assert any("building mobile-host again (attempt 2 of" in line for line in said), said
    assert image_meta(again)["inputs"] == image_meta(base_iso)["inputs"], \
        "the inputs changed between the builds (out/repo republished?)"
    assert again.stat().st_size == base_iso.stat().st_size
    same = sha256_file(again) == image_meta(base_iso)["sha256"]
    assert same, f"the images differ in {differing_files(base_iso, again)}"
