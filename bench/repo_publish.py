"""Publishing a signed apt repository: Homeguy's publisher against apt-ftparchive (with its
cache db), reprepro and aptly, on one corpus of real .debs.

Each tool publishes one suite (bookworm, component main, amd64 + all) signed with the same
Ed25519 key, through the same gpg-agent (left running between publishes, as reprepro's
gpgme and aptly leave it): a cold publish of the corpus, then the incremental publish of
one more package. The corpus (300 small packages of the host's Debian release, and one more) is
fetched once with `apt-get download` into /var/cache/homeguy/bench-debs. Prints one JSON
document: seconds per tool (median of ROUNDS runs, each from scratch) and the ratios ours /
theirs (below 1: ours is faster).

    .venv/bin/python bench/repo_publish.py
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

from debian.deb822 import Packages  # noqa: E402

from homeguy.repo import signing  # noqa: E402
from homeguy.repo.config import load_config  # noqa: E402
from homeguy.repo.publish import publish  # noqa: E402
from homeguy.run import run  # noqa: E402
from testkit import apt  # noqa: E402

CORPUS = apt.CACHE / "bench-debs"
CORPUS_SIZE = 300
MAX_DEB_BYTES = 20_000  # small packages: the figures measure the tools, not the disk
SUITE, COMPONENT, ARCHITECTURES = "bookworm", "main", ("amd64", "all")
ROUNDS = 5  # each figure is the median of this many runs, each from scratch


def pick_packages(count: int) -> list[str]:
    """`count` small packages of the host's apt cache, spread evenly over the alphabet."""
    available = run(["apt-cache", "dumpavail"]).stdout
    small = sorted(
        p["Package"] for p in Packages.iter_paragraphs(available)
        if p.get("Architecture") in ARCHITECTURES and int(p.get("Size", "0")) <= MAX_DEB_BYTES
    )
    stride = max(1, len(small) // (count + 20))
    return small[::stride][: count + 20]  # a few spare, in case one cannot be fetched


def corpus() -> tuple[list[Path], Path, Path]:
    """CORPUS_SIZE .debs and two more, fetched once."""
    CORPUS.mkdir(parents=True, exist_ok=True)
    if len(list(CORPUS.glob("*.deb"))) < CORPUS_SIZE + 2:
        names = pick_packages(CORPUS_SIZE + 2)
        for start in range(0, len(names), 100):
            run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root",
                 *names[start:start + 100]], cwd=CORPUS)
    debs = sorted(CORPUS.glob("*.deb"))[: CORPUS_SIZE + 2]
    if len(debs) < CORPUS_SIZE + 2:
        raise SystemExit(f"{CORPUS}: only {len(debs)} .debs; delete it and run again")
    return debs[:CORPUS_SIZE], debs[CORPUS_SIZE], debs[CORPUS_SIZE + 1]


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return round(time.perf_counter() - start, 3)


def sign(key: signing.SigningKey, suite_dir: Path) -> None:
    release = suite_dir / "Release"
    for name in ("InRelease", "Release.gpg"):
        (suite_dir / name).unlink(missing_ok=True)
    signing.sign_release((key,), release, suite_dir / "InRelease", suite_dir / "Release.gpg", None)


def bench_homeguy(work: Path, home: Path, debs: list[Path], extra: Path, another: Path
                  ) -> dict[str, float]:
    config = apt.config_for_tests(home)
    config = dataclasses.replace(config, suites=(config.suite(SUITE),),
                                 architectures=ARCHITECTURES)
    inbox, one, out = work / "inbox", work / "one", work / "out"
    inbox.mkdir()
    one.mkdir()
    for deb in debs:
        (inbox / deb.name).symlink_to(deb)
    (one / extra.name).symlink_to(extra)
    cold = timed(lambda: publish(config, inbox, out, stop_agent=False))
    incremental = timed(lambda: publish(config, one, out, stop_agent=False))
    # Nothing new in the whole corpus: unchanged files are recognised by stat().
    (inbox / extra.name).symlink_to(extra)
    unchanged = timed(lambda: publish(config, inbox, out, stop_agent=False))
    # The whole corpus again with one more package in it.
    (inbox / another.name).symlink_to(another)
    rescan = timed(lambda: publish(config, inbox, out, stop_agent=False))
    return {"cold": cold, "incremental": incremental, "republish_unchanged": unchanged,
            "incremental_rescanning_all": rescan}


FTPARCHIVE_CONF = """\
Dir {{ ArchiveDir "{out}"; CacheDir "{out}/cache"; }};
Default {{ Packages::Compress ". gzip xz"; }};
TreeDefault {{ Directory "pool/$(SECTION)"; }};
Tree "dists/{suite}" {{ Sections "{component}"; Architectures "{archs}"; }};
"""


def bench_ftparchive(work: Path, key: signing.SigningKey, debs: list[Path], extra: Path
                     ) -> dict[str, float]:
    out = work / "out"
    pool = out / "pool" / COMPONENT
    for arch in ARCHITECTURES:
        (out / f"dists/{SUITE}/{COMPONENT}/binary-{arch}").mkdir(parents=True)
    (out / "cache").mkdir()
    conf = work / "apt-ftparchive.conf"
    conf.write_text(FTPARCHIVE_CONF.format(out=out, suite=SUITE, component=COMPONENT,
                                           archs=" ".join(ARCHITECTURES)))
    suite_dir = out / "dists" / SUITE

    def generate() -> None:
        run(["apt-ftparchive", "generate", conf])
        release = run(["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Suite={SUITE}",
                       "-o", f"APT::FTPArchive::Release::Codename={SUITE}",
                       "-o", "APT::FTPArchive::Release::Origin=Homeguy",
                       "-o", f"APT::FTPArchive::Release::Architectures={' '.join(ARCHITECTURES)}",
                       "-o", f"APT::FTPArchive::Release::Components={COMPONENT}",
                       "release", suite_dir]).stdout
        (suite_dir / "Release").write_text(release)
        sign(key, suite_dir)

    def cold() -> None:
        pool.mkdir(parents=True)
        for deb in debs:
            shutil.copyfile(deb, pool / deb.name)
        generate()

    def incremental() -> None:
        shutil.copyfile(extra, pool / extra.name)
        generate()

    return {"cold": timed(cold), "incremental": timed(incremental)}


def bench_reprepro(work: Path, key: signing.SigningKey, debs: list[Path], extra: Path
                   ) -> dict[str, float]:
    base = work / "reprepro"
    (base / "conf").mkdir(parents=True)
    # reprepro 5.3 refuses `all` here; it lists Architecture: all packages under amd64.
    (base / "conf" / "distributions").write_text(
        f"Codename: {SUITE}\nArchitectures: amd64\n"
        f"Components: {COMPONENT}\nSignWith: {key.fingerprint}\n")
    env = {"GNUPGHOME": str(key.home)}
    common: list[str | Path] = ["reprepro", "--silent", "-b", base, "--section", "misc",
                                "--priority", "optional"]
    cold = timed(lambda: run([*common, "includedeb", SUITE, *debs], env=env))
    incremental = timed(lambda: run([*common, "includedeb", SUITE, extra], env=env))
    return {"cold": cold, "incremental": incremental}


def bench_aptly(work: Path, key: signing.SigningKey, debs: list[Path], extra: Path
                ) -> dict[str, float]:
    config = work / "aptly.conf"
    config.write_text(json.dumps({"rootDir": str(work / "aptly"), "gpgProvider": "gpg2"}))
    inbox = work / "inbox"
    inbox.mkdir()
    for deb in debs:
        (inbox / deb.name).symlink_to(deb)
    env = {"GNUPGHOME": str(key.home)}
    aptly = ["aptly", f"-config={config}"]
    signing_args = [f"-gpg-key={key.fingerprint}", "-batch"]

    def cold() -> None:
        run([*aptly, "repo", "create", f"-distribution={SUITE}", f"-component={COMPONENT}",
             "bench"], env=env)
        run([*aptly, "repo", "add", "bench", inbox], env=env)
        run([*aptly, "publish", "repo", f"-architectures={','.join(ARCHITECTURES)}",
             *signing_args, "bench"], env=env)

    def incremental() -> None:
        run([*aptly, "repo", "add", "bench", extra], env=env)
        run([*aptly, "publish", "update", *signing_args, SUITE], env=env)

    return {"cold": timed(cold), "incremental": timed(incremental)}


def versions() -> dict[str, str]:
    tools = {"apt-ftparchive": "apt-utils", "reprepro": "reprepro", "aptly": "aptly",
             "gpg": "gnupg"}
    return {tool: run(["dpkg-query", "-W", "-f", "${Version}", package]).stdout
            for tool, package in tools.items()}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    debs, extra, another = corpus()
    with tempfile.TemporaryDirectory(prefix="hg-bench-") as scratch, \
            apt.gnupg_home() as home:
        key, _ = signing.ensure_key(home, load_config().key_uid)
        benches: dict[str, Callable[[Path], dict[str, float]]] = {
            "homeguy": lambda w: bench_homeguy(w, home, debs, extra, another),
            "apt-ftparchive": lambda w: bench_ftparchive(w, key, debs, extra),
            "reprepro": lambda w: bench_reprepro(w, key, debs, extra),
            "aptly": lambda w: bench_aptly(w, key, debs, extra),
        }
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in benches}
        for round_ in range(ROUNDS):  # interleaved, so that a noisy moment hits every tool
            for name, bench in benches.items():
                work = Path(scratch) / f"{name}-{round_}"
                work.mkdir()
                samples[name].append(bench(work))
        seconds = {name: {phase: statistics.median(s[phase] for s in runs) for phase in runs[0]}
                   for name, runs in samples.items()}
    ours = seconds["homeguy"]
    ratios = {name: {phase: round(ours[phase] / figures[phase], 3) for phase in figures
                     if phase in ours}
              for name, figures in seconds.items() if name != "homeguy"}
    print(json.dumps({
        "benchmark": "repo_publish",
        "corpus": {"debs": len(debs), "bytes": sum(d.stat().st_size for d in debs),
                   "incremental_deb": extra.name, "directory": str(CORPUS)},
        "setup": f"one suite ({SUITE}), {COMPONENT}, {' '.join(ARCHITECTURES)}, "
                 "Packages{,.gz,.xz}, InRelease and Release.gpg signed with one Ed25519 key",
        "seconds_median_of_rounds": seconds,
        "rounds": ROUNDS,
        "samples": samples,
        "ratio_ours_over_theirs": ratios,
        "versions": versions(),
    }, indent=2))


if __name__ == "__main__":
    main()
