"""What the loop asks of a role: the home agent's part or the mobile node's.

The loop (:mod:`mip6d.shell.loop`) owns what every role shares (sockets, timers,
effects, IPsec, servers, signals); a part owns its core state machine and its own
inputs, and answers the control protocol's questions about them. A method a role has
no use for keeps the default here.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv6Address
from typing import TYPE_CHECKING, Any

from mip6d.config import Config
from mip6d.core.effects import AddTunnel, CheckDuplicateAddress, TimerKey
from mip6d.shell.icmpsocket import ReceivedIcmp
from mip6d.shell.mhsocket import Received

if TYPE_CHECKING:
    from mip6d.shell.loop import Daemon

__all__ = ["DaemonError", "Part"]


class DaemonError(RuntimeError):
    """The daemon cannot start; the message says why and what to do."""


class Part:
    """The role-specific half of a :class:`~mip6d.shell.loop.Daemon`."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def start(self, now: float) -> None:
        """Set up the kernel and sockets this role needs, then the core's state."""

    def check_reload(self, config: Config) -> Callable[[], None]:
        """Validate ``config`` (raise what :meth:`Daemon.reload` reports); the change
        to carry out once the whole new configuration is known to be good."""
        return lambda: None

    def receive(self, received: Received, now: float) -> bool:
        """Handle a Mobility Header message; ``False``: not one for this role."""
        return False

    def receive_icmp(self, received: ReceivedIcmp, now: float) -> None:
        """Handle a message of the ICMPv6 socket the part opened (``open_icmp``)."""

    def timer_fired(self, key: TimerKey, now: float) -> None:
        """A timer of the core's ran out."""

    def after_turn(self, now: float) -> None:
        """Work due after each turn of the loop (answers that came in, deadlines)."""

    def deadlines(self) -> list[float]:
        """When this part needs the loop back, besides the core's timers."""
        return []

    def protected_tunnels(self) -> list[tuple[IPv6Address, AddTunnel]]:
        """Each binding in force, by home address, with its tunnel (whose endpoints the
        tunnel payload's IPsec follows)."""
        return []

    def check_duplicate_address(self, effect: CheckDuplicateAddress) -> None:
        raise TypeError(f"{type(self).__name__} does not run duplicate address detection")

    def status(self) -> dict[str, Any]:
        return {}

    def counters(self) -> dict[str, int]:
        """Counters this part's sockets keep, by sample key."""
        return {}

    def bindings(self) -> list[dict[str, Any]]:
        return []

    def binding_update_list(self) -> list[dict[str, Any]]:
        return []

    def remove_binding(self, home_address: IPv6Address) -> dict[str, Any]:
        """Drop a binding at an operator's request (runs in the loop)."""
        return {"ok": False, "error": "not a home agent"}

    def shutdown(self, now: float) -> None:
        """Leave cleanly (deregister, save state) before the kernel state goes."""

    def close(self) -> None:
        """Close this part's sockets."""
