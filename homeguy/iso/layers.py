"""The two layers of the live root file system, and the key of the cached Debian one (pure).

live-build makes the live root file system (chroot/) in one `lb chroot` run. Homeguy
runs it twice, as two layers, so that a rebuild where only Homeguy's packages changed
starts from a cached copy of everything Debian:

  1. the Debian layer: the bootstrap and the profile's Debian packages (with
     live-build's own lists: the kernel, live-boot), from the mirror only, with the
     DEBIAN_LAYER_FILES of the rendered configuration. live-build's stages after the
     package installation (HOMEGUY_LAYER_STAGES) are marked done, so they do not run
     yet. The chroot and live-build's stage files (.build/) are then kept in the cache,
     outside the checkout, under chroot_key: what went into them.
  2. the Homeguy layer, on that chroot (just made, or restored from the cache): the rest
     of the configuration is laid over config/, the marks of HOMEGUY_LAYER_STAGES and
     RERUN_STAGES are removed, and `lb chroot` runs again: live-build skips the stages
     done in layer 1, updates the package indices and upgrades (updates the mirror
     published since the layer was made land here), installs the package lists again
     (apt finds the Debian packages installed and fetches Homeguy's from out/repo,
     signature checked), then includes, hooks and its hacks (INITRAMFS_INPUTS).

A cold build and a rebuild run the same layer-2 steps on the same layer-1 tree, so they
give the same image.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from homeguy.iso import IsoError
from homeguy.iso.lbconfig import BuildInputs, ConfigFile, lb_config_args

# live-build's `lb chroot` stages that come after the package installation: not run in
# the Debian layer (their stage files are created before it), run in the Homeguy layer.
HOMEGUY_LAYER_STAGES = ("chroot_includes_after_packages", "chroot_hooks", "chroot_hacks")
# Stages done in the Debian layer and done again in the Homeguy layer, with its lists.
RERUN_STAGES = ("chroot_package-lists.install", "chroot_install-packages.install")
# Files of the rendered configuration that make the Debian layer; the others are laid
# over config/ for the Homeguy layer only.
DEBIAN_LAYER_FILES = ("package-lists/debian.list.chroot",)
# The Debian layer is made with this SOURCE_DATE_EPOCH (Debian 12's release day), not the
# build's: its key then leaves out the build's date, which changes with every commit.
# Whatever in it depends on the date is made again in the Homeguy layer (the initramfs,
# the shadow files' dates) or clamped to the build's date by mksquashfs (time stamps).
DEBIAN_LAYER_EPOCH = 1686355200
# `lb config` options used by live-build's binary stage only: left out of chroot_key, so
# that a new boot menu or image name does not make the Debian layer again.
BINARY_ONLY_OPTIONS = frozenset({
    "--binary-images", "--bootloaders", "--uefi-secure-boot", "--memtest",
    "--firmware-binary", "--checksums", "--zsync", "--image-name", "--iso-volume",
    "--iso-application", "--iso-publisher", "--bootappend-live",
    "--chroot-squashfs-compression-type", "--chroot-squashfs-compression-level",
})


# What initramfs-tools puts into the initramfs from the root file system, as paths of the
# rendered configuration. The initramfs is made in the Debian layer (when the kernel and
# live-boot are installed); live-build's hacks stage makes it again after the hooks, which
# takes a third of a rebuild. The Homeguy layer skips that (live-build's own
# initrd.img_has_already_been_regenerated mark) unless one of its files is among these;
# its packages regenerate it themselves when they need to, as on any Debian system
# (dh_installinitramfs: update-initramfs in their postinst).
INITRAMFS_INPUTS = tuple(f"includes.chroot/{path}" for path in (
    "etc/initramfs-tools/", "usr/share/initramfs-tools/", "etc/modprobe.d/",
    "lib/modprobe.d/", "usr/lib/modprobe.d/", "etc/udev/", "lib/udev/", "usr/lib/udev/",
    "lib/modules/", "usr/lib/modules/", "lib/firmware/", "usr/lib/firmware/",
    "etc/cryptsetup-initramfs/", "etc/crypttab", "etc/fstab", "etc/live/boot",
    "lib/live/boot/", "usr/lib/live/boot/",
))


def initramfs_inputs(homeguy_files: Mapping[str, ConfigFile]) -> list[str]:
    """The Homeguy layer's files that the initramfs is made of (then it is made again)."""
    return sorted(path for path in homeguy_files if path.startswith(INITRAMFS_INPUTS))


def split_layers(config: Mapping[str, ConfigFile]) -> tuple[dict[str, ConfigFile],
                                                             dict[str, ConfigFile]]:
    """The rendered configuration -> (the Debian layer's files, the Homeguy layer's)."""
    missing = [path for path in DEBIAN_LAYER_FILES if path not in config]
    if missing:
        raise IsoError(f"the rendered configuration has no {missing} (DEBIAN_LAYER_FILES)")
    debian = {path: item for path, item in config.items() if path in DEBIAN_LAYER_FILES}
    homeguy = {path: item for path, item in config.items() if path not in DEBIAN_LAYER_FILES}
    return debian, homeguy


def chroot_options(options: list[str]) -> list[str]:
    """`lb config` options without BINARY_ONLY_OPTIONS (each option takes one value)."""
    pairs = zip(options[::2], options[1::2], strict=True)
    return [item for name, value in pairs if name not in BINARY_ONLY_OPTIONS
            for item in (name, value)]


def chroot_key(inputs: BuildInputs, debian_files: Mapping[str, ConfigFile],
               tools: Mapping[str, str], scripts: Mapping[str, bytes]) -> str:
    """What the Debian layer is made of: the mirrors, the distribution, the `lb config`
    options that reach the chroot, the Debian package lists, the versions of live-build
    and debootstrap (`tools`), the wrapper that runs the layers, and how it runs them.
    Not the Homeguy packages, the hooks, the boot menus or the build's date."""
    digest = hashlib.sha256()
    digest.update(json.dumps([chroot_options(lb_config_args(inputs)), DEBIAN_LAYER_EPOCH,
                              HOMEGUY_LAYER_STAGES, RERUN_STAGES, sorted(tools.items())],
                             ).encode())
    for path in sorted(debian_files):
        digest.update(path.encode() + b"\0" + debian_files[path].content
                      + f"\0{debian_files[path].mode:o}\0".encode())
    for path, content in sorted(scripts.items()):
        digest.update(path.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def layer_env(key: str, homeguy_files: Mapping[str, ConfigFile]) -> dict[str, str]:
    """What live/lb-build.sh needs to know about the layers, as its environment."""
    return {"HOMEGUY_LAYER_KEY": key, "HOMEGUY_LAYER_STAGES": " ".join(HOMEGUY_LAYER_STAGES),
            "HOMEGUY_RERUN_STAGES": " ".join(RERUN_STAGES),
            "HOMEGUY_DEBIAN_LAYER_EPOCH": str(DEBIAN_LAYER_EPOCH),
            "HOMEGUY_INITRAMFS": "make" if initramfs_inputs(homeguy_files) else "keep"}



# Host tools whose versions make the Debian layer, and the wrappers that run it.
LAYER_TOOLS = ("live-build", "debootstrap")
LAYER_SCRIPTS = ("lb-config.sh", "lb-build.sh")
