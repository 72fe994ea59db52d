"""Acceptance 4 of issue #7: a node whose certificate is revoked in HAiku can no longer
register. The real service (its unit's command lines, as in test_haiku_mip6d.py) issues
the node's certificate; the home agent's charon (Homeguy's build) trusts the service's CA
and checks revocation against the service's CRL, fetched over HTTP from the distribution
point the certificate names (revocation and curl plugins, ``revocation = strict``).

    cn ---- ha (HA: mip6d, charon; HAiku on [HA]:8080) ---- r ==== mn (mip6d, charon)

(mip6d_topology.build: the node on foreign link 1.) The node's charon runs with exactly
the swanctl files it fetched with its token (``policies = no``); mip6d on both ends runs
with IKEv2 keying as in test_mip6d_ike.py (``KeyMngMobCapability``, the service's
``IPsecPolicy Mh UseESP <reqid>``): the node's first Binding Update raises the acquire
with that reqid, its charon negotiates the CHILD_SA, BU and BA cross under ESP. Once
revoked, the node's IKE authentication is refused and no Binding Update reaches the home
agent: the node cannot register.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from test_haiku_mip6d import (
    BASE,
    PASSWORD,
    Browser,
    bindings,
    service_account,
    service_environment,
    unit_command,
    unit_lines,
    wait_http,
)

from homeguy.lab.topology import Host, Topology
from testkit import strongswan_lab
from testkit.mip6d_ike import clear_mh, esp_between
from testkit.mip6d_topology import (
    F1,
    HA_ADDRESS,
    HA_CONTROL_SOCKET,
    HOME,
    ROAMING_OFF,
    SOURCE_FROM_ROUTES,
    Daemon,
    build,
    dynamic_keying,
    ha_config,
    mn_config,
    start_mip6d,
)
from testkit.strongswan_lab import Charon

pytestmark = pytest.mark.lab


# Short, so that the home agent fetches the CRL again soon after a revocation (charon
# keeps a fetched CRL until its nextUpdate).
CRL_LIFETIME = 20
HA_CONTROL = Path(HA_CONTROL_SOCKET)


def child_installed(charon: Charon) -> bool:
    return "INSTALLED" in charon.swanctl("--list-sas")


def start_mn(net: Topology, mn: Host, name: str, hoa: IPv6Address, reqid: int) -> Daemon:
    """The node's mip6d (log ``<name>.log``), IKEv2-keyed with the service's reqid."""
    return start_mip6d(net, mn, name, dynamic_keying(
        mn_config(net.workdir, hoa=hoa), {"Mh": reqid}, hoa))


# swanctl's directories the service writes, as strongSwan's swanctl package and the haiku
# package's dpkg-statoverrides make them: root's, group haiku, sticky.
SWANCTL_DIRS = {"conf.d": 0o1775, "x509": 0o1775, "x509ca": 0o1775, "x509crl": 0o1775,
                "private": 0o1770}


def start_service(net: Topology, ha: Host, tmp: Path) -> tuple[Browser, Path]:
    """The service as its unit runs it (its user haiku, test_haiku_mip6d.unit_command)."""
    env = service_environment(tmp, tmp / "run" / "no-mip6d.sock")
    # The home agent's swanctl directory; its charon starts once the node exists and
    # loads the files then (no reload command).
    (tmp / "swanctl").mkdir()
    for name, mode in SWANCTL_DIRS.items():
        (tmp / "swanctl" / name).mkdir()
        os.chown(tmp / "swanctl" / name, 0, service_account().gid)
        (tmp / "swanctl" / name).chmod(mode)
    env += [f"HAIKU_BASE_URL={BASE}", f"HAIKU_CRL_LIFETIME={CRL_LIFETIME}",
            f"HAIKU_SWANCTL_DIR={tmp / 'swanctl'}", "HAIKU_SWANCTL_RELOAD="]
    for line in unit_lines("ExecStartPre"):
        ha.run(*unit_command(line, env), timeout=600)
    service = ha.spawn(*unit_command(unit_lines("ExecStart")[0], env),
                       log=net.workdir / "haiku.log")
    user = Browser(ha)
    wait_http(user, "/healthz", service)
    return user, tmp / "secrets"


def create_node(user: Browser, **fields: str) -> tuple[dict[str, Any], str]:
    done = user.post_form("/accounts/register/", {
        "username": "alice", "email": "alice@example.org",
        "password1": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 302, done.text
    login = user.post_form("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert login.status_code == 302, login.text
    page = user.post_form("/nodes/new/", {"name": "laptop", "kind": "host",
                                          "prefix_count": "0", "keying": "certificate",
                                          "interface": "eth0", **fields})
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
    m = build(net)
    ha, mn = m.ha, m.mn
    coa = mn.wait_address("mn-f1", within=F1)

    tmp = Path(tempfile.mkdtemp(prefix="haiku-crl-"))  # guest-local: SQLite, secrets
    user, _ = start_service(net, ha, tmp)
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
    assert "KeyMngMobCapability enabled;" in config["mip6d_conf"]

    # The home agent's charon gets exactly what the service wrote into its swanctl
    # directory: the service's CA, the home agent's own certificate from it, the node's
    # connection (haiku/swanctl.py). Both charons as in test_mip6d_ike.py.
    written = tmp / "swanctl"
    ha_files = {str(path.relative_to(written)): path.read_text()
                for path in sorted(written.rglob("*.*")) if path.is_file()}
    assert sorted(ha_files) == [f"conf.d/haiku-{node['id']}.conf", "private/haiku-ha.pem",
                                "x509/haiku-ha.pem", "x509ca/haiku-ca.pem"], sorted(ha_files)
    assert f"reqid = {reqid}" in ha_files[f"conf.d/haiku-{node['id']}.conf"]
    ha_charon = Charon(net, ha, variant, str(HA_ADDRESS), plugins=strongswan_lab.PLUGINS_CURL)
    ha_charon.start_with(ha_files, ROAMING_OFF, SOURCE_FROM_ROUTES, install_routes=True)
    mn_charon = Charon(net, mn, variant, str(hoa))
    mn_charon.start_with(swanctl_files, ROAMING_OFF, SOURCE_FROM_ROUTES, install_routes=True)
    capture = net.capture(m.r, "r-ha", "ip6")
    ha_mip6d = start_mip6d(net, ha, "ha", dynamic_keying(
        ha_config(net.workdir, acl=f"BindingAclPolicy {hoa} allow;", default="deny"),
        {"Mh": reqid}, hoa))
    mn_mip6d = start_mn(net, mn, "mn", hoa, reqid)

    # A valid certificate: the HA fetches the service's CRL, the SA comes up, the node
    # registers with BU and BA under ESP only.
    ack = mn_mip6d.wait_event("received", message="BindingAck", after=0, timeout=120)
    assert ack["status"] == 0, ack
    mn_mip6d.wait_event("binding-registered", after=0)
    fetched_at = time.monotonic()
    assert bindings(HA_CONTROL)[str(hoa)]["care_of"] == str(coa), bindings(HA_CONTROL)
    ha_log = ha_charon.log()
    assert f"fetching crl from '{BASE}/ca/crl'" in ha_log, ha_log[-4000:]
    assert "certificate status is good" in ha_log, ha_log[-4000:]
    assert child_installed(ha_charon)
    packets = capture.decode()
    assert clear_mh(packets) == [], "a Mobility Header message crossed in clear"
    assert esp_between(packets, coa, HA_ADDRESS) >= 1, "the BU was not ESP"
    assert esp_between(packets, HA_ADDRESS, coa) >= 1, "the BA was not ESP"

    # The user revokes the certificate in the service; the CRL lists it.
    revoked = user.post(f"/nodes/{node['id']}/certificate/revoke/",
                        referer=f"/nodes/{node['id']}/")
    assert revoked.status_code == 302, revoked.text
    assert certificate.serial_number in crl_serials(user)
    # The node goes away (it deregisters; its SAs go, as after a reboot) and comes back
    # once the CRL the HA holds has expired: its IKE authentication is refused.
    assert mn_mip6d.stop() == 0
    deadline = time.monotonic() + 30
    while str(hoa) in bindings(HA_CONTROL):
        assert time.monotonic() < deadline, "the HA kept the binding after deregistration"
        time.sleep(0.5)
    mn_charon.swanctl("--terminate", "--ike", "haiku-mip6")
    assert not child_installed(mn_charon)
    time.sleep(max(0.0, fetched_at + CRL_LIFETIME + 2 - time.monotonic()))
    mark = len(ha_charon.log())
    ha_mark = ha_mip6d.mark()
    capture = net.capture(m.r, "r-ha", "ip6")
    (net.workdir / "mn-state.json").unlink(missing_ok=True)  # a live image keeps none
    mn_mip6d = start_mn(net, mn, "mn-revoked", hoa, reqid)
    deadline = time.monotonic() + 90
    while "certificate was revoked" not in (refused := ha_charon.log()[mark:]):
        assert time.monotonic() < deadline, "the HA did not refuse the revoked certificate:\n" \
            + refused[-4000:]
        time.sleep(1)
    time.sleep(10)  # the node's BU retransmissions go on; none may register
    assert "AUTHENTICATION_FAILED" in mn_charon.log(), mn_charon.log()[-3000:]
    assert not [r for r in mn_mip6d.records() if r.get("event") == "binding-registered"
                or r.get("message") == "BindingAck"], "the revoked node got a BA"
    assert any(r.get("event") == "binding-update-sent" for r in mn_mip6d.records())
    assert str(hoa) not in bindings(HA_CONTROL), "the revoked node registered"
    assert not [r for r in ha_mip6d.records()[ha_mark:]
                if r.get("message") == "BindingUpdate"], "a BU reached the HA's mip6d"
    assert not child_installed(ha_charon) and not child_installed(mn_charon)
    assert clear_mh(capture.decode()) == [], "a Mobility Header message crossed in clear"
    assert mn_mip6d.stop() == 0 and ha_mip6d.stop() == 0
    user.close()
