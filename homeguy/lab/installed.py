"""The packages as users install them, for the kernel lab.

The lab tests run mip6d and HAiku the way a user's machine runs them: the built .debs
installed by real apt into a clean bookworm root, with the dependencies their control
files declare resolved from Debian (python3-pyroute2 0.7.2, python3-django 3.2, gunicorn,
...), not the source tree and the virtualenv.

On the host, `prepare()` builds the packages (unchanged ones are reused) and installs
them into `ROOT` under out/lab/ (the guest sees the host's files read-only and cannot
download). In the guest, `argv()` runs a command with that root's /usr bound over /usr in
a private mount namespace: programs, Python and libraries come from the installed root
(merged /usr: /bin, /sbin and /lib are links into it), while /etc, /proc, /run, /tmp and
the test's files stay the host's, so configurations and logs live where the test put them.
The system users and groups the packages' postinsts made live in the root's /etc only:
`account()` finds their ids there, and `as_account()` runs a command with them.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from homeguy import packages
from homeguy.mirror import debian_mirror
from homeguy.run import run
from testkit.apt import bookworm_tarball  # the cached clean bookworm (mmdebstrap)

ROOT = packages.OUT / "lab" / "installed"
# What the lab runs from packages: the stack, the service that drives it, the kernel
# checker (mip6d's autopkgtest `start` asks it first), and the console's Wi-Fi tool.
SOURCES = ("mip6d", "haiku", "homeguy-slot", "mip6-kernel-config", "homeguy-wifi")
# The binary packages installed (their Debian dependencies come with them: wpa_supplicant
# for homeguy-wifi).
BINARIES = ("mip6d", "python3-mip6d", "haiku", "python3-homeguy-slot", "mip6-kernel-config",
            "homeguy-wifi")
# From Debian, what the images run beside them: systemd-networkd on the access links.
COMPANIONS = ("systemd",)
# Bind the root's /usr over /usr, then run the command (a private mount namespace).
BIND_USR = 'mount --bind "$0/usr" /usr && exec "$@"'
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def build_debs() -> list[Path]:
    """The .debs of `BINARIES`, built from the tree unless unchanged."""
    debs = [deb for name in SOURCES
            for deb in packages.build(packages.SourcePackage.read(packages.PACKAGES / name),
                                      progress=False)]
    return sorted(deb for deb in debs if deb.name.split("_", 1)[0] in BINARIES)


def digest(debs: list[Path], tarball: Path) -> str:
    """What the root is made from: the .debs' bytes and the base system's."""
    sha = hashlib.sha256(f"{tarball.name} {tarball.stat().st_size} {tarball.stat().st_mtime} "
                         f"{' '.join(COMPANIONS)}".encode())
    for deb in debs:
        sha.update(deb.name.encode() + b"\0" + hashlib.sha256(deb.read_bytes()).digest())
    return sha.hexdigest()


def prepare(root: Path = ROOT) -> Path:
    """Host side: `root` with the packages installed by apt, made again when they change."""
    debs = build_debs()
    tarball = bookworm_tarball()
    stamp = root.with_name(root.name + ".inputs")
    wanted = digest(debs, tarball)
    if stamp.exists() and stamp.read_text() == wanted and (root / "usr").is_dir():
        return root
    print(f"lab: installing {', '.join(d.name for d in debs)} into {root} with apt")
    stamp.unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    run(["tar", "-C", root, "-xf", tarball])
    (root / "etc/apt/sources.list").write_text("")
    (root / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {debian_mirror('bookworm')}\nSuites: bookworm\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    incoming = root / "tmp/debs"
    incoming.mkdir(parents=True)
    for deb in debs:
        shutil.copy2(deb, incoming)
    apt: list[str | Path] = ["chroot", root, "apt-get", "-q", "-y", "-o", "Dpkg::Use-Pty=0"]
    run([*apt, "update"], env=APT_ENV, timeout=600)
    run([*apt, "install", "--no-install-recommends", *COMPANIONS,
         *(f"/tmp/debs/{deb.name}" for deb in debs)], env=APT_ENV, timeout=900)
    run([*apt, "clean"], env=APT_ENV)
    shutil.rmtree(incoming)
    stamp.write_text(wanted)
    return root


def argv(*command: str, root: Path = ROOT) -> list[str]:
    """`command` run with the installed root's /usr (in the guest, in a host's namespace:
    pass the result to `Host.spawn` or `Host.run`)."""
    if not (root / "usr").is_dir():
        raise FileNotFoundError(f"{root}: not prepared; the host's lab session prepares it "
                                "(tests/lab/conftest.py, homeguy.lab.installed.prepare)")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", BIND_USR,
            str(root), *command]


@dataclass(frozen=True)
class Account:
    """A user of the installed root as numbers: its uid, a gid and supplementary gids."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()


def _ids(table: Path) -> dict[str, int]:
    """name -> id of /etc/passwd or /etc/group (the third field)."""
    rows = (line.split(":") for line in table.read_text().splitlines() if line)
    return {row[0]: int(row[2]) for row in rows}


def account(user: str, group: str, groups: Sequence[str] = (), root: Path = ROOT) -> Account:
    """``user`` (a name, or "root"), ``group`` and ``groups`` as the installed root's
    account files number them (what systemd's User=, Group= and SupplementaryGroups= would
    resolve on a machine with the packages)."""
    users, gids = _ids(root / "etc/passwd"), _ids(root / "etc/group")
    missing = [name for name in (group, *groups) if name not in gids]
    if user not in users or missing:
        raise LookupError(f"{root}/etc: no user {user!r} or groups {missing} (not made by "
                          "the packages' postinsts?)")
    return Account(users[user], gids[group], tuple(gids[name] for name in groups))


def as_account(who: Account, *command: str) -> list[str]:
    """``command`` run with ``who``'s uid and gids (setpriv; a uid 0 keeps root's
    capabilities, another has none), to put inside `argv`."""
    groups = (f"--groups={','.join(map(str, who.groups))}" if who.groups
              else "--clear-groups")
    return ["setpriv", f"--reuid={who.uid}", f"--regid={who.gid}", groups, "--", *command]
