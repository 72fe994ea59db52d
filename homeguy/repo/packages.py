"""Packages as the repository sees them: a .deb's control data in, a Packages stanza out;
a source package's .dsc in, a Sources stanza out (DebianRepository/Format, "Sources
Indices").

Pure. Control files and .dsc files are parsed and stanzas written with python-debian
(Deb822); pool paths follow Debian's layout (pool/<component>/<prefix>/<source>/<file>).
A source package is a record with the architecture `source` (as in a .changes file), so
retention, conflicts and operations treat it like a binary package.
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
# The architecture of a source package's record and the name of its index directory.
SOURCE = "source"
# Fields a .dsc must carry for apt to fetch and check its files.
DSC_FIELDS: tuple[str, ...] = ("Source", "Version", "Files", "Checksums-Sha256")
# .dsc checksum lists the Sources stanza carries, each with the .dsc's own line added
# (python-debian's Dsc names its hash keys after them: md5sum, sha256).
DSC_LISTS: tuple[tuple[str, str], ...] = (("Files", "md5sum"), ("Checksums-Sha256", "sha256"))
# Weaker or unknown lists are left out: apt checks the strongest one it knows.
DSC_DROPPED: tuple[str, ...] = ("Checksums-Sha1",)
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
    stanza: str  # the Packages (or Sources) stanza, ending with a newline
    # A source package's other files (tarballs): (pool path, SHA256), beside its .dsc.
    files: tuple[tuple[str, str], ...] = ()

    @cached_property
    def debian_version(self) -> Version:
        return Version(self.version)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.architecture)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every pool file of the package: the .deb, or the .dsc and its tarballs."""
        return (self.pool, *(path for path, _ in self.files))

    def describe(self) -> str:
        return f"{self.name} {self.version} ({self.architecture})"


def source_name(control: Deb822) -> str:
    """The source package: `Source: name (version)` or, when absent, the binary's name."""
    source = control.get("Source", "").split()
    return source[0] if source else str(control["Package"])


def pool_directory(component: str, source: str) -> str:
    """Debian's pool layout; `lib*` sources get a four-letter prefix."""
    prefix = source[:4] if source.startswith("lib") and len(source) > 3 else source[:1]
    return f"pool/{component}/{prefix}/{source}"


def without_epoch(version: str) -> str:
    return version.split(":", 1)[-1]


def pool_path(component: str, source: str, name: str, version: str, architecture: str) -> str:
    """A .deb's pool path; file names drop the epoch."""
    return (f"{pool_directory(component, source)}/{name}_{without_epoch(version)}_"
            f"{architecture}.deb")


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


def parse_dsc(dsc_text: str, origin: str) -> Deb822:
    """A .dsc (signed or not), checked for what a pool path and a Sources stanza need."""
    try:
        dsc = Deb822(dsc_text)
    except ValueError as exc:
        raise PackageError(f"{origin}: not a readable .dsc ({exc}); rebuild the source "
                           "package") from None
    for field in DSC_FIELDS:
        if not dsc.get(field, "").strip():
            raise PackageError(f"{origin}: .dsc has no {field} field; rebuild the source "
                               "package")
    for field, pattern, what in (("Source", PACKAGE_NAME, "source package name"),
                                 ("Version", VERSION, "version")):
        if not pattern.fullmatch(dsc[field]):
            raise PackageError(f"{origin}: {field}: {dsc[field]!r} is not a valid Debian "
                               f"{what}; rebuild the source package")
    for name, *_ in dsc_files(dsc):
        if "/" in name or name.startswith("."):
            raise PackageError(f"{origin}: lists the file {name!r}, which is not a plain "
                               "file name; rebuild the source package")
    return dsc


def dsc_files(dsc: Deb822) -> list[tuple[str, int, str, str]]:
    """(name, size, md5, sha256) of each file a .dsc lists besides itself."""
    md5 = {line.split()[2]: line.split()[0] for line in dsc["Files"].strip().splitlines()}
    files = []
    for line in dsc["Checksums-Sha256"].strip().splitlines():
        sha256, size, name = line.split()
        files.append((name, int(size), md5.get(name, ""), sha256))
    return files


def dsc_name(source: str, version: str) -> str:
    return f"{source}_{without_epoch(version)}.dsc"


def render_source_stanza(dsc: Deb822, directory: str, size: int, md5: str,
                         sha256: str) -> str:
    """The Sources stanza: the .dsc's fields with Source renamed Package (first), the .dsc
    itself added to its checksum lists, and Directory, as dpkg-scansources writes it."""
    own = {"md5sum": md5, "sha256": sha256}
    name = dsc_name(dsc["Source"], dsc["Version"])
    stanza = Deb822()
    stanza["Package"] = dsc["Source"]
    for field in dsc:
        if field == "Source" or field in DSC_DROPPED:
            continue
        value = dsc[field]
        for listed, key in DSC_LISTS:
            if field == listed:
                value = f"\n {own[key]} {size} {name}" + value.rstrip("\n")
        stanza[field] = value
    stanza["Directory"] = directory
    text = stanza.dump()
    assert text is not None
    return text


def make_source_record(
    dsc_text: str, origin: str, component: str, size: int, md5: str, sha256: str
) -> PackageRecord:
    """The record of a source package from its .dsc text and the .dsc's hashes."""
    dsc = parse_dsc(dsc_text, origin)
    directory = pool_directory(component, dsc["Source"])
    return PackageRecord(
        sha256=sha256,
        name=dsc["Source"],
        version=dsc["Version"],
        architecture=SOURCE,
        pool=f"{directory}/{dsc_name(dsc['Source'], dsc['Version'])}",
        stanza=render_source_stanza(dsc, directory, size, md5, sha256),
        files=tuple((f"{directory}/{name}", file_sha256)
                    for name, _, _, file_sha256 in dsc_files(dsc)),
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
