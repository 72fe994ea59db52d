"""mip6d with IKEv2 keying (RFC 4877) and real charon on both ends, as the lab tests and
the keying benchmark set it up: the swanctl.conf a user writes (packages/mip6d/README.md,
"Dynamic keying"), mip6d's policies with the CHILD_SAs' reqids, and what the captures
are read for."""

from __future__ import annotations

import json
from ipaddress import IPv6Address
from typing import Any

from homeguy.lab.topology import Topology
from testkit import strongswan_lab
from testkit.mip6d_topology import (
    F1,
    HA_ADDRESS,
    HOA,
    ROAMING_OFF,
    SOURCE_FROM_ROUTES,
    Daemon,
    Mobility,
    dynamic_keying,
    ha_config,
    mn_config,
    start_mip6d,
)
from testkit.strongswan_lab import Charon

VARIANT = "homeguy"
BINDING_REQID, PAYLOAD_REQID = 11, 13
# What a user writes (see packages/mip6d/README.md, "Dynamic keying").
SWANCTL = """\
connections {{
  mip6 {{
    version = 2
    {addrs}
    local {{
      auth = pubkey
      certs = {name}.pem
      id = {local_id}
    }}
    remote {{
      auth = pubkey
      id = {remote_id}
    }}
    children {{
      binding {{
        mode = transport_proxy
        policies = no
        reqid = {binding}
        local_ts = {local_hoa}/128[135],{local_hoa}/128[58]
        remote_ts = {remote_hoa}/128[135],{remote_hoa}/128[58]
        start_action = {start}
      }}{payload}
    }}
  }}
}}
"""
PAYLOAD_CHILD = """
      payload {{
        mode = transport
        policies = no
        reqid = {reqid}
        local_ts = dynamic[41]
        remote_ts = dynamic[41]
        start_action = {start}
      }}"""


def protected(config: str, payload: bool) -> str:
    policies = {"HomeRegBinding": BINDING_REQID, "MobPfxDisc": BINDING_REQID}
    if payload:
        policies["TunnelPayload"] = PAYLOAD_REQID
    return dynamic_keying(config, policies)


def swanctl(mn_side: bool, payload: bool) -> str:
    start = "trap" if mn_side else "none"
    child = PAYLOAD_CHILD.format(reqid=PAYLOAD_REQID, start=start) if payload else ""
    if mn_side:
        return SWANCTL.format(addrs=f"remote_addrs = {HA_ADDRESS}", name="mn",
                              local_id="mn.lab", remote_id="ha.lab", binding=BINDING_REQID,
                              local_hoa=HOA, remote_hoa=HA_ADDRESS, start=start,
                              payload=child)
    return SWANCTL.format(addrs=f"local_addrs = {HA_ADDRESS}", name="ha", local_id="ha.lab",
                          remote_id="mn.lab", binding=BINDING_REQID, local_hoa=HA_ADDRESS,
                          remote_hoa=HOA, start=start, payload=child)


def start_all(net: Topology, m: Mobility, payload: bool,
              variant: str = VARIANT) -> tuple[Charon, Charon, Daemon, Daemon]:
    """Both charons (`variant`'s strongSwan build), then the home agent's and the mobile
    node's mip6d."""
    m.mn.wait_address("mn-f1", within=F1)
    credentials = strongswan_lab.make_credentials(net, m.mn, variant,
                                                  {"mn": "mn.lab", "ha": "ha.lab"})
    ha_ike = Charon(net, m.ha, variant, "ha.lab")
    mn_ike = Charon(net, m.mn, variant, "mn.lab")
    for charon, mn_side in ((ha_ike, False), (mn_ike, True)):
        charon.start(credentials, swanctl(mn_side, payload), ROAMING_OFF,
                     SOURCE_FROM_ROUTES, install_routes=True)
    acl = f"BindingAclPolicy {HOA} allow;"
    ha = start_mip6d(net, m.ha, "ha", protected(
        ha_config(net.workdir, acl=acl, default="deny"), payload))
    mn = start_mip6d(net, m.mn, "mn", protected(mn_config(net.workdir), payload))
    return mn_ike, ha_ike, mn, ha


def ike_sa_inits(charon: Charon) -> int:
    return charon.log().count("generating IKE_SA_INIT request")


def layers(packets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p["_source"]["layers"] for p in packets]


def clear_mh(packets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in layers(packets) if '"mip6.mhtype"' in json.dumps(p)]


def esp_between(packets: list[dict[str, Any]], a: IPv6Address, b: IPv6Address) -> int:
    """ESP packets from a to b (outer addresses)."""
    return sum(1 for p in layers(packets) if "esp" in p
               and (p["ipv6"]["ipv6.src"], p["ipv6"]["ipv6.dst"]) == (str(a), str(b)))


def list_sas(charon: Charon) -> str:
    return charon.swanctl("--list-sas")
