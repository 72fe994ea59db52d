"""Parsing mip6d.conf into the model: every keyword, UMIP's defaults, syntax errors."""

import pickle
from ipaddress import IPv4Address, IPv6Address, IPv6Interface, IPv6Network

import pytest
from mip6d.config import (
    BA_ACCEPTED,
    BA_PROHIBITED,
    BindingAcl,
    CnBindingPolicy,
    Config,
    ConfigError,
    FlowBindingPolicy,
    HomeLink,
    Interface,
    IPsecPolicy,
    IPsecPolicyType,
    IPsecProtocol,
    ListenAddress,
    Location,
    NodeRole,
    RoPolicy,
    parse,
)

pytestmark = pytest.mark.unit

A = IPv6Address
N = IPv6Network


def error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, "t.conf")
    return str(caught.value)


def test_empty_configuration_has_umip_defaults() -> None:
    config = parse("", "empty.conf")
    assert config == Config()
    assert config.sources == ("empty.conf",)
    assert config.warnings == ()
    # UMIP conf_default() in src/conf.c, with the RFC 6275 constants of src/mipv6.h.
    assert config.node_config is NodeRole.CN
    assert config.debug_level == 0
    assert config.debug_log_file is None
    assert config.do_route_optimization_cn is True
    assert config.use_mn_ha_ipsec is True
    assert config.key_mng_mob_capability is False
    assert config.default_binding_acl_policy == BA_ACCEPTED
    assert config.ha_max_binding_life == 262140
    assert config.mn_max_ha_binding_life == 262140
    assert config.mn_max_cn_binding_life == 420
    assert config.send_mob_pfx_advs is True
    assert config.send_unsol_mob_pfx_advs is True
    assert config.min_mob_pfx_adv_interval == 600
    assert config.max_mob_pfx_adv_interval == 86400
    assert config.ha_accept_mob_rtr is False
    assert config.mob_rtr_use_explicit_mode is True
    assert config.do_route_optimization_mn is True
    assert config.send_mob_pfx_sols is True
    assert config.mn_use_all_interfaces is False
    assert config.use_cn_bu_ack is False
    assert config.mn_discard_ha_param_prob is False
    assert config.mn_reset_dhaad_at_home is False
    assert config.mn_flush_all_at_home is False
    assert config.mn_max_ha_consecutive_resends == 5
    assert config.mn_max_cn_consecutive_resends == 0
    assert config.interface_initial_init_delay == 2.0
    assert config.mn_router_probes == 0
    assert config.mn_router_probe_timeout == 0.0
    assert config.initial_bindack_timeout_first_reg == 1.5
    assert config.initial_bindack_timeout_rereg == 1.0
    assert config.initial_solicit_timer == 3.0
    assert config.optimistic_handoff is False
    assert config.no_home_return is False
    assert config.max_bindack_timeout == 32.0
    assert config.control_socket == "/run/mip6d/control.sock"
    assert config.state_file == "/var/lib/mip6d/bindings.json"
    assert config.metrics_listen is None


SCALARS = """\
NodeConfig CN;
DebugLevel 7;
DebugLogFile "/var/log/mip6d.log";
DoRouteOptimizationCN disabled;
UseMnHaIPsec false;
KeyMngMobCapability true;
HaMaxBindingLife 3600;
SendMobPfxAdvs deny;
SendUnsolMobPfxAdvs block;
MinMobPfxAdvInterval 10;
MaxMobPfxAdvInterval 20;
HaAcceptMobRtr allow;
DefaultBindingAclPolicy 133;
MnMaxHaBindingLife 600;
MnMaxCnBindingLife 4;
MnDiscardHaParamProb enabled;
MnResetDhaadAtHome enabled;
MnFlushAllAtHome enabled;
MnMaxCnConsecutiveResends 9;
MnMaxHaConsecutiveResends 2;
SendMobPfxSols disabled;
DoRouteOptimizationMN disabled;
MnUseAllInterfaces enabled;
MobRtrUseExplicitMode disabled;
UseCnBuAck enabled;
InterfaceInitialInitDelay 0;
MnRouterProbes 3;
MnRouterProbeTimeout 0.25;
InitialBindackTimeoutFirstReg 2;
InitialBindackTimeoutReReg 0.5;
MaxBindackTimeout 16.5;
InitialSolicitTimer 4.0;
OptimisticHandoff enabled;
NoHomeReturn enabled;
ControlSocket "/run/x.sock";
StateFile "/var/lib/x.json";
MetricsListen "127.0.0.1:9100";
"""


def test_every_scalar_keyword_sets_its_field() -> None:
    config = parse(SCALARS, "s.conf")
    assert config == Config(
        node_config=NodeRole.CN,
        debug_level=7,
        debug_log_file="/var/log/mip6d.log",
        do_route_optimization_cn=False,
        use_mn_ha_ipsec=False,
        key_mng_mob_capability=True,
        ha_max_binding_life=3600,
        send_mob_pfx_advs=False,
        send_unsol_mob_pfx_advs=False,
        min_mob_pfx_adv_interval=10,
        max_mob_pfx_adv_interval=20,
        ha_accept_mob_rtr=True,
        default_binding_acl_policy=133,
        mn_max_ha_binding_life=600,
        mn_max_cn_binding_life=4,
        mn_discard_ha_param_prob=True,
        mn_reset_dhaad_at_home=True,
        mn_flush_all_at_home=True,
        mn_max_cn_consecutive_resends=9,
        mn_max_ha_consecutive_resends=2,
        send_mob_pfx_sols=False,
        do_route_optimization_mn=False,
        mn_use_all_interfaces=True,
        mob_rtr_use_explicit_mode=False,
        use_cn_bu_ack=True,
        interface_initial_init_delay=0.0,
        mn_router_probes=3,
        mn_router_probe_timeout=0.25,
        initial_bindack_timeout_first_reg=2.0,
        initial_bindack_timeout_rereg=0.5,
        max_bindack_timeout=16.5,
        initial_solicit_timer=4.0,
        optimistic_handoff=True,
        no_home_return=True,
        control_socket="/run/x.sock",
        state_file="/var/lib/x.json",
        metrics_listen=ListenAddress(IPv4Address("127.0.0.1"), 9100),
    )
    assert config.where("debug_level") == Location("s.conf", 2, 1)
    assert config.where("metrics_listen") == Location("s.conf", 37, 1)
    assert isinstance(config.initial_bindack_timeout_first_reg, float)


def test_metrics_listen_ipv6() -> None:
    config = parse('MetricsListen "[::1]:9516";')
    assert config.metrics_listen == ListenAddress(A("::1"), 9516)
    assert str(config.metrics_listen) == "[::1]:9516"
    assert str(ListenAddress(IPv4Address("127.0.0.1"), 1)) == "127.0.0.1:1"


def test_interfaces_short_and_long_form() -> None:
    config = parse(
        'NodeConfig MN;\nInterface "eth0";\nInterface "wlan0" {\n MnIfPreference 0;\n'
        ' IfType CN;\n Tunnel enabled;\n};\nInterface "x" {}\n'
        'MnHomeLink "eth0" { HomeAgentAddress ::; HomeAddress 2001:db8::5/64; }'
    )
    assert config.interfaces == (
        Interface(name="eth0"),
        Interface(name="wlan0", mn_if_preference=0, if_type=NodeRole.CN, tunnel=True),
        Interface(name="x"),
    )
    wlan = config.interfaces[1]
    assert wlan.location == Location("<string>", 3, 1)
    assert wlan.where("tunnel") == Location("<string>", 6, 2)
    assert wlan.role(NodeRole.MN) is NodeRole.CN
    assert config.interfaces[0].role(NodeRole.MN) is NodeRole.MN


def test_home_link_with_everything() -> None:
    config = parse(
        'NodeConfig MN;\nMnUseAllInterfaces enabled;\n'
        'MnHomeLink "eth0" {\n'
        "    IsMobRtr enabled;\n"
        "    HomeAgentAddress 2001:db8:1::1;\n"
        "    HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64, 2001:db8:3::/64);\n"
        "    HomePrefix 2001:db8:1::99/48;\n"
        "    UseAltCoa enabled;\n"
        "    MnRoPolicy 2001:db8:9::3 enabled;\n"
        "    MnRoPolicy disabled;\n"
        "}\n"
    )
    (link,) = config.home_links
    assert link == HomeLink(
        interface="eth0",
        home_agent_address=A("2001:db8:1::1"),
        home_address=IPv6Interface("2001:db8:1::1234/64"),
        mobile_network_prefixes=(N("2001:db8:2::/64"), N("2001:db8:3::/64")),
        is_mob_rtr=True,
        home_prefix=N("2001:db8:1::/48"),  # UMIP masks HomePrefix
        use_alt_coa=True,
        ro_policies=(
            RoPolicy(correspondent=A("2001:db8:9::3"), route_optimization=True),
            RoPolicy(correspondent=None, route_optimization=False),
        ),
    )
    assert link.effective_home_prefix == N("2001:db8:1::/48")
    assert link.where("ro_policies[1]") == Location("<string>", 10, 5)
    assert link.ro_policies[1].location == Location("<string>", 10, 5)


MCOA = """\
NodeConfig MN;
Interface "eth1" { MnIfPreference 1; Bid 1; BidPriority 10; }
Interface "eth2" { MnIfPreference 2; Bid 2; BidPriority 20; }
MnHomeLink "eth0" {
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64);
    IsMobRtr enabled;
    RegMultipleCoA enabled;
    FlowBinding 1 {
        FlowPriority 10;
        BindingIds 1 2;
        Protocol 17;
        DestinationPort 5001;
    }
    FlowBinding 2 {
        FlowPriority 20;
        BindingIds 2 1;
        Protocol 17;
        DestinationPort 5002 5003;
    }
}
"""


def test_multiple_care_of_addresses_and_flow_bindings() -> None:
    config = parse(MCOA)
    assert config.warnings == ()
    assert config.interfaces == (
        Interface(name="eth1", mn_if_preference=1, bid=1, bid_priority=10),
        Interface(name="eth2", mn_if_preference=2, bid=2, bid_priority=20),
    )
    assert config.interfaces[1].where("bid") == Location("<string>", 3, 38)
    (link,) = config.home_links
    assert link.reg_multiple_coa
    assert link.flow_bindings == (
        FlowBindingPolicy(fid=1, priority=10, bids=(1, 2), protocol=17,
                          destination_port=(5001, 5001)),
        FlowBindingPolicy(fid=2, priority=20, bids=(2, 1), protocol=17,
                          destination_port=(5002, 5003)),
    )
    assert link.where("flow_bindings[1]") == Location("<string>", 15, 5)
    second = link.flow_bindings[1]
    assert second.location == Location("<string>", 15, 5)
    assert second.where("bids") == Location("<string>", 17, 9)
    assert second.where("destination_port") == Location("<string>", 19, 9)
    assert not second.selects_all


def test_flow_binding_selector_statements_and_defaults() -> None:
    config = parse(MCOA.replace(
        "        Protocol 17;\n        DestinationPort 5001;\n",
        "        Protocol 6;\n        SourcePort 80;\n        DestinationPort 0 1023;\n"
        "        SourceAddress 2001:db8:9::/48;\n"
        "        DestinationAddress 2001:db8:1::1234/128;\n",
    ).replace("        Protocol 17;\n        DestinationPort 5002 5003;\n", ""))
    first, second = config.home_links[0].flow_bindings
    assert first == FlowBindingPolicy(
        fid=1, priority=10, bids=(1, 2), protocol=6, source_port=(80, 80),
        destination_port=(0, 1023), source_address=N("2001:db8:9::/48"),
        destination_address=N("2001:db8:1::1234/128"),
    )
    assert second == FlowBindingPolicy(fid=2, priority=20, bids=(2, 1))
    assert second.selects_all


def test_multiple_care_of_defaults() -> None:
    config = parse('Interface "eth1";\nMnHomeLink "eth0" { HomeAddress 2001:db8:1::5/64; }')
    assert (config.interfaces[0].bid, config.interfaces[0].bid_priority) == (None, 0)
    assert not config.home_links[0].reg_multiple_coa
    assert config.home_links[0].flow_bindings == ()


def test_home_prefix_defaults_to_the_home_address_prefix() -> None:
    config = parse('MnHomeLink "eth0" { HomeAddress 2001:db8:1::1234/64; }')
    assert config.home_links[0].home_prefix is None
    assert config.home_links[0].effective_home_prefix == N("2001:db8:1::/64")
    assert config.home_links[0].home_agent_address == A("::")


def test_ha_statements() -> None:
    config = parse(
        "HaServedPrefix 2001:db8:100::/48;\nHaServedPrefix 2001:db8:200::/48;\n"
        "BindingAclPolicy 2001:db8:1::1234 allow;\n"
        "BindingAclPolicy 2001:db8:1::1235 (2001:db8:2::/64,2001:db8:3::/64) deny;\n"
        "BindingAclPolicy 2001:db8:1::1236 135;\n"
        "HaAcceptMobRtr enabled;\n"
    )
    assert config.ha_served_prefixes == (N("2001:db8:100::/48"), N("2001:db8:200::/48"))
    assert config.where("ha_served_prefixes[1]") == Location("<string>", 2, 1)
    assert config.binding_acl == (
        BindingAcl(home_address=A("2001:db8:1::1234"), status=BA_ACCEPTED),
        BindingAcl(
            home_address=A("2001:db8:1::1235"),
            mobile_network_prefixes=(N("2001:db8:2::/64"), N("2001:db8:3::/64")),
            status=BA_PROHIBITED,
        ),
        BindingAcl(home_address=A("2001:db8:1::1236"), status=135),
    )
    assert [acl.allowed for acl in config.binding_acl] == [True, False, False]


def test_cn_binding_policy_set_lines_and_repeats() -> None:
    config = parse(
        "CnBindingPolicySet {\n 2001:db8::1 enabled;\n 2001:db8::2 2001:db8::9 disabled;\n}\n"
        "CnBindingPolicySet { 2001:db8::3 true; }"
    )
    assert config.cn_binding_policies == (
        CnBindingPolicy(peer_home_address=A("2001:db8::1"), route_optimization=True),
        CnBindingPolicy(peer_home_address=A("2001:db8::2"), local_address=A("2001:db8::9"),
                        route_optimization=False),
        CnBindingPolicy(peer_home_address=A("2001:db8::3"), route_optimization=True),
    )
    assert config.cn_binding_policies[1].location == Location("<string>", 3, 2)


def test_ipsec_policy_forms() -> None:
    config = parse(
        "IPsecPolicySet {\n"
        "  IPsecPolicy HomeRegBinding UseESP;\n"
        "  HomeAddress 2001:db8:1::1234/64;\n"
        "  HomeAgentAddress 2001:db8:1::1;\n"
        "  HomeAddress 2001:db8:1::1235/64;\n"
        "  IPsecPolicy MobPfxDisc UseESP 7;\n"
        "  IPsecPolicy TunnelMh UseESP 8 9 deny;\n"
        "}\n"
        "IPsecPolicySet {\n"
        "  HomeAgentAddress 2001:db8:1::1;\n"
        "  HomeAddress 2001:db8:1::9/64;\n"
        "  IPsecPolicy any UseESP 1 2 allow;\n"
        "}\n"
    )
    policy_set, other = config.ipsec_policy_sets
    assert other.policies == (
        IPsecPolicy(type=IPsecPolicyType.ANY, reqid_to_ha=1, reqid_to_mn=2),
    )
    assert policy_set.home_agent_address == A("2001:db8:1::1")
    assert policy_set.home_addresses == (
        IPv6Interface("2001:db8:1::1234/64"), IPv6Interface("2001:db8:1::1235/64")
    )
    assert policy_set.policies == (
        IPsecPolicy(type=IPsecPolicyType.HOME_REG_BINDING),
        IPsecPolicy(type=IPsecPolicyType.MOB_PFX_DISC, reqid_to_ha=7, reqid_to_mn=7),
        IPsecPolicy(type=IPsecPolicyType.TUNNEL_MH, reqid_to_ha=8, reqid_to_mn=9, allow=False),
    )
    assert policy_set.policies[0].protocols == (IPsecProtocol.ESP,)
    assert policy_set.where("home_addresses[1]") == Location("<string>", 5, 3)
    assert [p.tunnel for p in policy_set.policies] == [False, False, True]


@pytest.mark.parametrize(
    ("word", "value"),
    [("enabled", True), ("allow", True), ("true", True),
     ("disabled", False), ("deny", False), ("block", False), ("false", False)],
)
def test_every_umip_boolean_word(word: str, value: bool) -> None:
    assert parse(f"UseCnBuAck {word};").use_cn_bu_ack is value


def test_semicolon_after_closing_brace_and_odd_spacing_are_accepted() -> None:
    config = parse('Interface"eth0"{MnIfPreference 3;};DebugLevel\t2 ;')
    assert config.interfaces == (Interface(name="eth0", mn_if_preference=3),)
    assert config.debug_level == 2


def test_ignored_keywords_warn() -> None:
    config = parse('NonVolatileBindingCache enabled;\nUseMovementModule "x.so";\n'
                   "UseMovementModule internal;")
    assert [str(w) for w in config.warnings] == [
        "<string>:1:1: warning: NonVolatileBindingCache is accepted for compatibility and "
        "ignored: it has no effect (UMIP ignores it too); StateFile says where Homeguy keeps "
        "its state",
        "<string>:2:1: warning: UseMovementModule is accepted for compatibility and ignored: "
        "movement detection is built in (UMIP ignored the module path too)",
        "<string>:3:1: warning: UseMovementModule is accepted for compatibility and ignored: "
        "movement detection is built in (UMIP ignored the module path too)",
    ]


def test_config_error_attributes() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("DebugLevel x;", "a/b.conf")
    err = caught.value
    assert (err.path, err.line, err.column) == ("a/b.conf", 1, 12)
    assert err.message == "expected a number from 0 to 10 after DebugLevel, found 'x'"
    assert err.location == Location("a/b.conf", 1, 12)
    assert isinstance(err, ValueError)
    assert str(ConfigError("f", 0, 0, "gone")) == "f: gone"
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.location) == (str(err), err.location)


def test_byte_order_mark_is_ignored() -> None:
    assert parse("\ufeffDebugLevel 2;").debug_level == 2


SYNTAX_ERRORS = [
    # terminators
    ("DebugLevel 1 }", "t.conf:1:14: expected ';' after DebugLevel value, found '}'"),
    ("DebugLevel 1", "t.conf:1:13: expected ';' after DebugLevel value, found end of file"),
    ("NodeConfig MN\nDebugLevel 1;",
     "t.conf:2:1: expected ';' after NodeConfig value, found 'DebugLevel'"),
    ('Interface "eth0" foo', "t.conf:1:18: expected ';' or '{' after Interface name, found "
     "'foo'"),
    ("IPsecPolicySet;", "t.conf:1:15: expected '{' after IPsecPolicySet, found ';'"),
    ('MnHomeLink "eth0";', "t.conf:1:18: expected '{' after MnHomeLink name, found ';'"),
    ("CnBindingPolicySet 1;", "t.conf:1:20: expected '{' after CnBindingPolicySet, found '1'"),
    ('Interface "eth0" {\n  MnIfPreference 3;\n',
     "t.conf:3:1: expected '}' to close Interface \"eth0\" opened at line 1, found end of "
     "file"),
    ("DebugLevel 1;;", "t.conf:1:14: expected a keyword at top level, found ';'"),
    ("}", "t.conf:1:1: expected a keyword at top level, found '}'"),
    ('"eth0";', "t.conf:1:1: expected a keyword at top level, found '\"eth0\"'"),
    ('Interface "e" { 5; }', "t.conf:1:17: expected a keyword in Interface \"e\", found '5'"),
    # unknown and misplaced keywords
    ("DebugLvl 1;", "t.conf:1:1: unknown keyword 'DebugLvl' at top level; did you mean "
     "'DebugLevel'?"),
    ("debuglevel 1;", "t.conf:1:1: unknown keyword 'debuglevel' at top level; did you mean "
     "'DebugLevel'?"),
    ("Frobnicate 1;", "t.conf:1:1: unknown keyword 'Frobnicate' at top level"),
    ('Interface "e" { MnIfPref 1; }', "t.conf:1:17: unknown keyword 'MnIfPref' in Interface "
     "\"e\"; did you mean 'MnIfPreference'?"),
    ('Interface "e" { HomeAgentAdress 1; }', "t.conf:1:17: unknown keyword 'HomeAgentAdress' "
     "in Interface \"e\"; did you mean 'HomeAgentAddress' (in MnHomeLink or IPsecPolicySet)?"),
    ("IsMobRtr enabled;", "t.conf:1:1: IsMobRtr cannot stand at top level; it belongs in "
     "MnHomeLink"),
    ("HomeAddress 2001:db8::1/64;", "t.conf:1:1: HomeAddress cannot stand at top level; it "
     "belongs in MnHomeLink or IPsecPolicySet"),
    ('MnHomeLink "e" { include "x"; }', "t.conf:1:18: include cannot stand in MnHomeLink "
     "\"e\"; it belongs in top level"),
    ('Interface "e" { DebugLevel 1; }', "t.conf:1:17: DebugLevel cannot stand in Interface "
     "\"e\"; it belongs in top level"),
    ("UsePolicyModule \"x.so\";", "t.conf:1:1: UsePolicyModule is not supported: Homeguy "
     "cannot load UMIP policy modules (shared objects); express the policy with "
     "BindingAclPolicy, MnRoPolicy and CnBindingPolicySet and remove this line"),
    # repeated
    ("DebugLevel 1;\nDebugLevel 2;", "t.conf:2:1: DebugLevel given twice; expected it at most "
     "once (first at t.conf:1:1)"),
    ('MnHomeLink "e" {\n IsMobRtr enabled;\n IsMobRtr disabled;\n}',
     "t.conf:3:2: IsMobRtr given twice in MnHomeLink \"e\"; expected it at most once (first "
     "at t.conf:2:2)"),
    ("IPsecPolicySet { HomeAgentAddress 2001:db8::1; HomeAgentAddress 2001:db8::2; }",
     "t.conf:1:48: HomeAgentAddress given twice in IPsecPolicySet; expected it at most once "
     "(first at t.conf:1:18)"),
    # values: numbers, booleans, choices
    ("DebugLevel 11;", "t.conf:1:12: expected a number from 0 to 10 after DebugLevel, found "
     "'11'"),
    ("DebugLevel -1;", "t.conf:1:12: expected a number from 0 to 10 after DebugLevel, found "
     "'-1'"),
    ("DebugLevel 1.5;", "t.conf:1:12: expected a number from 0 to 10 after DebugLevel, found "
     "'1.5'"),
    ("HaMaxBindingLife 262141;", "t.conf:1:18: expected a number from 4 to 262140 after "
     "HaMaxBindingLife, found '262141'"),
    ("MnMaxHaBindingLife 3;", "t.conf:1:20: expected a number from 4 to 262140 after "
     "MnMaxHaBindingLife, found '3'"),
    ("MnMaxCnBindingLife 421;", "t.conf:1:20: expected a number from 4 to 420 after "
     "MnMaxCnBindingLife, found '421'"),
    ('Interface "e" { MnIfPreference 11; }', "t.conf:1:32: expected a number from 0 to 10 "
     "after MnIfPreference, found '11'"),
    ("MnRouterProbes 101;", "t.conf:1:16: expected a number from 0 to 100 after "
     "MnRouterProbes, found '101'"),
    ("UseMnHaIPsec yes;", "t.conf:1:14: expected enabled or disabled after UseMnHaIPsec, "
     "found 'yes'"),
    ("UseMnHaIPsec Enabled;", "t.conf:1:14: expected enabled or disabled after UseMnHaIPsec, "
     "found 'Enabled'; did you mean 'enabled'?"),
    ("UseMnHaIPsec;", "t.conf:1:13: expected enabled or disabled after UseMnHaIPsec, found "
     "';'"),
    ("NodeConfig XA;", "t.conf:1:12: expected CN, HA or MN after NodeConfig, found 'XA'"),
    ("NodeConfig LMA;", "t.conf:1:12: expected CN, HA or MN after NodeConfig, found 'LMA'"),
    ("NodeConfig", "t.conf:1:11: expected CN, HA or MN after NodeConfig, found end of file"),
    ('Interface "e" { IfType ha; }', "t.conf:1:24: expected CN, HA or MN after IfType, found "
     "'ha'; did you mean 'HA'?"),
    ("UseMovementModule 5;", "t.conf:1:19: expected internal or a quoted module path after "
     "UseMovementModule, found '5'"),
    # durations
    ("InitialBindackTimeoutFirstReg 0;", "t.conf:1:31: expected a positive number of seconds "
     "(at most 60) after InitialBindackTimeoutFirstReg, found '0'"),
    ("InitialBindackTimeoutReReg 61;", "t.conf:1:28: expected a positive number of seconds "
     "(at most 60) after InitialBindackTimeoutReReg, found '61'"),
    ("InitialSolicitTimer x;", "t.conf:1:21: expected a positive number of seconds (at most "
     "600) after InitialSolicitTimer, found 'x'"),
    ("MnRouterProbeTimeout 3601;", "t.conf:1:22: expected a number of seconds (at most 3600) "
     "after MnRouterProbeTimeout, found '3601'"),
    # strings
    ("DebugLogFile x;", "t.conf:1:14: expected a quoted file name after DebugLogFile, found "
     "'x'"),
    ('DebugLogFile "";', "t.conf:1:14: expected a quoted file name after DebugLogFile, found "
     "'\"\"'"),
    ('ControlSocket "run/x";', "t.conf:1:15: expected a quoted absolute path after "
     "ControlSocket, found '\"run/x\"'"),
    ('StateFile "";', "t.conf:1:11: expected a quoted absolute path after StateFile, found "
     "'\"\"'"),
    ('Interface "eth0/1";', "t.conf:1:11: expected a quoted interface name (1 to 15 "
     "characters, no '/' or ':') after Interface, found '\"eth0/1\"'"),
    ('Interface "abcdefghijklmnop";', "t.conf:1:11: expected a quoted interface name (1 to 15 "
     "characters, no '/' or ':') after Interface, found '\"abcdefghijklmnop\"'"),
    ('Interface "..";', "t.conf:1:11: expected a quoted interface name (1 to 15 characters, "
     "no '/' or ':') after Interface, found '\"..\"'"),
    ("Interface eth0;", "t.conf:1:11: expected a quoted interface name (1 to 15 characters, "
     "no '/' or ':') after Interface, found 'eth0'"),
    ('MnHomeLink "a b" {}', "t.conf:1:12: expected a quoted interface name (1 to 15 "
     "characters, no '/' or ':') after MnHomeLink, found '\"a b\"'"),
    ('MetricsListen "::1:9516";', "t.conf:1:15: expected a quoted \"[IPv6 address]:port\" or "
     "\"IPv4 address:port\" after MetricsListen, found '\"::1:9516\"'"),
    ('MetricsListen "[::1]:99999";', "t.conf:1:15: expected a quoted \"[IPv6 address]:port\" "
     "or \"IPv4 address:port\" after MetricsListen, found '\"[::1]:99999\"' (ports run from 1 "
     "to 65535)"),
    ('MetricsListen "[1.2.3.4]:1";', "t.conf:1:15: expected a quoted \"[IPv6 address]:port\" "
     "or \"IPv4 address:port\" after MetricsListen, found '\"[1.2.3.4]:1\"'"),
    ('MetricsListen "[zz]:1";', "t.conf:1:15: expected a quoted \"[IPv6 address]:port\" or "
     "\"IPv4 address:port\" after MetricsListen, found '\"[zz]:1\"' ('zz' is not an IP "
     "address)"),
    ("MetricsListen 9516;", "t.conf:1:15: expected a quoted \"[IPv6 address]:port\" or "
     "\"IPv4 address:port\" after MetricsListen, found '9516'"),
    ("include nodes;", "t.conf:1:9: expected a quoted file name or glob pattern after "
     "include, found 'nodes'"),
    # addresses and prefixes
    ("BindingAclPolicy allow;", "t.conf:1:18: expected an IPv6 unicast address after "
     "BindingAclPolicy, found 'allow'"),
    ("BindingAclPolicy ff02::1 allow;", "t.conf:1:18: expected an IPv6 unicast address after "
     "BindingAclPolicy, found 'ff02::1' (a multicast address)"),
    ("BindingAclPolicy ::1 allow;", "t.conf:1:18: expected an IPv6 unicast address after "
     "BindingAclPolicy, found '::1' (the loopback address)"),
    ("BindingAclPolicy :: allow;", "t.conf:1:18: expected an IPv6 unicast address after "
     "BindingAclPolicy, found '::' (the unspecified address)"),
    ("BindingAclPolicy ::ffff:10.0.0.1 allow;", "t.conf:1:18: expected an IPv6 unicast "
     "address after BindingAclPolicy, found '::ffff:10.0.0.1' (an IPv4-mapped address)"),
    ("BindingAclPolicy 2001:db8::1 maybe;", "t.conf:1:30: expected a prefix list "
     "'(prefix/length, ...)' or allow, deny or a status number from 0 to 255 after "
     "BindingAclPolicy address, found 'maybe'"),
    ("BindingAclPolicy 2001:db8::1 alow;", "t.conf:1:30: expected a prefix list "
     "'(prefix/length, ...)' or allow, deny or a status number from 0 to 255 after "
     "BindingAclPolicy address, found 'alow'; did you mean 'allow'?"),
    ("BindingAclPolicy 2001:db8::1 256;", "t.conf:1:30: expected a number from 0 to 255 "
     "after BindingAclPolicy address, found '256'"),
    ("BindingAclPolicy 2001:db8::1 (2001:db8:2::/64) ;", "t.conf:1:48: expected allow, deny "
     "or a status number from 0 to 255 after BindingAclPolicy prefix list, found ';'"),
    ("BindingAclPolicy 2001:db8::1 allow x;", "t.conf:1:36: expected ';' after "
     "BindingAclPolicy policy, found 'x'"),
    ("DefaultBindingAclPolicy;", "t.conf:1:24: expected allow, deny or a status number from 0 "
     "to 255 after DefaultBindingAclPolicy, found ';'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234; }', "t.conf:1:46: expected '/' and the "
     "prefix length of the address after HomeAddress, found ';'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234/129; }', "t.conf:1:47: expected a prefix "
     "length from 0 to 128 after '/', found '129'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234/x; }', "t.conf:1:47: expected a prefix "
     "length from 0 to 128 after '/', found 'x'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::/64; }', "t.conf:1:30: expected a node's own "
     "address after HomeAddress, found '2001:db8:1::' (the Subnet-Router anycast address of "
     "2001:db8:1::/64, RFC 4291 section 2.6.1)"),
    ('MnHomeLink "e" { HomeAddress fe80::1/64; }', "t.conf:1:30: expected an IPv6 unicast "
     "address/length after HomeAddress, found 'fe80::1' (a link-local address)"),
    ('MnHomeLink "e" { HomeAddress eth0; }', "t.conf:1:30: expected an IPv6 address/length "
     "after HomeAddress, found 'eth0'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234/64 foo; }', "t.conf:1:50: expected a "
     "prefix list '(prefix/length, ...)' or ';' after HomeAddress address/length, found "
     "'foo'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64; }', "t.conf:1:66: "
     "expected ',' or ')' after 2001:db8:2::/64 in the prefix list of HomeAddress, found ';'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234/64 (); }', "t.conf:1:51: expected an "
     "IPv6 prefix/length after '(' in HomeAddress, found ')'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64,); }', "t.conf:1:67: "
     "expected an IPv6 prefix/length after ',' in HomeAddress, found ')'"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234/64 (2001:db8:2::1/64); }', "t.conf:1:51: "
     "expected a prefix with no bits set past /64 after '(' in HomeAddress, found "
     "'2001:db8:2::1/64'; did you mean 2001:db8:2::/64?"),
    ('MnHomeLink "e" { HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64, 2001:db8::/32); }',
     "t.conf:1:68: prefix 2001:db8::/32 overlaps 2001:db8:2::/64, given before in this list; "
     "expected distinct mobile network prefixes"),
    ('MnHomeLink "e" { HomeAgentAddress ff02::2; }', "t.conf:1:35: expected an IPv6 unicast "
     "address or :: after HomeAgentAddress, found 'ff02::2' (a multicast address)"),
    ('MnHomeLink "e" { HomePrefix 2001:db8::1; }', "t.conf:1:40: expected '/' and the prefix "
     "length of the prefix after HomePrefix, found ';'"),
    ('MnHomeLink "e" { MnRoPolicy; }', "t.conf:1:28: expected an IPv6 unicast address or "
     "enabled or disabled after MnRoPolicy, found ';'"),
    ('MnHomeLink "e" { MnRoPolicy 2001:db8::1; }', "t.conf:1:40: expected enabled or "
     "disabled after MnRoPolicy address, found ';'"),
    ("HaServedPrefix ff00::/8;", "t.conf:1:16: expected a unicast IPv6 prefix after "
     "HaServedPrefix, found 'ff00::/8' (a multicast address)"),
    ("HaServedPrefix fe80::/64;", "t.conf:1:16: expected a unicast IPv6 prefix after "
     "HaServedPrefix, found 'fe80::/64' (a link-local address)"),
    ("HaServedPrefix 2001:db8::1/48;", "t.conf:1:16: expected a prefix with no bits set past "
     "/48 after HaServedPrefix, found '2001:db8::1/48'; did you mean 2001:db8::/48?"),
    ("CnBindingPolicySet { foo; }", "t.conf:1:22: expected an IPv6 unicast address in "
     "CnBindingPolicySet, found 'foo'"),
    ("CnBindingPolicySet { 2001:db8::1 2001:db8::2; }", "t.conf:1:45: expected enabled or "
     "disabled after peer local address, found ';'"),
    ("CnBindingPolicySet { 2001:db8::1 enabled x; }", "t.conf:1:42: expected ';' after peer "
     "value, found 'x'"),
    # IPsecPolicySet
    ("IPsecPolicySet { HomeAgentAddress 2001:db8::1; HomeAddress 2001:db8::2/64; }",
     "t.conf:1:76: expected an IPsecPolicy statement in IPsecPolicySet, found '}'"),
    ("IPsecPolicySet { HomeAddress 2001:db8::2/64; IPsecPolicy Mh UseESP; }",
     "t.conf:1:69: expected a HomeAgentAddress statement in IPsecPolicySet, found '}'"),
    ("IPsecPolicySet { HomeAgentAddress 2001:db8::1; IPsecPolicy Mh UseESP; }",
     "t.conf:1:71: expected a HomeAddress statement in IPsecPolicySet, found '}'"),
    ("IPsecPolicySet { IPsecPolicy Mh; }", "t.conf:1:32: expected UseESP, UseAH or UseIPComp "
     "after IPsecPolicy type, found ';'"),
    ("IPsecPolicySet { IPsecPolicy mh UseESP; }", "t.conf:1:30: expected HomeRegBinding, Mh, "
     "MobPfxDisc, ICMP, any, TunnelHomeTesting, TunnelMh or TunnelPayload after IPsecPolicy, "
     "found 'mh'; did you mean 'Mh'?"),
    ("IPsecPolicySet { IPsecPolicy Mh UseESP 1 2 3; }", "t.conf:1:44: expected allow or deny "
     "or ';' after IPsecPolicy reqid, found '3'"),
    ("IPsecPolicySet { IPsecPolicy Mh UseESP UseESP; }", "t.conf:1:40: UseESP given twice in "
     "IPsecPolicy; expected each of UseESP, UseAH or UseIPComp at most once"),
    ("IPsecPolicySet { IPsecPolicy Mh UseESP 1 foo; }", "t.conf:1:42: expected a reqid from 0 "
     "to 4294967295, allow or deny or ';' after IPsecPolicy reqid, found 'foo'"),
    ("IPsecPolicySet { IPsecPolicy Mh UseESP foo; }", "t.conf:1:40: expected UseESP, UseAH or "
     "UseIPComp, a reqid from 0 to 4294967295, allow or deny or ';' after IPsecPolicy UseESP, "
     "found 'foo'"),
    ("IPsecPolicySet { IPsecPolicy Mh UseESP 4294967296; }", "t.conf:1:40: expected a reqid "
     "from 0 to 4294967295 after IPsecPolicy UseESP, found '4294967296'"),
    ("IPsecPolicySet { IPsecPolicy Mh UseESP allow 1; }", "t.conf:1:46: expected ';' after "
     "IPsecPolicy action, found '1'"),
    # multiple care-of addresses and flow bindings
    ('Interface "e" { Bid 0; }', "t.conf:1:21: expected a BID from 1 to 65535 after Bid, "
     "found '0'"),
    ('Interface "e" { Bid 65536; }', "t.conf:1:21: expected a BID from 1 to 65535 after Bid, "
     "found '65536'"),
    ('Interface "e" { Bid 1; BidPriority 128; }', "t.conf:1:36: expected a number from 1 to "
     "127 after BidPriority, found '128'"),
    ('Interface "e" { Bid 1; BidPriority 0; }', "t.conf:1:36: expected a number from 1 to "
     "127 after BidPriority, found '0'"),
    ('MnHomeLink "e" { RegMultipleCoA maybe; }', "t.conf:1:33: expected enabled or disabled "
     "after RegMultipleCoA, found 'maybe'"),
    ('MnHomeLink "e" { FlowBinding 1; }', "t.conf:1:31: expected '{' after FlowBinding FID, "
     "found ';'"),
    ('MnHomeLink "e" { FlowBinding 0 {} }', "t.conf:1:30: expected a flow identifier from 1 "
     "to 65535 after FlowBinding, found '0'"),
    ('MnHomeLink "e" { FlowBinding 1 { BindingIds 1; } }', "t.conf:1:48: expected a "
     "FlowPriority statement in FlowBinding 1, found '}'"),
    ('MnHomeLink "e" { FlowBinding 1 { FlowPriority 1; } }', "t.conf:1:50: expected a "
     "BindingIds statement in FlowBinding 1, found '}'"),
    ('MnHomeLink "e" { FlowBinding 1 { FlowPriority 20001; } }', "t.conf:1:47: expected a "
     "number from 1 to 20000 after FlowPriority, found '20001'"),
    ('MnHomeLink "e" { FlowBinding 1 { BindingIds; } }', "t.conf:1:44: expected a BID from 1 "
     "to 65535 after BindingIds, found ';'"),
    ('MnHomeLink "e" { FlowBinding 1 { BindingIds 1 1; } }', "t.conf:1:47: 1 given twice in "
     "BindingIds; expected each of a BID from 1 to 65535 at most once"),
    ('MnHomeLink "e" { FlowBinding 1 { BindingIds 1 x; } }', "t.conf:1:47: expected a BID "
     "from 1 to 65535 or ';' after BindingIds 1, found 'x'"),
    ('MnHomeLink "e" { FlowBinding 1 { Protocol 256; } }', "t.conf:1:43: expected a number "
     "from 0 to 255 after Protocol, found '256'"),
    ('MnHomeLink "e" { FlowBinding 1 { SourcePort; } }', "t.conf:1:44: expected a port from 0 "
     "to 65535 after SourcePort, found ';'"),
    ('MnHomeLink "e" { FlowBinding 1 { DestinationPort 70000; } }', "t.conf:1:50: expected a "
     "port from 0 to 65535 after DestinationPort, found '70000'"),
    ('MnHomeLink "e" { FlowBinding 1 { SourcePort 5 65536; } }', "t.conf:1:47: expected a "
     "port from 0 to 65535 after SourcePort port, found '65536'"),
    ('MnHomeLink "e" { FlowBinding 1 { DestinationPort 5 x; } }', "t.conf:1:52: expected a "
     "port from 0 to 65535 or ';' after DestinationPort port, found 'x'"),
    ('MnHomeLink "e" { FlowBinding 1 { DestinationPort 1 2 3; } }', "t.conf:1:54: expected "
     "';' after DestinationPort port, found '3'"),
    ('MnHomeLink "e" { FlowBinding 1 { SourceAddress 2001:db8::1/64; } }', "t.conf:1:48: "
     "expected a prefix with no bits set past /64 after SourceAddress, found "
     "'2001:db8::1/64'; did you mean 2001:db8::/64?"),
    ('MnHomeLink "e" { FlowBinding 1 { DestinationAddress ff02::/16; } }', "t.conf:1:53: "
     "expected a unicast IPv6 prefix after DestinationAddress, found 'ff02::/16' (a "
     "multicast address)"),
    ('MnHomeLink "e" { FlowBinding 1 { Bid 1; } }', "t.conf:1:34: Bid cannot stand in "
     "FlowBinding 1; it belongs in Interface"),
    ('MnHomeLink "e" { FlowBinding 1 { Protocl 6; } }', "t.conf:1:34: unknown keyword "
     "'Protocl' in FlowBinding 1; did you mean 'Protocol'?"),
    ("FlowPriority 1;", "t.conf:1:1: FlowPriority cannot stand at top level; it belongs in "
     "FlowBinding"),
]


@pytest.mark.parametrize(("text", "message"), SYNTAX_ERRORS)
def test_syntax_errors(text: str, message: str) -> None:
    assert error(text) == message
