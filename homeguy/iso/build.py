"""The shell of the image build: plans a profile from the tree, out/repo and the host's
mirror, runs live-build through the POSIX sh wrappers in live/ (`homeguy.run.run`), and
writes the image, its .json and its .sha256 into out/iso/."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

from homeguy_slot import SLOT_HEADER, SLOT_PATH, prefix_record

from homeguy import files, git, mirror
from homeguy.git import TOP
from homeguy.iso import IsoError, stall
from homeguy.iso.digest import closure, inputs_digest, iso_name
from homeguy.iso.layers import (
    LAYER_SCRIPTS,
    LAYER_TOOLS,
    chroot_key,
    layer_env,
    split_layers,
)
from homeguy.iso.lbconfig import (
    ARCH,
    BUILD_SCRIPTS,
    DISTRIBUTION,
    STATIC_FILES,
    TEMPLATES,
    XORRISO_OPTIONS,
    BuildInputs,
    ConfigFile,
    lb_config_args,
    render_config,
)
from homeguy.iso.meta import PREFIX_KEY, hash_image, write_checksum, write_meta
from homeguy.iso.profile import load_profile
from homeguy.iso.serve import serve_repo
from homeguy.iso.slot import SlotLocation, parse_report_lba
from homeguy.repo.config import load_config
from homeguy.run import CommandError, run

LIVE = TOP / "live"
OUT_ISO = TOP / "out" / "iso"
REPO = TOP / "out" / "repo"
KEYRING = REPO / "homeguy-archive-keyring.gpg"
# live-build's working trees and its cache (bootstrap, downloaded .debs): outside the tree.
CACHE = Path(os.environ.get("HOMEGUY_LIVE_CACHE", "/var/cache/homeguy/live"))
REPO_PORT = int(os.environ.get("HOMEGUY_LIVE_REPO_PORT", "8071"))
BUILD_TIMEOUT = 3600.0  # seconds; a cold build takes about 6 minutes on 2 cores
BUILD_ATTEMPTS = 4  # a build whose apt downloads stalled is made again (homeguy.iso.stall)


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


def version(digest: str) -> str:
    return git.version("0.1.0", ["profiles", "live", "homeguy/iso"], digest)


def read_sources() -> dict[str, bytes]:
    return {source: (LIVE / source).read_bytes() for source, _, _ in (*STATIC_FILES,
                                                                       *TEMPLATES)}


def plan(profile_name: str, epoch: int | None = None,
         repo: Path = REPO) -> tuple[BuildInputs, dict[str, ConfigFile], str]:
    """The inputs, the rendered configuration and its digest, for one profile."""
    keyring = repo / KEYRING.name
    if not keyring.is_file():
        raise IsoError(f"{keyring} is missing; run `make` first (it publishes out/repo)")
    profile = load_profile(profile_name)
    inputs = BuildInputs(profile, mirror.debian_mirror(DISTRIBUTION),
                         security_mirror(DISTRIBUTION), f"http://127.0.0.1:{REPO_PORT}/",
                         git.source_date_epoch() if epoch is None else epoch,
                         keyring_url=load_config().url)
    # No pin: the image takes the highest strongSwan, Homeguy's when it is built on
    # Debian's newest source, Debian's when that is newer (packages/strongswan-mip6).
    config = render_config(inputs, read_sources(), keyring.read_bytes())
    packages = closure(repo_packages_text(repo), profile.homeguy_packages)
    missing = [name for name in profile.homeguy_packages if name not in packages]
    if missing:
        raise IsoError(f"profiles/{profile_name}.toml asks for {missing}, which out/repo "
                       "does not have; run `make` to build and publish them")
    scripts = {name: (LIVE / name).read_bytes() for name in BUILD_SCRIPTS}
    return inputs, config, inputs_digest(inputs, config, packages, scripts)


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
        return _build(inputs, config, digest, work, out_dir, repo, say)


def exclusive(path: Path, say: Callable[[str], None]) -> AbstractContextManager[None]:
    """Hold an exclusive lock on path (a second `make` waits for the first)."""
    return files.exclusive(path, lambda: say(f"      waiting for the build holding {path}"))


def _build(inputs: BuildInputs, config: Mapping[str, ConfigFile], digest: str, work: Path,
           out_dir: Path, repo: Path, say: Callable[[str], None]) -> Path:
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
    env = {"SOURCE_DATE_EPOCH": str(inputs.source_date_epoch), "LC_ALL": "C.UTF-8",
           "HOMEGUY_XORRISO_OPTIONS": " ".join(XORRISO_OPTIONS)}
    log = work.parent / f"{work.name}.log"
    # live-build takes a work folder's local/live-build for its whole installation; the
    # project never puts one there, and one left by an experiment broke every later build.
    shutil.rmtree(work / "local", ignore_errors=True)
    with serve_repo(repo, REPO_PORT, inputs.keyring_url):
        for attempt in range(1, BUILD_ATTEMPTS + 1):
            watch = stall.MirrorStall(log, work / "chroot", say, stall.STALL_SECONDS)
            run(["sh", LIVE / "lb-config.sh", work, rendered, cache, "--",
                 *lb_config_args(inputs)], env=env, capture=False, timeout=600)
            try:
                run(["sh", LIVE / "lb-build.sh", work, log, homeguy_config, layer],
                    env={**env, **layer_env(key, homeguy_files)}, capture=False,
                    timeout=BUILD_TIMEOUT, watch=watch)
                break
            except CommandError:
                if not watch.ended or attempt == BUILD_ATTEMPTS:
                    raise
                say(f"      building {profile_name} again (attempt {attempt + 1} of "
                    f"{BUILD_ATTEMPTS}): the mirror stalled")
    built = work / f"homeguy-{profile_name}-{ARCH}.hybrid.iso"
    if not built.is_file():
        raise IsoError(f"lb build finished without {built}; see {log}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / iso_name(profile_name, version(digest))
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.move(built, tmp)
    slot = locate_slot(tmp)
    sha256, prefix = hash_image(tmp, slot.offset)
    meta = {"profile": profile_name, "inputs": digest, "size": tmp.stat().st_size,
            "sha256": sha256, "source_date_epoch": inputs.source_date_epoch,
            "slot": {"path": f"/{SLOT_PATH}", "offset": slot.offset, "size": slot.size},
            PREFIX_KEY: prefix_record(prefix, sha256)}
    os.replace(tmp, target)
    write_meta(target, meta)
    write_checksum(target, sha256)
    return target


def tool_versions(names: tuple[str, ...]) -> dict[str, str]:
    output = run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *names]).stdout
    return dict(line.split(" ", 1) for line in output.splitlines() if line)
