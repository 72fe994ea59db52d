"""Keys made on the node: certificate requests checked (real keys from cryptography and
from strongSwan's pki), the option on the web form and the write API, and the round trip
of a request through the node's own endpoint: signed by the CA, the old certificate
revoked, no private key kept."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.test import Client
from haiku import apitokens, revocation
from haiku.core import csr
from haiku.core.csr import CsrError, KeyOrigin
from haiku.core.render import Keying, NodeKind
from haiku.models import Node, RevokedCertificate, User
from haiku.nodes import NodeRequest, create_node, renew_certificate, rotate_token

from testkit.mip6d_fakes import StandInHomeAgent

pytestmark = pytest.mark.unit

HOME = "2001:db8:1::1000"


def request_pem(key: Any, cn: str = "mh", addresses: tuple[str, ...] = (HOME,),
                signer: Any = None) -> str:
    """A PKCS #10 request for ``key``'s public key, signed by ``signer`` (its own key)."""
    import ipaddress  # noqa: PLC0415

    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if addresses:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]), critical=False)
    signing = signer or key
    algorithm = None if isinstance(signing, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    request = builder.sign(signing, algorithm)
    if signer is not None:  # the public key of ``key`` under the other key's signature
        der = bytearray(request.public_bytes(serialization.Encoding.DER))
        mine = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        theirs = signing.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert len(mine) == len(theirs)
        spliced = bytes(der).replace(theirs, mine)
        return x509.load_der_x509_csr(spliced).public_bytes(
            serialization.Encoding.PEM).decode()
    return request.public_bytes(serialization.Encoding.PEM).decode()


def pki(*argv: str, stdin: str | None = None) -> str:
    """strongSwan's pki, as the node runs it (strongswan-pki, in the test dependencies)."""
    return subprocess.run(["pki", *argv], input=stdin, capture_output=True, text=True,
                          check=True).stdout


# ------------------------------------------------------------------ the pure check

@pytest.mark.parametrize(("key", "kind"), [
    (ec.generate_private_key(ec.SECP256R1()), "ecdsa P-256"),
    (ec.generate_private_key(ec.SECP384R1()), "ecdsa P-384"),
    (ec.generate_private_key(ec.SECP521R1()), "ecdsa P-521"),
    (rsa.generate_private_key(65537, 2048), "rsa 2048"),
    (ed25519.Ed25519PrivateKey.generate(), "ed25519"),
])
def test_accepted_keys(key: Any, kind: str) -> None:
    checked = csr.check(request_pem(key))
    assert checked.key_type == kind
    assert checked.fingerprint == csr.key_fingerprint(key.public_key())
    assert [str(a) for a in checked.addresses] == [HOME]


@pytest.mark.parametrize(("argv", "kind"), [
    (("--type", "ecdsa", "--size", "256"), "ecdsa P-256"),
    (("--type", "ecdsa", "--size", "384"), "ecdsa P-384"),
    (("--type", "rsa", "--size", "2048"), "rsa 2048"),
    (("--type", "ed25519"), "ed25519"),
])
def test_requests_made_by_strongswan_pki(argv: tuple[str, ...], kind: str) -> None:
    key = pki("--gen", *argv, "--outform", "pem")
    request = pki("--req", "--type", "priv", "--dn", f"CN={HOME}", "--san", HOME,
                  "--outform", "pem", stdin=key)
    checked = csr.check(request)
    assert checked.key_type == kind
    assert [str(a) for a in checked.addresses] == [HOME]
    private = serialization.load_pem_private_key(key.encode(), None)
    assert checked.fingerprint == csr.key_fingerprint(private.public_key())  # type: ignore[arg-type]


@pytest.mark.parametrize(("pem", "message"), [
    ("", "not a PEM certificate request"),
    ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
     "cannot be read"),
    ("x" * (csr.MAX_PEM + 1), "at most 16384"),
    (request_pem(rsa.generate_private_key(65537, 1024)), "RSA key has 1024 bits"),
    (request_pem(rsa.generate_private_key(3, 2048)), "public exponent 3"),
    (request_pem(ec.generate_private_key(ec.SECP256K1())), "ECDSA key is on secp256k1"),
    (request_pem(dsa.generate_private_key(2048)), "key is a DSAPublicKey"),
    (request_pem(ec.generate_private_key(ec.SECP256R1()),
                 signer=ec.generate_private_key(ec.SECP256R1())),
     "signature does not verify"),
])
def test_refused_requests(pem: str, message: str) -> None:
    with pytest.raises(CsrError, match=message):
        csr.check(pem)


# ----------------------------------------------------------- the service's side

def _user(name: str = "alice") -> User:
    return User.objects.create_user(name, f"{name}@example.org", "correct horse battery")


def _own(name: str = "mh", owner: User | None = None) -> Node:
    return create_node(owner or _user(), NodeRequest(name, NodeKind.HOST, 0,
                                                     Keying.CERTIFICATE,
                                                     key_origin=KeyOrigin.NODE))


def _send(token: str, body: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client().post("/api/v1/node/csr", data=data, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db(transaction=True)
def test_a_node_that_makes_its_key_gets_it_certified(home_agent: StandInHomeAgent) -> None:
    node = _own()
    assert (node.private_key_pem, node.certificate_pem) == ("", "")
    token = rotate_token(node)
    before = Client().get("/api/v1/node/config", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    keying = before["keying"]
    assert (keying["key_origin"], keying["certificate_pem"]) == ("node", "")
    assert keying["csr_url"] == "/api/v1/node/csr"
    assert keying["private_key_path"] == "/etc/swanctl/private/haiku-node.pem"
    assert "private_key_pem" not in keying
    assert [f["path"] for f in before["files"]] == [
        "/etc/mip6d/mip6d.conf", "/etc/swanctl/x509ca/haiku-ca.pem",
        "/etc/swanctl/conf.d/haiku-mip6.conf"]

    key = ec.generate_private_key(ec.SECP256R1())
    # The subject and the name it asks for are not what the certificate says.
    answer = _send(token, {"csr": request_pem(key, cn="root", addresses=())})
    assert answer.status_code == 200, answer.content
    assert answer["Cache-Control"] == "no-store"
    body = answer.json()
    cert = x509.load_pem_x509_certificate(body["keying"]["certificate_pem"].encode())
    ca = x509.load_pem_x509_certificate(
        (Path(settings.HAIKU.secrets_dir) / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.public_key() == key.public_key()
    assert cert.subject.rfc4514_string() == f"CN=mh ({HOME})"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == [HOME]
    assert ("/etc/swanctl/x509/haiku-node.pem", "0644",
            body["keying"]["certificate_pem"]) in [
        (f["path"], f["mode"], f["content"]) for f in body["files"]]
    assert not any("private" in f["path"] for f in body["files"])
    node.refresh_from_db()
    assert node.private_key_pem == "" and node.certificate_pem == body["keying"][
        "certificate_pem"]
    assert node.key_fingerprint == csr.key_fingerprint(key.public_key())
    assert not RevokedCertificate.objects.exists()

    # A second request (or the same one again) replaces the certificate: the old one
    # is revoked (superseded) and listed in the CRL.
    again = _send(token, {"csr": request_pem(ec.generate_private_key(ec.SECP384R1()))})
    assert again.status_code == 200, again.content
    revoked = RevokedCertificate.objects.get()
    assert (int(revoked.serial, 16), revoked.reason) == (cert.serial_number, "superseded")
    crl = x509.load_der_x509_crl(Client().get("/ca/crl").content)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


@pytest.mark.django_db(transaction=True)
def test_refused_requests_say_why(home_agent: StandInHomeAgent) -> None:
    alice = _user()
    node = _own(owner=alice)
    token = rotate_token(node)
    good = request_pem(ec.generate_private_key(ec.SECP256R1()), addresses=())
    cases: list[tuple[Any, int, str]] = [
        ("not json", 400, "the body must be a JSON object"),
        ([good], 400, "the body must be a JSON object"),
        ({}, 400, "expected the certificate request in PEM"),
        ({"csr": 1}, 400, "expected the certificate request in PEM"),
        ({"csr": good, "key": "x"}, 400, "unknown field; the one field is csr"),
        ({"csr": "hello"}, 400, "not a PEM certificate request"),
        ({"csr": request_pem(rsa.generate_private_key(65537, 1024))}, 400,
         "RSA key has 1024 bits"),
        ({"csr": request_pem(ec.generate_private_key(ec.SECP256R1()),
                             addresses=(HOME, "2001:db8:1::1001"))}, 403,
         "asks for 2001:db8:1::1001"),
    ]
    for body, status, message in cases:
        answer = _send(token, body)
        assert answer.status_code == status, (body, answer.content)
        assert message in json.dumps(answer.json()), answer.json()
    assert _send("wrong", {"csr": good}).status_code == 401
    assert _send("wrong", {"csr": good})["WWW-Authenticate"] == 'Bearer realm="haiku"'
    assert Client().get("/api/v1/node/csr", HTTP_AUTHORIZATION=f"Bearer {token}"
                        ).status_code == 405

    # A node whose keys the service makes, and static keys: not this endpoint's.
    for keying in (Keying.CERTIFICATE, Keying.STATIC):
        other = create_node(alice, NodeRequest(f"n-{keying}", NodeKind.HOST, 0, keying))
        answer = _send(rotate_token(other), {"csr": good})
        assert answer.status_code == 409 and "set its key_origin to node" in \
            answer.json()["error"]

    # A key another node has is not certified for this one.
    assert _send(token, {"csr": good}).status_code == 200
    twin = _own("twin", alice)
    taken = _send(rotate_token(twin), {"csr": good})
    assert taken.status_code == 409 and "another node's certificate has this key" in \
        taken.json()["error"]

    # A key revoked as compromised is not certified again, also after the node's
    # certificate is renewed, and not for another node.
    node.refresh_from_db()
    assert revocation.revoke(node, revocation.Reason.KEY_COMPROMISE)
    lost = _send(token, {"csr": good})
    assert lost.status_code == 409 and "revoked as compromised" in lost.json()["error"]
    renew_certificate(node)
    assert _send(token, {"csr": good}).status_code == 409
    assert _send(rotate_token(twin), {"csr": good}).status_code == 409
    assert _send(token, {"csr": request_pem(ec.generate_private_key(ec.SECP256R1()))}
                 ).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_option_on_the_form_and_the_write_api(home_agent: StandInHomeAgent) -> None:
    alice = _user()
    client = Client()
    client.force_login(alice)
    page = client.get("/nodes/new/")
    assert b'name="key_origin"' in page.content
    made = client.post("/nodes/new/", {"name": "web", "kind": "host", "prefix_count": 0,
                                       "keying": "certificate", "key_origin": "node",
                                       "interface": "eth0"})
    assert made.status_code == 200, made.content
    web = Node.objects.get(name="web")
    assert (web.key_origin, web.private_key_pem, web.certificate_pem) == ("node", "", "")
    detail = client.get(f"/nodes/{web.pk}/").content.decode()
    assert 'id="key-origin">made on the node' in detail
    assert 'id="certificate-state">none yet: the node sends its certificate request' in detail
    assert 'id="revoke-certificate"' not in detail
    refused = client.post("/nodes/new/", {"name": "st", "kind": "host", "prefix_count": 0,
                                          "keying": "static", "key_origin": "node",
                                          "interface": "eth0"})
    assert b"A key made on the node needs certificate keying" in refused.content

    api = Client()
    auth = f"Bearer {apitokens.create(alice, 't', ['nodes:read', 'nodes:write'])[1]}"

    def call(method: str, path: str, body: Any = None) -> Any:
        return getattr(api, method)(f"/api/v1{path}", data=json.dumps(body),
                                    content_type="application/json",
                                    HTTP_AUTHORIZATION=auth)

    created = call("post", "/nodes", {"name": "api", "kind": "host",
                                      "keying": "certificate", "key_origin": "node"})
    assert created.status_code == 201, created.content
    assert created.json()["node"]["key_origin"] == "node"
    bad = call("post", "/nodes", {"name": "b", "kind": "host", "keying": "static",
                                  "key_origin": "node"})
    assert bad.status_code == 400 and "key_origin" in bad.json()["fields"]
    default = call("post", "/nodes", {"name": "d", "kind": "host", "keying": "certificate"})
    assert default.json()["node"]["key_origin"] == "service"
    d = Node.objects.get(name="d")
    old = x509.load_pem_x509_certificate(d.certificate_pem.encode())

    # PATCH: to the node, the service's key and certificate go (revoked); back to the
    # service, a new key and certificate are made.
    moved = call("patch", f"/nodes/{d.pk}", {"key_origin": "node"})
    assert moved.status_code == 200 and moved.json()["node"]["key_origin"] == "node"
    d.refresh_from_db()
    assert (d.private_key_pem, d.certificate_pem) == ("", "")
    assert RevokedCertificate.objects.get().serial == f"{old.serial_number:x}"
    back = call("patch", f"/nodes/{d.pk}", {"key_origin": "service"})
    assert back.json()["node"]["key_origin"] == "service"
    d.refresh_from_db()
    assert d.private_key_pem and d.certificate_pem
    for body, field in (({"key_origin": "elsewhere"}, "expected one of service, node"),
                        ({"key_origin": 1}, "expected one of service, node")):
        answer = call("patch", f"/nodes/{d.pk}", body)
        assert answer.status_code == 400 and field in answer.json()["fields"]["key_origin"][0]
    static = call("post", "/nodes", {"name": "s", "kind": "host", "keying": "static"})
    answer = call("patch", f"/nodes/{static.json()['node']['id']}", {"key_origin": "node"})
    assert answer.status_code == 400 and "uses static keys" in \
        answer.json()["fields"]["key_origin"][0]
    # The scope: a read-only token may not change it.
    reader = f"Bearer {apitokens.create(alice, 'r', ['nodes:read'])[1]}"
    denied = api.patch(f"/api/v1/nodes/{d.pk}", data=json.dumps({"key_origin": "node"}),
                       content_type="application/json", HTTP_AUTHORIZATION=reader)
    assert denied.status_code == 403 and denied.json()["missing_scope"] == "nodes:write"


# ---------------------------------------------- the node's enrollment, end to end

def _enroll_module() -> Any:
    """The boot hook the images run (live/hooks/enroll/homeguy_enroll.py)."""
    import importlib.util  # noqa: PLC0415
    import sys  # noqa: PLC0415

    path = Path(__file__).resolve().parents[3] / "live" / "hooks" / "enroll" / \
        "homeguy_enroll.py"
    spec = importlib.util.spec_from_file_location("homeguy_enroll", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["homeguy_enroll"] = module
    spec.loader.exec_module(module)
    return module


SERVICE = "http://haiku.test"


def _in_process(settings_: Any, method: str = "get") -> Any:
    """The hook's HTTP calls answered by the service in this process (Django's test
    client; tests/unit/test_iso_enroll.py runs them over real HTTPS)."""
    client = Client()

    def call(url: str, headers: dict[str, str], timeout: float, json: Any = None) -> Any:
        path, auth = url.removeprefix(SERVICE), headers["Authorization"]
        if method == "get":
            return client.get(path, HTTP_AUTHORIZATION=auth)
        return client.post(path, data=_dumps(json), content_type="application/json",
                           HTTP_AUTHORIZATION=auth)
    return call


_dumps = json.dumps


@pytest.fixture
def enrolling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The hook, talking to the service in process, its outcome file, banner, screen and
    kept answer under tmp_path."""
    hook = _enroll_module()
    monkeypatch.setattr(hook, "OUTCOME", tmp_path / "run" / "enrollment.json")
    monkeypatch.setattr(hook, "ISSUE", tmp_path / "issue.d" / "20-homeguy.issue")
    monkeypatch.setattr(hook, "SCREEN", tmp_path / "no-screen")
    monkeypatch.setattr(hook, "KEPT", tmp_path / "kept" / "node-config.json")
    monkeypatch.setattr(hook, "http_get", _in_process)
    return hook


def _verify_with_pki(cert: Path, ca_pem: Path) -> str:
    """strongSwan's own check of the chain (what charon trusts)."""
    result = subprocess.run(["pki", "--verify", "--in", str(cert), "--cacert", str(ca_pem)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_the_hook_makes_its_key_with_pki_and_enrolls(
        home_agent: StandInHomeAgent, enrolling: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The boot hook's own enroll(), with the real pki, against the running service: a
    key made on the node (0600 in /etc/swanctl/private), a certificate for it from the
    service's CA, the swanctl configuration beside them; the next boot keeps them."""
    node = _own()
    token = rotate_token(node)
    root = tmp_path / "root"
    settings_ = enrolling.Settings(SERVICE, token, 30.0, allow_http=True)
    checked: list[str] = []
    plan, _ = enrolling.enroll(settings_, root, lambda path: checked.append(path.read_text()),
                               lambda plan: None)
    assert checked and "KeyMngMobCapability enabled;" in checked[0]
    swanctl = root / "etc" / "swanctl"
    key_file, cert_file = swanctl / "private/haiku-node.pem", swanctl / "x509/haiku-node.pem"
    ca_file = swanctl / "x509ca/haiku-ca.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_file.read_bytes()))
    assert ca_file.read_text() == (Path(settings.HAIKU.secrets_dir) / "ca.pem").read_text()
    assert cert.public_key() == key.public_key()  # type: ignore[union-attr]
    assert "certificate trusted, lifetimes valid" in _verify_with_pki(cert_file, ca_file)
    conf = (swanctl / "conf.d/haiku-mip6.conf").read_text()
    assert "certs = haiku-node.pem" in conf and f"id = {HOME}" in conf
    assert [f.path for f in plan.files][-1] == "/etc/swanctl/private/haiku-node.pem"
    node.refresh_from_db()
    assert node.private_key_pem == "" and node.certificate_pem == cert_file.read_text()
    assert key_file.read_text().splitlines()[1] not in json.dumps(
        list(Node.objects.values()), default=str)
    out = capsys.readouterr().out
    assert "made a new key on this node (ecdsa 256)" in out

    # The next boot of an installed node: its key is kept, nothing is requested again.
    enrolling.enroll(settings_, root, lambda path: None, lambda plan: None)
    assert "keeping this node's key" in capsys.readouterr().out
    assert x509.load_pem_x509_certificate(cert_file.read_bytes()) == cert
    assert not RevokedCertificate.objects.exists()

    # A new certificate asked for on the service's page: the node makes a new key, the
    # old certificate is revoked.
    client = Client()
    client.force_login(node.owner)
    assert client.post(f"/nodes/{node.pk}/certificate/renew/").status_code == 302
    enrolling.enroll(settings_, root, lambda path: None, lambda plan: None)
    assert "made a new key on this node" in capsys.readouterr().out
    renewed = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert renewed.public_key() != cert.public_key()
    assert renewed.public_key() == serialization.load_pem_private_key(
        key_file.read_bytes(), None).public_key()  # type: ignore[union-attr]
    assert int(RevokedCertificate.objects.get().serial, 16) == cert.serial_number


@pytest.mark.django_db(transaction=True)
def test_the_hook_says_what_the_service_refused(
        home_agent: StandInHomeAgent, enrolling: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    node = _own()
    settings_ = enrolling.Settings(SERVICE, rotate_token(node), 10.0,
                                   allow_http=True)
    # A node image whose pki makes keys the CA does not certify.
    monkeypatch.setattr(enrolling, "KEY_TYPE", ("--type", "rsa", "--size", "1024"))
    with pytest.raises(enrolling.Permanent, match=r"refused the request \(HTTP 400\): "
                       r"the certificate request is refused.*RSA key has 1024 bits"):
        enrolling.enroll(settings_, tmp_path, lambda path: None, lambda plan: None)
    assert not (tmp_path / "etc").exists()  # nothing written
    monkeypatch.setattr(enrolling, "PKI", str(tmp_path / "no-pki"))
    with pytest.raises(enrolling.Permanent, match="needs strongSwan's pki"):
        enrolling.enroll(settings_, tmp_path, lambda path: None, lambda plan: None)
