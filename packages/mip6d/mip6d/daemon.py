"""The mip6d daemon: the thin shell around the pure core.

One thread, one ``selectors`` loop over the Mobility Header socket, the rtnetlink
monitor (mobile nodes) and a wake-up pipe for signals; the core's timers decide the
loop's timeout. Effects are applied in order (:mod:`mip6d.core.effects`): kernel
changes through :class:`~mip6d.kernel.Kernel`, messages through
:class:`~mip6d.mhsocket.MhSocket`, timers here, log records to the structured log.

Signals: SIGHUP reloads the configuration (the whole new file is validated first; an
invalid one is logged with its file:line:column and the running one kept), SIGTERM and
SIGINT stop cleanly (a mobile node deregisters; all kernel state the daemon created is
removed; a home agent saves its binding cache first, so that a restart restores every
binding).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import selectors
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from ipaddress import IPv6Address, IPv6Interface
from pathlib import Path
from typing import Any

from mip6d import __version__, control, statefile
from mip6d.adapters import (
    AdapterError,
    LinkRouters,
    home_agent_policy,
    home_interfaces,
    mobile_config,
    movement_events,
    movement_interfaces,
)
from mip6d.config import Config, ConfigError, NodeRole, load
from mip6d.core.bcache import BindingCache
from mip6d.core.bul import BulState
from mip6d.core.effects import (
    AddAddress,
    AddTunnel,
    AddXfrmState,
    CancelTimer,
    CheckDuplicateAddress,
    Effect,
    Log,
    MigrateKeying,
    SendMessage,
    StartTimer,
    TimerKey,
    TimerKind,
    XfrmRoProto,
)
from mip6d.core.homeagent import HaOutcome, HomeAgent, binding_addresses
from mip6d.core.mobile import MobileNode, MovementEvent
from mip6d.ipsec import (
    StaticIPsec,
    TunnelKeys,
    migrate_requests,
    mobile_hao_state_argv,
    policy_argv,
    sa_argv,
    static_ipsec,
    tunnel_commands,
    tunnel_keys,
)
from mip6d.kernel import KERNEL_EFFECTS, Kernel, KernelError, XfrmPolicy
from mip6d.logs import LOGGER, emit, log_event, set_debug_level
from mip6d.metrics import label_value, sample_key, serve_metrics
from mip6d.mhsocket import MalformedPacket, MhSocket, Received
from mip6d.ndisc import DadProber, DadResult, RaListener
from mip6d.netlink_events import AddressChange, NetlinkMonitor
from mip6d.wire import mh

__all__ = ["EFFECT_HANDLERS", "Daemon", "DaemonError"]

MH_TYPE_BU = 5
MH_TYPE_BA = 6
SAVE_DELAY = 0.2
"""Seconds the binding cache may stay unsaved after a change (debounce)."""
_ANY = IPv6Address("::")


class DaemonError(RuntimeError):
    """The daemon cannot start; the message says why and what to do."""


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def _log(level: str, event: str, **fields: object) -> None:
    """``log("info", "event", name=value, ...)`` into the daemon's structured log."""
    log_event(LOGGER, _LEVELS.get(level, logging.INFO), event, **fields)


class Daemon:
    """A home agent or mobile node daemon for one configuration file."""

    def __init__(
        self,
        config_path: str,
        config: Config,
        log: Callable[..., None] | None = None,
        kernel: Kernel | None = None,
        mh_socket: MhSocket | None = None,
        clock: Callable[[], float] = time.time,
        dad_prober: Callable[[], DadProber] = DadProber,
    ) -> None:
        self.config_path = config_path
        self.config = config
        self.log = log or _log
        self.clock = clock
        self.kernel = kernel or Kernel(log=self.log)
        self.mh = mh_socket
        self.monitor: NetlinkMonitor | None = None
        self.ra: RaListener | None = None
        self.link_routers: LinkRouters | None = None
        self.timers: dict[TimerKey, float] = {}
        self.counts: Counter[str] = Counter()
        self.ha: HomeAgent | None = None
        self.mn: MobileNode | None = None
        # Static IPsec (RFC 3776) installed in the kernel; see mip6d.ipsec.
        self.ipsec = StaticIPsec((), ())
        self.started_at = clock()
        self._dirty_since: float | None = None
        self.dad: DadProber | None = None
        self._dad_prober = dad_prober  # opened at the first registration
        self._tunnel_keys: dict[IPv6Address, TunnelKeys] = {}
        self._tunnel_ipsec: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._hao_states: dict[tuple[IPv6Address, IPv6Address], IPv6Address | None] = {}
        self._dad_results: list[DadResult] = []
        self._addresses: set[tuple[str, IPv6Interface]] = set()
        self._stop = False
        self._reload = False
        self._waker = socket.socketpair()
        self._calls: list[
            tuple[Callable[[], dict[str, Any]], list[dict[str, Any]], threading.Event]
        ] = []
        self._servers: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._readers: list[tuple[int, Callable[[], None]]] = []

    # -- properties for the control socket, metrics and tests -------------------------

    @property
    def role(self) -> NodeRole:
        return self.config.node_config

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": __version__,
            "role": str(self.role),
            "config": self.config_path,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "uptime": round(self.clock() - self.started_at, 3),
        }
        if self.ha is not None:
            out["bindings"] = len(self.ha.cache)
            out["mobile_router_bindings"] = sum(
                1 for b in self.ha.cache.sorted() if b.mobile_router
            )
            out["tunnels"] = len(self.ha.cache.tunnels())
        if self.mn is not None:
            primary = self.mn.primary_care_of
            out["care_of"] = str(primary.address) if primary else None
            states: Counter[str] = Counter(str(e.state) for e in self.mn.entries)
            out["bul_entries"] = dict(states)
        return out

    def bindings(self) -> list[dict[str, Any]]:
        if self.ha is None:
            return []
        now = self.clock()
        return [control.binding_record(b, now) for b in self.ha.cache.sorted()]

    def binding_update_list(self) -> list[dict[str, Any]]:
        if self.mn is None:
            return []
        now = self.clock()
        return [control.bul_record(e, now) for e in self.mn.entries]

    def remove_binding(self, home_address: IPv6Address) -> dict[str, Any]:
        """Drop a binding at an operator's request (control socket, home agent)."""

        def remove() -> dict[str, Any]:
            if self.ha is None:
                return {"ok": False, "error": "not a home agent"}
            if self.ha.cache.get(home_address) is None:
                return {"ok": False, "error": f"no binding for {home_address}"}
            self.apply(self.ha.remove_node(home_address))
            self._mark_dirty(self.clock())
            return {"ok": True, "error": None}

        return self._in_main_loop(remove)

    def counters(self) -> dict[str, int]:
        """Every counter by its sample key (:data:`mip6d.metrics.METRICS`)."""
        out = {**self.counts, **self.kernel.counters}
        for packet, reader in (("ra", self.ra), ("nd", self.dad)):
            if reader is not None and reader.malformed:
                out[sample_key("malformed_packets_dropped", packet)] = reader.malformed
        return out

    def _count(self, name: str, label: str | None = None, by: int = 1) -> None:
        """Count ``by`` more of ``name`` (a family of :data:`mip6d.metrics.METRICS`)."""
        if by:
            self.counts[sample_key(name, label)] += by

    # -- start ------------------------------------------------------------------------

    def _interface_addresses(self, names: Sequence[str]) -> dict[str, list[IPv6Interface]]:
        out: dict[str, list[IPv6Interface]] = {name: [] for name in names}
        for name in names:
            found = self.kernel.ipr.link_lookup(ifname=name)
            if not found:
                raise DaemonError(f"interface {name!r} (from the configuration) does not exist")
            for msg in self.kernel.ipr.get_addr(family=socket.AF_INET6, index=found[0]):
                address = msg.get_attr("IFA_ADDRESS")
                if address and msg["scope"] == 0:
                    out[name].append(IPv6Interface(f"{address}/{msg['prefixlen']}"))
        return out

    def _ha_policy(self, config: Config) -> Any:
        addresses = self._interface_addresses(home_interfaces(config))
        return home_agent_policy(config, addresses)

    def start(self) -> None:
        """Set up sockets and kernel state; :class:`DaemonError` if impossible."""
        for warning in self.config.warnings:
            self.log("warning", "config-warning", message=str(warning))
        if self.mh is None:
            self.mh = MhSocket()
        now = self.clock()
        try:
            if self.role is NodeRole.HA:
                self._start_home_agent(now)
            elif self.role is NodeRole.MN:
                self._start_mobile(now)
            else:
                raise DaemonError(
                    f"{self.config_path}: NodeConfig {self.role}: only HA and MN are supported"
                )
        except (AdapterError, KernelError, ValueError) as error:
            raise DaemonError(f"{self.config_path}: {error}") from None

    def _start_home_agent(self, now: float) -> None:
        policy = self._ha_policy(self.config)
        self._apply_ipsec(static_ipsec(self.config))
        if policy.require_ipsec:
            unkeyed = {acl.home_address for acl in policy.acl} - self.ipsec.home_addresses
            if unkeyed:
                self.log(
                    "warning", "ipsec-without-keys",
                    message="UseMnHaIPsec is enabled and these home addresses have no static "
                    "keys: their Binding Updates are dropped",
                    home_addresses=sorted(str(a) for a in unkeyed),
                )
        self.kernel.sysctl("net/ipv6/conf/all/forwarding", 1)
        self.kernel.sysctl("net/ipv6/conf/all/proxy_ndp", 1)
        for link in policy.home_links:
            self.kernel.sysctl(f"net/ipv6/conf/{link.ifname}/proxy_ndp", 1)
        cache = self._load_state(policy.tunnel_prefix)
        self.ha = HomeAgent(policy, cache)
        self.kernel.add_policy(XfrmPolicy(MH_TYPE_BU, XfrmRoProto.HAO))
        self.apply(self.ha.restore(now))
        self._mark_dirty(now)

    def _start_mobile(self, now: float) -> None:
        mobile = mobile_config(self.config)
        if any(r.mobile_router for r in mobile.registrations):
            self.kernel.sysctl("net/ipv6/conf/all/forwarding", 1)
            for name in movement_interfaces(self.config):
                self.kernel.keep_accepting_ra(name)
        self.mn = MobileNode(mobile, initial_sequence=int(now) & 0xFFFF)
        self._apply_ipsec(static_ipsec(self.config))
        self.kernel.add_policy(XfrmPolicy(MH_TYPE_BA, XfrmRoProto.ROUTE2))
        # The Binding Acknowledgement may come before the entry's own route2 state is
        # in place (or after a handover changed it): a wildcard state accepts it.
        self.apply((AddXfrmState(XfrmRoProto.ROUTE2, _ANY, _ANY, _ANY),))
        # Linux drops a packet whose type 2 routing header names an address that is not
        # a local home address (ipv6_rthdr_rcv: ipv6_chk_home_addr), and the core puts
        # the home address on the tunnel only once registered: so the first Binding
        # Acknowledgement needs the home address on the loopback, flagged "home".
        for registration in mobile.registrations:
            self.apply((
                AddAddress(IPv6Interface(registration.home_address.ip), "lo",
                           home_address=True, nodad=True),
            ))
        self.monitor = NetlinkMonitor()
        self.link_routers = LinkRouters(mobile, movement_interfaces(self.config))
        monitor = self.monitor
        self.ra = RaListener(monitor.names.get)
        self._register(self.ra.fileno(), self._on_ra)
        # A fresh clock, not the ``now`` of start(): setting up took long enough (the
        # commands above, under TCG up to a second) that a first Binding Update's
        # retransmission timer counted from then fired right after it was sent.
        for change in self.monitor.dump():
            self._address_change(change, self.clock())

    # -- state file -------------------------------------------------------------------

    def _state_path(self) -> Path:
        return Path(self.config.state_file)

    def _load_state(self, tunnel_prefix: str) -> BindingCache:
        path = self._state_path()
        try:
            cache = statefile.load(path, lambda text: BindingCache.from_json(text, tunnel_prefix))
        except statefile.StateFileError as error:
            raise DaemonError(f"state file: {error}") from None
        if cache is None:
            return BindingCache(tunnel_prefix)
        self.log("info", "state-file-loaded", path=str(path), bindings=len(cache))
        return cache

    def _mark_dirty(self, now: float) -> None:
        if self.ha is not None and self._dirty_since is None:
            self._dirty_since = now

    def save_state(self) -> None:
        if self.ha is None:
            return
        path = self._state_path()
        text = self.ha.cache.to_json()
        try:
            statefile.write_atomic(path, text.encode())
        except OSError as error:
            self._count("state_saves", "failed")
            self.log("error", "state-file-save-failed", path=str(path), error=str(error))
            return
        self._dirty_since = None
        self._count("state_saves", "ok")

    # -- effects ----------------------------------------------------------------------

    def apply(self, effects: Sequence[Effect], now: float | None = None) -> bool:
        """Apply ``effects`` in order; ``False`` if a kernel effect failed, which stops
        the list (the core then says what to do, see :meth:`_decide`).

        ``now`` is the time the core was given for them: a timer is pushed back by
        the time applying the effects before it took. The core counts a Binding
        Update's retransmission timeout from ``now``, but the kernel changes that come
        first can take a good part of a second (measured under TCG), and the timer
        then fired soon after the message had actually left: a duplicate Binding
        Update. (The core ignores a timer that fires late for it, never one that
        fires early.)"""
        for effect in effects:
            try:
                EFFECT_HANDLERS[type(effect)](self, effect, now)
            except KernelError as error:
                self.log("error", "kernel-effect-failed", error=str(error))
                return False
        return True

    def _start_timer(self, effect: StartTimer, now: float | None) -> None:
        delay = max(0.0, self.clock() - now) if now is not None else 0.0
        self.timers[effect.key] = effect.at + delay

    def _decide(self, outcome: HaOutcome, home: IPv6Address, now: float) -> None:
        """Apply a home agent's verdict on a Binding Update and count it: when its
        kernel changes fail, the core's answer to that (forwarding_failed) instead."""
        assert self.ha is not None
        if not self.apply(outcome.effects):
            outcome = self.ha.forwarding_failed(home)
            self.apply(outcome.effects)
        self._mark_dirty(now)
        if outcome.verdict is not None:
            self._count("binding_updates_received", label_value(outcome.verdict.name))
        if outcome.handover:
            self._count("handovers")

    def _migrate_keying(self, move: MigrateKeying) -> None:
        """XFRM_MSG_MIGRATE with the new KMADDRESS for each policy of the home address
        (RFC 4877 section 6); a refusal is logged: the keying daemon then re-keys."""
        requests = migrate_requests(self.ipsec, self._tunnel_keys, self.role, move)
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

    def _protected_send(self, effect: SendMessage) -> SendMessage:
        """A mobile node's Binding Update of an ESP-protected home address goes out from
        the home address: the kernel adds ESP and then the Home Address option, from
        the care-of address its ``hao`` state holds (RFC 3776 section 3.1)."""
        if not isinstance(effect.msg, mh.BindingUpdate) or self.mn is None:
            return effect
        home = effect.home_address_option or effect.src
        if home not in self.ipsec.home_addresses:
            return effect
        care_of = effect.src if effect.home_address_option is not None else None
        key = (home, effect.dst)
        # The state changes only with the care-of address: a refresh or retransmission
        # from the same one reuses it.
        if key not in self._hao_states or self._hao_states[key] != care_of:
            remove = mobile_hao_state_argv(home, effect.dst, None)
            with contextlib.suppress(KernelError):
                self.kernel.remove_command(remove)
            self._hao_states[key] = None
            if care_of is not None:  # away from home: via the care-of address
                self.kernel.install_command(
                    mobile_hao_state_argv(home, effect.dst, care_of), remove
                )
                self._hao_states[key] = care_of
        return dataclasses.replace(effect, src=home, home_address_option=None)

    def _apply_ipsec(self, new: StaticIPsec) -> None:
        """Make the kernel's static SAs and policies those of ``new``: remove what went
        away (policies before their SAs), add what is new (SAs before their policies)."""
        old = self.ipsec
        for policy in old.policies:
            if policy not in new.policies:
                self.kernel.remove_command(policy_argv(policy, add=False))
        for sa in old.sas:
            if sa not in new.sas:
                self.kernel.remove_command(sa_argv(sa, add=False))
        for sa in new.sas:
            if sa not in old.sas:
                self.kernel.install_command(sa_argv(sa, add=True), sa_argv(sa, add=False))
        for policy in new.policies:
            if policy not in old.policies:
                self.kernel.install_command(policy_argv(policy, add=True),
                                            policy_argv(policy, add=False))
        self.ipsec = new
        self._tunnel_keys = tunnel_keys(self.config)

    def _sync_tunnel_ipsec(self) -> None:
        """Make the ESP protection of the tunnelled traffic (``TunnelPayload``, see
        :mod:`mip6d.ipsec`) follow the registered care-of addresses: after every turn
        of the loop, compare what the bindings need with what is installed."""
        if not self._tunnel_keys and not self._tunnel_ipsec:
            return
        wanted: list[tuple[AddTunnel, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]] = []
        if self.ha is not None:
            for b in self.ha.cache.sorted():
                keys = self._tunnel_keys.get(b.home_address)
                if keys is not None:
                    wanted.append((AddTunnel(b.tunnel, b.ha_address, b.care_of),
                                   tunnel_commands(keys, b.care_of, NodeRole.HA)))
        elif self.mn is not None:
            for e in self.mn.entries:
                keys = self._tunnel_keys.get(e.home_address)
                if (keys is not None and e.registered_coa is not None and e.home_link is None
                        and e.state in (BulState.REGISTERED, BulState.REFRESHING)):
                    reg = e.registration
                    wanted.append((AddTunnel(reg.tunnel, e.registered_coa, reg.home_agent),
                                   tunnel_commands(keys, e.registered_coa, NodeRole.MN)))
        desired = {add: remove for _, pairs in wanted for add, remove in pairs}
        if desired == self._tunnel_ipsec:
            return
        for add, remove in reversed(self._tunnel_ipsec.items()):  # policies, then SAs
            if add not in desired:
                with contextlib.suppress(KernelError):
                    self.kernel.remove_command(remove)
        installed = dict(self._tunnel_ipsec)
        for tunnel, pairs in wanted:
            new = [(add, remove) for add, remove in pairs if add not in installed]
            for add, remove in new:
                try:
                    with contextlib.suppress(KernelError):  # a leftover from a crash
                        self.kernel.remove_command(remove)
                    self.kernel.install_command(add, remove)
                except KernelError as error:
                    self.log("error", "tunnel-ipsec-failed", tunnel=tunnel.name,
                             error=str(error))
                    continue
                installed[add] = remove
            if new:
                # The tunnel device caches its route, and a route cached before the
                # policy existed bypasses XFRM: setting the tunnel again drops it.
                with contextlib.suppress(KernelError):
                    self.kernel.apply(tunnel)
                self.log("info", "tunnel-ipsec-installed", tunnel=tunnel.name,
                         local=str(tunnel.local), remote=str(tunnel.remote))
        self._tunnel_ipsec = {a: r for a, r in installed.items() if a in desired}

    def _send(self, effect: SendMessage) -> None:
        assert self.mh is not None
        kind = type(effect.msg).__name__
        try:
            effect = self._protected_send(effect)
            self.mh.send(effect)
        except (OSError, KernelError) as error:
            self._count("message_send_failures", label_value(kind))
            self.log("error", "send-failed", message=kind, dst=str(effect.dst), error=str(error))
            return
        self._count("messages_sent", label_value(kind))
        fields: dict[str, object] = {"message": kind, "src": str(effect.src),
                                     "dst": str(effect.dst)}
        if isinstance(effect.msg, mh.BindingAck):
            fields["status"] = int(effect.msg.status)
        fields["sequence"] = getattr(effect.msg, "sequence", None)
        self.log("info", "sent", **fields)

    # -- inputs -----------------------------------------------------------------------

    def _on_mh(self) -> None:
        assert self.mh is not None
        for _ in range(64):
            try:
                received = self.mh.receive()
            except MalformedPacket as error:
                self._count("malformed_packets_dropped", "mh")
                self.log("warning", "malformed-dropped", error=str(error))
                continue
            except OSError as error:
                self._count("receive_failures")
                self.log("warning", "receive-failed", error=str(error))
                return
            if received is None:
                return
            self._count("messages_received", label_value(type(received.msg).__name__))
            try:
                self._dispatch(received)
            except Exception as error:  # a daemon never dies on one packet
                self._count("handler_failures", "mh")
                self.log("error", "handler-failed", error=repr(error),
                         message=type(received.msg).__name__)

    def _dispatch(self, received: Received) -> None:
        now = self.clock()
        msg = received.msg
        self.log("info", "received", message=type(msg).__name__, src=str(received.src),
                 dst=str(received.dst), sequence=getattr(msg, "sequence", None),
                 home_address=str(received.home_address or "") or None,
                 status=int(msg.status) if isinstance(msg, mh.BindingAck) else None)
        if isinstance(msg, mh.BindingUpdate) and self.ha is not None:
            home, care_of = binding_addresses(received.src, msg, received.home_address)
            # The kernel lets a Binding Update of a home address with static keys reach
            # this socket only under ESP (its policy requires it): so it is protected.
            outcome = self.ha.handle_binding_update(
                msg, received.src, received.dst, home, care_of, now,
                protected=home in self.ipsec.home_addresses,
            )
            self._decide(outcome, home, now)
            self._answer_dad(now)
        elif isinstance(msg, mh.BindingAck) and self.mn is not None:
            status = msg.status
            self._count("binding_acks_received", label_value(status.name)
                        if isinstance(status, mh.BAStatus) else str(status))
            before = self._registered_care_ofs()
            self.apply(self.mn.handle_binding_ack(msg, received.src, received.dst, now),
                       now=now)
            after = self._registered_care_ofs()
            # A foreign link's care-of address replaced by another one: a handover.
            # (Coming home clears it; the first registration had none.)
            self._count("handovers", by=sum(
                1 for home, care_of in after.items()
                if care_of is not None and before.get(home) not in (None, care_of)
            ))
        else:
            self._count("messages_ignored", label_value(type(msg).__name__))
            self.log("info", "message-ignored", message=type(msg).__name__)

    def _registered_care_ofs(self) -> dict[IPv6Address, IPv6Address | None]:
        assert self.mn is not None
        return {e.home_address: e.registered_coa for e in self.mn.entries}

    def _register(self, fd: int, handler: Callable[[], None]) -> None:
        """Have the loop call ``handler`` when ``fd`` is readable (also a socket opened
        after the loop started)."""
        self._readers.append((fd, handler))
        if self._selector is not None:
            self._selector.register(fd, selectors.EVENT_READ, handler)

    def _deadlines(self) -> list[float | None]:
        """When the sockets other than timers need the loop back (DAD, routers)."""
        return [self.dad.next_deadline() if self.dad is not None else None,
                self.link_routers.next_deadline() if self.link_routers is not None else None]

    def _silent_routers(self, now: float) -> None:
        """Routers overdue for their next RA are gone (see :class:`LinkRouters`)."""
        if self.link_routers is None or self.mn is None:
            return
        for ifname, event in self.link_routers.expire(now):
            self._movement((event,), ifname, "router-silent", now)

    def _start_dad(self, effect: CheckDuplicateAddress) -> None:
        """Start DAD for a first registration (see :mod:`mip6d.ndisc`); the verdict is
        given to the core from the loop (:meth:`_answer_dad`), never from inside
        :meth:`apply`."""
        home = effect.addresses[0]
        self.log("info", "dad-started", home_address=str(home), ifname=effect.ifname,
                 addresses=[str(a) for a in effect.addresses])
        try:
            if self.dad is None:
                self.dad = self._dad_prober()
                self._register(self.dad.fileno(), self._on_dad)
            self._dad_results += self.dad.start(home, effect.addresses, effect.ifname,
                                                self.clock())
        except OSError as error:  # no DAD possible: keep serving, as before DAD existed
            self.log("error", "dad-failed-to-run", home_address=str(home), error=str(error))
            self._dad_results.append(DadResult(home, True, ran=False))

    def _on_dad(self) -> None:
        assert self.dad is not None
        self._dad_results += self.dad.read(self.clock())
        self._answer_dad(self.clock())

    def _answer_dad(self, now: float) -> None:
        if self.dad is not None:
            self._dad_results += self.dad.due(now)
        while self._dad_results and self.ha is not None:
            result = self._dad_results.pop(0)
            verdict = ("error" if not result.ran else
                       "unique" if result.unique else "duplicate")
            self._count("duplicate_address_detections", verdict)
            self.log("info" if result.unique else "warning", "dad-done",
                     home_address=str(result.home_address), unique=result.unique,
                     seen=str(result.seen) if result.seen else None)
            home = result.home_address
            self._decide(self.ha.dad_complete(home, result.unique, now), home, now)

    def _address_change(self, change: AddressChange, now: float) -> None:
        assert self.mn is not None
        key = (change.ifname, change.address)
        if change.added and change.usable:
            if key in self._addresses:
                return  # a lifetime refresh
            self._addresses.add(key)
        elif not change.added:
            self._addresses.discard(key)
        events = movement_events(change, self.mn.config, movement_interfaces(self.config))
        if self.link_routers is not None:
            events = tuple(e for event in events for e in self.link_routers.address(event))
        self._movement(events, change.ifname, "address", now)

    def _movement(self, events: Sequence[MovementEvent], ifname: str, source: str,
                  now: float) -> None:
        assert self.mn is not None
        for event in events:
            self.log("info", "movement", kind=type(event).__name__, ifname=ifname,
                     source=source, address=str(getattr(event, "address", "")) or None)
            self.apply(self.mn.handle_movement(event, now), now=now)

    def _on_netlink(self) -> None:
        assert self.monitor is not None and self.mn is not None
        for item in self.monitor.read():
            if isinstance(item, AddressChange):
                self._address_change(item, self.clock())
            elif item.startswith("down:") and self.link_routers is not None:
                self.link_routers.link_down(item.removeprefix("down:"))

    def _on_ra(self) -> None:
        """Router Advertisements: movement detection (see :class:`LinkRouters`)."""
        assert self.ra is not None and self.mn is not None and self.link_routers is not None
        for received in self.ra.read():
            primary = self.mn.primary_care_of
            events = self.link_routers.advertisement(
                received.ifname, received.src, received.ra,
                primary.address if primary is not None else None, self.clock(),
            )
            if events:
                self.log("info", "router-advertisement", ifname=received.ifname,
                         router=str(received.src),
                         prefixes=[str(p.network) for p in received.ra.prefixes],
                         router_lifetime=received.ra.router_lifetime)
            self._movement(events, received.ifname, "router-advertisement", self.clock())

    def _fire_timers(self, now: float) -> None:
        for key, at in sorted(self.timers.items(), key=lambda kv: kv[1]):
            if at > now:
                continue
            self.timers.pop(key, None)
            if key.kind is TimerKind.BINDING_EXPIRY and self.ha is not None:
                before = len(self.ha.cache)
                self.apply(self.ha.expire(now))
                self._count("bindings_expired", by=before - len(self.ha.cache))
                self._mark_dirty(now)
            elif self.mn is not None:
                self.apply(self.mn.timer_fired(key, now), now=now)

    # -- reload -----------------------------------------------------------------------

    def _do_reload(self) -> dict[str, Any]:
        """Read the configuration again; keep the running one if it is invalid."""
        try:
            config = load(self.config_path)
            policy = self._ha_policy(config) if config.node_config is NodeRole.HA else None
            if config.node_config is NodeRole.MN:
                mobile_config(config)
        except (ConfigError, AdapterError, DaemonError, ValueError, OSError) as error:
            self._count("reloads", "failed")
            self.log("error", "reload-failed", error=str(error))
            return {"ok": False, "error": str(error)}
        if config.node_config is not self.role:
            message = f"NodeConfig changed from {self.role} to {config.node_config}: restart"
            self.log("error", "reload-failed", error=message)
            return {"ok": False, "error": message}
        self.config = config
        set_debug_level(config.debug_level)
        try:
            self._apply_ipsec(static_ipsec(config))
        except KernelError as error:
            self.log("error", "ipsec-reload-failed", error=str(error))
        if self.ha is not None and policy is not None:
            self.apply(self.ha.apply_policy(policy))
            self._mark_dirty(self.clock())
        elif self.mn is not None:
            self.log("warning", "reload-partial",
                     message="a mobile node applies a changed MnHomeLink at restart")
        self._count("reloads", "ok")
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
            self._count("handler_failures", "loop")
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
        if self.monitor is not None:
            selector.register(self.monitor.fileno(), selectors.EVENT_READ, self._on_netlink)
        for fd, handler in self._readers:
            selector.register(fd, selectors.EVENT_READ, handler)
        self._start_servers()
        self.log("info", "ready", role=str(self.role), version=__version__, pid=os.getpid())
        try:
            while not self._stop:
                now = self.clock()
                deadlines = list(self.timers.values())
                if self._dirty_since is not None:
                    deadlines.append(self._dirty_since + SAVE_DELAY)
                deadlines += [d for d in self._deadlines() if d is not None]
                timeout = max(0.0, min(deadlines) - now) if deadlines else 1.0
                for key, _mask in selector.select(min(timeout, 1.0)):
                    if key.data is None:
                        with contextlib.suppress(BlockingIOError):
                            reader.recv(256)
                    else:
                        self._guarded(key.data)
                self._guarded(lambda: self._fire_timers(self.clock()))
                if self.ha is not None:
                    self._guarded(lambda: self._answer_dad(self.clock()))
                if self.mn is not None:
                    self._guarded(lambda: self._silent_routers(self.clock()))
                self._guarded(self._sync_tunnel_ipsec)
                if self._reload:
                    self._reload = False
                    self._do_reload()
                self._run_calls()
                now = self.clock()
                if self._dirty_since is not None and now >= self._dirty_since + SAVE_DELAY:
                    self.save_state()
        finally:
            signal.set_wakeup_fd(-1)
            selector.close()
            self.shutdown()

    def shutdown(self) -> None:
        """Deregister (mobile node), save the state (home agent), remove kernel state."""
        now = self.clock()
        if self.mn is not None:
            self.apply(self.mn.shutdown(now))
        if self.ha is not None:
            self.save_state()
        self.kernel.cleanup()
        if self._servers is not None:
            self._stop = True
            self._servers.join(3)
        if self.monitor is not None:
            self.monitor.close()
        if self.dad is not None:
            self.dad.close()
        if self.ra is not None:
            self.ra.close()
        if self.mh is not None:
            self.mh.close()
        self.log("info", "stopped", **self.counters())


EFFECT_HANDLERS: Mapping[type, Callable[[Daemon, Any, float | None], object]] = {
    Log: lambda daemon, effect, now: emit(effect),
    StartTimer: Daemon._start_timer,
    CancelTimer: lambda daemon, effect, now: daemon.timers.pop(effect.key, None),
    SendMessage: lambda daemon, effect, now: daemon._send(effect),
    CheckDuplicateAddress: lambda daemon, effect, now: daemon._start_dad(effect),
    MigrateKeying: lambda daemon, effect, now: daemon._migrate_keying(effect),
    # Only these can fail: KernelError stops the list (see Daemon.apply).
    **dict.fromkeys(KERNEL_EFFECTS, lambda daemon, effect, now: daemon.kernel.apply(effect)),
}
"""How :meth:`Daemon.apply` carries out each effect the core returns, by its type."""
