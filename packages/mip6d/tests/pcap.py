"""Test helper: build raw IPv6 packets, write and read classic pcap files, run tshark.

The pcap files use LINKTYPE_RAW (101): each record is an IP packet with no link-layer
header, which is what tshark needs to dissect the Mobility Header and ICMPv6 messages
the codecs produce. Format: libpcap "classic" (magic 0xa1b2c3d4, version 2.4).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Iterable, Sequence
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

LINKTYPE_RAW = 101
TSHARK = "/usr/bin/tshark"

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")


def ipv6_packet(
    src: IPv6Address,
    dst: IPv6Address,
    protocol: int,
    payload: bytes,
    extension_headers: Sequence[tuple[int, bytes]] = (),
    hop_limit: int = 64,
) -> bytes:
    """An IPv6 packet: fixed header, then ``extension_headers`` as (next header value
    naming the header, header bytes), then the ``protocol`` payload. Each header's Next
    Header octet is filled in here."""
    chain = [kind for kind, _ in extension_headers] + [protocol]
    body = b"".join(
        bytes((chain[i + 1],)) + header[1:] for i, (_, header) in enumerate(extension_headers)
    )
    body += payload
    fixed = struct.pack("!IHBB", 6 << 28, len(body), chain[0], hop_limit)
    return fixed + src.packed + dst.packed + body


def write_pcap(path: Path, packets: Iterable[bytes], linktype: int = LINKTYPE_RAW) -> None:
    with path.open("wb") as out:
        out.write(_FILE_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for number, packet in enumerate(packets):
            out.write(_RECORD_HEADER.pack(1_700_000_000 + number, 0, len(packet), len(packet)))
            out.write(packet)


def read_pcap(path: Path) -> tuple[int, list[bytes]]:
    """The link type and the packets of a classic little-endian pcap file."""
    data = path.read_bytes()
    magic, _major, _minor, _zone, _sigfigs, _snaplen, linktype = _FILE_HEADER.unpack_from(data)
    assert magic == 0xA1B2C3D4, f"{path}: not a little-endian classic pcap file"
    packets = []
    offset = _FILE_HEADER.size
    while offset < len(data):
        _sec, _usec, caplen, _length = _RECORD_HEADER.unpack_from(data, offset)
        offset += _RECORD_HEADER.size
        packets.append(data[offset : offset + caplen])
        offset += caplen
    return linktype, packets


def tshark_json(path: Path) -> list[dict[str, Any]]:
    """tshark's dissection of every packet of ``path`` (``-T json -x``: duplicate field
    names merged into lists, ``<field>_raw`` entries giving each field's hex bytes):
    one ``_source.layers`` dict per packet.

    A missing tshark fails the test (ARCHITECTURE.md principle 6: no silent skips).
    """
    assert shutil.which(TSHARK), f"{TSHARK} is required (apt-get install tshark)"
    proc = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-T", "json", "-x", "--no-duplicate-keys"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"tshark failed ({proc.returncode}): {proc.stderr}"
    return [packet["_source"]["layers"] for packet in json.loads(proc.stdout)]


def rfc1071_checksum(src: IPv6Address, dst: IPv6Address, next_header: int, data: bytes) -> int:
    """Reference Internet checksum, written as RFC 1071 section 4.1 does it (a loop of
    16-bit additions, then folding the carries), independent of mip6d.wire.checksum.

    Over a packet whose checksum field holds zero it gives the value to write there;
    over a packet as received it gives 0 when the checksum is right.
    """
    pseudo = src.packed + dst.packed + struct.pack("!IxxxB", len(data), next_header)
    buf = pseudo + data + (b"\x00" if len(data) % 2 else b"")
    total = 0
    for i in range(0, len(buf), 2):
        total += (buf[i] << 8) | buf[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def walk(tree: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Every (key, value) pair of a tshark JSON tree, depth first."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield key, value
            yield from walk(value, prefix)
    elif isinstance(tree, list):
        for item in tree:
            yield from walk(item, prefix)


def fields(tree: Any, name: str) -> list[Any]:
    """All values of field ``name`` anywhere in ``tree`` (lists flattened)."""
    found: list[Any] = []
    for key, value in walk(tree):
        if key == name:
            found.extend(value if isinstance(value, list) else [value])
    return found
