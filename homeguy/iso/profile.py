"""Profiles (profiles/*.toml): one table, PROFILE_KEYS, drives the parser and its docs."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from homeguy.git import TOP
from homeguy.iso import IsoError

PROFILES = TOP / "profiles"


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    kind: type
    required: bool
    doc: str


# One table drives the profile parser and its documentation.
PROFILE_KEYS: tuple[Key, ...] = (
    Key("profile", "name", str, True, "the profile's name: the file name without .toml"),
    Key("profile", "description", str, True, "one line, shown nowhere but here"),
    Key("profile", "hostname", str, True, "host name of the live system"),
    Key("profile", "role", str, True, "mobile-host, mobile-router or home-agent"),
    Key("packages", "debian", list, True, "packages from the Debian mirror"),
    Key("packages", "homeguy", list, True, "packages from Homeguy's signed repository"),
    Key("services", "enable", list, False, "systemd units enabled in the image"),
    Key("services", "disable", list, False, "systemd units disabled in the image"),
    Key("defaults", "bootappend", str, True, "kernel command line of the live boot entry"),
    Key("defaults", "locale", str, False, "locale of the live system"),
    Key("defaults", "enroll_timeout", int, False, "seconds the enrollment keeps trying"),
)
ROLES = ("mobile-host", "mobile-router", "home-agent")
NAME = re.compile(r"[a-z0-9][a-z0-9.+-]*")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    hostname: str
    role: str
    debian_packages: tuple[str, ...]
    homeguy_packages: tuple[str, ...]
    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    bootappend: str = ""
    locale: str = "C.UTF-8"
    enroll_timeout: int = 90


def parse_profile(text: str, origin: str) -> Profile:
    """A profile's TOML -> Profile; IsoError names the file, the key and what is expected."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise IsoError(f"{origin}: not valid TOML: {error}") from None
    known = {(k.section, k.name) for k in PROFILE_KEYS}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise IsoError(f"{origin}: [{section}] must be a table")
        for name in table:
            if (section, name) not in known:
                raise IsoError(f"{origin}: unknown key {section}.{name}; the keys are "
                               + ", ".join(f"{k.section}.{k.name}" for k in PROFILE_KEYS))
    values: dict[str, Any] = {}
    for key in PROFILE_KEYS:
        table = data.get(key.section, {})
        if key.name not in table:
            if key.required:
                raise IsoError(f"{origin}: missing {key.section}.{key.name} ({key.doc})")
            continue
        value: Any = table[key.name]
        if not isinstance(value, key.kind) or isinstance(value, bool):
            raise IsoError(f"{origin}: {key.section}.{key.name} must be a "
                           f"{key.kind.__name__}, not {type(value).__name__}")
        if isinstance(value, list):
            bad = [v for v in value if not isinstance(v, str) or not NAME.fullmatch(v)]
            if bad:
                raise IsoError(f"{origin}: {key.section}.{key.name}: {bad} are not "
                               "package or unit names")
            value = tuple(value)
        values[key.name] = value
    if values["role"] not in ROLES:
        raise IsoError(f"{origin}: profile.role {values['role']!r} is not one of {ROLES}")
    return Profile(
        name=values["name"], description=values["description"],
        hostname=values["hostname"], role=values["role"],
        debian_packages=values["debian"], homeguy_packages=values["homeguy"],
        enable=values.get("enable", ()), disable=values.get("disable", ()),
        bootappend=values["bootappend"], locale=values.get("locale", "C.UTF-8"),
        enroll_timeout=values.get("enroll_timeout", 90),
    )


def profile_names() -> list[str]:
    return sorted(path.stem for path in PROFILES.glob("*.toml"))


def load_profile(name: str) -> Profile:
    path = PROFILES / f"{name}.toml"
    if not path.is_file():
        raise IsoError(f"no profile {name!r}: {path} does not exist; the profiles are "
                       + ", ".join(profile_names()))
    profile = parse_profile(path.read_text(), str(path.relative_to(TOP)))
    if profile.name != name:
        raise IsoError(f"{path}: profile.name is {profile.name!r}, expected {name!r}")
    return profile
