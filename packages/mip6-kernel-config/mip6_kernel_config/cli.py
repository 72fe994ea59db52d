"""``mip6-kernel-check``: the thin shell around the pure checker.

It finds and reads the kernel configuration, prints the report and turns the verdict
into the exit status; with ``--enable``/``--disable`` it links a role's modules-load.d
and sysctl.d files into /etc. Every failure is one line (or a short list) on stderr
saying what was tried and what to do, and exit status 2.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mip6_kernel_config import __version__, layout
from mip6_kernel_config.evaluate import evaluate
from mip6_kernel_config.kconfig import ConfigError, KernelConfig, parse
from mip6_kernel_config.options import ROLES, Role
from mip6_kernel_config.render import report_json, report_text

PROG = "mip6-kernel-check"
EXIT_OK, EXIT_MISSING, EXIT_ERROR = 0, 1, 2


class CheckError(Exception):
    """A failure the user can act on; the message says what and how."""


@dataclass(frozen=True)
class Candidate:
    """A place where the running kernel's configuration may be, and what it means when
    it is not there."""

    path: Path
    absent: str


def candidates(release: str, root: Path = Path("/")) -> tuple[Candidate, ...]:
    """Where to look, in order, for the configuration of kernel ``release``."""
    return (
        Candidate(
            root / "proc/config.gz",
            "the kernel was built without CONFIG_IKCONFIG_PROC (with CONFIG_IKCONFIG=m, "
            "'modprobe configs' adds it)",
        ),
        Candidate(root / f"boot/config-{release}", "Debian's kernel packages install it"),
        Candidate(
            root / f"lib/modules/{release}/build/.config",
            "the kernel's headers or build tree are not installed",
        ),
    )


def find_config(release: str, root: Path = Path("/")) -> Path:
    """The first candidate that exists, or a :class:`CheckError` listing them all."""
    places = candidates(release, root)
    for place in places:
        if place.path.exists():
            return place.path
    lines = [f"no configuration found for the running kernel ({release}); looked for:"]
    lines += [f"  {place.path}: not there ({place.absent})" for place in places]
    lines.append(
        f"Pass the configuration the kernel was built with: {PROG} --config PATH "
        "(its .config, or the config-RELEASE file of its package)."
    )
    raise CheckError("\n".join(lines))


def read_text(path: Path) -> str:
    """The text of ``path``, plain, gzip- or xz-compressed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if data.startswith(b"\x1f\x8b"):
            data = gzip.decompress(data)
        elif data.startswith(b"\xfd7zXZ\x00"):
            data = lzma.decompress(data)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise CheckError(f"{path}: damaged compressed file ({exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckError(
            f"{path}: binary data, not a kernel configuration (expected the text of a "
            ".config, plain, gzip or xz)"
        ) from None


def read_config(path: Path) -> KernelConfig:
    """Read and parse ``path``, plain, gzip- or xz-compressed."""
    text = read_text(path)
    try:
        return parse(text, str(path))
    except ConfigError as exc:
        raise CheckError(str(exc)) from None


def check(role: str, config_path: Path | None, as_json: bool) -> tuple[str, int]:
    """The report and the exit status."""
    path = config_path if config_path is not None else find_config(platform.release())
    config = read_config(path)
    roles = ROLES if role == "all" else (Role(role),)
    reports = evaluate(config, roles)
    render = report_json if as_json else report_text
    status = EXIT_OK if all(r.ok for r in reports) else EXIT_MISSING
    return render(str(path), config, reports), status


def _under(root: Path, path: PurePosixPath) -> Path:
    return root / path.relative_to("/")


def enable(role: Role, root: Path) -> list[str]:
    """Link the role's files into /etc (under ``root``); say what was done."""
    done = []
    for link, target in layout.activation_links(role):
        here, there = _under(root, link), _under(root, target)
        if not there.is_file():
            raise CheckError(f"{there} is missing: is the package mip6-kernel-config installed?")
        if here.is_symlink() and os.readlink(here) == str(target):
            done.append(f"{here} already links to {target}")
            continue
        if here.exists() or here.is_symlink():
            raise CheckError(
                f"{here} exists and is not a link to {target}: move it away, or keep it "
                "and do not enable the role here"
            )
        here.parent.mkdir(parents=True, exist_ok=True)
        here.symlink_to(target)
        done.append(f"linked {here} -> {target}")
    done.append(
        "takes effect at the next boot; now: "
        "systemctl restart systemd-modules-load.service systemd-sysctl.service"
    )
    return done


def disable(role: Role, root: Path) -> list[str]:
    """Remove the links :func:`enable` made; leave anything else alone."""
    done = []
    for link, target in layout.activation_links(role):
        here = _under(root, link)
        if not here.is_symlink():
            done.append(
                f"{here}: {'not a link, left alone' if here.exists() else 'not there'}"
            )
        elif os.readlink(here) != str(target):
            done.append(f"{here}: links to {os.readlink(here)}, not {target}; left alone")
        else:
            here.unlink()
            done.append(f"removed {here}")
    done.append("settings already applied stay until the next boot")
    return done


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Check that a Linux kernel configuration has what Mobile IPv6 needs.",
        epilog="Exit status: 0 every role checked can work, 1 a required option is "
        "missing, 2 error. See mip6-kernel-check(1).",
    )
    role_names = [r.value for r in ROLES]
    p.add_argument("--role", choices=[*role_names, "all"], default="all",
                   help="ha home agent, mn mobile node, mr mobile router, "
                        "cn correspondent node; all (default)")
    p.add_argument("--config", type=Path, metavar="PATH",
                   help="the configuration to check (default: the running kernel's)")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--enable", choices=role_names, metavar="ROLE",
                     help="load the role's modules and apply its sysctls at boot")
    act.add_argument("--disable", choices=role_names, metavar="ROLE",
                     help="undo --enable")
    p.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                   help="with --enable/--disable: the system's root (default /)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    activate = args.enable or args.disable
    if activate and (args.config or args.json or args.role != "all"):
        p.error("--enable and --disable take no --role, --config or --json")
    try:
        if args.enable:
            print("\n".join(enable(Role(args.enable), args.root)))
            return EXIT_OK
        if args.disable:
            print("\n".join(disable(Role(args.disable), args.root)))
            return EXIT_OK
        text, status = check(args.role, args.config, args.json)
    except CheckError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"{PROG}: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(text)
    return status
