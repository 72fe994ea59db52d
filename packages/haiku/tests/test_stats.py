"""The operator's view of the home agent: the collector's samples (one a minute at most,
31 days kept), the page with bindings, totals and plots, against the stand-in home agent
(mip6d's own control socket server); a home agent that is down or hangs."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from haiku import live
from haiku.core.render import Keying, NodeKind
from haiku.models import Sample, User
from haiku.nodes import NodeRequest, create_node

from testkit.mip6d_fakes import SilentDaemon, StandInHomeAgent, binding

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

COUNTERS = {"binding_updates_received/accepted": 10,
            "binding_updates_received/administratively-prohibited": 2,
            "binding_updates_received/ignored": 1, "kernel_failures/route-add": 1,
            "reloads/ok": 4, "reloads/failed": 1, "messages_sent/binding-ack": 12}


def _operator() -> Client:
    op = User.objects.create_user("op", "op@example.org", "x" * 12, role=User.Role.OPERATOR)
    client = Client()
    client.force_login(op)
    return client


def test_samples_at_most_once_a_minute_with_totals(home_agent: StandInHomeAgent) -> None:
    daemon = home_agent.daemon
    start = timezone.now() - timedelta(minutes=10)
    daemon.counter_values = dict(COUNTERS)
    first = live.take_sample(start)
    assert first is not None
    assert (first.ok, first.bindings, first.binding_updates, first.failures) == (
        True, 0, 13, 4)
    assert live.take_sample(start + timedelta(seconds=59)) is None
    daemon.binding_records.append(binding("2001:db8:1::1000", "2001:db8:7::5", time.time()))
    second = live.take_sample(start + timedelta(seconds=60))
    assert second is not None and second.bindings == 1
    call_command("haiku_collect", "--once")  # now: minutes after the last one
    assert Sample.objects.count() == 3
    with pytest.raises(CommandError, match="at most once every 60 s"):
        call_command("haiku_collect", "--interval", "5")


def test_samples_older_than_31_days_are_removed() -> None:
    now = timezone.now()
    for days in (40, 32, 30, 1):
        Sample.objects.create(taken=now - timedelta(days=days))
    assert live.prune(now) == 2
    assert Sample.objects.count() == 2


def test_collector_records_an_unreachable_home_agent(haiku_settings: Any, tmp_path: Any
                                                     ) -> None:
    haiku_settings.change_haiku(control_socket=str(tmp_path / "none.sock"))
    call_command("haiku_collect", "--once")
    [sample] = Sample.objects.all()
    assert not sample.ok and "is mip6d running?" in sample.error


def test_operator_page_shows_bindings_totals_and_plots(home_agent: StandInHomeAgent) -> None:
    alice = User.objects.create_user("alice", "alice@example.org", "x" * 12)
    node = create_node(alice, NodeRequest("car", NodeKind.HOST, 0, Keying.STATIC))
    daemon = home_agent.daemon
    daemon.counter_values = dict(COUNTERS)
    daemon.binding_records.append(binding(node.home_address, "2001:db8:7::5", time.time()))
    now = timezone.now()
    for minutes, updates, failures, ok in ((30, 0, 0, True), (20, 60, 0, True),
                                           (10, 0, 0, False), (0, 30, 20, True)):
        Sample.objects.create(taken=now - timedelta(minutes=minutes), ok=ok, bindings=1,
                              binding_updates=updates, failures=failures)
    operator = _operator()
    page = operator.get("/operator/stats/").content.decode()
    assert "Home agent answering: 1 binding" in page
    assert "alice/car" in page and "2001:db8:7::5" in page
    assert 'data-live="binding-updates" data-tone="">13</td>' in page
    assert operator.get("/operator/live.json").json()["cells"] == {
        "home-agent": ["Home agent answering: 1 binding", "good"],
        "bindings-now": ["1", ""], "binding-updates": ["13", ""], "failures": ["4", "bad"]}
    assert 'data-live-url="/operator/live.json"' in page
    for name in ("bindings", "binding-updates", "failures", "down"):
        assert f'id="plot-{name}"' in page
    # Binding Updates per minute: 60 in 10 min, then (mip6d restarted while it did not
    # answer) 30 since its start, over 20 min.
    svg = operator.get("/operator/stats.svg?series=binding-updates&hours=1")
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"Binding Updates per minute, last 1 h" in svg.content
    assert svg.content.count(b"<polyline") == 1 and b">6<" in svg.content


def test_operator_page_with_the_home_agent_down_or_hung(haiku_settings: Any,
                                                         tmp_path: Any) -> None:
    operator = _operator()
    haiku_settings.change_haiku(control_socket=str(tmp_path / "none.sock"))
    page = operator.get("/operator/stats/").content.decode()
    assert "Home agent not answering: cannot reach mip6d" in page
    assert 'id="bindings-now" data-live="bindings-now" data-tone="off">unknown</td>' in page
    hung = tmp_path / "hung.sock"
    haiku_settings.change_haiku(control_socket=str(hung))
    with SilentDaemon(hung):
        started = time.monotonic()
        page = operator.get("/operator/stats/").content.decode()
        assert time.monotonic() - started < live.LOOK_TIMEOUT + 1
        assert "did not answer &#x27;bindings&#x27; within 1 s" in page


def test_a_bad_plot_request_is_a_clear_400() -> None:
    response = _operator().get("/operator/stats.svg?series=nope&hours=x")
    assert response.status_code == 400
    assert b"unknown series 'nope'; one of: bindings, binding-updates" in response.content
