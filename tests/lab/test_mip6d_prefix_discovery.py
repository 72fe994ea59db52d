"""Mobile Prefix Discovery for real (RFC 6275 sections 6.7, 6.8, 10.6, 11.4.2 and
11.4.3): a mobile node registered from a foreign link asks its home agent for the home
prefixes, from its care-of address with a Home Address option; the home agent, which
hears the home link's prefix from its own radvd, answers through a type 2 routing
header with the prefix and its remaining lifetimes, and the node takes the answer.
The kernel on both ends lets the messages through the binding's route-optimisation
states and policies; tshark decodes them without complaint.

Not here yet: renumbering through radvd. In this topology the home agent is the home
link's router and does not hear its own radvd's advertisements, so a renumbering by
that radvd does not reach it; it needs another router on the home link (the unit tests
of test_daemon_prefixdisc.py cover the home agent and node sides)."""

from __future__ import annotations

from typing import Any

import pytest

from homeguy.lab.topology import Topology
from testkit.mip6d_topology import (
    F1,
    HA_ADDRESS,
    HOA,
    HOME,
    build,
    ha_config,
    mn_config,
    start_mip6d,
)

pytestmark = pytest.mark.lab

INFINITE = 0xFFFFFFFF


def _fields(tree: Any, out: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every field of a tshark JSON tree, wherever it is nested, by name."""
    out = {} if out is None else out
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, str):
                out.setdefault(key, []).append(value)
            else:
                _fields(value, out)
    elif isinstance(tree, list):
        for item in tree:
            _fields(item, out)
    return out


def test_a_registered_node_solicits_and_gets_its_home_prefix(net: Topology) -> None:
    m = build(net)
    # No capture filter: "icmp6" would miss both messages (their first next header is
    # a destination options header or a routing header).
    capture = net.capture(m.r, "r-f1")
    coa = m.mn.wait_address("mn-f1", within=F1)
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir))
    mn = start_mip6d(net, m.mn, "mn", mn_config(net.workdir))
    mn.wait_event("binding-registered", after=0, home_agent=str(HA_ADDRESS), timeout=30)

    # (1) Registered: the node solicits from its care-of address, Home Address option.
    sent = mn.wait_event("mobile-prefix-solicitation-sent", after=0, timeout=10)
    assert (sent["care_of"], sent["home_agent"], sent["home_address"]) == (
        str(coa), str(HA_ADDRESS), str(HOA)), sent
    identifier = sent["identifier"]
    received = ha.wait_event("received", after=0, message="MobilePrefixSolicitation",
                             timeout=10)
    assert (received["src"], received["dst"], received["identifier"]) == (
        str(coa), str(HA_ADDRESS), identifier), received

    # (2) The home agent answers with the home link's prefix, the Identifier echoed, to
    # the care-of address (through a type 2 routing header to the home address).
    answer = ha.wait_event("mobile-prefix-advertisement", after=0, timeout=10)
    assert (answer["home_address"], answer["care_of"], answer["identifier"],
            answer["prefixes"], answer["solicited"]) == (
        str(HOA), str(coa), identifier, str(HOME), True), answer
    assert not [r for r in ha.records()
                if r.get("event") in ("mobile-prefix-solicitation-ignored", "handler-failed")]

    # (3) The node takes it. The home agent is the link's router here and does not hear
    # its own radvd's advertisements (measured: no multicast loopback to its socket), so
    # the prefix is its own address's, with infinite lifetimes.
    taken = mn.wait_event("mobile-prefix-advertisement-received", after=0, timeout=10)
    assert (taken["home_agent"], taken["identifier"], taken["solicited"]) == (
        str(HA_ADDRESS), identifier, True), taken
    assert taken["home_prefix_valid"] == INFINITE, taken
    assert taken["prefixes"] == f"{HOME}:{INFINITE}/{INFINITE}", taken
    assert not [r for r in mn.records() if r.get("event") in (
        "mobile-prefix-advertisement-ignored", "mobile-prefix-solicitation-unanswered")]
    assert mn.stop() == 0 and ha.stop() == 0
    # Stopping leaves none of the solicitation's XFRM policy and state behind.
    assert "proto 58 type 146" not in m.mn.run("ip", "xfrm", "policy")
    assert "proto hao" not in m.mn.run("ip", "xfrm", "state")

    # (4) tshark decodes them all on the foreign link without complaint, checksums good
    # (over the home address: the pseudo-header of RFC 6275 sections 6.3 and 6.4).
    seen = []
    for packet in capture.decode("icmpv6.type == 146 || icmpv6.type == 147"):
        fields = _fields(packet["_source"]["layers"])
        assert "_ws.malformed" not in fields, fields
        assert "8388608" not in fields.get("_ws.expert.severity", []), fields  # PI_ERROR
        assert fields["icmpv6.checksum.status"] == ["1"], fields
        kind, number = fields["icmpv6.type"][0], int(fields["icmpv6.mip6.identifier"][0])
        if kind == "146":  # from the care-of address, Home Address option
            assert (fields["ipv6.src"], fields["ipv6.dst"]) == ([str(coa)], [str(HA_ADDRESS)])
            (home,) = fields["ipv6.opt.mipv6.home_address"]
            seen.append((kind, home, number, None))
            continue
        # To the care-of address through a type 2 routing header; its prefix with
        # radvd's lifetimes, counted down.
        assert (fields["ipv6.src"], fields["ipv6.dst"]) == ([str(HA_ADDRESS)], [str(coa)])
        assert fields["ipv6.routing.type"] == ["2"]
        (home,) = fields["ipv6.routing.mipv6.home_address"]
        (prefix,) = fields["icmpv6.opt.prefix"]
        assert fields["icmpv6.opt.prefix.length"] == ["64"]
        valid = int(fields["icmpv6.opt.prefix.valid_lifetime"][0])
        preferred = int(fields["icmpv6.opt.prefix.preferred_lifetime"][0])
        assert (valid, preferred) == (INFINITE, INFINITE), fields
        seen.append((kind, home, number, prefix))
    assert seen == [
        ("146", str(HOA), identifier, None),
        ("147", str(HOA), identifier, str(HOME.network_address)),
    ], seen
