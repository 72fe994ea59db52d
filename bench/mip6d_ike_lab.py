"""mip6d with dynamic keying (IKEv2, real charon, RFC 4877) against static keying
(RFC 3776), in the kernel lab: time to the first protected registration and handover
time.

Boots the kernel lab once and runs this file inside it (``--guest``). For each keying,
a fresh ``testkit/mip6d_topology.py`` topology with the configurations of the lab
tests (``mip6d_topology.static_keying``; ``testkit/mip6d_ike.py``'s policies and
swanctl.conf, Homeguy's strongSwan build):

* first registration: from the mobile node's first ``binding-update-sent`` record to its
  ``binding-registered``
  (with dynamic keying that includes the acquire, IKE_SA_INIT, IKE_AUTH and the BU
  retransmission the acquire makes necessary);
* handovers (HANDOVERS, alternating f1 -> f2 -> f1, make-before-break as the lab
  tests move): from the ``movement CareOfAddressGone`` record of the old care-of
  address to the ``binding-refreshed`` from the new one (dynamic keying: MIGRATE
  included), and how many IKE_SA_INIT charon sent in all.

Both first registrations include the home agent's Duplicate Address Detection of the
home address (about 1 s). Prints one JSON document; artifacts in
out/lab/bench/mip6d_ike_lab/. Measured once (TCG, 2 host cores shared with other VMs):
first registration 1201 ms static, 2714 ms dynamic; handover median 422 ms static,
418 ms dynamic (MIGRATE included), one IKE_SA_INIT in all.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "packages" / "mip6d"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from homeguy.lab import installed, vm  # noqa: E402
from homeguy.lab.topology import Topology  # noqa: E402
from homeguy.run import CommandError  # noqa: E402
from testkit import mip6d_ike as ike  # noqa: E402
from testkit import strongswan_lab  # noqa: E402
from testkit.mip6d_topology import (  # noqa: E402
    F1,
    F2,
    HOA,
    Daemon,
    build,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
    static_keying,
)

RWDIR = ROOT / "out" / "lab" / "bench" / "mip6d_ike_lab"
GUEST_PYTHONPATH = f"{ROOT}:{ROOT / 'packages' / 'mip6d'}"
BOOT_TIMEOUT = 900.0
HANDOVERS = 4


def _seconds(record: dict[str, Any]) -> float:
    stamp = str(record["ts"]).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(stamp).timestamp()


def summary(values: list[float]) -> dict[str, Any]:
    ms = [round(v * 1000, 1) for v in values]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 1) if ms else None,
            "min_ms": min(ms, default=None), "max_ms": max(ms, default=None), "all_ms": ms}


def one_round(net: Topology, keying: str) -> dict[str, Any]:
    m = build(net)
    m.mn.wait_address("mn-f1", within=F1)
    acl = f"BindingAclPolicy {HOA} allow;"
    mn_ike = None
    if keying == "dynamic":
        mn_ike, _ha_ike, mn, ha = ike.start_all(net, m, payload=False)
    else:
        ha = start_mip6d(net, m.ha, "ha", static_keying(
            ha_config(net.workdir, acl=acl, default="deny")))
        mn = start_mip6d(net, m.mn, "mn", static_keying(mn_config(net.workdir)))
    first_bu = mn.wait_event("binding-update-sent", after=0)
    registered = mn.wait_event("binding-registered", after=0, timeout=120)
    out: dict[str, Any] = {"first_registration_ms": round(
        (_seconds(registered) - _seconds(first_bu)) * 1000, 1)}
    ping_until(m.cn, HOA)
    times: list[float] = []
    links = (("mn-f2", F2, "mn-f1"), ("mn-f1", F1, "mn-f2"))
    for index in range(HANDOVERS):
        new, prefix, old = links[index % 2]
        m.link(m.mn, new, True)
        coa = m.mn.wait_address(new, within=prefix)
        mark = mn.mark()
        m.link(m.mn, old, False)
        done = mn.wait(lambda r, c=coa: r.get("event") == "binding-refreshed"
                       and r.get("care_of") == str(c), timeout=60, after=mark,
                       what=f"registration from {new}")
        gone = mn.wait_event("movement", kind="CareOfAddressGone", after=mark)
        times.append(_seconds(done) - _seconds(gone))
        ping_until(m.cn, HOA)
    out["handover"] = summary(times)
    if mn_ike is not None:
        out["ike_sa_init_sent"] = ike.ike_sa_inits(mn_ike)
    for daemon in (mn, ha):
        daemon.stop()
    return out


def guest_main(rwdir: Path) -> None:
    out: dict[str, Any] = {"kernel": os.uname().release}
    for keying in ("static", "dynamic"):
        workdir = Path(tempfile.mkdtemp(prefix=f"ike-bench-{keying}-", dir="/tmp"))
        daemons: list[Daemon] = []
        with Topology(workdir) as net:
            try:
                out[keying] = one_round(net, keying)
            except Exception as error:
                out[keying] = {"error": f"{type(error).__name__}: {error}"[-2000:]}
            finally:
                for daemon in daemons:
                    daemon.process.kill()
                shutil.copytree(workdir, rwdir / keying, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("*.pcap"))
        (rwdir / "result.json").write_text(json.dumps(out, indent=2))


def host_main() -> int:
    shutil.rmtree(RWDIR, ignore_errors=True)
    RWDIR.mkdir(parents=True)
    with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON document only
        strongswan_lab.prepare({ike.VARIANT})
        installed.prepare()  # mip6d as users run it: the .deb with Debian's dependencies
    q = shlex.quote
    command = (
        f"cd {q(str(ROOT))}; modprobe -a {' '.join(vm.MODULES)}; "
        f"HOMEGUY_IN_LAB=1 PYTHONPATH={q(GUEST_PYTHONPATH)} PYTHONDONTWRITEBYTECODE=1 "
        f"{q(str(vm.VENV_BIN / 'python'))} {q(str(Path(__file__).resolve()))} "
        f"--guest {q(str(RWDIR))} > {q(str(RWDIR / 'guest.log'))} 2>&1; "
        f"echo $? > {q(str(RWDIR / 'exit'))}"
    )
    started = time.monotonic()
    load = os.getloadavg()
    error = None
    try:
        vm.boot(command, RWDIR, RWDIR / "console.log", BOOT_TIMEOUT, lambda: None)
    except (vm.LabError, CommandError, OSError, subprocess.SubprocessError) as exc:
        error = str(exc).splitlines()[0]
    result = RWDIR / "result.json"
    guest: dict[str, Any] = json.loads(result.read_text()) if result.exists() else {}
    document: dict[str, Any] = {
        "benchmark": "mip6d_ike_lab",
        "lab": {"accel": "tcg", "host_cpus": os.cpu_count(),
                "host_loadavg_at_start": [round(x, 2) for x in load],
                "wall_seconds_with_boot": round(time.monotonic() - started, 1),
                "kernel": guest.get("kernel"), "artifacts": str(RWDIR.relative_to(ROOT))},
        "static_keying": guest.get("static"),
        "dynamic_keying": guest.get("dynamic"),
    }
    if error:
        document["error"] = error
    print(json.dumps(document, indent=2))
    failed = [k for k in ("static", "dynamic")
              if not isinstance(guest.get(k), dict) or "error" in guest[k]]
    return 1 if error or failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--guest"]:
        guest_main(Path(argv[1]))
        return 0
    return host_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
