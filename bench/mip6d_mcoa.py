"""mip6d in the kernel lab: a mobile router on two foreign links losing one, with both
care-of addresses registered (multiple care-of addresses, RFC 5648, with flow bindings,
RFC 6089) against one care-of address at a time; time and datagrams lost, in one run.

Boots the kernel lab once (Debian's kernel under QEMU/TCG, ``homeguy.lab.vm.boot``) and
runs this file inside it (``--guest``). The setup of tests/lab/test_mip6d_mcoa.py:
``testkit/mip6d_topology.py``'s topology (``build``) with the mobile router on both
foreign links, a host ``lan`` on its mobile network (``lan_behind_router``), the installed
mip6d as home agent (``BindingAclPolicy`` for the router's prefix, the rest denied) and
as mobile router (``multihomed_mr_config``). The home agent runs throughout; two modes
follow each other, each with its own router (stopped in between: it deregisters):

* ``single``: ``multiple=False``, link 1 preferred (``MnIfPreference``), one care-of
  address registered at a time: both flows go through link 1 while it is up;
* ``mcoa``: ``multiple=True``, both care-of addresses registered by BID (1 on link 1,
  2 on link 2), UDP port 5001 bound to both BIDs (so to link 1, the lower BID-PRI, while
  it is there), port 5002 to BID 2 alone.

Once registered (single: the router's ``binding-registered``; mcoa: both BIDs in the home
agent's ``mip6ctl bindings`` and its ``flow-bindings`` record), the correspondent sends
two UDP flows to the host behind the router, ports 5001 and 5002, one datagram each every
FLOW_PERIOD carrying a sequence number (its send times logged); ``lan`` logs each
arrival (port, sequence, time). Then ROUNDS times: link 1 down (``ip link set mn-f1
down`` in the router's namespace), wait until the router settled (single: its
``binding-refreshed``/``binding-registered`` from the care-of address on link 2; mcoa:
its ``care-of-bindings-deregistered`` for BID 1, i.e. the home agent acknowledged it),
AFTER_SETTLE more with the flows running, link 1 up, wait until registered on it again
(single: the router's registration from link 1, which it prefers; mcoa: both BIDs at the
home agent again), DWELL, next round.

Definitions, per loss (link down to link up) and per flow:

* outage: the longest gap between consecutive arrivals of the flow that overlaps the
  loss (a gap from a to b with b after the link went down and a before it came up);
  an untouched flow shows its jitter (two FLOW_PERIODs or so under TCG);
* lost: the flow's datagrams sent after the last one that arrived before the link went
  down and before the link came up, that never arrived;
* settle: from just before ``ip link set down`` to the router's settling record (under a
  busy TCG guest ``ip netns exec ... ip link set`` alone takes a second or more, shown as
  ``link_down_command_ms``); ``gone_to_settle``: from the router's ``movement
  CareOfAddressGone`` (it saw the link go) to the same record, the router's own part;
* the same outage and loss from link up to the next link down (``return``), the cost of
  going back to link 1.

Per mode: medians and p95 (``summary``), totals, and the ratios mcoa/single of the median
outage and of the datagrams lost per flow. The daemons' logs, configurations and the flow
logs are copied to out/lab/bench/mip6d_mcoa/ (with guest.log, console.log, result.json).
No anchor: UMIP is in no package registry reachable here. Prints one JSON document.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "packages" / "mip6d"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench.mip6d_lab import boot_guest, progress, seconds, summary, write_json  # noqa: E402
from homeguy.lab.topology import Host, Topology  # noqa: E402
from testkit.mip6d_topology import (  # noqa: E402
    F1,
    F2,
    FLOW_PORTS,
    HA_CONTROL_SOCKET,
    LAN_HOST,
    MNP,
    MR_HOA,
    Daemon,
    Mobility,
    build,
    control,
    ha_config,
    lan_behind_router,
    multihomed_mr_config,
    start_mip6d,
    wait_for,
)

RWDIR = ROOT / "out" / "lab" / "bench" / "mip6d_mcoa"
BOOT_TIMEOUT = 660.0  # seconds for the whole lab run, boot included (the guest aims at < 8 min)
MODES = ("single", "mcoa")
ROUNDS = 5
MIN_ROUNDS = 3
MODE_BUDGET = 70.0  # seconds of rounds per mode; past it, stop after MIN_ROUNDS (a busy host)
FLOW_PERIOD = 0.01  # seconds between datagrams of a flow
AFTER_SETTLE = 2.0  # seconds of flows once the router settled, before link 1 comes back
DWELL = 1.0  # seconds on both links once registered again, before the next loss
SETTLE_TIMEOUT = 30.0
BACK_TIMEOUT = 40.0

ANCHOR_NOTE = ("UMIP (the C mip6d users would otherwise pick) is in no package registry "
               "reachable here, so no anchor ran; the baseline is mip6d itself with one "
               "care-of address")

# The correspondent's flows: both ports each period, the sequence number in the payload,
# one "sequence time" line per period; SIGTERM ends it (the log flushed).
SENDER = """
import signal, socket, struct, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
dst, period, ports = sys.argv[1], float(sys.argv[2]), [int(p) for p in sys.argv[4:]]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
with open(sys.argv[3], "w") as log:
    seq, next_at = 0, time.time()
    while True:
        for port in ports:
            try:
                s.sendto(struct.pack("!I", seq), (dst, port))
            except OSError:
                pass
        log.write(f"{seq} {time.time():.6f}\\n")
        seq += 1
        next_at += period
        delay = next_at - time.time()
        if delay > 0:
            time.sleep(delay)
        elif delay < -period:  # late (a busy guest): no burst to catch up
            next_at = time.time()
"""
# The host behind the router: one "port sequence time" line per datagram received.
RECEIVER = """
import select, signal, socket, struct, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
socks = {}
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("::", int(port)))
    socks[s] = int(port)
with open(sys.argv[1], "w", buffering=1) as log:
    while True:
        ready, _, _ = select.select(list(socks), [], [])
        for s in ready:
            data = s.recv(64)
            log.write(f"{socks[s]} {struct.unpack('!I', data[:4])[0]} {time.time():.6f}\\n")
"""


# -- inside the guest ----------------------------------------------------------------------


def ha_bindings(m: Mobility) -> list[tuple[int, str]]:
    """(BID, care-of address) of each binding the home agent holds."""
    return sorted((b["bid"], b["care_of"]) for b in control(m.ha, HA_CONTROL_SOCKET,
                                                               "bindings"))


def both_bids(m: Mobility) -> list[tuple[int, str]] | None:
    held = ha_bindings(m)
    bids = {bid: IPv6Address(coa) for bid, coa in held}
    ok = set(bids) == {1, 2} and bids[1] in F1 and bids[2] in F2
    return held if ok else None


def ha_steering(m: Mobility) -> dict[str, list[str]]:
    """Where the home agent sends the flows: its policy rules for the flows' ports
    (``lookup`` a binding's table) and its tunnels (``ip -6 tunnel``), as ``ip`` shows."""
    rules = m.ha.run("ip", "-6", "rule", "show").splitlines()
    tables = {line.split("lookup")[-1].split()[0] for line in rules if "dport" in line}
    routes = [f"table {t}: {line}" for t in sorted(tables)
              for line in m.ha.run("ip", "-6", "route", "show", "table", t).splitlines()]
    return {"flow_rules": [line for line in rules if "dport" in line],
            "flow_tables": routes,
            "tunnels": m.ha.run("ip", "-6", "tunnel", "show").splitlines()}


def from_link(prefix: IPv6Network) -> Any:
    """Predicate: the router's registration (new or refreshed) from ``prefix``."""
    return lambda r: (r.get("event") in ("binding-registered", "binding-refreshed")
                      and r.get("care_of") is not None and IPv6Address(r["care_of"]) in prefix)


def bid_1_dropped(r: dict[str, Any]) -> bool:
    return (r.get("event") == "care-of-bindings-deregistered"
            and "1" in str(r.get("bids", "")).split())


Arrivals = dict[int, list[tuple[float, int]]]


def read_flows(net: Topology, mode: str) -> tuple[dict[int, float], Arrivals]:
    """The sender's send time per sequence number; per port, the arrivals (time, sequence)
    in time order."""
    sent = {}
    for line in (net.workdir / f"send-{mode}.log").read_text().splitlines():
        words = line.split()
        if len(words) == 2:
            sent[int(words[0])] = float(words[1])
    arrivals: Arrivals = {port: [] for port in FLOW_PORTS}
    for line in (net.workdir / f"receive-{mode}.log").read_text().splitlines():
        words = line.split()
        if len(words) == 3 and int(words[0]) in arrivals:
            arrivals[int(words[0])].append((float(words[2]), int(words[1])))
    for got in arrivals.values():
        got.sort()
    return sent, arrivals


def window(sent: dict[int, float], got: list[tuple[float, int]], start: float,
           end: float) -> tuple[float, int]:
    """(outage, lost) of one flow from ``start`` to ``end`` (see the module's text)."""
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(got) if b[0] > start and a[0] < end]
    before = [seq for at, seq in got if at <= start]
    first = max(before) + 1 if before else min(
        (seq for seq, at in sent.items() if at > start), default=len(sent))
    received = {seq for _, seq in got}
    lost = sum(1 for seq, at in sent.items() if seq >= first and at <= end
               and seq not in received)
    return max(gaps, default=0.0), lost


def one_round(m: Mobility, mr: Daemon, mode: str) -> dict[str, Any]:
    """Link 1 lost and back; the times of what followed."""
    mark = mr.mark()
    down_at = time.time()
    m.link(m.mn, "mn-f1", False)
    down_done = time.time()
    settle = bid_1_dropped if mode == "mcoa" else from_link(F2)
    settled = mr.wait(settle, timeout=SETTLE_TIMEOUT, what="settled on link 2", after=mark)
    gone = next((r for r in mr.records()[mark:] if r.get("event") == "movement"
                 and r.get("kind") == "CareOfAddressGone"), None)
    time.sleep(AFTER_SETTLE)
    mark = mr.mark()
    up_at = time.time()
    m.link(m.mn, "mn-f1", True)
    if mode == "mcoa":
        wait_for("both BIDs at the home agent again", lambda: both_bids(m), BACK_TIMEOUT)
        back = next((r for r in mr.records()[mark:] if r.get("event") in (
            "binding-registered", "binding-refreshed")), None)
    else:
        back = mr.wait(from_link(F1), timeout=BACK_TIMEOUT, what="registered on link 1 again",
                       after=mark)
    back_done = time.time()
    return {"down_at": down_at, "down_done": down_done, "settled_at": seconds(settled["ts"]),
            "gone_at": seconds(gone["ts"]) if gone else None, "up_at": up_at,
            "back_at": seconds(back["ts"]) if back else back_done, "back_done": back_done}


def measure_mode(net: Topology, m: Mobility, lan: Host, ha: Daemon, mode: str) -> dict[str, Any]:
    """One mode's router started (the home agent ``ha`` running), registered, its
    losses, the router stopped (it deregisters)."""
    multiple = mode == "mcoa"
    m.mn.wait_address("mn-f1", within=F1)
    ha_mark = ha.mark()
    mr = start_mip6d(net, m.mn, f"mr-{mode}", multihomed_mr_config(
        net.workdir, f"mr-{mode}", MR_HOA, MNP, multiple=multiple))
    try:
        return measure_started(net, m, lan, ha, ha_mark, mr, mode)
    finally:
        mr.stop()


def measure_started(net: Topology, m: Mobility, lan: Host, ha: Daemon, ha_mark: int,
                    mr: Daemon, mode: str) -> dict[str, Any]:
    multiple = mode == "mcoa"
    progress(f"{mode}: router ready")
    if multiple:
        held = wait_for("both BIDs at the home agent", lambda: both_bids(m), 90)
        ha.wait_event("flow-bindings", home_address=str(MR_HOA), after=ha_mark, timeout=60)
    else:
        first = mr.wait(from_link(F1), timeout=90, what="registration from link 1", after=0)
        held = [(0, first["care_of"])]
    progress(f"{mode}: registered {held}")
    steering = ha_steering(m)
    receive_log, send_log = net.workdir / f"receive-{mode}.log", net.workdir / f"send-{mode}.log"
    ports = [str(p) for p in FLOW_PORTS]
    (net.workdir / "receiver.py").write_text(RECEIVER)
    (net.workdir / "sender.py").write_text(SENDER)
    receiver = lan.spawn("python3", str(net.workdir / "receiver.py"), str(receive_log), *ports)
    time.sleep(0.5)
    sender = m.cn.spawn("python3", str(net.workdir / "sender.py"), str(LAN_HOST),
                        str(FLOW_PERIOD), str(send_log), *ports)

    def both_flows() -> bool:
        if not receive_log.exists():  # python3 starts slowly under TCG
            return False
        seen = {line.split()[0] for line in receive_log.read_text().splitlines()[-50:]}
        return seen >= set(ports)

    rounds: list[dict[str, Any]] = []
    error = None
    try:
        wait_for("both flows at the host behind the router", both_flows, 60)
        time.sleep(DWELL)
        started = time.monotonic()
        try:
            for i in range(ROUNDS):
                if i >= MIN_ROUNDS and time.monotonic() - started > MODE_BUDGET:
                    break
                rounds.append(one_round(m, mr, mode))
                r = rounds[-1]
                progress(f"{mode}: loss {i + 1}: settled "
                         f"{r['settled_at'] - r['down_at']:.3f} s, "
                         f"back {r['back_at'] - r['up_at']:.3f} s")
                time.sleep(DWELL)
        except AssertionError as exc:  # a round that never settled: report those before
            error = f"round {len(rounds) + 1}: {exc}"[-3000:]
        rounds_seconds = time.monotonic() - started
        flows_end = time.time()
        time.sleep(0.3)
    finally:
        for process in (sender, receiver):
            process.terminate()
            process.wait(timeout=10)
    out = analyse(net, mode, rounds, flows_end)
    out.update(registered=held, ha_steering_once_registered=steering,
               rounds_seconds=round(rounds_seconds, 1))
    if error:
        out["error"] = error
    return out


def analyse(net: Topology, mode: str, rounds: list[dict[str, Any]],
            flows_end: float) -> dict[str, Any]:
    sent, arrivals = read_flows(net, mode)
    flows: dict[str, Any] = {}
    for port, got in arrivals.items():
        loss = [window(sent, got, r["down_at"], r["up_at"]) for r in rounds]
        back = [window(sent, got, r["up_at"], nxt["down_at"] if nxt else flows_end)
                for r, nxt in zip(rounds, [*rounds[1:], None], strict=True)]
        distinct = {seq for _, seq in got}
        flows[str(port)] = {
            "outage_ms": summary([o for o, _ in loss]),
            "lost": summary([float(n) for _, n in loss], scale=1, digits=1),
            "lost_per_loss": [n for _, n in loss],
            "lost_in_losses": sum(n for _, n in loss),
            "return_outage_ms": summary([o for o, _ in back]),
            "lost_per_return": [n for _, n in back],
            "sent": len(sent),
            "received": len(distinct),
            "lost_in_all": len(sent) - len(distinct & set(sent)),
        }
    return {
        "losses": len(rounds),
        "settle_ms": summary([r["settled_at"] - r["down_at"] for r in rounds]),
        "link_down_command_ms": summary([r["down_done"] - r["down_at"] for r in rounds]),
        "down_to_care_of_gone_ms": summary([r["gone_at"] - r["down_at"] for r in rounds
                                            if r["gone_at"]]),
        "gone_to_settle_ms": summary([r["settled_at"] - r["gone_at"] for r in rounds
                                      if r["gone_at"]]),
        "up_to_registered_on_link_1_ms": summary([r["back_at"] - r["up_at"] for r in rounds]),
        "flows": flows,
    }


def ratios(single: dict[str, Any], mcoa: dict[str, Any]) -> dict[str, Any]:
    """mcoa / single, per flow: median outage and datagrams lost in the losses."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    out: dict[str, Any] = {}
    for port in map(str, FLOW_PORTS):
        s, c = single["flows"][port], mcoa["flows"][port]
        out[port] = {
            "outage_median": ratio(c["outage_ms"].get("median"), s["outage_ms"].get("median")),
            "lost_in_losses": ratio(c["lost_in_losses"], s["lost_in_losses"]),
            "lost_per_loss_median": ratio(c["lost"].get("median"), s["lost"].get("median")),
        }
    out["settle_median"] = ratio(mcoa["settle_ms"].get("median"),
                                 single["settle_ms"].get("median"))
    return out


def guest_main(rwdir: Path) -> None:
    out: dict[str, Any] = {"kernel": os.uname().release, "guest_cpus": os.cpu_count()}
    result_file = rwdir / "result.json"
    write_json(result_file, out)
    workdir = Path(tempfile.mkdtemp(prefix="mip6d-mcoa-", dir="/tmp"))
    ha: Daemon | None = None
    with Topology(workdir) as net:
        try:
            m = build(net)
            lan = lan_behind_router(m)
            m.link(m.mn, "mn-f2", True)
            m.mn.wait_address("mn-f1", within=F1)
            m.mn.wait_address("mn-f2", within=F2)
            ha = start_mip6d(net, m.ha, "ha", ha_config(
                net.workdir, acl=f"BindingAclPolicy {MR_HOA} ({MNP}) allow;\n", default="deny"))
            progress("topology and home agent ready")
            for mode in MODES:
                try:
                    out[mode] = measure_mode(net, m, lan, ha, mode)
                except Exception as error:
                    out[mode] = {"error": f"{type(error).__name__}: {error}"[-3000:]}
                m.link(m.mn, "mn-f1", True)
                out[mode]["done_at_guest_s"] = round(time.monotonic() - BEGAN, 1)
                write_json(result_file, out)
                progress(f"{mode} done")
            if all("flows" in out[mode] for mode in MODES):
                out["mcoa_over_single"] = ratios(out["single"], out["mcoa"])
        finally:
            if ha is not None:
                ha.stop()
            for path in workdir.iterdir():
                if path.suffix in (".log", ".conf", ".json"):
                    shutil.copy(path, rwdir / path.name)
    out["guest_seconds"] = round(time.monotonic() - BEGAN, 1)
    write_json(result_file, out)


BEGAN = time.monotonic()


# -- on the host -----------------------------------------------------------------------------


def host_main() -> int:
    guest, lab, error = boot_guest(Path(__file__), RWDIR, BOOT_TIMEOUT)
    document: dict[str, Any] = {
        "benchmark": "mip6d_mcoa",
        "lab": {k: v for k, v in lab.items() if k != "guest_log_tail"},
        "setup": {"flow_period_s": FLOW_PERIOD, "after_settle_s": AFTER_SETTLE,
                  "dwell_s": DWELL, "ports": list(FLOW_PORTS),
                  "mcoa_flows": {"5001": "BIDs 1 2 (link 1 while it is there: BID-PRI 10)",
                                 "5002": "BID 2 (link 2)"}},
        "single": guest.get("single"),
        "mcoa": guest.get("mcoa"),
        "mcoa_over_single": guest.get("mcoa_over_single"),
        "anchor": None,
        "anchor_note": ANCHOR_NOTE,
    }
    if error:
        document["error"] = error
        document["guest_log_tail"] = lab.get("guest_log_tail", [])
    print(json.dumps(document, indent=2))
    failed = [mode for mode in MODES
              if not isinstance(guest.get(mode), dict) or "error" in guest[mode]]
    return 1 if error or failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--guest"]:
        guest_main(Path(argv[1]))
        return 0
    return host_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
