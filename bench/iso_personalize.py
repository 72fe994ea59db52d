"""Per-user images from one base ISO: a node's image and its published SHA-256 with
`homeguy iso personalize`, against xorriso's modify-and-replay of the same base (the way to
add a file to an existing ISO), and images per second from the service's streaming endpoint.

Needs a built base image (`make iso PROFILE=mobile-host`). Prints one JSON document, medians
of ROUNDS, all measured in this one run:

- `personalize_in_place_s`: the node's image made from a copy of the base in place (the
  8 KiB slot written) and its SHA-256 computed and written to .sha256: the base's saved
  hash state before the slot (its .json), then the slot and what follows it;
- `personalize_new_file_s`: the same into a new file: the kernel-side copy of the whole
  image (copy_file_range; a reflink only where the file system can, which this one,
  `new_file_fs`, may not), the slot, the checksum;
- `personalize_cli_in_place_s`: `python -m homeguy iso personalize --in-place` as a new
  process, interpreter start included (the state comes from the .json, not memory);
- `xorriso_replay_s`: `xorriso -indev BASE -outdev NEW -boot_image any replay -map
  node.conf /homeguy/node.conf -commit`, which writes the image but computes no checksum;
- `*_times_faster_than_xorriso`: xorriso's time over ours (above 1: ours is faster);
- `prefix_state_once_s`: hashing the bytes before the slot, done once per base image (by the
  build, or by the first personalize of an image built before the .json kept the state);
- `after_slot_bytes`: what follows the slot, hashed for each image;
- `checksums_verified`: each kind of image's published checksum equals hashlib's over the
  whole file (checked once, outside the timings).

    .venv/bin/python bench/iso_personalize.py
"""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TOP), str(TOP / "packages" / "homeguy-slot")]

import requests  # noqa: E402
from homeguy_slot import SLOT_PATH, slot_bytes  # noqa: E402

from homeguy.files import sha256_file  # noqa: E402
from homeguy.iso.build import OUT_ISO  # noqa: E402
from homeguy.iso.meta import PREFIX_KEY, image_meta, prefix_hash, write_meta  # noqa: E402
from homeguy.iso.personalize import personalize  # noqa: E402
from homeguy.run import run  # noqa: E402

ROUNDS = 5
URL = "https://ha.example.org"


def base_image() -> Path:
    images = sorted(OUT_ISO.glob("homeguy-mobile-host-*.hybrid.iso"),
                    key=lambda p: p.stat().st_mtime)
    if not images:
        sys.exit("no base image in out/iso: run `make iso PROFILE=mobile-host` first")
    return images[-1]


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def file_system(path: Path) -> str:
    return run(["stat", "-f", "-c", "%T", path]).stdout.strip()


def main() -> None:
    base = base_image()
    size = base.stat().st_size
    meta = image_meta(base)
    after_slot = size - meta["slot"]["offset"] - meta["slot"]["size"]
    work = Path(tempfile.mkdtemp(prefix="homeguy-bench-iso-", dir="/var/tmp"))
    try:
        inplace = work / "inplace.iso"
        shutil.copy(base, inplace)
        write_meta(inplace, {k: v for k, v in meta.items() if k != PREFIX_KEY})
        once = timed(lambda: prefix_hash(inplace, image_meta(inplace)))  # kept in its .json
        verified = check_checksums(base, inplace, work)
        ours_copy, ours_inplace, ours_cli, theirs = [], [], [], []
        for n in range(ROUNDS):
            token = f"hgn_bench{n:04d}"
            out = work / f"ours-{n}.iso"
            ours_copy.append(timed(lambda out=out, token=token:
                                   personalize(base, out, URL, token, 90)))
            out.unlink()
            ours_inplace.append(timed(lambda token=token:
                                      personalize(inplace, None, URL, token, 90)))
            ours_cli.append(timed(lambda token=token: subprocess.run(
                [sys.executable, "-m", "homeguy", "iso", "personalize", str(inplace),
                 "--url", URL, "--token", token + "c", "--timeout", "90", "--in-place"],
                cwd=TOP, check=True, capture_output=True)))
            slot = work / "node.conf"
            slot.write_bytes(slot_bytes(URL, token, 90))
            new = work / f"xorriso-{n}.iso"
            theirs.append(timed(lambda new=new, slot=slot: run(
                ["xorriso", "-indev", base, "-outdev", new, "-boot_image", "any", "replay",
                 "-map", slot, f"/{SLOT_PATH}", "-commit"])))
            xorriso_bytes = new.stat().st_size
            new.unlink()
        fs = file_system(work)
        endpoint = stream_rate(base, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    copy_s, inplace_s, cli_s, theirs_s = (
        statistics.median(x) for x in (ours_copy, ours_inplace, ours_cli, theirs))
    print(json.dumps({
        "base_image_bytes": size,
        "after_slot_bytes": after_slot,
        "rounds": ROUNDS,
        "prefix_state_once_s": round(once, 3),
        "checksums_verified": verified,
        "personalize_in_place_s": round(inplace_s, 5),
        "personalize_cli_in_place_s": round(cli_s, 4),
        "personalize_new_file_s": round(copy_s, 4),
        "new_file_fs": fs,
        "xorriso_replay_s": round(theirs_s, 3),
        "xorriso_replay_bytes_written": xorriso_bytes,
        "in_place_times_faster_than_xorriso": round(theirs_s / inplace_s, 1),
        "cli_in_place_times_faster_than_xorriso": round(theirs_s / cli_s, 1),
        "new_file_times_faster_than_xorriso": round(theirs_s / copy_s, 1),
        **endpoint,
    }, indent=2))


def check_checksums(base: Path, inplace: Path, work: Path) -> bool:
    """The published checksums equal hashlib's over the files personalize produced."""
    out = work / "checked.iso"
    _, new_file = personalize(base, out, URL, "hgn_checked", 90)
    _, in_place = personalize(inplace, None, URL, "hgn_checked_in_place", 90)
    ok = new_file == sha256_file(out) and in_place == sha256_file(inplace)
    out.unlink()
    return ok


def stream_rate(base: Path, work: Path, images: int = 4) -> dict[str, float]:
    """Whole per-user images downloaded from the service, one node each."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = work / "haiku"
    state.mkdir()
    service = subprocess.Popen(
        [str(TOP / ".venv/bin/python"), str(TOP / "tests/e2e/iso_haiku.py"), str(state),
         str(port), URL, str(base)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    try:
        assert service.stdout is not None
        info = json.loads(service.stdout.readline())
        time.sleep(1)
        session = requests.Session()
        login = session.get(f"http://127.0.0.1:{port}/accounts/login/")
        session.post(f"http://127.0.0.1:{port}/accounts/login/",
                     data={"username": info["user"], "password": info["password"],
                           "csrfmiddlewaretoken": login.cookies.get("csrftoken", "")},
                     headers={"Referer": f"http://127.0.0.1:{port}/accounts/login/"})
        url = f"http://127.0.0.1:{port}/api/v1/nodes/{info['iso_node_id']}/iso"
        first = time.perf_counter()
        received = 0
        for _ in range(images):
            with session.get(url, stream=True) as response:
                response.raise_for_status()
                for block in response.iter_content(1 << 20):
                    received += len(block)
        seconds = time.perf_counter() - first
    finally:
        service.terminate()
        service.wait(10)
    return {"endpoint_images": images, "endpoint_seconds": round(seconds, 2),
            "endpoint_images_per_s": round(images / seconds, 3),
            "endpoint_mb_per_s": round(received / seconds / 1e6, 1)}


if __name__ == "__main__":
    main()
