"""mip6d with IKEv2 (RFC 4877), real charon on both ends, real kernel.

mip6d installs only the XFRM policies (BU/BA in transport ESP with the hao/route2
templates; optionally ESP on the tunnel), with the reqid of a charon CHILD_SA that has
``policies = no`` and ``start_action = trap``: the first Binding Update raises an
acquire, charon negotiates the SAs from the care-of address (``transport_proxy``: ESP
on the home address), the kernel sends the retransmitted BU under ESP. On movement
mip6d sends the kernel an XFRM_MSG_MIGRATE with the KMADDRESS of the new care-of
address before the BU (and the home agent's mip6d after accepting it): both charons
move the IKE SA without a new IKE_SA_INIT.

charon's own roaming is off (``roam_events = no``): the mobility daemon says where the
IKE SA goes; left on, charon reauthenticates (a new IKE_SA_INIT) when it sees the old
care-of address go before the MIGRATE came.
"""

from __future__ import annotations

import json
import re
import time
from ipaddress import IPv6Address
from typing import Any

import pytest

from homeguy.lab.topology import Topology
from testkit import strongswan_lab
from testkit.mip6d_ike import (
    clear_mh,
    esp_between,
    ike_sa_inits,
    layers,
    list_sas,
    start_all,
)
from testkit.mip6d_topology import (
    F1,
    F2,
    HA_ADDRESS,
    HOA,
    build,
    ping_until,
)

pytestmark = pytest.mark.lab


# Debian's stock build too: mip6d's keying (`policies = no`, MH selectors without a type)
# needs none of Homeguy's strongSwan patches (packages/strongswan-mip6/README.md), so a
# node that apt moved to Debian's newer security build keeps registering.
@pytest.mark.parametrize("variant", strongswan_lab.VARIANTS)
def test_ike_first_registration_and_handover(net: Topology, variant: str) -> None:
    m = build(net)
    capture = net.capture(m.r, "r-ha", "ip6")
    mn_ike, ha_ike, mn, ha = start_all(net, m, payload=False, variant=variant)
    coa1 = m.mn.wait_address("mn-f1", within=F1)

    # (1) First registration: the BU raises the acquire, charon negotiates, the BU goes
    # under ESP, the BA comes back under ESP with K set.
    ack = mn.wait_event("received", message="BindingAck", after=0, timeout=90)
    assert ack["status"] == 0, ack
    mn.wait_event("binding-registered", after=0)
    assert "ESTABLISHED" in (sas := list_sas(mn_ike)) and "INSTALLED" in sas, sas
    assert f"@ {coa1}[" in sas, sas  # IKE from the care-of address (port 4500: MOBIKE)
    states = m.mn.run("ip", "xfrm", "state")
    assert f"src {HOA} dst {HA_ADDRESS}\n\tproto esp" in states, states
    assert ike_sa_inits(mn_ike) == 1
    ping_until(m.cn, HOA)
    # Mobile Prefix Discovery under the same CHILD_SA (IPsecPolicy MobPfxDisc, the
    # child's ICMPv6 traffic selectors).
    ha.wait_event("received", message="MobilePrefixSolicitation", after=0, timeout=30)
    mn.wait_event("mobile-prefix-advertisement-received", after=0, timeout=30)

    # (2) Handover f1 -> f2: MIGRATE with the new KMADDRESS, then the BU, under ESP.
    m.link(m.mn, "mn-f2", True)
    coa2 = m.mn.wait_address("mn-f2", within=F2)
    mark = mn.mark()
    ha_mark = ha.mark()
    m.link(m.mn, "mn-f1", False)
    migrated = mn.wait_event("keying-migrated", after=mark, timeout=30)
    assert migrated["new_care_of"] == str(coa2) and migrated["old_care_of"] == str(coa1)
    mn.wait(lambda r: r.get("event") == "binding-refreshed" and r.get("care_of") == str(coa2),
            timeout=60, what="registration from f2", after=mark)
    ha.wait_event("keying-migrated", after=ha_mark, new_care_of=str(coa2))
    ping_until(m.cn, HOA)
    mn_sas, ha_sas = list_sas(mn_ike), list_sas(ha_ike)
    assert f"@ {coa2}[" in mn_sas and f"@ {coa2}[" in ha_sas, (mn_sas, ha_sas)
    assert ike_sa_inits(mn_ike) == 1, "a new IKE_SA_INIT after the handover"
    assert mn.stop() == 0 and ha.stop() == 0

    packets = capture.decode()
    assert clear_mh(packets) == [], "a Mobility Header message crossed in clear"
    assert not [p for p in layers(packets) if re.search(r'"icmpv6.type": "14[67]"',
                                                        json.dumps(p))], "prefix discovery in clear"
    assert esp_between(packets, coa1, HA_ADDRESS) >= 1 and esp_between(packets, HA_ADDRESS,
                                                                        coa1) >= 1
    assert esp_between(packets, coa2, HA_ADDRESS) >= 1, "the BU from f2 was not ESP"
    assert esp_between(packets, HA_ADDRESS, coa2) >= 1, "the BA to f2 was not ESP"
    inits = [p for p in layers(packets)
             if p.get("isakmp", {}).get("isakmp.exchangetype") == "34"]  # IKE_SA_INIT
    exchanges = {p["isakmp"].get("isakmp.ispi") for p in inits}
    assert len(exchanges) == 1, f"IKE_SA_INIT with initiator SPIs {exchanges}: expected one"
    print(f"IKE: one IKE_SA_INIT exchange; IKE SA moved {coa1} -> {coa2}")


def echoes(packets: list[dict[str, Any]]) -> int:
    """ICMPv6 echo requests and replies tshark saw in clear (also inside ip6ip6)."""
    return sum(1 for p in layers(packets) if re.search(r'"icmpv6.type": "12[89]"',
                                                       json.dumps(p)))


def payload_is_esp_only(packets: list[dict[str, Any]], care_of: IPv6Address) -> None:
    """The correspondent's 5 pings crossed the foreign link as ESP between ``care_of``
    and the home agent: no echo in clear, no plain IPv6-in-IPv6."""
    assert echoes(packets) == 0, "an ICMPv6 echo crossed the foreign link in clear"
    assert esp_between(packets, HA_ADDRESS, care_of) >= 5 and esp_between(
        packets, care_of, HA_ADDRESS) >= 5
    # The protocol chain, not the ipv6 layer: tshark's JSON names both headers of an
    # IPv6-in-IPv6 packet "ipv6", and json.loads keeps only the inner one. (Extension
    # headers are "ipv6.dstopts", "ipv6.routing": other names in the chain.)
    tunnelled = [p for p in layers(packets)
                 if ":ipv6:ipv6:" in f":{p.get('frame', {}).get('frame.protocols', '')}:"]
    assert tunnelled == [], "plain IPv6-in-IPv6 on the foreign link"


def test_ike_tunnel_payload_is_esp(net: Topology) -> None:
    """Acceptance 3: with TunnelPayload, the tunnel's SAs are negotiated on demand too
    (the mobile node's first tunnelled packet raises the acquire: the home agent's
    charon, a responder, cannot start them) and the correspondent's pings to the home
    address cross the foreign link as ESP only. Then the node moves (issue #14): charon
    moves the tunnel's CHILD_SA with the IKE SA (no new IKE_SA_INIT), and the pings
    resume, ESP only on the new link."""
    m = build(net)
    mn_ike, ha_ike, mn, ha = start_all(net, m, payload=True)
    coa = m.mn.wait_address("mn-f1", within=F1)
    mn.wait_event("binding-registered", after=0, timeout=90)
    ha.wait_event("tunnel-ipsec-installed", after=0, timeout=60)
    mn.wait_event("tunnel-ipsec-installed", after=0, timeout=60)
    deadline = time.monotonic() + 60  # from the home address, through the tunnel
    while " 0% packet loss" not in m.mn.run("ping", "-6", "-n", "-c", "1", "-W", "1", "-I",
                                            str(HOA), str(m.cn_address), check=False):
        assert time.monotonic() < deadline, "no answer through the tunnel in 60 s"
    ping_until(m.cn, HOA)
    capture = net.capture(m.r, "r-f1", "ip6")
    assert " 0% packet loss" in m.cn.ping(HOA, count=5, interval=0.2)
    payload_is_esp_only(capture.decode(), coa)
    sas = list_sas(mn_ike)
    assert "payload" in sas and "binding" in sas, sas
    states = m.mn.run("ip", "xfrm", "state")
    assert f"src {coa} dst {HA_ADDRESS}\n\tproto esp" in states, states

    # (2) The handover f1 -> f2: MIGRATE on both ends, charon moves both CHILD_SAs.
    mark, ha_mark = mn.mark(), ha.mark()
    m.move_mn("mn-f2")
    coa2 = m.mn.wait_address("mn-f2", within=F2)
    mn.wait(lambda r: r.get("event") == "binding-refreshed" and r.get("care_of") == str(coa2),
            timeout=60, what="registration from f2", after=mark)
    ha.wait_event("keying-migrated", after=ha_mark, new_care_of=str(coa2))
    try:
        ping_until(m.cn, HOA, timeout=30)
    finally:  # what the kernels hold, to read when the pings do not resume
        for host in (m.mn, m.ha):
            print(f"{host.name}:", host.run("ip", "xfrm", "state"),
                  host.run("ip", "-s", "xfrm", "policy"), host.run("cat", "/proc/net/xfrm_stat"),
                  sep="\n")
    capture = net.capture(m.r, "r-f2", "ip6")
    assert " 0% packet loss" in m.cn.ping(HOA, count=5, interval=0.2)
    payload_is_esp_only(capture.decode(), coa2)
    for host in (m.mn, m.ha):  # moved, selectors included; nothing left at the old address
        states = host.run("ip", "xfrm", "state")
        assert f"src {coa2} dst {HA_ADDRESS}\n\tproto esp" in states, (host.name, states)
        assert f"src {HA_ADDRESS} dst {coa2}\n\tproto esp" in states, (host.name, states)
        assert f"src {coa} " not in states and f"dst {coa}\n" not in states, states
    mn_sas, ha_sas = list_sas(mn_ike), list_sas(ha_ike)
    assert f"@ {coa2}[" in mn_sas and f"@ {coa2}[" in ha_sas, (mn_sas, ha_sas)
    assert "payload" in ha_sas, ha_sas
    assert ike_sa_inits(mn_ike) == 1, "a new IKE_SA_INIT after the handover"
    assert mn.stop() == 0 and ha.stop() == 0
