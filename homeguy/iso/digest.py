"""What a built image is made of, as one digest: an image with the same digest is reused
(pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from debian.deb822 import Packages

from homeguy.iso.lbconfig import (
    ARCH,
    XORRISO_OPTIONS,
    BuildInputs,
    ConfigFile,
    lb_config_args,
)


def closure(packages_text: str, roots: tuple[str, ...]) -> dict[str, str]:
    """Name -> Packages stanza for the roots and what they depend on in this index."""
    stanzas = {p["Package"]: p for p in Packages.iter_paragraphs(packages_text, use_apt_pkg=False)}
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in stanzas:
            continue
        stanza = stanzas[name]
        seen[name] = f"{name} {stanza['Version']} {stanza.get('SHA256', '')}"
        relations: dict[str, list[list[dict[str, Any]]]] = stanza.relations
        for relation in relations["depends"] + relations["pre-depends"]:
            todo.extend(alt["name"] for alt in relation)
    return seen


def inputs_digest(inputs: BuildInputs, config: Mapping[str, ConfigFile],
                  homeguy_packages: Mapping[str, str],
                  scripts: Mapping[str, bytes] | None = None) -> str:
    """What the image is made of: lb and xorriso options, rendered files, Homeguy package
    versions, the wrappers that run live-build."""
    digest = hashlib.sha256()
    options = lb_config_args(inputs)
    digest.update(json.dumps([options, inputs.source_date_epoch]).encode())
    digest.update(json.dumps(XORRISO_OPTIONS).encode())
    for path, content in sorted((scripts or {}).items()):
        digest.update(path.encode() + b"\0" + content + b"\0")
    for path in sorted(config):
        digest.update(path.encode() + b"\0" + config[path].content
                      + f"\0{config[path].mode:o}\0".encode())
    for name in sorted(homeguy_packages):
        digest.update(homeguy_packages[name].encode() + b"\n")
    return digest.hexdigest()


def iso_name(profile: str, version: str) -> str:
    return f"homeguy-{profile}-{version}-{ARCH}.hybrid.iso"
