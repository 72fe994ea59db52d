"""Static IPsec between mobile node and home agent (RFC 3776): the Binding Update and
Acknowledgement travel under ESP (the capture shows no Mobility Header in clear), and an
unprotected Binding Update for the same home address is refused by the home agent; a
home agent killed and started again replaces the SAs it left."""

from __future__ import annotations

import json
import time

import pytest

from homeguy.lab.topology import Host, Topology
from testkit.mip6d_topology import (
    HA_ADDRESS,
    HA_TO_MN,
    HOA,
    MN_TO_HA,
    build,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
    static_keying,
    tree_tool,
)

pytestmark = pytest.mark.lab

def template_mismatches(host: Host) -> int:
    for line in host.run("cat", "/proc/net/xfrm_stat").splitlines():
        name, value = line.split()
        if name == "XfrmInTmplMismatch":
            return int(value)
    raise AssertionError("no XfrmInTmplMismatch in /proc/net/xfrm_stat")


def test_static_ipsec_protects_bu_and_ba(net: Topology) -> None:
    m = build(net)
    acl = f"BindingAclPolicy {HOA} allow;"
    ha = start_mip6d(net, m.ha, "ha",
                     static_keying(ha_config(net.workdir, acl=acl, default="deny")))
    capture = net.capture(m.ha, "ha-r")
    mn = start_mip6d(net, m.mn, "mn", static_keying(mn_config(net.workdir)))

    ack = mn.wait_event("received", message="BindingAck", timeout=60)
    assert ack["status"] == 0, ack
    ping_until(m.cn, HOA)
    states = m.ha.run("ip", "xfrm", "state")
    assert f"spi {MN_TO_HA:#010x}" in states and f"spi {HA_TO_MN:#010x}" in states, states

    # An unprotected Binding Update for the same home address: the kernel drops it (the
    # home address's policy wants ESP), the daemon never sees it, no acknowledgement.
    before = template_mismatches(m.ha)
    mark = ha.mark()
    m.cn.run(*tree_tool("mh_client", str(m.cn_address), str(HA_ADDRESS), str(HOA),
                        "40000", "AH"))
    time.sleep(2)  # the refusal is silent: give an answer time to show up
    assert template_mismatches(m.ha) == before + 1
    assert not [r for r in ha.records()[mark:] if r.get("sequence") == 40000]

    packets = capture.decode()
    esp = [p["_source"]["layers"] for p in packets if "esp" in p["_source"]["layers"]]
    spis = {int(layers["esp"]["esp.spi"], 0) for layers in esp}
    assert {MN_TO_HA, HA_TO_MN} <= spis, spis
    # tshark nests a Mobility Header in clear under the ipv6 layer (as "mipv6"): look for
    # its type field anywhere in the packet, not for a top-level layer.
    clear = [p for p in packets if '"mip6.mhtype"' in json.dumps(p["_source"]["layers"])]
    assert clear == [], "a Mobility Header message crossed the foreign network in clear"

    # A home agent killed outright leaves its SAs behind. Started again it finds their SPIs
    # taken (`ip xfrm state add` refuses them): it replaces them, and serves the node's
    # registration from its next link.
    ha.process.kill()
    ha.process.wait()
    assert f"spi {MN_TO_HA:#010x}" in m.ha.run("ip", "xfrm", "state")
    ha = start_mip6d(net, m.ha, "ha-again",
                     static_keying(ha_config(net.workdir, acl=acl, default="deny")))
    mark = mn.mark()
    m.move_mn("mn-f2")
    ack = mn.wait(lambda r: r.get("event") == "received" and r.get("message") == "BindingAck",
                  timeout=60, what="BA from the restarted home agent", after=mark)
    assert ack["status"] == 0, ack
    ping_until(m.cn, HOA)

    assert mn.stop() == 0 and ha.stop() == 0
    assert m.ha.run("ip", "xfrm", "state").strip() == ""
    assert m.mn.run("ip", "xfrm", "policy").strip() == ""


# The reference implementation's way (its examples): the set has no StaticKey and no IKE
# daemon keys it (KeyMngMobCapability disabled); the operator installs the SAs with setkey
# or `ip xfrm state`, bound to the policies' reqids. mip6d installs the policies only.
KEYLESS_SET = f"""
IPsecPolicySet {{
    HomeAgentAddress {HA_ADDRESS};
    HomeAddress {HOA}/64;
    IPsecPolicy HomeRegBinding UseESP 11 12;
}}
"""
OPERATOR_SAS = (  # (src, dst, spi, reqid, encryption key, authentication key)
    (HOA, HA_ADDRESS, 0x2011, 11, "0x5e43216e03e5af3527f9780c6d2d2c76",
     "0x928951ce5f434382417ebba459d5680c7f92bb973b175ec6e41865ee0ff5cf53"),
    (HA_ADDRESS, HOA, 0x2012, 12, "0xa10873cfb90da723ac3aaac8db089131",
     "0x1c89c17d904db2e55752d116385d1244c828508f324a14a1d0c1d4489cb628e1"),
)


def test_sas_installed_outside_mip6d_serve_a_set_without_keys(net: Topology) -> None:
    m = build(net)
    for host in (m.ha, m.mn):
        for src, dst, spi, reqid, enc, auth in OPERATOR_SAS:
            host.run("ip", "xfrm", "state", "add", "src", str(src), "dst", str(dst),
                     "proto", "esp", "spi", hex(spi), "reqid", str(reqid), "mode",
                     "transport", "enc", "cbc(aes)", enc, "auth-trunc", "hmac(sha256)",
                     auth, "128")
    keyless = "UseMnHaIPsec enabled;\n" + KEYLESS_SET
    acl = f"BindingAclPolicy {HOA} allow;"
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir, acl=acl, default="deny")
                     .replace("UseMnHaIPsec disabled;", keyless))
    capture = net.capture(m.ha, "ha-r")
    mn = start_mip6d(net, m.mn, "mn",
                     mn_config(net.workdir).replace("UseMnHaIPsec disabled;", keyless))

    ack = mn.wait_event("received", message="BindingAck", timeout=60)
    assert ack["status"] == 0, ack
    ping_until(m.cn, HOA)
    packets = capture.decode()
    spis = {int(p["_source"]["layers"]["esp"]["esp.spi"], 0)
            for p in packets if "esp" in p["_source"]["layers"]}
    assert {0x2011, 0x2012} <= spis, spis
    clear = [p for p in packets if '"mip6.mhtype"' in json.dumps(p["_source"]["layers"])]
    assert clear == [], "a Mobility Header message crossed the foreign network in clear"
    assert mn.stop() == 0 and ha.stop() == 0
    # mip6d took its policies away and left the operator's SAs where they were.
    for host in (m.ha, m.mn):
        assert host.run("ip", "xfrm", "policy").count("reqid") == 0
        states = host.run("ip", "xfrm", "state")
        assert "spi 0x00002011" in states and "spi 0x00002012" in states, states
