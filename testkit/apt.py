"""Real parts for the repository's end-to-end tests and benchmark: tiny .debs built with
dpkg-deb, tiny source packages built with dpkg-source, real .debs fetched once with
`apt-get download`, a clean bookworm chroot made
once with mmdebstrap, and an HTTP server on 127.0.0.1.

Downloads are cached under /var/cache/homeguy/ (outside the checkout) and reused. The
Debian mirror comes from the host's apt configuration (homeguy.mirror).
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeguy.mirror import debian_mirror
from homeguy.repo import signing
from homeguy.repo.config import DEFAULT_CONFIG, RepoConfig, Suite, load_config
from homeguy.run import run

CACHE = Path("/var/cache/homeguy")
TEST_DEBS = CACHE / "repo-test-debs"
CHROOT_TARBALL = CACHE / "mmdebstrap-bookworm-apt.tar"
TESTBED_TARBALL = CACHE / "mmdebstrap-bookworm-testbed.tar"
# Small real packages of bookworm main whose only dependency (libc6) a minimal chroot has.
REAL_PACKAGES = ("hello", "tree")
# dpkg-deb's timestamps for the test packages (reproducible .debs).
DEB_EPOCH = "1700000000"
# The repository tests publish into two suites, as a repository serving several releases
# does (copy, promote between them); the shipped configuration has one (repo/README.md,
# Suites).
SECOND_SUITE = "trixie"
# What the chroot's apt runs with: no prompts, the C locale's messages.
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def build_deb(
    directory: Path,
    name: str,
    version: str,
    architecture: str = "all",
    *,
    files: dict[str, str] | None = None,
    depends: str | None = None,
    description: str = "Homeguy repository test package",
) -> Path:
    """A real .deb built with `dpkg-deb --build` from a tree made here."""
    tree = directory / f".tree-{name}-{version}-{architecture}"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "DEBIAN").mkdir(parents=True)
    control = [f"Package: {name}", f"Version: {version}", f"Architecture: {architecture}",
               "Maintainer: Homeguy tests <tests@homeguy.invalid>", "Section: misc",
               "Priority: optional"]
    if depends:
        control.append(f"Depends: {depends}")
    # The text names this helper's first home, repo/testkit.py: kept byte for byte, because
    # the test .debs' SHA256s decide where the indices' chunks end, and
    # tests/e2e/test_repo_apt.py needs the indices it publishes to have several.
    control.append(f"Description: {description}\n Built by repo.testkit.build_deb.")
    (tree / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    for path, text in (files or {f"usr/share/{name}/version": f"{version}\n"}).items():
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    deb = directory / f"{name}_{version.rpartition(':')[2]}_{architecture}.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree, deb],
        env={"SOURCE_DATE_EPOCH": DEB_EPOCH})
    shutil.rmtree(tree)
    return deb


def build_source(directory: Path, name: str, version: str) -> Path:
    """A real native source package (.dsc and .tar.xz) built with `dpkg-source -b`."""
    tree = directory / f".src-{name}-{version}"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "debian/source").mkdir(parents=True)
    (tree / "debian/source/format").write_text("3.0 (native)\n")
    (tree / "debian/control").write_text(
        f"Source: {name}\nMaintainer: Homeguy tests <tests@homeguy.invalid>\n"
        f"Section: misc\nPriority: optional\nStandards-Version: 4.6.2\n\n"
        f"Package: {name}\nArchitecture: all\nDescription: Homeguy test source\n"
        " Built by testkit.apt.build_source.\n")
    (tree / "debian/changelog").write_text(
        f"{name} ({version}) bookworm; urgency=medium\n\n  * Test.\n\n"
        " -- Homeguy tests <tests@homeguy.invalid>  Tue, 14 Nov 2023 22:13:20 +0000\n")
    (tree / "README").write_text(f"{name} {version}\n")
    run(["dpkg-source", "-b", tree.name], cwd=directory, env={"SOURCE_DATE_EPOCH": DEB_EPOCH})
    shutil.rmtree(tree)
    return directory / f"{name}_{version.rpartition(':')[2]}.dsc"


@contextmanager
def gnupg_home() -> Iterator[Path]:
    """A scratch GnuPG home with a short path (gpg-agent's socket lives in it); its agent
    is stopped and the directory removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="hg-gpg-"))
    try:
        yield home
    finally:
        signing.stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def config_for_tests(home: Path, **changes: Any) -> RepoConfig:
    """repo/repo.toml with a second suite (`SECOND_SUITE`), the signing key in `home` and
    the given settings changed."""
    config = load_config()
    second = Suite(SECOND_SUITE, SECOND_SUITE, "")
    return dataclasses.replace(config, **{"signing_home": home,
                                          "suites": (*config.suites, second), **changes})


def config_file_for_tests(directory: Path) -> Path:
    """repo/repo.toml with the second suite, as a file for `homeguy repo ... --config`."""
    path = directory / "repo.toml"
    path.write_text(DEFAULT_CONFIG.read_text() + f'\n[[suite]]\nname = "{SECOND_SUITE}"\n')
    return path


def apt_download(names: tuple[str, ...], cache: Path = TEST_DEBS) -> list[Path]:
    """The .debs of `names` from the host's apt sources, fetched once into `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if not list(cache.glob(f"{n}_*.deb"))]
    if missing:
        download = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *missing]
        if run(download, cwd=cache, check=False).returncode != 0:
            run(["apt-get", "update", "-q"])
            run(download, cwd=cache)
    return sorted(p for n in names for p in cache.glob(f"{n}_*.deb"))


def bookworm_tarball() -> Path:
    """A clean bookworm (essential packages and apt) made once with mmdebstrap."""
    return _mmdebstrap(CHROOT_TARBALL, dpkgopts=("path-exclude=/usr/share/man/*",
                                                 "path-exclude=/usr/share/locale/*",
                                                 "path-exclude=/usr/share/doc/*"))


def testbed_tarball() -> Path:
    """A clean bookworm with dpkg-dev, made once: what autopkgtest needs in its testbed to
    read a source tree (it would install it for every run), and nothing filtered out, since
    the packages' own tests read their documentation (examples)."""
    return _mmdebstrap(TESTBED_TARBALL, include=("dpkg-dev",))


def _mmdebstrap(tarball: Path, include: tuple[str, ...] = (),
                dpkgopts: tuple[str, ...] = ()) -> Path:
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_name("partial-" + tarball.name)  # mmdebstrap: a .tar name
        run(["mmdebstrap", "--quiet", "--variant=apt", "--mode=root",
             *(f"--include={name}" for name in include),
             *(f"--dpkgopt={option}" for option in dpkgopts),
             "bookworm", partial, f"deb {debian_mirror('bookworm')} bookworm main"],
            timeout=1200)
        os.replace(partial, tarball)
    return tarball


@dataclass
class Chroot:
    """A bookworm chroot whose apt knows no source until `add_source`."""

    root: Path

    def apt_get(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`apt-get ARGS` inside the chroot; the CompletedProcess (not checked)."""
        return run(["chroot", self.root, "apt-get", "-q", "-o", "Dpkg::Use-Pty=0", *args],
                   env=APT_ENV, check=False, timeout=300)

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """A command inside the chroot; the CompletedProcess (checked)."""
        return run(["chroot", self.root, *argv], env=APT_ENV, timeout=300)

    def add_source(self, name: str, uri: str, suites: str, keyring: Path,
                   types: str = "deb") -> None:
        """A deb822 source with Signed-By: the given keyring, copied into the chroot
        (`types="deb-src"` for source packages)."""
        keyrings = self.root / "usr/share/keyrings"
        keyrings.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(keyring, keyrings / keyring.name)
        (self.root / f"etc/apt/sources.list.d/{name}.sources").write_text(
            f"Types: {types}\nURIs: {uri}\nSuites: {suites}\nComponents: main\n"
            f"Signed-By: /usr/share/keyrings/{keyring.name}\n"
        )


@contextmanager
def chroot(root: Path) -> Iterator[Chroot]:
    """A fresh chroot from the cached tarball with no apt source configured; removed
    afterwards (it is 120 MB)."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        run(["tar", "-C", root, "-xf", bookworm_tarball()])
        (root / "etc/apt/sources.list").write_text("")
        yield Chroot(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Server:
    url: str
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, status)


@contextmanager
def serve(directory: Path) -> Iterator[Server]:
    """Serve `directory` over HTTP on 127.0.0.1 (a free port) from a thread."""
    server_record = Server("")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            server_record.requests.append((self.path, int(code) if code != "-" else 0))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Handler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server_record.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_record
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
