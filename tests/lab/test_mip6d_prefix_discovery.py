"""Mobile Prefix Discovery for real (RFC 6275 sections 6.7, 6.8, 10.6, 11.4.2 and
11.4.3): a mobile node registered from a foreign link asks its home agent for the home
prefixes, from its care-of address with a Home Address option; the home agent answers
through a type 2 routing header with the prefix its home link's router advertises and
the remaining lifetimes, and the node takes the answer. When that router withdraws the
home prefix and advertises another, the home agent tells the node unsolicited, and the
node registers the new prefix's home address. The kernel on both ends lets the messages
through the bindings' route-optimisation states and policies; tshark decodes them
without complaint. With ``IPsecPolicy MobPfxDisc`` both messages go under ESP."""

from __future__ import annotations

import itertools
from ipaddress import IPv6Address, IPv6Network

import pytest

from homeguy.lab.topology import Topology
from testkit.mip6d_topology import (
    F1,
    HA_ADDRESS,
    HOA,
    HOME,
    TRANSIT,
    build,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
    static_keying,
)

pytestmark = pytest.mark.lab

HOME_ROUTER = IPv6Address("2001:db8:1::fe")
NEW_HOME = IPv6Network("2001:db8:2::/64")
NEW_HOA = IPv6Address("2001:db8:2::100")  # HOA's interface identifier
RADVD_VALID, RADVD_PREFERRED = 86400, 14400  # radvd's default prefix lifetimes
HOME_ROUTER_RADVD = """\
interface hr-home {{
  AdvSendAdvert on;
  MinRtrAdvInterval 0.5;
  MaxRtrAdvInterval 1.5;
  AdvIntervalOpt on;
{prefixes}}};
"""
PREFIX = "  prefix {} {{ AdvOnLink on; AdvAutonomous on; {}}};\n"


def test_a_node_solicits_its_home_prefix_and_follows_a_renumbering(net: Topology) -> None:
    """The home link's router (not the home agent: a home agent that is the link's
    router does not hear its own radvd, measured) advertises the home prefix::

        hr ---- ha ---- r ---- mn (foreign link 1)
      (home link: hr's radvd, ha the home agent)
    """
    ha_host, r, hr, mn_host = (net.host(name, forwarding=name != "mn")
                               for name in ("ha", "r", "hr", "mn"))
    net.link(ha_host, r, a_ifname="ha-r", b_ifname="r-ha",
             a_address=f"{TRANSIT[1]}/64", b_address=f"{TRANSIT[2]}/64")
    net.link(ha_host, hr, a_ifname="ha-home", b_ifname="hr-home",
             a_address=f"{HA_ADDRESS}/64", b_address=f"{HOME_ROUTER}/64")
    net.link(mn_host, r, a_ifname="mn-f1", b_ifname="r-f1")
    ha_host.run("ip", "-6", "route", "add", "default", "via", str(TRANSIT[2]))
    for prefix in (HOME, NEW_HOME):
        r.run("ip", "-6", "route", "add", str(prefix), "via", str(TRANSIT[1]))
    net.radvd(r, {"r-f1": str(F1)})
    conf, pid = net.workdir / "radvd-hr.conf", net.workdir / "radvd-hr.pid"
    conf.write_text(HOME_ROUTER_RADVD.format(prefixes=PREFIX.format(HOME, "")))
    hr.spawn("radvd", "--nodaemon", "-C", str(conf), "-p", str(pid), "-m", "stderr",
             log=net.workdir / "radvd-hr.log")
    # No capture filter: "icmp6" would miss both messages (their first next header is
    # a destination options header or a routing header).
    capture = net.capture(r, "r-f1")
    coa = mn_host.wait_address("mn-f1", within=F1)
    ha = start_mip6d(net, ha_host, "ha", ha_config(net.workdir)
                     + "MinMobPfxAdvInterval 1;\nMaxMobPfxAdvInterval 2;\n")
    mn = start_mip6d(net, mn_host, "mn",
                     mn_config(net.workdir, interfaces=("mn-f1",), home_link="mn-f1"))
    mn.wait_event("binding-registered", after=0, home_address=str(HOA), timeout=30)

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
    # the care-of address (through a type 2 routing header to the home address); the
    # node takes it, with radvd's lifetimes counted down.
    answer = ha.wait_event("mobile-prefix-advertisement", after=0, timeout=10)
    assert (answer["home_address"], answer["care_of"], answer["identifier"],
            answer["prefixes"], answer["solicited"]) == (
        str(HOA), str(coa), identifier, str(HOME), True), answer
    taken = mn.wait_event("mobile-prefix-advertisement-received", after=0, timeout=10)
    assert (taken["home_agent"], taken["identifier"], taken["solicited"]) == (
        str(HA_ADDRESS), identifier, True), taken
    assert RADVD_VALID - 60 <= taken["home_prefix_valid"] <= RADVD_VALID, taken

    # (3) The home link's router withdraws the home prefix (lifetimes 0) and advertises
    # a new one; the home agent hears it and tells the registered node, unsolicited.
    ha_mark, mn_mark = ha.mark(), mn.mark()
    conf.write_text(HOME_ROUTER_RADVD.format(prefixes=PREFIX.format(
        HOME, "AdvValidLifetime 0; AdvPreferredLifetime 0; ") + PREFIX.format(NEW_HOME, "")))
    hr.run("kill", "-HUP", pid.read_text().strip())
    told = ha.wait_event("mobile-prefix-advertisement", after=ha_mark, solicited=False,
                         timeout=20)
    assert (told["care_of"], told["home_address"], told["prefixes"]) == (
        str(coa), str(HOA), str(NEW_HOME)), told
    renumbered = mn.wait_event("home-prefix-renumbered", after=mn_mark, timeout=10)
    assert renumbered["new_home_address"] == str(NEW_HOA), renumbered

    # (4) The node registers its new home address from the same care-of address (the
    # home agent serves the prefix its home link now advertises), and it is reachable.
    mn.wait_event("binding-registered", after=mn_mark, home_address=str(NEW_HOA), timeout=30)
    bu = ha.wait_event("received", after=ha_mark, message="BindingUpdate",
                       home_address=str(NEW_HOA), timeout=10)
    assert bu["src"] == str(coa), bu
    assert f"remote {coa}" in ha_host.run("ip", "-6", "tunnel", "show")
    took = ping_until(r, NEW_HOA)
    print(f"renumbered: {NEW_HOA} reachable {took:.2f} s after its registration")
    again = mn.wait_event("mobile-prefix-advertisement-received", after=mn_mark,
                          home_address=str(NEW_HOA), timeout=20)
    assert RADVD_VALID - 60 <= again["home_prefix_valid"] <= RADVD_VALID, again
    assert not [r for r in ha.records()
                if r.get("event") in ("mobile-prefix-solicitation-ignored", "handler-failed")]
    assert not [r for r in mn.records() if r.get("event") in (
        "mobile-prefix-advertisement-ignored", "mobile-prefix-solicitation-unanswered")]
    assert mn.stop() == 0 and ha.stop() == 0
    # Stopping leaves none of the solicitations' XFRM policy and state behind.
    assert "proto 58 type 146" not in mn_host.run("ip", "xfrm", "policy")
    assert "proto hao" not in mn_host.run("ip", "xfrm", "state")

    # (5) tshark decodes them all on the foreign link without complaint, checksums good
    # (over the home address: the pseudo-header of RFC 6275 sections 6.3 and 6.4).
    seen = []
    for fields in capture.fields("icmpv6.type == 146 || icmpv6.type == 147"):
        assert "_ws.malformed" not in fields, fields
        assert "8388608" not in fields.get("_ws.expert.severity", []), fields  # PI_ERROR
        assert fields["icmpv6.checksum.status"] == ["1"], fields
        kind = fields["icmpv6.type"][0]
        if kind == "146":  # from the care-of address, Home Address option
            assert (fields["ipv6.src"], fields["ipv6.dst"]) == ([str(coa)], [str(HA_ADDRESS)])
            (home,) = fields["ipv6.opt.mipv6.home_address"]
            seen.append((kind, home, None))
            continue
        # To the care-of address through a type 2 routing header; the prefix with
        # radvd's lifetimes, counted down.
        assert (fields["ipv6.src"], fields["ipv6.dst"]) == ([str(HA_ADDRESS)], [str(coa)])
        assert fields["ipv6.routing.type"] == ["2"]
        (home,) = fields["ipv6.routing.mipv6.home_address"]
        (prefix,) = fields["icmpv6.opt.prefix"]
        assert fields["icmpv6.opt.prefix.length"] == ["64"]
        valid = int(fields["icmpv6.opt.prefix.valid_lifetime"][0])
        assert RADVD_VALID - 60 <= valid <= RADVD_VALID, fields
        seen.append((kind, home, prefix))
    old, new = str(HOME.network_address), str(NEW_HOME.network_address)
    # An unsolicited advertisement may go again (3 s later) if the node's answer, the
    # old address's deregistration, is slow: one line per kind of message.
    seen = [kind for kind, _ in itertools.groupby(seen)]
    assert seen == [
        ("146", str(HOA), None), ("147", str(HOA), old),  # solicited
        ("147", str(HOA), new),  # unsolicited: the new prefix
        ("146", str(NEW_HOA), None), ("147", str(NEW_HOA), new),  # the new address's
    ], seen


def test_ipsec_protects_prefix_discovery_where_configured(net: Topology) -> None:
    """``IPsecPolicy MobPfxDisc`` with RFC 3776 static keys (those of the Binding
    Update): the solicitation and the advertisement travel under ESP, never in clear,
    and the home agent's kernel lets no unprotected solicitation of that home address
    through (its in policy requires ESP)."""
    m = build(net)
    capture = net.capture(m.r, "r-f1")
    coa = m.mn.wait_address("mn-f1", within=F1)
    ha = start_mip6d(net, m.ha, "ha", static_keying(ha_config(net.workdir),
                                                    prefix_discovery=True))
    mn = start_mip6d(net, m.mn, "mn", static_keying(mn_config(net.workdir),
                                                    prefix_discovery=True))
    mn.wait_event("binding-registered", after=0, home_agent=str(HA_ADDRESS), timeout=30)
    sent = mn.wait_event("mobile-prefix-solicitation-sent", after=0, timeout=10)
    received = ha.wait_event("received", after=0, message="MobilePrefixSolicitation",
                             timeout=10)
    assert (received["src"], received["identifier"]) == (str(coa), sent["identifier"])
    taken = mn.wait_event("mobile-prefix-advertisement-received", after=0, timeout=10)
    assert (taken["identifier"], taken["solicited"]) == (sent["identifier"], True), taken
    policies = m.mn.run("ip", "xfrm", "policy")
    assert "proto ipv6-icmp type 146" in policies and "reqid 11" in policies, policies
    assert mn.stop() == 0 and ha.stop() == 0

    # On the foreign link: ESP with the Home Address option (Binding Update, the
    # solicitation) and ESP under a type 2 routing header (Acknowledgement,
    # advertisement); no ICMPv6 146 or 147 in clear.
    assert capture.fields("icmpv6.type == 146 || icmpv6.type == 147") == []
    esp = capture.fields("esp")
    with_hao = [f for f in esp if f.get("ipv6.opt.mipv6.home_address") == [str(HOA)]]
    with_rh2 = [f for f in esp if f.get("ipv6.routing.type") == ["2"]]
    assert len(with_hao) >= 2 and len(with_rh2) >= 2, esp
