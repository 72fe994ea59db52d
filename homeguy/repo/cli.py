"""`homeguy repo ...`: the repository's part of the one command line.

    python -m homeguy repo publish --debs DIR --out out/repo [--suite S]... [--component C]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from homeguy.repo.config import DEFAULT_CONFIG, ConfigError, load_config
from homeguy.repo.packages import PackageError
from homeguy.repo.plan import PublishError
from homeguy.repo.publish import publish, summary
from homeguy.repo.signing import SigningError
from homeguy.repo.state import StateError
from homeguy.run import CommandError

ERRORS = (ConfigError, PackageError, PublishError, SigningError, StateError, CommandError)


def add_parser(commands: Any) -> None:
    """Add `repo` to the `homeguy` subcommands (an argparse subparsers object)."""
    parser = commands.add_parser("repo", help="the signed apt repository (repo/)")
    actions = parser.add_subparsers(dest="repo_action", required=True)
    publish_parser = actions.add_parser(
        "publish", help="publish the .debs of a directory into the signed repository",
        description="Add every .deb under DIR to the suites of the repository at OUT, write "
                    "its indices and signed Release files, and export the public key to "
                    "OUT/<keyring_name>.{asc,gpg}. SOURCE_DATE_EPOCH, when set, is the "
                    "Release Date (reproducible output).")
    publish_parser.add_argument("--debs", type=Path, required=True, metavar="DIR",
                                help="directory of .deb files (searched recursively)")
    publish_parser.add_argument("--out", type=Path, required=True, metavar="OUT",
                                help="the repository (for example out/repo)")
    publish_parser.add_argument("--suite", action="append", metavar="SUITE",
                                help="suite to publish into (repeatable; default: all)")
    publish_parser.add_argument("--component", metavar="COMPONENT",
                                help="component (default: default_component)")
    publish_parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                                help=f"repository configuration (default: {DEFAULT_CONFIG})")
    publish_parser.add_argument("--signing-home", type=Path, metavar="DIR",
                                help="GnuPG home of the signing key (default: signing_home)")
    publish_parser.set_defaults(func=publish_command)


def publish_command(args: argparse.Namespace) -> None:
    try:
        config = load_config(args.config)
        result = publish(config, args.debs, args.out,
                         suites=tuple(args.suite) if args.suite else None,
                         component=args.component, signing_home=args.signing_home)
    except ERRORS as exc:
        sys.exit(f"homeguy repo: {exc}")
    print(summary(result, args.out), flush=True)
