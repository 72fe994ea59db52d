"""Home agent signalling path, in process: Binding Updates processed per second.

Each Binding Update goes the whole pure path a received packet takes: wire decode (with
checksum), the home agent's processing (policy, binding cache, effects), and the wire
encoding of the Binding Acknowledgement. Measured as refreshes of existing bindings with
1, 1,000 and 100,000 bindings in the cache, plus the memory per binding at 100,000
(tracemalloc, while registering them). Kernel updates are not included: the lab
benchmark measures those.

No anchor runs on this machine: UMIP, the C daemon a user would otherwise pick, is in no
package registry this project can reach. Prints one JSON document.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages" / "mip6d"))

from mip6d.core.homeagent import HomeAgent
from mip6d.core.policy import HomeAgentPolicy, HomeLink
from mip6d.wire import mh

HOME = IPv6Network("2001:db8:1::/64")
HA = HOME[1]
FOREIGN = IPv6Network("2001:db8:f::/64")
SIZES = (1, 1_000, 100_000)
MIN_SECONDS = 2.0  # measure each size for at least this long


def home_agent() -> HomeAgent:
    policy = HomeAgentPolicy(
        home_links=(HomeLink("eth0", HOME, HA),),
        default_allow=True,
        duplicate_address_detection=False,
        require_ipsec=False,  # static keying is benchmarked in the lab
    )
    return HomeAgent(policy)


def binding_update(ha: HomeAgent, hoa: IPv6Address, coa: IPv6Address, seq: int, now: float) -> int:
    """One received BU through decode, processing and BA encoding; returns the status."""
    bu = mh.BindingUpdate(sequence=seq, lifetime=100, flags=mh.BUFlag.A | mh.BUFlag.H)
    packet = mh.encode(bu, hoa, HA)
    decoded = mh.decode(packet, hoa, HA)
    assert isinstance(decoded, mh.BindingUpdate)
    outcome = ha.handle_binding_update(decoded, hoa, HA, hoa, coa, now, protected=False)
    assert outcome.ack is not None
    mh.encode(outcome.ack, HA, hoa)
    return int(outcome.ack.status)


def register(ha: HomeAgent, count: int, now: float) -> list[IPv6Address]:
    hoas = [HOME[0x1000 + i] for i in range(count)]
    for i, hoa in enumerate(hoas):
        status = binding_update(ha, hoa, FOREIGN[0x1000 + i], 1, now)
        assert status == 0, status
    return hoas


def refresh_rate(count: int) -> dict[str, float]:
    ha, now = home_agent(), time.time()
    hoas = register(ha, count, now)
    done, seq, start = 0, 1, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < MIN_SECONDS:
        seq += 1
        for i, hoa in enumerate(hoas[:10_000]):
            binding_update(ha, hoa, FOREIGN[0x1000 + i], seq, now)
            done += 1
    return {"bindings": count, "binding_updates": done, "seconds": round(elapsed, 3),
            "per_second": round(done / elapsed)}


def memory_per_binding(count: int) -> float:
    tracemalloc.start()
    ha = home_agent()
    before = tracemalloc.get_traced_memory()[0]
    register(ha, count, time.time())
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return round((after - before) / count, 1)


def main() -> None:
    result = {
        "benchmark": "ha_signalling",
        "refresh": [refresh_rate(n) for n in SIZES],
        "bytes_per_binding_at_100k": memory_per_binding(100_000),
        "anchor": None,
        "anchor_note": "UMIP (C) is not available from any registry reachable here",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
