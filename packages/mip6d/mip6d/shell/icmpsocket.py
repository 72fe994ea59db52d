"""The ICMPv6 socket of Mobile IPv6's own messages: Home Agent Address Discovery (RFC
6275 sections 6.5, 6.6) and, on a home agent, the Router Advertisements of the home
link that fill its Home Agents List (section 10.1). The decisions are the core's
(:mod:`mip6d.core.dhaad`, :mod:`mip6d.core.bul`); this is the socket side.

Linux specifics:

* One raw ICMPv6 socket, filtered (``ICMP6_FILTER``) to the types the role handles.
* Sending: the message is encoded with its checksum over ``src`` and ``dst``
  (:func:`mip6d.wire.icmp6.encode`); the kernel recomputes it for ICMPv6 raw sockets
  and gets the same value. The source address goes in ``IPV6_PKTINFO`` with interface
  0: the routing table picks the way out, and the address is one the node holds (the
  mobile node's care-of address, the home agent's address on the home link).
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
from mip6d.shell.ndisc import _icmp6_socket, _receive
from mip6d.wire import icmp6, nd
from mip6d.wire.errors import DecodeError, EncodeError

__all__ = ["IPV6_JOIN_ANYCAST", "IcmpSocket", "ReceivedIcmp"]

IPV6_JOIN_ANYCAST = 27  # <linux/in6.h>


def _interface_name(index: int) -> str | None:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class ReceivedIcmp:
    """A valid message of :mod:`mip6d.wire.icmp6` from ``src`` to ``dst`` on
    ``ifname``. Router Advertisements are passed only with hop limit 255 from a
    link-local source (RFC 4861 section 6.1.2)."""

    ifname: str
    src: IPv6Address
    dst: IPv6Address
    msg: icmp6.ICMPv6Message


class IcmpSocket:
    """A raw ICMPv6 socket for ``types`` (:class:`mip6d.wire.icmp6.ICMPv6Type` values);
    ``names`` maps an interface index to its name (the kernel's, by default)."""

    def __init__(self, types: Iterable[int],
                 names: Callable[[int], str | None] | None = None) -> None:
        self.names = names or _interface_name
        self.sock = _icmp6_socket(*types)
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
            data = icmp6.encode(effect.msg, effect.src, effect.dst)
        except EncodeError as error:
            raise OSError(str(error)) from None
        info = effect.src.packed + struct.pack("=I", 0)
        self.sock.sendmsg([data], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)],
                          0, (str(effect.dst), 0, 0, 0))

    def read(self) -> list[ReceivedIcmp]:
        out: list[ReceivedIcmp] = []
        for _ in range(64):
            packet = _receive(self.sock)
            if packet is None:
                break
            data, src, dst, ifindex, hops = packet
            name = self.names(ifindex)
            if name is None:
                continue
            try:
                msg = icmp6.decode(data, src, dst)
            except DecodeError:
                self.malformed += 1
                continue
            if isinstance(msg, icmp6.RouterAdvertisement) and (
                    hops != nd.HOP_LIMIT or not src.is_link_local):
                self.malformed += 1
                continue
            out.append(ReceivedIcmp(name, src, dst, msg))
        return out

    def close(self) -> None:
        self.sock.close()
