"""Stand-ins for the daemon shell's I/O, for in-process tests of a real
:class:`~mip6d.shell.loop.Daemon`: a netlink that keeps the kernel's state (links,
addresses, routes, proxy neighbours, rules) and answers like pyroute2's ``IPRoute``
(errno on what is missing or already there), a Mobility Header socket with an inbox,
an ICMPv6 socket (DHAAD, router advertisements) with an inbox and its anycast joins,
a Duplicate Address Detection prober that answers when told, and a command runner
that keeps the ``ip xfrm`` lines. And for what talks to a daemon (the control socket,
mip6ctl, the metrics endpoint, HAiku): one daemon answering the control protocol from
canned data, and a control socket server for it in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path
from typing import Any

from mip6d import __version__, control
from mip6d.command import CommandError
from mip6d.config import ConfigError, load
from mip6d.core.bcache import Binding
from mip6d.core.effects import SendIcmp, SendMessage
from mip6d.shell.icmpsocket import ReceivedIcmp
from mip6d.shell.icmpsocket import encode_send as icmp_encode_send
from mip6d.shell.kernel import Kernel
from mip6d.shell.loop import Daemon
from mip6d.shell.mhsocket import Received
from mip6d.shell.ndisc import DadResult
from mip6d.wire import mh

__all__ = ["EXAMPLES", "ControlServer", "FakeDad", "FakeDaemon", "FakeHomeAgent",
           "FakeIPRoute", "FakeIcmpSocket", "FakeMhSocket", "NetlinkError",
           "ReloadingHomeAgent", "Rig", "Runner", "SilentDaemon", "StandInHomeAgent",
           "binding", "binding_update_from", "rig"]

EXAMPLES = Path(__file__).resolve().parents[1] / "packages" / "mip6d" / "examples"
"""mip6d's example configurations."""


class NetlinkError(Exception):
    """What pyroute2 raises: the kernel's errno in ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code, errno.errorcode.get(code, str(code)))
        self.code = code


class _Message(dict[str, Any]):
    """A decoded netlink message: fields by key, attributes by ``get_attr``."""

    def __init__(self, attrs: dict[str, Any], **fields: Any) -> None:
        super().__init__(fields)
        self.attrs = attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


Route = tuple[str, int, int]
"""``(dst, dst_len, table)``: the key of a route."""
Rule = tuple[int, int, str | None, int | None, str | None, int | None, int | None,
             str | None, str | None]
"""``(priority, table, src, src_len, dst, dst_len, ip_proto)``."""


class FakeIPRoute:
    """The subset of pyroute2's ``IPRoute`` the kernel adapter and the daemon use,
    keeping state like the kernel: a link's routes and addresses go with it, a route,
    address, neighbour or rule removed twice answers ``ESRCH``/``EADDRNOTAVAIL``/
    ``ENOENT``, a rule added twice ``EEXIST``. ``fail[(method, command)]`` makes the
    next such calls fail with that errno. Every call is kept in :attr:`calls`."""

    def __init__(self, links: Sequence[str] = ("lo",)) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.links: dict[str, int] = {}
        self.tunnels: dict[str, tuple[str, str]] = {}
        self.up: set[str] = set()
        self.addresses: dict[tuple[str, IPv6Interface], int] = {}
        self.routes: dict[Route, str] = {}
        self.unreachable: set[tuple[str, int, int, int]] = set()
        """Unreachable routes, ``(dst, dst_len, table, metric)``: they have no device."""
        self.neighbours: set[tuple[str, str]] = set()
        self.rules: set[Rule] = set()
        self.fail: dict[tuple[str, str], int] = {}
        for name in links:
            self.add_link(name)

    # -- set-up for tests -------------------------------------------------------------

    def add_link(self, name: str, *addresses: str) -> None:
        """A link ``name`` with global ``addresses`` (``"2001:db8:1::1/64"``)."""
        self.links[name] = max(self.links.values(), default=0) + 1
        for address in addresses:
            self.addresses[(name, IPv6Interface(address))] = 0

    def name_of(self, index: int) -> str:
        return next(name for name, i in self.links.items() if i == index)

    def _call(self, method: str, command: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((method, command, kwargs))
        code = self.fail.get((method, command))
        if code is not None:
            raise NetlinkError(code)

    # -- IPRoute ----------------------------------------------------------------------

    def link_lookup(self, ifname: str) -> list[int]:
        return [self.links[ifname]] if ifname in self.links else []

    def link(self, command: str, **kwargs: Any) -> None:
        self._call("link", command, kwargs)
        if command == "add":
            self.add_link(kwargs["ifname"])
            name = kwargs["ifname"]
        else:
            name = self.name_of(kwargs["index"])
        if command == "del":
            del self.links[name]
            self.tunnels.pop(name, None)
            self.up.discard(name)
            self.addresses = {k: v for k, v in self.addresses.items() if k[0] != name}
            self.routes = {k: v for k, v in self.routes.items() if v != name}
            self.neighbours = {n for n in self.neighbours if n[1] != name}
            return
        if "ip6tnl_local" in kwargs:
            self.tunnels[name] = (kwargs["ip6tnl_local"], kwargs["ip6tnl_remote"])
        if kwargs.get("state") == "up":
            self.up.add(name)

    def get_addr(self, family: int = socket.AF_INET6, index: int | None = None
                 ) -> list[_Message]:
        return [
            _Message({"IFA_ADDRESS": str(address.ip)}, index=self.links[name],
                     prefixlen=address.network.prefixlen, flags=flags,
                     scope=253 if address.ip.is_link_local else 0)
            for (name, address), flags in self.addresses.items()
            if index is None or self.links[name] == index
        ]

    def addr(self, command: str, index: int, address: str, prefixlen: int, **kwargs: Any
             ) -> None:
        self._call("addr", command, {"index": index, "address": address,
                                     "prefixlen": prefixlen, **kwargs})
        key = (self.name_of(index), IPv6Interface(f"{address}/{prefixlen}"))
        if command == "del":
            if self.addresses.pop(key, None) is None:
                raise NetlinkError(errno.EADDRNOTAVAIL)
        else:
            self.addresses[key] = kwargs.get("flags", 0)

    def route(self, command: str, dst: str, dst_len: int, table: int,
              oif: int | None = None, **kwargs: Any) -> None:
        self._call("route", command, {"dst": dst, "dst_len": dst_len, "table": table,
                                      **({} if oif is None else {"oif": oif}), **kwargs})
        if kwargs.get("type") == "unreachable":
            refusing = (dst, dst_len, table, kwargs["priority"])
            if command == "del" and refusing not in self.unreachable:
                raise NetlinkError(errno.ESRCH)
            if command == "del":
                self.unreachable.remove(refusing)
            else:
                self.unreachable.add(refusing)
            return
        assert oif is not None, "a route through a device names it"
        key = (dst, dst_len, table)
        if command == "del":
            if self.routes.get(key) != self.name_of(oif):
                raise NetlinkError(errno.ESRCH)
            del self.routes[key]
        else:
            self.routes[key] = self.name_of(oif)

    def neigh(self, command: str, dst: str, ifindex: int, **kwargs: Any) -> None:
        self._call("neigh", command, {"dst": dst, "ifindex": ifindex, **kwargs})
        key = (dst, self.name_of(ifindex))
        if command == "del":
            if key not in self.neighbours:
                raise NetlinkError(errno.ENOENT)
            self.neighbours.remove(key)
        else:
            self.neighbours.add(key)

    def rule(self, command: str, priority: int, table: int, **kwargs: Any) -> None:
        self._call("rule", command, {"priority": priority, "table": table, **kwargs})
        key: Rule = (priority, table, kwargs.get("src"), kwargs.get("src_len"),
                     kwargs.get("dst"), kwargs.get("dst_len"), kwargs.get("ip_proto"),
                     kwargs.get("sport_range"), kwargs.get("dport_range"))
        if command == "del":
            if key not in self.rules:
                raise NetlinkError(errno.ENOENT)
            self.rules.remove(key)
        elif key in self.rules:
            raise NetlinkError(errno.EEXIST)
        else:
            self.rules.add(key)

    def close(self) -> None:
        pass

    # -- what tests read --------------------------------------------------------------

    def route_table(self) -> dict[IPv6Network, str]:
        """Main-table and other routes as ``prefix -> device``."""
        return {IPv6Network(f"{dst}/{length}"): dev
                for (dst, length, _), dev in self.routes.items()}

    def proxies(self) -> set[tuple[IPv6Address, str]]:
        return {(IPv6Address(a), dev) for a, dev in self.neighbours}


class Runner:
    """The command runner for ``ip xfrm`` lines: keeps them, answers ``""``; a line
    starting with one of ``refuse`` fails like the real runner."""

    def __init__(self) -> None:
        self.lines: list[list[str]] = []
        self.refuse: list[list[str]] = []

    def __call__(self, argv: Sequence[str], tolerate: Sequence[str]) -> str:
        self.lines.append(list(argv))
        if any(list(argv[: len(r)]) == r for r in self.refuse):
            raise CommandError(" ".join(argv), 2, "RTNETLINK answers: refused")
        return ""


@dataclass
class FakeMhSocket:
    """The Mobility Header socket: :meth:`receive` hands out :attr:`inbox` (a
    :class:`Received`, or an exception to raise), :meth:`send` keeps what was sent
    (or raises :attr:`refuse`)."""

    inbox: list[Received | Exception] = field(default_factory=list)
    sent: list[SendMessage] = field(default_factory=list)
    refuse: OSError | None = None
    """What :meth:`send` raises instead of sending."""

    def fileno(self) -> int:
        return -1

    def send(self, effect: SendMessage) -> int:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append(effect)
        return 0

    def receive(self) -> Received | None:
        if not self.inbox:
            return None
        item = self.inbox.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        pass


@dataclass
class FakeIcmpSocket:
    """The ICMPv6 socket of :mod:`mip6d.shell.icmpsocket`: :attr:`types` as opened,
    :meth:`read` hands out :attr:`inbox`, :meth:`send` keeps the effect and the exact
    bytes the real socket would send (:attr:`wire`), :meth:`join_anycast` records the
    joins (or raises :attr:`refuse_join`)."""

    types: tuple[int, ...] = ()
    inbox: list[ReceivedIcmp] = field(default_factory=list)
    sent: list[SendIcmp] = field(default_factory=list)
    wire: list[bytes] = field(default_factory=list)
    joined: list[tuple[IPv6Address, str]] = field(default_factory=list)
    refuse_join: OSError | None = None
    malformed: int = 0

    def opened(self, types: Sequence[int]) -> FakeIcmpSocket:
        self.types = tuple(types)
        return self

    def fileno(self) -> int:
        return -1

    def join_anycast(self, address: IPv6Address, ifname: str) -> None:
        if self.refuse_join is not None:
            raise self.refuse_join
        self.joined.append((address, ifname))

    def send(self, effect: SendIcmp) -> None:
        self.wire.append(icmp_encode_send(effect)[0])
        self.sent.append(effect)

    def read(self) -> list[ReceivedIcmp]:
        items, self.inbox = self.inbox, []
        return items

    def close(self) -> None:
        pass


def binding_update_from(bu: mh.BindingUpdate, home: IPv6Address, care_of: IPv6Address,
                        ha: IPv6Address) -> Received:
    """``bu`` as it came from ``care_of`` with a Home Address option naming ``home``."""
    return Received(bu, care_of, ha, home_address=home)


@dataclass
class FakeDad:
    """Duplicate Address Detection that finds what :attr:`duplicates` lists, the
    moment it starts (as with ``dad_transmits`` 0); :attr:`malformed` like the real
    prober's count of undecodable Neighbor Discovery messages."""

    duplicates: set[IPv6Address] = field(default_factory=set)
    started: list[tuple[IPv6Address, str]] = field(default_factory=list)
    malformed: int = 0

    def fileno(self) -> int:
        return -1

    def start(self, home_address: IPv6Address, addresses: tuple[IPv6Address, ...],
              ifname: str, now: float) -> list[DadResult]:
        self.started.append((home_address, ifname))
        return [DadResult(home_address, home_address not in self.duplicates)]

    def next_deadline(self) -> float | None:
        return None

    def due(self, now: float) -> list[DadResult]:
        return []

    def read(self, now: float) -> list[DadResult]:
        return []

    def close(self) -> None:
        pass


@dataclass
class Rig:
    """A real :class:`~mip6d.shell.loop.Daemon` on the fakes above, its configuration in a
    file (so that reload reads it), its clock in :attr:`now`."""

    daemon: Daemon
    ipr: FakeIPRoute
    runner: Runner
    mh: FakeMhSocket
    dad: FakeDad
    config_path: Path
    now: list[float]
    icmp: FakeIcmpSocket = field(default_factory=FakeIcmpSocket)

    def receive_icmp(self, *items: ReceivedIcmp) -> None:
        """Have the daemon read ``items`` from its ICMPv6 socket."""
        self.icmp.inbox.extend(items)
        self.daemon._on_icmp()

    def receive(self, *items: Received | Exception) -> None:
        """Have the daemon read ``items`` from its Mobility Header socket."""
        self.mh.inbox.extend(items)
        self.daemon._on_mh()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass and fire the timers that are due."""
        self.now[0] += seconds
        self.daemon._fire_timers(self.now[0])

    def count_traffic(self, ifname: str, **counters: int) -> None:
        """Have the kernel report ``counters`` (``rx_bytes=...``, the names of
        :data:`~mip6d.shell.kernel.LINK_TRAFFIC`) for link ``ifname``, where it does:
        ``/sys/class/net/IFNAME/statistics``."""
        statistics = self.daemon.kernel.sys_class_net / ifname / "statistics"
        statistics.mkdir(parents=True, exist_ok=True)
        for name, value in counters.items():
            (statistics / name).write_text(f"{value}\n")


def rig(tmp_path: Path, config_text: str, links: Sequence[tuple[str, ...]] = ()) -> Rig:
    """A daemon for ``config_text`` whose kernel has ``lo`` and ``links`` (a name and its
    addresses each); its sysctls, links' statistics (``class-net/``) and state file
    under ``tmp_path`` (a second rig there is the same daemon restarted on a fresh
    kernel)."""
    ipr = FakeIPRoute()
    for name, *addresses in links:
        ipr.add_link(name, *addresses)
    proc_sys = tmp_path / "sys"
    for name in ("all", *(link[0] for link in links)):
        (proc_sys / "net" / "ipv6" / "conf" / name).mkdir(parents=True, exist_ok=True)
    runner = Runner()
    now = [1000.0]
    config_path = tmp_path / "mip6d.conf"
    config_path.write_text(config_text + f'StateFile "{tmp_path / "bindings.json"}";\n')
    mh_socket, dad, icmp = FakeMhSocket(), FakeDad(), FakeIcmpSocket()
    daemon = Daemon(
        str(config_path), load(str(config_path)), log=lambda *a, **k: None,
        kernel=Kernel(ipr, runner=runner, proc_sys=proc_sys,
                      sys_class_net=tmp_path / "class-net"),
        mh_socket=mh_socket,  # type: ignore[arg-type]
        clock=lambda: now[0],
        dad_prober=lambda: dad,  # type: ignore[arg-type,return-value]
        icmp_socket=icmp.opened,  # type: ignore[arg-type]
    )
    return Rig(daemon, ipr, runner, mh_socket, dad, config_path, now, icmp)


OK = {"ok": True, "error": None}


@dataclass
class FakeDaemon:
    """The control protocol (:class:`mip6d.control.Daemon`) answered from canned data;
    ``status()`` raises ``fail_with`` when set. Not a home agent: no ``remove``."""

    status_result: dict[str, Any] = field(
        default_factory=lambda: {"version": __version__, "role": "HA", "pid": 42})
    binding_records: list[dict[str, Any]] = field(default_factory=list)
    bul_records: list[dict[str, Any]] = field(default_factory=list)
    counter_values: dict[str, int] = field(default_factory=dict)
    reload_result: dict[str, Any] = field(default_factory=lambda: dict(OK))
    fail_with: Exception | None = None

    def status(self) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        return dict(self.status_result)

    def bindings(self) -> list[dict[str, Any]]:
        return list(self.binding_records)

    def binding_update_list(self) -> list[dict[str, Any]]:
        return list(self.bul_records)

    def counters(self) -> dict[str, int]:
        return dict(self.counter_values)

    def reload(self) -> dict[str, Any]:
        return self.reload_result


@dataclass
class FakeHomeAgent(FakeDaemon):
    """A :class:`FakeDaemon` that also removes bindings (of ``binding_records``)."""

    removed: list[IPv6Address] = field(default_factory=list)

    def remove_binding(self, home_address: IPv6Address) -> dict[str, Any]:
        if home_address not in {IPv6Address(b["home_address"]) for b in self.binding_records}:
            return {"ok": False, "error": f"no binding for {home_address}"}
        self.removed.append(home_address)
        return dict(OK)


class ControlServer:
    """mip6d's own control socket server (:func:`mip6d.control.serve`) for ``daemon`` at
    ``path``, on its own event loop in a thread; :meth:`close` ends it."""

    def __init__(self, path: Path, daemon: control.Daemon) -> None:
        self.path = path
        self.daemon = daemon
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        # The server starts inside its thread: the caller's thread may run an event loop
        # of its own already (Playwright's sync API does), where this one cannot run.
        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(control.serve(path, daemon))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"the control socket server at {path} did not start")

    def close(self) -> None:
        """Stop serving (a daemon that went down); again: nothing."""
        if self.loop.is_closed():
            return

        async def shutdown() -> None:
            await control.stop(self.server, self.path)
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


@dataclass
class ReloadingHomeAgent(FakeHomeAgent):
    """A :class:`FakeHomeAgent` whose ``reload`` parses the configuration at
    ``config_path`` with mip6d's own parser, include files and all (:attr:`config`), and
    keeps each outcome in :attr:`reloads`."""

    config_path: Path = Path("/etc/mip6d/mip6d.conf")
    reloads: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = load(str(self.config_path))

    def reload(self) -> dict[str, Any]:
        try:
            self.config = load(str(self.config_path))
        except ConfigError as error:
            outcome = {"ok": False, "error": str(error)}
        else:
            outcome = dict(OK)
        self.reloads.append(outcome)
        return outcome


class StandInHomeAgent:
    """A home agent for the service's tests: in ``directory``, mip6d's example
    home-agent configuration, its ``nodes.d/`` and the control socket of a
    :class:`ReloadingHomeAgent`; :meth:`stop` ends it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.nodes_dir = directory / "nodes.d"
        self.nodes_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "mip6d.conf"
        self.config_path.write_text((EXAMPLES / "home-agent.conf").read_text())
        self.socket_path = directory / "control.sock"
        self.daemon = ReloadingHomeAgent(
            status_result={"version": "test", "role": "HA", "pid": 0, "started_at": 0},
            counter_values={"bu_received": 0, "ba_sent": 0}, config_path=self.config_path)
        self.server = ControlServer(self.socket_path, self.daemon)

    def stop(self) -> None:
        self.server.close()


def binding(home_address: str, care_of: str, now: float, *, lifetime: int = 420,
            handovers: int = 0, last_handover: float | None = None,
            tunnel_traffic: Mapping[str, int] | None = None) -> dict[str, Any]:
    """A binding cache entry as mip6d's control socket sends it (its own record of a real
    :class:`~mip6d.core.bcache.Binding`), registered a minute before ``now``, with the
    kernel's counters of its tunnel ``tunnel_traffic`` (``{"rx_bytes": ...}``)."""
    entry = Binding(IPv6Address(home_address), IPv6Address(care_of),
                    IPv6Address("2001:db8:1::1"), "eth0", "ip6tnl1", 7, mh.BUFlag.A | mh.BUFlag.H,
                    lifetime, registered_at=now - 60, refreshed_at=now - 10,
                    expires_at=now - 10 + lifetime, handovers=handovers,
                    last_handover=last_handover)
    return control.binding_record(entry, now, tunnel_traffic)


class SilentDaemon:
    """A control socket that accepts connections and never answers (a hung mip6d);
    keeps the connections. A context manager, or ``close()``."""

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
