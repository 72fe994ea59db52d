"""`homeguy iso stick`: the layout (pure) and a stick written to a file with the real
mkfs.ext4 and sfdisk, read back with sfdisk and blkid."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from homeguy.iso import IsoError
from homeguy.iso.stick import MIB, PERSISTENCE_CONF, Layout, layout, parse_size, write_stick

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "size"), [
    ("256MiB", 256 * MIB), ("1GiB", 1024 * MIB), ("300", 300 * MIB), ("2G", 2048 * MIB),
    (" 64 MiB ", 64 * MIB)])
def test_sizes_as_people_write_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "0MiB", "1.5GiB", "64kB", "-1", "big"])
def test_a_size_that_is_not_one_says_how_to_write_it(text: str) -> None:
    with pytest.raises(IsoError, match=r"give it as e\.g\. 256MiB or 1GiB"):
        parse_size(text)


def test_the_persistence_partition_starts_at_the_next_mib() -> None:
    assert layout(310 * MIB, 64 * MIB, None) == Layout(310 * MIB, 310 * MIB, 64 * MIB)
    assert layout(310 * MIB + 1, 64 * MIB, None).start == 311 * MIB
    assert layout(310 * MIB + 1, 0, None) == Layout(310 * MIB + 1, 310 * MIB + 1, 0)
    assert layout(310 * MIB + 1, 0, None).end == 310 * MIB + 1


def test_a_stick_too_small_says_by_how_much() -> None:
    assert layout(310 * MIB, 64 * MIB, 374 * MIB).end == 374 * MIB
    with pytest.raises(IsoError, match="the target holds 373 MiB; the image and its "
                                       "persistence need 374 MiB"):
        layout(310 * MIB, 64 * MIB, 373 * MIB)
    with pytest.raises(IsoError, match="the target holds 300 MiB; the image need 310 MiB"):
        layout(310 * MIB, 0, 300 * MIB)


def sfdisk_json(path: Path) -> list[dict[str, object]]:
    answer = subprocess.run(["sfdisk", "--json", str(path)], capture_output=True, text=True,
                            check=True)
    return json.loads(answer.stdout)["partitiontable"]["partitions"]  # type: ignore[no-any-return]


def test_a_stick_in_a_file_has_the_image_then_its_persistence(tmp_path: Path) -> None:
    """An image with an MBR as xorriso's hybrid images have one (its partition from 64),
    5 MiB and a bit: the stick is the same bytes, then from 6 MiB an ext4 partition
    labelled persistence with persistence.conf."""
    image = tmp_path / "image.iso"
    with image.open("wb") as made:
        made.truncate(5 * MIB + 4096)
    subprocess.run(["sfdisk", "--no-reread", str(image)], input="start=64, type=0, bootable\n",
                   capture_output=True, text=True, check=True)
    stick = tmp_path / "stick.img"
    plan = write_stick(image, stick, 8 * MIB)
    assert plan == Layout(5 * MIB + 4096, 6 * MIB, 8 * MIB)
    assert stick.stat().st_size == 14 * MIB
    written, original = stick.read_bytes(), image.read_bytes()
    # The same bytes but for the MBR's partition table, which has one more entry.
    assert written[:446] == original[:446]
    assert written[510:len(original)] == original[510:]
    partitions = sfdisk_json(stick)
    assert [(p["start"], p["size"], p["type"]) for p in partitions][1:] == [
        (6 * MIB // 512, 8 * MIB // 512, "83")]
    label = subprocess.run(["blkid", "-p", "-o", "value", "-s", "LABEL", "--offset",
                            str(6 * MIB), str(stick)], capture_output=True, text=True,
                           check=True)
    assert label.stdout.strip() == "persistence"
    conf = subprocess.run(["debugfs", "-R", "cat /persistence.conf", f"{stick}?offset="
                           f"{6 * MIB}"], capture_output=True, text=True, check=True)
    assert conf.stdout == PERSISTENCE_CONF


def test_without_persistence_only_the_image_is_written(tmp_path: Path) -> None:
    image = tmp_path / "image.iso"
    image.write_bytes(b"\x01" * 3 * MIB)
    stick = tmp_path / "stick.img"
    write_stick(image, stick)
    assert stick.read_bytes() == image.read_bytes()


def test_a_missing_image_is_named(tmp_path: Path) -> None:
    with pytest.raises(IsoError, match="no such image"):
        write_stick(tmp_path / "none.iso", tmp_path / "stick.img")
