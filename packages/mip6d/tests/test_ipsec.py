"""Static IPsec (RFC 3776): SAs and Mobility Header policies from the example configs."""

from ipaddress import IPv6Address, IPv6Interface
from pathlib import Path

import pytest
from mip6d.command import command_line
from mip6d.config import NodeRole, load, parse
from mip6d.core.bul import BulEntry, CareOfChanged, HomeRegistration, MnSettings, step
from mip6d.core.effects import (
    AddEspSa,
    AddXfrmState,
    Effect,
    RemoveEspSa,
    SendMessage,
    XfrmDirection,
    XfrmRoProto,
    inverse,
    is_removal,
    reconcile,
)
from mip6d.core.ipsec import (
    SignallingPolicy,
    around_tunnel_move,
    policy_effect,
    sa_effect,
    static_ipsec,
    tunnel_effects,
    tunnel_keys,
)
from mip6d.shell.kernel import esp_sa_argv, xfrm_policy_argv, xfrm_state_argv
from mip6d.wire.icmp6 import ICMPv6Type
from mip6d.wire.mh import MHType

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HA = IPv6Address("2001:db8:1::1")
HOST, ROUTER = IPv6Address("2001:db8:1::1234"), IPv6Address("2001:db8:1::2001")
MPS, MPA = ICMPv6Type.MOBILE_PREFIX_SOLICITATION, ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT


def argv(effect: Effect) -> list[str]:
    """The command line the kernel adapter runs for an IPsec effect."""
    if isinstance(effect, AddEspSa | RemoveEspSa):
        return esp_sa_argv(effect)
    return xfrm_policy_argv(effect)  # type: ignore[arg-type]


def test_home_agent_protects_every_node_of_nodes_d() -> None:
    ipsec = static_ipsec(load(str(EXAMPLES / "home-agent.conf")))
    assert ipsec.home_addresses == {HOST, ROUTER}
    assert [(sa.src, sa.dst, sa.spi, sa.reqid) for sa in ipsec.sas] == [
        (HOST, HA, 0x1011, 11), (HA, HOST, 0x1012, 12),
        (ROUTER, HA, 0x1021, 21), (HA, ROUTER, 0x1022, 22),
    ]  # the tunnel-mode keys (13, 14, 23, 24) are not installed yet
    assert ipsec.policies[:2] == (
        SignallingPolicy(XfrmDirection.IN, HOST, HA, MHType.BU, 11, XfrmRoProto.HAO),
        SignallingPolicy(XfrmDirection.OUT, HA, HOST, MHType.BA, 12, None),
    )


def test_mobile_node_side() -> None:
    ipsec = static_ipsec(load(str(EXAMPLES / "mobile-host.conf")))
    assert ipsec.home_addresses == {HOST}
    assert ipsec.policies == (
        SignallingPolicy(XfrmDirection.OUT, HOST, HA, MHType.BU, 11, XfrmRoProto.HAO),
        SignallingPolicy(XfrmDirection.IN, HA, HOST, MHType.BA, 12, XfrmRoProto.ROUTE2),
        # IPsecPolicy MobPfxDisc: Mobile Prefix Discovery goes the same ways, same SAs.
        SignallingPolicy(XfrmDirection.OUT, HOST, HA, MPS, 11, XfrmRoProto.HAO),
        SignallingPolicy(XfrmDirection.IN, HA, HOST, MPA, 12, XfrmRoProto.ROUTE2),
    )
    assert ipsec.protecting(MPS) == {HOST}
    assert argv(policy_effect(ipsec.policies[0])) == [
        "ip", "xfrm", "policy", "update", "dir", "out", "src", "2001:db8:1::1234/128",
        "dst", "2001:db8:1::1/128", "proto", "135", "type", "5", "priority", "100",
        "tmpl", "src", "2001:db8:1::1234", "dst", "2001:db8:1::1", "proto", "esp",
        "mode", "transport", "reqid", "11", "level", "required",
        "tmpl", "proto", "hao", "mode", "ro", "level", "use",
    ]
    assert argv(inverse(policy_effect(ipsec.policies[1]))) == [
        "ip", "xfrm", "policy", "delete", "dir", "in", "src", "2001:db8:1::1/128",
        "dst", "2001:db8:1::1234/128", "proto", "135", "type", "6",
    ]
    assert argv(policy_effect(ipsec.policies[2]))[6:14] == [
        "src", "2001:db8:1::1234/128", "dst", "2001:db8:1::1/128", "proto", "58", "type", "146"]


def test_sa_command_and_its_redacted_log_line() -> None:
    sa = static_ipsec(load(str(EXAMPLES / "mobile-host.conf"))).sas[0]
    add = argv(sa_effect(sa))
    assert add == [
        "ip", "xfrm", "state", "add", "src", "2001:db8:1::1234", "dst", "2001:db8:1::1",
        "proto", "esp", "spi", "0x1011", "reqid", "11", "mode", "transport",
        "enc", "cbc(aes)", "0x5e43216e03e5af3527f9780c6d2d2c76",
        "auth-trunc", "hmac(sha256)",
        "0x928951ce5f434382417ebba459d5680c7f92bb973b175ec6e41865ee0ff5cf53", "128",
    ]
    assert command_line(add) == (
        "ip xfrm state add src 2001:db8:1::1234 dst 2001:db8:1::1 proto esp spi 0x1011 "
        "reqid 11 mode transport enc 'cbc(aes)' [redacted] auth-trunc 'hmac(sha256)' "
        "[redacted] 128"
    )
    assert argv(inverse(sa_effect(sa))) == [
        "ip", "xfrm", "state", "delete", "src", "2001:db8:1::1234", "dst", "2001:db8:1::1",
        "proto", "esp", "spi", "0x1011",
    ]


def test_no_static_keys_or_ipsec_disabled_means_nothing() -> None:
    text = (EXAMPLES / "mobile-host.conf").read_text()
    disabled = parse(text.replace("UseMnHaIPsec enabled;", "UseMnHaIPsec disabled;"), "x")
    assert static_ipsec(disabled).sas == () and static_ipsec(disabled).policies == ()


def test_a_set_without_keys_installs_its_policies_for_sas_from_elsewhere() -> None:
    # The reference implementation's way: no StaticKey and no KeyMngMobCapability, the
    # SAs installed by setkey. mip6d installs the policies (with the set's reqids), no SA.
    config = parse(
        'NodeConfig MN;\nInterface "eth0";\nUseMnHaIPsec enabled;\n'
        f'MnHomeLink "eth0" {{\n HomeAgentAddress {HA};\n HomeAddress {HOST}/64;\n}}\n'
        f"IPsecPolicySet {{\n HomeAgentAddress {HA};\n HomeAddress {HOST}/64;\n"
        " IPsecPolicy HomeRegBinding UseESP 11 12;\n}", "x")
    ipsec = static_ipsec(config)
    assert ipsec.sas == () and ipsec.static_keyed == frozenset()
    assert ipsec.policies == (
        SignallingPolicy(XfrmDirection.OUT, HOST, HA, MHType.BU, 11, XfrmRoProto.HAO),
        SignallingPolicy(XfrmDirection.IN, HA, HOST, MHType.BA, 12, XfrmRoProto.ROUTE2),
    )


def test_a_protected_registration_declares_its_hao_state() -> None:
    """The kernel adds ESP and then the Home Address option from the ``hao`` state: the
    Binding Update leaves from the home address, its state names the care-of address
    and follows it."""
    coa, coa2 = IPv6Address("2001:db8:f1::5"), IPv6Address("2001:db8:f2::5")
    reg = HomeRegistration(IPv6Interface(f"{HOST}/64"), HA, protected=True)
    entry, effects = step(BulEntry(reg), CareOfChanged(coa), 0.0, MnSettings())
    hao = AddXfrmState(XfrmRoProto.HAO, HOST, HA, coa)
    assert hao in effects
    (sent,) = [e for e in effects if isinstance(e, SendMessage)]
    assert (sent.src, sent.home_address_option) == (HOST, None)
    assert effects.index(hao) < effects.index(sent)
    assert xfrm_state_argv(hao) == [
        "ip", "xfrm", "state", "add", "src", "2001:db8:1::1234", "dst", "2001:db8:1::1",
        "proto", "hao", "spi", "0", "mode", "ro", "coa", "2001:db8:f1::5",
    ]
    _, effects = step(entry, CareOfChanged(coa2), 1.0, MnSettings())
    moved = AddXfrmState(XfrmRoProto.HAO, HOST, HA, coa2)
    (sent,) = [e for e in effects if isinstance(e, SendMessage)]
    assert effects.index(inverse(hao)) < effects.index(moved) < effects.index(sent)


def test_tunnel_payload_keys_and_commands_follow_the_care_of_address() -> None:
    coa = IPv6Address("2001:db8:a::5")
    keys = tunnel_keys(load(str(EXAMPLES / "mobile-host.conf")))
    assert set(keys) == {HOST}
    assert (keys[HOST].ha, keys[HOST].to_ha.spi, keys[HOST].to_mn.spi) == (HA, 0x1013, 0x1014)
    mn = tunnel_effects(keys[HOST], coa, NodeRole.MN)
    adds = [" ".join(argv(e)) for e in mn]
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
    assert " ".join(argv(inverse(mn[2]))) == (
        f"ip xfrm policy delete dir out src {coa}/128 dst {HA}/128 proto 41")
    # The home agent's side mirrors it: its out policy is the mobile node's in policy.
    ha_keys = tunnel_keys(load(str(EXAMPLES / "home-agent.conf")))
    ha = tunnel_effects(ha_keys[HOST], coa, NodeRole.HA)
    assert " ".join(argv(ha[2])).startswith(f"ip xfrm policy update dir out src {HA}/128 "
                                         f"dst {coa}/128 proto 41")
    assert set(ha[:2]) == set(mn[:2])
    # Without UseMnHaIPsec nothing is protected.
    text = (EXAMPLES / "mobile-host.conf").read_text().replace(
        "UseMnHaIPsec enabled;", "UseMnHaIPsec disabled;")
    assert tunnel_keys(parse(text, str(EXAMPLES / "mobile-host.conf"))) == {}


@pytest.mark.parametrize("role, example", [(NodeRole.MN, "mobile-host.conf"),
                                           (NodeRole.HA, "home-agent.conf")])
def test_a_moving_tunnel_is_never_unprotected(role: NodeRole, example: str) -> None:
    old, new = IPv6Address("2001:db8:a::5"), IPv6Address("2001:db8:b::5")
    keys = tunnel_keys(load(str(EXAMPLES / example)))[HOST]
    changes = reconcile(tunnel_effects(keys, old, role), tunnel_effects(keys, new, role))
    before, after = around_tunnel_move(changes)
    assert sorted(map(repr, before + after)) == sorted(map(repr, changes))
    # Before the move: additions only, the new policies among them; the old state stays.
    assert not any(is_removal(e) for e in before)
    policies = {e for e in tunnel_effects(keys, new, role) if not isinstance(e, AddEspSa)}
    assert len(policies) == 2 and policies <= set(before)
    # The SA towards the home agent keeps its SPI: it comes after the old one's removal.
    old_up, up = (next(e for e in tunnel_effects(keys, coa, role)
                       if isinstance(e, AddEspSa) and e.dst == HA) for coa in (old, new))
    assert up not in before and after.index(inverse(old_up)) < after.index(up)
