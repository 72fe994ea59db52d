"""The service behind the documented TLS reverse proxy (its X-Forwarded-Proto trusted,
Secure cookies, HSTS) and on plain HTTP without it (nothing forced); the
Content-Security-Policy and the other headers on every page; the shipped nginx example;
registration throttled per client address and per e-mail address."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from ipaddress import IPv6Interface, IPv6Network
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_conf
from django.test import Client
from django.urls import URLPattern, get_resolver
from django.utils import timezone
from haiku.core.config import SettingsError, from_environ
from haiku.core.setup import HomeAgentSetup, plan
from haiku.core.web import CONTENT_SECURITY_POLICY, PROXY_HEADERS, client_address
from haiku.core.web import django_settings as web_settings
from haiku.models import ThrottleCount, User
from haiku.throttle import LIMITS, Throttle

from tests.smtp import smtp_server

PACKAGE = Path(__file__).resolve().parent.parent
EXAMPLE = PACKAGE / "examples" / "nginx-haiku.conf"
PASSWORD = "correct horse battery"
HSTS = 31536000


# -- settings from the service's configuration -----------------------------------------------

@pytest.mark.unit
def test_settings_follow_the_configuration(tmp_path: Path) -> None:
    """haiku.settings as the unit loads it: HAIKU_TLS_PROXY decides the security settings."""
    names = ["SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
             "SECURE_HSTS_SECONDS", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
             "CSRF_COOKIE_SAMESITE", "SECURE_SSL_REDIRECT", "X_FRAME_OPTIONS"]
    script = ("import json, haiku.settings as s; "
              f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))")

    def loaded(**env: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(PACKAGE),
                 "HAIKU_STATE_DIR": str(tmp_path), **env})
        values: dict[str, Any] = json.loads(out.stdout)
        return values

    proxied = loaded(HAIKU_TLS_PROXY="yes", HAIKU_HSTS_SECONDS="600")
    assert proxied == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 600, "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax", "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_SSL_REDIRECT": False, "X_FRAME_OPTIONS": "DENY"}
    plain = loaded()
    assert plain["SECURE_PROXY_SSL_HEADER"] is None
    assert (plain["SESSION_COOKIE_SECURE"], plain["CSRF_COOKIE_SECURE"]) == (False, False)
    assert plain["SECURE_HSTS_SECONDS"] == 0 and plain["SECURE_SSL_REDIRECT"] is False


@pytest.mark.unit
@pytest.mark.parametrize(("env", "message"), [
    ({"HAIKU_TLS_PROXY": "maybe"}, "HAIKU_TLS_PROXY='maybe': expected yes or no"),
    ({"HAIKU_HSTS_SECONDS": "-1"}, "HAIKU_HSTS_SECONDS='-1': expected seconds"),
    ({"HAIKU_TLS_PROXY": "yes", "HAIKU_BASE_URL": "http://ha.example.org"},
     "the service's public URL is https://"),
])
def test_bad_proxy_settings_say_what_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        from_environ(env)


@pytest.fixture
def behind_tls_proxy(settings: Any) -> None:
    """The settings HAIKU_TLS_PROXY=yes gives (pytest-django restores them)."""
    for name, value in web_settings(True, HSTS).items():
        setattr(settings, name, value)
    settings.HAIKU = replace(settings.HAIKU, tls_proxy=True)


def _cookie_flags(response: Any, name: str) -> tuple[bool, bool, str]:
    morsel = response.cookies[name]
    return bool(morsel["secure"]), bool(morsel["httponly"]), morsel["samesite"]


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("behind_tls_proxy")
def test_behind_the_tls_proxy_cookies_are_secure_and_hsts_is_sent() -> None:
    User.objects.create_user("alice", "alice@example.org", PASSWORD)
    client = Client(HTTP_X_FORWARDED_PROTO="https")
    form = client.get("/accounts/login/")
    assert form.status_code == 200
    assert form["Strict-Transport-Security"] == f"max-age={HSTS}"
    assert _cookie_flags(form, "csrftoken") == (True, True, "Lax")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode())
    assert token
    # Over HTTPS Django also checks the Referer: a page of the service's own.
    login = client.post("/accounts/login/", {
        "username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        HTTP_REFERER="https://testserver/accounts/login/")
    assert login.status_code == 302 and login["Location"] == "/nodes/"
    assert _cookie_flags(login, "sessionid") == (True, True, "Lax")
    # A request that did not come through the proxy's TLS gets no HSTS and no redirect.
    direct = Client().get("/accounts/login/")
    assert direct.status_code == 200 and "Strict-Transport-Security" not in direct


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
def test_on_plain_http_nothing_is_forced_and_the_proxy_header_is_not_trusted() -> None:
    """Without HAIKU_TLS_PROXY (the lab, plain-http enrollment): log-in works over HTTP."""
    User.objects.create_user("alice", "alice@example.org", PASSWORD)
    client = Client(enforce_csrf_checks=True)
    form = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert form.status_code == 200 and "Strict-Transport-Security" not in form
    assert _cookie_flags(form, "csrftoken") == (False, True, "Lax")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode())
    assert token
    login = client.post("/accounts/login/", {
        "username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)})
    assert login.status_code == 302 and login["Location"] == "/nodes/"
    assert _cookie_flags(login, "sessionid") == (False, True, "Lax")


# -- headers on every page --------------------------------------------------------------------

INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
def test_every_page_has_the_security_headers_and_nothing_inline(settings: Any) -> None:
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    for directive in ("script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                      "object-src 'none'", "base-uri 'none'"):
        assert directive in CONTENT_SECURITY_POLICY.split("; ")
    operator = User.objects.create_user("op", "op@example.org", PASSWORD,
                                        role=User.Role.OPERATOR)
    anonymous, logged_in = Client(), Client()
    logged_in.force_login(operator)
    paths = [f"/{p.pattern}" for p in get_resolver().url_patterns
             if isinstance(p, URLPattern) and not p.pattern.converters
             and "<" not in str(p.pattern)]
    assert len(paths) > 25
    html_pages = 0
    for client in (anonymous, logged_in):
        for path in paths:
            response = client.get(path)
            assert response.status_code < 500, path
            assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
            assert response["X-Frame-Options"] == "DENY", path
            assert response["Referrer-Policy"] == "same-origin", path
            assert response["X-Content-Type-Options"] == "nosniff", path
            if response["Content-Type"].startswith("text/html"):
                html_pages += 1
                found = INLINE.search(response.content.decode())
                assert found is None, f"{path}: inline {found.group(0) if found else ''}"
    assert html_pages > 20
    styles = Client().get("/haiku.css")
    assert styles["Content-Type"].startswith("text/css") and b"box-sizing" in styles.content


# -- the TLS reverse proxy's example ----------------------------------------------------------

def _server_blocks(text: str) -> list[str]:
    """The top-level ``server { ... }`` blocks of an nginx site, comments removed; braces
    must balance."""
    text = re.sub(r"#[^\n]*", "", text)
    blocks, depth, start = [], 0, 0
    for match in re.finditer(r"[{}]", text):
        if match.group(0) == "{":
            if depth == 0:
                start = match.start()
            depth += 1
        else:
            depth -= 1
            assert depth >= 0, "a } without its {"
            if depth == 0:
                blocks.append(text[start:match.end()])
    assert depth == 0, "a { without its }"
    return blocks


def _proxy_headers(block: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*proxy_set_header\s+(\S+)\s+([^;]+);", block, re.M))


@pytest.mark.unit
def test_shipped_nginx_example_sets_the_headers_the_service_trusts() -> None:
    text = EXAMPLE.read_text()
    assert all(line.rstrip().endswith((";", "{", "}")) for line in
               re.sub(r"#[^\n]*", "", text).splitlines() if line.strip())
    redirect, tls = _server_blocks(text)
    assert "return 301 https://$host$request_uri;" in redirect
    assert "proxy_pass" not in redirect  # nothing is served without TLS
    assert re.search(r"listen 443 ssl;", tls) and re.search(r"listen \[::\]:443 ssl;", tls)
    assert _proxy_headers(tls) == PROXY_HEADERS
    # To where the unit's gunicorn listens.
    unit = (PACKAGE / "debian" / "haiku.service").read_text()
    bind = re.search(r"--bind (\S+)", unit)
    assert bind and f"proxy_pass http://{bind.group(1)};" in tls
    assert "examples/nginx-haiku.conf" in (PACKAGE / "debian" / "haiku.examples").read_text()
    # haiku_setup's own site sets the same, and tells the service it is behind it.
    files = {f.path: f.text for f in plan(HomeAgentSetup(
        "eth0", IPv6Interface("2001:db8:1::1/64"), IPv6Network("2001:db8:100::/48"),
        "https://[2001:db8:1::1]"), "", "ab" * 32)}
    [site] = _server_blocks(files["/etc/nginx/sites-enabled/haiku"])
    assert _proxy_headers(site) == PROXY_HEADERS
    assert "HAIKU_TLS_PROXY=yes" in files["/etc/default/haiku"].splitlines()


# -- registration throttling -------------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize(("remote", "forwarded", "proxy", "counted"), [
    ("192.0.2.7", "", False, "192.0.2.7"),
    ("2001:db8:1:2:a:b:c:d", "", False, "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "", False, "192.0.2.7"),
    ("192.0.2.7", "198.51.100.1", False, "192.0.2.7"),  # no proxy: the header is the client's
    ("127.0.0.1", "10.0.0.1, 2001:db8:9::5", True, "2001:db8:9::/64"),  # the proxy's entry
    ("127.0.0.1", "not an address", True, "not an address"),
])
def test_client_address(remote: str, forwarded: str, proxy: bool, counted: str) -> None:
    assert client_address(remote, forwarded, proxy) == counted


def _register(client: Client, name: str, email: str = "", other: str = PASSWORD,
              **extra: str) -> Any:
    return client.post("/accounts/register/", {
        "username": name, "email": email or f"{name}@example.org",
        "password1": PASSWORD, "password2": other}, **extra)


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
def test_registrations_per_client_address(settings: Any) -> None:
    settings.HAIKU = replace(settings.HAIKU, email_confirmation=True)
    limit = LIMITS[Throttle.REGISTRATION_ADDRESS]
    client = Client(REMOTE_ADDR="2001:db8:5::1")
    with smtp_server() as (mails, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        # Every attempt counts, mistakes too (these passwords do not match).
        for n in range(limit.events - 1):
            assert _register(client, f"user{n}", other="typo").status_code == 200
        assert _register(client, "last")["Location"] == "/accounts/register/done/"
        # Another address of the same /64 is the same client.
        refused = _register(client, "one-more", REMOTE_ADDR="2001:db8:5::2")
        assert refused.status_code == 429
        assert "Too many registrations from your network: try again in 60 minutes." \
            in refused.content.decode()
        assert 3590 <= int(refused["Retry-After"]) <= 3600
        assert _register(Client(REMOTE_ADDR="2001:db8:6::1"), "elsewhere").status_code == 302
        assert list(User.objects.order_by("username").values_list("username", flat=True)) \
            == ["elsewhere", "last"]
        assert sorted(rcpt for rcpts, _m in mails.messages for rcpt in rcpts) == [
            "elsewhere@example.org", "last@example.org"]
        # Once the lockout is over, the client may register again.
        ThrottleCount.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
        assert _register(client, "later")["Location"] == "/accounts/register/done/"


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("behind_tls_proxy")
def test_registrations_per_e_mail_address_behind_the_proxy() -> None:
    limit = LIMITS[Throttle.REGISTRATION_EMAIL]
    # Each from a different client (the proxy's X-Forwarded-For; a client's own entries
    # before it do not count), always the same address in any case.
    for n in range(limit.events):
        email = "CAROL@Example.ORG" if n % 2 else "carol@example.org"
        answer = _register(Client(), f"carol{n}", email=email,
                           HTTP_X_FORWARDED_FOR=f"192.0.2.1, 198.51.100.{n}",
                           HTTP_X_FORWARDED_PROTO="https")
        assert answer.status_code in (200, 302)
    assert User.objects.filter(email__iexact="carol@example.org").count() == 1
    refused = _register(Client(), "carol9", email="CAROL@example.org",
                        HTTP_X_FORWARDED_FOR="198.51.100.99", HTTP_X_FORWARDED_PROTO="https")
    assert refused.status_code == 429
    text = refused.content.decode()
    assert "Too many registrations with this e-mail address: try again in 60 minutes." \
        in text
    assert not User.objects.filter(username="carol9").exists()
    # The address throttle counted each client apart: none of them is locked.
    assert not ThrottleCount.objects.filter(key__startswith="registration-address:",
                                            locked_until__isnull=False).exists()
    assert ThrottleCount.objects.filter(key="registration-address:198.51.100.1").exists()
    assert not ThrottleCount.objects.filter(key="registration-address:192.0.2.1").exists()
    assert django_conf.HAIKU.tls_proxy
