"""The collector samples the home agent's bindings and counters; the page plots them."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from haiku.models import Sample, User

from testkit.mip6d_fakes import StandInHomeAgent

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]


def test_collector_and_statistics_page(home_agent: StandInHomeAgent, settings: Any) -> None:
    daemon = home_agent.daemon
    call_command("haiku_collect", "--once")
    daemon.binding_records.append({"home_address": "2001:db8:1::1000",
                                 "care_of": "2001:db8:7::5"})
    daemon.counter_values["bu_received"] = 12
    call_command("haiku_collect", "--once")
    samples = list(Sample.objects.order_by("taken"))
    assert [(s.ok, s.bindings) for s in samples] == [(True, 0), (True, 1)]
    assert samples[1].counters == {"bu_received": 12, "ba_sent": 0}
    op = User.objects.create_user("op", "op@example.org", "x" * 12, role=User.Role.OPERATOR)
    client = Client()
    client.force_login(op)
    page = client.get("/operator/stats/").content.decode()
    assert "2001:db8:7::5" in page and "bu_received" in page
    svg = client.get("/operator/stats.svg?hours=1")
    assert svg["Content-Type"] == "image/svg+xml"
    assert svg.content.count(b"<polyline") == 3


def test_collector_records_an_unreachable_home_agent(haiku_settings: Any, tmp_path: Any
                                                     ) -> None:
    haiku_settings.change_haiku(control_socket=str(tmp_path / "none.sock"))
    call_command("haiku_collect", "--once")
    [sample] = Sample.objects.all()
    assert not sample.ok and "is mip6d running?" in sample.error
