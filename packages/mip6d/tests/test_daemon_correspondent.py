"""The correspondent node the package's own configuration makes (``NodeConfig CN``): the
daemon starts, and answers the requests of a mobile node that tries route optimisation
with a Binding Error; the home agent and the mobile node answer the requests they do
not serve the same way."""

from __future__ import annotations

from ipaddress import IPv6Address
from pathlib import Path

import pytest
from mip6d.core.effects import SendMessage
from mip6d.shell.mhsocket import Received
from mip6d.wire import mh

from testkit.mip6d_fakes import rig

pytestmark = pytest.mark.unit

CN = IPv6Address("2001:db8:9::1")
HA = IPv6Address("2001:db8:1::1")
HOA = IPv6Address("2001:db8:1::10")
COA = IPv6Address("2001:db8:a::5")
UNRECOGNIZED = mh.BEStatus.UNRECOGNIZED_MH_TYPE
PACKAGE_CONF = Path(__file__).parents[1] / "etc" / "mip6d.conf"


def test_the_packages_configuration_starts_a_correspondent_node(tmp_path: Path) -> None:
    r = rig(tmp_path, PACKAGE_CONF.read_text())
    r.daemon.start()
    assert r.daemon.status()["role"] == "CN"
    hoti, coti = mh.HomeTestInit(1), mh.CareOfTestInit(2)
    r.receive(Received(hoti, HOA, CN), Received(coti, COA, CN),
              Received(mh.BindingAck(mh.BAStatus.ACCEPTED, 1, 1, mh.BAFlag(0)), COA, CN))
    assert r.mh.sent == [SendMessage(mh.BindingError(UNRECOGNIZED, IPv6Address("::")), CN, HOA),
                         SendMessage(mh.BindingError(UNRECOGNIZED, IPv6Address("::")), CN, COA)]
    assert r.runner.lines == []  # a correspondent node changes nothing in the kernel
    r.receive(Received(hoti, HOA, CN))  # within the second: rate-limited
    assert len(r.mh.sent) == 2
    counters = r.daemon.counters()
    assert counters["messages_sent/binding-error"] == 2
    assert counters["messages_ignored/binding-ack"] == 1
    assert counters["messages_ignored/home-test-init"] == 1


def test_a_home_agent_answers_a_return_routability_test(tmp_path: Path) -> None:
    r = rig(tmp_path, 'NodeConfig HA;\nInterface "eth0";\n', [("eth0", f"{HA}/64")])
    r.daemon.start()
    r.receive(Received(mh.HomeTestInit(1), HOA, HA))
    assert r.mh.sent == [SendMessage(mh.BindingError(UNRECOGNIZED, IPv6Address("::")), HA, HOA)]
