"""XFRM_MSG_MIGRATE with XFRMA_KMADDRESS (RFC 4877 section 6; Linux ``<linux/xfrm.h>``).

How a mobility daemon tells the keying daemon that its IKE endpoint moved: it asks the
kernel to migrate the IPsec SAs named by ``XFRMA_MIGRATE`` entries, and the kernel
passes the request on, with the ``XFRMA_KMADDRESS`` of the new IKE endpoints, to every
listener of the ``XFRMNLGRP_MIGRATE`` group (strongSwan's kernel-netlink plugin: its
migrate job moves the IKE SA that holds the CHILD_SA with the last entry's reqid to the
KMADDRESS, without a new IKE_SA_INIT). iproute2 has no command for it.

Layout (host byte order, as the kernel's structures are; sizes checked against the C
headers: selector 56, userpolicy_id 64, user_migrate 76, user_kmaddress 40)::

    nlmsghdr (16) | xfrm_userpolicy_id (64) | rtattr XFRMA_MIGRATE: N x xfrm_user_migrate
                                            | rtattr XFRMA_KMADDRESS: xfrm_user_kmaddress

The kernel looks the policy up by the ``xfrm_userpolicy_id`` selector and direction
(``xfrm_migrate_policy_find``): with protocol ``IPSEC_ULPROTO_ANY`` (255) only family,
addresses and prefix lengths must match (any other value, 0 included, compares the
whole selector), so :func:`migrate_message` puts 255 there and finds the Mobility
Header policy of the home address (measured: with 0 the kernel answers ENOENT). The
policy must hold a template with each entry's protocol, mode and reqid, or the kernel
answers ENODATA; an entry whose SA does not exist (not negotiated yet) is skipped, and
the message is still announced.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address

from mip6d.wire.errors import DecodeError

__all__ = [
    "NETLINK_XFRM",
    "XFRM_MSG_MIGRATE",
    "KmAddress",
    "MigrateEntry",
    "PolicyDir",
    "XfrmMode",
    "decode_ack",
    "migrate_message",
]

NETLINK_XFRM = 6
XFRM_MSG_MIGRATE = 0x21
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
XFRMA_MIGRATE = 17
XFRMA_KMADDRESS = 19
IPPROTO_ESP = 50
IPSEC_ULPROTO_ANY = 255

_NLMSGHDR = struct.Struct("=IHHII")
# daddr, saddr, dport, dport_mask, sport, sport_mask, family, prefixlen_d, prefixlen_s,
# proto, 3 bytes padding, ifindex, user
_SELECTOR = struct.Struct("=16s16sHHHHHBBB3xiI")
# selector, index, dir, 3 bytes padding
_USERPOLICY_ID = struct.Struct(f"={_SELECTOR.size}sIB3x")
_MIGRATE = struct.Struct("=16s16s16s16sBBHIHH")
_KMADDRESS = struct.Struct("=16s16sIH2x")
_RTATTR = struct.Struct("=HH")


class PolicyDir(IntEnum):
    """XFRM policy directions (``XFRM_POLICY_IN``, ``_OUT``, ``_FWD``)."""

    IN = 0
    OUT = 1
    FWD = 2


class XfrmMode(IntEnum):
    TRANSPORT = 0
    TUNNEL = 1


@dataclass(frozen=True, slots=True)
class MigrateEntry:
    """One SA to move: old (src, dst) to new (src, dst), by protocol, mode and reqid."""

    old_src: IPv6Address
    old_dst: IPv6Address
    new_src: IPv6Address
    new_dst: IPv6Address
    reqid: int
    proto: int = IPPROTO_ESP
    mode: XfrmMode = XfrmMode.TRANSPORT

    def encode(self) -> bytes:
        return _MIGRATE.pack(self.old_dst.packed, self.old_src.packed, self.new_dst.packed,
                             self.new_src.packed, self.proto, int(self.mode), 0, self.reqid,
                             socket.AF_INET6, socket.AF_INET6)


@dataclass(frozen=True, slots=True)
class KmAddress:
    """The keying daemon's new endpoints: this node's (``local``) and its peer's."""

    local: IPv6Address
    remote: IPv6Address

    def encode(self) -> bytes:
        return _KMADDRESS.pack(self.local.packed, self.remote.packed, 0, socket.AF_INET6)


def _align(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _attr(kind: int, payload: bytes) -> bytes:
    return _align(_RTATTR.pack(_RTATTR.size + len(payload), kind) + payload)


def migrate_message(src: IPv6Address, dst: IPv6Address, direction: PolicyDir,
                    entries: tuple[MigrateEntry, ...], kmaddress: KmAddress | None,
                    sequence: int = 1) -> bytes:
    """The whole netlink message: migrate ``entries`` under the policy ``src`` -> ``dst``
    (host addresses, any protocol) in ``direction``, announcing ``kmaddress``."""
    if not entries:
        raise ValueError("XFRM_MSG_MIGRATE needs at least one XFRMA_MIGRATE entry")
    selector = _SELECTOR.pack(dst.packed, src.packed, 0, 0, 0, 0, socket.AF_INET6,
                              128, 128, IPSEC_ULPROTO_ANY, 0, 0)
    body = _USERPOLICY_ID.pack(selector, 0, int(direction))
    body += _attr(XFRMA_MIGRATE, b"".join(e.encode() for e in entries))
    if kmaddress is not None:
        body += _attr(XFRMA_KMADDRESS, kmaddress.encode())
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), XFRM_MSG_MIGRATE,
                            NLM_F_REQUEST | NLM_F_ACK, sequence, 0)
    return header + body


def decode_ack(data: bytes, sequence: int) -> int:
    """The kernel's answer to request ``sequence``: 0 or a positive errno.
    :class:`DecodeError` if ``data`` is not a netlink error message for it."""
    if len(data) < _NLMSGHDR.size + 4:
        raise DecodeError(f"netlink answer of {len(data)} bytes, expected at least 20", 0)
    length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(data)
    if kind != NLMSG_ERROR or length > len(data):
        raise DecodeError(f"netlink message type {kind}, length {length}: expected an "
                          f"NLMSG_ERROR of at most {len(data)} bytes", 4)
    if seq != sequence:
        raise DecodeError(f"netlink answer for sequence {seq}, expected {sequence}", 8)
    error: int = struct.unpack_from("=i", data, _NLMSGHDR.size)[0]
    return -error
