"""Benchmark: HAiku node creations per second under concurrency, through the web form, as
people make them (each user logs in and submits the node form; users at once), against
the service run with the command line the Debian package ships (the ExecStart line of
packages/haiku/debian/haiku.service), on SQLite and on PostgreSQL, with the stand-in home
agent (mip6d's control socket server and parser, so every creation is a real reload, which
re-reads every node's file) and without one (no control socket: HAiku's own share). Prints
JSON.

    .venv/bin/python bench/haiku_node_creation.py [--users 20] [--per-user 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
PACKAGE = TOP / "packages" / "haiku"
sys.path[:0] = [str(TOP), str(PACKAGE), str(TOP / "packages" / "mip6d")]


def run(database: str, home_agent: bool, users: int, per_user: int) -> dict[str, object]:
    from tests.load import create_nodes, make_users  # noqa: PLC0415
    from tests.services import postgres, service  # noqa: PLC0415

    from testkit.mip6d_fakes import StandInHomeAgent  # noqa: PLC0415

    work = Path(tempfile.mkdtemp(prefix="haiku-bench-"))
    try:
        with ExitStack() as stack:
            env = {"HAIKU_STATE_DIR": str(work / "state"),
                   "HAIKU_NODES_DIR": str(work / "nodes.d"),
                   "HAIKU_CONTROL_SOCKET": str(work / "none.sock")}
            if home_agent:
                ha = StandInHomeAgent(work / "ha")
                stack.callback(ha.stop)
                env["HAIKU_NODES_DIR"] = str(ha.nodes_dir)
                env["HAIKU_CONTROL_SOCKET"] = str(ha.socket_path)
            if database == "postgresql":
                env["HAIKU_DATABASE_URL"] = stack.enter_context(postgres())
            base = stack.enter_context(service(env, work / "server.log"))
            names = make_users(env, users)
            answers, seconds = create_nodes(base, names, per_user)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    latencies = sorted(a.seconds * 1000 for a in answers)
    return {
        "database": database,
        "home_agent": "stand-in" if home_agent else "none",
        "creations": len(answers),
        "errors": sum(not a.created for a in answers),
        "seconds": round(seconds, 2),
        "creations_per_second": round(len(answers) / seconds, 1),
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--per-user", type=int, default=10)
    args = parser.parse_args()
    unit = (PACKAGE / "debian" / "haiku.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    print(json.dumps({
        "benchmark": "haiku_node_creation",
        "server": exec_start.removeprefix("ExecStart="),
        "load": f"{args.users} users at once, {args.per_user} mobile routers each (one "
                "prefix, every 4th keyed with a certificate), web form over loopback",
        "results": [run(db, ha, args.users, args.per_user)
                    for db in ("sqlite", "postgresql") for ha in (True, False)],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }, indent=2))


if __name__ == "__main__":
    main()
