"""Authorization over every endpoint: the URLconf is enumerated, so a new URL without a
row in haiku.access.RULES fails here. User B reaches nothing of user A's, anonymous users
only public pages, operators' pages only operators."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse
from haiku import apitokens
from haiku.access import RULES, Access
from haiku.core.render import Keying, NodeKind
from haiku.models import Node, User
from haiku.nodes import NodeRequest, create_node, rotate_token

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def _patterns() -> list[URLPattern]:
    found = [p for p in get_resolver().url_patterns if isinstance(p, URLPattern)]
    assert len(found) == len(get_resolver().url_patterns), "nested URLconfs: extend the test"
    return found


def test_every_url_has_a_rule_and_every_rule_a_url() -> None:
    names = [p.name for p in _patterns()]
    assert None not in names, "every URL needs a name (the rule table is keyed by it)"
    assert sorted(set(names)) == sorted(names)
    assert sorted(n for n in names if n not in RULES) == []
    assert sorted(n for n in RULES if n not in names) == []


@pytest.fixture
def world(home_agent: Any) -> dict[str, Any]:
    alice = User.objects.create_user("alice", "alice@example.org", PASSWORD)
    bob = User.objects.create_user("bob", "bob@example.org", PASSWORD)
    op = User.objects.create_user("op", "op@example.org", PASSWORD, role=User.Role.OPERATOR)
    node = create_node(alice, NodeRequest("mr", NodeKind.ROUTER, 2, Keying.STATIC))
    token = rotate_token(node)
    api_token, _ = apitokens.create(alice, "script", ["nodes:read"])
    return {"alice": alice, "bob": bob, "op": op, "node": node, "token": token,
            "api_token": api_token}


def _url(pattern: URLPattern, world: dict[str, Any]) -> str:
    kwargs: dict[str, Any] = {}
    for name in pattern.pattern.converters:
        kwargs[name] = {"node_id": world["node"].pk, "user_id": world["alice"].pk,
                        "token_id": world["api_token"].pk, "uidb64": "MQ",
                        "token": "set-password"}[name]
    return reverse(pattern.name, kwargs=kwargs)


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _refused_anonymous(path: str, response: Any) -> bool:
    if path.startswith("/api/"):
        return response.status_code == 401
    return response.status_code == 302 and response["Location"].startswith(
        "/accounts/login/")


def test_anonymous_reaches_only_public_pages(world: dict[str, Any]) -> None:
    for pattern in _patterns():
        rule = RULES[pattern.name]
        path = _url(pattern, world)
        for method in ("get", "post"):
            response = getattr(Client(), method)(path)
            if rule is Access.PUBLIC:
                assert not _refused_anonymous(path, response), (method, path)
                assert response.status_code < 500, (method, path)
            elif rule is Access.NODE_TOKEN:
                assert response.status_code in (401, 405), (method, path)
            else:
                assert _refused_anonymous(path, response), (method, path, response)


def test_user_b_reaches_nothing_of_user_a(world: dict[str, Any]) -> None:
    node: Node = world["node"]
    before = (Node.objects.get(pk=node.pk).__dict__.copy(), list(node.prefixes.all()))
    bob = _client(world["bob"])
    for pattern in _patterns():
        rule = RULES[pattern.name]
        path = _url(pattern, world)
        for method in ("get", "post"):
            response = getattr(_client(world["bob"]), method)(path)  # logout ends sessions
            assert response.status_code < 500, (method, path)
            assert node.home_address.encode() not in response.content, (method, path)
            if rule is Access.OPERATOR:
                assert response.status_code == 403, (method, path)
            elif rule in (Access.USER, Access.API) and "node_id" in pattern.pattern.converters:
                assert response.status_code in (404, 405), (method, path)
    assert world["api_token"].__class__.objects.filter(pk=world["api_token"].pk).exists()
    after = Node.objects.get(pk=node.pk)
    assert after.token_digest == before[0]["token_digest"]
    assert after.enabled and list(node.prefixes.all()) == before[1]
    assert bob.get("/api/v1/nodes").json() == {"nodes": []}
    # Bob's session does not stand in for Alice's node token, and Alice's token does not
    # open Bob's session endpoints.
    assert bob.get("/api/v1/node/config").status_code == 401
    token_only = Client().get(f"/api/v1/nodes/{node.pk}/config",
                              HTTP_AUTHORIZATION=f"Bearer {world['token']}")
    assert token_only.status_code == 401


def test_owner_and_operator_reach_their_pages(world: dict[str, Any]) -> None:
    alice, op = _client(world["alice"]), _client(world["op"])
    node = world["node"]
    for name in ("node-list", "node-create", "api-nodes"):
        assert alice.get(reverse(name)).status_code == 200
    assert alice.get(reverse("node-detail", args=[node.pk])).status_code == 200
    assert alice.get(reverse("api-node", args=[node.pk])).json()["id"] == node.pk
    for name in ("operator-users", "operator-message", "operator-stats",
                 "operator-stats-svg"):
        assert op.get(reverse(name)).status_code == 200, name
    # An operator does not get other people's node pages through the user pages either.
    assert op.get(reverse("node-detail", args=[node.pk])).status_code == 404


def test_csrf_is_enforced() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403


def test_huge_ids_are_not_found(world: dict[str, Any]) -> None:
    alice = _client(world["alice"])
    for path in ("/api/v1/nodes/99999999999999999999999", "/nodes/99999999999999999999/",
                 "/api/v1/nodes/0"):
        assert alice.get(path).status_code == 404, path
