"""The node configuration endpoint (GET /api/v1/node/config) and its cached answers: after
each change that alters a node's configuration the very next request has it (the answer
equals the one rendered afresh from the ORM), a refused token stays refused, one query
per request, ETag and If-None-Match, and the security headers without a session."""

from __future__ import annotations

import json
from collections.abc import Callable
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from haiku import ca, nodes, selfconfig
from haiku.core.render import Keying, NodeKind
from haiku.models import MobileNetworkPrefix, Node, User
from haiku.nodes import NodeRequest, create_node, rotate_token
from haiku.payload import node_config

from testkit.mip6d_fakes import StandInHomeAgent
from tests.conftest import HaikuSettings

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

URL = "/api/v1/node/config"
ROUTER = NodeRequest("mr", NodeKind.ROUTER, 2, Keying.STATIC)
IKE_HOST = NodeRequest("ike", NodeKind.HOST, 0, Keying.CERTIFICATE)


def _get(token: str, **headers: str) -> Any:
    return Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def _fresh(node: Node) -> dict[str, Any]:
    """The configuration rendered from the ORM now, no cache involved."""
    return node_config(Node.objects.select_related("owner").get(pk=node.pk))


def _user() -> User:
    return User.objects.create_user("alice", "alice@example.org", "correct horse battery")


def _rename(node: Node, _: HaikuSettings) -> None:
    nodes.update_node(node, "renamed", node.interface)


def _interface(node: Node, _: HaikuSettings) -> None:
    nodes.update_node(node, node.name, "wlan0")


def _protect_all(node: Node, _: HaikuSettings) -> None:
    Node.objects.filter(pk=node.pk).update(protect_all_traffic=True)


def _static_keys(node: Node, _: HaikuSettings) -> None:
    keys = [dict(k, key="00" * 20) for k in node.static_keys]
    Node.objects.filter(pk=node.pk).update(static_keys=keys)


def _prefix_added(node: Node, _: HaikuSettings) -> None:
    MobileNetworkPrefix.objects.create(node=node, index=99, prefix="2001:db8:100:63::/64")


def _prefix_removed(node: Node, _: HaikuSettings) -> None:
    node.prefixes.order_by("index").last().delete()  # type: ignore[union-attr]


def _home_agent_moved(_: Node, haiku: HaikuSettings) -> None:
    haiku.change_haiku(home_agent_address=IPv6Address("2001:db8:1::2"))


def _certificate_renewed(node: Node, _: HaikuSettings) -> None:
    nodes.renew_certificate(node)


def _ca_replaced(node: Node, _: HaikuSettings) -> None:
    # A new CA (an operator restored another one): its certificate is in the answer.
    secrets = Path(settings.HAIKU.secrets_dir)
    for name in ("ca.pem", "ca.key"):
        (secrets / name).unlink()
    ca.load_or_create(secrets)


CHANGES: dict[str, tuple[NodeRequest, Callable[[Node, HaikuSettings], None]]] = {
    "name": (ROUTER, _rename),
    "interface": (ROUTER, _interface),
    "protect all traffic": (ROUTER, _protect_all),
    "static keys": (ROUTER, _static_keys),
    "a prefix added": (ROUTER, _prefix_added),
    "a prefix removed": (ROUTER, _prefix_removed),
    "the home agent's address": (ROUTER, _home_agent_moved),
    "a new certificate": (IKE_HOST, _certificate_renewed),
    "another CA": (IKE_HOST, _ca_replaced),
}


@pytest.mark.parametrize("change", CHANGES)
def test_each_change_is_in_the_next_answer(change: str, home_agent: StandInHomeAgent,
                                           haiku_settings: HaikuSettings) -> None:
    request, apply = CHANGES[change]
    node = create_node(_user(), request)
    token = rotate_token(node)
    before = _get(token)
    assert before.status_code == 200
    assert before.json() == _fresh(node)
    assert _get(token).content == before.content  # now from the cache
    apply(node, haiku_settings)
    after = _get(token)
    assert after.status_code == 200
    assert after.json() == _fresh(node)
    assert after.json() != before.json(), change
    assert after["ETag"] != before["ETag"]


REFUSALS: dict[str, Callable[[Node], None]] = {
    "node disabled": lambda node: nodes.set_enabled(node, False),
    "owner disabled": lambda node: User.objects.filter(pk=node.owner_id).update(
        is_active=False),
    "owner's e-mail unconfirmed": lambda node: User.objects.filter(pk=node.owner_id).update(
        email_confirmed=False),
    "owner awaiting approval": lambda node: User.objects.filter(pk=node.owner_id).update(
        approved=False),
    "token revoked": nodes.revoke_token,
    "token rotated": rotate_token,
    "node deleted": nodes.delete_node,
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_refused_token_is_refused_at_once(refusal: str, home_agent: StandInHomeAgent
                                            ) -> None:
    node = create_node(_user(), ROUTER)
    token = rotate_token(node)
    assert _get(token).status_code == 200  # cached
    REFUSALS[refusal](node)
    refused = _get(token)
    assert refused.status_code == 401, refusal
    assert refused["WWW-Authenticate"] == 'Bearer realm="haiku"'
    assert "error" in refused.json()


def test_enabling_again_is_in_the_next_answer(home_agent: StandInHomeAgent) -> None:
    node = create_node(_user(), ROUTER)
    token = rotate_token(node)
    first = _get(token)
    nodes.set_enabled(node, False)
    assert _get(token).status_code == 401
    nodes.set_enabled(node, True)
    again = _get(token)
    assert again.status_code == 200 and again.json() == first.json() == _fresh(node)


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer hgn_wrong", "Basic dXNlcjpwYXNz",
                                    "Bearer hgn_a b", "Bearer \x00"])
def test_no_valid_token(header: str) -> None:
    refused = Client().get(URL, HTTP_AUTHORIZATION=header)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="haiku"'
    assert refused.json()["error"].startswith("a valid node token is needed")


def test_only_get() -> None:
    refused = Client().post(URL, HTTP_AUTHORIZATION="Bearer hgn_wrong")
    assert (refused.status_code, refused["Allow"]) == (405, "GET")
    assert "use GET" in refused.json()["error"]


def test_one_query_per_request(home_agent: StandInHomeAgent,
                               django_assert_num_queries: Any) -> None:
    node = create_node(_user(), ROUTER)
    token = rotate_token(node)
    with django_assert_num_queries(1):
        assert _get(token).status_code == 200  # rendered
    with django_assert_num_queries(1):
        assert _get(token).status_code == 200  # cached
    with django_assert_num_queries(1):
        assert _get("hgn_wrong").status_code == 401


def test_etag_and_if_none_match(home_agent: StandInHomeAgent) -> None:
    node = create_node(_user(), ROUTER)
    token = rotate_token(node)
    first = _get(token)
    etag = first["ETag"]
    assert etag.startswith('"') and first["Cache-Control"] == "no-store"
    for match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        same = _get(token, HTTP_IF_NONE_MATCH=match)
        assert same.status_code == 304 and same.content == b"" and same["ETag"] == etag
    assert _get(token, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    nodes.update_node(node, "renamed", node.interface)
    changed = _get(token, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["node"]["name"] == "renamed"
    # A refused token learns nothing from an ETag.
    nodes.revoke_token(node)
    assert _get(token, HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 401


def test_node_answers_have_the_headers_and_no_session(home_agent: StandInHomeAgent) -> None:
    node = create_node(_user(), ROUTER)
    token = rotate_token(node)
    client = Client()
    client.cookies["sessionid"] = "whatever"
    for answer in (client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}"),
                   client.get(URL, HTTP_AUTHORIZATION="Bearer hgn_wrong")):
        assert answer["Content-Security-Policy"].startswith("default-src 'self'")
        assert answer["X-Frame-Options"] == "DENY"
        assert answer["X-Content-Type-Options"] == "nosniff"
        assert answer["Referrer-Policy"] == "same-origin"
        assert "Set-Cookie" not in answer and not answer.cookies
        assert "Cookie" not in answer.get("Vary", "")
    # The Host check is not skipped with the session.
    assert Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {token}",
                        HTTP_HOST="elsewhere.example").status_code == 400


def test_the_cache_is_bounded(home_agent: StandInHomeAgent,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selfconfig, "MAX_CACHED", 2)
    selfconfig.forget()
    owner = _user()
    made = [create_node(owner, NodeRequest(f"n{i}", NodeKind.HOST, 0, Keying.STATIC))
            for i in range(4)]
    for node in made:
        token = rotate_token(node)
        assert json.loads(_get(token).content) == _fresh(node)
    assert len(selfconfig._cache) <= 2


def test_the_answer_is_the_orm_rendering_for_every_kind(home_agent: StandInHomeAgent
                                                        ) -> None:
    owner = _user()
    for request in (ROUTER, IKE_HOST, NodeRequest("h", NodeKind.HOST, 0, Keying.STATIC),
                    NodeRequest("r16", NodeKind.ROUTER, 16, Keying.CERTIFICATE, True)):
        node = create_node(owner, request)
        answer = _get(rotate_token(node))
        assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
        assert answer.json() == _fresh(node), request
