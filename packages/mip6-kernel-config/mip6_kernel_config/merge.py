"""Merge a role's fragment into a kernel source tree's configuration, and show the result.

    python3 -m mip6_kernel_config merge-into-source --base CONFIG|defconfig
        [--source TARBALL|DIR] [--role ROLE|all] [--workdir DIR] [--kconfig-only]

With a tarball (default: Debian's ``/usr/src/linux-source-6.1.tar.xz`` from
``linux-source-6.1``) the source is unpacked into WORKDIR/src, whole, or with
``--kconfig-only`` only what Kconfig reads (about 40 MB instead of 1.5 GB; enough to
settle a configuration, not to build).
Then, in WORKDIR/build (the kernel's ``O=`` directory)::

    cp BASE build/.config                      # or: make O=build defconfig
    scripts/kconfig/merge_config.sh -m -y -O build build/.config mip6-ROLE.config
    make O=build olddefconfig

``-y`` never turns an option that BASE builds in (=y) into a module. It prints every
option of the fragment before and after, then the checker's verdict on the result; exit
status 1 when an option did not get the value asked for (a dependency the base lacks)
or a role cannot work with the result. It does not build the kernel; the last line says
how to.
"""

from __future__ import annotations

import argparse
import logging
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mip6_kernel_config import layout
from mip6_kernel_config.cli import CheckError, read_config, read_text
from mip6_kernel_config.evaluate import evaluate
from mip6_kernel_config.kconfig import KernelConfig
from mip6_kernel_config.options import OPTIONS, ROLES, KernelOption, Role, options_for
from mip6_kernel_config.render import fragment_text, report_text

log = logging.getLogger("mip6_kernel_config.merge")

DEBIAN_SOURCE = Path("/usr/src/linux-source-6.1.tar.xz")
DEFAULT_WORKDIR = Path(__file__).resolve().parents[3] / "out" / "mip6-kernel-config" / "kernel"

# The kernel's SRCARCH for each machine name (uname -m): the only arch/ folder Kconfig reads.
SRCARCH = {
    "x86_64": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "powerpc",
    "s390x": "s390",
    "riscv64": "riscv",
    "mips64": "mips",
    "loongarch64": "loongarch",
}

# What `make olddefconfig` reads, relative to the tree's top folder (tar wildcards).
KCONFIG_FILES = ("Makefile", "scripts/*", "arch/{srcarch}/*")
KCONFIG_ANYWHERE = "*/Kconfig*"

RANK = {None: 0, "n": 0, "m": 1, "y": 2}
"""How much of an option a value gives: absent = not set < module < built in."""


class MergeError(Exception):
    """A step failed; the message names the step and what to do."""


def run(argv: Sequence[str | Path], cwd: Path | None = None) -> None:
    """Run one command, logged so that it can be pasted and rerun; its output goes to
    the terminal. A failure raises :class:`MergeError` naming the command."""
    line = shlex.join(str(a) for a in argv)
    if cwd:
        line = f"cd {shlex.quote(str(cwd))} && {line}"
    log.info("$ %s", line)
    try:
        status = subprocess.run([str(a) for a in argv], cwd=cwd, check=False).returncode
    except FileNotFoundError:
        raise MergeError(f"{argv[0]}: not found (apt-get install {argv[0]})") from None
    if status != 0:
        raise MergeError(f"command failed (exit status {status}): {line}")


# -- pure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Merged:
    """One option of the fragment: its value in the base, asked for, and the result."""

    option: KernelOption
    before: str | None
    after: str | None

    @property
    def ok(self) -> bool:
        """At least what the fragment asks for (=y where =m was asked is fine)."""
        return RANK[self.after if self.after in RANK else None] >= RANK[self.option.build]


def merged_options(
    base: KernelConfig, result: KernelConfig, role: Role | None
) -> tuple[Merged, ...]:
    options = options_for(role) if role else OPTIONS
    return tuple(Merged(o, base.get(o.name), result.get(o.name)) for o in options)


def merge_table(rows: Sequence[Merged]) -> str:
    width = max(len(r.option.symbol) for r in rows)
    lines = [f"{'option':<{width}}  base  asked  result"]
    for r in rows:
        flag = "" if r.ok else "  <- NOT SET AS ASKED"
        lines.append(
            f"{r.option.symbol:<{width}}  {r.before or '-':<4}  {r.option.build:<5}  "
            f"{r.after or '-'}{flag}"
        )
    return "\n".join(lines) + "\n"


def tar_members(top: str, srcarch: str) -> tuple[str, ...]:
    """The tar wildcards for ``--kconfig-only``."""
    return (*(f"{top}/{p.format(srcarch=srcarch)}" for p in KCONFIG_FILES), KCONFIG_ANYWHERE)


def tarball_top(tarball: Path) -> str:
    """``linux-source-6.1`` for ``linux-source-6.1.tar.xz``: Debian's tarballs hold one
    folder named like the file."""
    name = tarball.name
    for suffix in (".tar.xz", ".tar.gz", ".tar.bz2", ".tar.zst", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise MergeError(f"{tarball}: expected a .tar.xz (or .tar.gz, .tar.bz2, .tar) tarball")


# -- the shell ----------------------------------------------------------------------------


def unpack(source: Path, workdir: Path, kconfig_only: bool) -> Path:
    """The kernel tree: ``source`` itself when it is one, else the tarball unpacked."""
    if source.is_dir():
        if not (source / "scripts/kconfig/merge_config.sh").is_file():
            raise MergeError(
                f"{source}: not a kernel source tree (no scripts/kconfig/merge_config.sh)"
            )
        return source
    if not source.is_file():
        raise MergeError(
            f"{source}: no such kernel source; install Debian's with "
            "'apt-get install linux-source-6.1', or pass --source TARBALL|DIR"
        )
    top = tarball_top(source)
    dest = workdir / "src"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    argv: list[str | Path] = ["tar", "-C", dest, "-xaf", source]
    if kconfig_only:
        machine = platform.machine()
        if machine not in SRCARCH:
            raise MergeError(f"--kconfig-only: unknown machine {machine!r}; unpack it whole")
        argv += ["--wildcards", *tar_members(top, SRCARCH[machine])]
    run(argv)
    tree = dest / top
    if not (tree / "scripts/kconfig/merge_config.sh").is_file():
        raise MergeError(f"{source}: expected the kernel tree in {top}/ inside the tarball")
    return tree


def merge(
    base: str, source: Path, role: Role | None, workdir: Path, kconfig_only: bool
) -> tuple[str, int]:
    """Do the merge; the text to show and the exit status."""
    workdir.mkdir(parents=True, exist_ok=True)
    tree = unpack(source, workdir, kconfig_only)
    build = workdir / "build"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir()
    config = build / ".config"
    if base == "defconfig":
        run(["make", "-s", f"O={build}", "defconfig"], cwd=tree)
    else:
        config.write_text(read_text(Path(base)))
    before = read_config(config)
    fragment = workdir / layout.fragment(role).name
    fragment.write_text(fragment_text(role))
    run(["scripts/kconfig/merge_config.sh", "-m", "-y", "-O", build, config, fragment], cwd=tree)
    run(["make", "-s", f"O={build}", "olddefconfig"], cwd=tree)
    after = read_config(config)
    rows = merged_options(before, after, role)
    reports = evaluate(after, (role,) if role else ROLES)
    how = (
        "This tree holds only what Kconfig reads (--kconfig-only): to build, unpack\n"
        "the whole source and copy the configuration into it."
        if not (tree / "init" / "main.c").is_file()
        else f"To build it: make -C {tree} O={build} -j$(nproc) bindeb-pkg"
    )
    text = (
        f"\nOptions of {fragment} in {config}:\n"
        + merge_table(rows)
        + "\n"
        + report_text(str(config), after, reports)
        + f"\n{how}\n"
    )
    ok = all(r.ok for r in rows) and all(r.ok for r in reports)
    return text, 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python3 -m mip6_kernel_config merge-into-source",
        description="Merge a role's fragment into a kernel source tree's configuration.",
    )
    p.add_argument("--base", required=True, metavar="CONFIG|defconfig",
                   help="the configuration to start from (e.g. /boot/config-6.1.0-*-amd64), "
                        "or 'defconfig' for the architecture's default")
    p.add_argument("--source", type=Path, default=DEBIAN_SOURCE, metavar="TARBALL|DIR",
                   help=f"kernel source tarball or unpacked tree (default {DEBIAN_SOURCE})")
    p.add_argument("--role", choices=[*(r.value for r in ROLES), "all"], default="all")
    p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                   help=f"where to unpack and configure (default {DEFAULT_WORKDIR})")
    p.add_argument("--kconfig-only", action="store_true",
                   help="unpack only what Kconfig reads (fast; the result cannot be built)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    role = None if args.role == "all" else Role(args.role)
    try:
        text, status = merge(args.base, args.source, role, args.workdir, args.kconfig_only)
    except (MergeError, CheckError) as exc:
        print(f"merge-into-source: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return status
