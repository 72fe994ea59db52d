"""The write API and its API tokens, against SQLite and the stand-in home agent: each
endpoint, each scope, each error; and the address quarantine of deleted nodes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from haiku import apitokens
from haiku.core import tokens
from haiku.models import ApiToken, Node, QuarantinedAddress, User

from testkit.mip6d_fakes import StandInHomeAgent

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

ALL = ["nodes:read", "nodes:write", "tokens:rotate"]
ROUTER = {"name": "mr", "kind": "router", "prefix_count": 2, "keying": "static"}


class Api:
    """A client that sends one API token with every request."""

    def __init__(self, secret: str) -> None:
        self.client, self.auth = Client(enforce_csrf_checks=True), f"Bearer {secret}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return getattr(self.client, method)(
            f"/api/v1{path}", data=data if body is not None else None,
            content_type="application/json", HTTP_AUTHORIZATION=self.auth)


def _user(name: str, **fields: Any) -> User:
    return User.objects.create_user(name, f"{name}@example.org", "correct horse battery",
                                    **fields)


def _api(user: User, scopes: list[str]) -> Api:
    return Api(apitokens.create(user, "test", scopes)[1])


@pytest.fixture
def alice(home_agent: StandInHomeAgent) -> Api:
    return _api(_user("alice"), ALL)


def test_create_update_disable_delete_and_rotate(alice: Api, home_agent: StandInHomeAgent
                                                 ) -> None:
    made = alice.call("post", "/nodes", ROUTER)
    assert made.status_code == 201, made.content
    body = made.json()
    node = Node.objects.get(pk=body["node"]["id"])
    assert body["node"]["home_address"] == "2001:db8:1::1000"
    assert body["node"]["mobile_network_prefixes"] == ["2001:db8:100::/64",
                                                       "2001:db8:100:1::/64"]
    assert body["node"]["interface"] == "eth0"  # the form's initial value
    assert body["home_agent"] == {"ok": True, "message": "mip6d reloaded"}
    assert node.token_digest == tokens.digest(body["token"])
    assert home_agent.daemon.reloads[-1] == {"ok": True, "error": None}
    path = f"/nodes/{node.pk}"
    assert alice.call("get", path).json()["name"] == "mr"
    assert [n["id"] for n in alice.call("get", "/nodes").json()["nodes"]] == [node.pk]

    changed = alice.call("patch", path, {"name": "car", "interface": "wlan0"}).json()
    assert (changed["node"]["name"], changed["node"]["interface"]) == ("car", "wlan0")
    assert "wlan0" in alice.call("get", f"{path}/config").json()["mip6d_conf"]
    assert alice.call("patch", path, {"enabled": False}).json()["node"]["enabled"] is False
    assert not (home_agent.nodes_dir / f"haiku-{node.pk}.conf").exists()
    assert alice.call("patch", path, {"enabled": True}).json()["node"]["enabled"] is True
    assert (home_agent.nodes_dir / f"haiku-{node.pk}.conf").exists()

    rotated = alice.call("post", f"{path}/token").json()
    assert rotated["node"] == node.pk and rotated["token"] != body["token"]
    assert Client().get("/api/v1/node/config",
                        HTTP_AUTHORIZATION=f"Bearer {body['token']}").status_code == 401
    assert Client().get("/api/v1/node/config", HTTP_AUTHORIZATION=f"Bearer "
                        f"{rotated['token']}").json()["node"]["name"] == "car"

    gone = alice.call("delete", path)
    assert gone.json() == {"deleted": node.pk,
                           "home_agent": {"ok": True, "message": "mip6d reloaded"}}
    assert not Node.objects.filter(pk=node.pk).exists()
    assert alice.call("get", path).json() == {"error": f"you have no node {node.pk}"}


def test_bad_input_gets_400_naming_the_field(alice: Api) -> None:
    cases = [
        ({**ROUTER, "prefix_count": 0}, "prefix_count", "at least one prefix"),
        ({**ROUTER, "kind": "host"}, "prefix_count", "no mobile network prefixes"),
        ({**ROUTER, "name": "a\nb"}, "name", "printable"),
        ({**ROUTER, "name": " " + "x" * 64}, "name", "at most 64 characters"),
        ({**ROUTER, "interface": "../x"}, "interface", "letters, digits"),
        ({**ROUTER, "name": 5}, "name", "expected a string"),
        ({**ROUTER, "prefix_count": True}, "prefix_count", "expected an integer"),
        ({**ROUTER, "keying": "psk"}, "keying", "valid choice"),
        ({**ROUTER, "colour": "red"}, "colour", "unknown field; the fields are name"),
        ({"kind": "host", "keying": "static"}, "name", "required"),
    ]
    for body, field, words in cases:
        response = alice.call("post", "/nodes", body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "the request has errors: see fields"
        assert words in " ".join(response.json()["fields"][field]), (body, response.json())
    for raw in ("[1]", "not json", b"\xff"):
        response = alice.call("post", "/nodes", raw)
        assert response.status_code == 400
        assert "JSON object" in response.json()["error"]
    node = alice.call("post", "/nodes", ROUTER).json()["node"]
    response = alice.call("patch", f"/nodes/{node['id']}", {"enabled": "no"})
    assert response.json()["fields"] == {"enabled": ["expected true or false"]}
    assert Node.objects.count() == 1


def test_a_name_s_surrounding_spaces_are_stripped_within_its_64_characters(
        alice: Api) -> None:
    name = " " + "x" * 62 + " "
    node = alice.call("post", "/nodes", {**ROUTER, "name": name}).json()["node"]
    assert node["name"] == "x" * 62


def test_conflicts_are_409(alice: Api, haiku_settings: Any) -> None:
    first = alice.call("post", "/nodes", ROUTER).json()["node"]
    taken = alice.call("post", "/nodes", ROUTER)
    assert taken.status_code == 409
    assert taken.json()["error"] == "you already have a node called 'mr'; choose another name"
    other = alice.call("post", "/nodes", {**ROUTER, "name": "other"}).json()["node"]
    renamed = alice.call("patch", f"/nodes/{other['id']}", {"name": first["name"]})
    assert renamed.status_code == 409
    haiku_settings.change_haiku(home_pool_size=2)
    full = alice.call("post", "/nodes", {**ROUTER, "name": "third"})
    assert full.status_code == 409 and "home address pool is exhausted" in full.json()["error"]


def test_scopes_and_credentials(alice: Api) -> None:
    owner = User.objects.get(username="alice")
    node = alice.call("post", "/nodes", ROUTER).json()["node"]
    reader = _api(owner, ["nodes:read"])
    assert reader.call("get", f"/nodes/{node['id']}").status_code == 200
    for method, path, scope in (("post", "/nodes", "nodes:write"),
                                ("patch", f"/nodes/{node['id']}", "nodes:write"),
                                ("delete", f"/nodes/{node['id']}", "nodes:write"),
                                ("post", f"/nodes/{node['id']}/token", "tokens:rotate")):
        response = reader.call(method, path, {"name": "x"} if method != "delete" else None)
        assert response.status_code == 403, (method, path)
        assert response.json()["missing_scope"] == scope
        assert f"needs the scope {scope!r}" in response.json()["error"]
    assert Node.objects.get(pk=node["id"]).name == "mr"
    for auth in ("Bearer hga_wrong", "Bearer " + tokens.new_token(), "Basic x", "Bearer"):
        response = Client().get("/api/v1/nodes", HTTP_AUTHORIZATION=auth)
        assert response.status_code == 401, auth
        assert response["WWW-Authenticate"] == 'Bearer realm="haiku"'
        assert "valid API token" in response.json()["error"]
    assert Client().get("/api/v1/nodes").status_code == 401
    # A disabled owner's tokens stop working; a revoked token too.
    owner.is_active = False
    owner.save()
    assert reader.call("get", "/nodes").status_code == 401
    owner.is_active = True
    owner.save()
    ApiToken.objects.filter(owner=owner).delete()
    assert reader.call("get", "/nodes").status_code == 401
    assert alice.call("get", "/nodes").status_code == 401


def test_another_users_nodes_need_the_operator_scope(alice: Api) -> None:
    node = alice.call("post", "/nodes", ROUTER).json()["node"]
    bob = _api(_user("bob"), ALL)
    for method in ("get", "patch", "delete"):
        assert bob.call(method, f"/nodes/{node['id']}", {} if method == "patch" else None
                        ).status_code == 404
    assert bob.call("post", f"/nodes/{node['id']}/token").status_code == 404
    assert bob.call("get", "/nodes").json() == {"nodes": []}
    with pytest.raises(apitokens.scopes.ScopeError, match="operators only"):
        apitokens.create(User.objects.get(username="bob"), "x", ["operator:nodes"])
    op = _user("op", role=User.Role.OPERATOR)
    operator = _api(op, [*ALL, "operator:nodes"])
    assert [n["id"] for n in operator.call("get", "/nodes").json()["nodes"]] == [node["id"]]
    assert operator.call("patch", f"/nodes/{node['id']}", {"enabled": False}).status_code == 200
    assert not Node.objects.get(pk=node["id"]).enabled
    # Once no longer an operator, the token keeps its other scopes only.
    op.role = User.Role.USER
    op.save()
    assert operator.call("get", "/nodes").json() == {"nodes": []}


def test_session_writes_need_the_csrf_token(alice: Api) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(User.objects.get(username="alice"))
    response = browser.post("/api/v1/nodes", json.dumps(ROUTER),
                            content_type="application/json")
    assert response.status_code == 403
    assert not Node.objects.exists()
    browser.get("/api/v1/nodes")  # a page view sets the CSRF cookie
    browser.get("/accounts/api-tokens/")
    made = browser.post("/api/v1/nodes", json.dumps(ROUTER), content_type="application/json",
                        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert made.status_code == 201


def test_token_page_shows_the_secret_once_and_revokes(home_agent: StandInHomeAgent) -> None:
    user = _user("carol")
    browser = Client()
    browser.force_login(user)
    page = browser.get("/accounts/api-tokens/").content.decode()
    assert "operator:nodes" not in page and "nodes:write" in page
    made = browser.post("/accounts/api-tokens/", {"name": "ansible",
                                                  "scopes": ["nodes:read"]})
    secret = made.context["secret"]
    assert secret.startswith("hga_") and secret in made.content.decode()
    assert made["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(owner=user)
    assert (token.name, token.scopes, token.digest) == ("ansible", "nodes:read",
                                                         tokens.digest(secret))
    assert secret not in browser.get("/accounts/api-tokens/").content.decode()
    assert Api(secret).call("get", "/nodes").status_code == 200
    refused = browser.post("/accounts/api-tokens/", {"name": "x",
                                                     "scopes": ["operator:nodes"]})
    assert "operator:nodes is not one of the available choices" in refused.content.decode()
    browser.post(f"/accounts/api-tokens/{token.pk}/revoke/")
    assert Api(secret).call("get", "/nodes").status_code == 401
    # Another user cannot revoke it.
    other = _api(user, ["nodes:read"])
    mallory = Client()
    mallory.force_login(_user("mallory"))
    mallory.post(f"/accounts/api-tokens/{ApiToken.objects.get(owner=user).pk}/revoke/")
    assert other.call("get", "/nodes").status_code == 200


def test_deleted_addresses_are_quarantined_for_the_crl_lifetime(
        alice: Api, home_agent: StandInHomeAgent) -> None:
    first = alice.call("post", "/nodes", ROUTER).json()["node"]
    alice.call("delete", f"/nodes/{first['id']}")
    held = {q.value: q for q in QuarantinedAddress.objects.all()}
    assert sorted(held) == ["2001:db8:100:1::/64", "2001:db8:100::/64", "2001:db8:1::1000"]
    lifetime = held["2001:db8:1::1000"].until - timezone.now()
    assert timedelta(seconds=3590) < lifetime <= timedelta(seconds=3600)
    assert held["2001:db8:1::1000"].former_node == "alice/mr"
    second = alice.call("post", "/nodes", ROUTER).json()["node"]
    assert second["home_address"] == "2001:db8:1::1001"
    assert second["mobile_network_prefixes"] == ["2001:db8:100:2::/64",
                                                 "2001:db8:100:3::/64"]
    operator = Client()
    operator.force_login(_user("op", role=User.Role.OPERATOR))
    page = operator.get("/operator/quarantine/").content.decode()
    assert "2001:db8:1::1000" in page and "alice/mr" in page
    assert alice.call("get", "/quarantine").json()["missing_scope"] == "operator:nodes"
    listed = operator.get("/api/v1/quarantine").json()["quarantined"]
    assert {(q["pool"], q["value"], q["former_node"]) for q in listed} == {
        ("home", "2001:db8:1::1000", "alice/mr"), ("mnp", "2001:db8:100::/64", "alice/mr"),
        ("mnp", "2001:db8:100:1::/64", "alice/mr")}
    # Once the quarantine is over, the addresses are handed out again.
    QuarantinedAddress.objects.update(until=timezone.now() - timedelta(seconds=1))
    third = alice.call("post", "/nodes", {**ROUTER, "name": "third"}).json()["node"]
    assert third["home_address"] == "2001:db8:1::1000"
    assert "2001:db8:1::1000" not in operator.get("/operator/quarantine/").content.decode()


def test_deleting_a_user_quarantines_their_nodes(alice: Api) -> None:
    alice.call("post", "/nodes", ROUTER)
    operator = Client()
    operator.force_login(_user("op", role=User.Role.OPERATOR))
    operator.post(f"/operator/users/{User.objects.get(username='alice').pk}/delete/")
    assert not User.objects.filter(username="alice").exists()
    assert QuarantinedAddress.objects.filter(value="2001:db8:1::1000").exists()
