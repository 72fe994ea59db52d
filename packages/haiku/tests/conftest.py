"""Test setup for haiku: Django on SQLite in a temporary state directory, the home agent's
nodes directory and control socket in it (a stand-in mip6d, see testkit.mip6d_fakes)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

_STATE = Path(tempfile.mkdtemp(prefix="haiku-test-"))
_HA_DIR = _STATE / "ha"
os.environ["DJANGO_SETTINGS_MODULE"] = "haiku.settings"
os.environ["HAIKU_STATE_DIR"] = str(_STATE / "state")
os.environ["HAIKU_NODES_DIR"] = str(_HA_DIR / "nodes.d")
os.environ["HAIKU_CONTROL_SOCKET"] = str(_HA_DIR / "control.sock")
# No strongSwan unless a test makes this directory (tests/test_swanctl.py).
os.environ["HAIKU_SWANCTL_DIR"] = str(_HA_DIR / "swanctl")
os.environ["HAIKU_SMTP_HOST"] = "127.0.0.1"
os.environ["HAIKU_SMTP_PORT"] = "1"  # a test that sends mail starts its own server

import django  # noqa: E402

django.setup()

from haiku import control  # noqa: E402

from testkit.mip6d_fakes import StandInHomeAgent  # noqa: E402


@pytest.fixture(autouse=True)
def _control_sockets_asked_afresh() -> Iterator[None]:
    """No test inherits another's hung control socket (haiku.control's QUIET)."""
    control.forget()
    yield
    control.forget()


@pytest.fixture
def home_agent(settings: object) -> Iterator[StandInHomeAgent]:
    """A running stand-in home agent, its nodes directory emptied."""
    _HA_DIR.mkdir(parents=True, exist_ok=True)
    for stale in (_HA_DIR / "nodes.d").glob("*"):
        stale.unlink()
    ha = StandInHomeAgent(_HA_DIR)
    try:
        yield ha
    finally:
        ha.stop()


class HaikuSettings:
    """Replaces fields of settings.HAIKU for one test (through pytest-django's
    ``settings``, which restores them)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def change_haiku(self, **fields: Any) -> None:
        self.settings.HAIKU = replace(self.settings.HAIKU, **fields)


@pytest.fixture
def haiku_settings(settings: Any) -> HaikuSettings:
    return HaikuSettings(settings)
