"""The answer to a Mobility Header request that no role of this daemon serves.

A node answers a message it does not implement with a Binding Error, status 2
("unrecognized MH Type value", RFC 6275 section 9.2): a correspondent node without route
optimisation answers the return routability tests and Binding Updates of a mobile node
that tries it, which then stops trying (section 11.3.6). Replies (Binding
Acknowledgement, Binding Error, Home and Care-of Test, Binding Refresh Request) are
never answered: nobody waits for an answer to them, and two nodes would otherwise
answer each other's errors for ever.

Binding Errors are rate-limited like ICMPv6 errors (RFC 6275 section 9.3.3, RFC 4443
section 2.4 f): one per destination per :data:`INTERVAL`, so that a flood of requests
does not turn the node into an amplifier.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from mip6d.core.effects import SendMessage
from mip6d.wire import mh

__all__ = ["ANSWERED", "INTERVAL", "BindingErrors"]

ANSWERED = (mh.HomeTestInit, mh.CareOfTestInit, mh.BindingUpdate, mh.UnknownMessage)
"""The requests a node answers when it does not serve them."""

INTERVAL = 1.0
"""Seconds between two Binding Errors to one destination (Linux's ICMPv6 rate)."""

_REMEMBERED = 1024
"""Destinations remembered before the ones past their interval are forgotten."""

UNSPECIFIED = IPv6Address("::")


class BindingErrors:
    """Which unserved requests get a Binding Error, and when the next one may leave."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._last: dict[IPv6Address, float] = {}

    def answer(self, msg: mh.Message, src: IPv6Address, dst: IPv6Address,
               home_address: IPv6Address | None, now: float) -> SendMessage | None:
        """The Binding Error for ``msg`` (from ``src`` to ``dst``, with a Home Address
        option naming ``home_address`` when there was one), ``None`` when it gets none:
        a reply, or one error too many to ``src``.

        The error goes to the packet's source, never through a binding (there is
        none), and names the home address the sender gave, else the unspecified address
        (RFC 6275 section 6.1.9)."""
        if not isinstance(msg, ANSWERED):
            return None
        last = self._last.get(src)
        if last is not None and now - last < self.interval:
            return None
        if len(self._last) >= _REMEMBERED:
            self._last = {a: t for a, t in self._last.items() if now - t < self.interval}
        self._last[src] = now
        error = mh.BindingError(mh.BEStatus.UNRECOGNIZED_MH_TYPE, home_address or UNSPECIFIED)
        return SendMessage(error, dst, src)
