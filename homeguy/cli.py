"""`homeguy`: the one command people (and the Makefile) use.

    python -m homeguy build        build everything that exists into out/
    python -m homeguy lab 'CMD'    run a shell line inside the kernel lab
    python -m homeguy repo publish --debs DIR --out out/repo
                                   publish the .debs and source packages in DIR into the
                                   signed apt repository
    python -m homeguy repo {remove,copy,snapshot,rollback,key} ... --out out/repo
                                   operate on it (python -m homeguy repo --help)
    python -m homeguy iso build [--profile NAME]...
                                   build the live ISOs into out/iso (all profiles by default)
    python -m homeguy iso personalize BASE --url URL --token TOKEN [--out FILE]
                                   a node's image: BASE with only its enrollment slot replaced
    python -m homeguy iso stick IMAGE TARGET [--persistence SIZE]
                                   an image written to a USB stick (or a file), with a
                                   persistence partition for the node's settings if asked
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from homeguy_slot import SlotError

from homeguy import keyring, packages, patched
from homeguy.iso import IsoError
from homeguy.iso import personalize as personalize_cli
from homeguy.iso import stick as stick_cli
from homeguy.iso.build import build as build_image
from homeguy.iso.profile import profile_names
from homeguy.lab import vm
from homeguy.repo import cli as repo_cli
from homeguy.repo.config import load_config
from homeguy.repo.publish import publish, summary
from homeguy.run import CommandError

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


# What `make` builds, in order. The live ISOs are `make iso` (`homeguy iso build`): each
# profile takes minutes of live-build as root, and the e2e tests build the ones they boot.
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


def iso_build(args: argparse.Namespace) -> None:
    names = args.profile or profile_names()
    for number, name in enumerate(names, start=1):
        stage(number, len(names), f"live ISO, profile {name}")
        image = build_image(name, force=args.force, epoch=args.source_date_epoch)
        print(f"      -> {image.relative_to(TOP) if image.is_relative_to(TOP) else image}",
              flush=True)


def add_iso_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("iso", help="live ISOs: build, personalize, stick")
    sub = parser.add_subparsers(dest="iso_command", required=True)
    build_parser = sub.add_parser("build", help="build profiles' hybrid ISOs into out/iso")
    build_parser.add_argument("--profile", action="append", choices=profile_names(),
                              help="a profile (repeatable; default: all)")
    build_parser.add_argument("--force", action="store_true",
                              help="build even when an image with the same inputs exists")
    build_parser.add_argument("--source-date-epoch", type=int, default=None,
                              help="default: $SOURCE_DATE_EPOCH, else the last commit's time")
    build_parser.set_defaults(func=iso_build)
    personalize_cli.add_arguments(sub.add_parser("personalize", help=personalize_cli.HELP))
    stick_cli.add_arguments(sub.add_parser("stick", help=stick_cli.HELP))


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
    add_iso_parser(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args.func(args)
    except (CommandError, vm.LabError, packages.PackageError, patched.PatchedError,
            IsoError, SlotError, *repo_cli.ERRORS) as exc:
        sys.exit(f"homeguy: {exc}")
