"""The HAiku service for the ISO boot tests, in its own process on 127.0.0.1.

    python tests/e2e/iso_haiku.py STATE_DIR PORT PUBLIC_URL [BASE_ISO]

Migrates a fresh SQLite database in STATE_DIR, creates a user and two mobile host nodes
(one enrolled with its token on the kernel command line, one through its per-user image),
prints one JSON line {"token", "home_address", "user", "password", "iso_node_id",
"iso_home_address"}, then
serves the service (Django's threaded server) until killed. PUBLIC_URL is the address
the guests use (written into per-user images); BASE_ISO enables the ISO download.
"""
# ruff: noqa: PLC0415  (Django is imported after the environment is set)

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def main(state: str, port: str, public_url: str, base_iso: str = "") -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "haiku.settings",
        "HAIKU_STATE_DIR": state,
        "HAIKU_NODES_DIR": f"{state}/nodes.d",
        "HAIKU_CONTROL_SOCKET": f"{state}/no-home-agent.sock",
        "HAIKU_ALLOWED_HOSTS": "127.0.0.1,localhost,10.0.2.100",
        "HAIKU_BASE_URL": public_url,
        "HAIKU_BASE_ISO": base_iso,
    })
    sys.path[:0] = [str(TOP / "packages" / "haiku"), str(TOP / "packages" / "mip6d")]
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
    print(json.dumps({"token": token, "home_address": node.home_address, "user": "iso",
                      "password": password, "iso_node_id": iso_node.pk,
                      "iso_home_address": iso_node.home_address}), flush=True)
    run("127.0.0.1", int(port), get_internal_wsgi_application(), threading=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
