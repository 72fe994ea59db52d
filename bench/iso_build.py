"""Building the mobile-host live ISO: Homeguy's build against a plain live-build run of the
same package set, cold (empty caches) and warm.

Three builds, one at a time (the machine has two cores): a plain `lb config` (live-build's
defaults, the same mirror, the same package lists and Homeguy archive) + `lb build` with an
empty cache; `homeguy iso build` with an empty cache; then `homeguy iso build` again with
its cache warm, which is the work of a rebuild where only Homeguy's packages changed (the
bootstrap and every Debian package come from the cache; the chroot is set up again from
the cached bootstrap, and the changed packages are fetched from out/repo). Prints one JSON
document: seconds and image bytes per build, and the ratios ours / plain.

    .venv/bin/python bench/iso_build.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

from homeguy import iso  # noqa: E402
from homeguy.run import run  # noqa: E402


def plain_build(work: Path) -> tuple[float, int]:
    inputs, config, _ = iso.plan("mobile-host")
    work.mkdir(parents=True)
    keep = ("archives/", "package-lists/")
    rendered = work.parent / "plain.config"
    iso.write_tree(rendered, {k: v for k, v in config.items() if k.startswith(keep)})
    m = inputs.mirror
    args = ["--distribution", inputs.distribution, "--archive-areas", "main",
            "--mirror-bootstrap", m, "--mirror-chroot", m, "--mirror-binary", m,
            "--binary-images", "iso-hybrid", "--debian-installer", "none"]
    if inputs.security_mirror:
        args += ["--mirror-chroot-security", inputs.security_mirror,
                 "--mirror-binary-security", inputs.security_mirror]
    env = {"SOURCE_DATE_EPOCH": str(inputs.source_date_epoch)}
    cache = work.parent / "plain-cache"
    cache.mkdir()
    start = time.perf_counter()
    with iso.serve_repo(iso.REPO, iso.REPO_PORT, inputs.keyring_url):
        run(["sh", iso.LIVE / "lb-config.sh", work, rendered, cache, "--", *args], env=env,
            capture=False)
        run(["sh", iso.LIVE / "lb-build.sh", work, work.parent / "plain.log"], env=env,
            capture=False)
    seconds = time.perf_counter() - start
    image = next(work.glob("*.iso"))
    size = image.stat().st_size
    run(["sh", "-c", 'cd "$1" && lb clean --all >/dev/null', "sh", work])
    return seconds, size


def ours(out: Path) -> tuple[float, int]:
    start = time.perf_counter()
    image = iso.build("mobile-host", out_dir=out, force=True,
                      workdir=iso.CACHE / "build" / "mobile-host")
    return time.perf_counter() - start, image.stat().st_size


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="homeguy-bench-live-", dir="/var/cache/homeguy"))
    try:
        with iso.exclusive(iso.CACHE / "build.lock", print):  # no other build meanwhile
            plain_s, plain_bytes = plain_build(scratch / "plain")
        iso.CACHE = scratch / "ours"  # an empty cache: a cold build
        cold_s, cold_bytes = ours(scratch / "out")
        warm_s, warm_bytes = ours(scratch / "out")
    finally:
        run(["sh", "-c", 'cd "$1" 2>/dev/null && lb clean --all >/dev/null || true', "sh",
             scratch / "ours" / "build" / "mobile-host"])
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({
        "plain_live_build_cold_s": round(plain_s, 1),
        "plain_live_build_bytes": plain_bytes,
        "homeguy_cold_s": round(cold_s, 1),
        "homeguy_bytes": cold_bytes,
        "homeguy_rebuild_homeguy_packages_changed_s": round(warm_s, 1),
        "ratio_cold_ours_over_plain": round(cold_s / plain_s, 3),
        "ratio_rebuild_over_cold": round(warm_s / cold_s, 3),
        "rebuild_same_bytes_as_cold": warm_bytes == cold_bytes,
    }, indent=2))


if __name__ == "__main__":
    main()
