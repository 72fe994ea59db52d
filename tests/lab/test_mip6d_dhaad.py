"""Dynamic home agent address discovery for real (RFC 6275 sections 10.5 and 11.4.1):
two home agents on one home link, each learning the other from its router
advertisements; a mobile node that knows only its home address asks the home link's
Home-Agents anycast address, registers with the preferred home agent, and when that
home agent's mip6d goes away registers with the other one."""

from __future__ import annotations

import pytest

from homeguy.lab.topology import Topology
from testkit.mip6d_topology import (
    F1,
    HA2_ADDRESS,
    HA_ADDRESS,
    HOA,
    HOME_AGENTS_ANYCAST,
    build_two_home_agents,
    discovering_mn_config,
    named_ha_config,
    ping_until,
    start_mip6d,
)

pytestmark = pytest.mark.lab



def test_discovers_the_preferred_home_agent_and_falls_back_to_the_other(
        net: Topology) -> None:
    m = build_two_home_agents(net)
    capture = net.capture(m.r, "r-f1", "icmp6")
    coa = m.mn.wait_address("mn-f1", within=F1)
    ha1 = start_mip6d(net, m.ha1, "ha1", named_ha_config(net.workdir, "ha1", 20))
    ha2 = start_mip6d(net, m.ha2, "ha2", named_ha_config(net.workdir, "ha2", 10))
    # (1) Each home agent's list holds the other, from its router advertisements.
    heard = ha1.wait_event("home-agent-heard", after=0, addresses=str(HA2_ADDRESS))
    assert heard["preference"] == 10, heard
    heard = ha2.wait_event("home-agent-heard", after=0, addresses=str(HA_ADDRESS))
    assert heard["preference"] == 20, heard

    # (2) The mobile node asks from its care-of address; the preferred home agent (the
    # link's router, which the anycast packet reaches) answers with both, itself first.
    mn = start_mip6d(net, m.mn, "mn", discovering_mn_config(net.workdir))
    request = mn.wait_event("sent", after=0, message="DHAADRequest", timeout=30)
    assert (request["src"], request["dst"]) == (str(coa), str(HOME_AGENTS_ANYCAST)), request
    both = f"{HA_ADDRESS} {HA2_ADDRESS}"
    reply = ha1.wait_event("dhaad-reply", after=0, timeout=30)
    assert (reply["dst"], reply["home_agents"]) == (str(coa), both), reply
    found = mn.wait_event("home-agents-discovered", after=0, timeout=30)
    assert found["home_agents"] == both, found
    mn.wait_event("binding-registered", after=0, home_agent=str(HA_ADDRESS), timeout=30)
    took = ping_until(m.r, HOA)
    print(f"registered with {HA_ADDRESS}: home address reachable after {took:.2f} s")

    # (3) The preferred home agent's mip6d stops: the node's refresh goes unanswered, it
    # falls back to the other home agent of the Reply and registers there.
    mark = mn.mark()
    assert ha1.stop() == 0
    fallback = mn.wait_event("home-agent-fallback", after=mark, timeout=60)
    assert (fallback["home_agent"], fallback["next"]) == (str(HA_ADDRESS), str(HA2_ADDRESS))
    mn.wait_event("binding-registered", after=mark, home_agent=str(HA2_ADDRESS), timeout=30)
    bu = ha2.wait_event("received", after=0, message="BindingUpdate", timeout=10)
    assert (bu["src"], bu["home_address"]) == (str(coa), str(HOA)), bu
    assert f"remote {coa}" in m.ha2.run("ip", "-6", "tunnel", "show")
    took = ping_until(m.r, HOA, timeout=20)
    print(f"registered with {HA2_ADDRESS}: home address reachable after {took:.2f} s")
    assert mn.stop() == 0 and ha2.stop() == 0

    # (4) tshark decodes the discovery on the foreign link without complaint.
    kinds = set()
    for fields in capture.fields("icmpv6.type == 144 || icmpv6.type == 145"):
        assert "_ws.malformed" not in fields, fields
        assert "8388608" not in fields.get("_ws.expert.severity", []), fields  # PI_ERROR
        kind = fields["icmpv6.type"][0]
        kinds.add(kind)
        if kind == "144":
            assert fields["ipv6.src"] == [str(coa)]
            assert fields["ipv6.dst"] == [str(HOME_AGENTS_ANYCAST)]
        else:
            assert fields["ipv6.src"] == [str(HA_ADDRESS)]
            assert fields["ipv6.dst"] == [str(coa)]
    assert kinds == {"144", "145"}, kinds
