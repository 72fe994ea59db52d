"""The 2007 demonstration from Homeguy's images (`tests/e2e/test_demo.py`): how long each
router's per-user image, and the mobile host's stick booted again from its kept
enrollment, take from the kernel's start to the first registration with the home agent
(the node's journal, monotonic clock), and each mobile router's handovers to the
"insecure" network and back to "wired" (care-of address usable to acknowledgement, from
the router's journal) with the echo requests its host lost meanwhile (one every 0.2 s).

Runs the demonstration once and prints the figures it measured as one JSON document.
All guests are QEMU TCG guests on this machine's two cores, booted together, so the times
are slower than on hardware; compare them with each other and across runs.

Static against IKEv2 keying, from the same run: router 1 is keyed by IKEv2 and protects
all its traffic, router 2 has static keys and protects its signalling (each node's
"keying" and "protects" in the figures).

    .venv/bin/python bench/demo.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
FIGURES = TOP / "out" / "demo" / "figures.json"


def main() -> int:
    FIGURES.unlink(missing_ok=True)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-m", "e2e", "tests/e2e/test_demo.py"], cwd=TOP, check=False,
                         stdout=sys.stderr)
    if not FIGURES.exists():
        print(f"bench/demo.py: the demonstration measured nothing (pytest exit status "
              f"{run.returncode})", file=sys.stderr)
        return 1
    nodes = json.loads(FIGURES.read_text())
    print(json.dumps({"benchmark": "demo", "passed": run.returncode == 0, "nodes": nodes},
                     indent=2))
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
