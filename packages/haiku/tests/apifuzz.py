"""What the schemathesis runs share (tests/test_openapi.py in process, and
tests/test_e2e_api.py against a real server): which credentials each operation gets and
which answers are not failures."""

from __future__ import annotations

from typing import Any

from schemathesis.checks import ignored_auth, not_a_server_error, positive_data_acceptance

# The calling node's own endpoints (its configuration, its certificate request).
NODE_PATHS = "/api/v1/node/"
# Every scope a user can grant: the fuzzer reaches every operation, the writes included.
USER_SCOPES = ["nodes:read", "nodes:write", "tokens:rotate"]


# Reads first (the node's own endpoint while its token still works), then the changes,
# deletions last: each operation meets the fixture's node still there.
_ORDER = ["GET", "PATCH", "POST", "DELETE"]


def in_safe_order(operations: list[Any]) -> list[Any]:
    return sorted(operations, key=lambda op: _ORDER.index(op.method.upper()))


def headers(path: str, node_token: str, api_token: str) -> dict[str, str]:
    """The node's own endpoints take the node token; the others the API token."""
    own = path.startswith(NODE_PATHS)
    return {"Authorization": f"Bearer {node_token if own else api_token}"}


def excluded_checks(operation: Any) -> list[Any]:
    """Checks whose premise these runs do not meet. ``ignored_auth``: it sends a broken
    session cookie next to the valid token these runs add, and takes the 200 for the
    broken cookie's (tests/test_api.py checks bad credentials).
    ``positive_data_acceptance``: the form's name rule (printable characters, not only
    spaces) is not in the schema; the 400 names it.
    ``not_a_server_error``
    where a 501 is documented: no base image configured for the ISO endpoints is the
    service's answer, not a failure."""
    documented_501 = "501" in operation.definition.raw["responses"]
    return [ignored_auth, positive_data_acceptance,
            *([not_a_server_error] if documented_501 else [])]
