"""The Debian package: it builds (dpkg-buildpackage, lintian clean) with the project's
builder, and the service's systemd unit works out of the box. This host has no systemd as
PID 1, so the unit is not started by systemd: its ExecStartPre and ExecStart command lines
are run as they stand, with the unit's environment and only /usr/share/haiku replaced by
this source tree, and the service must then answer /healthz."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
from haiku.core.web import CONTENT_SECURITY_POLICY

from homeguy import packages
from tests.services import PACKAGE, service, unit_command, unit_environment

pytestmark = pytest.mark.e2e


def test_unit_command_line_serves_out_of_the_box(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"HAIKU_STATE_DIR": str(state), "HAIKU_NODES_DIR": str(tmp_path / "nodes.d"),
           "HAIKU_CONTROL_SOCKET": str(tmp_path / "mip6d.sock")}
    with service(env, tmp_path / "server.log") as base:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            assert json.load(response) == {"ok": True}
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            assert b"HAiku home agent service" in response.read()
        # Plain HTTP by default: a client's X-Forwarded-Proto gets it no HSTS, no
        # Secure cookie; the Content-Security-Policy is there all the same.
        headers = _login_page_headers(base)
        assert "Strict-Transport-Security" not in headers
        assert "Secure" not in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert (state / "haiku.sqlite3").is_file()  # migrations ran before the start
    assert stat.S_IMODE(os.stat(state / "secret_key").st_mode) == 0o600
    assert (tmp_path / "nodes.d").is_dir()
    collector = PACKAGE / "debian" / "haiku.haiku-collector.service"
    line = next(v.split("=", 1)[1] for v in collector.read_text().splitlines()
                if v.startswith("ExecStart="))
    out = subprocess.run([*unit_command(line), "--once"], env=unit_environment(env),
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert "ok=False" in out and "is mip6d running?" in out


def _login_page_headers(base: str) -> Message:
    request = urllib.request.Request(f"{base}/accounts/login/",
                                     headers={"X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers


def test_behind_the_tls_proxy_the_unit_sends_hsts_and_secure_cookies(tmp_path: Path) -> None:
    """HAIKU_TLS_PROXY=yes in the unit's environment (/etc/default/haiku): what the proxy
    sends as X-Forwarded-Proto is trusted."""
    env = {"HAIKU_STATE_DIR": str(tmp_path / "state"),
           "HAIKU_NODES_DIR": str(tmp_path / "nodes.d"),
           "HAIKU_CONTROL_SOCKET": str(tmp_path / "mip6d.sock"),
           "HAIKU_TLS_PROXY": "yes", "HAIKU_HSTS_SECONDS": "86400"}
    with service(env, tmp_path / "server.log") as base:
        headers = _login_page_headers(base)
    assert headers["Strict-Transport-Security"] == "max-age=86400"
    cookie = headers["Set-Cookie"]
    assert "csrftoken=" in cookie and "Secure" in cookie and "HttpOnly" in cookie \
        and "SameSite=Lax" in cookie
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_debian_package_builds() -> None:
    [source] = [p for p in packages.source_packages() if p.name == "haiku"]
    [deb] = packages.build(source, progress=False)
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    for path in ("./lib/systemd/system/haiku.service",
                 "./lib/systemd/system/haiku-collector.service",
                 "./usr/share/haiku/manage.py", "./usr/share/haiku/haiku/wsgi.py",
                 "./usr/share/haiku/haiku/migrations/0001_initial.py",
                 "./usr/share/haiku/haiku/templates/haiku/base.html",
                 "./usr/bin/haiku-manage", "./etc/default/haiku",
                 "./usr/share/doc/haiku/examples/nginx-haiku.conf"):
        assert path in listing, path
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends", "Architecture"],
                            capture_output=True, text=True, check=True).stdout
    assert "python3-django" in fields and "gunicorn" in fields and "all" in fields
    # /etc/default/haiku (passwords may go there): root writes it, group haiku reads it
    # (the postinst gives it the group; tests/e2e/test_packages_debian.py installs it).
    [entry] = [line for line in listing.splitlines() if line.endswith(" ./etc/default/haiku")]
    assert entry.startswith("-rw-r----- root/root "), entry
    # charon's vici socket for the group swanctl, which the service's user is in.
    assert "./etc/strongswan.d/haiku.conf" in listing
    unit = (PACKAGE / "debian" / "haiku.service").read_text().splitlines()
    assert {"User=haiku", "Group=haiku", "SupplementaryGroups=mip6d swanctl"} <= set(unit)
