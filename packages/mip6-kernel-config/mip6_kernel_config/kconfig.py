"""Kernel configuration text (``.config``, ``/proc/config.gz``, ``/boot/config-*``): parse.

The format is what ``scripts/kconfig`` writes: ``CONFIG_NAME=value`` for a set option
(``y``, ``m``, a number or a quoted string), ``# CONFIG_NAME is not set`` for a visible
option switched off, other ``#`` lines are comments. An option whose dependencies are not
met, or that the kernel version does not know, does not appear at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_SET = re.compile(r"CONFIG_([A-Za-z0-9_]+)=(.*)")
_NOT_SET = re.compile(r"# CONFIG_([A-Za-z0-9_]+) is not set")
_TITLE = re.compile(r"# (Linux/\S+ \S+ Kernel Configuration)")

NOT_SET = "n"
"""The value recorded for ``# CONFIG_NAME is not set``."""


class ConfigError(ValueError):
    """The text is not a kernel configuration; the message names the place and the fix."""


@dataclass(frozen=True)
class KernelConfig:
    """A parsed configuration: option name (without ``CONFIG_``) to its value as written
    (``y``, ``m``, ``n`` for "is not set", or the literal number or quoted string)."""

    values: Mapping[str, str]
    title: str | None = None
    """The header line, e.g. ``Linux/x86 6.1.192 Kernel Configuration``."""

    def get(self, name: str) -> str | None:
        """The value of ``name``; ``None`` when the configuration does not mention it."""
        return self.values.get(name)


def parse(text: str, source: str) -> KernelConfig:
    """Parse configuration ``text``; ``source`` names it in errors (a path)."""
    values: dict[str, str] = {}
    title: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if match := _SET.fullmatch(line):
            values[match.group(1)] = match.group(2)
        elif match := _NOT_SET.fullmatch(line):
            values[match.group(1)] = NOT_SET
        elif line.startswith("#"):
            if title is None and (match := _TITLE.fullmatch(line)):
                title = match.group(1)
        else:
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise ConfigError(
                f"{source}, line {number}: {shown!r} is not a kernel configuration line "
                "(expected CONFIG_NAME=value or '# CONFIG_NAME is not set'); "
                "is this the kernel's .config file?"
            )
    if not values:
        raise ConfigError(
            f"{source}: no CONFIG_ lines: this is not a kernel configuration "
            "(expected the kernel's .config, /proc/config.gz or /boot/config-RELEASE)"
        )
    return KernelConfig(values=values, title=title)
