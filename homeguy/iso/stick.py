"""``homeguy iso stick``: a Homeguy image written to a USB stick (or a disk image file),
with a persistence partition after it when asked.

    python -m homeguy iso stick IMAGE TARGET [--persistence SIZE]

The image is written from the target's first byte: a hybrid image boots from a stick as
it is. With ``--persistence``, a partition after it (the MBR's next entry, from the next
MiB, type 83) holds an ext4 file system labelled ``persistence`` whose persistence.conf
names the directories the node's enrollment keeps (live-boot's persistence, which the
boot menus' "live with persistence" entry turns on): the node then starts from its kept
configuration at the next boot, without asking the service. Without it nothing but the
image is written, and the live system writes nothing to the stick.

:func:`layout` is the plan (pure); :func:`write_stick` does it, with progress.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from homeguy.iso import IsoError
from homeguy.run import run as run_command

__all__ = ["PERSISTENCE_CONF", "Layout", "add_arguments", "layout", "parse_size", "write_stick"]

HELP = "write an image to a USB stick or a disk image file, with persistence if asked"
MIB = 1 << 20
SECTOR = 512
LABEL = "persistence"  # what live-boot looks for (persistence-label's default)
# The enrollment's directories (live/hooks/enroll/homeguy_enroll.py): its settings and the
# service's kept answer in /etc/homeguy, wholly on the stick (the image has none: a union
# needs the image's directory under it), and the keys a node made itself in /etc/swanctl,
# over the image's; and the Wi-Fi networks homeguy-wifi joined, over the image's
# /etc/wpa_supplicant (its generator joins them again at boot).
PERSISTENCE_CONF = "/etc/homeguy\n/etc/swanctl union\n/etc/wpa_supplicant union\n"
CHUNK = 4 * MIB


@dataclass(frozen=True)
class Layout:
    """Where the image ends and the persistence partition lies, in bytes."""

    image_size: int
    start: int  # the partition's first byte: the image's end, rounded up to a MiB
    size: int  # 0: no persistence

    @property
    def end(self) -> int:
        return self.start + self.size if self.size else self.image_size


def parse_size(text: str) -> int:
    """``256MiB``, ``1GiB`` or ``300`` (MiB) in bytes; IsoError saying how to write it."""
    found = re.fullmatch(r"(\d+)\s*(MiB|GiB|M|G)?", text.strip())
    if not found or int(found.group(1)) == 0:
        raise IsoError(f"persistence size {text!r}: give it as e.g. 256MiB or 1GiB")
    return int(found.group(1)) * (1024 * MIB if (found.group(2) or "M")[0] == "G" else MIB)


def layout(image_size: int, persistence: int, target_size: int | None) -> Layout:
    """The stick's plan; ``target_size`` None for a file (it grows). IsoError when it
    does not fit, saying by how much."""
    start = -(-image_size // MIB) * MIB if persistence else image_size
    plan = Layout(image_size, start, persistence)
    if target_size is not None and plan.end > target_size:
        raise IsoError(f"the target holds {target_size // MIB} MiB; the image"
                       f"{' and its persistence' if persistence else ''} need "
                       f"{-(-plan.end // MIB)} MiB")
    return plan


def _target_size(target: Path) -> int | None:
    """A block device's size; None for a file (or one to make)."""
    if not target.exists() or not stat.S_ISBLK(target.stat().st_mode):
        return None
    with target.open("rb") as device:
        return device.seek(0, 2)


def _mounted(target: Path) -> list[str]:
    device = str(target.resolve())
    mounts = Path("/proc/mounts").read_text().splitlines()
    return [line.split()[1] for line in mounts if line.split()[0].startswith(device)]


def _copy(source: Path, target: Path, offset: int, what: str) -> None:
    """``source`` into ``target`` from byte ``offset``, synced, saying how far it got."""
    total, done, shown = source.stat().st_size, 0, -1
    with source.open("rb") as reading, target.open("r+b") as writing:
        writing.seek(offset)
        while block := reading.read(CHUNK):
            writing.write(block)
            done += len(block)
            tenth = done * 10 // max(total, 1)
            if tenth != shown:
                print(f"homeguy: {what}: {done // MIB}/{-(-total // MIB)} MiB", flush=True)
                shown = tenth
        writing.flush()
        os.fsync(writing.fileno())


def write_stick(image: Path, target: Path, persistence: int = 0) -> Layout:
    """Write ``image`` to ``target`` (a block device or a file, made if missing) and,
    with ``persistence`` bytes, the persistence partition after it."""
    if not image.is_file():
        raise IsoError(f"{image}: no such image (make one with `homeguy iso build`)")
    if mounted := _mounted(target):
        raise IsoError(f"{target} is mounted on {', '.join(mounted)}: unmount it first")
    device_size = _target_size(target)
    plan = layout(image.stat().st_size, persistence, device_size)
    if device_size is None:
        with target.open("wb") as made:
            made.truncate(plan.end)
    _copy(image, target, 0, f"writing {image.name} to {target}")
    if not persistence:
        return plan
    with tempfile.TemporaryDirectory(prefix="homeguy-stick-") as temp:
        root, filesystem = Path(temp, "root"), Path(temp, "persistence.ext4")
        root.mkdir()
        (root / "persistence.conf").write_text(PERSISTENCE_CONF)
        run_command(["mkfs.ext4", "-q", "-F", "-L", LABEL, "-d", root, filesystem,
                     f"{persistence // 1024}k"])
        _copy(filesystem, target, plan.start, "writing the persistence partition")
    run_command(["sfdisk", "--append", "--no-reread", target],
                input=f"start={plan.start // SECTOR}, size={persistence // SECTOR}, type=83\n")
    print(f"homeguy: {target}: the image, then {persistence // MIB} MiB of persistence "
          f"(partition labelled {LABEL}); boot its menu's \"live with persistence\" entry",
          flush=True)
    return plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`homeguy iso stick`'s arguments."""
    parser.add_argument("image", type=Path, help="an image from `homeguy iso build` or the "
                                                 "service (a node's own image)")
    parser.add_argument("target", type=Path,
                        help="the USB stick's device (e.g. /dev/sdb: erased) or a file")
    parser.add_argument("--persistence", metavar="SIZE", type=_size, default=0,
                        help="add a persistence partition of SIZE (e.g. 256MiB) after the "
                             "image, for the node's settings and keys")
    parser.set_defaults(func=run)


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except IsoError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> None:
    write_stick(args.image, args.target, args.persistence)
