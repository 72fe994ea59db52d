"""mip6d's wire decoders under the mutation fuzzer: malformed inputs decoded per second.

The same inputs as the unit test ``packages/mip6d/tests/test_fuzz_wire.py`` (a million,
fixed seed, :mod:`testkit.wire_fuzz`), timed here instead of there: the rate, and
the slowest single decode with its input. No anchor: atheris (the coverage-guided
fuzzer a user would otherwise pick) measures something else, coverage, and is not
installed here. Prints one JSON document.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "packages" / "mip6d"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from testkit import wire_fuzz  # noqa: E402

INPUTS = 1_000_000


def main() -> None:
    started = time.perf_counter()
    run = wire_fuzz.run(INPUTS, timer=time.perf_counter)
    seconds = time.perf_counter() - started
    worst, worst_input = run.slowest
    print(json.dumps({
        "benchmark": "wire_fuzz",
        "inputs": run.inputs,
        "decoded": run.decoded,
        "rejected": run.rejected,
        "failures": len(run.failures),
        "seconds": round(seconds, 2),
        "inputs_per_second": round(run.inputs / seconds),
        "slowest_decode_ms": round(worst * 1000, 3),
        "slowest_input": worst_input,
    }, indent=2))


if __name__ == "__main__":
    main()
