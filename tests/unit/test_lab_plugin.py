"""The pure parts of the kernel lab: kernel choice, guest script, report files."""

import json
from pathlib import Path

import pytest

from homeguy.git import TOP
from homeguy.lab import vm
from homeguy.lab.pytest_plugin import (
    SEED_SECONDS,
    count_finished,
    guest_script,
    load_reports,
    load_seconds,
    save_seconds,
    shard,
)

pytestmark = pytest.mark.unit


def test_newest_debian_kernel(tmp_path: Path) -> None:
    for name in ("vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-56-amd64", "vmlinuz-6.18.4-custom"):
        (tmp_path / name).touch()
    assert vm.debian_kernel(tmp_path).name == "vmlinuz-6.1.0-56-amd64"


def test_no_debian_kernel_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(vm.LabError, match="apt-get install linux-image-amd64"):
        vm.debian_kernel(tmp_path)


def test_guest_script() -> None:
    script = guest_script(Path("/src"), Path("/src/out/lab/s"), Path("/r.jsonl"), Path("/exit"))
    assert script.splitlines()[0] == "cd /src"
    assert "modprobe -a ip6_tunnel esp6 xfrm_user" in script
    assert "@/src/out/lab/s/args > /src/out/lab/s/pytest.log 2>&1" in script
    assert script.rstrip().endswith("echo $? > /exit")


def test_reports_grouped_by_test(tmp_path: Path) -> None:
    path = tmp_path / "reports.jsonl"
    lines = [{"nodeid": n, "when": w} for n in ("a", "b") for w in ("setup", "call", "teardown")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines[:5]))
    reports = load_reports(path)
    assert [r["when"] for r in reports["a"]] == ["setup", "call", "teardown"]
    assert [r["when"] for r in reports["b"]] == ["setup", "call"]
    assert count_finished(path) == 1
    assert load_reports(tmp_path / "missing") == {} and count_finished(tmp_path / "missing") == 0


def test_shards_keep_modules_whole_and_balance_them() -> None:
    ids = [f"m{m}.py::t{t}" for m, n in ((1, 1), (2, 5), (3, 2), (4, 3)) for t in range(n)]
    groups = shard(ids, 2)
    # Biggest first to the emptiest guest: m2 (5), m4 (3), m3 (2) with m4, m1 (1) with m2.
    assert {tuple(sorted({i.split("::")[0] for i in g})) for g in groups} == {
        ("m1.py", "m2.py"), ("m3.py", "m4.py")}
    for group in groups:
        assert group == sorted(group, key=ids.index)  # collection order inside a guest
    assert shard(ids[:1], 4) == [ids[:1]]  # never more guests than modules
    assert shard(ids, 1) == [ids]


def test_shards_follow_the_last_sessions_times(tmp_path: Path) -> None:
    ids = [f"m{m}.py::t{t}" for m, n in ((1, 1), (2, 5), (3, 2), (4, 3)) for t in range(n)]
    # m1's one test took as long as all the others together: it gets a guest to itself.
    reports = {i: [{"when": w, "duration": 600.0 if i.startswith("m1") else 20.0}
                   for w in ("setup", "call", "teardown")] for i in ids}
    saved = tmp_path / "lab" / "seconds.json"
    save_seconds(saved, reports)
    assert load_seconds(saved) == {"m1.py": 1800.0, "m2.py": 300.0, "m3.py": 120.0,
                                   "m4.py": 180.0}
    groups = shard(ids, 2, load_seconds(saved))
    assert sorted(groups, key=len) == [ids[:1], ids[1:]]
    # A later session of half the modules replaces their times and keeps the others';
    # a module never measured counts UNMEASURED_TEST a test.
    save_seconds(saved, {"m3.py::t0": [{"when": "call", "duration": 5.0}],
                         "m4.py::t0": [{"when": "call", "duration": 7.0}]})
    assert load_seconds(saved)["m3.py"] == 5.0 and load_seconds(saved)["m1.py"] == 1800.0
    # A session of fewer (one module run by hand) only adds what was never measured.
    save_seconds(saved, {"m1.py::t0": [{"when": "call", "duration": 9000.0}]})
    save_seconds(saved, {"m5.py::t0": [{"when": "call", "duration": 3.0}]})
    assert load_seconds(saved)["m1.py"] == 1800.0 and load_seconds(saved)["m5.py"] == 3.0
    assert shard(["new.py::a", "new.py::b", "m3.py::t0"], 2, load_seconds(saved)) == [
        ["new.py::a", "new.py::b"], ["m3.py::t0"]]
    saved.write_text("not json")
    assert load_seconds(saved) == {} and load_seconds(tmp_path / "missing") == {}


def test_the_seed_times_name_the_lab_modules_there_are() -> None:
    """The committed times (a cold machine's shards) stay the suite's: every lab module
    has one and every one is a lab module."""
    seeded = load_seconds(SEED_SECONDS)
    modules = {str(p.relative_to(TOP)) for p in TOP.glob("tests/lab/test_*.py")}
    modules |= {str(p.relative_to(TOP)) for p in TOP.glob("packages/*/tests/test_*lab.py")}
    assert set(seeded) == modules and all(s > 0 for s in seeded.values()), (
        sorted(set(seeded) ^ modules))
