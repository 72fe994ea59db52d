"""The OpenAPI description: in step with the URLconf, served, matching real responses;
and schemathesis fuzzing every operation finds no server error."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from django.test import Client
from django.urls import URLPattern, get_resolver, resolve
from haiku import apitokens, openapi
from haiku.access import API_SCOPES
from haiku.core.csr import KeyOrigin
from haiku.core.render import Keying, NodeKind
from haiku.models import User
from haiku.nodes import NodeRequest, create_node, rotate_token
from haiku.wsgi import application
from hypothesis import HealthCheck, settings

from tests import apifuzz

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


def _api_routes() -> set[str]:
    routes = set()
    for pattern in get_resolver().url_patterns:
        assert isinstance(pattern, URLPattern)
        route = "/" + str(pattern.pattern)
        if route.startswith("/api/v1/"):
            routes.add(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return routes


def test_document_matches_the_urlconf() -> None:
    assert set(openapi.DOCUMENT["paths"]) == _api_routes()


def test_documented_scopes_are_the_enforced_ones() -> None:
    documented = {}
    for path, item in openapi.DOCUMENT["paths"].items():
        name = resolve(path.replace("{node_id}", "1")).url_name
        for method, op in item.items():
            if "x-scope" in op:
                documented.setdefault(name, {})[method.upper()] = op["x-scope"]
    assert documented == {name: {m: s.value for m, s in by_method.items()}
                          for name, by_method in API_SCOPES.items()}


def test_document_is_served() -> None:
    response = Client().get("/api/openapi.json")
    assert response.json() == openapi.DOCUMENT
    assert b"/api/v1/node/config" in Client().get("/api/").content


@pytest.fixture
def auth(home_agent: Any) -> dict[str, str]:
    alice = User.objects.create_user("alice", "alice@example.org", "correct horse battery")
    create_node(alice, NodeRequest("mr", NodeKind.ROUTER, 2, Keying.STATIC))
    create_node(alice, NodeRequest("ike", NodeKind.HOST, 0, Keying.CERTIFICATE))
    # The node endpoints' caller makes its own key: its certificate request is signed.
    node = create_node(alice, NodeRequest("own", NodeKind.HOST, 0, Keying.CERTIFICATE,
                                          key_origin=KeyOrigin.NODE))
    token = rotate_token(node)
    _, secret = apitokens.create(alice, "fuzz", apifuzz.USER_SCOPES)
    return {"node_token": token, "api_token": secret}


def test_responses_conform(auth: dict[str, str]) -> None:
    """Real answers (nodes 1 and 2 exist) validate against the documented schemas; the
    reads before the writes, the deletions last."""
    for op in apifuzz.in_safe_order([o.ok() for o in schema.get_all_operations()]):
        for node_id in (1, 2):
            body = {"name": f"n{node_id}", "kind": "host", "keying": "static"}
            case = op.Case(path_parameters={"node_id": node_id} if "{node_id}" in op.path
                           else {}, headers=apifuzz.headers(op.path, **auth),
                           **({"body": body} if op.method.upper() in ("POST", "PATCH")
                              and "{node_id}/token" not in op.path else {}))
            case.call_and_validate(excluded_checks=apifuzz.excluded_checks(op))


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_schemathesis_no_server_error(case: Any, auth: dict[str, str]) -> None:
    case.call_and_validate(headers=apifuzz.headers(case.path, **auth),
                           excluded_checks=apifuzz.excluded_checks(case.operation))
