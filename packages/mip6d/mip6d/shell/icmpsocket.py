"""The ICMPv6 socket of Mobile IPv6's own messages: Home Agent Address Discovery (RFC
6275 sections 6.5, 6.6), Mobile Prefix Discovery (6.7, 6.8) and, on a home agent, the
Router Advertisements of the home link that fill its Home Agents List (section 10.1)
and its list of home prefixes (10.6.1). The decisions are the core's
(:mod:`mip6d.core.dhaad`, :mod:`mip6d.core.prefixdisc`, :mod:`mip6d.core.bul`); this is
the socket side.

Linux specifics:

* One raw ICMPv6 socket, filtered (``ICMP6_FILTER``) to the types the role handles.
* Sending: the message is encoded with its checksum over ``src`` and ``dst``
  (:func:`mip6d.wire.icmp6.encode`); the kernel recomputes it for ICMPv6 raw sockets
  and gets the same value. The source address goes in ``IPV6_PKTINFO`` with interface
  0: the routing table picks the way out, and the address is one the node holds (the
  mobile node's care-of address, the home agent's address on the home link).
* A type 2 routing header (and a Home Address option) go out as ancillary data, the way
  the Mobility Header socket sends them (:func:`mip6d.shell.mhsocket.addressing`). The
  kernel computes an ICMPv6 raw socket's checksum itself (it refuses ``IPV6_CHECKSUM``)
  over the source and the final destination: right with a routing header, wrong with a
  Home Address option given this way (the pseudo-header must hold the home address),
  so a mobile node's solicitation leaves from the home address and an XFRM ``hao``
  state adds the option (:func:`mip6d.core.ipsec.solicitation_policy`).
* Receiving a message with a Home Address option (``IPV6_RECVDSTOPTS``), the kernel has
  swapped the addresses already (its checksum check used the home address):
  :meth:`IcmpSocket.read` swaps them back, so that a :class:`ReceivedIcmp` holds the
  addresses as they were on the wire.
* The Home-Agents anycast address (RFC 2526) is joined with ``IPV6_JOIN_ANYCAST`` on the
  home link's interface. The kernel (net/ipv6/anycast.c, ``ipv6_sock_ac_join``) wants
  CAP_NET_ADMIN, refuses a multicast address or one assigned as unicast (EINVAL), and,
  on an interface that does not forward (a host), an address outside the interface's
  prefixes (EADDRNOTAVAIL); a home agent forwards. The membership belongs to the socket:
  it ends when the socket closes, so a daemon that stops no longer answers at the
  anycast address (the other home agents of the link do).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address

from mip6d.core.effects import SendIcmp
from mip6d.shell.mhsocket import addressing
from mip6d.shell.ndisc import _icmp6_socket, _receive_with_hao
from mip6d.wire import icmp6, nd
from mip6d.wire.errors import DecodeError, EncodeError

__all__ = ["IPV6_JOIN_ANYCAST", "IcmpSocket", "ReceivedIcmp", "encode_send"]

IPV6_JOIN_ANYCAST = 27  # <linux/in6.h>


def _interface_name(index: int) -> str | None:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class ReceivedIcmp:
    """A valid message of :mod:`mip6d.wire.icmp6` from ``src`` to ``dst`` on
    ``ifname``; ``home_address`` the address of its Home Address option (``src`` is
    then the care-of address), ``None`` without one. Router Advertisements are passed
    only with hop limit 255 from a link-local source (RFC 4861 section 6.1.2)."""

    ifname: str
    src: IPv6Address
    dst: IPv6Address
    msg: icmp6.ICMPv6Message
    home_address: IPv6Address | None = None


def encode_send(effect: SendIcmp) -> tuple[bytes, list[tuple[int, int, bytes]], IPv6Address]:
    """``(packet, ancillary data, destination for sendmsg)`` for ``effect``;
    :class:`EncodeError` for a field out of range."""
    way = addressing(effect.src, effect.dst, effect.home_address_option,
                     effect.routing_header)
    return (icmp6.encode(effect.msg, way.checksum_src, way.checksum_dst), way.ancillary,
            way.destination)


class IcmpSocket:
    """A raw ICMPv6 socket for ``types`` (:class:`mip6d.wire.icmp6.ICMPv6Type` values);
    ``names`` maps an interface index to its name (the kernel's, by default)."""

    def __init__(self, types: Iterable[int],
                 names: Callable[[int], str | None] | None = None) -> None:
        self.names = names or _interface_name
        self.sock = _icmp6_socket(*types)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVDSTOPTS, 1)
        self.malformed = 0
        """Messages of the filtered types that could not be decoded, or failed the
        checks of RFC 4861 section 6.1.2."""

    def fileno(self) -> int:
        return self.sock.fileno()

    def join_anycast(self, address: IPv6Address, ifname: str) -> None:
        """Receive what is sent to ``address`` on ``ifname``; ``OSError`` if the kernel
        refuses (see the module's text)."""
        request = address.packed + struct.pack("=I", socket.if_nametoindex(ifname))
        self.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_JOIN_ANYCAST, request)

    def send(self, effect: SendIcmp) -> None:
        """Send ``effect.msg``; ``OSError`` (``EncodeError`` is one) if it cannot
        leave."""
        try:
            data, ancillary, destination = encode_send(effect)
        except EncodeError as error:
            raise OSError(str(error)) from None
        self.sock.sendmsg([data], ancillary, 0, (str(destination), 0, 0, 0))

    def read(self) -> list[ReceivedIcmp]:
        out: list[ReceivedIcmp] = []
        for _ in range(64):
            try:
                packet = _receive_with_hao(self.sock)
            except DecodeError:  # a malformed destination options header
                self.malformed += 1
                continue
            if packet is None:
                break
            data, src, dst, ifindex, hops, care_of = packet
            name = self.names(ifindex)
            if name is None:
                continue
            try:
                msg = icmp6.decode(data, src, dst)  # src: the home address, if swapped
            except DecodeError:
                self.malformed += 1
                continue
            if isinstance(msg, icmp6.RouterAdvertisement) and (
                    hops != nd.HOP_LIMIT or not src.is_link_local):
                self.malformed += 1
                continue
            if care_of is not None:  # the kernel's swap undone
                out.append(ReceivedIcmp(name, care_of, dst, msg, home_address=src))
            else:
                out.append(ReceivedIcmp(name, src, dst, msg))
        return out

    def close(self) -> None:
        self.sock.close()
