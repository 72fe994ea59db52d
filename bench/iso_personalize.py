"""Per-user images from one base ISO: Homeguy's slot write against xorriso's
modify-and-replay (the way to add a file to an existing ISO), and images per second from
the service's streaming endpoint.

Needs a built base image (`make iso PROFILE=mobile-host`). Prints one JSON document:
seconds and bytes written per image for `homeguy iso personalize` (a new file: kernel-side
copy plus the slot; in place: the slot only) and for
`xorriso -indev BASE -outdev NEW -boot_image any replay -map node.conf /homeguy/node.conf`,
their ratios (below 1: ours is faster or writes less), and the endpoint's images per second
(whole images of one node over HTTP on the loopback; the image's checksum is computed on
the first request and kept). Each personalize figure includes the SHA-256 of the whole
image it publishes, except the one named "without_checksum".

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
from homeguy_slot import SLOT_PATH, SLOT_SIZE, slot_bytes  # noqa: E402

from homeguy.iso.build import OUT_ISO  # noqa: E402
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


def main() -> None:
    base = base_image()
    size = base.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="homeguy-bench-iso-", dir="/var/tmp"))
    try:
        ours_copy, ours_inplace, ours_write, theirs = [], [], [], []
        inplace = work / "inplace.iso"
        shutil.copy(base, inplace)
        shutil.copy(base.with_name(base.name + ".json"), inplace.with_name("inplace.iso.json"))
        for n in range(ROUNDS):
            token = f"hgn_bench{n:04d}"
            out = work / f"ours-{n}.iso"
            ours_copy.append(timed(lambda out=out, token=token:
                                   personalize(base, out, URL, token, 90)))
            out.unlink()
            ours_inplace.append(timed(lambda token=token:
                                      personalize(inplace, None, URL, token, 90)))
            ours_write.append(timed(lambda token=token: personalize(
                inplace, None, URL, token + "w", 90, checksum=False)))
            slot = work / "node.conf"
            slot.write_bytes(slot_bytes(URL, token, 90))
            new = work / f"xorriso-{n}.iso"
            theirs.append(timed(lambda new=new, slot=slot: run(
                ["xorriso", "-indev", base, "-outdev", new, "-boot_image", "any", "replay",
                 "-map", slot, f"/{SLOT_PATH}", "-commit"])))
            xorriso_bytes = new.stat().st_size
            new.unlink()
        endpoint = stream_rate(base, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours_s, inplace_s, write_s, theirs_s = (
        statistics.median(x) for x in (ours_copy, ours_inplace, ours_write, theirs))
    print(json.dumps({
        "base_image_bytes": size,
        "rounds": ROUNDS,
        "personalize_new_file_s": round(ours_s, 3),
        "personalize_new_file_bytes_written": size,
        "personalize_in_place_s": round(inplace_s, 4),
        "personalize_in_place_bytes_written": SLOT_SIZE,
        "personalize_in_place_without_checksum_s": round(write_s, 5),
        "ratio_in_place_without_checksum_time_ours_over_xorriso": round(write_s / theirs_s, 6),
        "xorriso_replay_s": round(theirs_s, 3),
        "xorriso_replay_bytes_written": xorriso_bytes,
        "ratio_new_file_time_ours_over_xorriso": round(ours_s / theirs_s, 3),
        "ratio_in_place_time_ours_over_xorriso": round(inplace_s / theirs_s, 5),
        "ratio_in_place_bytes_ours_over_xorriso": round(SLOT_SIZE / xorriso_bytes, 7),
        **endpoint,
    }, indent=2))


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
