"""The HAiku service for the ISO boot tests, in its own process on 127.0.0.1.

    python tests/e2e/iso_haiku.py STATE_DIR PORT PUBLIC_URL [BASE_ISO]

Migrates a fresh SQLite database in STATE_DIR, creates a user, two mobile host nodes
(one enrolled with its token on the kernel command line, one through its per-user image)
and a mobile router with one prefix (installed to a disk), prints one JSON line {"token",
"home_address", "user", "password", "iso_node_id", "iso_home_address", "router_token",
"router_home_address", "router_prefixes"}, then
serves the service (Django's threaded server) until killed. PUBLIC_URL is the address
the guests use (written into per-user images); BASE_ISO enables the ISO download.
"""
# ruff: noqa: PLC0415  (Django is imported after the environment is set)

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(work: Path, public_url: str, base_iso: Path | None = None) -> Iterator[dict[str, Any]]:
    """This script in its own process, state in work/haiku: its JSON line, plus "port"."""
    state = work / "haiku"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    port = free_port()
    log = (work / "haiku.log").open("w")
    process = subprocess.Popen(
        [str(TOP / ".venv/bin/python"), __file__, str(state), str(port), public_url,
         str(base_iso or "")], stdout=subprocess.PIPE, stderr=log, text=True, cwd=TOP)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, f"the service did not start; see {work / 'haiku.log'}"
        info: dict[str, Any] = json.loads(line)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the service does not listen"
                time.sleep(0.2)
        yield {**info, "port": port}
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def main(state: str, port: str, public_url: str, base_iso: str = "") -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "haiku.settings",
        "HAIKU_STATE_DIR": state,
        "HAIKU_NODES_DIR": f"{state}/nodes.d",
        "HAIKU_CONTROL_SOCKET": f"{state}/no-home-agent.sock",
        "HAIKU_ALLOWED_HOSTS": "127.0.0.1,localhost,10.0.2.100",
        "HAIKU_BASE_URL": public_url,
        "HAIKU_BASE_ISO": base_iso,
        # The guest reaches the service over plain HTTP (QEMU's guestfwd): allowed here.
        "HAIKU_ENROLL_ALLOW_HTTP": "yes",
    })
    sys.path[:0] = [str(TOP / "packages" / directory)
                    for directory in ("haiku", "mip6d", "homeguy-slot")]
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.servers.basehttp import get_internal_wsgi_application, run

    call_command("migrate", verbosity=0)
    from haiku.core.render import Keying, NodeKind
    from haiku.models import User
    from haiku.nodes import NodeRequest, create_node, rotate_token

    password = "iso boot test password"
    user = User.objects.create_user("iso", "iso@example.org", password)
    node = create_node(user, NodeRequest("live-mh", NodeKind.HOST, 0, Keying.STATIC))
    token = rotate_token(node)
    iso_node = create_node(user, NodeRequest("live-iso", NodeKind.HOST, 0, Keying.STATIC))
    router = create_node(user, NodeRequest("live-mr", NodeKind.ROUTER, 1, Keying.STATIC))
    router_token = rotate_token(router)
    print(json.dumps({"token": token, "home_address": node.home_address, "user": "iso",
                      "password": password, "iso_node_id": iso_node.pk,
                      "iso_home_address": iso_node.home_address,
                      "router_token": router_token,
                      "router_home_address": router.home_address,
                      "router_prefixes": [p.prefix for p in router.prefixes.all()]}),
          flush=True)
    run("127.0.0.1", int(port), get_internal_wsgi_application(), threading=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
