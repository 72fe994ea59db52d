"""Linters are tests: ruff over the tree, mypy (strict) on the core, shellcheck on scripts."""

import subprocess
from pathlib import Path

import pytest

from homeguy.lab.vm import TOP, VENV_BIN
from homeguy.run import run

pytestmark = pytest.mark.lint


def shell_scripts() -> list[Path]:
    tracked = run(["git", "ls-files", "-z"], cwd=TOP).stdout.split("\0")
    scripts = []
    for name in filter(None, tracked):
        path = TOP / name
        if path.suffix == ".sh" or (
            path.is_file() and path.read_bytes()[:40].split(b"\n")[0].endswith((b"sh", b"bash"))
        ):
            scripts.append(path)
    return scripts


def test_ruff() -> None:
    run([VENV_BIN / "ruff", "check", "--no-cache", "."], cwd=TOP)


def test_mypy() -> None:
    run([VENV_BIN / "mypy", "--no-incremental"], cwd=TOP)


def test_shellcheck() -> None:
    scripts = shell_scripts()
    assert TOP / ".ci" / "run" in scripts
    run(["shellcheck", "--severity=style", *scripts], cwd=TOP)


def test_shellcheck_catches_a_defect(tmp_path: Path) -> None:
    """The shellcheck test can fail: an unquoted variable is reported."""
    script = tmp_path / "bad.sh"
    script.write_text('#!/bin/sh\nrm $1\n')
    result = subprocess.run(["shellcheck", script], capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "SC2086" in result.stdout
