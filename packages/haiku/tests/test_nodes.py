"""Nodes against the database (SQLite) and the stand-in home agent (mip6d's control socket
server and parser): allocation, keys, certificates, files, reloads, tokens."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import stat
import threading
import time
from datetime import timedelta
from ipaddress import IPv6Network
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from haiku import control, homeagent
from haiku.core.render import Keying, NodeKind
from haiku.files import read_or_create_secret
from haiku.models import Node, RevokedCertificate, User
from haiku.nodes import NodeRequest, PoolExhausted, create_node, rotate_token
from mip6d.config import parse

from testkit.mip6d_fakes import SilentDaemon, StandInHomeAgent

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]

ROUTER = NodeRequest("mr", NodeKind.ROUTER, 2, Keying.STATIC, protect_all_traffic=True)


def _user(name: str = "alice", **fields: Any) -> User:
    return User.objects.create_user(name, f"{name}@example.org", "correct horse battery",
                                    **fields)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_router_gets_addresses_prefixes_and_a_valid_include(home_agent: StandInHomeAgent
                                                             ) -> None:
    alice = _user()
    node = create_node(alice, ROUTER)
    host = create_node(alice, NodeRequest("mh", NodeKind.HOST, 0, Keying.STATIC))
    assert node.home_address == "2001:db8:1::1000"
    assert host.home_address == "2001:db8:1::1001"
    assert [p.prefix for p in node.prefixes.all()] == [
        "2001:db8:100::/64", "2001:db8:100:1::/64"]
    assert sorted(p.name for p in home_agent.nodes_dir.iterdir()) == sorted([
        f"haiku-{host.pk}.conf", f"haiku-{node.pk}.conf"])
    # mip6d re-read its configuration, with both files, and accepted it.
    assert home_agent.daemon.reloads[-1] == {"ok": True, "error": None}
    acl = {str(a.home_address): a for a in home_agent.daemon.config.binding_acl}
    assert acl["2001:db8:1::1000"].mobile_network_prefixes == (
        IPv6Network("2001:db8:100::/64"), IPv6Network("2001:db8:100:1::/64"))
    assert "2001:db8:1::1001" in acl
    mode = stat.S_IMODE(os.stat(homeagent.include_path(node.pk)).st_mode)
    assert mode == 0o640
    include, conf = homeagent.node_files(node)
    assert include == homeagent.include_path(node.pk).read_text()
    assert parse(conf, "node.conf").home_links[0].is_mob_rtr


def test_exhausted_pools_give_clear_errors(home_agent: StandInHomeAgent,
                                           haiku_settings: Any) -> None:
    haiku_settings.change_haiku(home_pool_size=2, mnp_pool_size=3)
    alice = _user()
    create_node(alice, NodeRequest("a", NodeKind.ROUTER, 2, Keying.STATIC))
    with pytest.raises(PoolExhausted, match="mobile network prefix pool is exhausted"):
        create_node(alice, NodeRequest("b", NodeKind.ROUTER, 2, Keying.STATIC))
    assert not Node.objects.filter(name="b").exists()  # nothing half-made
    create_node(alice, NodeRequest("c", NodeKind.HOST, 0, Keying.STATIC))
    client = _client(alice)
    response = client.post("/nodes/new/", {"name": "d", "kind": "host", "prefix_count": 0,
                                           "keying": "static", "interface": "eth0"})
    assert response.status_code == 200
    assert b"the home address pool is exhausted: all 2 of its /128" in response.content


def test_certificate_node(home_agent: StandInHomeAgent, caplog: pytest.LogCaptureFixture
                          ) -> None:
    caplog.set_level(logging.DEBUG)
    alice = _user()
    node = create_node(alice, NodeRequest("ike", NodeKind.HOST, 0, Keying.CERTIFICATE))
    secrets_dir = Path(settings.HAIKU.secrets_dir)
    assert stat.S_IMODE(os.stat(secrets_dir / "ca.key").st_mode) == 0o600
    ca = x509.load_pem_x509_certificate((secrets_dir / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate(node.certificate_pem.encode())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == [node.home_address]
    token = rotate_token(node)
    body = Client().get("/api/v1/node/config", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["keying"]["method"] == "certificate"
    assert body["keying"]["ca_certificate_pem"] == (secrets_dir / "ca.pem").read_text()
    assert "KeyMngMobCapability enabled;" in body["mip6d_conf"]
    key_body = node.private_key_pem.splitlines()[1]
    assert key_body not in caplog.text  # private keys are never logged
    assert [(f["path"], f["mode"]) for f in body["files"]] == [
        ("/etc/mip6d/mip6d.conf", "0600"), ("/etc/swanctl/x509/haiku-node.pem", "0644"),
        ("/etc/swanctl/private/haiku-node.pem", "0600"),
        ("/etc/swanctl/x509ca/haiku-ca.pem", "0644"),
        ("/etc/swanctl/conf.d/haiku-mip6.conf", "0644")]
    assert body["services"] == ["strongswan", "mip6d"]
    swanctl = body["keying"]["swanctl_conf"]
    assert body["files"][-1]["content"] == swanctl
    for line in (f"id = {node.home_address}", "remote_addrs = 2001:db8:1::1",
                 "certs = haiku-node.pem", "cacerts = haiku-ca.pem", "mode = transport_proxy",
                 f"local_ts = {node.home_address}/128[135],{node.home_address}/128[58]",
                 "remote_ts = 2001:db8:1::1/128[135],2001:db8:1::1/128[58]",
                 "start_action = trap",
                 "policies = no", f"reqid = {node.spec().reqids[0]}"):
        assert f"{line}\n" in swanctl, (line, swanctl)
    # mip6d's policies carry the reqid charon finds the CHILD_SA by.
    assert f"IPsecPolicy Mh UseESP {node.spec().reqids[0]};" in body["mip6d_conf"]
    assert "payload {" not in swanctl
    # Created through the API without HAIKU_BASE_URL: no distribution point to name.
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)


def test_token_config_endpoint_rotate_revoke_disable(home_agent: StandInHomeAgent) -> None:
    alice = _user()
    node = create_node(alice, ROUTER)
    token = rotate_token(node)
    node.refresh_from_db()
    assert token not in (node.token_digest or "")  # only the digest is stored
    anon = Client()
    ok = anon.get("/api/v1/node/config", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert ok.status_code == 200
    assert ok["Cache-Control"] == "no-store"
    body = ok.json()
    assert body["node"]["mobile_network_prefixes"] == [
        "2001:db8:100::/64", "2001:db8:100:1::/64"]
    assert len(body["keying"]["static_keys"]) == 4
    assert body["sysctl"] == {"net.ipv6.conf.all.forwarding": "1"}
    # The mobile network: its link set up (an address and advertisements per prefix)
    # before mip6d starts.
    assert body["services"] == ["systemd-networkd", "mip6d"]
    network = {f["path"]: f["content"] for f in body["files"]}[
        "/etc/systemd/network/10-homeguy-mobile-network.network"]
    assert "Name=eth1\n" in network and "IPv6SendRA=yes\n" in network
    assert "Address=2001:db8:100::1/64\nAddress=2001:db8:100:1::1/64\n" in network
    assert network.count("[IPv6Prefix]\n") == 2 and "Prefix=2001:db8:100:1::/64\n" in network
    config = parse(body["mip6d_conf"], "mip6d.conf")
    # The node's keys are the home agent's keys for it.
    ha_keys = {k.spi: k.encryption.key for s in home_agent.daemon.config.ipsec_policy_sets
               for k in s.static_keys}
    node_keys = {k.spi: k.encryption.key for s in config.ipsec_policy_sets
                 for k in s.static_keys}
    assert node_keys and node_keys.items() <= ha_keys.items()

    new = _client(alice).post(f"/nodes/{node.pk}/token/rotate/")
    assert new.status_code == 200 and new["Cache-Control"] == "no-store"
    assert anon.get("/api/v1/node/config",
                    HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    node.refresh_from_db()
    fresh = rotate_token(node)
    assert anon.get("/api/v1/node/config",
                    HTTP_AUTHORIZATION=f"Bearer {fresh}").status_code == 200
    _client(alice).post(f"/nodes/{node.pk}/token/revoke/")
    refused = anon.get("/api/v1/node/config", HTTP_AUTHORIZATION=f"Bearer {fresh}")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="haiku"'
    assert anon.get("/api/v1/node/config").status_code == 401


def test_disabling_and_deleting_remove_files_and_reload(home_agent: StandInHomeAgent) -> None:
    operator = _user("op", role=User.Role.OPERATOR)
    alice = _user()
    node = create_node(alice, ROUTER)
    token = rotate_token(node)
    path = homeagent.include_path(node.pk)
    assert path.exists()
    op = _client(operator)
    reloads = len(home_agent.daemon.reloads)

    _client(alice).post(f"/nodes/{node.pk}/disable/")
    assert not path.exists()
    _client(alice).post(f"/nodes/{node.pk}/enable/")
    assert path.exists()

    op.post(f"/operator/users/{alice.pk}/disable/")
    assert not path.exists()
    assert Client().get("/api/v1/node/config",
                        HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert not Client().login(username="alice", password="correct horse battery")
    op.post(f"/operator/users/{alice.pk}/enable/")
    assert path.exists()
    op.post(f"/operator/users/{alice.pk}/delete/")
    assert not path.exists()
    assert not User.objects.filter(username="alice").exists()
    assert len(home_agent.daemon.reloads) >= reloads + 5
    assert all(r["ok"] for r in home_agent.daemon.reloads)
    assert home_agent.daemon.config.binding_acl == ()


def test_sync_all_rewrites_and_prunes(home_agent: StandInHomeAgent) -> None:
    alice = _user()
    node = create_node(alice, ROUTER)
    stray = home_agent.nodes_dir / "haiku-999999.conf"
    stray.write_text("# stale\n")
    foreign = home_agent.nodes_dir / "someone-else.conf"
    foreign.write_text("# not ours\n")
    homeagent.include_path(node.pk).unlink()
    homeagent.sync_all()
    assert homeagent.include_path(node.pk).exists()
    assert not stray.exists()
    assert foreign.exists()


def test_reload_failure_is_reported_not_fatal(haiku_settings: Any, tmp_path: Path) -> None:
    haiku_settings.change_haiku(control_socket=str(tmp_path / "nobody.sock"),
                                nodes_dir=str(tmp_path / "nodes.d"))
    alice = _user()
    client = _client(alice)
    response = client.post("/nodes/new/", {"name": "x", "kind": "host", "prefix_count": 0,
                                           "keying": "static", "interface": "eth0"})
    assert response.status_code == 200
    assert (tmp_path / "nodes.d").is_dir()
    result = homeagent.reload()
    assert not result.ok
    assert "is mip6d running?" in result.message


def _slow_daemon(path: Path, delay: float) -> threading.Thread:
    """A control socket that answers one reload after ``delay`` seconds, as mip6d does
    once it has installed the nodes' IPsec states (seconds under the lab's TCG)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        with server:
            connection, _ = server.accept()
            with connection:
                connection.recv(4096)
                time.sleep(delay)
                with contextlib.suppress(OSError):  # the client may have given up
                    connection.sendall(b'{"ok": true, "result": {"ok": true}}\n')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_reload_waits_for_the_control_timeout(haiku_settings: Any, tmp_path: Path) -> None:
    slow = tmp_path / "slow.sock"
    thread = _slow_daemon(slow, 1.0)
    haiku_settings.change_haiku(control_socket=str(slow), control_timeout=0.2)
    result = homeagent.reload()
    assert not result.ok and "did not answer 'reload' within 0.2 s" in result.message, result
    thread.join(5)
    slow.unlink()
    # Not asked again at once: it did not answer (haiku.control.QUIET) ...
    assert "is not asked again" in homeagent.reload().message
    thread = _slow_daemon(slow, 1.0)
    control.forget()  # ... until then, or a restart (as a new HAIKU_CONTROL_TIMEOUT takes).
    haiku_settings.change_haiku(control_timeout=10.0)
    assert homeagent.reload() == homeagent.ReloadResult(True, "mip6d reloaded")
    thread.join(5)


def test_node_form_validation() -> None:
    client = _client(_user())
    bad = client.post("/nodes/new/", {"name": "r", "kind": "router", "prefix_count": 0,
                                      "keying": "static", "interface": "eth0/x"})
    assert b"A mobile router needs at least one prefix." in bad.content
    assert b"1 to 15 letters" in bad.content
    assert Node.objects.count() == 0


def test_duplicate_name(home_agent: StandInHomeAgent) -> None:
    alice = _user()
    create_node(alice, ROUTER)
    response = _client(alice).post("/nodes/new/", {
        "name": "mr", "kind": "host", "prefix_count": 0, "keying": "static",
        "interface": "eth0"})
    assert b"you already have a node called" in response.content


def test_secret_file_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "secret_key"
    first = read_or_create_secret(path)
    assert len(first) > 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_or_create_secret(path) == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret_key"]


def test_passwords_hashed_with_argon2() -> None:
    assert _user().password.startswith("argon2$argon2id$")


def test_download_and_iso() -> None:
    alice = _user()
    client = _client(alice)
    node = create_node(alice, ROUTER)
    download = client.get(f"/api/v1/nodes/{node.pk}/config")
    assert download["Content-Disposition"] == f'attachment; filename="haiku-node-{node.pk}.json"'
    assert json.loads(download.content)["node"]["id"] == node.pk
    iso = client.get(f"/api/v1/nodes/{node.pk}/iso")
    assert iso.status_code == 501
    assert "not available yet" in iso.json()["error"]


def _crl(client: Client) -> x509.CertificateRevocationList:
    response = client.get("/ca/crl")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.content)
    ca_cert = x509.load_pem_x509_certificate(client.get("/ca/cert.pem").content)
    assert crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]
    return crl


def test_revoking_a_certificate_lists_it_in_the_crl(home_agent: StandInHomeAgent,
                                                    haiku_settings: Any,
                                                    tmp_path: Path) -> None:
    crl_file = tmp_path / "x509crl" / "haiku.crl"
    haiku_settings.change_haiku(crl_lifetime=600, crl_file=str(crl_file))
    alice = _user()
    client = _client(alice)
    created = client.post("/nodes/new/", {"name": "ike", "kind": "host", "prefix_count": 0,
                                          "keying": "certificate", "interface": "eth0"})
    assert created.status_code == 200
    node = Node.objects.get(name="ike")
    cert = x509.load_pem_x509_certificate(node.certificate_pem.encode())
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for p in points for n in p.full_name or ()] == [
        "http://testserver/ca/crl"]
    anon = Client()
    before = _crl(anon)
    assert len(before) == 0
    assert before.next_update_utc - before.last_update_utc == timedelta(seconds=600)
    page = client.get(f"/nodes/{node.pk}/")
    assert b'id="certificate-state">valid<' in page.content
    assert b'id="revoke-certificate"' in page.content

    # A POST without the CSRF token is refused; with it, the certificate is revoked.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(f"/nodes/{node.pk}/certificate/revoke/").status_code == 403
    assert not RevokedCertificate.objects.exists()
    done = client.post(f"/nodes/{node.pk}/certificate/revoke/", follow=True)
    assert b"Certificate revoked" in done.content
    assert b'id="certificate-state">revoked<' in done.content
    assert b'id="revoke-certificate"' not in done.content
    after = _crl(anon)
    entry = after.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason \
        is x509.ReasonFlags.key_compromise
    crl_number = after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert crl_number > before.extensions.get_extension_for_class(
        x509.CRLNumber).value.crl_number
    written = x509.load_der_x509_crl(crl_file.read_bytes())
    assert written.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    crl_file.unlink()
    call_command("haiku_sync", "--no-reload", stdout=io.StringIO())  # as the unit starts
    assert len(x509.load_der_x509_crl(crl_file.read_bytes())) == 1
    pem = anon.get("/ca/crl.pem")
    assert pem["Content-Type"] == "application/x-pem-file"
    assert x509.load_pem_x509_crl(pem.content).get_revoked_certificate_by_serial_number(
        cert.serial_number) is not None
    again = client.post(f"/nodes/{node.pk}/certificate/revoke/", follow=True)
    assert b"already revoked" in again.content
    assert RevokedCertificate.objects.count() == 1

    # A new certificate lets the node in again; the old one stays revoked.
    client.post(f"/nodes/{node.pk}/certificate/renew/")
    node.refresh_from_db()
    new = x509.load_pem_x509_certificate(node.certificate_pem.encode())
    assert new.serial_number != cert.serial_number
    listed = _crl(anon)
    assert listed.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert listed.get_revoked_certificate_by_serial_number(new.serial_number) is None
    # Someone else cannot revoke it.
    bob = _client(_user("bob"))
    assert bob.post(f"/nodes/{node.pk}/certificate/revoke/").status_code == 404
    assert _crl(anon).get_revoked_certificate_by_serial_number(new.serial_number) is None


def test_disable_keeps_delete_revokes_and_the_operator_revokes(
        home_agent: StandInHomeAgent) -> None:
    alice, operator = _user(), _user("op", role=User.Role.OPERATOR)
    client, op = _client(alice), _client(operator)
    kept = create_node(alice, NodeRequest("kept", NodeKind.HOST, 0, Keying.CERTIFICATE))
    gone = create_node(alice, NodeRequest("gone", NodeKind.HOST, 0, Keying.CERTIFICATE))
    static = create_node(alice, NodeRequest("static", NodeKind.HOST, 0, Keying.STATIC))
    serial = {n.name: x509.load_pem_x509_certificate(n.certificate_pem.encode()).serial_number
              for n in (kept, gone)}
    anon = Client()
    client.post(f"/nodes/{kept.pk}/disable/")  # reversible: not revoked
    assert len(_crl(anon)) == 0
    client.post(f"/nodes/{gone.pk}/delete/")
    entry = _crl(anon).get_revoked_certificate_by_serial_number(serial["gone"])
    assert entry is not None and entry.extensions.get_extension_for_class(
        x509.CRLReason).value.reason is x509.ReasonFlags.cessation_of_operation
    assert client.post(f"/nodes/{static.pk}/certificate/revoke/", follow=True).content \
        .count(b"no certificate to revoke") == 1
    assert b'id="revoke-certificate"' not in client.get(f"/nodes/{static.pk}/").content
    # Users cannot reach the operator's page; the operator revokes from it.
    assert client.get("/operator/certificates/").status_code == 403
    page = op.get("/operator/certificates/")
    assert f'id="cert-{kept.pk}"'.encode() in page.content
    op.post(f"/operator/nodes/{kept.pk}/certificate/revoke/")
    assert _crl(anon).get_revoked_certificate_by_serial_number(serial["kept"]) is not None
    assert b'<td class="state">revoked</td>' in op.get("/operator/certificates/").content
    # Deleting the user revokes the rest (none left here but the static node's nothing).
    other = create_node(alice, NodeRequest("other", NodeKind.HOST, 0, Keying.CERTIFICATE))
    other_serial = x509.load_pem_x509_certificate(other.certificate_pem.encode()).serial_number
    op.post(f"/operator/users/{alice.pk}/delete/")
    assert _crl(anon).get_revoked_certificate_by_serial_number(other_serial) is not None
    assert len(_crl(anon)) == 3


@pytest.mark.parametrize("length", [1, 45, 46, 64])
def test_certificate_names_fit_rfc_5280(home_agent: StandInHomeAgent, length: int) -> None:
    """A valid node name of any length gets a certificate: its CN "name (home address)"
    is cut to RFC 5280's ub-common-name (64 characters), the address keeps it unique."""
    alice = _user()
    client = _client(alice)
    names = [str(i) + "\u00e9" * (length - 1) for i in (1, 2)]
    for name in names:
        response = client.post("/nodes/new/", {"name": name, "kind": "host", "prefix_count": 0,
                                               "keying": "certificate", "interface": "eth0"})
        assert response.status_code == 200 and f"Node {name} created" in \
            response.content.decode()
    common_names = []
    for name in names:
        node = Node.objects.get(name=name)
        cert = x509.load_pem_x509_certificate(node.certificate_pem.encode())
        [cn] = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        full, value = f"{name} ({node.home_address})", str(cn.value)
        assert len(value.encode()) <= 64  # characters, and bytes too
        if len(full.encode()) <= 64:
            assert value == full
        else:
            head = value.removesuffix(f"\u2026 ({node.home_address})")
            assert name.startswith(head) and len(value.encode()) >= 63, value
        common_names.append(value)
    assert len(set(common_names)) == 2


HOST_FORM = {"kind": "host", "prefix_count": 0, "keying": "static", "interface": "eth0"}
NOT_TAKEN = "but the home agent has not taken it yet"


@pytest.mark.parametrize("state", ["missing", "refusing"])
def test_home_agent_down_is_shown_to_the_user(haiku_settings: Any, tmp_path: Path,
                                              state: str) -> None:
    sock = tmp_path / "control.sock"
    if state == "refusing":  # a socket file nobody listens on: ECONNREFUSED
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(str(sock))
    haiku_settings.change_haiku(control_socket=str(sock), nodes_dir=str(tmp_path / "nodes.d"))
    client = _client(_user())
    created = client.post("/nodes/new/", {"name": "car", **HOST_FORM}).content.decode()
    assert "Node car created" in created and f"Node car saved, {NOT_TAKEN}" in created
    assert "is mip6d running?" in created and "tell your operator" in created
    node = Node.objects.get(name="car")
    assert homeagent.include_path(node.pk).exists()  # mip6d reads it when it starts
    for action, said in (("disable", "Node car disabled"), ("enable", "Node car enabled"),
                         ("delete", "Node car deleted")):
        page = client.post(f"/nodes/{node.pk}/{action}/", follow=True).content.decode()
        assert f"{said}, {NOT_TAKEN}" in page, (action, page)
    assert not homeagent.include_path(node.pk).exists()


def test_home_agent_up_says_so(home_agent: StandInHomeAgent) -> None:
    client = _client(_user())
    created = client.post("/nodes/new/", {"name": "car", **HOST_FORM}).content.decode()
    assert "Node car created" in created and NOT_TAKEN not in created
    node = Node.objects.get(name="car")
    page = client.post(f"/nodes/{node.pk}/disable/", follow=True).content.decode()
    assert "Node car disabled; the home agent no longer accepts it." in page


def test_a_home_agent_that_never_answers_is_not_waited_for_again(haiku_settings: Any,
                                                                 tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    hung = SilentDaemon(sock)
    timeout = 0.5
    haiku_settings.change_haiku(control_socket=str(sock), control_timeout=timeout,
                                nodes_dir=str(tmp_path / "nodes.d"))
    try:
        client = _client(_user())
        began = time.monotonic()
        for i in range(4):
            page = client.post("/nodes/new/", {"name": f"n{i}", **HOST_FORM}).content.decode()
            assert f"Node n{i} saved, {NOT_TAKEN}" in page
        elapsed = time.monotonic() - began
        assert len(hung.accepted) == 1  # asked once, then told the user at once
        assert elapsed < 3 * timeout, elapsed
        assert "did not answer" in page
        # The statistics page asks twice (bindings, counters): one wait, not two.
        control.forget()
        op = _client(_user("op", role=User.Role.OPERATOR))
        stats = op.get("/operator/stats/").content.decode()
        assert len(hung.accepted) == 2
        assert f"did not answer &#x27;bindings&#x27; within {timeout:g} s" in stats
    finally:
        hung.close()
