"""Registration (with e-mail confirmation and operator approval), login, password reset
and operator messages, with mail going over SMTP to a local aiosmtpd server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from haiku.models import ThrottleCount, User
from haiku.throttle import LIMITS, Throttle

from tests.smtp import Collector, free_port, smtp_server

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture
def smtp(settings: Any) -> Iterator[Collector]:
    with smtp_server() as (collector, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        yield collector


def _register(client: Client, name: str) -> Any:
    return client.post("/accounts/register/", {
        "username": name, "email": f"{name}@example.org",
        "password1": PASSWORD, "password2": PASSWORD})


def _link(message: Any) -> str:
    match = re.search(r"http://testserver(/\S+)", message.get_payload())
    assert match, message.get_payload()
    return match.group(1)


def test_open_registration_then_login() -> None:
    client = Client()
    assert _register(client, "alice")["Location"] == "/accounts/register/done/"
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/nodes/"
    assert client.get("/nodes/").status_code == 200


def test_confirmation_and_approval(haiku_settings: Any, smtp: Collector) -> None:
    haiku_settings.change_haiku(email_confirmation=True, operator_approval=True)
    client = Client()
    _register(client, "alice")
    user = User.objects.get(username="alice")
    assert (user.email_confirmed, user.approved) == (False, False)
    assert not client.login(username="alice", password=PASSWORD)
    [mail] = smtp.to("alice@example.org")
    assert mail["Subject"] == "Confirm your HAiku account"
    link = _link(mail)
    confirmed = client.get(link)
    assert b"An operator still has to approve" in confirmed.content
    assert client.get(link).status_code == 400  # one use only
    assert not client.login(username="alice", password=PASSWORD)
    op = User.objects.create_user("op", "op@example.org", PASSWORD, role=User.Role.OPERATOR)
    operator = Client()
    operator.force_login(op)
    assert b"awaiting approval" in operator.get("/operator/users/").content
    operator.post(f"/operator/users/{user.pk}/approve/")
    assert client.login(username="alice", password=PASSWORD)


def test_registration_with_the_mail_server_away_says_so(haiku_settings: Any,
                                                      settings: Any,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    haiku_settings.change_haiku(email_confirmation=True)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody there
    client = Client()
    refused = _register(client, "alice")
    assert refused.status_code == 503
    assert "could not send the confirmation e-mail just now, so no account was made" \
        in refused.content.decode()
    assert not User.objects.filter(username="alice").exists()
    assert "the confirmation mail to alice@example.org was not sent" in caplog.text
    with smtp_server() as (mails, port):
        settings.EMAIL_PORT = port
        assert _register(client, "alice")["Location"] == "/accounts/register/done/"
        assert mails.to("alice@example.org")


def test_password_reset(smtp: Collector) -> None:
    User.objects.create_user("alice", "alice@example.org", PASSWORD)
    client = Client()
    client.post("/accounts/password/reset/", {"email": "alice@example.org"})
    [mail] = smtp.to("alice@example.org")
    form = client.get(_link(mail), follow=True)
    assert form.status_code == 200
    set_url = form.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "another horse staple",
                                 "new_password2": "another horse staple"})
    assert done.status_code == 302
    assert client.login(username="alice", password="another horse staple")
    assert not Client().login(username="alice", password=PASSWORD)


def test_disabled_user_is_logged_out_and_cannot_log_in() -> None:
    alice = User.objects.create_user("alice", "alice@example.org", PASSWORD)
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    alice.is_active = False
    alice.save()
    assert client.get("/nodes/").status_code == 302
    assert not client.login(username="alice", password=PASSWORD)


def test_operator_message_to_all_and_some(smtp: Collector) -> None:
    op = User.objects.create_user("op", "op@example.org", PASSWORD, role=User.Role.OPERATOR)
    alice = User.objects.create_user("alice", "alice@example.org", PASSWORD)
    User.objects.create_user("bob", "bob@example.org", PASSWORD)
    User.objects.create_user("gone", "gone@example.org", PASSWORD, is_active=False)
    client = Client()
    client.force_login(op)
    client.post("/operator/message/", {"subject": "Maintenance", "body": "Tonight."})
    assert sorted(r for rcpt, _ in smtp.messages for r in rcpt) == [
        "alice@example.org", "bob@example.org", "op@example.org"]
    assert smtp.messages[0][1]["Subject"] == "Maintenance"
    smtp.messages.clear()
    client.post("/operator/message/", {"subject": "Just you", "body": "Hi.",
                                       "recipients": [alice.pk]})
    assert [rcpt for rcpt, _ in smtp.messages] == [["alice@example.org"]]


def test_logout_by_post_with_csrf_only() -> None:
    User.objects.create_user("alice", "alice@example.org", PASSWORD)
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="alice", password=PASSWORD)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 403  # no CSRF token
    assert client.get("/nodes/").status_code == 200  # still logged in
    page = client.get("/nodes/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    out = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token.group(1)})
    assert out.status_code == 302 and out["Location"] == "/"
    assert client.get("/nodes/").status_code == 302


def test_registration_refuses_a_known_e_mail_address() -> None:
    client = Client()
    _register(client, "alice")
    again = client.post("/accounts/register/", {
        "username": "bob", "email": "ALICE@example.org",
        "password1": PASSWORD, "password2": PASSWORD})
    assert again.status_code == 200
    assert b"An account with this e-mail address exists already" in again.content
    assert b"Forgot your password?" in again.content
    assert not User.objects.filter(username="bob").exists()


@pytest.mark.parametrize("name", ["admin", "Admin", "\u0430dmin", "\u03b1dm\u0456n",
                                  "\uff41\uff44\uff4d\uff49\uff4e"])
def test_registration_refuses_names_confusable_with_existing_ones(name: str) -> None:
    User.objects.create_user("admin", "op@example.org", PASSWORD, role=User.Role.OPERATOR)
    client = Client()
    refused = _register(client, name)
    assert refused.status_code == 200
    assert "too much like an existing account name" in refused.content.decode()
    assert User.objects.count() == 1
    assert _register(client, "admin2").status_code == 302


def _login(client: Client, name: str, password: str) -> Any:
    return client.post("/accounts/login/", {"username": name, "password": password})


def test_login_lockout_after_failed_attempts() -> None:
    User.objects.create_user("alice", "alice@example.org", PASSWORD)
    User.objects.create_user("bob", "bob@example.org", PASSWORD)
    client = Client()
    for _ in range(LIMITS[Throttle.LOGIN].events):
        failed = _login(client, "alice", "wrong password")
        assert b"Please enter a correct username and password" in failed.content
    # Locked: even the right password is refused, with the time left, also as "ALICE".
    for name in ("alice", "ALICE"):
        locked = _login(client, name, PASSWORD)
        assert locked.status_code == 200
        assert "Too many failed log-ins for this account" in locked.content.decode()
        assert "try again in 15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert _login(Client(), "bob", PASSWORD).status_code == 302  # others are not locked
    # Once the lockout is over, the right password works and the count starts again.
    ThrottleCount.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert _login(client, "alice", PASSWORD).status_code == 302
    assert not ThrottleCount.objects.filter(key="login:alice").exists()


def test_operator_message_subject_must_be_one_line(smtp: Collector) -> None:
    op = User.objects.create_user("op", "op@example.org", PASSWORD, role=User.Role.OPERATOR)
    client = Client()
    client.force_login(op)
    response = client.post("/operator/message/", {
        "subject": "Maintenance\r\nBcc: everyone@example.org", "body": "Tonight."})
    assert response.status_code == 200
    assert b"The subject must be one line" in response.content
    assert smtp.messages == []
