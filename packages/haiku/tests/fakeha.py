"""A home agent for the tests: mip6d's own control socket server (:func:`mip6d.control.serve`)
in front of a stand-in daemon whose ``reload`` parses the home agent configuration with
mip6d's own parser (``mip6d.config.load``), including every file haiku wrote in nodes.d/.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

from mip6d import control
from mip6d.config import ConfigError, load
from mip6d.core.bcache import Binding
from mip6d.wire.mh import BUFlag

EXAMPLES = Path(__file__).resolve().parents[2] / "mip6d" / "examples"


class StandInDaemon:
    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.reloads: list[dict[str, Any]] = []
        self.config = load(str(config_path))
        self.bindings_list: list[dict[str, Any]] = []
        self.counter_values: dict[str, int] = {"bu_received": 0, "ba_sent": 0}

    def status(self) -> dict[str, Any]:
        return {"version": "test", "role": "HA", "pid": 0, "started_at": 0}

    def bindings(self) -> list[dict[str, Any]]:
        return list(self.bindings_list)

    def binding_update_list(self) -> list[dict[str, Any]]:
        return []

    def counters(self) -> dict[str, int]:
        return dict(self.counter_values)

    def reload(self) -> dict[str, Any]:
        try:
            self.config = load(str(self.config_path))
        except ConfigError as exc:
            outcome = {"ok": False, "error": str(exc)}
        else:
            outcome = {"ok": True, "error": None}
        self.reloads.append(outcome)
        return outcome


class FakeHomeAgent:
    """Runs the control socket in a thread; ``stop()`` ends it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.nodes_dir = directory / "nodes.d"
        self.nodes_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "mip6d.conf"
        self.config_path.write_text((EXAMPLES / "home-agent.conf").read_text())
        self.socket_path = directory / "control.sock"
        self.daemon = StandInDaemon(self.config_path)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                control.serve(self.socket_path, self.daemon))  # type: ignore[arg-type]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the stand-in home agent did not start")

    def stop(self) -> None:
        """Stop it (a home agent that went down); again: nothing."""
        if not self.thread.is_alive():
            return

        async def shutdown() -> None:
            await control.stop(self.server, self.socket_path)
            # Clients' connections too, inside the loop: a transport left to the garbage
            # collector after the loop closed warns "Event loop is closed".
            clients = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def binding(home_address: str, care_of: str, now: float, *, lifetime: int = 420,
            handovers: int = 0, **traffic: int) -> dict[str, Any]:
    """A binding cache entry as mip6d's control socket sends it (its own record of a real
    :class:`~mip6d.core.bcache.Binding`), registered a minute before ``now``; ``traffic``
    adds fields the record may carry (``rx_bytes=...``)."""
    entry = Binding(IPv6Address(home_address), IPv6Address(care_of),
                    IPv6Address("2001:db8:1::1"), "eth0", "ip6tnl1", 7, BUFlag.A | BUFlag.H,
                    lifetime, registered_at=now - 60, refreshed_at=now - 10,
                    expires_at=now - 10 + lifetime, handovers=handovers)
    return {**control.binding_record(entry, now), **traffic}


class SilentDaemon:
    """A control socket that accepts connections and never answers (a hung mip6d);
    counts the connections. A context manager, or ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(64)
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.server.accept()[0])

    def close(self) -> None:
        self.server.close()
        for conn in self.accepted:
            conn.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> SilentDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
