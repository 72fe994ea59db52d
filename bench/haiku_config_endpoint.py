"""Benchmark: HAiku's node configuration endpoint (GET /api/v1/node/config with a bearer
token) with 10,000 nodes, in SQLite and in PostgreSQL (a fresh cluster, as the e2e tests
make it), served with the server configuration the Debian package ships (the ExecStart
line of packages/haiku/debian/haiku.service: Debian's gunicorn, its workers), loaded by
wrk over loopback for a bounded time. Prints JSON, each back end next to the target of
issue #17 (there is no other tool that serves this configuration to compare with).

    .venv/bin/python bench/haiku_config_endpoint.py [--nodes 10000] [--seconds 15]
        [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
PACKAGE = TOP / "packages" / "haiku"
sys.path[:0] = [str(PACKAGE), str(TOP / "packages" / "mip6d"),
                str(TOP / "packages" / "homeguy-slot")]

WRK_SCRIPT = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
math.randomseed(os.time())
request = function()
  local t = tokens[math.random(#tokens)]
  return wrk.format("GET", "/api/v1/node/config", {["Authorization"] = "Bearer " .. t})
end
"""
# Issue #17: what "fast enough" is, on this 2-core machine, wrk on the same cores.
TARGET = {"requests_per_second": 1000.0, "latency_ms_p99": 50.0}


def seed(count: int, token_file: Path) -> None:
    """Fill the database: ``count`` nodes (half hosts, half routers with one prefix),
    static keys, one token each (digests stored, tokens written to ``token_file``)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "haiku.settings")
    import django  # noqa: PLC0415

    django.setup()
    from django.conf import settings  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415
    from haiku.core import keys, tokens  # noqa: PLC0415
    from haiku.models import MobileNetworkPrefix, Node, User  # noqa: PLC0415
    from haiku.nodes import home_pool, mnp_pool  # noqa: PLC0415

    call_command("migrate", "--noinput", verbosity=0)
    assert settings.HAIKU.home_pool_size >= count
    owner = User.objects.create_user("bench", "bench@example.org", "bench password 1")
    hp, mp = home_pool(), mnp_pool()
    plain = [tokens.new_token() for _ in range(count)]
    nodes = []
    for slot in range(count):
        router = slot % 2 == 1
        nodes.append(Node(
            owner=owner, name=f"n{slot}", kind="router" if router else "host", slot=slot,
            home_address=str(hp.address_at(slot)), keying="static",
            static_keys=[{"direction": k.direction.value, "spi": k.spi, "reqid": k.reqid,
                          "encryption": k.encryption, "key": k.key}
                         for k in keys.static_keys(slot, True)],
            token_digest=tokens.digest(plain[slot])))
    Node.objects.bulk_create(nodes, batch_size=1000)
    routers = Node.objects.filter(kind="router").order_by("slot")
    MobileNetworkPrefix.objects.bulk_create(
        [MobileNetworkPrefix(node=n, index=i, prefix=str(mp.network_at(i)))
         for i, n in enumerate(routers)], batch_size=1000)
    token_file.write_text("\n".join(plain) + "\n")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run(database: str, args: argparse.Namespace) -> dict[str, object]:
    """Seed ``args.nodes`` nodes into a fresh database, serve them, load them with wrk."""
    sys.path.insert(0, str(PACKAGE))
    from tests.services import postgres, service  # noqa: PLC0415

    work = Path(tempfile.mkdtemp(prefix="haiku-bench-"))
    env = {"HAIKU_STATE_DIR": str(work / "state"), "HAIKU_NODES_DIR": str(work / "nodes.d"),
           "HAIKU_CONTROL_SOCKET": str(work / "none.sock"),
           "HAIKU_HOME_POOL_SIZE": str(max(65536, args.nodes))}
    token_file = work / "tokens"
    lua = work / "tokens.lua"
    lua.write_text(WRK_SCRIPT % token_file)
    try:
        with ExitStack() as stack:
            if database == "postgresql":
                env["HAIKU_DATABASE_URL"] = stack.enter_context(postgres())
            started = time.monotonic()
            subprocess.run([sys.executable, __file__, "--nodes", str(args.nodes), "--seed",
                            str(token_file)], env={**os.environ, **env}, check=True)
            seeded = time.monotonic() - started
            base = stack.enter_context(service(env, work / "server.log"))
            out = subprocess.run(
                ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s",
                 "--timeout", "10s", "--latency", "-s", str(lua), base],
                capture_output=True, text=True, check=True, timeout=args.seconds + 60).stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {p: _ms(v, u)
               for p, v, u in re.findall(r"\s(50|90|99)%\s+([\d.]+)(us|ms|s)\b", out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    p99 = latency.get("99")
    return {
        "database": database,
        "requests_per_second": rps,
        "latency_ms_p50": latency.get("50"),
        "latency_ms_p90": latency.get("90"),
        "latency_ms_p99": p99,
        # Above 1 meets the target: throughput over the target's, the target's p99 over ours.
        "ratio_to_target_requests_per_second": round(rps / TARGET["requests_per_second"], 2),
        "ratio_to_target_latency_p99": round(TARGET["latency_ms_p99"] / p99, 2) if p99 else None,
        "meets_target": rps >= TARGET["requests_per_second"]
        and p99 is not None and p99 <= TARGET["latency_ms_p99"],
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
        "seed_seconds": round(seeded, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        seed(args.nodes, Path(args.seed))
        return
    databases = args.databases.split(",")
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"--databases: unknown {', '.join(sorted(unknown))}; "
                     "use sqlite, postgresql")
    unit = (PACKAGE / "debian" / "haiku.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    print(json.dumps({
        "benchmark": "haiku_config_endpoint",
        "nodes": args.nodes,
        "server": exec_start.removeprefix("ExecStart="),
        "load": f"wrk -t 2 -c {args.connections} -d {args.seconds}s, random node token "
                "per request, loopback",
        "target": TARGET,
        "results": [run(db, args) for db in databases],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }, indent=2))


if __name__ == "__main__":
    main()
