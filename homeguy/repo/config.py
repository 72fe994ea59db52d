"""The repository's configuration (repo/repo.toml): one SETTINGS table drives the parser,
the checks and the documentation in repo/README.md.

Pure: `parse_config` takes the TOML text and the file name it came from; `load_config`
reads the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from homeguy.git import TOP

# The configuration is data, kept apart from the code in the tree's repo/ folder.
DEFAULT_CONFIG = TOP / "repo" / "repo.toml"

# Durations are written as a number and one unit: "90s", "30m", "12h", "7d".
DURATION_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION = re.compile(r"(\d+)([smhd])")
# Names that end up in paths and in Release fields (Debian policy 5.6.1, 5.6.8).
NAME = re.compile(r"[a-z0-9][a-z0-9.+-]*")
SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]*")
KEY_UID = re.compile(r"[^<>]+ <[^<>@\s]+@[^<>@\s]+>")


class ConfigError(ValueError):
    """The configuration file is wrong; str() names the file, the key and what to do."""


class Kind(StrEnum):
    TEXT = "text"
    WORDS = "list of names"
    COUNT = "whole number >= 1"
    DURATION = "duration (90s, 30m, 12h, 7d)"
    OPTIONAL_DURATION = "duration (90s, 30m, 12h, 7d) or \"\" for none"
    PATH = "absolute path"


@dataclass(frozen=True)
class Setting:
    table: str  # "repository" or "suite"
    key: str
    kind: Kind
    default: Any  # None: required
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting("repository", "origin", Kind.TEXT, None, "Release `Origin` (apt pinning matches it)"),
    Setting("repository", "label", Kind.TEXT, None, "Release `Label`"),
    Setting("repository", "description", Kind.TEXT, "", "default Release `Description`"),
    Setting("repository", "components", Kind.WORDS, ("main",), "components of every suite"),
    Setting("repository", "default_component", Kind.TEXT, "main",
            "component a package goes to unless `--component` says otherwise"),
    Setting("repository", "architectures", Kind.WORDS, ("amd64", "all"),
            "architectures of every suite; `all` adds `binary-all` indices (Architecture: all "
            "packages are listed in every `binary-<arch>` index as well, as Debian does)"),
    Setting("repository", "keep_versions", Kind.COUNT, 3,
            "versions of one package (name and architecture) kept in a suite; older "
            "versions leave the indices"),
    Setting("repository", "keep_superseded", Kind.DURATION, "1d",
            "how long index files and pool files stay reachable (by-hash) after they stop "
            "being current, for clients in the middle of an update; by time, not count"),
    Setting("repository", "valid_for", Kind.OPTIONAL_DURATION, "",
            "`Valid-Until` = `Date` + this; the repository must be republished before then"),
    Setting("repository", "signing_home", Kind.PATH, "/var/lib/homeguy/repo-signing",
            "GnuPG home of the signing key, created on first use; outside the repository"),
    Setting("repository", "key_valid_for", Kind.OPTIONAL_DURATION, "",
            "a signing key created by the publisher expires this long after its creation "
            "(\"\" never); a publish warns once a key expires before the Valid-Until it "
            "writes: rotate it then (`homeguy repo key rotate`)"),
    Setting("repository", "key_uid", Kind.TEXT,
            "Homeguy archive signing key <archive@homeguy.invalid>",
            "user id of the signing key created on first use: `Name <email>`"),
    Setting("repository", "keyring_name", Kind.TEXT, "homeguy-archive-keyring",
            "the public key is exported as `<out>/NAME.asc` (armored) and `<out>/NAME.gpg`"),
    Setting("repository", "url", Kind.TEXT, "http://localhost/homeguy/",
            "where clients reach the published repository: the URIs of the apt source that "
            "the homeguy-archive-keyring package installs"),
    Setting("suite", "name", Kind.TEXT, None, "directory under dists/ and Release `Suite`"),
    Setting("suite", "codename", Kind.TEXT, "", "Release `Codename` (default: the name)"),
    Setting("suite", "description", Kind.TEXT, "",
            "Release `Description` (default: the repository's)"),
)


@dataclass(frozen=True)
class Suite:
    name: str
    codename: str
    description: str


@dataclass(frozen=True)
class RepoConfig:
    origin: str
    label: str
    description: str
    components: tuple[str, ...]
    default_component: str
    architectures: tuple[str, ...]
    keep_versions: int
    keep_superseded: int  # seconds
    valid_for: int | None  # seconds
    key_valid_for: int | None  # seconds
    signing_home: Path
    key_uid: str
    keyring_name: str
    url: str
    suites: tuple[Suite, ...]
    config_file: str = "repo.toml"  # where it was read from, for messages

    @property
    def machine_architectures(self) -> tuple[str, ...]:
        """The architectures other than `all`: each has its own binary-<arch> index."""
        return tuple(a for a in self.architectures if a != "all")

    def suite(self, name: str) -> Suite:
        for suite in self.suites:
            if suite.name == name:
                return suite
        raise KeyError(name)


def parse_duration(text: str) -> int:
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(text)
    return int(match.group(1)) * DURATION_UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    for unit, size in sorted(DURATION_UNITS.items(), key=lambda item: -item[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("1s divides everything")


def _convert(kind: Kind, value: Any) -> Any:
    """The value for `kind`, or ValueError."""
    converters: dict[Kind, Callable[[Any], Any]] = {
        Kind.TEXT: _text,
        Kind.WORDS: _words,
        Kind.COUNT: _count,
        Kind.DURATION: lambda v: parse_duration(_text(v)),
        Kind.OPTIONAL_DURATION: lambda v: parse_duration(v) if _text(v).strip() else None,
        Kind.PATH: _path,
    }
    return converters[kind](value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _words(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(value)
    if len(set(value)) != len(value):
        raise ValueError(value)
    return tuple(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(value)
    return value


def _path(value: Any) -> Path:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(value)
    return Path(value)


def _read_table(
    origin: str, where: str, table: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    settings = {s.key: s for s in SETTINGS if s.table == table}
    unknown = sorted(set(data) - set(settings))
    if unknown:
        raise ConfigError(
            f"{origin}: {where}: unknown key {unknown[0]!r}; "
            f"known keys: {', '.join(settings)} (see repo/README.md)"
        )
    values: dict[str, Any] = {}
    for key, setting in settings.items():
        if key not in data:
            if setting.default is None:
                raise ConfigError(f"{origin}: {where}: {key} is missing; add {key} = ...")
            raw = setting.default
            raw = list(raw) if isinstance(raw, tuple) else raw
        else:
            raw = data[key]
        try:
            values[key] = _convert(setting.kind, raw)
        except ValueError:
            raise ConfigError(
                f"{origin}: {where}: {key} = {raw!r} is not valid; "
                f"expected: {setting.kind.value}"
            ) from None
    return values


def _check_names(origin: str, key: str, names: tuple[str, ...], pattern: re.Pattern[str]) -> None:
    for name in names:
        if not pattern.fullmatch(name):
            raise ConfigError(
                f"{origin}: [repository] {key}: {name!r} is not a valid name "
                f"(lower-case letters, digits, '.', '+', '-')"
            )


def parse_config(text: str, origin: str) -> RepoConfig:
    """The configuration in `text` (TOML), read from `origin` (named in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"repository", "suite"})
    if unknown:
        raise ConfigError(f"{origin}: unknown table [{unknown[0]}]; expected [repository] "
                          "and [[suite]]")
    repository = data.get("repository")
    if not isinstance(repository, dict):
        raise ConfigError(f"{origin}: no [repository] table; add one (see repo/README.md)")
    values = _read_table(origin, "[repository]", "repository", repository)
    _check_names(origin, "components", values["components"], NAME)
    _check_names(origin, "architectures", values["architectures"], NAME)
    if values["default_component"] not in values["components"]:
        raise ConfigError(
            f"{origin}: [repository] default_component = {values['default_component']!r} is "
            f"not one of components = {list(values['components'])}"
        )
    if not [a for a in values["architectures"] if a != "all"]:
        raise ConfigError(f"{origin}: [repository] architectures: name at least one machine "
                          "architecture besides 'all' (for example 'amd64')")
    if not KEY_UID.fullmatch(values["key_uid"]):
        raise ConfigError(f"{origin}: [repository] key_uid = {values['key_uid']!r} is not "
                          "'Name <email>'")
    _check_names(origin, "keyring_name", (values["keyring_name"],), NAME)
    suites_data = data.get("suite")
    if not isinstance(suites_data, list) or not suites_data:
        raise ConfigError(f"{origin}: no [[suite]] table; add one per suite, e.g. "
                          "[[suite]] name = \"bookworm\"")
    suites = []
    for number, suite_data in enumerate(suites_data, start=1):
        suite = _read_table(origin, f"[[suite]] #{number}", "suite", suite_data)
        if not SUITE_NAME.fullmatch(suite["name"]):
            raise ConfigError(f"{origin}: [[suite]] #{number}: name = {suite['name']!r} is not "
                              "a valid suite name (letters, digits, '.', '+', '_', '-')")
        suites.append(Suite(
            name=suite["name"],
            codename=suite["codename"] or suite["name"],
            description=suite["description"] or values["description"],
        ))
    names = [s.name for s in suites]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{origin}: suite {duplicate!r} is declared twice")
    return RepoConfig(suites=tuple(suites), config_file=origin, **values)


def load_config(path: Path = DEFAULT_CONFIG) -> RepoConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the repository configuration: "
                          f"{exc.strerror}") from None
    return parse_config(text, str(path))


def settings_reference() -> str:
    """The Markdown table of every setting, as repo/README.md shows it."""
    lines = ["| table | key | kind | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for s in SETTINGS:
        if s.default is None:
            default = "(required)"
        elif isinstance(s.default, tuple):
            default = "`" + repr(list(s.default)).replace("'", '"') + "`"
        elif isinstance(s.default, int):
            default = f"`{s.default}`"
        else:
            default = f'`"{s.default}"`'
        table = "[repository]" if s.table == "repository" else "[[suite]]"
        lines.append(f"| {table} | `{s.key}` | {s.kind.value} | {default} | {s.doc} |")
    return "\n".join(lines) + "\n"
