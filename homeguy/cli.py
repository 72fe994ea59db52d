"""`homeguy`: the one command people (and the Makefile) use.

    python -m homeguy build        build everything that exists into out/
    python -m homeguy lab 'CMD'    run a shell line inside the kernel lab
    python -m homeguy repo publish --debs DIR --out out/repo
                                   publish the .debs in DIR into the signed apt repository
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from homeguy import keyring, packages, patched
from homeguy.lab import vm
from homeguy.run import CommandError
from repo.publisher import cli as repo_cli
from repo.publisher.config import load_config
from repo.publisher.publish import publish, summary

TOP = vm.TOP
OUT = TOP / "out"
REPO = OUT / "repo"


def stage(number: int, total: int, what: str) -> None:
    print(f"[{number}/{total}] {what}", flush=True)


def show(debs: list[Path]) -> None:
    for deb in debs:
        print(f"      {deb.relative_to(TOP)}", flush=True)


def build_packages() -> Path:
    for package in keyring.other_packages():  # the keyring is built next, from the key
        show(packages.build(package))
    return packages.DEBS


def build_patched() -> Path:
    for recipe in patched.recipes():
        show(patched.build(recipe, say=lambda line: print(f"      {line}", flush=True)))
    return packages.DEBS


def build_keyring() -> Path:
    show(keyring.build(load_config(), OUT / "keyring"))
    return packages.DEBS


def publish_repository() -> Path:
    result = publish(load_config(), packages.DEBS, REPO)
    print(f"      {summary(result, REPO)}", flush=True)
    return REPO


# What `make` builds, in order; the live ISOs come next.
BUILD_STEPS: tuple[tuple[str, Callable[[], Path]], ...] = (
    ("Debian packages (packages/*/debian)", build_packages),
    ("patched Debian packages (packages/*/patched.toml)", build_patched),
    ("archive keyring package (signing key created on first use)", build_keyring),
    ("signed apt repository", publish_repository),
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
    repo_cli.add_parser(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args.func(args)
    except (CommandError, vm.LabError, packages.PackageError,
            patched.PatchedError, *repo_cli.ERRORS) as exc:
        sys.exit(f"homeguy: {exc}")
