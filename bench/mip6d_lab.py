"""mip6d in the kernel lab: home registrations per second and handover latency.

Boots the kernel lab once (Debian's kernel under QEMU/TCG, `homeguy.lab.vm.boot`) and
runs this file inside it (``--guest``). One topology, ``testkit/mip6d_topology.py``'s
(``build``), plus a client namespace ``cl`` behind the router ``r``; the real mip6d home
agent (``ha_config``: ``DefaultBindingAclPolicy allow``, ``UseMnHaIPsec disabled``,
``DebugLevel 1`` as in the lab tests) and mobile node, started side by side. Then:

0. First registration, from the home agent's log: its first Binding Update to the
   acknowledgement, with duplicate address detection and the rest (the kernel changes)
   apart, against the 1.5 s after which a mobile node sends its first registration
   again (InitialBindackTimeoutFirstReg; the reference one logs a sequence mismatch).
   Once with static keys and ``TunnelPayload`` (two SAs and two policies more before
   the acknowledgement; that pair stopped then), once without.
1. Handovers: the mobile node moves between the two foreign links (new link up, old one
   down, as ``move_mn`` does but in one ``ip -batch``) while the correspondent pings the
   home address every 0.05 s. Latency per handover, from the daemons' JSON logs: the
   mobile node's ``movement CareOfAddressAvailable`` record for the new care-of address
   (or the old address's ``CareOfAddressGone``, should that come later) to its
   ``received BindingAck`` with status 0; with where that time goes (mobile node, wire,
   home agent), the time the new link took to give an address, and the ping's loss.
2. Registrations (the mobile node stopped): ``cl`` sends Binding Updates for distinct
   home addresses, each from its own care-of address with a Home Address option (as
   ``testkit/mh_client.py`` does; A and H flags, lifetime 600 s), WINDOW outstanding
   at a time, and counts the Binding Acknowledgements with status 0, received through
   a type 2 routing header as a mobile node receives them. N = 200, then 1000 more
   (sending stops after SIZES' seconds). Each registration costs the home agent an
   ip6ip6 tunnel, a route and a proxy neighbour, counted with `ip -6 tunnel` / `ip -6
   route` / `ip -6 neigh show proxy` in its namespace after each run.

The daemons' logs and state file are on the guest's own /tmp, copied to
out/lab/bench/mip6d_lab/ at the end (with guest.log, console.log and result.json).

No anchor runs on this machine: UMIP, the C daemon a user would otherwise pick, is in no
package registry this project can reach. Prints one JSON document.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import os
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "packages" / "mip6d"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from mip6d.core.effects import SendMessage  # noqa: E402
from mip6d.shell.mhsocket import MalformedPacket, MhSocket  # noqa: E402
from mip6d.wire import mh  # noqa: E402

from homeguy.lab import installed, vm  # noqa: E402
from homeguy.lab.topology import Host, Topology  # noqa: E402
from homeguy.run import CommandError, run  # noqa: E402
from testkit.mip6d_topology import (  # noqa: E402
    F1,
    F2,
    HA_ADDRESS,
    HOA,
    HOME,
    Daemon,
    build,
    ha_config,
    mn_config,
    ping_until,
    spawn_mip6d,
    start_mip6d,
    static_keying,
)

RWDIR = ROOT / "out" / "lab" / "bench" / "mip6d_lab"
GUEST_PYTHONPATH = f"{ROOT}:{ROOT / 'packages' / 'mip6d'}"
BOOT_TIMEOUT = 460.0  # seconds for the whole lab run, boot included (< 8 min)

# Handovers.
HANDOVERS = 12
MIN_HANDOVERS = 10
HANDOVER_BUDGET = 40.0  # seconds; past it, stop after MIN_HANDOVERS
DWELL = 1.0  # seconds on a link after its registration, before the next move
PING_INTERVAL = "0.05"

# Registrations.
SIZES = ((200, 40.0), (1000, 60.0))  # (home registrations, seconds of sending at most)
WINDOW = 8  # Binding Updates outstanding at once
RETRY = 10.0  # seconds before a Binding Update without answer is sent again
DRAIN = 20.0  # seconds to wait for the last answers once sending stopped
LIFETIME_UNITS = 150  # 600 s: no binding expires during the run
FIRST_INDEX = 0x1000
CL_LINK = IPv6Network("2001:db8:d::/64")
CL_ADDRESS, CL_ROUTER = CL_LINK[2], CL_LINK[1]
COA_NET = IPv6Network("2001:db8:e::/64")  # care-of addresses, routed to cl by r

ANCHOR_NOTE = ("UMIP (the C mip6d users would otherwise pick) is in no package registry "
               "reachable here, so no anchor ran")


# -- small helpers -------------------------------------------------------------------------


def seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def summary(values: list[float], scale: float = 1000.0, digits: int = 1) -> dict[str, Any]:
    """Median, p95 (linear interpolation), min and max of ``values`` times ``scale``."""
    if not values:
        return {"n": 0}
    ordered = sorted(v * scale for v in values)
    rank = 0.95 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    p95 = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return {"n": len(ordered), "median": round(statistics.median(ordered), digits),
            "p95": round(p95, digits), "min": round(ordered[0], digits),
            "max": round(ordered[-1], digits)}


def write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def hoa_of(index: int) -> IPv6Address:
    return HOME[FIRST_INDEX + index]


def coa_of(index: int) -> IPv6Address:
    return COA_NET[FIRST_INDEX + index]


# -- inside the guest: handovers -----------------------------------------------------------


def parse_ping(text: str) -> tuple[list[tuple[float, int]], int, int]:
    """``([(time, icmp_seq) of each reply], sent, received)`` from ``ping -D`` output."""
    replies = []
    for line in text.splitlines():
        if line.startswith("[") and " bytes from " in line and "icmp_seq=" in line:
            stamp = float(line[1:line.index("]")])
            seq = int(line.split("icmp_seq=")[1].split()[0])
            replies.append((stamp, seq))
    sent = received = 0
    for line in text.splitlines():
        if "packets transmitted" in line:
            words = line.replace(",", "").split()
            sent, received = int(words[0]), int(words[3])
    return replies, sent, received


def move(m: Any, target: str) -> None:
    """``move_mn`` in one ``ip -batch``: the new link up, then the others down. (Three
    ``ip netns exec`` runs take about a second under TCG, long enough for the new link's
    address to come before the old one goes.)"""
    lines = [f"link set {target} up"] + [
        f"link set {name} down" for name in ("mn-f1", "mn-f2", "mn-home") if name != target
    ]
    run(m.mn.argv("ip", "-batch", "-"), input="\n".join(lines) + "\n")


def one_handover(m: Any, mn: Daemon, ha: Daemon, target: str,
                 prefix: IPv6Network) -> dict[str, Any]:
    """Move the mobile node to ``target``; the timestamps of what followed."""
    mark, ha_mark = mn.mark(), ha.mark()
    moved_at = time.time()
    move(m, target)

    def registered(r: dict[str, Any]) -> bool:
        return (r.get("event") in ("binding-refreshed", "binding-registered")
                and r.get("care_of") is not None and IPv6Address(r["care_of"]) in prefix)

    refreshed = mn.wait(registered, timeout=30, what=f"registration from {target}",
                        after=mark)
    records = mn.records()[mark:]
    available = next(
        r for r in records if r.get("event") == "movement"
        and r.get("kind") == "CareOfAddressAvailable"
        and IPv6Address(r["address"].split("/")[0]) in prefix
    )
    new_coa = available["address"].split("/")[0]
    gone = [seconds(r["ts"]) for r in records if r.get("event") == "movement"
            and r.get("kind") == "CareOfAddressGone"]
    start = max([seconds(available["ts"]), *gone])
    ack = next(r for r in records if r.get("event") == "received"
               and r.get("message") == "BindingAck" and r.get("status") == 0
               and seconds(r["ts"]) >= start)
    acked = ack.get("sequence")
    mn_sent = [r for r in records if r.get("event") == "sent"
               and r.get("message") == "BindingUpdate" and r.get("src") == new_coa]
    mn_received = {r.get("sequence") for r in records if r.get("event") == "received"
                   and r.get("message") == "BindingAck"}
    ha_records = ha.records()[ha_mark:]
    ha_sent = [r for r in ha_records if r.get("event") == "sent"
               and r.get("message") == "BindingAck"]

    def at(found: list[dict[str, Any]] | Any) -> float | None:
        item = next(iter(found), None)
        return seconds(item["ts"]) if item else None

    return {
        "moved_at": moved_at,
        "address_at": seconds(available["ts"]),
        "old_gone_at": max(gone, default=None),
        "start": start,
        "first_bu_sent_at": at(mn_sent),
        "bu_sent_at": at(r for r in mn_sent if r.get("sequence") == acked),
        "ha_received_at": at(r for r in ha_records if r.get("event") == "received"
                             and r.get("message") == "BindingUpdate"
                             and r.get("sequence") == acked),
        "ha_sent_at": at(r for r in ha_sent if r.get("sequence") == acked),
        "ack_at": seconds(ack["ts"]),
        "tunnel_moved_at": seconds(refreshed["ts"]),
        "bu_sent": len(mn_sent),
        "bas_sent_not_received": sum(1 for r in ha_sent
                                     if r.get("sequence") not in mn_received),
    }


def drop_counters(host: Host) -> dict[str, int]:
    """Nonzero XFRM and IPv6 drop counters of ``host``'s namespace."""
    out = {}
    text = host.run("cat", "/proc/net/xfrm_stat", "/proc/net/snmp6", check=False)
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[1].isdigit() and int(words[1]) and (
                words[0].startswith("Xfrm") or any(
                    w in words[0] for w in ("Discard", "NoRoute", "Error", "Drop"))):
            out[words[0]] = int(words[1])
    return out


def between(done: list[dict[str, Any]], late: str, early: str) -> dict[str, Any]:
    return summary([h[late] - h[early] for h in done if h[late] and h[early]])


def measure_handovers(net: Topology, m: Any, ha: Daemon, mn: Daemon) -> dict[str, Any]:
    mn.wait(lambda r: r.get("event") == "binding-registered", timeout=90,
            what="first registration", after=0)
    ping_until(m.cn, HOA, timeout=30)
    ping_log = net.workdir / "handover-ping.log"
    ping = m.cn.spawn("ping", "-6", "-n", "-D", "-i", PING_INTERVAL, "-W", "1", str(HOA),
                      log=ping_log)
    time.sleep(1.5)
    phase_start = time.monotonic()
    done: list[dict[str, Any]] = []
    for i in range(HANDOVERS):
        if i >= MIN_HANDOVERS and time.monotonic() - phase_start > HANDOVER_BUDGET:
            break
        target, prefix = ("mn-f2", F2) if i % 2 == 0 else ("mn-f1", F1)
        done.append(one_handover(m, mn, ha, target, prefix))
        progress(f"handover {i + 1}: {done[-1]['ack_at'] - done[-1]['start']:.3f} s")
        time.sleep(DWELL)
    ping_end = time.time()
    ping.send_signal(signal.SIGINT)
    ping.wait(timeout=10)
    replies, sent, received = parse_ping(ping_log.read_text())

    # Per handover: the longest silence of the ping that overlaps it, and the
    # requests lost in that silence.
    outages, lost_in = [], []
    for i, h in enumerate(done):
        end = done[i + 1]["moved_at"] if i + 1 < len(done) else ping_end
        pairs = [(b[0] - a[0], b[1] - a[1] - 1) for a, b in itertools.pairwise(replies)
                 if b[0] > h["moved_at"] and a[0] < end]
        gap, lost = max(pairs, default=(0.0, 0))
        outages.append(gap)
        lost_in.append(lost)
    reversed_order = sum(1 for h in done if h["old_gone_at"] and h["old_gone_at"] > h["address_at"])
    return {
        "handovers": len(done),
        "method": "the mobile node's new foreign link up and the old one down in one ip -batch "
                  "(move_mn's order); the new address comes by SLAAC (radvd, RAs every "
                  "0.5-1.5 s)",
        "latency_ms": summary([h["ack_at"] - h["start"] for h in done]),
        "latency_definition": "mobile node's JSON log: movement CareOfAddressAvailable for the "
                              "new care-of address -> received BindingAck status 0",
        "old_address_gone_after_new_one": reversed_order,
        "breakdown_ms": {
            "mn_address_to_first_bu_sent": between(done, "first_bu_sent_at", "start"),
            "mn_address_to_acked_bu_sent": between(done, "bu_sent_at", "start"),
            "acked_bu_sent_to_ha_received": between(done, "ha_received_at", "bu_sent_at"),
            "ha_received_to_ba_sent": between(done, "ha_sent_at", "ha_received_at"),
            "ha_ba_sent_to_mn_received": between(done, "ack_at", "ha_sent_at"),
            "mn_ba_received_to_tunnel_moved": between(done, "tunnel_moved_at", "ack_at"),
        },
        "breakdown_note": "per handover, the Binding Update whose Binding Acknowledgement "
                          "the mobile node took (matched by sequence number); log "
                          "timestamps are ms and written after each send, so the wire "
                          "legs can come out slightly negative",
        "link_up_to_new_address_ms": between(done, "address_at", "moved_at"),
        "link_up_to_ba_ms": between(done, "ack_at", "moved_at"),
        "binding_updates_sent_per_handover": [h["bu_sent"] for h in done],
        "bas_sent_by_ha_not_received_by_mn": [h["bas_sent_not_received"] for h in done],
        "drop_counters_after": {"mn": drop_counters(m.mn), "r": drop_counters(m.r)},
        "ping": {
            "interval_s": float(PING_INTERVAL),
            "sent": sent,
            "received": received,
            "lost": sent - received,
            "loss_percent": round(100 * (sent - received) / sent, 2) if sent else None,
            "lost_per_handover": round((sent - received) / len(done), 1) if done else None,
            "outage_per_handover_ms": summary(outages),
            "lost_in_outage_per_handover": lost_in,
        },
        "phase_seconds": round(time.monotonic() - phase_start, 1),
    }


# -- inside the guest: registrations -------------------------------------------------------


def kernel_counts(first: int, last: int) -> dict[str, int]:
    """The home agent's kernel state for client home addresses ``first..last-1``."""
    def ha_lines(*argv: str) -> list[str]:
        done = subprocess.run(["ip", "netns", "exec", "ha", "ip", "-6", *argv],
                              capture_output=True, text=True, check=True, timeout=120)
        return done.stdout.splitlines()

    wanted = {hoa_of(i) for i in range(first, last)}

    def ours(line: str) -> bool:
        try:
            return IPv6Address(line.split(maxsplit=1)[0]) in wanted
        except (ValueError, IndexError):
            return False

    tunnels = ha_lines("tunnel", "show")
    return {
        "ip6_tunnels_to_client_coas": sum(1 for line in tunnels if "remote 2001:db8:e::" in line),
        "home_address_routes_via_mip6t": sum(
            1 for line in ha_lines("route", "show", "proto", "static")
            if ours(line) and "dev mip6t" in line),
        "proxy_neighbours": sum(1 for line in ha_lines("neigh", "show", "proxy") if ours(line)),
    }


def client_run(ms: MhSocket, start: int, count: int, cap: float) -> dict[str, Any]:
    """Register home addresses start..start+count-1, WINDOW at a time."""
    index_of = {}
    for i in range(start, start + count):
        index_of[hoa_of(i)] = index_of[coa_of(i)] = i
    todo = deque(range(start, start + count))
    sequence: dict[int, int] = {}
    pending: dict[int, list[float]] = {}  # index -> [first sent, last sent]
    rtts: list[float] = []
    statuses: Counter[int] = Counter()
    retransmissions = stale = malformed = send_errors = 0
    flags = mh.BUFlag.A | mh.BUFlag.H

    def send(i: int) -> None:
        nonlocal send_errors
        sequence[i] = sequence.get(i, 0) + 1
        bu = mh.BindingUpdate(sequence[i], LIFETIME_UNITS, flags,
                              (mh.AlternateCareOfAddress(coa_of(i)),))
        try:
            ms.send(SendMessage(bu, coa_of(i), HA_ADDRESS, home_address_option=hoa_of(i)))
        except OSError:
            send_errors += 1

    first = time.monotonic()
    last_answer = first
    capped = False
    while todo or pending:
        now = time.monotonic()
        if todo and now > first + cap:
            capped = True
            todo.clear()
        if now > first + cap + DRAIN:
            break
        while todo and len(pending) < WINDOW:
            i = todo.popleft()
            send(i)
            pending[i] = [now, now]
        for i, times in pending.items():
            if now - times[1] > RETRY:
                send(i)
                times[1] = now
                retransmissions += 1
        readable, _, _ = select.select([ms.sock], [], [], 0.05)
        while readable:
            try:
                got = ms.receive()
            except MalformedPacket:
                malformed += 1
                continue
            if got is None:
                break
            msg = got.msg
            i = index_of.get(got.dst, -1)
            if not isinstance(msg, mh.BindingAck) or i not in pending \
                    or not 1 <= msg.sequence <= sequence[i]:  # any of ours counts
                stale += 1
                continue
            at = time.monotonic()
            statuses[int(msg.status)] += 1
            rtts.append(at - pending.pop(i)[0])
            last_answer = at
    elapsed = last_answer - first
    registered = statuses.get(0, 0)
    return {
        "requested": count,
        "sent": len(sequence),
        "registered": registered,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "unanswered": len(pending),
        "sending_capped_after_s": cap if capped else None,
        "seconds": round(elapsed, 3),
        "bas_per_second": round(registered / elapsed, 1) if elapsed > 0 else None,
        "ms_per_registration": round(1000 * elapsed / registered, 1) if registered else None,
        "client_bu_to_ba_ms": summary(rtts),
        "retransmissions": retransmissions,
        "stale_or_unmatched": stale,
        "malformed": malformed,
        "send_errors": send_errors,
    }


def client_main() -> None:
    """In the client namespace: the runs of SIZES, one after the other, each followed
    by the home agent's kernel state; prints one JSON document."""
    ms = MhSocket()
    ms.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    runs, start, bindings = [], 0, 0
    for count, cap in SIZES:
        result = client_run(ms, start, count, cap)
        result["bindings_before"] = bindings
        result["first_index"] = start
        bindings += result["registered"]
        time.sleep(0.5)
        result["kernel_after"] = kernel_counts(0, start + count)
        result["kernel_expected"] = bindings
        runs.append(result)
        start += count
    print(json.dumps(runs))


FIRST_RETRANSMISSION = 1.5
"""InitialBindackTimeoutFirstReg (RFC 6275 section 13): when a mobile node, the reference
one included, sends its first registration again."""


def first_registration(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Home agent log: its first Binding Update to the acknowledgement of it (status 0),
    and the parts: duplicate address detection, then the rest (kernel changes). Under
    FIRST_RETRANSMISSION the peer never sends its first registration twice."""
    stamps: dict[str, float] = {}
    for r in records:
        kind = r.get("event"), r.get("message")
        if kind == ("received", "BindingUpdate"):
            stamps.setdefault("received", seconds(r["ts"]))
        elif r.get("event") in ("dad-started", "dad-done"):
            stamps.setdefault(r["event"], seconds(r["ts"]))
        elif kind == ("sent", "BindingAck") and r.get("status") == 0:
            stamps.setdefault("acknowledged", seconds(r["ts"]))
            break
    if "received" not in stamps or "acknowledged" not in stamps:
        return {"error": f"no first registration in the home agent's log: {sorted(stamps)}"}
    total = stamps["acknowledged"] - stamps["received"]
    out = {"bu_to_ba_ms": round(total * 1000, 1),
           "peer_first_retransmission_ms": FIRST_RETRANSMISSION * 1000,
           "under_peer_timeout": total < FIRST_RETRANSMISSION}
    if "dad-started" in stamps and "dad-done" in stamps:
        out["dad_ms"] = round((stamps["dad-done"] - stamps["dad-started"]) * 1000, 1)
        out["after_dad_ms"] = round((stamps["acknowledged"] - stamps["dad-done"]) * 1000, 1)
    return out


def first_registration_with_payload(net: Topology, m: Any) -> dict[str, Any]:
    """:func:`first_registration` of a pair with static keys and ``TunnelPayload``; the
    pair stopped after it (its kernel state removed)."""
    ha = start_mip6d(net, m.ha, "ha-payload",
                     static_keying(ha_config(net.workdir), payload=True))
    mn = start_mip6d(net, m.mn, "mn-payload",
                     static_keying(mn_config(net.workdir), payload=True))
    try:
        mn.wait_event("binding-registered", timeout=60, after=0)
        return first_registration(ha.records())
    finally:
        mn.stop()
        ha.stop()


def ha_service_times(records: list[dict[str, Any]], first: int, last: int) -> list[float]:
    """Home agent log: for client home addresses first..last-1, the first Binding Update
    (retransmissions left out) to the acknowledgement sent for it, matched by care-of
    address (duplicate address detection, the queue behind other registrations and the
    kernel changes included)."""
    wanted = {str(hoa_of(i)) for i in range(first, last)}
    out: list[float] = []
    received: dict[str, float] = {}  # care-of address -> first Binding Update
    for r in records:
        if r.get("event") == "received" and r.get("message") == "BindingUpdate":
            if r.get("home_address") in wanted and r.get("sequence") == 1:
                received.setdefault(r.get("src"), seconds(r["ts"]))
        elif r.get("event") == "sent" and r.get("message") == "BindingAck":
            at = received.pop(r.get("dst"), None)
            if at is not None:
                out.append(seconds(r["ts"]) - at)
    return out


def setup_client(net: Topology, m: Any) -> Host:
    """Namespace cl behind r, with every home and care-of address it registers, and
    what a mobile node has to receive Binding Acknowledgements (mip6d's _start_mobile):
    an inbound policy for MH type 6 with route2, and a wildcard route2 state."""
    cl = net.host("cl")
    net.link(cl, m.r, a_ifname="cl-r", b_ifname="r-cl",
             a_address=f"{CL_ADDRESS}/64", b_address=f"{CL_ROUTER}/64")
    cl.run("ip", "-6", "route", "add", "default", "via", str(CL_ROUTER))
    m.r.run("ip", "-6", "route", "add", str(COA_NET), "via", str(CL_ADDRESS))
    lines = []
    for i in range(sum(n for n, _ in SIZES)):
        lines.append(f"address add {hoa_of(i)}/128 dev lo home nodad")
        lines.append(f"address add {coa_of(i)}/128 dev lo nodad")
    lines.append("xfrm policy update dir in src ::/0 dst ::/0 proto 135 type 6 "
                 "tmpl proto route2 mode ro level use")
    lines.append("xfrm state add src :: dst :: proto route2 spi 0 mode ro coa :: flag wildrecv")
    run(cl.argv("ip", "-batch", "-"), input="\n".join(lines) + "\n", timeout=300)
    return cl


def measure_registrations(cl: Host, ha: Daemon) -> dict[str, Any]:
    timeout = sum(cap for _, cap in SIZES) + 2 * DRAIN + 180
    text = cl.run(sys.executable, str(Path(__file__).resolve()), "--client", timeout=timeout)
    runs: list[dict[str, Any]] = json.loads(text.strip().splitlines()[-1])
    time.sleep(0.5)
    records = ha.records()
    for result in runs:
        first = result["first_index"]
        times = ha_service_times(records, first, first + result["requested"])
        result["ha_bu_received_to_ba_sent_ms"] = summary(times, digits=2)
    counters = Counter(r.get("event") for r in records)
    return {
        "window": WINDOW,
        "bu_lifetime_s": LIFETIME_UNITS * 4,
        "care_of_addresses": "one per home address (one ip6ip6 tunnel per binding)",
        "runs": runs,
        "ha_log_records": sum(counters.values()),
        "ha_problems": {k: v for k, v in counters.items()
                        if k and any(w in k for w in ("fail", "error", "malformed"))},
    }


BEGAN = time.monotonic()


def progress(line: str) -> None:
    print(f"[{time.monotonic() - BEGAN:6.1f} s] {line}", flush=True)


def guest_main(rwdir: Path) -> None:
    out: dict[str, Any] = {"kernel": os.uname().release, "guest_cpus": os.cpu_count()}
    result_file = rwdir / "result.json"
    write_json(result_file, out)
    workdir = Path(tempfile.mkdtemp(prefix="mip6d-bench-", dir="/tmp"))
    daemons: list[Daemon] = []
    with Topology(workdir) as net:
        try:
            m = build(net)
            m.mn.wait_address("mn-f1", within=F1)
            out["first_registration_payload"] = first_registration_with_payload(net, m)
            write_json(result_file, out)
            progress("first registration with TunnelPayload measured")
            ha = spawn_mip6d(net, m.ha, "ha", ha_config(net.workdir))
            mn = spawn_mip6d(net, m.mn, "mn", mn_config(net.workdir))
            daemons += [ha, mn]
            progress("daemons spawned")
            cl = setup_client(net, m)
            progress("client namespace ready")
            for daemon in daemons:
                daemon.wait_event("ready", timeout=240, after=0)
            progress("daemons ready")
            mn.wait_event("binding-registered", timeout=60, after=0)
            out["first_registration"] = first_registration(ha.records())
            write_json(result_file, out)
            phases = (("handover", lambda: measure_handovers(net, m, ha, mn)),
                      ("registration", lambda: measure_registrations(cl, ha)))
            for name, phase in phases:
                try:
                    out[name] = phase()
                except Exception as error:
                    out[name] = {"error": f"{type(error).__name__}: {error}"[-3000:]}
                out[name]["done_at_guest_s"] = round(time.monotonic() - BEGAN, 1)
                write_json(result_file, out)
                progress(f"{name} done")
                if name == "handover":
                    mn.process.kill()  # quiet during the registrations
        finally:
            for daemon in daemons:  # no orderly removal of 1000 tunnels: not measured
                if daemon.process.poll() is None:
                    daemon.process.kill()
                    daemon.process.wait()
            for name in ("ha.log", "mn.log", "handover-ping.log", "ha.conf", "mn.conf",
                         "ha-payload.log", "mn-payload.log"):
                if (workdir / name).exists():
                    shutil.copy(workdir / name, rwdir / name)
    out["guest_seconds"] = round(time.monotonic() - BEGAN, 1)
    write_json(result_file, out)


# -- on the host -----------------------------------------------------------------------------


def boot_guest(script: Path, rwdir: Path, timeout: float
               ) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """Host side: the built packages installed (``installed.prepare``), the kernel lab
    booted once to run ``script --guest rwdir`` (its output in rwdir/guest.log, its exit
    status in rwdir/exit). Returns the guest's rwdir/result.json, the lab's figures and
    the error, if any (with the tail of guest.log in the figures)."""
    shutil.rmtree(rwdir, ignore_errors=True)  # the benchmark's own directory
    rwdir.mkdir(parents=True)
    with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON document only
        installed.prepare()  # mip6d as users run it: the .deb with Debian's dependencies
    q = shlex.quote
    command = (
        f"cd {q(str(ROOT))}; modprobe -a {' '.join(vm.MODULES)}; "
        f"PYTHONPATH={q(GUEST_PYTHONPATH)} PYTHONDONTWRITEBYTECODE=1 "
        f"{q(str(vm.VENV_BIN / 'python'))} {q(str(script.resolve()))} "
        f"--guest {q(str(rwdir))} > {q(str(rwdir / 'guest.log'))} 2>&1; "
        f"echo $? > {q(str(rwdir / 'exit'))}"
    )
    started = time.monotonic()
    load = os.getloadavg()
    last = [started]

    def progress() -> None:
        if time.monotonic() - last[0] > 30:
            last[0] = time.monotonic()
            print(f"{script.stem}: guest running, {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)

    error = None
    try:
        vm.boot(command, rwdir, rwdir / "console.log", timeout, progress)
    except (vm.LabError, CommandError, OSError, subprocess.SubprocessError) as exc:
        error = str(exc).splitlines()[0]
    result_file = rwdir / "result.json"
    guest: dict[str, Any] = json.loads(result_file.read_text()) if result_file.exists() else {}
    exit_file = rwdir / "exit"
    if error is None and not exit_file.exists():
        error = "the lab ended before the guest script finished"
    elif error is None and exit_file.read_text().strip() != "0":
        error = f"guest script exited with {exit_file.read_text().strip()}"
    lab: dict[str, Any] = {
        "accel": "tcg",
        "guest_cpus": vm.GUEST_CPUS,
        "guest_memory": vm.GUEST_MEMORY,
        "kernel": guest.get("kernel"),
        "host_cpus": os.cpu_count(),
        "host_loadavg_at_start": [round(x, 2) for x in load],
        "wall_seconds_with_boot": round(time.monotonic() - started, 1),
        "guest_seconds": guest.get("guest_seconds"),
        "artifacts": str(rwdir.relative_to(ROOT)),
    }
    if error and (rwdir / "guest.log").exists():
        lab["guest_log_tail"] = (rwdir / "guest.log").read_text(
            errors="replace").splitlines()[-20:]
    return guest, lab, error


def host_main() -> int:
    guest, lab, error = boot_guest(Path(__file__), RWDIR, BOOT_TIMEOUT)
    document = {
        "benchmark": "mip6d_lab",
        "lab": {k: v for k, v in lab.items() if k != "guest_log_tail"},
        "first_registration": guest.get("first_registration"),
        "first_registration_payload": guest.get("first_registration_payload"),
        "registration": guest.get("registration"),
        "handover": guest.get("handover"),
        "anchor": None,
        "anchor_note": ANCHOR_NOTE,
    }
    if error:
        document["error"] = error
        document["guest_log_tail"] = lab.get("guest_log_tail", [])
    print(json.dumps(document, indent=2))
    failed = [name for name in ("registration", "handover")
              if not isinstance(guest.get(name), dict) or "error" in guest[name]]
    return 1 if error or failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--guest"]:
        guest_main(Path(argv[1]))
        return 0
    if argv[:1] == ["--client"]:
        client_main()
        return 0
    return host_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
