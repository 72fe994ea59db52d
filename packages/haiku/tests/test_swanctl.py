"""The home agent's strongSwan side (haiku/swanctl.py): the service writes charon's
credentials and one connection per certificate-keyed node, and has charon load them."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.conf import settings
from django.test import Client
from haiku import homeagent
from haiku.core.render import ha_swanctl_text
from haiku.models import Node, User

from testkit.mip6d_fakes import StandInHomeAgent

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]


def _client(name: str = "alice") -> Client:
    user = User.objects.create_user(name, f"{name}@example.org", "correct horse battery")
    client = Client()
    client.force_login(user)
    return client


def _create(client: Client, name: str, keying: str) -> Node:
    page = client.post("/nodes/new/", {"name": name, "kind": "host", "prefix_count": 0,
                                       "keying": keying, "interface": "eth0"})
    assert page.status_code == 200, page.content[:500]
    return Node.objects.get(name=name)


@pytest.fixture
def charon_dir(haiku_settings: Any, tmp_path: Path) -> tuple[Path, Path]:
    """A swanctl directory and a reload command that records each run in a file."""
    directory, runs = tmp_path / "swanctl", tmp_path / "reloads"
    directory.mkdir()
    haiku_settings.change_haiku(swanctl_dir=str(directory), swanctl_reload=(
        "sh", "-c", f'echo "$0" >> {runs}', "loaded"))
    return directory, runs


def reloads(runs: Path) -> int:
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def test_certificate_nodes_get_their_home_agent_connection(
        home_agent: StandInHomeAgent, charon_dir: tuple[Path, Path]) -> None:
    directory, runs = charon_dir
    client = _client()
    node = _create(client, "laptop", "certificate")

    conn = directory / "conf.d" / f"haiku-{node.pk}.conf"
    assert conn.read_text() == ha_swanctl_text(node.spec(), "haiku-ha.pem", "haiku-ca.pem")
    assert f"id = {node.home_address}" in conn.read_text()
    assert "revocation = strict" in conn.read_text()
    secrets_dir = Path(settings.HAIKU.secrets_dir)
    authority = (directory / "x509ca/haiku-ca.pem").read_bytes()
    assert authority == (secrets_dir / "ca.pem").read_bytes()
    ha = x509.load_pem_x509_certificate((directory / "x509/haiku-ha.pem").read_bytes())
    ha.verify_directly_issued_by(x509.load_pem_x509_certificate(authority))
    names = ha.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [settings.HAIKU.home_agent_address]
    usage = ha.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    key = directory / "private/haiku-ha.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert key.read_text() == (secrets_dir / "ha.key").read_text()
    assert reloads(runs) == 1

    # A static-key node needs nothing from charon: no file, no reload; the home agent's
    # certificate is the same one.
    _create(client, "static", "static")
    assert sorted(p.name for p in (directory / "conf.d").iterdir()) == [conn.name]
    assert reloads(runs) == 1
    assert (directory / "x509/haiku-ha.pem").read_bytes() == ha.public_bytes(Encoding.PEM)

    # Deleting the node removes its connection (and only it), and charon reloads.
    (directory / "conf.d/admin.conf").write_text("connections {}\n")
    assert client.post(f"/nodes/{node.pk}/delete/").status_code == 302
    assert not conn.exists()
    assert (directory / "conf.d/admin.conf").read_text() == "connections {}\n"
    assert reloads(runs) == 2


def test_a_failing_charon_reload_says_so(home_agent: StandInHomeAgent,
                                        charon_dir: tuple[Path, Path],
                                        haiku_settings: Any) -> None:
    directory, _ = charon_dir
    haiku_settings.change_haiku(swanctl_reload=("sh", "-c", "echo no vici socket >&2; exit 3"))
    _create(_client(), "laptop", "certificate")
    result = homeagent.reload()  # the files are written already: nothing changed now
    assert result.ok
    (directory / "x509ca/haiku-ca.pem").write_text("stale\n")
    result = homeagent.reload()
    assert not result.ok
    assert result.message == ("charon did not take the nodes' connections: sh -c echo no "
                              "vici socket >&2; exit 3 exited 3: no vici socket")


def test_without_strongswan_nothing_is_written(home_agent: StandInHomeAgent,
                                               haiku_settings: Any, tmp_path: Path) -> None:
    haiku_settings.change_haiku(swanctl_dir=str(tmp_path / "swanctl"),
                                swanctl_reload=("false",))
    _create(_client(), "laptop", "certificate")
    assert homeagent.reload().ok
    assert not (tmp_path / "swanctl").exists()
