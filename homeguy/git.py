"""What the build takes from the git checkout: commands in it, the build's date, versions.

One place for the rules every artifact follows: SOURCE_DATE_EPOCH is the environment's,
else the last commit's time; a version is `<upstream>+<commits>.g<hash>`, increasing
along main and the same for the same commit, plus `.m<digest>` while the files it is
built from have uncommitted changes (so that other content never reuses a version).
"""

from __future__ import annotations

import os
from pathlib import Path

from homeguy.run import run

TOP = Path(__file__).resolve().parent.parent


def git(*argv: str) -> str:
    """`git ARGV` in the checkout; its output without the trailing newline."""
    return run(["git", *argv], cwd=TOP).stdout.strip()


def source_date_epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH") or git("log", "-1", "--format=%ct"))


def version(upstream: str, paths: list[str], digest: str) -> str:
    """`upstream` stamped with HEAD; `paths` (relative to the checkout) are what the
    artifact is built from, `digest` what it is made of."""
    dirty = bool(git("status", "--porcelain", "--", *paths))
    count, short = git("rev-list", "--count", "HEAD"), git("rev-parse", "--short=7", "HEAD")
    return f"{upstream}+{count}.g{short}{f'.m{digest[:6]}' if dirty else ''}"
