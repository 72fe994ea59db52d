"""A user's dashboard (the node list and node page, and the live.json they poll) against
the stand-in home agent; confirmation pages for destructive actions; what the log-in form
says to accounts that may not log in; the token page and the ISO link."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver, reverse
from haiku.core import dashboard
from haiku.core.render import Keying, NodeKind
from haiku.models import Node, User
from haiku.nodes import NodeRequest, create_node
from haiku.views import CONFIRMATIONS

from testkit.mip6d_fakes import SilentDaemon, StandInHomeAgent, binding

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(home_agent: StandInHomeAgent) -> dict[str, Any]:
    user = User.objects.create_user("alice", "alice@example.org", PASSWORD)
    car = create_node(user, NodeRequest("car", NodeKind.HOST, 0, Keying.STATIC))
    boat = create_node(user, NodeRequest("boat", NodeKind.HOST, 0, Keying.STATIC))
    client = Client()
    client.force_login(user)
    return {"user": user, "car": car, "boat": boat, "client": client, "ha": home_agent}


def _cells(client: Client) -> dict[str, list[str]]:
    response = client.get("/nodes/live.json")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    cells: dict[str, list[str]] = response.json()["cells"]
    return cells


def test_registered_and_not_registered_nodes(alice: dict[str, Any]) -> None:
    car, boat = alice["car"], alice["boat"]
    now = time.time()
    alice["ha"].daemon.binding_records.append(binding(
        car.home_address, "2001:db8:7::5", now, handovers=2, last_handover=now - 200,
        tunnel_traffic={"rx_packets": 900, "rx_bytes": 1_500_000, "tx_packets": 40,
                        "tx_bytes": 512}))
    cells = _cells(alice["client"])
    assert cells["home-agent"] == ["Home agent answering: 1 binding", "good"]
    assert cells[f"node-{car.pk}-state"] == ["registered", "good"]
    assert cells[f"node-{car.pk}-care-of"][0] == "2001:db8:7::5"
    assert re.fullmatch(r"6 min (4\d|50) s", cells[f"node-{car.pk}-lifetime"][0])
    assert re.fullmatch(r"3 min 2\d s ago \(\d\d:\d\d UTC\), 2 in all",
                        cells[f"node-{car.pk}-last-handover"][0])
    assert cells[f"node-{car.pk}-tunnel-traffic"] == [
        "\u2193 1.5 MB (900 packets) \u2191 512 B (40 packets)", ""]
    assert cells[f"node-{boat.pk}-state"] == ["not registered", "off"]
    assert cells[f"node-{boat.pk}-care-of"] == ["\u2014", "off"]
    # The page without JavaScript shows the same cells, and loads the script that
    # refreshes them.
    page = alice["client"].get("/nodes/").content.decode()
    assert (f'data-live="node-{car.pk}-state" data-tone="good">registered</td>') in page
    assert "<th>Last handover</th>" in page and "<th>Tunnel traffic</th>" in page
    assert (f'data-live="node-{car.pk}-tunnel-traffic" data-tone="">'
            "\u2193 1.5 MB (900 packets)") in page
    assert 'data-live-url="/nodes/live.json"' in page and 'src="/live.js"' in page
    detail = alice["client"].get(f"/nodes/{car.pk}/").content.decode()
    assert "2001:db8:7::5" in detail and "2 in all" in detail
    script = Client().get("/live.js")
    assert script["Content-Type"] == "text/javascript" and b"setInterval" in script.content


def test_a_binding_that_never_moved_and_a_kernel_without_counters(
        alice: dict[str, Any]) -> None:
    car = alice["car"]
    alice["ha"].daemon.binding_records.append(binding(car.home_address, "2001:db8:7::5",
                                                      time.time()))
    cells = _cells(alice["client"])
    assert cells[f"node-{car.pk}-tunnel-traffic"] == ["\u2014", "off"]
    assert re.fullmatch(r"none since registering 1 min ago \(\d\d:\d\d UTC\)",
                        cells[f"node-{car.pk}-last-handover"][0])


@pytest.mark.parametrize(("record", "shown"), [
    ({}, "\u2014"),  # a mip6d that does not time handovers
    ({"last_handover": None, "handovers": 3}, "\u2014"),  # moved before it did
    ({"last_handover": None, "handovers": 0}, "none"),
    ({"last_handover": 820.0, "handovers": 1}, "3 min ago (00:13 UTC)"),
])
def test_last_handover_cell(record: dict[str, Any], shown: str) -> None:
    assert dashboard.LIVE_COLUMNS[2].cell(record, 1000.0).text == shown


def test_tunnel_traffic_cell_without_counters() -> None:
    for record in ({}, {"tunnel_traffic": None}, {"tunnel_traffic": {"rx_bytes": 1}}):
        assert dashboard.LIVE_COLUMNS[3].cell(record, 0.0) == dashboard.NOT_GIVEN


def test_home_agent_down_or_hung_shows_quickly(alice: dict[str, Any], haiku_settings: Any,
                                               tmp_path: Any) -> None:
    car = alice["car"]
    alice["ha"].stop()
    cells = _cells(alice["client"])
    assert cells["home-agent"][1] == "bad"
    assert "cannot reach mip6d" in cells["home-agent"][0]
    assert cells[f"node-{car.pk}-state"] == ["unknown: the home agent is not answering", "bad"]
    hung = tmp_path / "hung.sock"
    haiku_settings.change_haiku(control_socket=str(hung))
    with SilentDaemon(hung):
        started = time.monotonic()
        first = _cells(alice["client"])["home-agent"][0]
        assert "did not answer 'bindings' within 1 s" in first
        again = _cells(alice["client"])["home-agent"][0]  # not asked again: at once
        assert "is not asked again" in again
        assert time.monotonic() - started < 2.5


def test_destructive_actions_ask_first(alice: dict[str, Any]) -> None:
    client, car = alice["client"], alice["car"]
    page = client.get(f"/nodes/{car.pk}/").content.decode()
    assert f'href="/nodes/{car.pk}/delete/" id="delete" class="button danger"' in page
    confirm = client.get(f"/nodes/{car.pk}/delete/").content.decode()
    assert "Delete node car?" in confirm and "cannot be undone" in confirm
    assert Node.objects.filter(pk=car.pk).exists()  # asking changed nothing
    done = client.post(f"/nodes/{car.pk}/delete/", follow=True).content.decode()
    assert "Node car deleted; the home agent no longer has it." in done
    assert not Node.objects.filter(pk=car.pk).exists()


def test_every_action_says_what_happened(alice: dict[str, Any]) -> None:
    client, boat = alice["client"], alice["boat"]
    said = client.post(f"/nodes/{boat.pk}/disable/", follow=True).content.decode()
    assert "Node boat disabled; the home agent no longer accepts it." in said
    said = client.post(f"/nodes/{boat.pk}/enable/", follow=True).content.decode()
    assert "Node boat enabled; the home agent accepts it again." in said
    said = client.post("/accounts/logout/", follow=True).content.decode()
    assert "You are logged out." in said


@pytest.mark.parametrize(("fields", "says"), [
    ({"is_active": False}, "This account is disabled."),
    ({"email_confirmed": False}, "Confirm your e-mail address first"),
    ({"approved": False}, "waiting for an operator&#x27;s approval"),
])
def test_login_says_why_a_held_account_may_not_log_in(fields: dict[str, bool], says: str,
                                                      settings: Any) -> None:
    # What the form says, not how passwords are hashed: the fast hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_user("bob", "bob@example.org", PASSWORD, **fields)
    page = Client().post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert says in page.content.decode()
    wrong = Client().post("/accounts/login/", {"username": "bob", "password": "wrong" * 3})
    assert "Please enter a correct username and password" in wrong.content.decode()
    assert says not in wrong.content.decode()  # the state only to who knows the password


def test_token_page_has_the_real_token_and_no_iso_link_without_an_iso(
        alice: dict[str, Any]) -> None:
    client, car = alice["client"], alice["car"]
    page = client.post(f"/nodes/{car.pk}/token/rotate/").content.decode()
    token = re.search(r'id="token">(hgn_[^<]+)<', page)
    assert token is not None
    assert (f'curl -H "Authorization: Bearer {token.group(1)}" '
            "http://testserver/api/v1/node/config") in page
    assert "$TOKEN" not in page
    assert 'id="download-iso"' not in client.get(f"/nodes/{car.pk}/").content.decode()


def test_every_confirmation_page_answers(alice: dict[str, Any]) -> None:
    """Each row of the confirmation table, asked by GET as the one who may act."""
    op = User.objects.create_user("op", "op@example.org", PASSWORD, role=User.Role.OPERATOR)
    operator = Client()
    operator.force_login(op)
    ids = {"node_id": alice["car"].pk, "user_id": alice["user"].pk}
    patterns = {p.name: p for p in get_resolver().url_patterns}
    for name, asked in CONFIRMATIONS.items():
        client = operator if name.startswith("operator-") else alice["client"]
        converters = patterns[name].pattern.converters
        page = client.get(reverse(name, kwargs={k: ids[k] for k in converters}))
        assert page.status_code == 200, name
        assert f'id="confirm">{asked.button}</button>' in page.content.decode(), name
