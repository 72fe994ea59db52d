"""IKEv2 keying for Mobile IPv6 signalling with the real charon (RFC 4877): which of the
candidate defects are real, shown with Debian's stock strongSwan and Homeguy's patched
build side by side.

Two namespaces on one link: the mobile node (MN, home address HOA) and the home agent
(HA). Each runs charon with a certificate from a throwaway CA (pki). The MN's CHILD_SA
is trapped (start_action = trap): the first Binding Update that matches its policy
raises an acquire, IKE negotiates the SA, and the next BUs travel under ESP. The BUs are
plain Mobility Header packets from HOA (testkit/mh_send.py): only the MH type matters
to the policy under test.

Traffic selectors carry the MH type like the ICMP type: in the most significant 8 bits
of the sender's port (RFC 4301, 4.4.1.1), so BU (type 5) is port 1280, BA (6) is 1536.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from homeguy.lab.topology import Topology
from homeguy.run import run
from testkit import strongswan_lab
from testkit.mip6d_topology import tree_tool
from testkit.strongswan_lab import Charon

pytestmark = pytest.mark.lab

HOA, HA, COA = "2001:db8:1::10", "2001:db8:1::1", "2001:db8:2::10"
BU_PORT, BA_PORT = 5 << 8, 6 << 8
MH = 135
ACQUIRE_TRIES = 10

CONNECTION = """\
connections {{
  mip6 {{
    version = 2
    local_addrs = {local}
    remote_addrs = {remote}
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
      mh {{
        mode = {mode}
        local_ts = {local_ts}
        remote_ts = {remote_ts}
        start_action = {start}
      }}
    }}
  }}
}}
"""

STOCK_MH_DEFECT = ("Debian's kernel-netlink passes the MH type port (type << 8) unchanged "
                   "into the kernel selector's source port, where the kernel expects the "
                   "bare type: the policy never matches a BU (patch 0001)")


def ts(address: str, port: int | None) -> str:
    return f"{address}/128[{MH}/{port}]" if port is not None else f"{address}/128[{MH}]"


def start_pair(net: Topology, variant: str, mn_ports: tuple[int | None, int | None],
               ike_address: str = HOA, mode: str = "transport") -> tuple[Charon, Charon]:
    """MN and HA with `variant`'s charon; MN's (local, remote) MH ports, HA's mirrored.
    The MN runs IKE from `ike_address` (its home address, or a care-of address)."""
    mn_host, ha_host = net.host("mn"), net.host("ha")
    net.link(mn_host, ha_host, a_address=f"{HOA}/64", b_address=f"{HA}/64")
    if ike_address != HOA:
        mn_host.run("ip", "-6", "addr", "add", f"{ike_address}/64", "dev", "mn-ha0", "nodad")
        ha_host.run("ip", "-6", "route", "add", f"{ike_address}/128", "dev", "ha-mn0")
    ca = strongswan_lab.make_credentials(net, mn_host, variant, {"mn": "mn.lab", "ha": "ha.lab"})
    mn = Charon(net, mn_host, variant, "mn.lab")
    ha = Charon(net, ha_host, variant, "ha.lab")
    local, remote = mn_ports
    ha.start(ca, CONNECTION.format(local=HA, remote=ike_address, name="ha", local_id="ha.lab",
                                   remote_id="mn.lab", local_ts=ts(HA, remote),
                                   remote_ts=ts(HOA, local), start="none", mode=mode))
    mn.start(ca, CONNECTION.format(local=ike_address, remote=HA, name="mn", local_id="mn.lab",
                                   remote_id="ha.lab", local_ts=ts(HOA, local),
                                   remote_ts=ts(HA, remote), start="trap", mode=mode))
    return mn, ha


def send(charon: Charon, kind: str, src: str, dst: str, count: int = 1) -> None:
    charon.host.run(*tree_tool("mh_send", src, dst, kind, str(count)))


def child_installed(charon: Charon) -> bool:
    return "INSTALLED" in charon.swanctl("--list-sas")


def bu_until_child_sa(mn: Charon) -> None:
    """Send BUs until the acquire they raise has brought the CHILD_SA up."""
    for _ in range(ACQUIRE_TRIES):
        send(mn, "bu", HOA, HA)
        if child_installed(mn):
            return
        time.sleep(1)
    raise AssertionError(
        f"no CHILD_SA after {ACQUIRE_TRIES} BUs: no acquire from the kernel\n"
        f"MN policies:\n{mn.host.run('ip', 'xfrm', 'policy')}\n"
        f"MN SAs:\n{mn.swanctl('--list-sas')}\n"
        "MN charon log (end):\n" + "\n".join(mn.log().splitlines()[-40:]))


def layers(packets: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p["_source"]["layers"] for p in packets if name in p["_source"]["layers"]]


def fields(tree: Any, name: str) -> Iterator[str]:
    """Every value of field `name` anywhere in tshark's JSON for one packet."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == name:
                yield value
            else:
                yield from fields(value, name)


def mh_types(packets: list[dict[str, Any]]) -> list[int]:
    """The MH types of the packets tshark saw in clear (tshark nests the Mobility Header
    under ipv6 as `mipv6`)."""
    return [int(kind) for p in packets for kind in fields(p["_source"]["layers"],
                                                          "mip6.mhtype")]


@pytest.mark.parametrize("variant", [
    pytest.param("debian", marks=pytest.mark.xfail(reason=STOCK_MH_DEFECT, raises=AssertionError,
                                                    strict=True)),
    "homeguy",
])
def test_bu_selector_on_mh_type_is_esp_protected(net: Topology, variant: str) -> None:
    """Candidate 1: a CHILD_SA for BUs only (HOA[135/1280] to HA): the trap policy's
    kernel selector is MH type 5, a BU raises the acquire and then travels under ESP."""
    mn, ha = start_pair(net, variant, (BU_PORT, None))
    policies = mn.host.run("ip", "xfrm", "policy")
    assert "proto mobility-header type 5" in policies, policies
    capture = net.capture(ha.host, "ha-mn0", "ip6 proto 135 or ip6 proto 50")
    bu_until_child_sa(mn)
    send(mn, "bu", HOA, HA, 2)
    packets = capture.decode()
    assert mh_types(packets) == [], "a BU went out in clear"
    assert len(layers(packets, "esp")) >= 2
    assert "INSTALLED" in ha.swanctl("--list-sas")


def test_kernel_native_mh_type_port_works_with_stock_debian(net: Topology) -> None:
    """Unpatched, a BU-only SA works if the config puts the bare MH type (5) in the port:
    the kernel's encoding, not the RFC's (IKE peers read it as type 0, code 5). Kept to
    show why the stock package seemed to work with such configs."""
    mn, ha = start_pair(net, "debian", (5, None))
    capture = net.capture(ha.host, "ha-mn0", "ip6 proto 135 or ip6 proto 50")
    bu_until_child_sa(mn)
    send(mn, "bu", HOA, HA, 2)
    packets = capture.decode()
    assert mh_types(packets) == []
    assert len(layers(packets, "esp")) >= 2


@pytest.mark.parametrize("variant", [
    pytest.param("debian", marks=pytest.mark.xfail(reason=STOCK_MH_DEFECT, raises=AssertionError,
                                                    strict=True)),
    "homeguy",
])
def test_asymmetric_selectors_protect_bu_one_way_and_ba_the_other(
        net: Topology, variant: str) -> None:
    """Candidate 2: one CHILD_SA, MN side HOA[135/1280] <-> HA[135/1536]: BUs from the MN
    and BAs from the HA under ESP; other MH types not covered by it."""
    mn, ha = start_pair(net, variant, (BU_PORT, BA_PORT))
    mn_policies = mn.host.run("ip", "xfrm", "policy")
    assert "proto mobility-header type 5" in mn_policies, mn_policies
    capture = net.capture(ha.host, "ha-mn0", "ip6 proto 135 or ip6 proto 50")
    bu_until_child_sa(mn)
    send(mn, "bu", HOA, HA)
    send(ha, "ba", HA, HOA)
    # A BA from the MN is not what this SA protects: it goes in clear.
    send(mn, "ba", HOA, HA)
    packets = capture.decode()
    assert mh_types(packets) == [6], "only the MN's BA may travel in clear"
    assert len(layers(packets, "esp")) >= 2
    ha_policies = ha.host.run("ip", "xfrm", "policy")
    assert "proto mobility-header type 6" in ha_policies, ha_policies


@pytest.mark.parametrize("variant", strongswan_lab.VARIANTS)
def test_ike_from_care_of_address_sa_on_home_address(net: Topology, variant: str) -> None:
    """Candidate 3: IKE between the care-of address and the HA, the CHILD_SA's ESP
    between the home address and the HA (RFC 4877 4.3): strongSwan's transport_proxy
    mode. All MH (no type), so that candidate 1 does not interfere."""
    mn, ha = start_pair(net, variant, (None, None), ike_address=COA, mode="transport_proxy")
    capture = net.capture(ha.host, "ha-mn0", "ip6 proto 135 or ip6 proto 50 or udp port 500")
    bu_until_child_sa(mn)
    send(mn, "bu", HOA, HA, 2)
    packets = capture.decode()
    assert mh_types(packets) == []
    esp = layers(packets, "esp")
    assert len(esp) >= 2
    assert {(p["ipv6"]["ipv6.src"], p["ipv6"]["ipv6.dst"]) for p in esp} == {(HOA, HA)}
    ike = layers(packets, "isakmp")
    assert ike and {p["ipv6"]["ipv6.src"] for p in ike} == {COA, HA}
    states = mn.host.run("ip", "xfrm", "state")
    assert f"src {HOA} dst {HA}" in states and f"src {HA} dst {HOA}" in states, states


def test_lab_has_both_strongswan_builds() -> None:
    """The trees the host prepared: Debian's version and ours, with the local suffix."""
    recipe = strongswan_lab.recipe()
    for variant, version in (("debian", recipe.version), ("homeguy", recipe.local_version)):
        listed = (strongswan_lab.tree(variant) / ".debs").read_text()
        assert f"strongswan-charon_{version}_amd64.deb" in listed
    assert run(["true"]).returncode == 0
