"""Binary packages as the repository sees them: control data in, Packages stanzas out.

Pure. The control file is parsed and the stanza written with python-debian (Deb822);
pool paths follow Debian's layout (pool/<component>/<prefix>/<source>/<file>.deb).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from debian.deb822 import Deb822
from debian.debian_support import Version

from homeguy.repo.compress import chunks

# Fields the repository adds to each package's control data in the Packages index, in this
# order, just before Description (where dpkg-scanpackages and dak put them).
REPOSITORY_FIELDS: tuple[str, ...] = ("Filename", "Size", "MD5sum", "SHA256")
REQUIRED_FIELDS: tuple[str, ...] = ("Package", "Version", "Architecture")
# Debian policy 5.6.1 (package names) and 5.6.12 (versions): what may reach a pool path.
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9.+-]+")
VERSION = re.compile(r"(?:[0-9]+:)?[A-Za-z0-9][A-Za-z0-9.+~-]*")
ARCHITECTURE = re.compile(r"[a-z0-9][a-z0-9-]*")
FIELD_SYNTAX: dict[str, tuple[re.Pattern[str], str]] = {
    "Package": (PACKAGE_NAME, "package name"),
    "Version": (VERSION, "version"),
    "Architecture": (ARCHITECTURE, "architecture"),
}


class PackageError(ValueError):
    """A .deb cannot be published; str() names the file and what to do."""


@dataclass(frozen=True)
class PackageRecord:
    """One published .deb: its identity, where it lives in the pool, and its stanza.

    This is the control-data cache: kept in the publisher's state by the .deb's SHA256,
    so a .deb is opened once, however often it is published.
    """

    sha256: str
    name: str
    version: str
    architecture: str
    pool: str  # path in the repository, e.g. pool/main/h/hello/hello_1.0-1_amd64.deb
    stanza: str  # the Packages stanza, ending with a newline

    @cached_property
    def debian_version(self) -> Version:
        return Version(self.version)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.architecture)

    def describe(self) -> str:
        return f"{self.name} {self.version} ({self.architecture})"


def source_name(control: Deb822) -> str:
    """The source package: `Source: name (version)` or, when absent, the binary's name."""
    source = control.get("Source", "").split()
    return source[0] if source else str(control["Package"])


def pool_path(component: str, source: str, name: str, version: str, architecture: str) -> str:
    """Debian's pool layout; `lib*` sources get a four-letter prefix, the epoch is dropped."""
    prefix = source[:4] if source.startswith("lib") and len(source) > 3 else source[:1]
    upstream = version.split(":", 1)[-1]
    return f"pool/{component}/{prefix}/{source}/{name}_{upstream}_{architecture}.deb"


def parse_control(control_text: str, origin: str) -> Deb822:
    """The control paragraph of a .deb, checked for what a pool path and an index need."""
    paragraphs = list(Deb822.iter_paragraphs(control_text))
    if len(paragraphs) != 1:
        raise PackageError(f"{origin}: control file has {len(paragraphs)} paragraphs, "
                           "expected 1; rebuild the package")
    control = paragraphs[0]
    for field in REQUIRED_FIELDS:
        if not control.get(field, "").strip():
            raise PackageError(f"{origin}: control file has no {field} field; rebuild the "
                               "package with it")
    for field, (pattern, what) in FIELD_SYNTAX.items():
        if not pattern.fullmatch(control[field]):
            raise PackageError(f"{origin}: {field}: {control[field]!r} is not a valid Debian "
                               f"{what}; rebuild the package")
    if not PACKAGE_NAME.fullmatch(source_name(control)):
        raise PackageError(f"{origin}: Source: {control['Source']!r} is not a valid source "
                           "package name; rebuild the package")
    return control


def render_stanza(control: Deb822, filename: str, size: int, md5: str, sha256: str) -> str:
    """The Packages stanza: the control fields in their order, with the repository's
    fields (REPOSITORY_FIELDS) before Description."""
    added = dict(zip(REPOSITORY_FIELDS, (filename, str(size), md5, sha256), strict=True))
    stanza = Deb822()
    for field in control:
        if field in added:
            continue  # a .deb's control data never carries these; the pool's values win
        if field == "Description":
            stanza.update(added)
        stanza[field] = control[field]
    if "Filename" not in stanza:
        stanza.update(added)
    text = stanza.dump()
    assert text is not None
    return text


def make_record(
    control_text: str, origin: str, component: str, size: int, md5: str, sha256: str
) -> PackageRecord:
    """The record of a .deb from its control file text and file hashes."""
    control = parse_control(control_text, origin)
    name, version, architecture = (control[f] for f in REQUIRED_FIELDS)
    pool = pool_path(component, source_name(control), name, version, architecture)
    return PackageRecord(
        sha256=sha256,
        name=name,
        version=version,
        architecture=architecture,
        pool=pool,
        stanza=render_stanza(control, pool, size, md5, sha256),
    )


def index_order(record: PackageRecord) -> tuple[str, Version, str]:
    """Packages indices list packages by name, then version, then architecture."""
    return (record.name, record.debian_version, record.architecture)


def index_entries(records: list[PackageRecord]) -> list[tuple[str, str]]:
    """(.deb SHA256, stanza) of each package of an index, in `index_order`."""
    return [(r.sha256, r.stanza) for r in sorted(records, key=index_order)]


def packages_index(records: list[PackageRecord]) -> bytes:
    """The Packages index: stanzas separated by blank lines, in `index_order`."""
    return b"".join(chunks(index_entries(records)))
