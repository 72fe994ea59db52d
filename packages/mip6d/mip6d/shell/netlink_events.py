"""Address and link events from the kernel (rtnetlink multicast groups), for movement
detection (RFC 6275 section 11.5.1).

:class:`NetlinkMonitor` owns a plain rtnetlink socket bound to the IPv6 address and link
groups (pass another for tests), decodes what it reads with pyroute2's rtnetlink
marshal, and turns the messages into :class:`AddressChange` values;
:func:`mip6d.shell.adapters.movement_events` decides what they mean to a mobile node.

Why not pyroute2's ``IPRoute.bind()``: its synchronous API reads the socket into its own
buffer, so a ``select`` on its descriptor can stay silent while an event waits in that
buffer (measured in the lab: an address removal seen about 3 s late, at the next
router advertisement). A socket the daemon reads itself has no such buffer.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv6Interface
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

__all__ = ["IFA_F_DADFAILED", "IFA_F_TENTATIVE", "AddressChange", "NetlinkMonitor"]

IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08
RTMGRP_LINK = 0x1
RTMGRP_IPV6_IFADDR = 0x100


@dataclass(frozen=True, slots=True)
class AddressChange:
    """An IPv6 address appeared (``added``) or went away on ``ifname``."""

    added: bool
    ifname: str
    address: IPv6Interface
    flags: int = 0
    scope: int = 0

    @property
    def usable(self) -> bool:
        """Configured and not tentative (DAD done), not failed."""
        return not self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)


class NetlinkMonitor:
    """Reads rtnetlink notifications; :meth:`dump` gives the current addresses."""

    def __init__(self, sock: socket.socket | None = None, query: Any = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((0, RTMGRP_LINK | RTMGRP_IPV6_IFADDR))
            sock.setblocking(False)
        self.sock = sock
        self.marshal = MarshalRtnl()
        self.query = query if query is not None else IPRoute()
        self.names: dict[int, str] = {}
        for link in self.query.get_links():
            self.names[link["index"]] = str(link.get_attr("IFLA_IFNAME"))

    def fileno(self) -> int:
        return self.sock.fileno()

    def dump(self) -> list[AddressChange]:
        """Every IPv6 address now, as ``added`` changes."""
        changes = []
        for msg in self.query.get_addr(family=socket.AF_INET6):
            change = self._address(msg, added=True)
            if change is not None:
                changes.append(change)
        return changes

    def read(self) -> list[AddressChange | str]:
        """The pending notifications: address changes, and the names of links that
        went down (``"down:IFNAME"``) or up (``"up:IFNAME"``)."""
        out: list[AddressChange | str] = []
        messages: list[Any] = []
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError as error:  # ENOBUFS: events were lost; the next ones count
                out.append(f"overrun:{error}")
                break
            messages.extend(self.marshal.parse(data))
        for msg in messages:
            event = msg.get("event")
            if event in ("RTM_NEWLINK", "RTM_DELLINK"):
                name = msg.get_attr("IFLA_IFNAME")
                if name:
                    self.names[msg["index"]] = str(name)
                    up = bool(msg["flags"] & 0x1) and event == "RTM_NEWLINK"
                    out.append(f"{'up' if up else 'down'}:{name}")
            elif event in ("RTM_NEWADDR", "RTM_DELADDR") and msg.get("family") == socket.AF_INET6:
                change = self._address(msg, added=event == "RTM_NEWADDR")
                if change is not None:
                    out.append(change)
        return out

    def _address(self, msg: Any, added: bool) -> AddressChange | None:
        address = msg.get_attr("IFA_ADDRESS")
        if not address:
            return None
        index = msg["index"]
        name = self.names.get(index)
        if name is None:
            found = self.query.get_links(index)
            name = str(found[0].get_attr("IFLA_IFNAME")) if found else f"if{index}"
            self.names[index] = name
        flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
        return AddressChange(
            added, name, IPv6Interface(f"{address}/{msg['prefixlen']}"), int(flags),
            int(msg["scope"]),
        )

    def close(self) -> None:
        self.sock.close()
        self.query.close()
