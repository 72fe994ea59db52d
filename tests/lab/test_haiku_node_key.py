"""Issue #17: a node that makes its own key. The real service (its unit's command lines,
as in test_haiku_crl.py) and the real boot hook (live/hooks/enroll/homeguy_enroll.py,
its ``enroll``) on the mobile node, with Debian's strongSwan pki: the hook makes the
key, sends its certificate request from the node's namespace with the node token, and
writes the swanctl files; the node's charon (Homeguy's build) loads exactly those files,
authenticates with the key that never left the node, and mip6d registers under ESP.

    cn ---- ha (HA: mip6d, charon; HAiku on [HA]:8080) ---- r ==== mn (mip6d, charon)
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv6Address
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from test_haiku_crl import child_installed, create_node, start_mn, start_service
from test_haiku_mip6d import BASE, _enter_netns, bindings

from homeguy.git import TOP
from homeguy.lab.topology import Topology
from testkit import strongswan_lab
from testkit.mip6d_ike import clear_mh, esp_between
from testkit.mip6d_topology import (
    F1,
    HA_ADDRESS,
    HA_CONTROL_SOCKET,
    HOME,
    ROAMING_OFF,
    SOURCE_FROM_ROUTES,
    build,
    dynamic_keying,
    ha_config,
    start_mip6d,
)
from testkit.strongswan_lab import Charon

pytestmark = pytest.mark.lab

HOOK = TOP / "live" / "hooks" / "enroll" / "homeguy_enroll.py"


def load_hook(tmp: Path) -> ModuleType:
    """The boot hook, its outcome file, banner, screen and kept answer under ``tmp``."""
    os.environ.update(HOMEGUY_ENROLLMENT=str(tmp / "enrollment.json"),
                      HOMEGUY_ISSUE=str(tmp / "issue"), HOMEGUY_SCREEN=str(tmp / "screen"),
                      HOMEGUY_KEPT=str(tmp / "node-config.json"))
    spec = importlib.util.spec_from_file_location("homeguy_enroll", HOOK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["homeguy_enroll"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("variant", ["homeguy"])
def test_a_key_made_on_the_node_authenticates_its_registration(
        net: Topology, variant: str) -> None:
    m = build(net)
    ha, mn = m.ha, m.mn
    coa = mn.wait_address("mn-f1", within=F1)
    tmp = Path(tempfile.mkdtemp(prefix="haiku-node-key-"))
    user, secrets = start_service(net, ha, tmp)
    node, token = create_node(user, key_origin="node")
    assert node["key_origin"] == "node"
    hoa = IPv6Address(node["home_address"])
    assert hoa in HOME

    # The node enrolls: the hook's own enroll(), its HTTP from the node's namespace.
    hook = load_hook(tmp)
    root = tmp / "mn-root"
    settings = hook.Settings(BASE, token, 120.0, allow_http=True)
    with ThreadPoolExecutor(1, initializer=_enter_netns, initargs=(mn.name,)) as pool:
        plan, _ = pool.submit(hook.enroll, settings, root, lambda path: None,
                              lambda plan: None).result()
    swanctl = root / "etc" / "swanctl"
    files = {str(p.relative_to(swanctl)): p.read_text()
             for p in sorted(swanctl.rglob("*.*")) if p.is_file()}
    assert sorted(files) == ["conf.d/haiku-mip6.conf", "private/haiku-node.pem",
                             "x509/haiku-node.pem", "x509ca/haiku-ca.pem"], sorted(files)
    assert (swanctl / "private/haiku-node.pem").stat().st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key(files["private/haiku-node.pem"].encode(), None)
    certificate = x509.load_pem_x509_certificate(files["x509/haiku-node.pem"].encode())
    certificate.verify_directly_issued_by(
        x509.load_pem_x509_certificate((secrets / "ca.pem").read_bytes()))
    assert certificate.public_key() == key.public_key()  # type: ignore[union-attr]
    reqid = next(int(line.split("=")[1]) for line in
                 files["conf.d/haiku-mip6.conf"].splitlines()
                 if line.strip().startswith("reqid ="))
    assert plan.node["home_address"] == str(hoa)

    # The home agent's side as in test_haiku_crl.py; the node's charon gets exactly the
    # files the hook wrote.
    written = tmp / "swanctl"
    ha_files = {str(path.relative_to(written)): path.read_text()
                for path in sorted(written.rglob("*.*")) if path.is_file()}
    ha_charon = Charon(net, ha, variant, str(HA_ADDRESS), plugins=strongswan_lab.PLUGINS_CURL)
    ha_charon.start_with(ha_files, ROAMING_OFF, SOURCE_FROM_ROUTES, install_routes=True)
    mn_charon = Charon(net, mn, variant, str(hoa))
    mn_charon.start_with(files, ROAMING_OFF, SOURCE_FROM_ROUTES, install_routes=True)
    capture = net.capture(m.r, "r-ha", "ip6")
    ha_mip6d = start_mip6d(net, ha, "ha", dynamic_keying(
        ha_config(net.workdir, acl=f"BindingAclPolicy {hoa} allow;", default="deny"),
        {"Mh": reqid}, hoa))
    mn_mip6d = start_mn(net, mn, "mn", hoa, reqid)

    ack = mn_mip6d.wait_event("received", message="BindingAck", after=0, timeout=120)
    assert ack["status"] == 0, ack
    mn_mip6d.wait_event("binding-registered", after=0)
    assert bindings(Path(HA_CONTROL_SOCKET))[str(hoa)]["care_of"] == str(coa)
    assert child_installed(ha_charon) and child_installed(mn_charon)
    mn_log = mn_charon.log()
    assert f"authentication of '{hoa}' (myself) with ECDSA" in mn_log, mn_log[-4000:]
    assert "certificate status is good" in ha_charon.log(), ha_charon.log()[-4000:]
    packets = capture.decode()
    assert clear_mh(packets) == [], "a Mobility Header message crossed in clear"
    assert esp_between(packets, coa, HA_ADDRESS) >= 1, "the BU was not ESP"
    assert esp_between(packets, HA_ADDRESS, coa) >= 1, "the BA was not ESP"
    assert mn_mip6d.stop() == 0 and ha_mip6d.stop() == 0
    user.close()
