"""The `lb config` options of a profile and the configuration tree laid over them (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import jinja2
from homeguy_slot import SLOT_PATH, slot_bytes

from homeguy.iso import IsoError
from homeguy.iso.profile import Profile

ARCH = "amd64"
DISTRIBUTION = "bookworm"
GRUB_TIMEOUT = 3
SQUASHFS_ZSTD_LEVEL = 3
# The boot menus' second entry: no kernel mode setting, so the screen stays in the
# firmware's mode (VGA text on BIOS) when a graphics driver would leave it dark.
SAFE_GRAPHICS = "nomodeset"
# live-boot's persistence (live-boot(7)): the boot menus' entry for a stick made with
# `homeguy iso stick --persistence`, in the images that enroll.
PERSISTENCE = "persistence"
# The boot menus' "install to a disk" entry, in the images with homeguy-installer: the
# installer asks on tty1 which disk to erase (homeguy-install-ask.service).
INSTALL = "homeguy.install=ask"
# Options for live-build's xorriso run, which `lb config` has no setting for (lb-binary.sh
# adds them): the node slot's data is written last, so that only the ISO's padding and the
# GPT's backup follow it, and a node's image's checksum hashes just the slot and those
# (homeguy_slot.node_image_sha256). A higher weight is written earlier; the others have 0.
XORRISO_OPTIONS = ("--sort-weight", "-1", f"/{SLOT_PATH}")


@dataclass(frozen=True)
class BuildInputs:
    profile: Profile
    mirror: str
    security_mirror: str | None
    repo_url: str
    source_date_epoch: int
    distribution: str = DISTRIBUTION
    # The URL the keyring package's apt source names (repo/repo.toml `url`).
    keyring_url: str = "http://localhost/homeguy/"


def bootappend(profile: Profile) -> str:
    return f"{profile.bootappend} hostname={profile.hostname} locales={profile.locale}"


def lb_config_args(inputs: BuildInputs) -> list[str]:
    """The `lb config` options: a hybrid ISO (BIOS and UEFI, CD and USB stick) with
    live-boot, from the given mirror, cached bootstrap, reproducible settings."""
    p = inputs.profile
    security = (["--security", "true", "--mirror-chroot-security", inputs.security_mirror,
                 "--mirror-binary-security", inputs.security_mirror]
                if inputs.security_mirror else ["--security", "false"])
    return [
        "--mode", "debian",
        "--distribution", inputs.distribution,
        "--architecture", ARCH,
        # non-free-firmware: the Wi-Fi adapters' firmware (profiles' firmware-* packages),
        # as Debian's own images since bookworm.
        "--archive-areas", "main non-free-firmware",
        "--mirror-bootstrap", inputs.mirror,
        "--mirror-chroot", inputs.mirror,
        "--mirror-binary", inputs.mirror,
        *security,
        "--updates", "true",
        "--binary-images", "iso-hybrid",
        # isolinux for BIOS: with it live-build writes the isohybrid MBR (USB sticks);
        # GRUB for UEFI, from the EFI image that -isohybrid-gpt-basdat also partitions.
        "--bootloaders", "syslinux grub-efi",
        # UEFI Secure Boot: the EFI image starts Debian's shim (signed by Microsoft's
        # UEFI CA), which starts Debian's signed GRUB, which starts Debian's signed kernel.
        # `enable`, not `auto`: without the signed packages the build fails instead of
        # quietly making an image that Secure Boot refuses.
        "--uefi-secure-boot", "enable",
        "--debian-installer", "none",
        "--memtest", "none",
        "--firmware-binary", "false",
        "--firmware-chroot", "false",
        "--linux-flavours", ARCH,
        "--initramfs", "live-boot",
        "--apt-recommends", "false",
        "--apt-indices", "false",
        "--apt-source-archives", "false",
        "--source", "false",
        "--checksums", "none",
        "--zsync", "false",
        "--cache", "true",
        "--cache-packages", "true",
        "--cache-stages", "bootstrap",
        "--chroot-squashfs-compression-type", "zstd",
        # zstd's default level: mksquashfs's own (15) makes the squashfs 40 times slower
        # to build here for a 15 % smaller image.
        "--chroot-squashfs-compression-level", str(SQUASHFS_ZSTD_LEVEL),
        "--image-name", f"homeguy-{p.name}",
        "--iso-volume", f"Homeguy {p.name}"[:32],
        "--iso-application", "Homeguy",
        "--iso-publisher", "Homeguy",
        "--bootappend-live", bootappend(p),
    ]


# Files copied verbatim from live/hooks into the configuration: (source, target, mode).
STATIC_FILES: tuple[tuple[str, str, int], ...] = (
    ("hooks/enroll/2000-homeguy-enroll", "includes.chroot/lib/live/config/2000-homeguy-enroll",
     0o755),
    ("hooks/enroll/homeguy_enroll.py", "includes.chroot/usr/lib/homeguy/homeguy_enroll.py",
     0o644),
    ("hooks/enroll/homeguy-enroll", "includes.chroot/usr/sbin/homeguy-enroll", 0o755),
    ("hooks/enroll/homeguy-enroll.service",
     "includes.chroot/etc/systemd/system/homeguy-enroll.service", 0o644),
    ("hooks/enroll/homeguy-status-screen.service",
     "includes.chroot/etc/systemd/system/homeguy-status-screen.service", 0o644),
    ("hooks/enroll/20-homeguy-console.conf",
     "includes.chroot/etc/sysctl.d/20-homeguy-console.conf", 0o644),
    ("hooks/enroll/80-homeguy-dhcp.network",
     "includes.chroot/etc/systemd/network/80-homeguy-dhcp.network", 0o644),
    ("hooks/chroot/9110-homeguy-reproducible.hook.chroot",
     "hooks/normal/9110-homeguy-reproducible.hook.chroot", 0o755),
    # mksquashfs -ef: apt's binary caches, which the binary stage makes again after
    # normalize-chroot.sh removed them, and which differ from build to build.
    ("rootfs/excludes", "rootfs/excludes", 0o644),
)
# Jinja2 templates: (template under live/, target under config/, mode).
TEMPLATES: tuple[tuple[str, str, int], ...] = (
    ("templates/archives/homeguy.list.chroot.j2", "archives/homeguy.list.chroot", 0o644),
    ("templates/package-lists/debian.list.chroot.j2", "package-lists/debian.list.chroot",
     0o644),
    ("templates/package-lists/homeguy.list.chroot.j2",
     "package-lists/homeguy.list.chroot", 0o644),
    ("templates/bootloaders/grub-pc/config.cfg.j2", "bootloaders/grub-pc/config.cfg", 0o644),
    ("templates/bootloaders/grub-pc/grub.cfg.j2", "bootloaders/grub-pc/grub.cfg", 0o644),
    ("templates/bootloaders/isolinux/isolinux.cfg.j2", "bootloaders/isolinux/isolinux.cfg",
     0o644),
    ("templates/bootloaders/isolinux/live.cfg.in.j2", "bootloaders/isolinux/live.cfg.in",
     0o644),
    ("templates/bootloaders/isolinux/menu.cfg.j2", "bootloaders/isolinux/menu.cfg", 0o644),
    ("templates/apt/apt.conf.j2", "apt/apt.conf", 0o644),
    ("hooks/chroot/9100-homeguy-services.hook.chroot.j2",
     "hooks/normal/9100-homeguy-services.hook.chroot", 0o755),
    ("hooks/chroot/9120-homeguy-issue.hook.chroot.j2",
     "hooks/normal/9120-homeguy-issue.hook.chroot", 0o755),
    ("hooks/binary/9130-homeguy-bootmenu.hook.binary.j2",
     "hooks/normal/9130-homeguy-bootmenu.hook.binary", 0o755),
)


@dataclass(frozen=True)
class ConfigFile:
    content: bytes
    mode: int


def render_config(inputs: BuildInputs, sources: Mapping[str, bytes],
                  keyring: bytes) -> dict[str, ConfigFile]:
    """The files to lay over `lb config`'s output, by path under config/.

    `sources` maps each path of STATIC_FILES and TEMPLATES (relative to live/) to its
    bytes; `keyring` is the repository's public key (binary OpenPGP). No apt
    preferences: the keyring package pins nothing, so the image takes the highest
    version, as an installed node does.
    """
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    keyring_url = urlsplit(inputs.keyring_url)
    if keyring_url.scheme != "http" or not keyring_url.hostname:
        raise IsoError(f"repo/repo.toml url {inputs.keyring_url!r}: expected http://HOST/PATH")
    context = {"profile": inputs.profile, "repo_url": inputs.repo_url,
               "distribution": inputs.distribution, "grub_timeout": GRUB_TIMEOUT,
               "keyring_url": inputs.keyring_url, "keyring_host": keyring_url.hostname,
               "role_title": inputs.profile.role.replace("-", " "),
               "safe_graphics": SAFE_GRAPHICS,
               "persistence": (PERSISTENCE if "homeguy-enroll.service" in inputs.profile.enable
                               else ""),
               "install": (INSTALL if "homeguy-installer" in inputs.profile.homeguy_packages
                           else "")}
    files: dict[str, ConfigFile] = {}
    for source, target, mode in TEMPLATES:
        text = env.from_string(sources[source].decode()).render(context)
        files[target] = ConfigFile(text.encode(), mode)
    for source, target, mode in STATIC_FILES:
        files[target] = ConfigFile(sources[source], mode)
    files["archives/homeguy.key.chroot"] = ConfigFile(keyring, 0o644)
    files[f"includes.binary/{SLOT_PATH}"] = ConfigFile(
        slot_bytes(None, None, timeout=inputs.profile.enroll_timeout), 0o644)
    return files


# The wrappers run on the host around live-build: part of what makes an image.
BUILD_SCRIPTS = ("lb-config.sh", "lb-build.sh", "lb-binary.sh", "normalize-chroot.sh")
