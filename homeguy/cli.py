"""`homeguy`: the one command people (and the Makefile) use.

    python -m homeguy build        build everything that exists into out/
    python -m homeguy lab 'CMD'    run a shell line inside the kernel lab
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from homeguy.lab import vm
from homeguy.run import CommandError, run

TOP = vm.TOP
OUT = TOP / "out"


def stage(number: int, total: int, what: str) -> None:
    print(f"[{number}/{total}] {what}", flush=True)


def build_mip6d_wheel() -> Path:
    dist = OUT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    run([vm.VENV_BIN / "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", dist, TOP / "packages" / "mip6d"], env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    # setuptools leaves its scratch directories in the source tree.
    for scratch in ("build", "mip6d.egg-info"):
        shutil.rmtree(TOP / "packages" / "mip6d" / scratch, ignore_errors=True)
    return next(dist.glob("mip6d-*.whl"))


# What `make` builds, in order; later issues add the Debian packages, repository and ISOs.
BUILD_STEPS: tuple[tuple[str, Callable[[], Path]], ...] = (
    ("mip6d wheel", build_mip6d_wheel),
)


def build(_: argparse.Namespace) -> None:
    for number, (what, step) in enumerate(BUILD_STEPS, start=1):
        stage(number, len(BUILD_STEPS), what)
        print(f"      -> {step().relative_to(TOP)}", flush=True)


def lab(args: argparse.Namespace) -> None:
    rwdir = OUT / "lab" / "exec"
    rwdir.mkdir(parents=True, exist_ok=True)
    console = rwdir / "console.log"
    status = vm.boot(args.command, rwdir, console, timeout=args.timeout)
    sys.stdout.write(console.read_text())
    sys.exit(status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="homeguy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command_name", required=True)
    commands.add_parser("build", help="build everything into out/").set_defaults(func=build)
    lab_parser = commands.add_parser("lab", help="run a shell line inside the kernel lab")
    lab_parser.add_argument("command", help="shell command line to run in the guest")
    lab_parser.add_argument("--timeout", type=float, default=900)
    lab_parser.set_defaults(func=lab)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args.func(args)
    except (CommandError, vm.LabError) as exc:
        sys.exit(f"homeguy: {exc}")
