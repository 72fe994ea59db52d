"""Static IPsec (RFC 3776): SAs and Mobility Header policies from the example configs."""

from ipaddress import IPv6Address
from pathlib import Path

import pytest
from mip6d.command import command_line
from mip6d.config import load, parse
from mip6d.ipsec import (
    Direction,
    MhPolicy,
    mobile_hao_state_argv,
    policy_argv,
    sa_argv,
    static_ipsec,
)
from mip6d.wire.mh import MHType

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HA = IPv6Address("2001:db8:1::1")
HOST, ROUTER = IPv6Address("2001:db8:1::1234"), IPv6Address("2001:db8:1::2001")


def test_home_agent_protects_every_node_of_nodes_d() -> None:
    ipsec = static_ipsec(load(str(EXAMPLES / "home-agent.conf")))
    assert ipsec.home_addresses == {HOST, ROUTER}
    assert [(sa.src, sa.dst, sa.spi, sa.reqid) for sa in ipsec.sas] == [
        (HOST, HA, 0x1011, 11), (HA, HOST, 0x1012, 12),
        (ROUTER, HA, 0x1021, 21), (HA, ROUTER, 0x1022, 22),
    ]  # the tunnel-mode keys (13, 14, 23, 24) are not installed yet
    assert ipsec.policies[:2] == (
        MhPolicy(Direction.IN, HOST, HA, MHType.BU, 11, "hao"),
        MhPolicy(Direction.OUT, HA, HOST, MHType.BA, 12, None),
    )


def test_mobile_node_side() -> None:
    ipsec = static_ipsec(load(str(EXAMPLES / "mobile-host.conf")))
    assert ipsec.home_addresses == {HOST}
    assert ipsec.policies == (
        MhPolicy(Direction.OUT, HOST, HA, MHType.BU, 11, "hao"),
        MhPolicy(Direction.IN, HA, HOST, MHType.BA, 12, "route2"),
    )
    assert policy_argv(ipsec.policies[0], add=True) == [
        "ip", "xfrm", "policy", "update", "dir", "out", "src", "2001:db8:1::1234/128",
        "dst", "2001:db8:1::1/128", "proto", "135", "type", "5", "priority", "100",
        "tmpl", "src", "2001:db8:1::1234", "dst", "2001:db8:1::1", "proto", "esp",
        "mode", "transport", "reqid", "11", "level", "required",
        "tmpl", "proto", "hao", "mode", "ro", "level", "use",
    ]
    assert policy_argv(ipsec.policies[1], add=False) == [
        "ip", "xfrm", "policy", "delete", "dir", "in", "src", "2001:db8:1::1/128",
        "dst", "2001:db8:1::1234/128", "proto", "135", "type", "6",
    ]


def test_sa_command_and_its_redacted_log_line() -> None:
    sa = static_ipsec(load(str(EXAMPLES / "mobile-host.conf"))).sas[0]
    argv = sa_argv(sa, add=True)
    assert argv == [
        "ip", "xfrm", "state", "add", "src", "2001:db8:1::1234", "dst", "2001:db8:1::1",
        "proto", "esp", "spi", "0x1011", "reqid", "11", "mode", "transport",
        "enc", "cbc(aes)", "0x5e43216e03e5af3527f9780c6d2d2c76",
        "auth-trunc", "hmac(sha256)",
        "0x928951ce5f434382417ebba459d5680c7f92bb973b175ec6e41865ee0ff5cf53", "128",
    ]
    assert command_line(argv) == (
        "ip xfrm state add src 2001:db8:1::1234 dst 2001:db8:1::1 proto esp spi 0x1011 "
        "reqid 11 mode transport enc 'cbc(aes)' [redacted] auth-trunc 'hmac(sha256)' "
        "[redacted] 128"
    )
    assert sa_argv(sa, add=False) == [
        "ip", "xfrm", "state", "delete", "src", "2001:db8:1::1234", "dst", "2001:db8:1::1",
        "proto", "esp", "spi", "0x1011",
    ]


def test_no_static_keys_or_ipsec_disabled_means_nothing() -> None:
    text = (EXAMPLES / "mobile-host.conf").read_text()
    disabled = parse(text.replace("UseMnHaIPsec enabled;", "UseMnHaIPsec disabled;"), "x")
    assert static_ipsec(disabled).sas == () and static_ipsec(disabled).policies == ()


def test_hao_state_follows_the_care_of_address() -> None:
    coa = IPv6Address("2001:db8:f1::5")
    assert mobile_hao_state_argv(HOST, HA, coa) == [
        "ip", "xfrm", "state", "add", "src", "2001:db8:1::1234", "dst", "2001:db8:1::1",
        "proto", "hao", "spi", "0", "mode", "ro", "coa", "2001:db8:f1::5",
    ]
    assert mobile_hao_state_argv(HOST, HA, None)[:4] == ["ip", "xfrm", "state", "delete"]


def test_tunnel_payload_keys_and_commands_follow_the_care_of_address() -> None:
    from mip6d.config import NodeRole  # noqa: PLC0415
    from mip6d.ipsec import tunnel_commands, tunnel_keys  # noqa: PLC0415

    coa = IPv6Address("2001:db8:a::5")
    keys = tunnel_keys(load(str(EXAMPLES / "mobile-host.conf")))
    assert set(keys) == {HOST}
    assert (keys[HOST].ha, keys[HOST].to_ha.spi, keys[HOST].to_mn.spi) == (HA, 0x1013, 0x1014)
    mn = tunnel_commands(keys[HOST], coa, NodeRole.MN)
    adds = [" ".join(add) for add, _ in mn]
    assert adds[0].startswith(f"ip xfrm state add src {coa} dst {HA} proto esp spi 0x1013 "
                              "reqid 13 mode transport")
    assert adds[1].startswith(f"ip xfrm state add src {HA} dst {coa} proto esp spi 0x1014 "
                              "reqid 14 mode transport")
    assert adds[2:] == [
        f"ip xfrm policy update dir out src {coa}/128 dst {HA}/128 proto 41 priority 100 "
        f"tmpl src {coa} dst {HA} proto esp mode transport reqid 13 level required",
        f"ip xfrm policy update dir in src {HA}/128 dst {coa}/128 proto 41 priority 100 "
        f"tmpl src {HA} dst {coa} proto esp mode transport reqid 14 level required",
    ]
    assert [" ".join(remove) for _, remove in mn][2] == (
        f"ip xfrm policy delete dir out src {coa}/128 dst {HA}/128 proto 41")
    # The home agent's side mirrors it: its out policy is the mobile node's in policy.
    ha_keys = tunnel_keys(load(str(EXAMPLES / "home-agent.conf")))
    ha = tunnel_commands(ha_keys[HOST], coa, NodeRole.HA)
    assert " ".join(ha[2][0]).startswith(f"ip xfrm policy update dir out src {HA}/128 "
                                         f"dst {coa}/128 proto 41")
    assert {a for a, _ in ha[:2]} == {a for a, _ in mn[:2]}
    # Without UseMnHaIPsec nothing is protected.
    text = (EXAMPLES / "mobile-host.conf").read_text().replace(
        "UseMnHaIPsec enabled;", "UseMnHaIPsec disabled;")
    assert tunnel_keys(parse(text, str(EXAMPLES / "mobile-host.conf"))) == {}
