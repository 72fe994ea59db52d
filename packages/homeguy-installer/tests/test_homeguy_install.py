"""homeguy-install's pure core: options, partition table, fstab, GRUB settings, the role."""

from __future__ import annotations

import subprocess
from ipaddress import IPv6Network
from pathlib import Path

import homeguy_install as hi
import pytest

pytestmark = pytest.mark.unit

HERE = Path(__file__).resolve().parent.parent

ROUTER_CONF = """\
NodeConfig MN;
Interface "eth0";
MobRtrUseExplicitMode enabled;
MnHomeLink "eth0" {
    IsMobRtr enabled;
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::1000/64 (2001:db8:100:5::/64, 2001:db8:200::/56);
}
UseMnHaIPsec disabled;
"""
HOST_CONF = ROUTER_CONF.replace("    IsMobRtr enabled;\n", "").replace(
    " (2001:db8:100:5::/64, 2001:db8:200::/56)", "").replace(
    "MobRtrUseExplicitMode enabled;\n", "")


def test_cmdline_options() -> None:
    line = ("BOOT_IMAGE=/live/vmlinuz boot=live console=ttyS0,115200n8 homeguy.url=http://x "
            "homeguy.install=/dev/vda homeguy.install_then=poweroff net.ifnames=0\n")
    assert hi.parse_cmdline(line) == hi.Options("/dev/vda", "eth1", "poweroff")
    assert hi.parse_cmdline("boot=live homeguy.url=http://x") is None
    assert hi.parse_cmdline("homeguy.install=/dev/sdb homeguy.mobile_interface=wlan1") == \
        hi.Options("/dev/sdb", "wlan1", "reboot")
    with pytest.raises(hi.InstallError, match="not a /dev/ path"):
        hi.parse_cmdline("homeguy.install=vda")
    with pytest.raises(hi.InstallError, match="expected one of reboot, poweroff, none"):
        hi.parse_cmdline("homeguy.install=/dev/vda homeguy.install_then=halt")
    assert hi.kept_parameters(line) == ["console=ttyS0,115200n8", "net.ifnames=0"]


def test_partition_table_and_devices() -> None:
    assert hi.sfdisk_script() == (
        "label: gpt\n"
        "size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios\n"
        "size=63MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC3B8, name=esp\n"
        "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n")
    assert hi.partition_device("/dev/vda", 3) == "/dev/vda3"
    assert hi.partition_device("/dev/nvme0n1", 2) == "/dev/nvme0n1p2"


def test_sfdisk_accepts_the_table(tmp_path: Path) -> None:
    """The real sfdisk lays the table out on an image file."""
    image = tmp_path / "disk.img"
    with image.open("wb") as stream:
        stream.truncate(256 << 20)
    subprocess.run(["sfdisk", "--quiet", image], input=hi.sfdisk_script(), text=True,
                   check=True, capture_output=True)
    dump = subprocess.run(["sfdisk", "--dump", image], text=True, check=True,
                          capture_output=True).stdout
    assert dump.count("type=") == 3 and 'name="root"' in dump and "label: gpt" in dump


def test_fstab_and_grub() -> None:
    fstab = hi.fstab_text("1111-root", "AB12-CD34")
    assert "UUID=1111-root  /  ext4  errors=remount-ro  0  1\n" in fstab
    assert "UUID=AB12-CD34  /boot/efi  vfat  umask=0077  0  1\n" in fstab
    grub = hi.grub_default_text(["console=tty0", "console=ttyS0,115200n8", "net.ifnames=0"])
    assert 'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 net.ifnames=0"' in grub
    assert 'GRUB_TERMINAL="console serial"' in grub
    assert "GRUB_TERMINAL" not in hi.grub_default_text(["net.ifnames=0"])


def test_mobile_router_role_from_the_enrolled_configuration() -> None:
    role = hi.role_of(ROUTER_CONF)
    assert role == hi.Role("mobile-router", "eth0", "2001:db8:1::1000",
                           (IPv6Network("2001:db8:100:5::/64"),
                            IPv6Network("2001:db8:200::/56")))
    files = hi.role_files(role, "eth1")
    assert files["/etc/radvd.conf"] == (
        "# Written by homeguy-install: the mobile network of this NEMO mobile router.\n"
        "interface eth1 {\n    AdvSendAdvert on;\n    IgnoreIfMissing on;\n"
        "    MinRtrAdvInterval 3;\n    MaxRtrAdvInterval 10;\n"
        "    prefix 2001:db8:100:5::/64 {\n        AdvOnLink on;\n        AdvAutonomous on;\n"
        "    };\n"
        "    prefix 2001:db8:200::/64 {\n        AdvOnLink on;\n        AdvAutonomous on;\n"
        "    };\n};\n")
    network = files["/etc/systemd/network/70-homeguy-mobile-network-eth1.network"]
    assert "Name=eth1\n" in network
    assert "Address=2001:db8:100:5::1/64\nAddress=2001:db8:200::1/64\n" in network
    assert "IPv6AcceptRA=no" in network
    assert "StandardOutput=journal+console" in \
        files["/etc/systemd/system/mip6d.service.d/homeguy-console.conf"]
    assert hi.role_units(role) == ("mip6d.service", "radvd.service", hi.REPORT_UNIT)


def test_radvd_accepts_the_configuration(tmp_path: Path) -> None:
    radvd = "/usr/sbin/radvd"
    if not Path(radvd).exists():
        pytest.fail("radvd is not installed (make check installs it: deps-test)")
    conf = tmp_path / "radvd.conf"
    conf.write_text(hi.radvd_conf_text(hi.role_of(ROUTER_CONF), "eth1"))
    result = subprocess.run([radvd, "--configtest", "-C", conf], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_other_roles() -> None:
    host = hi.role_of(HOST_CONF)
    assert host == hi.Role("mobile-host", "eth0", "2001:db8:1::1000")
    assert hi.role_units(host) == ("mip6d.service", hi.REPORT_UNIT)
    assert "/etc/radvd.conf" not in hi.role_files(host, "eth1")
    assert hi.role_of(None) == hi.Role("none")
    assert hi.role_files(hi.Role("none"), "eth1") == {}
    with pytest.raises(hi.InstallError, match="not valid"):
        hi.role_of("NodeConfig XX;\n")
    with pytest.raises(hi.InstallError, match="longer than /64"):
        hi.link_prefix(IPv6Network("2001:db8::/80"))


def test_unit_runs_only_with_the_command_line_option() -> None:
    unit = (HERE / "debian" / "homeguy-installer.homeguy-install.service").read_text()
    assert "ConditionKernelCommandLine=homeguy.install\n" in unit
    assert "After=homeguy-enroll.service" in unit
    assert "ExecStart=/usr/sbin/homeguy-install --from-cmdline\n" in unit


def test_installed_packages_from_dpkg_query() -> None:
    status = ("live-boot installed\nlive-tools not-installed\nlive-config config-files\n"
              "mip6d installed\n")
    assert hi.installed_packages(status) == {"live-boot", "mip6d"}


def test_secure_boot_chain_on_the_removable_path(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """BOOTX64.EFI must be shim and grubx64.efi a signed GRUB: anything else (GRUB's
    unsigned image as BOOTX64.EFI, what grub-install makes without --uefi-secure-boot) is
    named."""
    for sources in hi.SECURE_BOOT_CHAIN.values():
        for source in sources:
            (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / source).write_bytes(f"signed {source}".encode())
    efi = tmp_path / hi.EFI_BOOT
    efi.mkdir(parents=True)
    assert hi.secure_boot_chain_problems(tmp_path) == [
        "/boot/efi/EFI/BOOT/BOOTX64.EFI is missing", "/boot/efi/EFI/BOOT/grubx64.efi is missing"]
    (efi / "BOOTX64.EFI").write_bytes(b"unsigned grub")
    (efi / "grubx64.efi").write_bytes(b"signed usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed")
    assert hi.secure_boot_chain_problems(tmp_path) == [
        "/boot/efi/EFI/BOOT/BOOTX64.EFI is none of /usr/lib/shim/shimx64.efi.signed"]
    with pytest.raises(hi.InstallError, match="would not boot with Secure Boot on"):
        hi.check_secure_boot_chain(tmp_path)
    (efi / "BOOTX64.EFI").write_bytes(b"signed usr/lib/shim/shimx64.efi.signed")
    assert hi.secure_boot_chain_problems(tmp_path) == []
    hi.check_secure_boot_chain(tmp_path)
    assert "grubx64.efi = /usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed" \
        in capsys.readouterr().out


def test_secure_boot_state_from_efivarfs() -> None:
    attributes = (6).to_bytes(4, "little")  # boot service and runtime access
    assert hi.secure_boot_state(attributes + b"\x01") == "on"
    assert hi.secure_boot_state(attributes + b"\x00") == "off"
    assert hi.secure_boot_state(None) == "no UEFI"
    assert hi.secure_boot_state(b"") == "no UEFI"


# `lsblk -J -b -o PATH,SIZE,MODEL,TYPE,RO,MOUNTPOINTS` (util-linux 2.38) on a machine
# booted from a USB stick (sda, mounted), with two disks, a read-only one, a CD-ROM, an
# empty floppy drive (as QEMU's default machine has: 4 KiB) and a disk too small (2 GiB).
LSBLK = """{"blockdevices": [
  {"path": "/dev/sda", "size": 4009754624, "model": "Flash Disk  ", "type": "disk",
   "ro": false, "mountpoints": [null], "children": [
     {"path": "/dev/sda1", "size": 439353344, "model": null, "type": "part", "ro": false,
      "mountpoints": ["/run/live/medium"]}]},
  {"path": "/dev/vda", "size": 8589934592, "model": null, "type": "disk", "ro": false,
   "mountpoints": [null]},
  {"path": "/dev/vdb", "size": 1073741824, "model": "ROM", "type": "disk", "ro": true,
   "mountpoints": [null]},
  {"path": "/dev/nvme0n1", "size": 512110190592, "model": "WD SN740", "type": "disk",
   "ro": false, "mountpoints": [null], "children": [
     {"path": "/dev/nvme0n1p1", "size": 536870912, "model": null, "type": "part",
      "ro": false, "mountpoints": [null]}]},
  {"path": "/dev/sr0", "size": 439353344, "model": "QEMU DVD-ROM", "type": "rom",
   "ro": false, "mountpoints": [null]},
  {"path": "/dev/fd0", "size": 4096, "model": null, "type": "disk", "ro": false,
   "mountpoints": [null]},
  {"path": "/dev/vdc", "size": 2147483648, "model": null, "type": "disk", "ro": false,
   "mountpoints": [null]}
]}"""


def test_the_disks_offered_are_writable_big_enough_and_not_the_live_medium() -> None:
    disks = hi.offered_disks(LSBLK)
    assert [str(d) for d in disks] == ["/dev/vda (8.6 GB)",
                                       "/dev/nvme0n1 (512.1 GB, WD SN740)"]
    assert hi.disk_choice("1", disks) is disks[0]
    assert hi.disk_choice("nvme0n1", disks) is disks[1]
    assert hi.disk_choice(" /dev/vda ", disks) is disks[0]
    assert hi.disk_choice("q", disks) is None
    assert hi.disk_choice("", disks) is None
    with pytest.raises(hi.InstallError, match=r"no disk 'sda' among those offered: type its "
                       r"number \(1 to 2\)"):
        hi.disk_choice("sda", disks)


def test_the_boot_menu_s_entry_asks() -> None:
    assert hi.parse_cmdline("boot=live homeguy.install=ask") == hi.Options(hi.ASK)
