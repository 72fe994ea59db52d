"""Live ISOs: profiles rendered into a live-build configuration, built, and personalized.

Pure core (no I/O): profile parsing against the PROFILE_KEYS table, the `lb config`
options, the rendered configuration tree, the per-node slot (its bytes and its parser),
the inputs digest that keys the built images, the two layers of the chroot and the key of
the cached Debian layer (what to cache, and when it is still good). The shell (`build`,
`personalize`) serves out/repo on the loopback, runs the POSIX sh wrappers in live/
through `homeguy.run.run`, and writes out/iso/.

The per-node slot: a fixed-size file, /homeguy/node.conf, on the ISO 9660 medium (which
live-boot mounts at /run/live/medium). Its offset in the image is recorded at build time
in the image's .json; a node's image is the base image with only those bytes replaced.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from debian.deb822 import Packages

from homeguy import mirror
from homeguy.run import run
from repo.publisher.config import load_config

TOP = Path(__file__).resolve().parent.parent
PROFILES = TOP / "profiles"
LIVE = TOP / "live"
OUT_ISO = TOP / "out" / "iso"
REPO = TOP / "out" / "repo"
KEYRING = REPO / "homeguy-archive-keyring.gpg"
# live-build's working trees and its cache (bootstrap, downloaded .debs): outside the tree.
CACHE = Path(os.environ.get("HOMEGUY_LIVE_CACHE", "/var/cache/homeguy/live"))
REPO_PORT = int(os.environ.get("HOMEGUY_LIVE_REPO_PORT", "8071"))
ARCH = "amd64"
DISTRIBUTION = "bookworm"
GRUB_TIMEOUT = 3
SQUASHFS_ZSTD_LEVEL = 3
BUILD_TIMEOUT = 3600.0  # seconds; a cold build takes about 6 minutes on 2 cores

SLOT_PATH = "homeguy/node.conf"  # on the medium: /run/live/medium/homeguy/node.conf
SLOT_SIZE = 8192
SLOT_HEADER = b"# HOMEGUY-NODE-SLOT v1\n"
SLOT_VALUE = re.compile(r"[\x21-\x7e]*")  # printable, no spaces: one token per value


class IsoError(Exception):
    """A profile, an image or a slot is not what was expected; the message says what."""


# ---------------------------------------------------------------------------- profiles

@dataclass(frozen=True)
class Key:
    section: str
    name: str
    kind: type
    required: bool
    doc: str


# One table drives the profile parser and its documentation.
PROFILE_KEYS: tuple[Key, ...] = (
    Key("profile", "name", str, True, "the profile's name: the file name without .toml"),
    Key("profile", "description", str, True, "one line, shown nowhere but here"),
    Key("profile", "hostname", str, True, "host name of the live system"),
    Key("profile", "role", str, True, "mobile-host, mobile-router or home-agent"),
    Key("packages", "debian", list, True, "packages from the Debian mirror"),
    Key("packages", "homeguy", list, True, "packages from Homeguy's signed repository"),
    Key("services", "enable", list, False, "systemd units enabled in the image"),
    Key("services", "disable", list, False, "systemd units disabled in the image"),
    Key("defaults", "bootappend", str, True, "kernel command line of the live boot entry"),
    Key("defaults", "locale", str, False, "locale of the live system"),
    Key("defaults", "enroll_timeout", int, False, "seconds the enrollment keeps trying"),
)
ROLES = ("mobile-host", "mobile-router", "home-agent")
NAME = re.compile(r"[a-z0-9][a-z0-9.+-]*")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    hostname: str
    role: str
    debian_packages: tuple[str, ...]
    homeguy_packages: tuple[str, ...]
    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    bootappend: str = ""
    locale: str = "C.UTF-8"
    enroll_timeout: int = 90


def parse_profile(text: str, origin: str) -> Profile:
    """A profile's TOML -> Profile; IsoError names the file, the key and what is expected."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise IsoError(f"{origin}: not valid TOML: {error}") from None
    known = {(k.section, k.name) for k in PROFILE_KEYS}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise IsoError(f"{origin}: [{section}] must be a table")
        for name in table:
            if (section, name) not in known:
                raise IsoError(f"{origin}: unknown key {section}.{name}; the keys are "
                               + ", ".join(f"{k.section}.{k.name}" for k in PROFILE_KEYS))
    values: dict[str, Any] = {}
    for key in PROFILE_KEYS:
        table = data.get(key.section, {})
        if key.name not in table:
            if key.required:
                raise IsoError(f"{origin}: missing {key.section}.{key.name} ({key.doc})")
            continue
        value: Any = table[key.name]
        if not isinstance(value, key.kind) or isinstance(value, bool):
            raise IsoError(f"{origin}: {key.section}.{key.name} must be a "
                           f"{key.kind.__name__}, not {type(value).__name__}")
        if isinstance(value, list):
            bad = [v for v in value if not isinstance(v, str) or not NAME.fullmatch(v)]
            if bad:
                raise IsoError(f"{origin}: {key.section}.{key.name}: {bad} are not "
                               "package or unit names")
            value = tuple(value)
        values[key.name] = value
    if values["role"] not in ROLES:
        raise IsoError(f"{origin}: profile.role {values['role']!r} is not one of {ROLES}")
    return Profile(
        name=values["name"], description=values["description"],
        hostname=values["hostname"], role=values["role"],
        debian_packages=values["debian"], homeguy_packages=values["homeguy"],
        enable=values.get("enable", ()), disable=values.get("disable", ()),
        bootappend=values["bootappend"], locale=values.get("locale", "C.UTF-8"),
        enroll_timeout=values.get("enroll_timeout", 90),
    )


def profile_names() -> list[str]:
    return sorted(path.stem for path in PROFILES.glob("*.toml"))


def load_profile(name: str) -> Profile:
    path = PROFILES / f"{name}.toml"
    if not path.is_file():
        raise IsoError(f"no profile {name!r}: {path} does not exist; the profiles are "
                       + ", ".join(profile_names()))
    profile = parse_profile(path.read_text(), str(path.relative_to(TOP)))
    if profile.name != name:
        raise IsoError(f"{path}: profile.name is {profile.name!r}, expected {name!r}")
    return profile


# ---------------------------------------------------------------------- configuration

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
        "--archive-areas", "main",
        "--mirror-bootstrap", inputs.mirror,
        "--mirror-chroot", inputs.mirror,
        "--mirror-binary", inputs.mirror,
        *security,
        "--updates", "true",
        "--binary-images", "iso-hybrid",
        # isolinux for BIOS: with it live-build writes the isohybrid MBR (USB sticks);
        # GRUB for UEFI, from the EFI image that -isohybrid-gpt-basdat also partitions.
        "--bootloaders", "syslinux grub-efi",
        "--uefi-secure-boot", "disable",
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
    ("hooks/enroll/homeguy-enroll.service",
     "includes.chroot/etc/systemd/system/homeguy-enroll.service", 0o644),
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
    ("templates/bootloaders/isolinux/isolinux.cfg.j2", "bootloaders/isolinux/isolinux.cfg",
     0o644),
    ("templates/apt/apt.conf.j2", "apt/apt.conf", 0o644),
    ("hooks/chroot/9100-homeguy-services.hook.chroot.j2",
     "hooks/normal/9100-homeguy-services.hook.chroot", 0o755),
)


@dataclass(frozen=True)
class ConfigFile:
    content: bytes
    mode: int


def render_config(inputs: BuildInputs, sources: Mapping[str, bytes],
                  keyring: bytes) -> dict[str, ConfigFile]:
    """The files to lay over `lb config`'s output, by path under config/.

    `sources` maps each path of STATIC_FILES and TEMPLATES (relative to live/) to its
    bytes; `keyring` is the repository's public key (binary OpenPGP).
    """
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    keyring_url = urlsplit(inputs.keyring_url)
    if keyring_url.scheme != "http" or not keyring_url.hostname:
        raise IsoError(f"repo/repo.toml url {inputs.keyring_url!r}: expected http://HOST/PATH")
    context = {"profile": inputs.profile, "repo_url": inputs.repo_url,
               "distribution": inputs.distribution, "grub_timeout": GRUB_TIMEOUT,
               "keyring_url": inputs.keyring_url, "keyring_host": keyring_url.hostname}
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
BUILD_SCRIPTS = ("lb-config.sh", "lb-build.sh", "normalize-chroot.sh")


# --------------------------------------------------------------------- chroot layers
#
# live-build makes the live root file system (chroot/) in one `lb chroot` run. Homeguy
# runs it twice, as two layers, so that a rebuild where only Homeguy's packages changed
# starts from a cached copy of everything Debian:
#
#   1. the Debian layer: the bootstrap and the profile's Debian packages (with
#      live-build's own lists: the kernel, live-boot), from the mirror only, with the
#      DEBIAN_LAYER_FILES of the rendered configuration. live-build's stages after the
#      package installation (HOMEGUY_LAYER_STAGES) are marked done, so they do not run
#      yet. The chroot and live-build's stage files (.build/) are then kept in the cache,
#      outside the checkout, under chroot_key: what went into them.
#   2. the Homeguy layer, on that chroot (just made, or restored from the cache): the rest
#      of the configuration is laid over config/, the marks of HOMEGUY_LAYER_STAGES and
#      RERUN_STAGES are removed, and `lb chroot` runs again: live-build skips the stages
#      done in layer 1, updates the package indices and upgrades (updates the mirror
#      published since the layer was made land here), installs the package lists again
#      (apt finds the Debian packages installed and fetches Homeguy's from out/repo,
#      signature checked), then includes, hooks and its hacks (INITRAMFS_INPUTS).
#
# A cold build and a rebuild run the same layer-2 steps on the same layer-1 tree, so they
# give the same image.

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


def read_sources() -> dict[str, bytes]:
    return {source: (LIVE / source).read_bytes() for source, _, _ in (*STATIC_FILES,
                                                                       *TEMPLATES)}


# ------------------------------------------------------------------------------- slot

def slot_bytes(url: str | None, token: str | None, timeout: int | None = None,
               size: int = SLOT_SIZE) -> bytes:
    """The per-node slot: header, ``key=value`` lines, padded with newlines to `size`.

    The base image carries it with no url and token; a node's image with both. The same
    format is produced by the HAiku service (haiku/isoslot.py); a unit test keeps the two
    byte-identical.
    """
    lines = [SLOT_HEADER.decode(),
             "# Per-node enrollment settings, read at boot by live-config's homeguy-enroll.\n"]
    for key, value in (("url", url), ("token", token),
                       ("timeout", None if timeout is None else str(timeout))):
        if value is None:
            continue
        if not SLOT_VALUE.fullmatch(value):
            raise IsoError(f"slot {key} must be printable ASCII without spaces: {value!r}")
        lines.append(f"{key}={value}\n")
    body = "".join(lines).encode()
    if len(body) > size:
        raise IsoError(f"the node settings take {len(body)} bytes; the slot has {size}")
    return body + b"\n" * (size - len(body))


def parse_slot(data: bytes) -> dict[str, str]:
    if not data.startswith(SLOT_HEADER):
        raise IsoError("not a Homeguy node slot: its header is missing")
    values = {}
    for line in data.decode().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


@dataclass(frozen=True)
class SlotLocation:
    offset: int
    size: int


def parse_report_lba(output: str, path: str = SLOT_PATH) -> SlotLocation:
    """xorriso `-find PATH -exec report_lba` output -> where the file's bytes are."""
    for line in output.splitlines():
        if line.startswith("File data lba:") and line.rstrip().endswith(f"'/{path}'"):
            fields = [f.strip() for f in line.split(":", 1)[1].split(",")]
            extent, lba, _blocks, size = (int(f) for f in fields[:4])
            if extent != 0:
                raise IsoError(f"/{path} is stored in more than one extent")
            return SlotLocation(lba * 2048, size)
    raise IsoError(f"xorriso does not report /{path} in the image:\n{output}")


def personalized_ranges(size: int, slot: SlotLocation, start: int,
                        end: int) -> Iterator[tuple[str, int, int]]:
    """The byte range [start, end) of a node's image as pieces: ("base", offset, length)
    read from the base image, ("slot", offset in slot, length) from the slot bytes."""
    if not 0 <= start <= end <= size:
        raise IsoError(f"range {start}-{end} is outside the image's {size} bytes")
    slot_end = slot.offset + slot.size
    position = start
    for piece_start, piece_end, kind in ((0, slot.offset, "base"),
                                         (slot.offset, slot_end, "slot"),
                                         (slot_end, size, "base")):
        lo, hi = max(position, piece_start), min(end, piece_end)
        if lo < hi:
            yield (kind, lo - slot.offset if kind == "slot" else lo, hi - lo)
            position = hi


# ------------------------------------------------------------------------ cache key

def closure(packages_text: str, roots: tuple[str, ...]) -> dict[str, str]:
    """Name -> Packages stanza for the roots and what they depend on in this index."""
    stanzas = {p["Package"]: p for p in Packages.iter_paragraphs(packages_text, use_apt_pkg=False)}
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in stanzas:
            continue
        stanza = stanzas[name]
        seen[name] = f"{name} {stanza['Version']} {stanza.get('SHA256', '')}"
        relations: dict[str, list[list[dict[str, Any]]]] = stanza.relations
        for relation in relations["depends"] + relations["pre-depends"]:
            todo.extend(alt["name"] for alt in relation)
    return seen


def inputs_digest(inputs: BuildInputs, config: Mapping[str, ConfigFile],
                  homeguy_packages: Mapping[str, str],
                  scripts: Mapping[str, bytes] | None = None) -> str:
    """What the image is made of: lb options, rendered files, Homeguy package versions,
    the wrappers that run live-build."""
    digest = hashlib.sha256()
    options = lb_config_args(inputs)
    digest.update(json.dumps([options, inputs.source_date_epoch]).encode())
    for path, content in sorted((scripts or {}).items()):
        digest.update(path.encode() + b"\0" + content + b"\0")
    for path in sorted(config):
        digest.update(path.encode() + b"\0" + config[path].content
                      + f"\0{config[path].mode:o}\0".encode())
    for name in sorted(homeguy_packages):
        digest.update(homeguy_packages[name].encode() + b"\n")
    return digest.hexdigest()


def iso_name(profile: str, version: str) -> str:
    return f"homeguy-{profile}-{version}-{ARCH}.hybrid.iso"


# ---------------------------------------------------------------------------- shell

def security_mirror(distribution: str) -> str | None:
    if override := os.environ.get("HOMEGUY_SECURITY_MIRROR"):
        return override.rstrip("/")
    try:
        return mirror.pick_mirror(mirror.host_entries(), f"{distribution}-security")
    except mirror.MirrorError:
        return None


def repo_packages_text(repo: Path = REPO, distribution: str = DISTRIBUTION) -> str:
    index = repo / "dists" / distribution / "main"
    texts = [(index / f"binary-{arch}" / "Packages").read_text()
             for arch in (ARCH, "all") if (index / f"binary-{arch}" / "Packages").is_file()]
    if not texts:
        raise IsoError(f"{index}: no Packages index; run `make` first (it publishes out/repo)")
    return "\n".join(texts)


def git(*argv: str) -> str:
    return run(["git", *argv], cwd=TOP).stdout.strip()


def version(digest: str) -> str:
    dirty = bool(git("status", "--porcelain", "--", "profiles", "live", "homeguy/iso.py"))
    count, short = git("rev-list", "--count", "HEAD"), git("rev-parse", "--short=7", "HEAD")
    return f"0.1.0+{count}.g{short}{f'.m{digest[:6]}' if dirty else ''}"


def source_date_epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH") or git("log", "-1", "--format=%ct"))


def plan(profile_name: str, epoch: int | None = None,
         repo: Path = REPO) -> tuple[BuildInputs, dict[str, ConfigFile], str]:
    """The inputs, the rendered configuration and its digest, for one profile."""
    keyring = repo / KEYRING.name
    if not keyring.is_file():
        raise IsoError(f"{keyring} is missing; run `make` first (it publishes out/repo)")
    profile = load_profile(profile_name)
    inputs = BuildInputs(profile, mirror.debian_mirror(DISTRIBUTION),
                         security_mirror(DISTRIBUTION), f"http://127.0.0.1:{REPO_PORT}/",
                         source_date_epoch() if epoch is None else epoch,
                         keyring_url=load_config().url)
    config = render_config(inputs, read_sources(), keyring.read_bytes())
    packages = closure(repo_packages_text(repo), profile.homeguy_packages)
    missing = [name for name in profile.homeguy_packages if name not in packages]
    if missing:
        raise IsoError(f"profiles/{profile_name}.toml asks for {missing}, which out/repo "
                       "does not have; run `make` to build and publish them")
    scripts = {name: (LIVE / name).read_bytes() for name in BUILD_SCRIPTS}
    return inputs, config, inputs_digest(inputs, config, packages, scripts)


def repo_path(request_target: str, prefix: str) -> str:
    """The path in out/repo for a request: origin-form (`/dists/...`), or absolute-form
    (`http://localhost/homeguy/dists/...`, apt using the server as the proxy for the
    keyring package's source) with that source's path prefix removed."""
    if "://" not in request_target:
        return request_target
    path = urlsplit(request_target).path
    prefix = "/" + prefix.strip("/")
    if prefix != "/" and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix):] or "/"
    return path


class _RepoHandler(SimpleHTTPRequestHandler):
    prefix = "/"

    def translate_path(self, path: str) -> str:
        return super().translate_path(repo_path(path, self.prefix))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_repo(repo: Path, port: int, keyring_url: str = "http://localhost/") -> Iterator[str]:
    """out/repo over HTTP on 127.0.0.1:port while the build runs (apt checks signatures);
    also as the proxy for the keyring package's own source URL."""
    handler = type("Handler", (_RepoHandler,), {"prefix": urlsplit(keyring_url).path})
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port),
                                     partial(handler, directory=str(repo)))
    except OSError as error:
        raise IsoError(f"cannot serve {repo} on 127.0.0.1:{port} ({error}); set "
                       "HOMEGUY_LIVE_REPO_PORT to a free port") from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def write_tree(root: Path, files: Mapping[str, ConfigFile], clean: bool = True) -> None:
    """Write files under root; with `clean`, what root had before is removed first."""
    if clean and root.exists():
        shutil.rmtree(root)
    for path, item in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.content)
        target.chmod(item.mode)


def locate_slot(iso: Path) -> SlotLocation:
    output = run(["xorriso", "-indev", str(iso), "-find", f"/{SLOT_PATH}", "-exec",
                  "report_lba", "--"]).stdout
    location = parse_report_lba(output)
    with iso.open("rb") as stream:
        stream.seek(location.offset)
        if not stream.read(len(SLOT_HEADER)) == SLOT_HEADER:
            raise IsoError(f"{iso}: no slot header at offset {location.offset}")
    return location


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def find_cached(digest: str, out_dir: Path = OUT_ISO) -> Path | None:
    """An image in out_dir built from exactly these inputs, if any."""
    for meta in sorted(out_dir.glob("*.iso.json")):
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        iso = meta.with_suffix("")
        if data.get("inputs") == digest and iso.is_file() \
                and iso.stat().st_size == data.get("size"):
            return iso
    return None


def build(profile_name: str, *, out_dir: Path = OUT_ISO, epoch: int | None = None,
          force: bool = False, workdir: Path | None = None, repo: Path = REPO,
          say: Callable[[str], None] = print) -> Path:
    """Build (or reuse, when its inputs are unchanged) one profile's hybrid ISO, with the
    Homeguy packages of `repo` (out/repo unless told)."""
    inputs, config, digest = plan(profile_name, epoch, repo)
    if not force and (cached := find_cached(digest, out_dir)):
        say(f"      {cached.name}: inputs unchanged ({digest[:12]}), not rebuilt")
        return cached
    work = workdir or CACHE / "build" / profile_name
    work.mkdir(parents=True, exist_ok=True)
    # One live-build at a time on this machine: the profiles share the cache, and two
    # builds on two cores would each take more than twice as long.
    with exclusive(CACHE / "build.lock", say):
        if not force and (cached := find_cached(digest, out_dir)):  # built while we waited
            return cached
        return _build(inputs, config, digest, work, out_dir, repo)


@contextmanager
def exclusive(path: Path, say: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on path (a second `make` waits for the first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"      waiting for the build holding {path}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(inputs: BuildInputs, config: Mapping[str, ConfigFile], digest: str, work: Path,
           out_dir: Path, repo: Path) -> Path:
    profile_name = inputs.profile.name
    # One cache per mirror and distribution: the bootstrap and the .debs, shared by profiles.
    cache_key = hashlib.sha256(f"{inputs.mirror} {inputs.security_mirror} "
                               f"{inputs.distribution} {ARCH}".encode()).hexdigest()[:12]
    cache = CACHE / f"cache-{inputs.distribution}-{cache_key}"
    cache.mkdir(parents=True, exist_ok=True)
    debian_files, homeguy_files = split_layers(config)
    rendered = work.parent / f"{work.name}.config"
    write_tree(rendered, debian_files)
    homeguy_config = work.parent / f"{work.name}.homeguy-config"
    write_tree(homeguy_config, homeguy_files)
    # The Debian layer of the chroot, one per profile (the newest), next to the bootstrap.
    layer = cache / "chroot" / profile_name
    key = chroot_key(inputs, debian_files, tool_versions(LAYER_TOOLS),
                     {name: (LIVE / name).read_bytes() for name in LAYER_SCRIPTS})
    env = {"SOURCE_DATE_EPOCH": str(inputs.source_date_epoch), "LC_ALL": "C.UTF-8"}
    log = work.parent / f"{work.name}.log"
    with serve_repo(repo, REPO_PORT, inputs.keyring_url):
        run(["sh", LIVE / "lb-config.sh", work, rendered, cache, "--",
             *lb_config_args(inputs)], env=env, capture=False, timeout=600)
        run(["sh", LIVE / "lb-build.sh", work, log, homeguy_config, layer],
            env={**env, **layer_env(key, homeguy_files)}, capture=False,
            timeout=BUILD_TIMEOUT)
    built = work / f"homeguy-{profile_name}-{ARCH}.hybrid.iso"
    if not built.is_file():
        raise IsoError(f"lb build finished without {built}; see {log}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / iso_name(profile_name, version(digest))
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.move(built, tmp)
    slot = locate_slot(tmp)
    meta = {"profile": profile_name, "inputs": digest, "size": tmp.stat().st_size,
            "sha256": sha256_file(tmp), "source_date_epoch": inputs.source_date_epoch,
            "slot": {"path": f"/{SLOT_PATH}", "offset": slot.offset, "size": slot.size}}
    os.replace(tmp, target)
    write_atomic(target.with_name(target.name + ".json"),
                 (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    write_atomic(target.with_name(target.name + ".sha256"),
                 f"{meta['sha256']}  {target.name}\n".encode())
    return target


# Host tools whose versions make the Debian layer, and the wrappers that run it.
LAYER_TOOLS = ("live-build", "debootstrap")
LAYER_SCRIPTS = ("lb-config.sh", "lb-build.sh")


def tool_versions(names: tuple[str, ...]) -> dict[str, str]:
    output = run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *names]).stdout
    return dict(line.split(" ", 1) for line in output.splitlines() if line)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def image_meta(iso: Path) -> dict[str, Any]:
    meta = iso.with_name(iso.name + ".json")
    if not meta.is_file():
        raise IsoError(f"{meta} is missing: personalize only images `homeguy iso build` made")
    data: dict[str, Any] = json.loads(meta.read_text())
    return data


def personalize(base: Path, out: Path | None, url: str, token: str,
                timeout: int | None = None, checksum: bool = True) -> tuple[Path, str]:
    """A node's image: the base image with only its slot replaced. With `out`, a copy is
    made first (copy_file_range, in the kernel); without, `base` is changed in place.
    Returns the image and its SHA-256 (also written next to it as .sha256)."""
    meta = image_meta(base)
    slot = SlotLocation(meta["slot"]["offset"], meta["slot"]["size"])
    data = slot_bytes(url, token, timeout, size=slot.size)
    target = base if out is None else out.with_name(f".{out.name}.tmp")
    try:
        if out is not None:
            with base.open("rb") as src, target.open("wb") as dst:
                left = os.fstat(src.fileno()).st_size
                while left > 0:
                    left -= os.copy_file_range(src.fileno(), dst.fileno(), left)
        with target.open("r+b") as stream:
            stream.seek(slot.offset)
            if stream.read(len(SLOT_HEADER)) != SLOT_HEADER:
                raise IsoError(f"{base}: no Homeguy slot at offset {slot.offset}")
            stream.seek(slot.offset)
            stream.write(data)
        if out is not None:
            os.replace(target, out)
            target = out
    finally:
        if out is not None and target != out:
            target.unlink(missing_ok=True)
    if not checksum:
        return target, ""
    digest = sha256_file(target)
    write_atomic(target.with_name(target.name + ".sha256"),
                 f"{digest}  {target.name}\n".encode())
    return target, digest
