"""The acceptance story in Chromium, against the service run as its systemd unit runs it
(Debian's gunicorn and python3-django) on PostgreSQL, with the stand-in home agent
(mip6d's control socket server and parser): register, log in, create a mobile router with
two prefixes, download its configuration; the operator disables the user; the user can no
longer log in and the node's token is refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from mip6d.config import parse
from playwright.sync_api import Browser, Page

from testkit.mip6d_fakes import StandInHomeAgent
from tests.services import chromium, manage, postgres, service

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ha = StandInHomeAgent(tmp_path / "ha")
    try:
        with postgres() as url:
            env = {"HAIKU_DATABASE_URL": url, "HAIKU_STATE_DIR": str(tmp_path / "state"),
                   "HAIKU_NODES_DIR": str(ha.nodes_dir),
                   "HAIKU_CONTROL_SOCKET": str(ha.socket_path)}
            with service(env, tmp_path / "server.log") as base:
                manage(env | {"HAIKU_OPERATOR_PASSWORD": PASSWORD}, "haiku_operator", "op",
                       "--email", "op@example.org")
                yield {"base": base, "ha": ha, "env": env}
    finally:
        ha.stop()


def _login(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("#login")


def _fetch(url: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_register_create_download_disable(browser: Browser, stack: dict[str, Any],
                                          tmp_path: Path) -> None:
    base, ha = stack["base"], stack["ha"]
    user = browser.new_context(accept_downloads=True).new_page()
    user.goto(f"{base}/accounts/register/")
    user.fill("#id_username", "alice")
    user.fill("#id_email", "alice@example.org")
    user.fill("#id_password1", PASSWORD)
    user.fill("#id_password2", PASSWORD)
    user.click("#register")
    assert "You can log in now" in user.text_content("main")

    _login(user, base, "alice")
    assert user.url == f"{base}/nodes/"
    user.click("#new-node")
    user.fill("#id_name", "car")
    user.select_option("#id_kind", "router")
    user.fill("#id_prefix_count", "2")
    user.select_option("#id_keying", "static")
    user.check("#id_protect_all_traffic")
    user.click("#create")
    token = user.text_content("#token").strip()
    assert token.startswith("hgn_")
    user.click("#node-link")
    assert user.text_content("#prefixes").count("/64") == 2

    with user.expect_download() as info:
        user.click("#download-config")
    saved = tmp_path / "config.json"
    info.value.save_as(saved)
    config = json.loads(saved.read_text())
    assert len(config["node"]["mobile_network_prefixes"]) == 2
    parsed = parse(config["mip6d_conf"], "mip6d.conf")
    assert parsed.home_links[0].is_mob_rtr
    assert len(parsed.home_links[0].mobile_network_prefixes) == 2

    status, fetched = _fetch(f"{base}/api/v1/node/config", token)
    assert status == 200 and fetched["mip6d_conf"] == config["mip6d_conf"]
    home_address = config["node"]["home_address"]
    assert [str(a.home_address) for a in ha.daemon.config.binding_acl] == [home_address]

    operator = browser.new_context().new_page()
    _login(operator, base, "op")
    operator.goto(f"{base}/operator/users/")
    operator.click("#user-alice .disable")
    operator.click("#confirm")
    assert operator.text_content("#user-alice .state") == "disabled"

    # The user's session ends, login is refused, the token too, and the home agent
    # no longer has the node.
    user.goto(f"{base}/nodes/")
    assert "/accounts/login/" in user.url
    _login(user, base, "alice")
    assert "This account is disabled" in user.text_content("main")
    status, refused = _fetch(f"{base}/api/v1/node/config", token)
    assert status == 401 and "valid node token" in refused["error"]
    assert list(ha.nodes_dir.iterdir()) == []
    assert ha.daemon.config.binding_acl == ()
    assert ha.daemon.reloads and all(r["ok"] for r in ha.daemon.reloads)


def test_revoke_a_certificate_in_the_browser(browser: Browser, stack: dict[str, Any]) -> None:
    """A user creates an IKEv2 node, revokes its certificate on the node page; the CRL the
    service publishes (where the certificate's distribution point says) lists it."""
    base = stack["base"]
    manage(stack["env"] | {"HAIKU_OPERATOR_PASSWORD": PASSWORD}, "haiku_operator", "bob",
           "--email", "bob@example.org")
    page = browser.new_context().new_page()
    _login(page, base, "bob")
    page.click("#new-node")
    page.fill("#id_name", "laptop")
    page.select_option("#id_kind", "host")
    page.select_option("#id_keying", "certificate")
    page.click("#create")
    token = page.text_content("#token").strip()
    page.click("#node-link")
    assert page.text_content("#certificate-state") == "valid"
    status, config = _fetch(f"{base}/api/v1/node/config", token)
    assert status == 200
    certificate = x509.load_pem_x509_certificate(config["keying"]["certificate_pem"].encode())
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (crl_url,) = [name.value for point in points for name in point.full_name or ()]
    assert crl_url == f"{base}/ca/crl"
    assert _crl(crl_url).get_revoked_certificate_by_serial_number(
        certificate.serial_number) is None

    page.click("#revoke-certificate")
    page.click("#confirm")
    assert "Certificate revoked" in page.text_content(".messages")
    assert page.text_content("#certificate-state") == "revoked"
    assert page.locator("#revoke-certificate").count() == 0
    revoked = _crl(crl_url).get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert revoked is not None


def _crl(url: str) -> x509.CertificateRevocationList:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/pkix-crl"
        return x509.load_der_x509_crl(response.read())
