"""`homeguy repo ...`: the repository's part of the one command line.

    python -m homeguy repo publish --debs DIR --out out/repo [--suite S]... [--component C]
    python -m homeguy repo remove --out OUT --suite S PACKAGE...
    python -m homeguy repo copy --out OUT --from S --to T [PACKAGE...]
    python -m homeguy repo snapshot {take,drop} NAME --out OUT | snapshot list --out OUT
    python -m homeguy repo rollback NAME --out OUT
    python -m homeguy repo key {status,rotate,retire} --out OUT

A PACKAGE is NAME (every version; with copy the newest of each architecture) or
NAME=VERSION; it names the binary packages and the source package called NAME.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeguy.repo import signing
from homeguy.repo.config import DEFAULT_CONFIG, ConfigError, RepoConfig, load_config
from homeguy.repo.packages import PackageError
from homeguy.repo.plan import (
    Copy,
    DropSnapshot,
    Operation,
    PublishError,
    Remove,
    Rollback,
    TakeSnapshot,
)
from homeguy.repo.publish import (
    Result,
    change,
    existing,
    load_state,
    publish,
    retire_key,
    rotate_key,
    summary,
)
from homeguy.repo.signing import SigningError
from homeguy.repo.state import StateError
from homeguy.run import CommandError

ERRORS = (ConfigError, PackageError, PublishError, SigningError, StateError, CommandError)


def common(parser: argparse.ArgumentParser, out_help: str = "the repository") -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="OUT", help=out_help)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"repository configuration (default: {DEFAULT_CONFIG})")
    parser.add_argument("--signing-home", type=Path, metavar="DIR",
                        help="GnuPG home of the signing keys (default: signing_home)")


def add_parser(commands: Any) -> None:
    """Add `repo` to the `homeguy` subcommands (an argparse subparsers object)."""
    parser = commands.add_parser("repo", help="the signed apt repository (repo/)",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="repo_action", required=True)
    publish_parser = actions.add_parser(
        "publish", help="publish the .debs and .dsc files of a directory",
        description="Add every .deb and .dsc (with the files it lists, beside it) under DIR "
                    "to the suites of the repository at OUT, write its indices and signed "
                    "Release files, and export the public keys to "
                    "OUT/<keyring_name>.{asc,gpg}. SOURCE_DATE_EPOCH, when set, is the "
                    "Release Date (reproducible output).")
    publish_parser.add_argument("--debs", type=Path, required=True, metavar="DIR",
                                help="directory of .deb and .dsc files (searched recursively)")
    common(publish_parser, "the repository (for example out/repo)")
    publish_parser.add_argument("--suite", action="append", metavar="SUITE",
                                help="suite to publish into (repeatable; default: all)")
    publish_parser.add_argument("--component", metavar="COMPONENT",
                                help="component (default: default_component)")
    publish_parser.set_defaults(func=publish_command)

    remove = actions.add_parser("remove", help="take packages out of a suite")
    common(remove)
    remove.add_argument("--suite", required=True)
    remove.add_argument("packages", nargs="+", metavar="PACKAGE", help="NAME or NAME=VERSION")
    remove.set_defaults(func=lambda a: change_command(a, Remove(a.suite, tuple(a.packages))))

    copy = actions.add_parser("copy", help="copy (promote) packages from one suite to another")
    common(copy)
    copy.add_argument("--from", dest="source", required=True, metavar="SUITE")
    copy.add_argument("--to", dest="target", required=True, metavar="SUITE")
    copy.add_argument("packages", nargs="*", metavar="PACKAGE",
                      help="NAME (newest version) or NAME=VERSION; none: the whole suite")
    copy.set_defaults(func=lambda a: change_command(
        a, Copy(a.source, a.target, tuple(a.packages))))

    snapshot = actions.add_parser("snapshot", help="named snapshots of every suite")
    snapshot_actions = snapshot.add_subparsers(dest="snapshot_action", required=True)
    take = snapshot_actions.add_parser("take", help="remember what every suite holds")
    drop = snapshot_actions.add_parser("drop", help="forget a snapshot (its files may go)")
    for sub, operation in ((take, TakeSnapshot), (drop, DropSnapshot)):
        common(sub)
        sub.add_argument("name")
        sub.set_defaults(func=lambda a, op=operation: change_command(a, op(a.name)))
    listing = snapshot_actions.add_parser("list", help="the snapshots and what they hold")
    common(listing)
    listing.set_defaults(func=snapshot_list)

    rollback = actions.add_parser("rollback", help="make every suite hold a snapshot again")
    common(rollback)
    rollback.add_argument("name", help="a snapshot (homeguy repo snapshot list)")
    rollback.set_defaults(func=lambda a: change_command(a, Rollback(a.name)))

    key = actions.add_parser("key", help="the signing keys: status, rotation, expiry")
    key_actions = key.add_subparsers(dest="key_action", required=True)
    status = key_actions.add_parser("status", help="the signing keys and their expiry")
    rotate = key_actions.add_parser(
        "rotate", help="start a rotation: a new key signs beside the old one")
    retire = key_actions.add_parser(
        "retire", help="finish a rotation: the old key stops signing")
    for sub in (status, rotate, retire):
        common(sub)
    retire.add_argument("--fingerprint", help="the key to retire (default: the oldest)")
    status.set_defaults(func=key_status)
    rotate.set_defaults(func=lambda a: run_command(a, lambda c: rotate_key(
        c, a.out, signing_home=a.signing_home)))
    retire.set_defaults(func=lambda a: run_command(a, lambda c: retire_key(
        c, a.out, signing_home=a.signing_home, fingerprint=a.fingerprint)))


def run_command(args: argparse.Namespace, action: Callable[[RepoConfig], Result]) -> None:
    try:
        result = action(load_config(args.config))
    except ERRORS as exc:
        sys.exit(f"homeguy repo: {exc}")
    print(summary(result, args.out), flush=True)


def publish_command(args: argparse.Namespace) -> None:
    run_command(args, lambda config: publish(
        config, args.debs, args.out, suites=tuple(args.suite) if args.suite else None,
        component=args.component, signing_home=args.signing_home))


def change_command(args: argparse.Namespace, operation: Operation) -> None:
    run_command(args, lambda config: change(config, args.out, operation,
                                            signing_home=args.signing_home))


def day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def snapshot_list(args: argparse.Namespace) -> None:
    try:
        state = load_state(existing(args.out))
    except ERRORS as exc:
        sys.exit(f"homeguy repo: {exc}")
    for name, snapshot in sorted(state.snapshots.items()):
        held = ", ".join(f"{suite} {sum(len(m) for m in comps.values())}"
                         for suite, comps in sorted(snapshot.suites.items()))
        print(f"{name}  taken {day(snapshot.created)}  packages: {held}")


def key_status(args: argparse.Namespace) -> None:
    try:
        config = load_config(args.config)
        home = args.signing_home or config.signing_home
        keys = signing.signing_keys(home, config.key_uid)
        signing.stop_agent(home)
    except ERRORS as exc:
        sys.exit(f"homeguy repo: {exc}")
    for key in keys:
        expiry = "never expires" if key.expires is None else f"expires {day(key.expires)}"
        print(f"{key.fingerprint}  created {day(key.created)}  {expiry}")
    if len(keys) > 1:
        print("a rotation is under way: every key above signs; ship the keyring package, "
              "then: homeguy repo key retire")
    for warning in signing.expiry_warnings(keys, int(time.time()), config.valid_for):
        print(f"warning: {warning}")
