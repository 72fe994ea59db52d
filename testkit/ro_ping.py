"""Ping the way the reference Mobile IPv6 stack talks between a home agent and a
registered node (lab tests): route-optimised, not through the tunnel.

    ro_ping.py hao SRC HOME DST [COUNT]   echo requests from SRC (a care-of address) to DST
                                          (the home agent) with a Home Address option
                                          naming HOME, as a mobile node answers its home
                                          agent (RFC 6275 section 11.3.4)
    ro_ping.py rh2 SRC COA HOME [COUNT]   echo requests from SRC (the home agent) to COA
                                          with a type 2 routing header naming HOME, as a
                                          home agent reaches a registered node (section 9.3.2)

The packets are built whole (a raw IPPROTO_RAW socket) so that the ICMPv6 checksum
covers the home address, as the receiver checks it once the option or header is
processed. Prints ``replies N/COUNT`` for the echo replies that came back, whichever way
they came (to HOME through the tunnel, or from HOME to the home agent).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time
from ipaddress import IPv6Address

from mip6d.wire.checksum import pseudo_header_checksum
from mip6d.wire.exthdr import home_address_option, type2_routing_header

ICMPV6 = 58
ECHO_REQUEST, ECHO_REPLY = 128, 129
NEXT_HEADER = {"hao": 60, "rh2": 43}  # Destination Options, Routing


def echo_request(identifier: int, sequence: int, src: IPv6Address, final: IPv6Address
                 ) -> bytes:
    """An ICMPv6 echo request whose checksum is the one ``final`` checks from ``src``."""
    body = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, identifier, sequence) + b"homeguy-ro"
    checksum = pseudo_header_checksum(src, final, ICMPV6, body)
    return body[:2] + struct.pack("!H", checksum) + body[4:]


def packet(kind: str, first: IPv6Address, second: IPv6Address, dst: IPv6Address,
           identifier: int, sequence: int) -> tuple[bytes, IPv6Address]:
    """The whole IPv6 packet and the address it is sent to."""
    if kind == "hao":  # first: care-of address, second: home address, dst: home agent
        icmp = echo_request(identifier, sequence, second, dst)
        header = home_address_option(second, ICMPV6)
        src, wire_dst = first, dst
    else:  # first: home agent, second: care-of address, dst: home address
        icmp = echo_request(identifier, sequence, first, dst)
        header = type2_routing_header(dst, ICMPV6)
        src, wire_dst = first, second
    payload = header + icmp
    ipv6 = struct.pack("!IHBB16s16s", 6 << 28, len(payload), NEXT_HEADER[kind], 64,
                       src.packed, wire_dst.packed)
    return ipv6 + payload, wire_dst


def main(argv: list[str]) -> int:
    kind = argv[0]
    first, second, third = (IPv6Address(a) for a in argv[1:4])
    count = int(argv[4]) if len(argv) > 4 else 3
    identifier = os.getpid() & 0xFFFF
    sender = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    listener = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    replies: set[int] = set()
    for sequence in range(1, count + 1):
        data, to = packet(kind, first, second, third, identifier, sequence)
        sender.sendto(data, (str(to), 0))
        deadline = time.monotonic() + 1.0
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([listener], [], [], left)[0]:
                break
            reply = listener.recv(2048)
            kind_, _, _, ident, seq = struct.unpack("!BBHHH", reply[:8])
            if kind_ == ECHO_REPLY and ident == identifier:
                replies.add(seq)
    print(f"replies {len(replies)}/{count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
