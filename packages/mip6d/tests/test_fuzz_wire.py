"""Fuzz the decoders: a million malformed inputs, only DecodeError may come out, and
whatever decodes re-encodes to the same value (the mutation fuzzer is
:mod:`testkit.wire_fuzz`). No clock: the rate is ``bench/wire_fuzz.py``'s."""

from __future__ import annotations

import sys

import pytest

from testkit import wire_fuzz

pytestmark = pytest.mark.unit

TARGET = 1_000_000


def test_decoders_survive_a_million_malformed_inputs() -> None:
    run = wire_fuzz.run(TARGET)
    print(f"\nfuzz: {run.inputs} inputs, {run.rejected} rejected with DecodeError, "
          f"{run.decoded} decoded", file=sys.stderr)
    assert run.failures == [], "\n".join(run.failures)
    assert run.inputs == TARGET
    assert run.decoded > TARGET // 50, f"only {run.decoded} decoded: mutations too destructive"


def test_the_same_seed_gives_the_same_run() -> None:
    assert wire_fuzz.run(2000) == wire_fuzz.run(2000)
    assert wire_fuzz.run(2000, seed=1) != wire_fuzz.run(2000)
