"""Network topologies for lab tests: namespace hosts, veth links, radvd routers, captures.

Runs inside the kernel lab (it changes the kernel's network state). A `Topology` is a
context manager: everything it created (namespaces, daemons, captures) is torn down on
exit, also when the test failed. Every command goes through `homeguy.run.run`, so a
failing step names the exact command.

    with Topology() as net:
        r = net.host("r", forwarding=True)
        a, b = net.host("a"), net.host("b")
        net.link(a, r)                 # a-r0 <-> r-a0 ... interface names derive from hosts
        net.radvd(r, {"r-a0": "2001:db8:a::/64", "r-b0": "2001:db8:b::/64"})
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path
from tempfile import mkdtemp
from types import TracebackType
from typing import Any

from homeguy.run import CommandError, command_line, run

POLL_INTERVAL = 0.1


@dataclass
class Host:
    """A network namespace. `name` is also the namespace's name."""

    name: str
    topology: Topology

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> str:
        return run(self.argv(*argv), check=check, timeout=timeout).stdout

    def sysctl(self, settings: Mapping[str, str | int]) -> None:
        self.run("sysctl", "-qw", *(f"{key}={value}" for key, value in settings.items()))

    def addresses(self, ifname: str, scope: str = "global") -> list[IPv6Interface]:
        out = self.run("ip", "-j", "-6", "addr", "show", "dev", ifname, "scope", scope)
        return [
            IPv6Interface(f"{a['local']}/{a['prefixlen']}")
            for link in json.loads(out or "[]")
            for a in link.get("addr_info", [])
            if "local" in a and not a.get("tentative")
        ]

    def wait_address(
        self, ifname: str, within: IPv6Network | None = None, timeout: float = 30
    ) -> IPv6Address:
        """The first usable global address on ifname (in `within`), waiting for SLAAC/DAD."""
        deadline = time.monotonic() + timeout
        while True:
            for addr in self.addresses(ifname):
                if within is None or addr.ip in within:
                    return addr.ip
            if time.monotonic() > deadline:
                dump = self.run("ip", "-6", "addr", "show", "dev", ifname, check=False)
                raise TimeoutError(
                    f"{self.name}: no global address{f' in {within}' if within else ''} "
                    f"on {ifname} after {timeout:.0f} s:\n{dump}"
                )
            time.sleep(POLL_INTERVAL)

    def ping(self, address: IPv6Address | str, count: int = 3, interval: float = 0.2) -> str:
        return self.run(
            "ping", "-6", "-n", "-c", str(count), "-i", str(interval), "-W", "2", str(address)
        )

    def spawn(self, *argv: str, log: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running process in this namespace; stopped at teardown."""
        return self.topology.spawn(self.argv(*argv), log=log)


@dataclass
class Capture:
    """A capture (dumpcap) on one interface of a host, decoded by tshark afterwards."""

    host: Host
    ifname: str
    path: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> Path:
        if self.process.poll() is None:
            # Let dumpcap flush the last packets before asking it to stop.
            time.sleep(0.5)
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=10)
        return self.path

    def decode(self, display_filter: str = "") -> list[dict[str, Any]]:
        """Stop the capture and return tshark's JSON decoding of every packet."""
        self.stop()
        argv = ["tshark", "-n", "-r", str(self.path), "-T", "json"]
        if display_filter:
            argv += ["-Y", display_filter]
        packets: list[dict[str, Any]] = json.loads(run(argv).stdout or "[]")
        return packets

    def fields(self, display_filter: str = "") -> list[dict[str, list[str]]]:
        """:meth:`decode`, each packet flattened: every field's values by name, wherever
        tshark nests it (``fields["ipv6.src"] == ["2001:db8:a::5"]``)."""
        return [flatten(packet["_source"]["layers"]) for packet in self.decode(display_filter)]


def flatten(tree: Any, out: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every field of a tshark JSON tree, wherever it is nested, by name."""
    out = {} if out is None else out
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, str):
                out.setdefault(key, []).append(value)
            else:
                flatten(value, out)
    elif isinstance(tree, list):
        for item in tree:
            flatten(item, out)
    return out


@dataclass
class Topology:
    """Creates namespaces, links and daemons; removes all of them on exit."""

    workdir: Path = field(default_factory=lambda: Path(mkdtemp(prefix="homeguy-lab-")))
    """Configurations, logs and captures; the lab fixture puts it where the host sees it."""
    hosts: dict[str, Host] = field(default_factory=dict)
    processes: list[tuple[list[str], subprocess.Popen[bytes]]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def __enter__(self) -> Topology:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def host(self, name: str, forwarding: bool = False) -> Host:
        if name in self.hosts:
            raise ValueError(f"host {name!r} exists already")
        run(["ip", "netns", "add", name])
        host = self.hosts[name] = Host(name, self)
        host.run("ip", "link", "set", "lo", "up")
        # Addresses are usable at once: the lab has no duplicates to detect.
        host.sysctl({
            "net.ipv6.conf.all.accept_dad": 0,
            "net.ipv6.conf.default.accept_dad": 0,
            "net.ipv6.conf.all.forwarding": int(forwarding),
        })
        return host

    def link(
        self,
        a: Host,
        b: Host,
        *,
        a_ifname: str | None = None,
        b_ifname: str | None = None,
        a_address: str | None = None,
        b_address: str | None = None,
    ) -> tuple[str, str]:
        """A veth pair between two hosts, up; names default to `<host>-<peer>0`."""
        a_if = a_ifname or f"{a.name}-{b.name}0"[:15]
        b_if = b_ifname or f"{b.name}-{a.name}0"[:15]
        tmp_a, tmp_b = (f"hgv{next(self._ids)}" for _ in range(2))
        run(["ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b])
        ends = ((a, tmp_a, a_if, a_address), (b, tmp_b, b_if, b_address))
        for host, tmp, ifname, address in ends:
            run(["ip", "link", "set", tmp, "netns", host.name])
            host.run("ip", "link", "set", tmp, "name", ifname)
            if address:
                host.run("ip", "-6", "addr", "add", address, "dev", ifname, "nodad")
            host.run("ip", "link", "set", ifname, "up")
        return a_if, b_if

    def radvd(self, router: Host, prefixes: Mapping[str, str], extra: str = "") -> Path:
        """radvd on `router`, advertising one /64 per interface (SLAAC), fast intervals.

        The router gets `<prefix>::1` on each interface. `extra` is added to each
        interface block (e.g. `AdvHomeAgentFlag on;` for a home link).
        """
        blocks = []
        for ifname, prefix in prefixes.items():
            network = IPv6Network(prefix)
            router.run("ip", "-6", "addr", "add", f"{network[1]}/{network.prefixlen}",
                       "dev", ifname, "nodad")
            blocks.append(
                f"interface {ifname} {{\n  AdvSendAdvert on;\n  MinRtrAdvInterval 0.5;\n"
                # Fast RAs are allowed with the Advertisement Interval option (RFC 6275
                # 7.5), which mobile nodes use for movement detection anyway.
                f"  MaxRtrAdvInterval 1.5;\n  AdvIntervalOpt on;\n  {extra}\n"
                f"  prefix {network} {{ AdvOnLink on; AdvAutonomous on; }};\n}};\n"
            )
        conf = self.workdir / f"radvd-{router.name}.conf"
        conf.write_text("".join(blocks))
        pid = self.workdir / f"radvd-{router.name}.pid"
        log = self.workdir / f"radvd-{router.name}.log"
        router.spawn("radvd", "--nodaemon", "-C", str(conf), "-p", str(pid), "-m", "stderr",
                     log=log)
        return conf

    def capture(self, host: Host, ifname: str, capture_filter: str = "") -> Capture:
        path = self.workdir / f"{host.name}-{ifname}-{next(self._ids)}.pcap"
        # dumpcap, not tshark: it starts in a moment, without loading every dissector.
        argv = ["dumpcap", "-q", "-i", ifname, "-w", str(path)]
        if capture_filter:
            argv += ["-f", capture_filter]
        log = path.with_suffix(".log")
        process = host.spawn(*argv, log=log)
        # dumpcap prints "Capturing on ..." once the interface is open.
        deadline = time.monotonic() + 60
        while "Capturing on" not in (log.read_text() if log.exists() else ""):
            if process.poll() is not None or time.monotonic() > deadline:
                raise CommandError(command_line(host.argv(*argv)), process.poll(), log.read_text())
            time.sleep(POLL_INTERVAL)
        return Capture(host, ifname, path, process)

    def spawn(self, argv: list[str], log: Path | None = None) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append((argv, process))
        time.sleep(0.05)
        if process.poll() is not None:
            raise CommandError(command_line(argv), process.returncode,
                               log.read_text() if log else "")
        return process

    def close(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
        for name in reversed(list(self.hosts)):
            run(["ip", "netns", "delete", name], check=False)
        self.hosts.clear()
