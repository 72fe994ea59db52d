"""Acceptance 4 of issue #7: a node whose certificate is revoked in HAiku can no longer
register. The real service (its unit's command lines, as in test_haiku_mip6d.py) issues
the node's certificate; the home agent's charon (Homeguy's build) trusts the service's CA
and checks revocation against the service's CRL, fetched over HTTP from the distribution
point the certificate names (revocation and curl plugins, ``revocation = strict``).

    mn (COA on mn-ha0, HOA on lo) ---- ha (HA; HAiku on [HA]:8080; charon)

The node runs charon with exactly the swanctl files it fetched with its token
(``policies = no``: mip6d installs the policies, with the reqid charon finds the CHILD_SA
by). Until the lab runs mip6d with IKEv2 keying (issue #7, h/ike), "register" is
:func:`register`, and :func:`mip6d_policies` installs what mip6d's MN and HA would for
the node's signalling (``IPsecPolicy Mh UseESP <reqid>``: MH between home address and
home agent only under ESP): Binding Updates from the home address (tests/lab/mh_send.py)
must reach the home agent's Mobility Header socket (tests/lab/mh_recv.py), which they
do only over an SA that IKE set up. These two are what to switch to mip6d's HA and MN.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

import pytest
import strongswan_lab
from cryptography import x509
from haiku import ca  # the service's own CA code: pure, no Django
from haiku.core.render import Keying, NodeKind, NodeSpec, ha_swanctl_text
from mip6d_topology import HA_ADDRESS, HOME, ROOT
from strongswan_lab import Charon
from test_haiku_mip6d import (
    BASE,
    PASSWORD,
    Browser,
    service_environment,
    unit_command,
    unit_lines,
    wait_http,
)
from test_strongswan_mip6 import layers, mh_types, send

from homeguy.lab.topology import Host, Topology

pytestmark = pytest.mark.lab


COA = IPv6Address("2001:db8:2::10")
MH_RECV = Path(__file__).with_name("mh_recv.py")
# Short, so that the home agent fetches the CRL again soon after a revocation (charon
# keeps a fetched CRL until its nextUpdate).
CRL_LIFETIME = 20
TRIES = 8


def received_bus(log: Path, hoa: IPv6Address) -> int:
    """How many BUs from ``hoa`` the home agent's MH socket got."""
    if not log.exists():
        return 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return sum(1 for r in records if r["type"] == "BindingUpdate" and r["src"] == str(hoa))


def child_installed(charon: Charon) -> bool:
    return "INSTALLED" in charon.swanctl("--list-sas")


def register(mn: Charon, hoa: IPv6Address, inbox: Path) -> bool:
    """Whether the node registers: BUs from its home address (the first ones raise the
    acquire that makes its charon negotiate the SA) until one reaches the home agent."""
    before = received_bus(inbox, hoa)
    for _ in range(TRIES):
        send(mn, "bu", str(hoa), str(HA_ADDRESS))
        time.sleep(1)
        if received_bus(inbox, hoa) > before:
            return True
    return False


def mip6d_policies(mn: Host, ha: Host, hoa: IPv6Address, reqid: int) -> None:
    """The policies mip6d installs for the node's signalling with dynamic keying: MH from
    the home address to the home agent under ESP with the CHILD_SA's reqid, out on the
    node (its first BU raises the acquire), in on the home agent (MH in clear dropped)."""
    for host, direction in ((mn, "out"), (ha, "in")):
        host.run("ip", "xfrm", "policy", "add", "src", f"{hoa}/128",
                 "dst", f"{HA_ADDRESS}/128", "proto", "135", "dir", direction,
                 "tmpl", "proto", "esp", "mode", "transport", "reqid", str(reqid),
                 "level", "required")


def xfrm_in_tmpl_mismatch(host: Host) -> int:
    stats = host.run("cat", "/proc/net/xfrm_stat")
    found = re.search(r"XfrmInTmplMismatch\s+(\d+)", stats)
    assert found, stats
    return int(found.group(1))


def start_service(net: Topology, ha: Host, tmp: Path) -> tuple[Browser, Path]:
    env = service_environment(tmp, tmp / "no-mip6d.sock", net.workdir / "nodes.d")
    env += [f"HAIKU_BASE_URL={BASE}", f"HAIKU_CRL_LIFETIME={CRL_LIFETIME}"]
    for line in unit_lines("ExecStartPre"):
        ha.run(*env, *unit_command(line), timeout=600)
    service = ha.spawn(*env, *unit_command(unit_lines("ExecStart")[0]),
                       log=net.workdir / "haiku.log")
    user = Browser(ha)
    wait_http(user, "/healthz", service)
    return user, tmp / "secrets"


def create_node(user: Browser) -> tuple[dict[str, Any], str]:
    done = user.post_form("/accounts/register/", {
        "username": "alice", "email": "alice@example.org",
        "password1": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 302, done.text
    login = user.post_form("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert login.status_code == 302, login.text
    page = user.post_form("/nodes/new/", {"name": "laptop", "kind": "host",
                                          "prefix_count": "0", "keying": "certificate",
                                          "interface": "eth0"})
    assert page.status_code == 200, page.text
    found = re.search(r'<p class="token" id="token">([^<]+)</p>', page.text)
    assert found, page.text
    (node,) = user.get("/api/v1/nodes").json()["nodes"]
    return node, found.group(1)


def crl_serials(browser: Browser) -> set[int]:
    response = browser.get("/ca/crl")
    assert response.headers["Content-Type"] == "application/pkix-crl"
    return {entry.serial_number for entry in x509.load_der_x509_crl(response.content)}


@pytest.mark.parametrize("variant", ["homeguy"])
def test_revoked_certificate_is_refused_and_the_node_cannot_register(
        net: Topology, variant: str) -> None:
    ha, mn = net.host("ha"), net.host("mn")
    net.link(mn, ha, a_address=f"{COA}/64", b_address=f"{HA_ADDRESS}/64")
    mn.run("ip", "-6", "route", "add", str(HOME), "dev", "mn-ha0")
    ha.run("ip", "-6", "route", "add", f"{COA}/128", "dev", "ha-mn0")

    tmp = Path(tempfile.mkdtemp(prefix="haiku-crl-"))  # guest-local: SQLite, secrets
    user, secrets_dir = start_service(net, ha, tmp)
    node, token = create_node(user)
    hoa = IPv6Address(node["home_address"])
    assert hoa in HOME

    # The node fetches its configuration; its charon gets exactly the swanctl files.
    device = Browser(mn)
    reply = device.get("/api/v1/node/config", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    config = reply.json()
    device.close()
    swanctl_files = {f["path"].removeprefix("/etc/swanctl/"): f["content"]
                     for f in config["files"] if f["path"].startswith("/etc/swanctl/")}
    assert sorted(swanctl_files) == ["conf.d/haiku-mip6.conf", "private/haiku-node.pem",
                                     "x509/haiku-node.pem", "x509ca/haiku-ca.pem"]
    certificate = x509.load_pem_x509_certificate(config["keying"]["certificate_pem"].encode())
    found = re.search(r"^\s+reqid = (\d+)$", swanctl_files["conf.d/haiku-mip6.conf"], re.M)
    assert found, swanctl_files["conf.d/haiku-mip6.conf"]
    reqid = int(found.group(1))
    assert f"IPsecPolicy Mh UseESP {reqid};" in config["mip6d_conf"]
    mn.run("ip", "-6", "addr", "add", f"{hoa}/128", "dev", "lo")

    # The home agent: its own certificate from the service's CA (made here with the
    # service's CA code and key), the service's CA as the one it trusts for nodes, the
    # node's connection as the service renders it (haiku.core.keys: the node's reqids
    # are consecutive from its signalling one).
    authority = ca.load_or_create(secrets_dir)
    ha_cert = authority.issue("home agent", str(HA_ADDRESS))
    ha_charon = Charon(net, ha, variant, str(HA_ADDRESS), plugins=strongswan_lab.PLUGINS_CURL)
    ha_charon.start_with({
        "x509ca/haiku-ca.pem": authority.certificate_pem,
        "x509/ha.pem": ha_cert.certificate_pem,
        "private/ha.pem": ha_cert.private_key_pem,
        "conf.d/node.conf": ha_swanctl_text(NodeSpec(
            "laptop", NodeKind.HOST, hoa, HOME.prefixlen, HA_ADDRESS, (), Keying.CERTIFICATE,
            False, (reqid, reqid + 1, reqid + 2, reqid + 3)), "ha.pem", "haiku-ca.pem")})
    mip6d_policies(mn, ha, hoa, reqid)
    inbox = net.workdir / "ha-mh.jsonl"
    ha.spawn("env", f"PYTHONPATH={ROOT}/packages/mip6d", sys.executable, str(MH_RECV),
             str(inbox), log=net.workdir / "mh_recv.log")
    mn_charon = Charon(net, mn, variant, str(hoa))
    mn_charon.start_with(swanctl_files)
    capture = net.capture(ha, "ha-mn0", "ip6 proto 135 or ip6 proto 50")

    # A valid certificate: the HA fetches the service's CRL, the SA comes up, BUs arrive
    # under ESP only.
    assert register(mn_charon, hoa, inbox), (
        "the node with a valid certificate did not register\nHA charon:\n"
        + ha_charon.log()[-4000:] + "\nMN charon:\n" + mn_charon.log()[-3000:])
    fetched_at = time.monotonic()
    ha_log = ha_charon.log()
    assert f"fetching crl from '{BASE}/ca/crl'" in ha_log, ha_log[-4000:]
    assert "certificate status is good" in ha_log, ha_log[-4000:]
    assert child_installed(ha_charon)
    packets = capture.decode()
    assert mh_types(packets) == [], "a BU went out in clear"
    assert layers(packets, "esp")

    # The user revokes the certificate in the service; the CRL lists it.
    revoked = user.post(f"/nodes/{node['id']}/certificate/revoke/",
                        referer=f"/nodes/{node['id']}/")
    assert revoked.status_code == 302, revoked.text
    assert certificate.serial_number in crl_serials(user)
    # Once the CRL the HA holds has expired, the node's next IKE authentication (here:
    # its SAs are gone, as after a reboot or a reauthentication) is refused.
    time.sleep(max(0.0, fetched_at + CRL_LIFETIME + 2 - time.monotonic()))
    mn_charon.swanctl("--terminate", "--ike", "haiku-mip6")
    assert not child_installed(mn_charon)
    mark = len(ha_charon.log())
    assert not register(mn_charon, hoa, inbox), "the revoked node registered"
    refused = ha_charon.log()[mark:]
    assert "certificate was revoked" in refused, refused[-4000:]
    assert "AUTHENTICATION_FAILED" in mn_charon.log(), mn_charon.log()[-3000:]
    assert not child_installed(ha_charon) and not child_installed(mn_charon)

    # Without IKE, a BU sent in clear (the node's policies flushed) is dropped by the HA's
    # kernel: it never reaches the MH socket.
    mn.run("ip", "xfrm", "policy", "flush")
    mn.run("ip", "xfrm", "state", "flush")
    mismatches = xfrm_in_tmpl_mismatch(ha)
    before = received_bus(inbox, hoa)
    clear = net.capture(ha, "ha-mn0", "ip6 proto 135")
    send(mn_charon, "bu", str(hoa), str(HA_ADDRESS), 2)
    time.sleep(1)
    assert mh_types(clear.decode()) == [5, 5], "the clear BUs did not reach the HA's link"
    assert received_bus(inbox, hoa) == before
    assert xfrm_in_tmpl_mismatch(ha) >= mismatches + 2
    user.close()
