"""The pure core: exact values, and mip6d's own parser on every rendered file."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network
from itertools import product

import pytest
from haiku.core import config, dashboard, scopes, tokens
from haiku.core.allocation import Pool, PoolError, PoolExhausted, first_free
from haiku.core.keys import Direction, SaKey, reqids, spis, static_keys
from haiku.core.names import skeleton
from haiku.core.plot import svg_plot
from haiku.core.render import Keying, NodeKind, NodeSpec, include_text, render_node
from mip6d.config import parse

from testkit.mip6d_fakes import EXAMPLES

pytestmark = pytest.mark.unit

HOME = Pool("home address pool", IPv6Network("2001:db8:1::/64"), 128, 0x1000, 4)
MNP = Pool("mobile network prefix pool", IPv6Network("2001:db8:100::/48"), 64, 0, 65536)


def test_pool_pieces() -> None:
    assert HOME.address_at(0) == IPv6Address("2001:db8:1::1000")
    assert HOME.address_at(3) == IPv6Address("2001:db8:1::1003")
    assert MNP.network_at(0) == IPv6Network("2001:db8:100::/64")
    assert MNP.network_at(65535) == IPv6Network("2001:db8:100:ffff::/64")
    with pytest.raises(IndexError):
        HOME.address_at(4)


def test_first_free_fills_gaps_and_reports_exhaustion() -> None:
    assert first_free(HOME, []) == 0
    assert first_free(HOME, [0, 1, 3]) == 2
    with pytest.raises(PoolExhausted, match=r"home address pool is exhausted: all 4 of its "
                       r"/128 in 2001:db8:1::/64 are allocated"):
        first_free(HOME, [0, 1, 2, 3])


def test_first_free_skips_quarantined_pieces() -> None:
    assert first_free(HOME, [0], quarantined=[1, 2]) == 3
    assert first_free(HOME, [], quarantined=[7, -1]) == 0  # outside the pool: ignored
    with pytest.raises(PoolExhausted, match=r"of its 4 /128 in 2001:db8:1::/64, 2 belonged "
                       r"to deleted nodes and are quarantined .*try again later"):
        first_free(HOME, [0, 3], quarantined=[1, 2])


def test_scopes_by_role() -> None:
    assert scopes.grantable(False) == (scopes.Scope.NODES_READ, scopes.Scope.NODES_WRITE,
                                       scopes.Scope.TOKENS_ROTATE)
    assert scopes.Scope.OPERATOR_NODES in scopes.grantable(True)
    assert scopes.parse(["nodes:read", "nodes:read"], False) == {scopes.Scope.NODES_READ}
    with pytest.raises(scopes.ScopeError, match="'operator:nodes' is for operators only"):
        scopes.parse(["operator:nodes"], False)
    with pytest.raises(scopes.ScopeError, match=r"unknown scope 'nodes:all'; the scopes are "
                       r"nodes:read, nodes:write, tokens:rotate$"):
        scopes.parse(["nodes:all"], False)
    with pytest.raises(scopes.ScopeError, match="at least one"):
        scopes.parse([], True)
    assert scopes.effective(["nodes:read", "operator:nodes", "gone:scope"], False) == {
        scopes.Scope.NODES_READ}


def test_pool_must_fit() -> None:
    with pytest.raises(PoolError, match="not all inside 2001:db8:100::/48"):
        Pool("p", IPv6Network("2001:db8:100::/48"), 64, 65000, 1000)
    with pytest.raises(PoolError, match="do not fit"):
        Pool("p", IPv6Network("2001:db8:100::/48"), 40, 0, 1)


def test_reqids_and_spis_are_unique_per_slot() -> None:
    assert reqids(0) == (1000, 1001, 1002, 1003)
    assert spis(1) == (0x10004, 0x10005, 0x10006, 0x10007)
    seen = {s for slot in range(1000) for s in spis(slot)}
    assert len(seen) == 4000


def test_static_keys_with_fixed_randomness() -> None:
    keys = static_keys(2, protect_all=False, random=lambda n: bytes(range(n)))
    assert keys == (
        SaKey(Direction.MN_TO_HA, 0x10008, 1008, "aes-gcm", bytes(range(20)).hex()),
        SaKey(Direction.HA_TO_MN, 0x10009, 1009, "aes-gcm", bytes(range(20)).hex()),
    )
    assert len(static_keys(2, protect_all=True)) == 4


def _spec(kind: NodeKind, keying: Keying, protect_all: bool, slot: int = 0) -> NodeSpec:
    prefixes = (MNP.network_at(2 * slot), MNP.network_at(2 * slot + 1))
    return NodeSpec(
        name="car 'one'\n", kind=kind, home_address=HOME.address_at(slot),
        home_prefix_length=64, home_agent_address=IPv6Address("2001:db8:1::1"),
        mobile_network_prefixes=prefixes if kind is NodeKind.ROUTER else (),
        keying=keying, protect_all_traffic=protect_all, reqids=reqids(slot),
        keys=static_keys(slot, protect_all, random=lambda n: b"\x11" * n))


def test_include_text_exact() -> None:
    k = "11" * 20
    assert include_text(_spec(NodeKind.ROUTER, Keying.STATIC, False)) == f"""\
# Written by haiku; do not edit (it is rewritten when the node changes).
# mobile router "car 'one'\\n"
BindingAclPolicy 2001:db8:1::1000 (2001:db8:100::/64, 2001:db8:100:1::/64) allow;

IPsecPolicySet {{
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::1000/64;
    IPsecPolicy Mh UseESP 1000 1001;
    IPsecPolicy MobPfxDisc UseESP 1000 1001;
    StaticKey MnToHa 0x10000 1000 {{
        Encryption aes-gcm 0x{k};
    }}
    StaticKey HaToMn 0x10001 1001 {{
        Encryption aes-gcm 0x{k};
    }}
}}
"""


@pytest.mark.parametrize(("kind", "keying", "protect_all"),
                         list(product(NodeKind, Keying, (False, True))))
def test_rendered_files_parse_with_mip6d(kind: NodeKind, keying: Keying,
                                         protect_all: bool) -> None:
    nodes = [_spec(kind, keying, protect_all, slot) for slot in range(3)]
    includes = [(f"/etc/mip6d/nodes.d/haiku-{i}.conf", render_node(n)[0])
                for i, n in enumerate(nodes)]
    # As haiku_setup writes it: certificate-keyed nodes are keyed by IKEv2.
    text = (EXAMPLES / "home-agent.conf").read_text().replace(
        "KeyMngMobCapability disabled;", "KeyMngMobCapability enabled;")
    ha = parse(text, "/etc/mip6d/mip6d.conf", lambda pattern: includes)
    assert [str(acl.home_address) for acl in ha.binding_acl] == [
        "2001:db8:1::1000", "2001:db8:1::1001", "2001:db8:1::1002"]
    assert ha.warnings == ()
    node = parse(render_node(nodes[0])[1], "node.conf")
    assert node.warnings == ()
    assert node.key_mng_mob_capability is (keying is Keying.CERTIFICATE)
    link = node.home_links[0]
    assert link.is_mob_rtr is (kind is NodeKind.ROUTER)
    # Wired first, Wi-Fi when the wired link is gone (homeguy-wifi's interface).
    assert [(i.name, i.mn_if_preference) for i in node.interfaces] == [("eth0", 1),
                                                                       ("wlan0", 2)]
    assert link.interface == "eth0"
    assert len(node.ipsec_policy_sets[0].policies) == (3 if protect_all else 2)


def test_spec_rejects_inconsistent_nodes() -> None:
    with pytest.raises(ValueError, match="needs at least one mobile network prefix"):
        NodeSpec("r", NodeKind.ROUTER, IPv6Address("2001:db8:1::2"), 64,
                 IPv6Address("2001:db8:1::1"), (), Keying.CERTIFICATE, False, reqids(0))


def test_tokens() -> None:
    token = tokens.new_token()
    assert token.startswith("hgn_") and len(token) > 40
    assert tokens.digest("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert tokens.bearer(f"Bearer {token}") == token
    assert tokens.bearer(f"bearer  {token} ") == token
    for bad in (None, "", "Basic abc", "Bearer", "Bearer a b", token):
        assert tokens.bearer(bad) is None


def test_settings_defaults_and_errors() -> None:
    s = config.from_environ({})
    assert s.nodes_dir == "/etc/mip6d/nodes.d"
    assert s.secrets_dir == "/var/lib/haiku"
    assert s.mnp_pool_size == 65536
    assert s.email_confirmation is False
    assert s.control_timeout == 5.0
    assert config.from_environ({"HAIKU_CONTROL_TIMEOUT": "60"}).control_timeout == 60.0
    for bad in ("0", "-1", "soon", "7200"):
        with pytest.raises(config.SettingsError, match=f"HAIKU_CONTROL_TIMEOUT='{bad}'"):
            config.from_environ({"HAIKU_CONTROL_TIMEOUT": bad})
    with pytest.raises(config.SettingsError, match="HAIKU_OPERATOR_APPROVAL='maybe'"):
        config.from_environ({"HAIKU_OPERATOR_APPROVAL": "maybe"})
    with pytest.raises(config.SettingsError, match="is not inside HAIKU_HOME_PREFIX"):
        config.from_environ({"HAIKU_HOME_AGENT_ADDRESS": "2001:db8:2::1"})


def test_database_urls() -> None:
    assert config.database("", "/var/lib/haiku") == {
        "ENGINE": "haiku.sqlite3", "NAME": "/var/lib/haiku/haiku.sqlite3"}
    assert config.database("postgresql://hk:p%40ss@127.0.0.1:5433/haiku", "/x") == {
        "ENGINE": "django.db.backends.postgresql", "NAME": "haiku", "USER": "hk",
        "PASSWORD": "p@ss", "HOST": "127.0.0.1", "PORT": "5433", "OPTIONS": {}}
    assert config.database("postgresql:///haiku?host=/run/postgresql", "/x")["HOST"] == \
        "/run/postgresql"
    with pytest.raises(config.SettingsError, match="unsupported scheme 'mysql'"):
        config.database("mysql://x/y", "/x")


def test_plot() -> None:
    empty = svg_plot({}, title="t")
    assert "not enough samples yet" in empty and empty.endswith("</svg>")
    svg = svg_plot({"bindings": [(0.0, 1.0), (60.0, 3.0)]}, title="a<b", width=200,
                   height=100)
    assert "<title>a&lt;b</title>" in svg
    assert 'points="50.0,54.7 190.0,24.0"' in svg


def test_confusable_names_share_a_skeleton() -> None:
    same = ["admin", "Admin", "ADMIN", "\u0430dmin", "\u0410DMIN", "\u03b1dmin",
            "\uff41\uff44\uff4d\uff49\uff4e", "adm\u0456n"]
    assert {skeleton(n) for n in same} == {"admin"}
    assert skeleton("\u0440\u0430\u0443\u0440\u0430l") == skeleton("paypal")
    assert len({skeleton(n) for n in ("admin", "admin2", "adnim", "bob")}) == 4


def test_dashboard_texts() -> None:
    assert [dashboard.duration(s) for s in (-3, 0, 42, 200, 3600, 7500, 273600)] == [
        "0 s", "0 s", "42 s", "3 min 20 s", "1 h", "2 h 5 min", "3 d 4 h"]
    assert [dashboard.size(n) for n in (512, 1500, 2_000_000, 3.2e9)] == [
        "512 B", "1.5 kB", "2.0 MB", "3.2 GB"]
    assert dashboard.ago(1_000_000, 1_000_200) == "3 min 20 s ago (13:46 UTC)"


def test_dashboard_counts_failures_by_the_table() -> None:
    counters = {"binding_updates_received/accepted": 5,
                "binding_updates_received/accepted-prefix-discovery-necessary": 1,
                "binding_updates_received/ignored": 2,
                "binding_updates_received/not-home-subnet": 3,
                "binding_updates_received/dropped": 1, "handler_failures/mh": 1,
                "reloads/ok": 9, "reloads/failed": 1, "messages_sent/binding-ack": 40,
                "state_saves/ok": 3, "bogus": "text", "flag": True}
    assert dashboard.binding_updates(counters) == 12
    assert dashboard.failures(counters) == 6


def test_dashboard_node_cells_and_rates() -> None:
    ha_down = dashboard.Reading(None, "cannot reach mip6d")
    cells = dashboard.node_cells("n", True, None, ha_down, 0.0)
    assert cells["n-state"] == dashboard.Cell("unknown: the home agent is not answering",
                                              dashboard.Tone.BAD)
    assert set(cells) == {"n-state", "n-care-of", "n-lifetime", "n-last-handover",
                          "n-tunnel-traffic"}
    answering = dashboard.reading([])
    assert dashboard.node_cells("n", False, None, answering, 0.0)["n-state"].text == (
        "not registered (disabled)")
    assert not dashboard.reading({"not": "a list"}).ok
    near_end = {"expires_at": 120.0}
    assert dashboard.LIVE_COLUMNS[1].cell(near_end, 100.0) == dashboard.Cell(
        "20 s", dashboard.Tone.BAD)
    points = [dashboard.Point(0, 1, 100, 0), dashboard.Point(120, 2, 160, 4),
              dashboard.Point(180, None, 0, 0), dashboard.Point(240, 0, 30, 1)]
    assert dashboard.series("binding-updates", points) == (
        "Binding Updates per minute", [(120, 30.0), (240, 15.0)])
    assert dashboard.series("failures", points)[1] == [(120, 2.0), (240, 0.5)]
    assert dashboard.series("down", points)[1] == [(0, 0.0), (120, 0.0), (180, 1.0),
                                                   (240, 0.0)]
    many = [dashboard.Point(60 * i, i % 7, 0, 0) for i in range(1000)]
    _title, drawn = dashboard.series("bindings", many, limit=100)
    assert len(drawn) == 100 and {v for _t, v in drawn} == {6.0}
