"""The Mobility Header socket: a raw IPv6 socket for protocol 135 (RFC 6275 section 6.1).

Linux specifics (measured in the kernel lab):

* ``IPV6_CHECKSUM`` is -1: the checksum is ours (:func:`mip6d.wire.mh.encode`), since the
  kernel would compute it over the care-of address while the pseudo-header must hold
  the home address (section 6.1.1).
* Sending with a Home Address option: ``IPV6_DSTOPTS`` ancillary data with the option,
  ``IPV6_PKTINFO`` source = the care-of address.
* Sending with a type 2 routing header (RFC 3542 semantics): the destination is the
  home address and the header lists the care-of address as the hop; the kernel puts the
  care-of address in the IPv6 destination and the home address in the header.
* Receiving a Binding Update with a Home Address option, the kernel has swapped the
  addresses already: the peer address is the home address and the option in the
  ``IPV6_DSTOPTS`` ancillary data holds the care-of address. :func:`parse_received`
  swaps them back, the one place that does: a :class:`Received` holds the packet's
  addresses as they were on the wire.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv6Address

from mip6d.core.effects import MH_PROTOCOL, SendMessage
from mip6d.wire import exthdr, mh
from mip6d.wire.errors import DecodeError

__all__ = [
    "Addressing", "MalformedPacket", "MhSocket", "Received", "addressing", "encode_send",
    "parse_received",
]

_ANCILLARY = 1024
_MAX_PACKET = 65535


class MalformedPacket(ValueError):
    """A received packet that is not a valid Mobility Header message."""


@dataclass(frozen=True, slots=True)
class Received:
    """One received message, with the addresses as the sender wrote them: ``src`` the
    packet's source (a mobile node's care-of address when it sent a Home Address
    option), ``home_address`` the address in that option (``None`` without one),
    ``dst`` the final destination (the home address a type 2 routing header named, when
    there was one) and ``routing_header`` that header's address."""

    msg: mh.Message
    src: IPv6Address
    dst: IPv6Address
    home_address: IPv6Address | None = None
    routing_header: IPv6Address | None = None


def parse_received(
    data: bytes, peer: IPv6Address, ancillary: list[tuple[int, int, bytes]]
) -> Received:
    """Decode what ``recvmsg`` returned from ``peer``; :class:`MalformedPacket` on
    anything wrong."""
    dst: IPv6Address | None = None
    hao: IPv6Address | None = None  # as the kernel reports it: the care-of address
    rthdr: IPv6Address | None = None
    try:
        for level, kind, value in ancillary:
            if level != socket.IPPROTO_IPV6:
                continue
            if kind == socket.IPV6_PKTINFO and len(value) >= 16:
                dst = IPv6Address(value[:16])
            elif kind == socket.IPV6_DSTOPTS:
                header = exthdr.decode_destination_options(value)
                for option in header.options:
                    if isinstance(option, exthdr.HomeAddressOption):
                        hao = option.address
            elif kind == socket.IPV6_RTHDR:
                rthdr = exthdr.decode_type2_routing_header(value).home_address
    except DecodeError as error:
        raise MalformedPacket(f"extension header: {error}") from None
    if dst is None:
        raise MalformedPacket("no IPV6_PKTINFO: destination address unknown")
    # The checksum covers the home address (the peer after the kernel's swap) and the
    # final destination; try the routing header's address too should the kernel report
    # the care-of address as destination.
    candidates = [dst] + ([rthdr] if rthdr is not None and rthdr != dst else [])
    reason = ""
    for final in candidates:
        try:
            msg = mh.decode(data, peer, final)
        except DecodeError as exc:
            reason = str(exc)
            continue
        if hao is None:
            return Received(msg, peer, final, None, rthdr)
        return Received(msg, hao, final, peer, rthdr)  # the kernel's swap undone
    raise MalformedPacket(reason)


@dataclass(frozen=True, slots=True)
class Addressing:
    """How a message with a Home Address option and/or a type 2 routing header leaves
    a raw socket: its ``ancillary`` data, the ``destination`` for ``sendmsg``, and the
    pseudo-header's addresses for the checksum (the home address, RFC 6275 sections
    6.3 and 6.4)."""

    ancillary: list[tuple[int, int, bytes]]
    destination: IPv6Address
    checksum_src: IPv6Address
    checksum_dst: IPv6Address


def addressing(src: IPv6Address, dst: IPv6Address,
               home_address_option: IPv6Address | None = None,
               routing_header: IPv6Address | None = None) -> Addressing:
    """The :class:`Addressing` of a message from ``src`` to ``dst`` (the fields of
    :class:`~mip6d.core.effects.SendMessage` and ``SendIcmp``); the one place that
    knows the kernel's RFC 3542 semantics, for both raw sockets."""
    ancillary: list[tuple[int, int, bytes]] = []
    if home_address_option is not None:
        ancillary.append(
            (socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS,
             exthdr.home_address_option(home_address_option))
        )
    destination = dst
    if routing_header is not None:
        # RFC 3542: the header lists the intermediate hop (care-of address); the
        # socket's destination is the final one (home address).
        ancillary.append(
            (socket.IPPROTO_IPV6, socket.IPV6_RTHDR, exthdr.type2_routing_header(dst))
        )
        destination = routing_header
    ancillary.append(
        (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, src.packed + struct.pack("I", 0))
    )
    return Addressing(ancillary, destination, home_address_option or src,
                      routing_header or dst)


def encode_send(effect: SendMessage) -> tuple[bytes, list[tuple[int, int, bytes]], IPv6Address]:
    """``(packet, ancillary data, destination for sendmsg)`` for ``effect``."""
    way = addressing(effect.src, effect.dst, effect.home_address_option,
                     effect.routing_header)
    return (mh.encode(effect.msg, way.checksum_src, way.checksum_dst), way.ancillary,
            way.destination)


class MhSocket:
    """The raw Mobility Header socket (``sock`` may be given for tests)."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, MH_PROTOCOL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, -1)
            for option in (socket.IPV6_RECVPKTINFO, socket.IPV6_RECVDSTOPTS,
                           socket.IPV6_RECVRTHDR):
                sock.setsockopt(socket.IPPROTO_IPV6, option, 1)
            sock.setblocking(False)
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, effect: SendMessage) -> int:
        """Send ``effect``'s message; ``OSError`` if the kernel refused."""
        packet, ancillary, destination = encode_send(effect)
        return self.sock.sendmsg([packet], ancillary, 0, (str(destination), 0))

    def receive(self) -> Received | None:
        """The next message; ``None`` if nothing is waiting; :class:`MalformedPacket`
        for a bad one."""
        try:
            data, ancillary, _flags, address = self.sock.recvmsg(_MAX_PACKET, _ANCILLARY)
        except BlockingIOError:
            return None
        peer = IPv6Address(str(address[0]).split("%")[0])
        return parse_received(data, peer, ancillary)

    def close(self) -> None:
        self.sock.close()
