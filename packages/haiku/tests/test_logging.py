"""With DEBUG off, an unhandled exception (HTTP 500) is logged with its traceback on
stderr (the journal, under systemd): run with Debian's python3 and python3-django, with
the database down (PostgreSQL at a port nobody listens on) so that /healthz fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.services import PACKAGE, SLOT_MODULE_DIR
from tests.smtp import free_port

pytestmark = pytest.mark.unit

SCRIPT = """
import django
django.setup()
from django.test import Client
print(Client(raise_request_exception=False, HTTP_HOST="localhost").get("/healthz").status_code)
"""


def test_a_500_leaves_its_traceback_on_stderr(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8",
           "PYTHONPATH": f"{PACKAGE}:{SLOT_MODULE_DIR}",
           "DJANGO_SETTINGS_MODULE": "haiku.settings", "HAIKU_STATE_DIR": str(tmp_path),
           "HAIKU_DATABASE_URL": f"postgresql://haiku@127.0.0.1:{free_port()}/haiku"}
    result = subprocess.run(["/usr/bin/python3", "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "500"
    assert "Internal Server Error: /healthz" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "OperationalError" in result.stderr and "Connection refused" in result.stderr
