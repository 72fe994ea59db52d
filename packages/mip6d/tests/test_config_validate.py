"""Checks across statements: what each node needs, things given twice, IPsec overlaps."""

import pytest
from mip6d.config import ConfigError, parse

pytestmark = pytest.mark.unit

HOME_LINK = (
    'MnHomeLink "eth0" {\n HomeAgentAddress 2001:db8:1::1;\n HomeAddress 2001:db8:1::1234/64;\n}\n'
)

# A mobile node with two Bids and RegMultipleCoA, its MnHomeLink block left open (line 7
# is the first after it).
MCOA = (
    'NodeConfig MN;\nInterface "eth1" { Bid 1; }\nInterface "eth2" { Bid 2; }\n'
    'MnHomeLink "eth0" {\n HomeAgentAddress 2001:db8:1::1;\n HomeAddress 2001:db8:1::1234/64;\n'
    " RegMultipleCoA enabled;\n"
)


def error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, "t.conf")
    return str(caught.value)


def warnings(text: str) -> list[str]:
    return [str(w) for w in parse(text, "t.conf").warnings]


def test_minimal_valid_nodes() -> None:
    assert parse('NodeConfig MN;\nInterface "eth0";\n' + HOME_LINK).home_links
    assert parse('NodeConfig HA;\nInterface "eth0";').interfaces
    assert parse("NodeConfig CN;").node_config == "CN"


SEMANTIC_ERRORS = [
    # what a mobile node and a home agent need
    ("DebugLevel 1;\nNodeConfig MN;", "t.conf:2:1: NodeConfig MN needs an MnHomeLink with "
     "HomeAgentAddress and HomeAddress; found no MnHomeLink"),
    ('NodeConfig MN;\nMnHomeLink "eth0" { HomeAddress 2001:db8:1::1234/64; }',
     "t.conf:2:1: MnHomeLink \"eth0\" has no HomeAgentAddress; expected one since NodeConfig "
     "is MN (:: discovers the home agent)"),
    ('NodeConfig MN;\nUseMnHaIPsec enabled;\nMnHomeLink "eth0" {\n HomeAgentAddress ::;\n'
     " HomeAddress 2001:db8:1::1234/64;\n}\nIPsecPolicySet {\n HomeAgentAddress 2001:db8:1::1;\n"
     " HomeAddress 2001:db8:1::1234/64;\n IPsecPolicy Mh UseESP 11;\n}",
     "t.conf:4:2: HomeAgentAddress :: (dynamic home agent discovery) with an IPsecPolicySet "
     "for home address 2001:db8:1::1234, whose policies name one home agent; expected that "
     "home agent's address"),
    ('MnHomeLink "eth0" { HomeAgentAddress 2001:db8:1::1; }', "t.conf:1:53: expected a "
     "HomeAddress statement in MnHomeLink \"eth0\", found '}'"),
    ("NodeConfig HA;", "t.conf:1:1: NodeConfig HA needs an Interface to serve as home agent "
     "on; found none"),
    ('NodeConfig HA;\nInterface "eth0" { IfType CN; }', "t.conf:1:1: NodeConfig HA needs an "
     "Interface to serve as home agent on; found only interfaces with another IfType"),
    # interfaces
    ('Interface "eth0";\nInterface "eth0" { MnIfPreference 1; }', "t.conf:2:1: Interface "
     "\"eth0\" is already declared at t.conf:1:1; expected each interface once"),
    ('NodeConfig HA;\nInterface "eth0" {\n  Tunnel enabled;\n}', "t.conf:3:3: Interface "
     "\"eth0\" serves as home agent and cannot be a Tunnel; expected Tunnel disabled or IfType "
     "MN or CN"),
    ('Interface "eth0" {\n  IfType HA;\n  Tunnel enabled;\n}', "t.conf:3:3: Interface \"eth0\" "
     "serves as home agent and cannot be a Tunnel; expected Tunnel disabled or IfType MN or "
     "CN"),
    # home links
    ('MnHomeLink "eth0" {\n HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64);\n}',
     "t.conf:2:2: HomeAddress 2001:db8:1::1234/64 lists mobile network prefixes, which needs "
     "'IsMobRtr enabled;' in MnHomeLink \"eth0\""),
    ('MnHomeLink "eth0" {\n HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64);\n'
     " IsMobRtr disabled;\n}",
     "t.conf:2:2: HomeAddress 2001:db8:1::1234/64 lists mobile network prefixes, which needs "
     "'IsMobRtr enabled;' in MnHomeLink \"eth0\""),
    ('MnHomeLink "eth0" {\n HomeAddress 2001:db8:1::1234/64;\n HomePrefix 2001:db8:2::/64;\n}',
     "t.conf:3:2: HomePrefix 2001:db8:2::/64 does not contain HomeAddress 2001:db8:1::1234; "
     "expected the prefix of the home link"),
    ('MnHomeLink "eth0" {\n HomeAddress 2001:db8:1::1234/64;\n'
     " HomeAgentAddress 2001:db8:1::1234;\n}",
     "t.conf:3:2: HomeAgentAddress 2001:db8:1::1234 is the home address itself; expected the "
     "home agent's address"),
    (HOME_LINK + 'MnHomeLink "wlan0" {\n HomeAddress 2001:db8:1::1234/64;\n}',
     "t.conf:6:2: home address 2001:db8:1::1234 is already given to MnHomeLink \"eth0\" at "
     "t.conf:3:2; expected each home address once"),
    ('MnHomeLink "a" { IsMobRtr enabled; HomeAddress 2001:db8:1::1/64 (2001:db8:2::/64); }\n'
     'MnHomeLink "b" { IsMobRtr enabled; HomeAddress 2001:db8:1::2/64 (2001:db8:2::/60); }',
     "t.conf:2:36: mobile network prefix 2001:db8:2::/60 overlaps 2001:db8:2::/64 of "
     "MnHomeLink \"a\" at t.conf:1:36; expected each prefix to belong to one mobile router"),
    # binding ACL
    ("BindingAclPolicy 2001:db8:1::5 allow;\nBindingAclPolicy 2001:db8:1::5 deny;",
     "t.conf:2:1: home address 2001:db8:1::5 is already given to BindingAclPolicy at "
     "t.conf:1:1; expected each home address once"),
    ("BindingAclPolicy 2001:db8:1::5 (2001:db8:5::/64) allow;\n"
     "BindingAclPolicy 2001:db8:1::6 (2001:db8:5:0:8000::/65) allow;",
     "t.conf:2:1: mobile network prefix 2001:db8:5:0:8000::/65 overlaps 2001:db8:5::/64 of "
     "BindingAclPolicy 2001:db8:1::5 at t.conf:1:1; expected each prefix to belong to one "
     "mobile router"),
    ("CnBindingPolicySet {\n 2001:db8::1 enabled;\n 2001:db8::1 2001:db8::2 disabled;\n}",
     "t.conf:3:2: CnBindingPolicySet has a line for 2001:db8::1 already at t.conf:2:2; "
     "expected one line per mobile node"),
    # timers
    ("MaxMobPfxAdvInterval 100;\nMinMobPfxAdvInterval 200;", "t.conf:2:1: "
     "MinMobPfxAdvInterval 200 is longer than MaxMobPfxAdvInterval 100; expected at most it"),
    ("MaxMobPfxAdvInterval 100;", "t.conf:1:1: MinMobPfxAdvInterval 600 is longer than "
     "MaxMobPfxAdvInterval 100; expected at most it"),
    ("MaxBindackTimeout 1;", "t.conf:1:1: MaxBindackTimeout 1.0 is shorter than "
     "InitialBindackTimeoutFirstReg 1.5; expected at least it"),
    ("InitialBindackTimeoutFirstReg 1;\nInitialBindackTimeoutReReg 40;", "t.conf:2:1: "
     "MaxBindackTimeout 32.0 is shorter than InitialBindackTimeoutReReg 40.0; expected at least "
     "it"),
    # IPsec policies
    ("IPsecPolicySet {\n HomeAgentAddress 2001:db8::1;\n HomeAddress 2001:db8::2/64;\n"
     " IPsecPolicy Mh UseESP UseAH;\n}", "t.conf:4:2: IPsecPolicy Mh UseAH: only UseESP is "
     "supported; expected UseESP instead of UseAH"),
    ("IPsecPolicySet {\n HomeAgentAddress 2001:db8::1;\n HomeAddress 2001:db8::2/64;\n"
     " IPsecPolicy Mh UseIPComp;\n}", "t.conf:4:2: IPsecPolicy Mh UseIPComp: only UseESP is "
     "supported; expected UseESP instead of UseIPComp"),
    ("IPsecPolicySet {\n HomeAgentAddress 2001:db8::1;\n HomeAddress 2001:db8::2/64;\n"
     " HomeAddress 2001:db8::2/64;\n IPsecPolicy Mh UseESP;\n}", "t.conf:4:2: HomeAddress "
     "2001:db8::2 is already in this IPsecPolicySet at t.conf:3:2; expected each home address "
     "once"),
    ("IPsecPolicySet {\n HomeAgentAddress 2001:db8::1;\n HomeAddress 2001:db8::2/64;\n"
     " IPsecPolicy HomeRegBinding UseESP;\n IPsecPolicy Mh UseESP;\n}", "t.conf:5:2: "
     "IPsecPolicy Mh overlaps IPsecPolicy HomeRegBinding at t.conf:4:2 for home agent "
     "2001:db8::1 and home address 2001:db8::2; expected policies that protect different "
     "traffic"),
    ("IPsecPolicySet {\n HomeAgentAddress 2001:db8::1;\n HomeAddress 2001:db8::2/64;\n"
     " IPsecPolicy MobPfxDisc UseESP;\n}\nIPsecPolicySet {\n HomeAgentAddress 2001:db8::1;\n"
     " HomeAddress 2001:db8::3/64;\n HomeAddress 2001:db8::2/64;\n IPsecPolicy ICMP UseESP;\n"
     "}", "t.conf:10:2: IPsecPolicy ICMP overlaps IPsecPolicy MobPfxDisc at t.conf:4:2 for "
     "home agent 2001:db8::1 and home address 2001:db8::2; expected policies that protect "
     "different traffic"),
    ("IPsecPolicySet {\n HomeAgentAddress 2001:db8::1;\n HomeAddress 2001:db8::2/64;\n"
     " IPsecPolicy TunnelPayload UseESP;\n IPsecPolicy TunnelHomeTesting UseESP;\n}",
     "t.conf:5:2: IPsecPolicy TunnelHomeTesting overlaps IPsecPolicy TunnelPayload at "
     "t.conf:4:2 for home agent 2001:db8::1 and home address 2001:db8::2; expected policies "
     "that protect different traffic"),
    # multiple care-of addresses (RFC 5648) and flow bindings (RFC 6089)
    ('Interface "eth1" {\n MnIfPreference 1;\n BidPriority 5;\n}', "t.conf:3:2: BidPriority "
     "of Interface \"eth1\" needs a Bid; expected 'Bid <1..65535>;' in the same Interface "
     "block"),
    ('Interface "eth1" { Bid 1; }\nInterface "eth2" {\n MnIfPreference 2;\n Bid 1;\n}',
     "t.conf:4:2: Bid 1 of Interface \"eth2\" is already the Bid of Interface \"eth1\" at "
     "t.conf:1:20; expected a unique Bid per interface"),
    (MCOA.replace("NodeConfig MN;", "NodeConfig HA;") + "}", "t.conf:7:2: RegMultipleCoA in "
     "MnHomeLink \"eth0\" needs NodeConfig MN; found NodeConfig HA"),
    (MCOA.replace("NodeConfig MN;", "DebugLevel 1;") + "}", "t.conf:7:2: RegMultipleCoA in "
     "MnHomeLink \"eth0\" needs NodeConfig MN; found NodeConfig CN"),
    (MCOA.replace(" Bid 1; ", " ").replace(" Bid 2; ", " ") + "}", "t.conf:7:2: "
     "RegMultipleCoA in MnHomeLink \"eth0\" needs an Interface the mobile node moves with "
     "that has a Bid; expected 'Bid <1..65535>;' in at least one Interface block"),
    (MCOA.replace("Bid 1;", "Bid 1; IfType CN;").replace(" Bid 2; ", " ") + "}",
     "t.conf:7:2: RegMultipleCoA in MnHomeLink \"eth0\" needs an Interface the mobile node "
     "moves with that has a Bid; expected 'Bid <1..65535>;' in at least one Interface block"),
    (MCOA.replace(" RegMultipleCoA enabled;\n", "")
     + " FlowBinding 1 { FlowPriority 1; BindingIds 1; }\n}",
     "t.conf:7:2: FlowBinding 1 needs 'RegMultipleCoA enabled;' in MnHomeLink \"eth0\""),
    (MCOA.replace("enabled", "disabled") + " FlowBinding 1 { FlowPriority 1; BindingIds 1; }"
     "\n}", "t.conf:8:2: FlowBinding 1 needs 'RegMultipleCoA enabled;' in MnHomeLink "
     "\"eth0\""),
    (MCOA + " FlowBinding 1 {\n  FlowPriority 1;\n  BindingIds 1 3;\n }\n}", "t.conf:10:3: "
     "BindingIds of FlowBinding 1 names Bid 3, which no Interface the mobile node moves with "
     "has; expected one of the Bids 1, 2"),
    (MCOA.replace("Bid 2;", "Bid 2; IfType CN;")
     + " FlowBinding 1 {\n  FlowPriority 1;\n  BindingIds 2;\n }\n}", "t.conf:10:3: "
     "BindingIds of FlowBinding 1 names Bid 2, which no Interface the mobile node moves with "
     "has; expected one of the Bids 1"),
    (MCOA + " FlowBinding 1 { FlowPriority 1; BindingIds 1; }\n"
     " FlowBinding 1 { FlowPriority 2; BindingIds 2; }\n}", "t.conf:9:2: FlowBinding 1 is "
     "already given in MnHomeLink \"eth0\" at t.conf:8:2; expected a unique FID per "
     "MnHomeLink"),
    (MCOA + " FlowBinding 1 { FlowPriority 1; BindingIds 1; }\n"
     " FlowBinding 2 {\n  BindingIds 2;\n  FlowPriority 1;\n }\n}", "t.conf:11:3: "
     "FlowPriority 1 of FlowBinding 2 is already that of FlowBinding 1 at t.conf:8:18; "
     "expected a unique FlowPriority per MnHomeLink (RFC 6089 section 4.2)"),
    (MCOA + " FlowBinding 1 {\n  FlowPriority 1;\n  BindingIds 1;\n  Protocol 6;\n"
     "  DestinationPort 5003 5002;\n }\n}", "t.conf:12:3: DestinationPort 5003 5002 of "
     "FlowBinding 1 ends below its start; expected the first port, then the last "
     "(DestinationPort 5002 5003)"),
    (MCOA + " FlowBinding 1 {\n  FlowPriority 1;\n  BindingIds 1;\n  Protocol 17;\n"
     "  SourcePort 2 1;\n }\n}", "t.conf:12:3: SourcePort 2 1 of FlowBinding 1 ends below "
     "its start; expected the first port, then the last (SourcePort 1 2)"),
    (MCOA + " FlowBinding 1 {\n  FlowPriority 1;\n  BindingIds 1;\n  SourcePort 5060;\n }\n}",
     "t.conf:11:3: SourcePort of FlowBinding 1 needs Protocol 6 (TCP), 17 (UDP), 33 (DCCP) "
     "or 132 (SCTP); found no Protocol"),
    (MCOA + " FlowBinding 1 {\n  FlowPriority 1;\n  BindingIds 1;\n  Protocol 58;\n"
     "  DestinationPort 1;\n }\n}", "t.conf:12:3: DestinationPort of FlowBinding 1 needs "
     "Protocol 6 (TCP), 17 (UDP), 33 (DCCP) or 132 (SCTP); found Protocol 58"),
]


@pytest.mark.parametrize(("text", "message"), SEMANTIC_ERRORS)
def test_semantic_errors(text: str, message: str) -> None:
    assert error(text) == message


def test_flow_bindings_that_agree_are_fine() -> None:
    config = parse(
        MCOA + " FlowBinding 1 { FlowPriority 1; BindingIds 1 2; }\n"
        " FlowBinding 2 { FlowPriority 2; BindingIds 2; Protocol 132; SourcePort 7 7; }\n"
        " FlowBinding 3 { FlowPriority 3; BindingIds 2; Protocol 33; DestinationPort 9; }\n}\n"
        # FIDs and FID-PRIs are per home link: another one may reuse them
        'MnHomeLink "eth0" {\n HomeAgentAddress 2001:db8:1::1;\n'
        " HomeAddress 2001:db8:1::1235/64;\n RegMultipleCoA enabled;\n"
        " FlowBinding 1 { FlowPriority 1; BindingIds 1; Protocol 6; SourcePort 0 65535; }\n}",
        "t.conf",
    )
    assert [len(link.flow_bindings) for link in config.home_links] == [3, 1]
    assert config.warnings == ()


def test_policies_that_do_not_overlap_are_fine() -> None:
    config = parse(
        "IPsecPolicySet {\n HomeAgentAddress 2001:db8::1;\n HomeAddress 2001:db8::2/64;\n"
        " IPsecPolicy Mh UseESP;\n IPsecPolicy ICMP UseESP;\n IPsecPolicy TunnelMh UseESP;\n}\n"
        # another home agent, same home address: no overlap with the first set
        "IPsecPolicySet {\n HomeAgentAddress 2001:db8::9;\n HomeAddress 2001:db8::2/64;\n"
        " IPsecPolicy any UseESP;\n}"
    )
    assert len(config.ipsec_policy_sets) == 2


def test_a_home_address_may_share_an_acl_and_a_home_link() -> None:
    # A node that is both (unusual, but UMIP has nothing against it): each list separately.
    parse(HOME_LINK + "BindingAclPolicy 2001:db8:1::1234 allow;")


KEYLESS_SET = (
    "UseMnHaIPsec enabled;\nIPsecPolicySet {\n HomeAgentAddress 2001:db8:1::1;\n"
    " HomeAddress 2001:db8:1::1234/64;\n IPsecPolicy HomeRegBinding UseESP 11 12;\n"
)


def test_a_set_keyed_outside_mip6d_is_named_and_cannot_protect_the_tunnel() -> None:
    ha = 'NodeConfig HA;\nInterface "eth0";\n'
    assert warnings(ha + KEYLESS_SET + "}") == [
        "t.conf:4:1: warning: IPsecPolicySet of 2001:db8:1::1234 has no StaticKey and "
        "KeyMngMobCapability is disabled: mip6d installs its policies, and its ESP SAs must "
        "be installed outside mip6d (setkey or ip xfrm state, with the policies' reqids); "
        "until they are, its Binding Updates are not exchanged",
    ]
    assert warnings(ha + "KeyMngMobCapability enabled;\n"
                    + KEYLESS_SET.replace("11 12", "11") + "}") == []
    assert error(ha + KEYLESS_SET + " IPsecPolicy TunnelPayload UseESP 13 14;\n}") == (
        "t.conf:8:2: IPsecPolicy TunnelPayload in a set without StaticKey needs "
        "KeyMngMobCapability enabled (IKEv2 moves the tunnel's SAs with the care-of address; "
        "SAs installed outside mip6d cannot follow it); expected StaticKeys for the set, or "
        "KeyMngMobCapability enabled"
    )


def test_warnings() -> None:
    assert warnings("NodeConfig MN;\n" + HOME_LINK) == [
        "t.conf:1:1: warning: NodeConfig MN without any Interface and with MnUseAllInterfaces "
        "disabled: no interface will be used to move",
    ]
    assert warnings("BindingAclPolicy 2001:db8::5 (2001:db8:5::/64) allow;") == [
        "t.conf:1:1: warning: BindingAclPolicy 2001:db8::5 lists mobile network prefixes but "
        "HaAcceptMobRtr is disabled, so this mobile router cannot register",
    ]
    assert warnings("HaAcceptMobRtr enabled;\nBindingAclPolicy 2001:db8::5 (2001:db8:5::/64) "
                    "allow;") == []
    assert warnings("HaAcceptMobRtr enabled;\n"
                    "BindingAclPolicy 2001:db8::5 allow;") == [
        "t.conf:1:1: warning: HaAcceptMobRtr is enabled, but no BindingAclPolicy lists mobile "
        "network prefixes and there is no HaServedPrefix, so every mobile router gets status "
        "140; list each router's prefixes in its BindingAclPolicy, or add the HaServedPrefix "
        "they come from",
    ]
    assert warnings("HaAcceptMobRtr enabled;\nHaServedPrefix 2001:db8:100::/48;") == []
    assert warnings("NodeConfig CN;\nDoRouteOptimizationCN enabled;") == [
        "t.conf:2:1: warning: DoRouteOptimizationCN is enabled, but this mip6d has no route "
        "optimisation: mobile nodes that try it get a Binding Error (status 2) and keep using "
        "their home agent",
    ]
    assert warnings("NodeConfig CN;\nDoRouteOptimizationCN disabled;") == []
    assert warnings("NodeConfig CN;") == []  # enabled by default, said only when asked for
    assert warnings(
        'NodeConfig MN;\nMnUseAllInterfaces enabled;\n' + HOME_LINK + "IPsecPolicySet {\n"
        " HomeAgentAddress 2001:db8:1::1;\n HomeAddress 2001:db8:1::99/64;\n"
        " IPsecPolicy Mh UseESP;\n}"
    ) == [
        "t.conf:7:1: warning: IPsecPolicySet HomeAddress 2001:db8:1::99 is not the HomeAddress "
        "of any MnHomeLink, so its policies are never used",
    ]
