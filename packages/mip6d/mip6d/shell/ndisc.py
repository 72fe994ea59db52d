"""Neighbor Discovery sockets of the daemon: Duplicate Address Detection of home
addresses on a home agent's home link, and Router Advertisements for a mobile node's
movement detection. The decisions are pure (:mod:`mip6d.wire.nd`,
:func:`mip6d.shell.adapters.router_advertisement_events`); this is the socket side.

Why DAD from our own sockets rather than adding the home address (tentative) to the
home interface and watching for ``dadfailed``: the kernel runs DAD only where
``accept_dad`` is on (routers and the lab turn it off), waits a random 0..1 s
(``rtr_solicit_delay``) before its first probe, and once DAD succeeds the home agent
owns the home address for a moment (it would answer for it and send MLD reports),
which is wrong on a link where the mobile node may come back. The daemon sends the
probe itself: a Neighbor Solicitation from ``::`` (so with its own IPv6 header, on an
``IPPROTO_RAW`` socket, multicast loopback off), and listens on a raw ICMPv6 socket
filtered to NS and NA, joined to the solicited-node group so that a node running DAD
for the same address at the same time is seen too (RFC 4862 section 5.4.3).

Timing follows the home interface's own settings, like the kernel's DAD:
DupAddrDetectTransmits is ``net.ipv6.conf.IF.dad_transmits`` (default 1; 0 skips DAD)
and RetransTimer ``net.ipv6.neigh.IF.retrans_time_ms`` (default 1000 ms): a first
registration waits transmits x RetransTimer, 1 s by default (RFC 4862 section 5.4).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path

from mip6d.wire import exthdr, icmp6, nd
from mip6d.wire.errors import DecodeError

__all__ = ["DadProber", "DadResult", "RaListener", "ReceivedRa", "interface_dad_timing"]

ICMP6_FILTER = 1  # <netinet/icmp6.h>, level IPPROTO_ICMPV6
IPV6_HDRINCL = 36  # <linux/in6.h>
_ANCILLARY = 256
_PROC = Path("/proc/sys/net/ipv6")


def icmp6_filter(*passed: int) -> bytes:
    """The ``ICMP6_FILTER`` value that blocks every type but ``passed`` (a bit set means
    blocked, RFC 3542 section 3.2)."""
    words = [0xFFFFFFFF] * 8
    for kind in passed:
        words[kind >> 5] &= ~(1 << (kind & 31))
    return struct.pack("=8I", *words)


def _read_int(path: Path, default: int) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def interface_dad_timing(ifname: str, proc: Path = _PROC) -> tuple[int, float]:
    """``(DupAddrDetectTransmits, RetransTimer seconds)`` of ``ifname``."""
    transmits = _read_int(proc / "conf" / ifname / "dad_transmits", 1)
    retrans = _read_int(proc / "neigh" / ifname / "retrans_time_ms", 1000)
    return max(0, transmits), max(10, retrans) / 1000


def _icmp6_socket(*types: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, icmp6_filter(*types))
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    sock.setblocking(False)
    return sock


def _receive(sock: socket.socket) -> tuple[bytes, IPv6Address, IPv6Address, int, int] | None:
    """``(data, src, dst, ifindex, hop limit)`` of the next packet, ``None`` if none."""
    packet = _receive_with_hao(sock)
    return None if packet is None else packet[:5]


def _receive_with_hao(sock: socket.socket
                      ) -> tuple[bytes, IPv6Address, IPv6Address, int, int,
                                 IPv6Address | None] | None:
    """:func:`_receive` and the address of the packet's Home Address option as the
    kernel reports it (``IPV6_RECVDSTOPTS``; after its swap, the care-of address), or
    ``None``. :class:`DecodeError` for a malformed destination options header."""
    try:
        data, ancillary, _flags, address = sock.recvmsg(65535, _ANCILLARY)
    except BlockingIOError:
        return None
    dst, ifindex, hops, hao = IPv6Address("::"), 0, -1, None
    for level, kind, value in ancillary:
        if level != socket.IPPROTO_IPV6:
            continue
        if kind == socket.IPV6_PKTINFO and len(value) >= 20:
            dst = IPv6Address(value[:16])
            ifindex = struct.unpack("=I", value[16:20])[0]
        elif kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
            hops = struct.unpack("=i", value[:4])[0]
        elif kind == socket.IPV6_DSTOPTS:
            hao = next((o.address for o in exthdr.decode_destination_options(value).options
                        if isinstance(o, exthdr.HomeAddressOption)), hao)
    src = IPv6Address(str(address[0]).split("%")[0])
    return data, src, dst, ifindex, hops, hao


@dataclass(frozen=True, slots=True)
class DadResult:
    """DAD of a home address is over: ``unique`` or not (and which address was seen);
    ``ran`` false when it could not run and the address is taken as unique."""

    home_address: IPv6Address
    unique: bool
    seen: IPv6Address | None = None
    ran: bool = True


@dataclass
class _Probe:
    home_address: IPv6Address
    addresses: frozenset[IPv6Address]
    ifname: str
    ifindex: int
    left: int  # solicitations still to send
    retrans: float
    next_at: float  # next solicitation, or the verdict when none is left
    groups: list[IPv6Address] = field(default_factory=list)


class DadProber:
    """Duplicate Address Detection runs, several at a time, driven by the daemon's loop:
    :meth:`start`, then :meth:`read` when :meth:`fileno` is readable and :meth:`due`
    at :meth:`next_deadline`; each returns the runs that finished."""

    def __init__(self, timing: Callable[[str], tuple[int, float]] = interface_dad_timing
                 ) -> None:
        self.timing = timing
        self.listen = _icmp6_socket(nd.NdType.NEIGHBOR_SOLICITATION,
                                    nd.NdType.NEIGHBOR_ADVERTISEMENT)
        self.send = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.send.setsockopt(socket.IPPROTO_IPV6, IPV6_HDRINCL, 1)
        # Our own probe must not come back to us as "another node's DAD".
        self.send.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        self.send.setblocking(False)
        self.probes: dict[IPv6Address, _Probe] = {}
        self.malformed = 0
        self._members: Counter[tuple[IPv6Address, int]] = Counter()

    def fileno(self) -> int:
        return self.listen.fileno()

    def start(self, home_address: IPv6Address, addresses: tuple[IPv6Address, ...],
              ifname: str, now: float) -> list[DadResult]:
        """Probe ``addresses`` (the home address, and its link-local one with the L
        flag) on ``ifname``. ``OSError`` if the interface cannot be used."""
        self._finish(home_address)
        transmits, retrans = self.timing(ifname)
        if transmits == 0:
            return [DadResult(home_address, True)]
        ifindex = socket.if_nametoindex(ifname)
        probe = _Probe(home_address, frozenset(addresses), ifname, ifindex, transmits,
                       retrans, now)
        self.probes[home_address] = probe
        try:
            for address in addresses:
                group = nd.solicited_node(address)
                if self._members[(group, ifindex)] == 0:
                    self.listen.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                                           group.packed + struct.pack("=I", ifindex))
                self._members[(group, ifindex)] += 1
                probe.groups.append(group)
        except OSError:
            self._finish(home_address)
            raise
        return self.due(now)

    def next_deadline(self) -> float | None:
        return min((p.next_at for p in self.probes.values()), default=None)

    def due(self, now: float) -> list[DadResult]:
        """Send the solicitations that are due; the runs whose last wait is over found
        no one else: unique."""
        done: list[DadResult] = []
        for probe in list(self.probes.values()):
            if probe.next_at > now:
                continue
            if probe.left == 0:
                self._finish(probe.home_address)
                done.append(DadResult(probe.home_address, True))
                continue
            for address in sorted(probe.addresses):
                packet, dst = nd.dad_probe(address)
                # A probe that cannot leave (buffer full, link down) is a lost probe:
                # DAD cannot do better than the link allows.
                with contextlib.suppress(OSError):
                    self.send.sendto(packet, (str(dst), 0, 0, probe.ifindex))
            probe.left -= 1
            probe.next_at = now + probe.retrans
        return done

    def read(self, now: float) -> list[DadResult]:
        """Read what arrived: a conflict ends its run with ``unique`` false."""
        done: list[DadResult] = []
        for _ in range(64):
            packet = _receive(self.listen)
            if packet is None:
                break
            data, src, dst, ifindex, hops = packet
            if hops != nd.HOP_LIMIT:
                continue
            try:
                message = nd.decode_neighbor_message(data, src, dst)
            except DecodeError:
                self.malformed += 1
                continue
            for probe in list(self.probes.values()):
                if probe.ifindex == ifindex and nd.is_duplicate(message, src, probe.addresses):
                    self._finish(probe.home_address)
                    done.append(DadResult(probe.home_address, False, message.target))
        return done

    def _finish(self, home_address: IPv6Address) -> None:
        probe = self.probes.pop(home_address, None)
        if probe is None:
            return
        for group in probe.groups:
            key = (group, probe.ifindex)
            self._members[key] -= 1
            if self._members[key] <= 0:
                del self._members[key]
                with contextlib.suppress(OSError):
                    self.listen.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP,
                                           group.packed + struct.pack("=I", probe.ifindex))

    def close(self) -> None:
        self.listen.close()
        self.send.close()


@dataclass(frozen=True, slots=True)
class ReceivedRa:
    """A valid Router Advertisement from ``src`` (link-local) on interface ``ifname``."""

    ifname: str
    src: IPv6Address
    ra: icmp6.RouterAdvertisement


class RaListener:
    """Router Advertisements on every interface (raw ICMPv6 socket, type 134 only); the
    checks of RFC 4861 section 6.1.2 (hop limit 255, link-local source, valid message)
    are done here, the meaning is :func:`mip6d.shell.adapters.router_advertisement_events`'."""

    def __init__(self, names: Callable[[int], str | None]) -> None:
        self.names = names
        self.sock = _icmp6_socket(icmp6.ICMPv6Type.ROUTER_ADVERTISEMENT)
        self.dropped = 0
        """Advertisements that fail the checks of RFC 4861 section 6.1.2."""
        self.malformed = 0
        """Of those, the ones that could not be decoded."""

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[ReceivedRa]:
        out: list[ReceivedRa] = []
        for _ in range(64):
            packet = _receive(self.sock)
            if packet is None:
                break
            data, src, dst, ifindex, hops = packet
            name = self.names(ifindex)
            if hops != nd.HOP_LIMIT or not src.is_link_local or name is None:
                self.dropped += 1
                continue
            try:
                ra = icmp6.decode_router_advertisement(data, src, dst)
            except DecodeError:
                self.dropped += 1
                self.malformed += 1
                continue
            out.append(ReceivedRa(name, src, ra))
        return out

    def close(self) -> None:
        self.sock.close()
