"""Deterministic, incremental compression of index files.

Pure. gzip without a file name and with modification time 0 in its header; xz single
threaded with a fixed preset. (Same zlib and liblzma versions assumed: another library
version may compress differently; the uncompressed hashes do not move.)

An index is compressed in chunks whose boundaries depend only on the contents (after a
stanza whose package's SHA256 has CHUNK_MASK's bits all zero, about one stanza in 32),
so the same index always gives the same bytes, and adding a package changes one chunk:
with the compressed chunks of earlier publishes cached by the SHA256 of their text, a
publish compresses about 32 stanzas, not the whole index.

- .gz: one gzip member per chunk, one after the other (RFC 1952 section 2.2), which zlib
  (and so apt) reads as one file.
- .xz: one xz stream with one block per chunk (the .xz file format 1.1.0, sections 2-4:
  what `xz --threads` writes). Not several streams: apt reads only the first stream of a
  .xz file. Each block's raw LZMA2 data is what is cached; the container around it
  (headers, CRC32 checks, index, footer) is put together here.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import struct
import zlib
from collections.abc import Callable, Sequence

GZIP_LEVEL = 9
XZ_PRESET = 6
# LZMA2 dictionary: preset 6's 8 MiB at most, and no larger than the block needs (a power
# of two >= its size, 4 KiB at least): an 8 MiB encoder costs 30 ms to set up per block.
XZ_DICTIONARY_MIN, XZ_DICTIONARY_MAX = 1 << 12, 1 << 23
CHUNK_MASK = 0x1F  # a chunk ends after a stanza whose .deb SHA256 & CHUNK_MASK == 0

XZ_MAGIC = b"\xfd7zXZ\x00"
XZ_FOOTER_MAGIC = b"YZ"
XZ_CHECK_CRC32 = 0x01
XZ_FILTER_LZMA2 = 0x21


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def dictionary_size(length: int) -> int:
    size = XZ_DICTIONARY_MIN
    while size < min(length, XZ_DICTIONARY_MAX):
        size <<= 1
    return size


def lzma2(data: bytes) -> bytes:
    """Raw LZMA2 data of one xz block."""
    filters = [{"id": lzma.FILTER_LZMA2, "preset": XZ_PRESET,
                "dict_size": dictionary_size(len(data))}]
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)


def _crc32(data: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(data))


def _varint(number: int) -> bytes:
    """xz's multibyte integers (format section 1.2): 7 bits a byte, low bits first."""
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _dictionary_property(size: int) -> int:
    for prop in range(41):
        if (2 | (prop & 1)) << (prop // 2 + 11) == size:
            return prop
    raise ValueError(f"{size} is not an LZMA2 dictionary size")


def xz_block_header(length: int) -> bytes:
    """Block header (format 3.1) of a block of `length` bytes: size/4 - 1, flags (one
    filter, no sizes), LZMA2 and its dictionary property, zero padding to 8 bytes, CRC32."""
    prop = _dictionary_property(dictionary_size(length))
    header = bytes([2, 0, XZ_FILTER_LZMA2, 1, prop, 0, 0, 0])
    return header + _crc32(header)


def xz_stream(blocks: Sequence[tuple[bytes, bytes]]) -> bytes:
    """One xz stream of (uncompressed data, raw LZMA2 data) blocks (format sections 2-4)."""
    flags = bytes([0, XZ_CHECK_CRC32])
    out = [XZ_MAGIC, flags, _crc32(flags)]
    records = []
    for data, packed in blocks:
        if not data:
            continue  # an empty index is a stream without blocks
        header = xz_block_header(len(data))
        padding = -(len(header) + len(packed)) % 4
        out += [header, packed, bytes(padding), _crc32(data)]
        records.append(_varint(len(header) + len(packed) + 4) + _varint(len(data)))
    index = b"\0" + _varint(len(records)) + b"".join(records)
    index += bytes(-len(index) % 4)
    index += _crc32(index)
    footer = struct.pack("<I", len(index) // 4 - 1) + flags
    out += [index, _crc32(footer), footer, XZ_FOOTER_MAGIC]
    return b"".join(out)


def xz(data: bytes) -> bytes:
    """A whole .xz file of one block."""
    return xz_stream([(data, lzma2(data))])


# The compressed forms of an index, published and listed in Release beside the plain one:
# suffix -> (what one chunk is turned into and cached, how the file is put together).
FORMATS: dict[str, tuple[Callable[[bytes], bytes],
                         Callable[[Sequence[tuple[bytes, bytes]]], bytes]]] = {
    ".gz": (gz, lambda pieces: b"".join(packed for _, packed in pieces)),
    ".xz": (lzma2, xz_stream),
}
SUFFIXES: tuple[str, ...] = ("", *FORMATS)

# compress(suffix, chunk text) -> the chunk's compressed form; the shell passes a cached one.
Compress = Callable[[str, bytes], bytes]


def compress_uncached(suffix: str, data: bytes) -> bytes:
    return FORMATS[suffix][0](data)


def chunk_key(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def chunks(stanzas: Sequence[tuple[str, str]]) -> list[bytes]:
    """The index text (stanzas separated by blank lines) cut into chunks that concatenate
    to it. `stanzas` are (.deb SHA256, stanza text) in index order. An empty index is one
    empty chunk (an empty .xz file is not an xz file)."""
    if not stanzas:
        return [b""]
    pieces: list[bytes] = []
    current: list[str] = []
    for number, (sha256, stanza) in enumerate(stanzas):
        last = number == len(stanzas) - 1
        current.append(stanza if last else stanza + "\n")
        if last or int(sha256[-8:], 16) & CHUNK_MASK == 0:
            pieces.append("".join(current).encode())
            current = []
    return pieces


def variants(name: str, pieces: Sequence[bytes], compress: Compress = compress_uncached
             ) -> list[tuple[str, bytes]]:
    """(file name, bytes) for each published form of index `name` made of `pieces`."""
    forms = [(name, b"".join(pieces))]
    for suffix, (_, assemble) in FORMATS.items():
        forms.append((name + suffix, assemble([(p, compress(suffix, p)) for p in pieces])))
    return forms
