"""pytest set-up shared by the whole tree: the kernel lab runs `lab` tests in a VM; the
session's order lets long single-core work run beside the tests that leave a core free."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from testkit.headstart import HeadStart

pytest_plugins = ["homeguy.lab.pytest_plugin"]

# Property tests share the machine with the lab's VM and live-build: wall-clock limits on
# one example or on generating inputs would fail them for the load, not for a defect.
settings.register_profile("shared-machine", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")


def run_order(item: pytest.Item) -> int:
    """First the tests that leave a core free (unit, lint, the e2e tests without QEMU guests
    or image builds), then those that need the machine's cores (`machine`), then the kernel
    lab's (its guests take both cores)."""
    if item.get_closest_marker("lab"):
        return 2
    return 1 if item.get_closest_marker("machine") else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=run_order)  # stable: collection order within each group


def head_starts(session: pytest.Session) -> list[HeadStart[Any]]:
    """The selected test modules' work of their own (one guest on one core, say) that
    begins when the session's tests do, beside the first group (testkit.headstart)."""
    modules = {id(item.module): item.module for item in getattr(session, "items", [])
               if isinstance(item, pytest.Function)}
    return [module.HEAD_START for module in modules.values()
            if isinstance(getattr(module, "HEAD_START", None), HeadStart)]


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    if session.testsfailed or session.config.option.collectonly:
        return  # pytest's own loop stops the session
    for head_start in head_starts(session):
        head_start.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for head_start in head_starts(session):
        head_start.cancel()
