"""The files generated from the tables, and the command that writes or checks them.

    python3 -m mip6_kernel_config generate [--check] [DIR]

writes them under DIR (default: this source folder); ``--check`` only compares and exits
1 naming the files that differ. The package build runs ``--check``, and so does a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mip6_kernel_config import layout
from mip6_kernel_config.manpage import manpage
from mip6_kernel_config.options import ROLES
from mip6_kernel_config.render import (
    fragment_text,
    modules_load_text,
    options_markdown,
    sysctl_text,
)

SOURCE_DIR = Path(__file__).resolve().parent.parent
"""packages/mip6-kernel-config/ in a checkout."""


def generated_files() -> dict[str, str]:
    """Path (relative to the package's folder) to content, for every generated file."""
    files = {str(layout.fragment(None)): fragment_text(None)}
    for role in ROLES:
        files[str(layout.fragment(role))] = fragment_text(role)
    for role in ROLES:
        files[str(layout.modules_load(role))] = modules_load_text(role)
        files[str(layout.sysctl(role))] = sysctl_text(role)
    files["man/mip6-kernel-check.1"] = manpage()
    files["options.md"] = options_markdown()
    return files


def stale(root: Path) -> list[str]:
    """The generated files under ``root`` that are missing or differ from the tables."""
    out = []
    for name, content in generated_files().items():
        path = root / name
        if not path.is_file() or path.read_text() != content:
            out.append(name)
    return out


def write(root: Path) -> list[str]:
    """Write the files that changed (each through a temporary file and a rename)."""
    changed = stale(root)
    files = generated_files()
    for name in changed:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
            tmp.write(files[name])
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m mip6_kernel_config generate",
        description="Write (or with --check, compare) the files generated from the tables.",
    )
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    parser.add_argument("dir", nargs="?", type=Path, default=SOURCE_DIR)
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.dir)
        for name in names:
            print(f"stale: {args.dir / name}", file=sys.stderr)
        if names:
            print("run: python3 -m mip6_kernel_config generate", file=sys.stderr)
        return 1 if names else 0
    for name in write(args.dir):
        print(f"wrote {args.dir / name}")
    return 0
