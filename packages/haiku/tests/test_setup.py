"""`haiku-manage haiku_setup`: the files that make a machine a home agent, checked by the
programs that read them (mip6d's parser and checker, radvd's config test, the CA's
fingerprint), and the command itself into a scratch root."""

from __future__ import annotations

import stat
import subprocess
from io import StringIO
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.core.management import call_command
from django.core.management.base import CommandError
from haiku.core import setup as ha
from haiku.core.allocation import Pool
from haiku.core.keys import reqids, static_keys
from haiku.core.render import Keying, NodeKind, NodeSpec, include_text
from haiku.models import User
from mip6d.config.parser import load
from mip6d.config.validate import validate
from mip6d.core.ipsec import Keying as MipKeying
from mip6d.shell.adapters import home_agent_policy

pytestmark = pytest.mark.unit

SETUP = ha.HomeAgentSetup(interface="eth0", address=IPv6Interface("2001:db8:1::1/64"),
                          mnp_pool=IPv6Network("2001:db8:100::/48"),
                          url="https://[2001:db8:1::1]", gateway=IPv6Address("2001:db8:1::ff"),
                          base_iso="/srv/isos/mh.iso")
HOME = Pool("home address pool", IPv6Network("2001:db8:1::/64"), 128, 0x1000, 4)
DEFAULTS = ("# Settings of HAiku\n# HAIKU_HOME_PREFIX=2001:db8:1::/64\n"
            "HAIKU_DATABASE_URL=postgresql://haiku:secret@localhost/haiku\n")


def files(setup: ha.HomeAgentSetup = SETUP) -> dict[str, ha.SetupFile]:
    return {item.path: item for item in ha.plan(setup, DEFAULTS, "ab" * 32)}


def test_plan_writes_each_file_once_with_its_mode() -> None:
    planned = files()
    assert set(planned) == {ha.NETWORK_FILE, ha.RADVD_CONF, ha.MIP6D_CONF, ha.NGINX_SITE,
                            ha.DEFAULTS_FILE}
    # It may hold database passwords: root writes it, the service's group reads it.
    assert (planned[ha.DEFAULTS_FILE].mode, planned[ha.DEFAULTS_FILE].group) == (0o640, "haiku")
    network = planned[ha.NETWORK_FILE].text
    assert "Name=eth0\n" in network and "Address=2001:db8:1::1/64\n" in network
    assert "IPv6AcceptRA=no\n" in network and "Gateway=2001:db8:1::ff\n" in network
    assert "Gateway" not in files(ha.HomeAgentSetup(
        "eth0", SETUP.address, SETUP.mnp_pool, SETUP.url))[ha.NETWORK_FILE].text
    site = planned[ha.NGINX_SITE].text
    assert "listen [::]:443 ssl default_server;" in site
    assert "proxy_pass http://127.0.0.1:8080;" in site


def test_mip6d_conf_is_a_home_agent_that_mip6d_accepts(tmp_path: Path) -> None:
    conf = tmp_path / "mip6d.conf"
    conf.write_text(files()[ha.MIP6D_CONF].text)
    (tmp_path / "nodes.d").mkdir()
    config = validate(load(str(conf)))
    assert config.node_config.name == "HA"
    assert [i.name for i in config.interfaces] == ["eth0"]
    # No HaServedPrefix: with one, a mobile host's file (no prefixes listed) would let it
    # claim any prefix of the pool (mip6d.conf(5), HaServedPrefix).
    assert config.ha_served_prefixes == ()


def test_home_agent_serves_static_and_certificate_keyed_nodes_at_once(tmp_path: Path) -> None:
    """The 2007 demonstration's home agent: router 1 keyed by IKEv2 (certificates), router 2
    by static keys, both in nodes.d/ as the service writes them; mip6d's own loader and
    checker accept it, key the static one itself and leave the other to charon."""
    conf = tmp_path / "mip6d.conf"
    conf.write_text(files()[ha.MIP6D_CONF].text)
    (tmp_path / "nodes.d").mkdir()
    specs = {keying: NodeSpec(
        name=f"router {slot}", kind=NodeKind.ROUTER, home_address=HOME.address_at(slot),
        home_prefix_length=64, home_agent_address=SETUP.address.ip,
        mobile_network_prefixes=(IPv6Network(f"2001:db8:100:{slot}::/64"),),
        keying=keying, protect_all_traffic=keying is Keying.CERTIFICATE, reqids=reqids(slot),
        keys=static_keys(slot, False) if keying is Keying.STATIC else ())
        for slot, keying in enumerate((Keying.CERTIFICATE, Keying.STATIC), start=1)}
    for slot, spec in enumerate(specs.values(), start=1):
        (tmp_path / "nodes.d" / f"haiku-{slot}.conf").write_text(include_text(spec))
    config = validate(load(str(conf)))
    assert config.warnings == ()
    ike, static = (specs[k].home_address for k in (Keying.CERTIFICATE, Keying.STATIC))
    keying = MipKeying.of(config)
    assert keying.static.static_keyed == {static}
    assert {sa.src for sa in keying.static.sas} | {sa.dst for sa in keying.static.sas} == {
        static, SETUP.address.ip}  # the static router's SAs only; charon keys router 1's
    assert {p.src for p in keying.static.policies} >= {ike, static}  # both protected
    assert set(keying.tunnels) == {ike}  # router 1's tunnel under ESP, by charon
    policy = home_agent_policy(config, {"eth0": [SETUP.address]}, False)
    assert policy.key_management_mobility and policy.static_keyed == {static}


def test_radvd_accepts_its_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "radvd.conf"
    conf.write_text(files()[ha.RADVD_CONF].text)
    checked = subprocess.run(["radvd", "--configtest", "-C", str(conf)], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "AdvHomeAgentFlag on;" in conf.read_text()


def test_settings_merged_into_the_defaults_file() -> None:
    text = files()[ha.DEFAULTS_FILE].text
    lines = text.splitlines()
    # The commented example is replaced in place; the operator's own line stays.
    assert lines[1] == "HAIKU_HOME_PREFIX=2001:db8:1::/64"
    assert "HAIKU_DATABASE_URL=postgresql://haiku:secret@localhost/haiku" in lines
    assert "HAIKU_BASE_URL=https://[2001:db8:1::1]" in lines
    assert "HAIKU_ALLOWED_HOSTS=[2001:db8:1::1],localhost,127.0.0.1" in lines
    assert "HAIKU_TLS_FINGERPRINT=" + "ab" * 32 in lines
    assert "HAIKU_BASE_ISO=/srv/isos/mh.iso" in lines
    assert ha.merge_env(text, {}) == text  # idempotent
    assert ha.merge_env("", {"A": "two words"}) == "A='two words'\n"
    with pytest.raises(ha.SetupError, match="quote"):
        ha.merge_env("", {"A": "it's"})


@pytest.mark.parametrize(("change", "message"), [
    ({"interface": "eth0; rm"}, "--interface 'eth0; rm': not an interface name"),
    ({"address": IPv6Interface("2001:db8:1::1/48")}, "the home prefix must be a /64"),
    ({"address": IPv6Interface("2001:db8:1::/64")}, "subnet-router anycast"),
    ({"mnp_pool": IPv6Network("2001:db8:1::/56")}, "apart from the home prefix"),
    ({"gateway": IPv6Address("2001:db8:2::1")}, "not on the home link"),
    ({"url": "http://[2001:db8:1::1]"}, "https://HOST"),
    ({"url": "https://ha.example.org/haiku"}, "give no path"),
])
def test_answers_that_cannot_work_are_refused(change: dict[str, object], message: str) -> None:
    values = {**SETUP.__dict__, **change}
    with pytest.raises(ha.SetupError, match=message.replace("(", r"\(")):
        ha.plan(ha.HomeAgentSetup(**values), "", "")


@pytest.mark.django_db(transaction=True)
def test_command_writes_a_root_and_creates_the_operator(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / ha.DEFAULTS_FILE.lstrip("/")).write_text(DEFAULTS)
    site = tmp_path / ha.NGINX_DEFAULT_SITE.lstrip("/")
    site.parent.mkdir(parents=True)
    site.write_text("server { listen 80 default_server; }\n")
    monkeypatch.setenv("HAIKU_OPERATOR_PASSWORD", "operator password 1")
    out = StringIO()
    argv = ["haiku_setup", "--address", "2001:db8:1::1/64", "--url", "https://[2001:db8:1::1]",
            "--root", str(tmp_path), "--no-start"]
    call_command(*argv, "--operator", "admin", stdout=out)
    cert = x509.load_pem_x509_certificate((tmp_path / ha.TLS_CERT.lstrip("/")).read_bytes())
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    defaults = tmp_path / ha.DEFAULTS_FILE.lstrip("/")
    assert f"HAIKU_TLS_FINGERPRINT={fingerprint}\n" in defaults.read_text()
    assert stat.S_IMODE(defaults.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / ha.TLS_KEY.lstrip("/")).stat().st_mode) == 0o600
    assert not site.exists()
    assert User.objects.get(username="admin").role == User.Role.OPERATOR
    assert f"TLS certificate SHA-256 {fingerprint}" in out.getvalue()
    # Again: the certificate (and so the images' pin) stays.
    call_command(*argv, stdout=StringIO())
    assert f"HAIKU_TLS_FINGERPRINT={fingerprint}\n" in defaults.read_text()
    with pytest.raises(CommandError, match="--address 'nonsense'"):
        call_command("haiku_setup", "--address", "nonsense", "--url", "https://x",
                     "--root", str(tmp_path), "--no-start")
    with pytest.raises(CommandError, match=r"--base-iso /nowhere\.iso: no such image"):
        call_command(*argv, "--base-iso", "/nowhere.iso")
