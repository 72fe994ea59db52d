"""The control socket: a JSON API over a Unix stream socket (``ControlSocket``).

One request per line, one response line each::

    {"command": "bindings"}                         -> {"ok": true, "result": [...]}
    {"command": "remove", "home_address": "2001:db8:1::10"}
    {"command": "nope"}                             -> {"ok": false, "error": "..."}

Arguments are the request's other members. :data:`COMMANDS` is the table of commands
(name, help text, arguments, handler); ``help`` lists it. :func:`handle` is the pure
core, bytes in and bytes out, and never raises; :func:`serve` puts it on a socket.
Whatever a client sends (malformed JSON, an unknown command, a request over
:data:`MAX_REQUEST` bytes, a disconnect half-way), it gets an error response or a
closed connection; the daemon goes on.

The daemon side is :class:`Daemon`. Its records are plain JSON-able dicts;
:func:`binding_record` and :func:`bul_record` make the ones ``mip6ctl`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv6Address
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mip6d import __version__
from mip6d.core.bcache import Binding
from mip6d.core.bul import BulEntry
from mip6d.core.effects import flag_names
from mip6d.logs import log_event, log_exception

__all__ = [
    "COMMANDS",
    "DEFAULT_SOCKET",
    "IDLE_TIMEOUT",
    "MAX_REQUEST",
    "PROTOCOL_VERSION",
    "SOCKET_MODE",
    "Argument",
    "Command",
    "CommandError",
    "ControlSocketError",
    "Daemon",
    "SupportsRemove",
    "binding_record",
    "bul_record",
    "handle",
    "serve",
    "stop",
]

_log = logging.getLogger("mip6d.control")

PROTOCOL_VERSION = 1
DEFAULT_SOCKET = "/run/mip6d/control.sock"
SOCKET_MODE = 0o660
"""The socket's permissions: root and the socket's group may talk to the daemon."""
MAX_REQUEST = 64 * 1024
"""Longest request line accepted, in bytes, not counting the newline."""
IDLE_TIMEOUT = 60.0
"""A connection with no complete request for this long is closed."""


class Daemon(Protocol):
    """What the control socket (and the metrics endpoint) asks of the daemon.

    Every method answers from memory, quickly; results are JSON-able (addresses and
    other objects are sent as strings).
    """

    def status(self) -> dict[str, Any]:
        """Overview: at least ``version``, ``role`` (HA, MN, CN), ``pid``,
        ``started_at`` (epoch seconds); as relevant ``config``, ``bindings``,
        ``mobile_router_bindings``, ``tunnels``, ``bid_bindings``, ``flow_bindings``
        (counts), ``bul_entries`` (state ->
        count). Numbers named in :data:`mip6d.metrics.METRICS` become gauges."""
        ...

    def bindings(self) -> list[dict[str, Any]]:
        """The binding cache, one :func:`binding_record` per binding."""
        ...

    def binding_update_list(self) -> list[dict[str, Any]]:
        """The Binding Update List, one :func:`bul_record` per entry."""
        ...

    def counters(self) -> dict[str, int]:
        """Counters by sample key (:mod:`mip6d.metrics`)."""
        ...

    def reload(self) -> dict[str, Any]:
        """Re-read the configuration: ``{"ok": True, "error": None}``, or ``{"ok":
        False, "error": "FILE:LINE:COL: what is wrong"}`` with the old one kept.
        Other members (``warnings``) are passed on."""
        ...


@runtime_checkable
class SupportsRemove(Protocol):
    """A daemon that can drop a binding at an operator's request (a home agent)."""

    def remove_binding(self, home_address: IPv6Address) -> dict[str, Any]:
        """Like :meth:`Daemon.reload`: ``{"ok": bool, "error": str | None}``."""
        ...


class CommandError(Exception):
    """A command failed in a way the client should be told about."""


class ControlSocketError(RuntimeError):
    """The control socket cannot be opened; the message names it and says why."""


# -- the command table ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Argument:
    """A request member a command takes. ``parse`` raises :class:`ValueError` with a
    message for a bad value."""

    name: str
    help: str
    parse: Callable[[object], object]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    run: Callable[[Daemon, Mapping[str, Any]], object]
    arguments: tuple[Argument, ...] = ()


def _ipv6_address(value: object) -> IPv6Address:
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv6 address as a string, got {json.dumps(value)}")
    try:
        return IPv6Address(value)
    except AddressValueError:
        raise ValueError(f"expected an IPv6 address, got {value!r}") from None


def _outcome(result: object) -> object:
    """The result of a daemon call that reports ``{"ok": ..., "error": ...}``."""
    if not isinstance(result, Mapping) or not isinstance(result.get("ok"), bool):
        raise CommandError(f"the daemon answered {result!r} instead of an outcome")
    if not result["ok"]:
        raise CommandError(str(result.get("error") or "failed, without saying why"))
    return {k: v for k, v in result.items() if k not in ("ok", "error")}


def _remove(daemon: Daemon, args: Mapping[str, Any]) -> object:
    if not isinstance(daemon, SupportsRemove):
        raise CommandError("remove: this daemon holds no bindings to remove (not a home agent)")
    return _outcome(daemon.remove_binding(args["home_address"]))


def _help(daemon: Daemon, args: Mapping[str, Any]) -> object:
    return [
        {
            "command": c.name,
            "help": c.help,
            "arguments": [{"name": a.name, "help": a.help} for a in c.arguments],
        }
        for c in COMMANDS.values()
    ]


_HOME_ADDRESS = Argument("home_address", "the home address of the binding", _ipv6_address)

COMMANDS: Mapping[str, Command] = {
    c.name: c
    for c in (
        Command("status", "what the daemon is and how it is doing",
                lambda d, a: d.status()),
        Command("bindings", "the binding cache (home agent)",
                lambda d, a: d.bindings()),
        Command("bul", "the Binding Update List (mobile node)",
                lambda d, a: d.binding_update_list()),
        Command("counters", "event counters since start",
                lambda d, a: d.counters()),
        Command("reload", "re-read the configuration; keep the old one if the new one is wrong",
                lambda d, a: _outcome(d.reload())),
        Command("remove", "drop one binding (home agent)", _remove, (_HOME_ADDRESS,)),
        Command("version", "the daemon's version and this protocol's",
                lambda d, a: {"version": __version__, "protocol": PROTOCOL_VERSION}),
        Command("help", "the commands and their arguments", _help),
    )
}


# -- the pure core -------------------------------------------------------------------------


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def _json_default(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _encode(response: Mapping[str, Any]) -> bytes:
    try:
        text = json.dumps(response, default=_json_default, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        text = json.dumps(_error(f"the result cannot be sent as JSON: {exc}"))
    return text.encode() + b"\n"


def _parse(request: bytes) -> dict[str, Any]:
    """The request as a JSON object; :class:`CommandError` says what is wrong."""
    body = request.strip()
    if len(body) > MAX_REQUEST:
        raise CommandError(f"request too long ({len(body)} bytes; the limit is {MAX_REQUEST})")
    if not body:
        raise CommandError('empty request; send {"command": "help"} for the commands')
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(f"request is not UTF-8 (byte {exc.start})") from None
    try:
        request_obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise CommandError("malformed JSON: nested too deeply") from None
    if not isinstance(request_obj, dict):
        raise CommandError('a request is a JSON object, such as {"command": "status"}')
    return request_obj


def _dispatch(request: bytes, daemon: Daemon) -> dict[str, Any]:
    try:
        req = _parse(request)
        name = req.get("command")
        if not isinstance(name, str):
            raise CommandError('the request has no "command" string; try {"command": "help"}')
        command = COMMANDS.get(name)
        if command is None:
            raise CommandError(f"unknown command {name!r}; commands: {', '.join(COMMANDS)}")
        takes = [a.name for a in command.arguments]
        for member in req:
            if member != "command" and member not in takes:
                what = ", ".join(takes) if takes else "no arguments"
                raise CommandError(f"{name}: unknown argument {member!r}; it takes {what}")
        args: dict[str, Any] = {}
        for argument in command.arguments:
            if argument.name not in req:
                raise CommandError(f"{name}: missing {argument.name!r} ({argument.help})")
            try:
                args[argument.name] = argument.parse(req[argument.name])
            except ValueError as exc:
                raise CommandError(f"{name}: {argument.name}: {exc}") from None
    except CommandError as exc:
        return _error(str(exc))
    try:
        result = command.run(daemon, args)
    except CommandError as exc:
        return _error(str(exc))
    except Exception as exc:
        log_exception(_log, "control-command-failed", command=name)
        return _error(f"{name} failed inside the daemon: {type(exc).__name__}: {exc}")
    return {"ok": True, "result": result}


def handle(request: bytes, daemon: Daemon) -> bytes:
    """The response line (newline-terminated JSON) to one request line. Never raises."""
    try:
        return _encode(_dispatch(request, daemon))
    except Exception as exc:  # a bug here must not reach the server
        log_exception(_log, "control-internal-error")
        return _encode(_error(f"internal error: {type(exc).__name__}"))


# -- records -------------------------------------------------------------------------------


def _seconds_left(until: float | None, now: float) -> int | None:
    return None if until is None else max(0, math.ceil(until - now))


def binding_record(binding: Binding, now: float,
                   tunnel_traffic: Mapping[str, int] | None = None) -> dict[str, Any]:
    """One binding cache entry as the ``bindings`` command sends it.

    ``last_handover`` is when its care-of address last changed (``None``: never);
    ``bid`` and ``priority`` its Binding Identifier and BID-PRI when the node registered
    several care-of addresses (RFC 5648), ``None`` and 0 otherwise;
    ``tunnel_traffic`` the kernel's counters of its tunnel device
    (:data:`mip6d.shell.kernel.LINK_TRAFFIC`), ``None`` when the kernel gives none.
    Bindings that share a care-of address share the device, so each reports the
    device's counters: their sum, not its own part.
    """
    return {
        "home_address": str(binding.home_address),
        "care_of": str(binding.care_of),
        "home_agent": str(binding.ha_address),
        "interface": binding.home_ifname,
        "tunnel": binding.tunnel,
        "sequence": binding.sequence,
        "flags": flag_names(binding.flags),
        "lifetime": binding.lifetime,
        "lifetime_left": _seconds_left(binding.expires_at, now),
        "expires_at": binding.expires_at,
        "registered_at": binding.registered_at,
        "refreshed_at": binding.refreshed_at,
        "prefixes": [str(p) for p in binding.prefixes],
        "nemo_mode": str(binding.nemo_mode),
        "updates": binding.updates,
        "handovers": binding.handovers,
        "last_handover": binding.last_handover,
        "bid": binding.bid,
        "priority": binding.priority,
        "tunnel_traffic": None if tunnel_traffic is None else dict(tunnel_traffic),
    }


def bul_record(entry: BulEntry, now: float) -> dict[str, Any]:
    """One Binding Update List entry as the ``bul`` command sends it."""
    registration = entry.registration
    return {
        "home_address": str(entry.home_address),
        "home_agent": str(registration.home_agent),
        "care_of": None if entry.care_of is None else str(entry.care_of),
        # With multiple care-of addresses: what the home agent holds, BID -> care-of.
        "bindings": {str(b.bid): str(b.care_of) for b in entry.registered_bindings},
        "state": str(entry.state),
        "sequence": entry.sequence,
        "lifetime": entry.lifetime,
        "lifetime_left": _seconds_left(entry.expires_at, now),
        "expires_at": entry.expires_at,
        "home_link": entry.home_link,
        "tunnel": registration.tunnel,
        "mobile_router": registration.mobile_router,
        "prefixes": [str(p) for p in registration.mobile_network_prefixes],
    }


# -- the socket ----------------------------------------------------------------------------


def _clear_stale(path: Path) -> None:
    """Remove a socket a dead daemon left; refuse to take over a live one."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlSocketError(
            f"{path} exists and is not a socket; remove it or set another ControlSocket"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        log_event(_log, logging.INFO, "control-socket-stale-removed", path=str(path))
        return
    except OSError:
        pass  # busy or not ours to probe: treat it as live
    finally:
        probe.close()
    raise ControlSocketError(f"{path}: another mip6d is listening there already")


async def _serve_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, daemon: Daemon
) -> None:
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
            except ValueError:  # the line overran the reader's limit
                writer.write(_encode(_error(f"request too long (the limit is {MAX_REQUEST} "
                                            "bytes); closing the connection")))
                await writer.drain()
                return
            if not line.strip():
                if not line:
                    return  # end of file
                continue
            writer.write(handle(line, daemon))
            await writer.drain()
            if not line.endswith(b"\n"):
                return  # the client sent its last request without a newline and closed
    except (TimeoutError, ConnectionError, OSError):
        pass  # idle, or the client went away
    except Exception:  # never let one client take the server down
        log_exception(_log, "control-client-failed")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def serve(path: str | os.PathLike[str], daemon: Daemon) -> asyncio.AbstractServer:
    """Listen on the Unix socket ``path`` (its directory created, a stale socket
    replaced, mode :data:`SOCKET_MODE`) and answer requests with :func:`handle`.
    Close it with :func:`stop`."""
    where = Path(path)
    try:
        where.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        _clear_stale(where)

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _serve_client(reader, writer, daemon)

        server = await asyncio.start_unix_server(client, str(where), limit=MAX_REQUEST + 2)
        os.chmod(where, SOCKET_MODE)
    except OSError as exc:
        raise ControlSocketError(f"{where}: cannot listen: {exc.strerror or exc}") from exc
    log_event(_log, logging.INFO, "control-listening", path=str(where))
    return server


async def stop(server: asyncio.AbstractServer, path: str | os.PathLike[str]) -> None:
    """Stop listening and remove the socket."""
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 1.0)
    where = Path(path)
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(where.lstat().st_mode):
            where.unlink()
