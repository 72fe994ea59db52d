"""The kernel adapter: applies the core's kernel effects (:mod:`mip6d.core.effects`).

Links (ip6ip6 tunnels), addresses, routes, rules and proxy neighbours go through one
pyroute2 ``IPRoute`` (pass another one, or a fake with the same methods, for tests);
XFRM states (route optimisation, statically keyed ESP) and policies through ``ip xfrm``
and the one command runner (:mod:`mip6d.command`), since pyroute2 has no XFRM support,
each run of them in one ``ip -batch`` process (:meth:`Kernel.apply_all`);
XFRM_MSG_MIGRATE (which iproute2 cannot send) as a raw netlink message
(:mod:`mip6d.wire.xfrm`) through ``xfrm_transport``, swappable for tests.

``Add*`` effects are idempotent (replace), ``Remove*`` effects ignore an object that is
already gone. :attr:`Kernel.installed` is the one record of what this daemon created, in
install order, with the owner of the entries that one declared (:meth:`Kernel.installed_by`):
what the shell reconciles its declared IPsec state with, and what :meth:`Kernel.cleanup`
removes at shutdown.
"""

from __future__ import annotations

import errno
import os
import socket
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from ipaddress import IPv6Address, IPv6Network
from itertools import groupby
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from mip6d.command import BatchError, BatchRunner, Command, one_by_one, run_batch
from mip6d.config.model import AlgorithmKind, StaticKey
from mip6d.core.effects import (
    MAIN_TABLE,
    AddAddress,
    AddEspSa,
    AddProxyNeighbour,
    AddRoute,
    AddRule,
    AddTunnel,
    AddUnreachableRoute,
    AddXfrmPolicy,
    AddXfrmState,
    ChangeTunnel,
    Effect,
    RemoveAddress,
    RemoveEspSa,
    RemoveProxyNeighbour,
    RemoveRoute,
    RemoveRule,
    RemoveTunnel,
    RemoveUnreachableRoute,
    RemoveXfrmPolicy,
    RemoveXfrmState,
    XfrmRoProto,
    is_removal,
    teardown,
)
from mip6d.metrics import label_value, sample_key
from mip6d.wire.errors import DecodeError
from mip6d.wire.xfrm import NETLINK_XFRM, decode_ack

__all__ = [
    "IFA_F_HOMEADDRESS",
    "IFA_F_NODAD",
    "KERNEL_EFFECTS",
    "LINK_TRAFFIC",
    "Kernel",
    "KernelError",
    "esp_sa_argv",
    "xfrm_policy_argv",
    "xfrm_state_argv",
]

IFA_F_NODAD = 0x02
IFA_F_HOMEADDRESS = 0x10
NTF_PROXY = 0x08
IPPROTO_IPV6 = 41
RTPROT_STATIC = 4
RTPROT_RA = 9  # routes from router advertisements (the kernel's, or networkd's RA client)
_UNSPECIFIED = IPv6Address("::")
_GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL)
_XFRM_EXISTS = ("File exists",)
_XFRM_GONE = ("No such process", "No such file or directory")
_RO_NAMES = {XfrmRoProto.ROUTE2: "route2", XfrmRoProto.HAO: "hao"}

class KernelError(RuntimeError):
    """A kernel change failed; the message names the effect and the kernel's answer."""

    def __init__(self, message: str, effect: Effect | None = None) -> None:
        super().__init__(message)
        self.effect = effect


def xfrm_state_argv(effect: AddXfrmState | RemoveXfrmState) -> list[str]:
    """``ip xfrm state add|delete`` for a route-optimisation state. A wildcard source
    (``::``) needs ``flag wildrecv`` (the kernel's ``xfrm6_input_addr`` only uses a
    state found with a wildcard address when it has that flag)."""
    proto = _RO_NAMES[effect.proto]
    head = ["ip", "xfrm", "state"]
    where = ["src", str(effect.src), "dst", str(effect.dst), "proto", proto, "spi", "0"]
    if isinstance(effect, RemoveXfrmState):
        return [*head, "delete", *where]
    argv = [*head, "add", *where, "mode", "ro", "coa", str(effect.coa)]
    if _UNSPECIFIED in (effect.src, effect.dst):
        argv += ["flag", "wildrecv"]
    return argv


def xfrm_policy_argv(effect: AddXfrmPolicy | RemoveXfrmPolicy) -> list[str]:
    """``ip xfrm policy update|delete`` for ``effect``: its selector, and for an update
    its priority and templates (ESP required between the selector's addresses, then
    the route-optimisation transform, optional). The selector names both prefixes:
    without them iproute2 makes an IPv4 policy."""
    selector = ["dir", str(effect.direction), "src", str(effect.src), "dst", str(effect.dst)]
    if effect.proto is not None:
        selector += ["proto", str(effect.proto)]
    if effect.mh_type is not None:
        selector += ["type", str(effect.mh_type)]
    if isinstance(effect, RemoveXfrmPolicy):
        return ["ip", "xfrm", "policy", "delete", *selector]
    templates = []
    if effect.esp_reqid is not None:
        templates += ["tmpl", "src", str(effect.src.network_address),
                      "dst", str(effect.dst.network_address), "proto", "esp",
                      "mode", "transport", "reqid", str(effect.esp_reqid), "level", "required"]
    if effect.ro is not None:
        bound = (["src", str(effect.src.network_address), "dst", str(effect.dst.network_address)]
                 if effect.ro_bound else [])
        templates += ["tmpl", *bound, "proto", _RO_NAMES[effect.ro], "mode", "ro", "level", "use"]
    return ["ip", "xfrm", "policy", "update", *selector, "priority", str(effect.priority),
            *templates]


def _algorithms(key: StaticKey) -> list[str]:
    words = []
    for keyed in (key.encryption, key.authentication):
        if keyed is None:
            continue
        algorithm = keyed.algorithm
        hexkey = "0x" + keyed.key.hex() if keyed.key else ""  # null: no key
        if algorithm.kind is AlgorithmKind.AEAD:
            words += ["aead", algorithm.xfrm_name, hexkey, str(algorithm.icv_bits)]
        elif algorithm.kind is AlgorithmKind.AUTHENTICATION:
            words += ["auth-trunc", algorithm.xfrm_name, hexkey, str(algorithm.icv_bits)]
        else:
            words += ["enc", algorithm.xfrm_name, hexkey]
    return words


def esp_sa_argv(effect: AddEspSa | RemoveEspSa) -> list[str]:
    """``ip xfrm state add|delete`` for one SA. The keys are on this command line (given
    to ``ip`` on its standard input); the command runner redacts them in what it logs
    (:func:`mip6d.command.command_line`)."""
    ident = ["src", str(effect.src), "dst", str(effect.dst), "proto", "esp",
             "spi", hex(effect.spi)]
    if isinstance(effect, RemoveEspSa):
        return ["ip", "xfrm", "state", "delete", *ident]
    return ["ip", "xfrm", "state", "add", *ident, "reqid", str(effect.reqid),
            "mode", "transport", *_algorithms(effect.key)]


def _describe(effect: Effect) -> str:
    """The effect as logged: its fields but the secret ones (``repr=False``: keys)."""
    values = (getattr(effect, f.name) for f in fields(effect) if f.repr)
    return f"{type(effect).__name__}({', '.join(str(v) for v in values)})"


LINK_TRAFFIC = ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets")
"""The link statistics :meth:`Kernel.link_traffic` reports (``/sys/class/net/*/statistics``)."""


class Kernel:
    """Applies kernel effects. ``ipr`` is a pyroute2 ``IPRoute`` (or a stand-in);
    ``runner`` runs ``ip xfrm`` commands one by one (tests record them), else they run
    in batches (:func:`~mip6d.command.run_batch`); ``proc_sys`` is where sysctls live,
    ``sys_class_net`` the links' statistics."""

    def __init__(
        self,
        ipr: Any = None,
        runner: Callable[[Sequence[str], Sequence[str]], str] | None = None,
        log: Callable[..., None] | None = None,
        proc_sys: Path = Path("/proc/sys"),
        xfrm_transport: Callable[[bytes], bytes] | None = None,
        sys_class_net: Path = Path("/sys/class/net"),
    ) -> None:
        self.ipr = ipr if ipr is not None else IPRoute()
        self.xfrm_transport = xfrm_transport or _xfrm_request
        self._xfrm_sequence = 0
        self.log = log or (lambda *a, **k: None)
        self.batch: BatchRunner = (
            one_by_one(runner) if runner else lambda commands: run_batch(commands, self.log))
        self.proc_sys = proc_sys
        self.sys_class_net = sys_class_net
        self.installed: list[Effect] = []
        # Who declared an installed entry, for the ones a reconcile owns (see installed_by).
        self.owners: dict[Effect, str] = {}
        # Sample keys of mip6d.metrics: kernel_changes/OPERATION, kernel_failures/OPERATION.
        self.counters: Counter[str] = Counter()

    def _count(self, operation: str, ok: bool) -> None:
        family = "kernel_changes" if ok else "kernel_failures"
        self.counters[sample_key(family, operation)] += 1

    # -- bookkeeping ------------------------------------------------------------------

    def _record(self, effect: Effect, owner: str | None = None) -> None:
        if isinstance(effect, ChangeTunnel):
            self.installed = [
                AddTunnel(e.name, effect.local, effect.remote)
                if isinstance(e, AddTunnel) and e.name == effect.name
                else e
                for e in self.installed
            ]
            if not any(isinstance(e, AddTunnel) and e.name == effect.name for e in self.installed):
                self.installed.append(AddTunnel(effect.name, effect.local, effect.remote))
        elif not is_removal(effect):
            if effect not in self.installed:
                self.installed.append(effect)
            if owner is not None:
                self.owners[effect] = owner
        else:
            twin = teardown((effect,))[0]
            if twin in self.installed:
                self.installed.remove(twin)
            self.owners.pop(twin, None)
            if isinstance(effect, RemoveTunnel):  # routes on it go with the device
                self.installed = [
                    e for e in self.installed
                    if not (isinstance(e, AddRoute) and e.via_tunnel == effect.name)
                    and not (isinstance(e, AddAddress) and e.ifname == effect.name)
                ]

    def installed_by(self, owner: str) -> tuple[Effect, ...]:
        """What ``owner`` (the ``owner`` it applied them with) has installed, in order."""
        return tuple(e for e in self.installed if self.owners.get(e) == owner)

    def cleanup(self) -> None:
        """Remove everything this daemon installed, last first; errors are logged."""
        for error in self.apply_each(teardown(self.installed)):
            self.log("error", "cleanup-failed", error=str(error))  # it names the effect
        self.installed.clear()
        self.owners.clear()

    # -- sysctls and XFRM messages ---------------------------------------------------------

    def sysctl(self, key: str, value: int) -> None:
        """Set ``net/ipv6/...`` style ``key`` (slashes or dots) to ``value``."""
        path = self.proc_sys / key.replace(".", "/")
        try:
            path.write_text(f"{value}\n")
        except OSError as error:
            self._count("sysctl", ok=False)
            raise KernelError(f"sysctl {key}={value}: {error}") from None
        self._count("sysctl", ok=True)
        self.log("info", "sysctl", name=key, value=value)

    def link_traffic(self, ifname: str) -> dict[str, int] | None:
        """The kernel's counters of ``ifname`` (:data:`LINK_TRAFFIC`), None when it has
        none (not there). Files, not netlink: the control socket's thread asks, and the
        netlink socket belongs to the main loop."""
        where = self.sys_class_net / ifname / "statistics"
        try:
            return {name: int((where / name).read_text()) for name in LINK_TRAFFIC}
        except (OSError, ValueError):
            return None

    def keep_accepting_ra(self, ifname: str) -> bool:
        """On a forwarding node the kernel ignores router advertisements unless
        ``accept_ra`` is 2: raise it from 1 (the kernel handled them) to 2. A link at 0
        has another owner (systemd-networkd's own RA client, or the administrator) and
        is left alone. True when raised."""
        key = f"net/ipv6/conf/{ifname}/accept_ra"
        try:
            current = int((self.proc_sys / key).read_text())
        except (OSError, ValueError):
            return False  # not there (yet): nothing to keep
        if current != 1:
            return False
        self.sysctl(key, 2)
        return True

    def forget_default_router(self, ifname: str, router: IPv6Address) -> None:
        """Remove the default route via ``router`` on ``ifname`` that router
        advertisements gave (proto ra); a default route someone set by hand stays, one
        already gone is fine. Logged; a failure is logged, not raised: the route's owner
        still drops it when neighbour unreachability detection fails the router."""
        found = self.ipr.link_lookup(ifname=ifname)
        if not found:
            return
        try:
            self.ipr.route("del", oif=found[0], gateway=str(router), proto=RTPROT_RA,
                           **self._route(IPv6Network("::/0"), None))
        except Exception as error:  # pyroute2's NetlinkError
            if getattr(error, "code", None) not in _GONE:
                self._count("forget-router", ok=False)
                self.log("warning", "router-forget-failed", ifname=ifname,
                         router=str(router), error=str(error))
            return
        self._count("forget-router", ok=True)
        self.log("info", "router-forgotten", ifname=ifname, router=str(router))

    def xfrm_message(self, what: str, build: Callable[[int], bytes]) -> None:
        """Send the XFRM netlink request ``build(sequence)``; :class:`KernelError` naming
        ``what`` if the kernel refuses it."""
        self._xfrm_sequence += 1
        try:
            answer = self.xfrm_transport(build(self._xfrm_sequence))
            error = decode_ack(answer, self._xfrm_sequence)
        except (OSError, DecodeError) as failure:
            self._count("xfrm-migrate", ok=False)
            raise KernelError(f"{what}: {failure}") from None
        if error:
            self._count("xfrm-migrate", ok=False)
            raise KernelError(f"{what}: {errno.errorcode.get(error, error)} "
                              f"({os.strerror(error)})")
        self._count("xfrm-migrate", ok=True)
        self.log("info", "kernel", effect=what)

    # -- effects ----------------------------------------------------------------------

    def apply(self, effect: Effect, owner: str | None = None) -> None:
        """Apply one kernel effect; :class:`KernelError` if the kernel refused it. An
        ``owner`` is recorded with what it installs (:meth:`installed_by`)."""
        self.apply_all((effect,), owner)

    def apply_all(self, effects: Sequence[Effect], owner: str | None = None) -> None:
        """Apply kernel ``effects`` in order, as :meth:`apply` one by one would, each run
        of ``ip xfrm`` changes in one process. :class:`KernelError` (its ``effect``) at
        the first refusal: the effects after that one are not applied."""
        for xfrm, run in groupby(effects, lambda e: type(e) in XFRM_COMMANDS):
            if xfrm:
                self._apply_xfrm(tuple(run), owner)
            else:
                for effect in run:
                    self._apply_one(effect, owner)

    def apply_each(self, effects: Sequence[Effect], owner: str | None = None
                   ) -> list[KernelError]:
        """Apply all ``effects`` that the kernel takes, going on past a refusal: the
        refusals, each naming its effect."""
        refused: list[KernelError] = []
        rest = list(effects)
        while rest:
            try:
                self.apply_all(rest, owner)
                break
            except KernelError as error:
                refused.append(error)
                at = next(i for i, e in enumerate(rest) if e is error.effect)
                rest = rest[at + 1:]
        return refused

    def _done(self, effect: Effect, owner: str | None) -> None:
        self._count(label_value(type(effect).__name__), ok=True)
        self._record(effect, owner)
        self.log("info", "kernel", effect=_describe(effect))

    def _apply_xfrm(self, effects: Sequence[Effect], owner: str | None,
                    clear_first: bool = False) -> None:
        """``effects`` of :data:`XFRM_COMMANDS` types, in one batch of commands; with
        ``clear_first``, the SA of the first one's SPI removed before it."""
        commands = [(effect, XFRM_COMMANDS[type(effect)](effect)) for effect in effects]
        if clear_first:
            first = effects[0]
            assert isinstance(first, AddEspSa)
            leftover = RemoveEspSa(first.src, first.dst, first.spi, first.reqid, first.key)
            commands.insert(0, (first, (esp_sa_argv(leftover), _XFRM_GONE)))
        try:
            self.batch([command for _effect, command in commands])
        except BatchError as error:
            failed = commands[error.index][0]
            done = effects[:effects.index(failed)]
            for effect in done:
                self._done(effect, owner)
            if (isinstance(failed, AddEspSa) and not (clear_first and failed is effects[0])
                    and any(phrase in error.output for phrase in _XFRM_EXISTS)):
                # An SA with that SPI is there (a crash's leftover, other keys perhaps):
                # `add` refuses it and `update` would refuse a missing one. Rare, so
                # removed only then, and the batch goes on from there.
                self._apply_xfrm(effects[len(done):], owner, clear_first=True)
                return
            self._count(label_value(type(failed).__name__), ok=False)
            raise KernelError(f"{_describe(failed)}: {error}", failed) from None
        for effect in effects:
            self._done(effect, owner)

    def _apply_one(self, effect: Effect, owner: str | None) -> None:
        handler = _HANDLERS.get(type(effect))
        if handler is None:
            raise TypeError(f"not a kernel effect: {effect!r}")
        operation = label_value(type(effect).__name__)
        try:
            handler(self, effect)
        except KernelError as error:  # e.g. no such interface
            self._count(operation, ok=False)
            raise KernelError(f"{_describe(effect)}: {error}", effect) from None
        except Exception as error:  # pyroute2's NetlinkError and friends
            code = getattr(error, "code", None)
            if is_removal(effect) and code in _GONE:
                self._record(effect)
                return
            self._count(operation, ok=False)
            raise KernelError(f"{_describe(effect)}: {error}", effect) from None
        self._done(effect, owner)

    def _index(self, ifname: str) -> int:
        found = self.ipr.link_lookup(ifname=ifname)
        if not found:
            raise KernelError(f"interface {ifname!r} does not exist")
        return int(found[0])

    def _tunnel_attrs(self, local: IPv6Address, remote: IPv6Address) -> dict[str, Any]:
        return {
            "kind": "ip6tnl",
            "ip6tnl_local": str(local),
            "ip6tnl_remote": str(remote),
            "ip6tnl_proto": IPPROTO_IPV6,
            "ip6tnl_ttl": 64,
            "ip6tnl_encap_limit": 4,
        }

    def _add_tunnel(self, e: AddTunnel) -> None:
        attrs = self._tunnel_attrs(e.local, e.remote)
        found = self.ipr.link_lookup(ifname=e.name)
        if found:
            self.ipr.link("set", index=found[0], **attrs)
        else:
            self.ipr.link("add", ifname=e.name, **attrs)
        self.ipr.link("set", index=self._index(e.name), state="up")

    def _change_tunnel(self, e: ChangeTunnel) -> None:
        self._add_tunnel(AddTunnel(e.name, e.local, e.remote))

    def _remove_tunnel(self, e: RemoveTunnel) -> None:
        found = self.ipr.link_lookup(ifname=e.name)
        if found:
            self.ipr.link("del", index=found[0])

    def _route(self, prefix: IPv6Network, table: int | None) -> dict[str, Any]:
        return {
            "dst": str(prefix.network_address),
            "dst_len": prefix.prefixlen,
            "table": table if table is not None else MAIN_TABLE,
            "family": socket.AF_INET6,
        }

    def _add_route(self, e: AddRoute) -> None:
        self.ipr.route(
            "replace", oif=self._index(e.via_tunnel), proto=RTPROT_STATIC,
            **self._route(e.prefix, e.table),
        )

    def _remove_route(self, e: RemoveRoute) -> None:
        found = self.ipr.link_lookup(ifname=e.via_tunnel)
        if found:
            self.ipr.route("del", oif=found[0], **self._route(e.prefix, e.table))

    def _add_unreachable_route(self, e: AddUnreachableRoute) -> None:
        self.ipr.route("replace", type="unreachable", priority=e.metric, proto=RTPROT_STATIC,
                       **self._route(e.prefix, e.table))

    def _remove_unreachable_route(self, e: RemoveUnreachableRoute) -> None:
        self.ipr.route("del", type="unreachable", priority=e.metric,
                       **self._route(e.prefix, e.table))

    def _add_proxy_neighbour(self, e: AddProxyNeighbour) -> None:
        self.ipr.neigh(
            "replace", dst=str(e.address), ifindex=self._index(e.ifname), flags=NTF_PROXY,
            family=socket.AF_INET6,
        )

    def _remove_proxy_neighbour(self, e: RemoveProxyNeighbour) -> None:
        found = self.ipr.link_lookup(ifname=e.ifname)
        if found:
            self.ipr.neigh(
                "del", dst=str(e.address), ifindex=found[0], flags=NTF_PROXY,
                family=socket.AF_INET6,
            )

    def _addr(self, e: AddAddress | RemoveAddress) -> dict[str, Any]:
        flags = (IFA_F_HOMEADDRESS if e.home_address else 0) | (IFA_F_NODAD if e.nodad else 0)
        return {
            "address": str(e.address.ip),
            "prefixlen": e.address.network.prefixlen,
            "family": socket.AF_INET6,
            "flags": flags,
        }

    def _add_address(self, e: AddAddress) -> None:
        self.ipr.addr("replace", index=self._index(e.ifname), **self._addr(e))

    def _remove_address(self, e: RemoveAddress) -> None:
        found = self.ipr.link_lookup(ifname=e.ifname)
        if found:
            args = self._addr(e)
            del args["flags"]
            self.ipr.addr("del", index=found[0], **args)

    def _rule(self, e: AddRule | RemoveRule) -> dict[str, Any]:
        args: dict[str, Any] = {"family": socket.AF_INET6, "priority": e.priority,
                                "table": e.table}
        if e.source is not None:
            args.update(src=str(e.source.network_address), src_len=e.source.prefixlen)
        if e.destination is not None:
            args.update(dst=str(e.destination.network_address), dst_len=e.destination.prefixlen)
        if e.protocol is not None:
            args.update(ip_proto=e.protocol)
        for name, ports in (("sport_range", e.source_port), ("dport_range", e.destination_port)):
            if ports is not None:
                args[name] = f"{ports[0]}:{ports[1]}"  # as pyroute2 encodes FRA_*PORT_RANGE
        return args

    def _add_rule(self, e: AddRule) -> None:
        try:
            self.ipr.rule("add", **self._rule(e))
        except Exception as error:
            if getattr(error, "code", None) != errno.EEXIST:
                raise

    def _remove_rule(self, e: RemoveRule) -> None:
        self.ipr.rule("del", **self._rule(e))


_HANDLERS: Mapping[type, Callable[[Kernel, Any], None]] = {
    AddTunnel: Kernel._add_tunnel,
    ChangeTunnel: Kernel._change_tunnel,
    RemoveTunnel: Kernel._remove_tunnel,
    AddRoute: Kernel._add_route,
    RemoveRoute: Kernel._remove_route,
    AddUnreachableRoute: Kernel._add_unreachable_route,
    RemoveUnreachableRoute: Kernel._remove_unreachable_route,
    AddProxyNeighbour: Kernel._add_proxy_neighbour,
    RemoveProxyNeighbour: Kernel._remove_proxy_neighbour,
    AddAddress: Kernel._add_address,
    RemoveAddress: Kernel._remove_address,
    AddRule: Kernel._add_rule,
    RemoveRule: Kernel._remove_rule,
}
"""How :meth:`Kernel.apply` carries out each kernel effect but the XFRM ones."""

XFRM_COMMANDS: Mapping[type, Callable[[Any], Command]] = {
    AddXfrmState: lambda e: (xfrm_state_argv(e), _XFRM_EXISTS),
    RemoveXfrmState: lambda e: (xfrm_state_argv(e), _XFRM_GONE),
    AddXfrmPolicy: lambda e: (xfrm_policy_argv(e), ()),
    RemoveXfrmPolicy: lambda e: (xfrm_policy_argv(e), _XFRM_GONE),
    AddEspSa: lambda e: (esp_sa_argv(e), ()),  # one already there: see Kernel._apply_xfrm
    RemoveEspSa: lambda e: (esp_sa_argv(e), _XFRM_GONE),
}
"""The ``ip xfrm`` command (with the errors that mean "nothing to do") of each XFRM
effect: :meth:`Kernel.apply_all` runs a run of them in one process."""

KERNEL_EFFECTS = (*_HANDLERS, *XFRM_COMMANDS)
"""The effect types :meth:`Kernel.apply` handles."""


def _xfrm_request(message: bytes) -> bytes:
    """One request on a fresh NETLINK_XFRM socket; the kernel's answer (an ack)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM) as sock:
        sock.settimeout(5)
        sock.bind((0, 0))
        sock.send(message)
        return sock.recv(65536)
