"""The dashboard and the experience in Chromium, against one service run as its systemd
unit runs it (Debian's gunicorn and python3-django, SQLite) and the stand-in home agent
(mip6d's own control socket server): each live state of a node (registered, not
registered, home agent down or hung) refreshed without reloading the page, confirmations
of destructive actions with and without JavaScript, feedback on each action, the
operator's view, and every page at 390 px without horizontal scrolling. One server and one
browser for the module; screenshots in ARTIFACTS/dashboard/. The home agent's outage is
the last test (a hung mip6d is not asked again for 30 s, by design)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from testkit.mip6d_fakes import SilentDaemon, StandInHomeAgent, binding
from tests.load import PASSWORD, make_users
from tests.services import ARTIFACTS, chromium, manage, service

pytestmark = pytest.mark.e2e

SHOTS = ARTIFACTS / "dashboard"
REFRESH = 5_000 + 3_000  # the page polls every 5 s; a look at a hung home agent takes 1 s
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("dashboard")
    SHOTS.mkdir(parents=True, exist_ok=True)
    ha = StandInHomeAgent(tmp / "ha")
    try:
        env = {"HAIKU_STATE_DIR": str(tmp / "state"), "HAIKU_NODES_DIR": str(ha.nodes_dir),
               "HAIKU_CONTROL_SOCKET": str(ha.socket_path)}
        with service(env, tmp / "server.log") as base:
            manage(env | {"HAIKU_OPERATOR_PASSWORD": PASSWORD}, "haiku_operator", "op",
                   "--email", "op@example.org")
            make_users(env, 2, prefix="user")
            yield {"base": base, "ha": ha, "env": env}
    finally:
        ha.stop()


def _page(browser: Browser, base: str, name: str, **context: Any) -> Page:
    page = browser.new_context(**context).new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("#login")
    return page


def _create(page: Page, base: str, name: str) -> tuple[int, str]:
    """A mobile host made with the form: (its id, its home address)."""
    page.goto(f"{base}/nodes/new/")
    page.fill("#id_name", name)
    page.click("#create")
    page.click("#node-link")
    return int(page.url.rstrip("/").rsplit("/", 1)[1]), page.text_content("#home-address") or ""


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_node_registers_and_leaves_without_a_reload(browser: Browser,
                                                     stack: dict[str, Any]) -> None:
    base, daemon = stack["base"], stack["ha"].daemon
    page = _page(browser, base, "user0")
    node_id, home_address = _create(page, base, "car")
    _create(page, base, "boat")
    page.goto(f"{base}/nodes/")
    state = page.locator(f'[data-live="node-{node_id}-state"]')
    expect(state).to_have_text("not registered")
    _shot(page, "nodes-not-registered")

    page.evaluate("window.notReloaded = true")
    now = time.time()
    daemon.binding_records.append(binding(
        home_address, "2001:db8:7::5", now, handovers=1, last_handover=now - 200,
        tunnel_traffic={"rx_packets": 12, "rx_bytes": 1_248, "tx_packets": 900,
                        "tx_bytes": 1_500_000}))
    expect(state).to_have_text("registered", timeout=REFRESH)
    expect(page.locator(f'[data-live="node-{node_id}-care-of"]')).to_have_text(
        "2001:db8:7::5")
    expect(page.locator(f'[data-live="node-{node_id}-last-handover"]')).to_have_text(
        re.compile(r"^3 min 2\d s ago \(\d\d:\d\d UTC\)$"))
    expect(page.locator(f'[data-live="node-{node_id}-tunnel-traffic"]')).to_have_text(
        "\u2193 1.2 kB (12 packets) \u2191 1.5 MB (900 packets)")
    expect(page.locator("#home-agent")).to_have_text("Home agent answering: 1 binding")
    assert page.evaluate("window.notReloaded") is True
    assert "Updated at" in (page.text_content("#live-status") or "")
    _shot(page, "nodes-registered")

    daemon.binding_records.clear()
    expect(state).to_have_text("not registered", timeout=REFRESH)
    assert page.evaluate("window.notReloaded") is True

    page.context.clear_cookies()  # the session ends: the page says so, not a stale "updated"
    expect(page.locator("#live-status")).to_contain_text("your session ended",
                                                         timeout=REFRESH)


def test_destructive_actions_ask_and_every_action_says_what_happened(
        browser: Browser, stack: dict[str, Any]) -> None:
    base = stack["base"]
    page = _page(browser, base, "user1")
    node_id, _ = _create(page, base, "laptop")
    page.click("#disable")
    expect(page.locator("h1")).to_have_text("Disable node laptop?")
    _shot(page, "confirm-disable")
    page.click("#cancel")
    assert page.url == f"{base}/nodes/{node_id}/"
    expect(page.locator("#node-state")).to_have_text("enabled")
    page.click("#disable")
    page.click("#confirm")
    expect(page.locator(".messages")).to_have_text(
        "Node laptop disabled; the home agent no longer accepts it.")
    expect(page.locator("#node-state")).to_have_text("disabled")
    _shot(page, "feedback-disabled")
    page.click("#enable")
    expect(page.locator(".messages")).to_have_text(
        "Node laptop enabled; the home agent accepts it again.")
    # The delete button is red, as its confirmation's is.
    colour = page.eval_on_selector("#delete", "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(179, 38, 30)"

    # Without JavaScript the confirmation page works the same.
    plain = _page(browser, base, "user1", java_script_enabled=False)
    plain.goto(f"{base}/nodes/{node_id}/")
    plain.click("#delete")
    expect(plain.locator("#consequence")).to_contain_text("This cannot be undone.")
    _shot(plain, "confirm-delete-without-javascript")
    plain.click("#confirm")
    expect(plain.locator(".messages")).to_have_text(
        "Node laptop deleted; the home agent no longer has it.")
    assert plain.url == f"{base}/nodes/"

    page.click("#logout")
    expect(page.locator(".messages")).to_have_text("You are logged out.")


def test_the_operator_sees_the_home_agent_and_confirms(browser: Browser,
                                                       stack: dict[str, Any]) -> None:
    base, daemon = stack["base"], stack["ha"].daemon
    user = _page(browser, base, "user1")
    _node_id, home_address = _create(user, base, "phone")
    daemon.binding_records.append(binding(home_address, "2001:db8:9::3", time.time()))
    daemon.counter_values = {"binding_updates_received/accepted": 7,
                             "binding_updates_received/not-home-subnet": 2}
    manage(stack["env"], "haiku_collect", "--once")
    op = _page(browser, base, "op")
    op.goto(f"{base}/operator/stats/")
    expect(op.locator("#home-agent")).to_contain_text("Home agent answering")
    expect(op.locator("#bindings")).to_contain_text("user1/phone")
    expect(op.locator("#failures")).to_have_text("2")
    assert op.locator("figure svg").count() == 4
    _shot(op, "operator-home-agent")
    daemon.binding_records.clear()
    expect(op.locator("#bindings-now")).to_have_text("0", timeout=REFRESH)  # no reload

    op.goto(f"{base}/operator/users/")
    op.click("#user-user1 .delete")
    expect(op.locator("h1")).to_have_text("Delete user user1 and their 1 node(s)?")
    op.click("#cancel")
    expect(op.locator("#user-user1 .state")).to_have_text("active")
    op.click("#user-user1 .disable")
    op.click("#confirm")
    expect(op.locator(".messages")).to_contain_text("user1: disabled.")
    expect(op.locator("#user-user1 .state")).to_have_text("disabled")
    op.click("#user-user1 .enable")
    expect(op.locator(".messages")).to_contain_text("user1: enabled.")


PHONE_PAGES = {
    "op": ["/nodes/", "/operator/users/", "/operator/stats/", "/operator/certificates/",
           "/operator/message/", "/api/", "/operator/users/{user0}/delete/"],
    "user0": ["/nodes/", "/nodes/{car}/", "/nodes/{car}/delete/", "/nodes/new/",
              "/accounts/password/change/"],
    None: ["/", "/accounts/login/", "/accounts/register/"],
}


def _csp_refusals(page: Page, refused: list[str]) -> None:
    """Collect into ``refused`` what Chromium refuses on this page under the
    Content-Security-Policy (it says so on the console)."""
    page.on("console", lambda m: refused.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text else None)


def test_every_page_fits_a_390_px_phone(browser: Browser, stack: dict[str, Any]) -> None:
    """... and takes its styles and script from the service's files, nothing refused by
    the Content-Security-Policy."""
    base = stack["base"]
    user = _page(browser, base, "user0", viewport=PHONE)
    refused: list[str] = []
    _csp_refusals(user, refused)
    user.goto(f"{base}/nodes/")
    car = user.locator("#nodes a", has_text="car").get_attribute("href") or ""
    ids = {"car": car.strip("/").rsplit("/", 1)[1], "user0": _user_id(browser, base)}
    for who, paths in PHONE_PAGES.items():
        if who is None:
            page = browser.new_context(viewport=PHONE).new_page()
        else:
            page = user if who == "user0" else _page(browser, base, who, viewport=PHONE)
        if page is not user:
            _csp_refusals(page, refused)
        for path in paths:
            page.goto(base + path.format(**ids))
            # haiku.css applied (the header's rule), not refused.
            assert page.evaluate("getComputedStyle(document.querySelector('header'))"
                                 ".borderBottomStyle") == "solid", path
            width = page.evaluate("document.documentElement.scrollWidth")
            name = path.strip("/").replace("/", "-").replace(".", "") or "home"
            _shot(page, f"phone-{who or 'anonymous'}-{name}")
            assert width <= 390, (path, width)
    # The token page (a POST's answer), with its long curl line.
    user.goto(f"{base}/nodes/{ids['car']}/token/rotate/")
    user.click("#confirm")
    expect(user.locator("#curl")).to_contain_text("Authorization: Bearer hgn_")
    _shot(user, "phone-user0-token")
    assert user.evaluate("document.documentElement.scrollWidth") <= 390
    assert refused == []


def _user_id(browser: Browser, base: str) -> str:
    op = _page(browser, base, "op")
    op.goto(f"{base}/operator/users/")
    href = op.locator("#user-user0 .delete").get_attribute("href") or ""
    return href.split("/")[3]


def test_the_home_agent_down_then_hung(browser: Browser, stack: dict[str, Any]) -> None:
    """Last: once hung, mip6d is not asked again for 30 s by the workers that saw it."""
    base, ha = stack["base"], stack["ha"]
    page = _page(browser, base, "user0")
    banner = page.locator("#home-agent")
    expect(banner).to_have_text("Home agent answering: 0 bindings")
    car = page.locator("#nodes a", has_text="car").get_attribute("href") or ""
    state = page.locator(f'[data-live="node-{car.strip("/").rsplit("/", 1)[1]}-state"]')
    ha.stop()
    expect(banner).to_contain_text("Home agent not answering: cannot reach mip6d",
                                   timeout=REFRESH)
    expect(state).to_have_text("unknown: the home agent is not answering")
    assert page.eval_on_selector("#home-agent", "e => e.dataset.tone") == "bad"
    _shot(page, "nodes-home-agent-down")
    with SilentDaemon(Path(stack["env"]["HAIKU_CONTROL_SOCKET"])):
        expect(banner).to_contain_text("did not answer", timeout=REFRESH)
        _shot(page, "nodes-home-agent-hung")
        started = time.monotonic()
        page.reload()
        assert time.monotonic() - started < 3
        expect(banner).to_contain_text("Home agent not answering")
