"""Mobile Prefix Discovery for real (RFC 6275 sections 6.7, 6.8, 10.6, 11.4.2 and
11.4.3): a mobile node registered from a foreign link asks its home agent for the home
prefixes, from its care-of address with a Home Address option; the home agent, which
hears the home link's prefix from its own radvd, answers through a type 2 routing
header with the prefix and its remaining lifetimes, and the node takes the answer.
The kernel on both ends lets the messages through the binding's route-optimisation
states and policies; tshark decodes them without complaint. Then the home link is
renumbered (radvd there advertises a new prefix and the old one with lifetime 0): the
home agent tells the node unsolicited, and the node names its new home address (same
interface identifier). Registering that address is not implemented yet."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network
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

RADVD_VALID, RADVD_PREFERRED = 86400, 14400  # radvd's default prefix lifetimes
NEW_HOME = IPv6Network("2001:db8:2::/64")
NEW_HOA = IPv6Address("2001:db8:2::100")  # HOA's interface identifier


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


def test_a_node_solicits_its_home_prefix_and_hears_of_renumbering(net: Topology) -> None:
    m = build(net)
    # No capture filter: "icmp6" would miss both messages (their first next header is
    # a destination options header or a routing header).
    capture = net.capture(m.r, "r-f1")
    coa = m.mn.wait_address("mn-f1", within=F1)
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir)
                     + "MinMobPfxAdvInterval 1;\nMaxMobPfxAdvInterval 2;\n")
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

    # (3) The node takes it: its home prefix with radvd's lifetimes, counted down.
    taken = mn.wait_event("mobile-prefix-advertisement-received", after=0, timeout=10)
    assert (taken["home_agent"], taken["identifier"], taken["solicited"]) == (
        str(HA_ADDRESS), identifier, True), taken
    assert RADVD_VALID - 30 <= taken["home_prefix_valid"] <= RADVD_VALID, taken
    assert taken["prefixes"].startswith(f"{HOME}:"), taken  # the one prefix, PREFIX:V/P
    assert not [r for r in mn.records() if r.get("event") in (
        "mobile-prefix-advertisement-ignored", "mobile-prefix-solicitation-unanswered")]

    # (4) Renumbering: radvd on the home link withdraws the home prefix (lifetime 0) and
    # advertises a new one; the home agent tells the registered node, unsolicited.
    ha_mark, mn_mark = ha.mark(), mn.mark()
    conf = net.workdir / "radvd-ha.conf"
    old = f"prefix {HOME} {{ AdvOnLink on; AdvAutonomous on; }};"
    assert old in conf.read_text()
    conf.write_text(conf.read_text().replace(old, (
        f"prefix {HOME} {{ AdvOnLink on; AdvAutonomous on; AdvValidLifetime 0; "
        f"AdvPreferredLifetime 0; }};\n  prefix {NEW_HOME} {{ AdvOnLink on; "
        "AdvAutonomous on; };")))
    pid = (net.workdir / "radvd-ha.pid").read_text().strip()
    m.ha.run("kill", "-HUP", pid)
    ha.wait_event("mobile-prefix-advertisement-scheduled", after=ha_mark, timeout=20)
    told = ha.wait_event("mobile-prefix-advertisement", after=ha_mark, timeout=10)
    assert (told["care_of"], told["home_address"], told["solicited"], told["prefixes"]) == (
        str(coa), str(HOA), False, str(NEW_HOME)), told
    heard = mn.wait_event("mobile-prefix-advertisement-received", after=mn_mark, timeout=10)
    assert (heard["solicited"], heard["home_prefix_valid"]) == (False, 0), heard
    renumbered = mn.wait_event("home-prefix-renumbered", after=mn_mark, timeout=5)
    assert (renumbered["home_address"], renumbered["new_home_address"]) == (
        str(HOA), str(NEW_HOA)), renumbered

    # (5) The node registers its new home address (the home agent serves the prefix its
    # home link advertises) and asks about the new prefix in turn.
    mn.wait_event("home-address-renumbered", after=mn_mark, new_home_address=str(NEW_HOA),
                  timeout=5)
    mn.wait_event("binding-registered", after=mn_mark, home_address=str(NEW_HOA), timeout=30)
    bu = ha.wait_event("received", after=ha_mark, message="BindingUpdate",
                       home_address=str(NEW_HOA), timeout=10)
    assert bu["src"] == str(coa), bu
    again = mn.wait_event("mobile-prefix-advertisement-received", after=mn_mark,
                          home_address=str(NEW_HOA), timeout=10)
    assert RADVD_VALID - 30 <= again["home_prefix_valid"] <= RADVD_VALID, again
    assert mn.stop() == 0 and ha.stop() == 0

    # (6) tshark decodes them all on the foreign link without complaint, checksums good
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
        assert RADVD_VALID - 60 <= valid <= RADVD_VALID, fields
        assert RADVD_PREFERRED - 60 <= preferred <= RADVD_PREFERRED, fields
        seen.append((kind, home, number, prefix))
    assert seen == [
        ("146", str(HOA), identifier, None),
        ("147", str(HOA), identifier, str(HOME.network_address)),
        ("147", str(HOA), told["identifier"], str(NEW_HOME.network_address)),  # unsolicited
        ("146", str(NEW_HOA), again["identifier"], None),
        ("147", str(NEW_HOA), again["identifier"], str(NEW_HOME.network_address)),
    ], seen
    # ... and the Binding Acknowledgement that accepted the new home address.
    acks = [f for f in (_fields(p["_source"]["layers"]) for p in capture.decode("mip6"))
            if f.get("mip6.mhtype") == ["6"]
            and f.get("ipv6.routing.mipv6.home_address") == [str(NEW_HOA)]]
    assert acks and all(f["mip6.ba.status"] == ["0"] for f in acks), acks
