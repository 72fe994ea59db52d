"""Building the mobile-host live ISO: Homeguy's cold build against a plain live-build run of
the same package set, and Homeguy's rebuild when only Homeguy's packages changed.

Three builds, one at a time (the machine has two cores), each from empty caches but the
last:
- plain: `lb config` (live-build's defaults, the same mirror, the same package lists and
  Homeguy archive) and `lb build`, as a person would run them;
- cold: `homeguy iso build` with an empty cache (bootstrap, .debs, the Debian layer of
  the chroot all made);
- rebuild: one Homeguy package (homeguy-mobile-host) published again with a new version,
  then `homeguy iso build` with the cache the cold build left: the Debian layer is
  restored, the new package installed from the signed repository.
Prints one JSON document: wall seconds, CPU seconds (of the build's processes: steadier
than wall time when other work shares the machine) and image bytes per build, the ratios,
and whether the rebuilt image has the new version.

    .venv/bin/python bench/iso_build.py
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

from homeguy.iso import build as image_build  # noqa: E402
from homeguy.iso.serve import serve_repo  # noqa: E402
from homeguy.run import run  # noqa: E402
from testkit.images import installed_packages, repo_with_new_version  # noqa: E402

PROFILE = "mobile-host"


class Clock:
    """Wall and CPU time (user + system, of finished child processes) of one build."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime


def plain_build(work: Path) -> tuple[Clock, int]:
    """`lb config` + `lb build` with live-build's defaults and this profile's packages."""
    inputs, config, _ = image_build.plan(PROFILE)
    work.mkdir(parents=True)
    m = inputs.mirror
    args = ["--distribution", inputs.distribution, "--archive-areas", "main",
            "--mirror-bootstrap", m, "--mirror-chroot", m, "--mirror-binary", m,
            "--binary-images", "iso-hybrid", "--debian-installer", "none"]
    if inputs.security_mirror:
        args += ["--mirror-chroot-security", inputs.security_mirror,
                 "--mirror-binary-security", inputs.security_mirror]
    env = {"SOURCE_DATE_EPOCH": str(inputs.source_date_epoch)}
    log = work.parent / "plain.log"
    with Clock() as clock, serve_repo(image_build.REPO, image_build.REPO_PORT, inputs.keyring_url):
        run(["lb", "config", *args], cwd=work, env=env)
        # The same package lists (Debian's and Homeguy's) and the Homeguy archive and key.
        image_build.write_tree(work / "config",
                               {path: item for path, item in config.items()
                                if path.startswith(("archives/", "package-lists/"))},
                               clean=False)
        print(f"plain lb build in {work} (log {log})", flush=True)
        run(["sh", "-c", 'lb build > "$1" 2>&1', "sh", log], cwd=work, env=env)
    image = next(work.glob("*.iso"))
    size = image.stat().st_size
    run(["lb", "clean", "--all"], cwd=work)
    return clock, size


def ours(out: Path, repo: Path = image_build.REPO) -> tuple[Clock, Path]:
    with Clock() as clock:
        image = image_build.build(PROFILE, out_dir=out, force=True, repo=repo)
    return clock, image


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="homeguy-bench-live-", dir="/var/cache/homeguy"))
    lock = image_build.CACHE / "build.lock"
    try:
        with image_build.exclusive(lock, print):  # no other live-build on this machine meanwhile
            plain, plain_bytes = plain_build(scratch / "plain")
            image_build.CACHE = scratch / "ours"  # empty: a cold build
            cold, cold_image = ours(scratch / "out")
            repo, version = repo_with_new_version("homeguy-mobile-host", "+bench1",
                                                  scratch / "changed")
            rebuild, rebuilt = ours(scratch / "out", repo)
            has_new = installed_packages(rebuilt, scratch)["homeguy-mobile-host"] == version
            cold_bytes, rebuilt_bytes = cold_image.stat().st_size, rebuilt.stat().st_size
    finally:
        run(["sh", "-c", 'cd "$1" 2>/dev/null && lb clean --all >/dev/null || true', "sh",
             scratch / "ours" / "build" / PROFILE])
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({
        "plain_live_build_cold_s": round(plain.wall, 1),
        "plain_live_build_cold_cpu_s": round(plain.cpu, 1),
        "plain_live_build_bytes": plain_bytes,
        "homeguy_cold_s": round(cold.wall, 1),
        "homeguy_cold_cpu_s": round(cold.cpu, 1),
        "homeguy_bytes": cold_bytes,
        "homeguy_rebuild_homeguy_package_changed_s": round(rebuild.wall, 1),
        "homeguy_rebuild_homeguy_package_changed_cpu_s": round(rebuild.cpu, 1),
        "homeguy_rebuild_bytes": rebuilt_bytes,
        "rebuild_has_the_new_version": has_new,
        "ratio_cold_ours_over_plain": round(cold.wall / plain.wall, 3),
        "ratio_rebuild_over_cold": round(rebuild.wall / cold.wall, 3),
        "ratio_rebuild_over_cold_cpu": round(rebuild.cpu / cold.cpu, 3),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
