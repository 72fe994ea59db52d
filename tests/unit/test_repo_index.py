"""Packages stanzas, pool paths, Release files and deterministic compression: exact bytes."""

import gzip
import hashlib
import lzma
import string

import pytest
from debian.deb822 import Deb822, Release
from hypothesis import given
from hypothesis import strategies as st

from homeguy.repo import compress
from homeguy.repo.config import Suite, parse_config
from homeguy.repo.packages import (
    PackageError,
    make_record,
    packages_index,
    pool_path,
)
from homeguy.repo.release import IndexFile, render_release, rfc2822

pytestmark = pytest.mark.unit

CONTROL = """\
Package: hg-hello
Version: 1:1.0-1
Architecture: amd64
Maintainer: T <t@homeguy.invalid>
Installed-Size: 12
Source: hg-src (1.0-0)
Depends: libc6 (>= 2.36)
Description: say hello
 Longer text.
 .
 Second paragraph.
"""

STANZA = """\
Package: hg-hello
Version: 1:1.0-1
Architecture: amd64
Maintainer: T <t@homeguy.invalid>
Installed-Size: 12
Source: hg-src (1.0-0)
Depends: libc6 (>= 2.36)
Filename: pool/main/h/hg-src/hg-hello_1.0-1_amd64.deb
Size: 1234
MD5sum: 0123456789abcdef0123456789abcdef
SHA256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
Description: say hello
 Longer text.
 .
 Second paragraph.
"""

MD5 = "0123456789abcdef0123456789abcdef"
SHA = "a" * 64


def test_stanza_adds_the_pool_fields_before_description() -> None:
    record = make_record(CONTROL, "in/x.deb", "main", 1234, MD5, SHA)
    assert record.stanza == STANZA
    assert record.identity == ("hg-hello", "1:1.0-1", "amd64")
    assert record.pool == "pool/main/h/hg-src/hg-hello_1.0-1_amd64.deb"
    assert record.describe() == "hg-hello 1:1.0-1 (amd64)"


def test_stanza_without_description_ends_with_the_pool_fields() -> None:
    record = make_record("Package: a1\nVersion: 2\nArchitecture: all\n", "x", "main", 1,
                         MD5, SHA)
    assert record.stanza == (
        "Package: a1\nVersion: 2\nArchitecture: all\n"
        f"Filename: pool/main/a/a1/a1_2_all.deb\nSize: 1\nMD5sum: {MD5}\nSHA256: {SHA}\n"
    )


@pytest.mark.parametrize(("source", "name", "version", "path"), [
    ("hello", "hello", "2.10-3", "pool/main/h/hello/hello_2.10-3_amd64.deb"),
    ("libfoo", "libfoo1", "1:0.5", "pool/main/libf/libfoo/libfoo1_0.5_amd64.deb"),
    ("lib", "lib", "1", "pool/main/l/lib/lib_1_amd64.deb"),
    ("0ad", "0ad-data", "0.1", "pool/main/0/0ad/0ad-data_0.1_amd64.deb"),
])
def test_pool_layout(source: str, name: str, version: str, path: str) -> None:
    assert pool_path("main", source, name, version, "amd64") == path


@pytest.mark.parametrize(("control", "message"), [
    ("Package: a1\nArchitecture: all\n",
     "in/x.deb: control file has no Version field; rebuild the package with it"),
    ("Package: ../x\nVersion: 1\nArchitecture: all\n",
     "in/x.deb: Package: '../x' is not a valid Debian package name; rebuild the package"),
    ("Package: a1\nVersion: 1/2\nArchitecture: all\n",
     "in/x.deb: Version: '1/2' is not a valid Debian version; rebuild the package"),
    ("Package: a1\nVersion: 1\nArchitecture: all\nSource: A/B\n",
     "in/x.deb: Source: 'A/B' is not a valid source package name; rebuild the package"),
    ("", "in/x.deb: control file has 0 paragraphs, expected 1; rebuild the package"),
])
def test_bad_control_data_is_refused(control: str, message: str) -> None:
    with pytest.raises(PackageError) as error:
        make_record(control, "in/x.deb", "main", 1, MD5, SHA)
    assert str(error.value) == message


def test_index_orders_by_name_then_debian_version() -> None:
    records = [make_record(f"Package: {n}\nVersion: {v}\nArchitecture: all\n", "x", "main", 1,
                           MD5, f"{i:064x}")
               for i, (n, v) in enumerate([("bb", "1"), ("aa", "1.10"), ("aa", "1.9"),
                                           ("aa", "1.10~rc1"), ("aa", "1:0.1")])]
    index = packages_index(records).decode()
    order = [(p["Package"], p["Version"]) for p in Deb822.iter_paragraphs(index)]
    assert order == [("aa", "1.9"), ("aa", "1.10~rc1"), ("aa", "1.10"), ("aa", "1:0.1"),
                     ("bb", "1")]
    assert "\n\nPackage: aa\nVersion: 1.10~rc1\n" in index
    assert packages_index([]) == b""


FIELD_VALUE = st.text(alphabet=string.ascii_letters + string.digits + " .,()<>=|-+:~",
                      min_size=1, max_size=40).map(str.strip).filter(bool)


@given(st.dictionaries(st.sampled_from(["Depends", "Section", "Priority", "Homepage",
                                        "Maintainer", "Provides"]), FIELD_VALUE),
       st.lists(FIELD_VALUE, max_size=4))
def test_stanza_parses_back_to_the_control_data(fields: dict[str, str], body: list[str]) -> None:
    control = "Package: pkg\nVersion: 1.0\nArchitecture: all\n"
    control += "".join(f"{k}: {v}\n" for k, v in fields.items())
    control += "Description: short\n" + "".join(f" {line}\n" for line in body)
    record = make_record(control, "x", "main", 7, MD5, SHA)
    parsed = Deb822(record.stanza)
    original = Deb822(control)
    assert {k: parsed[k] for k in original} == dict(original)
    assert (parsed["Filename"], parsed["Size"], parsed["MD5sum"], parsed["SHA256"]) == (
        "pool/main/p/pkg/pkg_1.0_all.deb", "7", MD5, SHA)


def test_rfc2822_dates_use_english_names_and_utc() -> None:
    assert rfc2822(0) == "Thu, 01 Jan 1970 00:00:00 UTC"
    assert rfc2822(1700000000) == "Tue, 14 Nov 2023 22:13:20 UTC"


CONFIG = parse_config("""
[repository]
origin = "Homeguy"
label = "Homeguy"
description = "All of it"
architectures = ["amd64", "all"]
valid_for = "7d"

[[suite]]
name = "bookworm"
""", "test.toml")

RELEASE = "".join(line + "\n" for line in [
    "Origin: Homeguy",
    "Label: Homeguy",
    "Suite: bookworm",
    "Codename: bookworm",
    "Date: Tue, 14 Nov 2023 22:13:20 UTC",
    "Valid-Until: Tue, 21 Nov 2023 22:13:20 UTC",
    "Acquire-By-Hash: yes",
    "No-Support-for-Architecture-all: Packages",
    "Architectures: amd64 all",
    "Components: main",
    "Description: All of it",
    "SHA256:",
    " e3b0c44298fc1c149afbf4c8996fb92"
    "427ae41e4649b934ca495991b7852b855                0 main/binary-all/Packages",
    " ba7816bf8f01cfea414140de5dae222"
    "3b00361a396177a9cb410ff61f20015ad                3 main/binary-amd64/Packages",
    "SHA512:",
    " cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9c"
    "e47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    "                0 main/binary-all/Packages",
    " ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39"
    "a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    "                3 main/binary-amd64/Packages",
])


def test_release_exact_bytes() -> None:
    files = [IndexFile.of("main/binary-amd64/Packages", b"abc"),
             IndexFile.of("main/binary-all/Packages", b"")]
    text = render_release(CONFIG, CONFIG.suites[0], 1700000000, files).decode()
    assert text == RELEASE
    parsed = Release(text)
    assert [f["name"] for f in parsed["SHA512"]] == ["main/binary-all/Packages",
                                                     "main/binary-amd64/Packages"]


def test_release_without_date_or_valid_until() -> None:
    suite = Suite("trixie", "trixie", "")
    no_valid_for = parse_config('[repository]\norigin = "O"\nlabel = "L"\narchitectures = '
                                '["amd64"]\n[[suite]]\nname = "trixie"\n', "t.toml")
    text = render_release(no_valid_for, suite, None, []).decode()
    assert text == ("Origin: O\nLabel: L\nSuite: trixie\nCodename: trixie\n"
                    "Acquire-By-Hash: yes\nArchitectures: amd64\nComponents: main\n"
                    "SHA256:\nSHA512:\n")


def test_gzip_header_has_no_name_and_no_time() -> None:
    data = b"Package: x\n" * 100
    packed = compress.gz(data)
    assert packed[:3] == b"\x1f\x8b\x08"
    assert packed[3] & 0x08 == 0  # FNAME
    assert packed[4:8] == b"\0\0\0\0"  # MTIME
    assert gzip.decompress(packed) == data


@given(st.binary(max_size=4096))
def test_compression_is_deterministic_and_lossless(data: bytes) -> None:
    assert compress.gz(data) == compress.gz(bytes(data))
    assert compress.xz(data) == compress.xz(bytes(data))
    assert gzip.decompress(compress.gz(data)) == data
    assert lzma.decompress(compress.xz(data)) == data


def test_variants_are_plain_gz_xz() -> None:
    forms = compress.variants("d/Packages", [b"ab", b"c"])
    assert [name for name, _ in forms] == ["d/Packages", "d/Packages.gz", "d/Packages.xz"]
    assert forms[1][1] == compress.gz(b"ab") + compress.gz(b"c")  # two gzip members
    xz = forms[2][1]  # one xz stream of two blocks
    assert xz.count(compress.XZ_MAGIC) == 1
    assert xz.count(compress.xz_block_header(1)) == 2
    assert gzip.decompress(forms[1][1]) == lzma.decompress(xz) == b"abc"


def test_xz_container_exact_bytes() -> None:
    """Stream header, one block of 'abc' (raw LZMA2 from liblzma), index, footer."""
    packed = compress.lzma2(b"abc")
    assert packed == bytes.fromhex("01000261626300")  # LZMA2: one uncompressed chunk, end
    assert compress.xz_stream([(b"abc", packed)]).hex() == (
        "fd377a585a00" "0001" "6922de36"  # magic, flags (CRC32 check), their CRC32
        "0200210100000000" "372797d6"  # block header: size, flags, LZMA2 dict 4 KiB; CRC32
        "01000261626300" "00" "c2412435"  # LZMA2 data, padding to 4, CRC32 of 'abc'
        "00011703" "07600cbc"  # index: one record (unpadded size 23, size 3); CRC32
        "9042990d" "01000000" "0001" "595a"  # footer: CRC32, backward size, flags, magic
    )
    assert lzma.decompress(compress.xz_stream([(b"", b"")])) == b""


def test_xz_dictionary_fits_the_block() -> None:
    sizes = [compress.dictionary_size(n) for n in (0, 4096, 4097, 100_000, 1 << 30)]
    assert sizes == [4096, 4096, 8192, 131072, 8 << 20]
    big = b"".join(b"Package: p%06d\n" % n for n in range(200_000))
    assert lzma.decompress(compress.xz(big)) == big


def entries(count: int, salt: str = "") -> list[tuple[str, str]]:
    return [(hashlib.sha256(f"{salt}{n}".encode()).hexdigest(), f"Package: p{n:04d}\n")
            for n in range(count)]


def test_chunks_concatenate_to_the_index() -> None:
    stanzas = entries(500)
    pieces = compress.chunks(stanzas)
    assert b"".join(pieces) == "\n".join(s for _, s in stanzas).encode()
    assert 5 < len(pieces) < 40  # about one stanza in 32 ends a chunk
    assert compress.chunks([]) == [b""]
    assert compress.chunks(entries(1)) == [b"Package: p0000\n"]


def test_adding_a_package_changes_one_chunk() -> None:
    stanzas = entries(500)
    before = compress.chunks(stanzas)
    added = sorted([*stanzas, (hashlib.sha256(b"new").hexdigest(), "Package: p0100a\n")],
                   key=lambda e: e[1])
    after = compress.chunks(added)
    assert len(set(after) - set(before)) <= 2  # the chunk it lands in (split in two at most)
