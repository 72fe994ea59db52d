"""The mip6d daemon: the thin shell around the pure core.

One thread, one ``selectors`` loop over the Mobility Header socket, the sockets of the
role's part (:mod:`mip6d.shell.homeagent`, :mod:`mip6d.shell.mobile`) and a wake-up
pipe for signals; the core's timers decide the loop's timeout. Effects are applied in
order through one table (:data:`EFFECT_HANDLERS`): kernel changes through
:class:`~mip6d.shell.kernel.Kernel`, messages through
:class:`~mip6d.shell.mhsocket.MhSocket`, timers here, log records to the structured log.
The IPsec the configuration and the bindings call for is declared by the core
(:class:`~mip6d.core.ipsec.Keying`) and reconciled with what the kernel adapter
installed after every turn.

Signals: SIGHUP reloads the configuration (the whole new file is validated first; an
invalid one is logged with its file:line:column and the running one kept), SIGTERM and
SIGINT stop cleanly (a mobile node deregisters; all kernel state the daemon created is
removed; a home agent saves its binding cache first, so that a restart restores every
binding).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from ipaddress import IPv6Address
from itertools import groupby
from typing import Any

from mip6d import __version__, control
from mip6d.config import Config, ConfigError, NodeRole, load
from mip6d.core.effects import (
    AddTunnel,
    CancelTimer,
    ChangeTunnel,
    CheckDuplicateAddress,
    Effect,
    Log,
    MigrateKeying,
    SendIcmp,
    SendMessage,
    StartTimer,
    TimerKey,
    reconcile,
)
from mip6d.core.ipsec import Keying, around_tunnel_move, migrate_requests, tunnel_effects
from mip6d.core.unserved import BindingErrors
from mip6d.logs import LOGGER, emit, log_event, set_debug_level
from mip6d.metrics import label_value, sample_key, serve_metrics
from mip6d.shell.adapters import AdapterError
from mip6d.shell.homeagent import HomeAgentPart
from mip6d.shell.icmpsocket import IcmpSocket
from mip6d.shell.kernel import KERNEL_EFFECTS, Kernel, KernelError
from mip6d.shell.mhsocket import MalformedPacket, MhSocket, Received
from mip6d.shell.mobile import MobilePart
from mip6d.shell.ndisc import DadProber
from mip6d.shell.part import DaemonError, Part
from mip6d.wire import icmp6, mh

__all__ = ["EFFECT_HANDLERS", "PARTS", "Daemon", "DaemonError"]

KEYING = "keying"
"""The owner of what :meth:`Daemon.sync_ipsec` installs, in the kernel adapter's record:
it reconciles only those (a binding's direct-traffic policy and the prefix solicitor's
are of the same kinds, and theirs)."""
READ_PASSES = 4
"""Readiness checks per turn: the first waits, the others take what came meanwhile."""


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def _log(level: str, event: str, **fields: object) -> None:
    """``log("info", "event", name=value, ...)`` into the daemon's structured log."""
    log_event(LOGGER, _LEVELS.get(level, logging.INFO), event, **fields)


PARTS: Mapping[NodeRole, Callable[[Daemon], Part]] = {
    NodeRole.CN: Part,
    NodeRole.HA: HomeAgentPart,
    NodeRole.MN: MobilePart,
}
"""The part of each role. A correspondent node is the bare :class:`Part`: without route
optimisation it serves no Mobility Header message, and the loop answers the requests
(:meth:`Daemon._unserved`)."""


class Daemon:
    """A home agent, mobile node or correspondent node daemon for one configuration file."""

    def __init__(
        self,
        config_path: str,
        config: Config,
        log: Callable[..., None] | None = None,
        kernel: Kernel | None = None,
        mh_socket: MhSocket | None = None,
        clock: Callable[[], float] = time.time,
        dad_prober: Callable[[], DadProber] = DadProber,
        icmp_socket: Callable[[Iterable[int]], IcmpSocket] = IcmpSocket,
    ) -> None:
        self.config_path = config_path
        self.config = config
        self.log = log or _log
        self.clock = clock
        self.kernel = kernel or Kernel(log=self.log)
        self.mh = mh_socket
        self.dad_prober = dad_prober  # opened by the home agent at its first registration
        self.icmp_socket = icmp_socket
        self.icmp: IcmpSocket | None = None  # opened by a part that needs it (open_icmp)
        self.part = Part(self)  # the role's, from start()
        self.binding_errors = BindingErrors()
        self.keying = Keying.of(config)
        self.timers: dict[TimerKey, float] = {}
        self.counts: Counter[str] = Counter()
        self.started_at = clock()
        self._stop = False
        self._reload = False
        self._waker = socket.socketpair()
        self._calls: list[
            tuple[Callable[[], dict[str, Any]], list[dict[str, Any]], threading.Event]
        ] = []
        self._servers: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._readers: list[tuple[int, Callable[[], None]]] = []

    # -- the control protocol (mip6d.control.Daemon), metrics and tests -------------

    @property
    def role(self) -> NodeRole:
        return self.config.node_config

    def status(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "role": str(self.role),
            "config": self.config_path,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "uptime": round(self.clock() - self.started_at, 3),
            **self.part.status(),
        }

    def bindings(self) -> list[dict[str, Any]]:
        return self.part.bindings()

    def binding_update_list(self) -> list[dict[str, Any]]:
        return self.part.binding_update_list()

    def remove_binding(self, home_address: IPv6Address) -> dict[str, Any]:
        """Drop a binding at an operator's request (control socket, home agent)."""
        return self._in_main_loop(lambda: self.part.remove_binding(home_address))

    def counters(self) -> dict[str, int]:
        """Every counter by its sample key (:data:`mip6d.metrics.METRICS`)."""
        return {**self.counts, **self.kernel.counters, **self.part.counters()}

    def count(self, name: str, label: str | None = None, by: int = 1) -> None:
        """Count ``by`` more of ``name`` (a family of :data:`mip6d.metrics.METRICS`)."""
        if by:
            self.counts[sample_key(name, label)] += by

    # -- start ------------------------------------------------------------------------

    def start(self) -> None:
        """Set up sockets and kernel state; :class:`DaemonError` if impossible."""
        for warning in self.config.warnings:
            self.log("warning", "config-warning", message=str(warning))
        make_part = PARTS[self.role]
        if self.mh is None:
            self.mh = MhSocket()
        try:
            self.part = make_part(self)
            self.part.start(self.clock())
        except (AdapterError, KernelError, ValueError) as error:
            raise DaemonError(f"{self.config_path}: {error}") from None

    # -- effects ----------------------------------------------------------------------

    def apply(self, effects: Sequence[Effect], now: float | None = None) -> bool:
        """Apply ``effects`` in order; ``False`` if a kernel effect failed, which stops
        the list (the core then says what to do, see the home agent's ``decide``).

        ``now`` is the time the core was given for them: a timer is pushed back by
        the time applying the effects before it took. The core counts a Binding
        Update's retransmission timeout from ``now``, but the kernel changes that come
        first can take a good part of a second (measured under TCG), and the timer
        then fired soon after the message had actually left: a duplicate Binding
        Update. (The core ignores a timer that fires late for it, never one that
        fires early.)"""
        for to_kernel, run in groupby(effects, lambda e: EFFECT_HANDLERS[type(e)] is _to_kernel):
            try:
                if to_kernel:  # together: a run of ip xfrm changes is one process
                    self.kernel.apply_all(tuple(run))
                else:
                    for effect in run:
                        EFFECT_HANDLERS[type(effect)](self, effect, now)
            except KernelError as error:
                self.log("error", "kernel-effect-failed", error=str(error))
                return False
        return True

    def _start_timer(self, effect: StartTimer, now: float | None) -> None:
        delay = max(0.0, self.clock() - now) if now is not None else 0.0
        self.timers[effect.key] = effect.at + delay

    def _migrate_keying(self, move: MigrateKeying) -> None:
        """XFRM_MSG_MIGRATE with the new KMADDRESS for each policy of the home address
        (RFC 4877 section 6); a refusal is logged: the keying daemon then re-keys."""
        requests = migrate_requests(self.keying.static, self.keying.tunnels, self.role, move)
        for request in requests:
            what = (f"migrate {request.src}->{request.dst} {request.direction.name.lower()} "
                    f"kmaddress {request.kmaddress.local}->{request.kmaddress.remote}")
            try:
                self.kernel.xfrm_message(what, request.message)
            except KernelError as error:
                self.log("error", "keying-migrate-failed", error=str(error))
                return
        self.log("info", "keying-migrated", home_address=str(move.home_address),
                 old_care_of=str(move.old_care_of), new_care_of=str(move.new_care_of),
                 messages=len(requests))

    def _send(self, effect: SendMessage) -> None:
        assert self.mh is not None
        kind = type(effect.msg).__name__
        try:
            self.mh.send(effect)
        except OSError as error:
            self.count("message_send_failures", label_value(kind))
            self.log("error", "send-failed", message=kind, dst=str(effect.dst), error=str(error))
            return
        self.count("messages_sent", label_value(kind))
        fields: dict[str, object] = {"message": kind, "src": str(effect.src),
                                     "dst": str(effect.dst)}
        if isinstance(effect.msg, mh.BindingAck):
            fields["status"] = int(effect.msg.status)
        fields["sequence"] = getattr(effect.msg, "sequence", None)
        self.log("info", "sent", **fields)

    def open_icmp(self, types: Iterable[int]) -> IcmpSocket:
        """The role's ICMPv6 socket for ``types``, read by the part's ``receive_icmp``."""
        self.icmp = self.icmp_socket(types)
        self.register(self.icmp.fileno(), self._on_icmp)
        return self.icmp

    def _on_icmp(self) -> None:
        assert self.icmp is not None
        try:
            received = self.icmp.read()
        except OSError as error:
            self.count("receive_failures")
            self.log("warning", "receive-failed", error=str(error))
            return
        for item in received:
            kind = type(item.msg).__name__
            if not isinstance(item.msg, icmp6.RouterAdvertisement):  # those are many
                self.count("icmp_messages_received", label_value(item.msg.icmp_type.name))
                self.log("info", "received", message=kind, src=str(item.src),
                         dst=str(item.dst), identifier=getattr(item.msg, "identifier", None))
            try:
                self.part.receive_icmp(item, self.clock())
            except Exception as error:  # a daemon never dies on one packet
                self.count("handler_failures", "icmp")
                self.log("error", "handler-failed", error=repr(error), message=kind)

    def _send_icmp(self, effect: SendIcmp) -> None:
        kind = type(effect.msg).__name__
        if self.icmp is None:
            self.log("error", "send-failed", message=kind, dst=str(effect.dst),
                     error="no ICMPv6 socket")
            return
        try:
            self.icmp.send(effect)
        except OSError as error:
            self.count("message_send_failures", label_value(effect.msg.icmp_type.name))
            self.log("error", "send-failed", message=kind, dst=str(effect.dst), error=str(error))
            return
        self.count("icmp_messages_sent", label_value(effect.msg.icmp_type.name))
        self.log("info", "sent", message=kind, src=str(effect.src), dst=str(effect.dst),
                 identifier=getattr(effect.msg, "identifier", None))

    def sync_ipsec(self, strict: bool = False) -> None:
        """Make the kernel's IPsec what the configuration and the bindings call for
        (:meth:`Keying.desired_state`): the one reconcile of the declared state with
        what the kernel adapter installed. A failure is logged and tried again after
        the next turn; with ``strict`` (at start) it is raised."""
        tunnels, changes = self._keying_changes()
        failed = self._apply_keying(changes, strict)
        for tunnel in self._newly_protected(tunnels, changes, failed):
            # The tunnel device caches its route, and a route cached before the
            # policy existed bypasses XFRM: setting the tunnel again drops it.
            with contextlib.suppress(KernelError):
                self.kernel.apply(tunnel)
            self._log_protected(tunnel)

    def _keying_changes(self) -> tuple[list[tuple[IPv6Address, AddTunnel]], tuple[Effect, ...]]:
        """The bindings' protected tunnels, and the IPsec changes their state calls for."""
        # Without a TunnelPayload policy no binding needs any: skip asking for them.
        tunnels = self.part.protected_tunnels() if self.keying.tunnels else []
        care_ofs = [(home, self._care_of(t)) for home, t in tunnels]
        desired = self.keying.desired_state(self.role, care_ofs)
        return tunnels, reconcile(self.kernel.installed_by(KEYING), desired)

    def _apply_keying(self, changes: Iterable[Effect], strict: bool = False) -> set[Effect]:
        """Apply IPsec ``changes``; the ones that failed (logged, or raised if ``strict``)."""
        if strict:
            self.kernel.apply_all(tuple(changes), KEYING)
            return set()
        failed: set[Effect] = set()
        for error in self.kernel.apply_each(tuple(changes), KEYING):
            assert error.effect is not None  # apply_each names each refusal's effect
            failed.add(error.effect)
            self.log("error", "ipsec-failed", error=str(error))
        return failed

    def _set_tunnel(self, effect: AddTunnel | ChangeTunnel) -> None:
        """Add or move a tunnel inside the IPsec of its new endpoints
        (:func:`~mip6d.core.ipsec.around_tunnel_move`): its payload is protected (or
        dropped) from its first packet, never sent in clear while the policies catch up;
        and the route the tunnel caches when it is set is one that sees the policies."""
        if not self.keying.tunnels:  # nothing of its payload to protect
            self.kernel.apply(effect)
            return
        tunnels, changes = self._keying_changes()
        before, after = around_tunnel_move(changes)
        failed = self._apply_keying(before)
        self.kernel.apply(effect)
        failed |= self._apply_keying(after)
        for tunnel in self._newly_protected(tunnels, changes, failed):
            self._log_protected(tunnel)

    def _newly_protected(self, tunnels: Iterable[tuple[IPv6Address, AddTunnel]],
                         changes: Iterable[Effect], failed: set[Effect]) -> list[AddTunnel]:
        """The ``tunnels`` whose payload protection ``changes`` installed, all of it."""
        changed, out = set(changes), []
        for home, tunnel in tunnels:
            keys = self.keying.tunnels.get(home)
            new = (set(tunnel_effects(keys, self._care_of(tunnel), self.role)) & changed
                   if keys else set())
            if new and not new & failed:
                out.append(tunnel)
        return out

    def _care_of(self, tunnel: AddTunnel) -> IPv6Address:
        """The care-of address end of a binding's tunnel, for this node's role."""
        return tunnel.local if self.role is NodeRole.MN else tunnel.remote

    def _log_protected(self, tunnel: AddTunnel) -> None:
        self.log("info", "tunnel-ipsec-installed", tunnel=tunnel.name,
                 local=str(tunnel.local), remote=str(tunnel.remote))

    # -- inputs -----------------------------------------------------------------------

    def _on_mh(self) -> None:
        assert self.mh is not None
        for _ in range(64):
            try:
                received = self.mh.receive()
            except MalformedPacket as error:
                self.count("malformed_packets_dropped", "mh")
                self.log("warning", "malformed-dropped", error=str(error))
                continue
            except OSError as error:
                self.count("receive_failures")
                self.log("warning", "receive-failed", error=str(error))
                return
            if received is None:
                return
            kind = type(received.msg).__name__
            self.count("messages_received", label_value(kind))
            msg = received.msg
            try:
                self.log("info", "received", message=kind, src=str(received.src),
                         dst=str(received.dst), sequence=getattr(msg, "sequence", None),
                         home_address=str(received.home_address or "") or None,
                         status=int(msg.status) if isinstance(msg, mh.BindingAck) else None)
                now = self.clock()
                if not self.part.receive(received, now):
                    self._unserved(received, kind, now)
            except Exception as error:  # a daemon never dies on one packet
                self.count("handler_failures", "mh")
                self.log("error", "handler-failed", error=repr(error), message=kind)

    def _unserved(self, received: Received, kind: str, now: float) -> None:
        """A message the role does not handle: a request gets a Binding Error (see
        :mod:`mip6d.core.unserved`), a reply or one error too many nothing."""
        error = self.binding_errors.answer(received.msg, received.src, received.dst,
                                           received.home_address, now)
        if error is None:
            self.count("messages_ignored", label_value(kind))
            self.log("info", "message-ignored", message=kind)
        else:
            self.apply([error], now)

    def register(self, fd: int, handler: Callable[[], None]) -> None:
        """Have the loop call ``handler`` when ``fd`` is readable (also a socket opened
        after the loop started)."""
        self._readers.append((fd, handler))
        if self._selector is not None:
            self._selector.register(fd, selectors.EVENT_READ, handler)

    def _fire_timers(self, now: float) -> None:
        for key, at in sorted(self.timers.items(), key=lambda kv: kv[1]):
            if at > now:
                continue
            self.timers.pop(key, None)
            self.part.timer_fired(key, now)

    # -- reload -----------------------------------------------------------------------

    def _do_reload(self) -> dict[str, Any]:
        """Read the configuration again; keep the running one if it is invalid."""
        try:
            config = load(self.config_path)
            if config.node_config is not self.role:
                message = f"NodeConfig changed from {self.role} to {config.node_config}: restart"
                self.log("error", "reload-failed", error=message)
                return {"ok": False, "error": message}
            change = self.part.check_reload(config)
        except (ConfigError, AdapterError, DaemonError, ValueError, OSError) as error:
            self.count("reloads", "failed")
            self.log("error", "reload-failed", error=str(error))
            return {"ok": False, "error": str(error)}
        self.config = config
        set_debug_level(config.debug_level)
        self.keying = Keying.of(config)
        self.sync_ipsec()
        change()
        self.count("reloads", "ok")
        self.log("info", "reloaded", config=self.config_path)
        return {"ok": True, "error": None}

    # -- loop -------------------------------------------------------------------------

    def _wakeup(self) -> None:
        with contextlib.suppress(OSError):
            self._waker[1].send(b"\0")

    def _guarded(self, handler: Callable[[], None]) -> None:
        try:
            handler()
        except Exception as error:  # never die on one input
            self.count("handler_failures", "loop")
            self.log("error", "handler-failed", error=repr(error))

    def request_stop(self) -> None:
        self._stop = True
        self._wakeup()

    def request_reload(self) -> None:
        self._reload = True
        self._wakeup()

    def reload(self) -> dict[str, Any]:
        """Reload the configuration (see :meth:`_do_reload`)."""
        return self._in_main_loop(self._do_reload)

    def _in_main_loop(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``call`` in the daemon's loop (the core is single-threaded) and return
        its answer; the control socket calls from its own thread."""
        if threading.current_thread() is threading.main_thread():
            return call()
        done = threading.Event()
        box: list[dict[str, Any]] = []
        self._calls.append((call, box, done))
        self._wakeup()
        if not done.wait(30):
            return {"ok": False, "error": "the daemon did not answer within 30 s"}
        return box[0]

    def _run_calls(self) -> None:
        while self._calls:
            call, box, done = self._calls.pop(0)
            try:
                box.append(call())
            except Exception as error:  # answer the client whatever happened
                box.append({"ok": False, "error": repr(error)})
            done.set()

    def _start_servers(self) -> None:
        """The metrics and control servers (asyncio) run in their own thread and loop;
        pyroute2's synchronous API cannot run inside a running asyncio loop, so the
        daemon's own loop is a plain selectors loop."""
        listen = self.config.metrics_listen
        path = self.config.control_socket

        async def main() -> None:
            servers: list[Any] = []
            if listen is not None:
                try:
                    servers.append(await serve_metrics(str(listen.host), listen.port, self))
                except OSError as error:
                    self.log("error", "metrics-failed", error=str(error))
            socket_server = None
            try:
                socket_server = await control.serve(path, self)
            except control.ControlSocketError as error:  # keep serving without it
                self.log("error", "control-socket-failed", error=str(error))
            while not self._stop:
                await asyncio.sleep(0.2)
            if socket_server is not None:
                await control.stop(socket_server, path)
            for server in servers:
                with contextlib.suppress(Exception):
                    server.close()

        self._servers = threading.Thread(target=asyncio.run, args=(main(),), daemon=True,
                                         name="mip6d-servers")
        self._servers.start()

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (or :meth:`request_stop`), then shut down."""
        reader, writer = self._waker
        reader.setblocking(False)
        writer.setblocking(False)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        selector = self._selector = selectors.DefaultSelector()
        assert self.mh is not None
        selector.register(self.mh.fileno(), selectors.EVENT_READ, self._on_mh)
        selector.register(reader.fileno(), selectors.EVENT_READ, None)
        for fd, handler in self._readers:
            selector.register(fd, selectors.EVENT_READ, handler)
        self._start_servers()
        self.log("info", "ready", role=str(self.role), version=__version__, pid=os.getpid())
        try:
            while not self._stop:
                now = self.clock()
                deadlines = [*self.timers.values(), *self.part.deadlines()]
                timeout = max(0.0, min(deadlines) - now) if deadlines else 1.0
                self._read_ready(selector, min(timeout, 1.0))
                self._guarded(lambda: self._fire_timers(self.clock()))
                self._guarded(lambda: self.part.after_turn(self.clock()))
                self._guarded(self.sync_ipsec)
                if self._reload:
                    self._reload = False
                    self._do_reload()
                self._run_calls()
        finally:
            signal.set_wakeup_fd(-1)
            selector.close()
            self.shutdown()

    def _read_ready(self, selector: selectors.BaseSelector, timeout: float) -> None:
        """Handle the readable sockets; then, up to :data:`READ_PASSES` times, what arrived
        while those handlers ran. A turn can be long (kernel changes take seconds under
        emulation): a Router Advertisement or an acknowledgement that waited in its socket
        meanwhile is heard before the deadlines it answers fire (a router declared silent,
        a retransmission). Bounded, so that a flood cannot hold the timers off."""
        for _ in range(READ_PASSES):
            ready = selector.select(timeout)
            if not ready:
                return
            for key, _mask in ready:
                if key.data is None:  # the waker: a signal or a call from another thread
                    with contextlib.suppress(BlockingIOError):
                        self._waker[0].recv(256)
                else:
                    self._guarded(key.data)
            timeout = 0.0

    def shutdown(self) -> None:
        """Leave (the part: deregister or save the state), remove kernel state."""
        self.part.shutdown(self.clock())
        self.kernel.cleanup()
        if self._servers is not None:
            self._stop = True
            self._servers.join(3)
        self.part.close()
        if self.mh is not None:
            self.mh.close()
        self.log("info", "stopped", **self.counters())


def _to_kernel(daemon: Daemon, effect: Effect, now: float | None) -> None:
    daemon.kernel.apply(effect)


EFFECT_HANDLERS: Mapping[type, Callable[[Daemon, Any, float | None], object]] = {
    Log: lambda daemon, effect, now: emit(effect),
    StartTimer: Daemon._start_timer,
    CancelTimer: lambda daemon, effect, now: daemon.timers.pop(effect.key, None),
    SendMessage: lambda daemon, effect, now: daemon._send(effect),
    SendIcmp: lambda daemon, effect, now: daemon._send_icmp(effect),
    CheckDuplicateAddress:
        lambda daemon, effect, now: daemon.part.check_duplicate_address(effect),
    MigrateKeying: lambda daemon, effect, now: daemon._migrate_keying(effect),
    # Only these can fail: KernelError stops the list (see Daemon.apply).
    **dict.fromkeys(KERNEL_EFFECTS, _to_kernel),
    # A tunnel is set inside the IPsec of its endpoints (Daemon._set_tunnel).
    AddTunnel: lambda daemon, effect, now: daemon._set_tunnel(effect),
    ChangeTunnel: lambda daemon, effect, now: daemon._set_tunnel(effect),
}
"""How :meth:`Daemon.apply` carries out each effect the core returns, by its type."""
