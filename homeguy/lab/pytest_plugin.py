"""Run the `lab`-marked tests inside the kernel lab, once per test session.

On the host, lab tests are collected like any other. When the first one is due, the
host boots the lab and runs every selected lab test inside it with the same pytest;
the guest writes each test report (serialized the way pytest-xdist does it) to a file
in the shared out/lab/ directory, and the host replays those reports as the results of
its own items: tracebacks, captured output and logs from inside the VM all appear in
the host's report. A test with no report from the guest fails with the end of the
guest's console and pytest log.

The tests are shared among `HOMEGUY_LAB_VMS` guests (default 2) booted side by side,
whole modules to a guest (shared by their times in the last session), each guest with
one of the host's cores: most of a lab test's time is waiting (DAD, advertisement
intervals, retransmission timers), so two guests take about half the time of one. (Not
beside the host's own e2e tests: their QEMU guests and image builds would starve the
lab's timers.)
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import pytest
from _pytest.reports import TestReport

from homeguy.files import write_atomic
from homeguy.lab import vm
from homeguy.run import CommandError

IN_LAB_ENV = "HOMEGUY_IN_LAB"
REPORTS_ENV = "HOMEGUY_LAB_REPORTS"
ARTIFACTS_ENV = "HOMEGUY_LAB_ARTIFACTS"
# Seconds for one lab session, boot included: ~30 min idle for its 32 tests (TCG), more
# while other VMs share the cores; the suite as a whole must stay under CI's 90 minutes.
SESSION_TIMEOUT = 55 * 60
TAIL = 60  # lines of guest logs in a failure with no report
VMS_ENV = "HOMEGUY_LAB_VMS"
# Each lab module's time in the last session on this machine (outside the checkout, like
# the other caches): the next session shares the modules among the guests by it.
SECONDS = Path(os.environ.get("HOMEGUY_LAB_CACHE", "/var/cache/homeguy/lab")) / "seconds.json"
# The modules' times of a whole fresh-clone run on the 2-core machine, for a machine that
# has measured none yet (a cold CI run would otherwise shard by test counts, minutes
# apart); this machine's own figures win. Refresh it from SECONDS after a full run.
SEED_SECONDS = Path(__file__).with_name("seconds.json")
UNMEASURED_TEST = 45.0  # seconds a lab test takes when there is no figure for it (TCG)


def in_lab() -> bool:
    return os.environ.get(IN_LAB_ENV) == "1"


def pytest_configure(config: pytest.Config) -> None:
    if in_lab():
        if path := os.environ.get(REPORTS_ENV):
            config.pluginmanager.register(GuestReporter(config, Path(path)), "homeguy-lab-guest")
    else:
        config.pluginmanager.register(HostLab(config), "homeguy-lab-host")


class GuestReporter:
    """Inside the VM: append every report to the shared file as one JSON line."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        with open(self.path, "a") as out:
            out.write(json.dumps(data) + "\n")


def tail(path: Path, lines: int = TAIL) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(missing)"
    return f"--- {path} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])


class HostLab:
    """On the host: run the lab items in one VM, then replay their reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.items: list[pytest.Item] = []
        self.reports: dict[str, list[dict[str, Any]]] | None = None
        self.stopping = threading.Event()
        self.cpus = vm.GUEST_CPUS
        self.failure = ""  # why the lab session itself failed, if it did
        self.rootdir = Path(config.rootpath)
        self.dir = self.rootdir / "out" / "lab" / "session"

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.items = [item for item in items if item.get_closest_marker("lab")]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        if item.get_closest_marker("lab") is None:
            return None
        if self.reports is None:
            self.reports = self.run_session()
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        for data in self.reports.get(item.nodeid) or self.missing(item):
            report = self.config.hook.pytest_report_from_serializable(config=self.config, data=data)
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"kernel lab: {line}")

    def run_session(self) -> dict[str, list[dict[str, Any]]]:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        shards = shard([item.nodeid for item in self.items],
                       int(os.environ.get(VMS_ENV, "2")),
                       {**load_seconds(SEED_SECONDS), **load_seconds(SECONDS)})
        self.cpus = max(1, (os.cpu_count() or 1) // len(shards)) if shards else 1
        dirs = [self.dir / str(number) for number in range(len(shards))]
        try:
            kernel = vm.debian_kernel()
        except vm.LabError as exc:
            self.failure = f"the kernel lab could not run: {exc}"
            return {}
        self.say(f"booting {kernel.name} under QEMU (TCG) for {len(self.items)} tests in "
                 f"{len(shards)} guests, logs in {self.dir}")
        done = [0]

        def progress() -> None:
            if self.stopping.is_set():
                raise vm.LabError("the test session was interrupted")
            finished = sum(count_finished(d / "reports.jsonl") for d in dirs)
            if finished != done[0]:
                done[0] = finished
                self.say(f"{finished}/{len(self.items)} tests done")

        with ThreadPoolExecutor(max_workers=len(shards)) as pool:
            try:
                failures = list(pool.map(lambda d, ids: self.run_guest(d, ids, progress),
                                         dirs, shards))
            except BaseException:  # Ctrl-C: stop the guests, or the pool waits for them
                self.stopping.set()
                raise
        self.failure = "\n".join(f for f in failures if f)
        self.say("session over" + (f": {self.failure.splitlines()[0]}" if self.failure else ""))
        reports: dict[str, list[dict[str, Any]]] = {}
        for directory in dirs:
            reports.update(load_reports(directory / "reports.jsonl"))
        save_seconds(SECONDS, reports)
        return reports

    def run_guest(self, directory: Path, nodeids: list[str],
                  progress: Callable[[], None]) -> str:
        """One guest running `nodeids`; why it failed as a whole, or ""."""
        directory.mkdir(parents=True)
        reports_file, exit_file = directory / "reports.jsonl", directory / "exit"
        (directory / "args").write_text("\n".join(nodeids) + "\n")
        script = directory / "inside.sh"
        script.write_text(guest_script(self.rootdir, directory, reports_file, exit_file))
        try:
            vm.boot(f"sh {shlex.quote(str(script))}", directory, directory / "console.log",
                    SESSION_TIMEOUT, progress, cpus=self.cpus)
        except (vm.LabError, CommandError) as exc:
            return f"the kernel lab ({directory.name}) could not run: {exc}"
        if not exit_file.exists():
            return f"the kernel lab ({directory.name}) ended before its pytest finished"
        return ""

    def missing(self, item: pytest.Item) -> list[dict[str, Any]]:
        """Serialized reports failing `item`, for a test the guest said nothing about."""
        why = self.failure or "the kernel lab produced no result for this test"
        logs = [tail(directory / name) for directory in sorted(self.dir.iterdir())
                if (directory / "args").exists() and item.nodeid in
                (directory / "args").read_text().splitlines()
                for name in ("pytest.log", "console.log")]
        text = "\n\n".join([why, *logs])
        keywords: dict[str, Literal[1]] = dict.fromkeys(item.keywords, 1)
        report = TestReport(item.nodeid, item.location, keywords, "failed", text, "call")
        return [self.config.hook.pytest_report_to_serializable(config=self.config, report=report)]


def guest_script(rootdir: Path, rundir: Path, reports: Path, exit_file: Path) -> str:
    """The shell script the guest runs: load modules, run pytest on the selected items."""
    q = shlex.quote
    return f"""\
cd {q(str(rootdir))}
modprobe -a {" ".join(vm.MODULES)}
export {IN_LAB_ENV}=1 {REPORTS_ENV}={q(str(reports))} PYTHONDONTWRITEBYTECODE=1
export {ARTIFACTS_ENV}={q(str(rundir / "artifacts"))} PYTHONPATH={q(str(vm.TOP))}
{q(str(vm.VENV_BIN / "python"))} -m pytest -p no:cacheprovider -p {__name__} -v --durations=0 \\
    @{q(str(rundir / "args"))} > {q(str(rundir / "pytest.log"))} 2>&1
echo $? > {q(str(exit_file))}
"""


def shard(nodeids: list[str], guests: int,
          seconds: Mapping[str, float] | None = None) -> list[list[str]]:
    """The tests in at most `guests` groups, whole modules to a group (module fixtures
    stay in one guest), the longest modules first to the least loaded group; each group
    in collection order. A module's length is its `seconds` from the last session
    (:func:`module_seconds`); a module without a figure counts :data:`UNMEASURED_TEST`
    seconds a test."""
    seconds = seconds or {}
    modules: dict[str, list[str]] = {}
    for nodeid in nodeids:
        modules.setdefault(nodeid.split("::")[0], []).append(nodeid)

    def length(module: str) -> float:
        return seconds.get(module, UNMEASURED_TEST * len(modules[module]))

    count = max(1, min(guests, len(modules)))
    groups: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for module in sorted(modules, key=length, reverse=True):
        least = loads.index(min(loads))
        groups[least].extend(modules[module])
        loads[least] += length(module)
    order = {nodeid: index for index, nodeid in enumerate(nodeids)}
    return [sorted(group, key=order.__getitem__) for group in groups if group]


def module_seconds(reports: Mapping[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Each module's time in a session (setup, call and teardown of its tests)."""
    seconds: dict[str, float] = {}
    for nodeid, phases in reports.items():
        module = nodeid.split("::")[0]
        seconds[module] = seconds.get(module, 0.0) + sum(p.get("duration", 0.0) for p in phases)
    return seconds


def load_seconds(path: Path) -> dict[str, float]:
    """The modules' times of the last session on this machine ({} without one)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_seconds(path: Path, reports: Mapping[str, list[dict[str, Any]]]) -> None:
    """Remember the modules' times of this session, over those of the modules it did
    not run. A session of fewer than half the modules known (one module run by hand,
    often on a machine busy with other work) only adds the modules never measured: its
    times are not the whole suite's, and one inflated figure would give its module a
    guest to itself in the next session."""
    known, measured = load_seconds(path), module_seconds(reports)
    if 2 * len(measured) < len(known):
        measured = {module: s for module, s in measured.items() if module not in known}
    seconds = {**known, **measured}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, (json.dumps(seconds, indent=1, sort_keys=True) + "\n").encode())
    except OSError:
        pass  # only a hint for the next session's shards


def count_finished(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if '"when": "teardown"' in line)


def load_reports(path: Path) -> dict[str, list[dict[str, Any]]]:
    reports: dict[str, list[dict[str, Any]]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            data = json.loads(line)
            reports.setdefault(data["nodeid"], []).append(data)
    return reports
