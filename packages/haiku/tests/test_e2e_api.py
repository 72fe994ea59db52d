"""schemathesis against the service as its unit runs it (Debian's gunicorn and python3,
SQLite): every operation of the OpenAPI document, the writes included, with an API token
of every user scope; no answer is a 5xx and none leaves a traceback in the log."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests import apifuzz
from tests.services import manage, service

pytestmark = pytest.mark.e2e

# Run by manage.py shell inside the service's environment: a user with a router and a
# host that makes its own key, the host's enrollment token (the node endpoints' caller,
# its certificate requests signed) and an API token with every scope a user can grant.
_SETUP = f"""
import json
import re
from haiku import apitokens, nodes
from haiku.core.csr import KeyOrigin
from haiku.core.render import Keying, NodeKind
from haiku.models import User
user = User.objects.create_user("fuzz", "fuzz@example.org", "correct horse battery")
nodes.create_node(user, nodes.NodeRequest("mr", NodeKind.ROUTER, 2, Keying.STATIC),
                  sync=False)
node = nodes.create_node(user, nodes.NodeRequest("own", NodeKind.HOST, 0, Keying.CERTIFICATE,
                                                 key_origin=KeyOrigin.NODE), sync=False)
print(json.dumps({{"node_token": nodes.rotate_token(node),
                  "api_token": apitokens.create(user, "fuzz", {apifuzz.USER_SCOPES!r})[1]}}))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("haiku-api")
    env = {"HAIKU_STATE_DIR": str(tmp / "state"), "HAIKU_NODES_DIR": str(tmp / "nodes.d"),
           "HAIKU_CONTROL_SOCKET": str(tmp / "none.sock"),
           "HAIKU_SWANCTL_DIR": str(tmp / "swanctl")}
    log = tmp / "service.log"
    with service(env, log) as base:
        credentials = json.loads(manage(env, "shell", "-c", _SETUP).strip().splitlines()[-1])
        yield {"base": base, "log": log, **credentials}


def test_no_server_error(server: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_url(f"{server['base']}/api/openapi.json")
    operations = apifuzz.in_safe_order([r.ok() for r in schema.get_all_operations()])
    assert len(operations) == 12  # the node certificate request included
    for operation in operations:
        headers = apifuzz.headers(operation.path, server["node_token"], server["api_token"])
        excluded = apifuzz.excluded_checks(operation)

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=excluded)  # noqa: B023

        call()


def test_the_log_has_no_server_error(server: dict[str, Any]) -> None:
    """After the run above: the access log shows writes that succeeded, and no 5xx but
    the documented 501 of the ISO endpoints (no base image here), no traceback."""
    text = Path(server["log"]).read_text()
    assert '"POST /api/v1/nodes HTTP/1.1" 201' in text
    assert re.search(r'"DELETE /api/v1/nodes/\d+ HTTP/1.1" (200|404)', text)
    statuses = [line.split('" ')[1].split()[0] for line in text.splitlines()
                if '"' in line and ' HTTP/1.1" ' in line]
    assert statuses, text[-2000:]
    assert {s for s in statuses if s.startswith("5")} <= {"501"}
    assert "Traceback" not in text
