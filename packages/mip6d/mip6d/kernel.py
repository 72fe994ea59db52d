"""The kernel adapter: applies the core's kernel effects (:mod:`mip6d.core.effects`).

Links (ip6ip6 tunnels), addresses, routes, rules and proxy neighbours go through one
pyroute2 ``IPRoute`` (pass another one, or a fake with the same methods, for tests);
XFRM route-optimisation states and policies through ``ip xfrm`` and the one command
runner (:mod:`mip6d.command`), since pyroute2 has no XFRM support; XFRM_MSG_MIGRATE
(which iproute2 cannot send) as a raw netlink message (:mod:`mip6d.wire.xfrm`) through
``xfrm_transport``, swappable for tests.

``Add*`` effects are idempotent (replace), ``Remove*`` effects ignore an object that is
already gone. :attr:`Kernel.installed` keeps what this daemon created, in install
order, so that :meth:`Kernel.cleanup` removes exactly that at shutdown.
"""

from __future__ import annotations

import errno
import os
import socket
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from mip6d.command import CommandError, run
from mip6d.core.effects import (
    MAIN_TABLE,
    AddAddress,
    AddProxyNeighbour,
    AddRoute,
    AddRule,
    AddTunnel,
    AddXfrmState,
    ChangeTunnel,
    Effect,
    RemoveAddress,
    RemoveProxyNeighbour,
    RemoveRoute,
    RemoveRule,
    RemoveTunnel,
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
    "Kernel",
    "KernelError",
    "XfrmPolicy",
    "xfrm_policy_argv",
    "xfrm_state_argv",
]

IFA_F_NODAD = 0x02
IFA_F_HOMEADDRESS = 0x10
NTF_PROXY = 0x08
IPPROTO_IPV6 = 41
RTPROT_STATIC = 4
_UNSPECIFIED = IPv6Address("::")
_GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL)
_XFRM_EXISTS = ("File exists",)
_XFRM_GONE = ("No such process", "No such file or directory")

class KernelError(RuntimeError):
    """A kernel change failed; the message names the effect and the kernel's answer."""


def xfrm_state_argv(effect: AddXfrmState | RemoveXfrmState) -> list[str]:
    """``ip xfrm state add|delete`` for a route-optimisation state. A wildcard source
    (``::``) needs ``flag wildrecv`` (the kernel's ``xfrm6_input_addr`` only uses a
    state found with a wildcard address when it has that flag)."""
    proto = "route2" if effect.proto is XfrmRoProto.ROUTE2 else "hao"
    head = ["ip", "xfrm", "state"]
    where = ["src", str(effect.src), "dst", str(effect.dst), "proto", proto, "spi", "0"]
    if isinstance(effect, RemoveXfrmState):
        return [*head, "delete", *where]
    argv = [*head, "add", *where, "mode", "ro", "coa", str(effect.coa)]
    if _UNSPECIFIED in (effect.src, effect.dst):
        argv += ["flag", "wildrecv"]
    return argv


WILDCARD_PRIORITY = 1000


class XfrmPolicy:
    """An inbound policy that accepts Mobility Header messages of ``mh_type`` carrying
    the route-optimisation transform ``proto`` (``level use``: optional, so the same
    messages without it pass too). Without it the kernel drops a Binding Update with a
    Home Address option (type 5) or a Binding Acknowledgement with a type 2 routing
    header (type 6) and counts XfrmInNoPols."""

    def __init__(self, mh_type: int, proto: XfrmRoProto) -> None:
        self.mh_type = mh_type
        self.proto = proto


def xfrm_policy_argv(policy: XfrmPolicy, add: bool) -> list[str]:
    """``ip xfrm policy update|delete`` for ``policy`` (``src ::/0 dst ::/0``: without
    them iproute2 makes an IPv4 policy)."""
    sel = ["dir", "in", "src", "::/0", "dst", "::/0", "proto", "135", "type", str(policy.mh_type)]
    if not add:
        return ["ip", "xfrm", "policy", "delete", *sel]
    proto = "route2" if policy.proto is XfrmRoProto.ROUTE2 else "hao"
    # A higher number than the per-node IPsec policies (mip6d.ipsec.POLICY_PRIORITY):
    # the kernel consults a protected home address's own policy first, so an
    # unprotected Binding Update of that node cannot pass through this one.
    return ["ip", "xfrm", "policy", "update", *sel, "priority", str(WILDCARD_PRIORITY),
            "tmpl", "proto", proto, "mode", "ro", "level", "use"]


def _describe(effect: Effect) -> str:
    return f"{type(effect).__name__}({', '.join(str(v) for v in _values(effect))})"


def _values(effect: Effect) -> list[object]:
    return [getattr(effect, name) for name in getattr(effect, "__slots__", ())]


class Kernel:
    """Applies kernel effects. ``ipr`` is a pyroute2 ``IPRoute`` (or a stand-in);
    ``runner`` runs ``ip xfrm`` commands; ``proc_sys`` is where sysctls live."""

    def __init__(
        self,
        ipr: Any = None,
        runner: Callable[[Sequence[str], Sequence[str]], str] | None = None,
        log: Callable[..., None] | None = None,
        proc_sys: Path = Path("/proc/sys"),
        xfrm_transport: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.ipr = ipr if ipr is not None else IPRoute()
        self.xfrm_transport = xfrm_transport or _xfrm_request
        self._xfrm_sequence = 0
        self.log = log or (lambda *a, **k: None)
        self.runner = runner or (lambda argv, tolerate: run(argv, tolerate, self.log))
        self.proc_sys = proc_sys
        self.installed: list[Effect] = []
        self.policies: list[XfrmPolicy] = []
        # Removal command lines of what `install_command` added (IPsec SAs and policies).
        self.commands: dict[tuple[str, ...], None] = {}
        # Sample keys of mip6d.metrics: kernel_changes/OPERATION, kernel_failures/OPERATION.
        self.counters: Counter[str] = Counter()

    def _count(self, operation: str, ok: bool) -> None:
        family = "kernel_changes" if ok else "kernel_failures"
        self.counters[sample_key(family, operation)] += 1

    # -- bookkeeping ------------------------------------------------------------------

    def _record(self, effect: Effect) -> None:
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
        else:
            twin = teardown((effect,))[0]
            if twin in self.installed:
                self.installed.remove(twin)
            if isinstance(effect, RemoveTunnel):  # routes on it go with the device
                self.installed = [
                    e for e in self.installed
                    if not (isinstance(e, AddRoute) and e.via_tunnel == effect.name)
                    and not (isinstance(e, AddAddress) and e.ifname == effect.name)
                ]

    def cleanup(self) -> None:
        """Remove everything this daemon installed, last first; errors are logged."""
        for effect in teardown(self.installed):
            try:
                self.apply(effect)
            except KernelError as error:
                self.log("error", "cleanup-failed", effect=_describe(effect), error=str(error))
        for policy in reversed(self.policies):
            try:
                self.runner(xfrm_policy_argv(policy, add=False), _XFRM_GONE)
            except CommandError as error:
                self.log("error", "cleanup-failed", error=str(error))
        for remove in reversed(list(self.commands)):
            try:
                self.runner(remove, _XFRM_GONE)
            except CommandError as error:
                self.log("error", "cleanup-failed", error=str(error))
        self.installed.clear()
        self.policies.clear()
        self.commands.clear()

    # -- sysctls and policies ---------------------------------------------------------

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

    def install_command(self, add: Sequence[str], remove: Sequence[str]) -> None:
        """Run ``add`` (an ``ip xfrm`` line); ``remove`` undoes it at cleanup."""
        try:
            self.runner(add, ())
        except CommandError as error:
            self._count("ipsec-install", ok=False)
            raise KernelError(str(error)) from None
        self._count("ipsec-install", ok=True)
        self.commands[tuple(remove)] = None

    def remove_command(self, remove: Sequence[str]) -> None:
        """Undo one `install_command` (nothing to do if it is gone already)."""
        self.commands.pop(tuple(remove), None)
        try:
            self.runner(remove, _XFRM_GONE)
        except CommandError as error:
            self._count("ipsec-remove", ok=False)
            raise KernelError(str(error)) from None
        self._count("ipsec-remove", ok=True)

    def add_policy(self, policy: XfrmPolicy) -> None:
        try:
            self.runner(xfrm_policy_argv(policy, add=True), ())
        except CommandError as error:
            self._count("xfrm-policy", ok=False)
            raise KernelError(str(error)) from None
        self._count("xfrm-policy", ok=True)
        self.policies.append(policy)

    # -- effects ----------------------------------------------------------------------

    def apply(self, effect: Effect) -> None:
        """Apply one kernel effect; :class:`KernelError` if the kernel refused it."""
        handler = _HANDLERS.get(type(effect))
        if handler is None:
            raise TypeError(f"not a kernel effect: {effect!r}")
        operation = label_value(type(effect).__name__)
        try:
            handler(self, effect)
        except KernelError:
            self._count(operation, ok=False)
            raise
        except CommandError as error:
            self._count(operation, ok=False)
            raise KernelError(f"{_describe(effect)}: {error}") from None
        except Exception as error:  # pyroute2's NetlinkError and friends
            code = getattr(error, "code", None)
            if is_removal(effect) and code in _GONE:
                self._record(effect)
                return
            self._count(operation, ok=False)
            raise KernelError(f"{_describe(effect)}: {error}") from None
        self._count(operation, ok=True)
        self._record(effect)
        self.log("info", "kernel", effect=_describe(effect))

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
        return args

    def _add_rule(self, e: AddRule) -> None:
        try:
            self.ipr.rule("add", **self._rule(e))
        except Exception as error:
            if getattr(error, "code", None) != errno.EEXIST:
                raise

    def _remove_rule(self, e: RemoveRule) -> None:
        self.ipr.rule("del", **self._rule(e))

    def _add_xfrm_state(self, e: AddXfrmState) -> None:
        self.runner(xfrm_state_argv(e), _XFRM_EXISTS)

    def _remove_xfrm_state(self, e: RemoveXfrmState) -> None:
        self.runner(xfrm_state_argv(e), _XFRM_GONE)


_HANDLERS: Mapping[type, Callable[[Kernel, Any], None]] = {
    AddTunnel: Kernel._add_tunnel,
    ChangeTunnel: Kernel._change_tunnel,
    RemoveTunnel: Kernel._remove_tunnel,
    AddRoute: Kernel._add_route,
    RemoveRoute: Kernel._remove_route,
    AddProxyNeighbour: Kernel._add_proxy_neighbour,
    RemoveProxyNeighbour: Kernel._remove_proxy_neighbour,
    AddAddress: Kernel._add_address,
    RemoveAddress: Kernel._remove_address,
    AddRule: Kernel._add_rule,
    RemoveRule: Kernel._remove_rule,
    AddXfrmState: Kernel._add_xfrm_state,
    RemoveXfrmState: Kernel._remove_xfrm_state,
}
"""How :meth:`Kernel.apply` carries out each kernel effect."""

KERNEL_EFFECTS = tuple(_HANDLERS)
"""The effect types :meth:`Kernel.apply` handles."""


def _xfrm_request(message: bytes) -> bytes:
    """One request on a fresh NETLINK_XFRM socket; the kernel's answer (an ack)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM) as sock:
        sock.settimeout(5)
        sock.bind((0, 0))
        sock.send(message)
        return sock.recv(65536)
