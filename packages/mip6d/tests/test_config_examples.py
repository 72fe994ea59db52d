"""The shipped example configurations (packages/mip6d/examples/) load, and the two ends
of each mobile node agree: same policies and static keys, same prefixes."""

from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path

import pytest
from mip6d.config import (
    BA_PROHIBITED,
    Config,
    IPsecPolicySet,
    IPsecPolicyType,
    NodeRole,
    SaDirection,
    load,
)

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).parent.parent / "examples"
HA_ADDRESS = IPv6Address("2001:db8:1::1")


@pytest.fixture(scope="module")
def home_agent() -> Config:
    return load(str(EXAMPLES / "home-agent.conf"))


@pytest.fixture(scope="module")
def mobile_host() -> Config:
    return load(str(EXAMPLES / "mobile-host.conf"))


@pytest.fixture(scope="module")
def mobile_router() -> Config:
    return load(str(EXAMPLES / "mobile-router.conf"))


def set_for(config: Config, hoa: str) -> IPsecPolicySet:
    (found,) = [
        s for s in config.ipsec_policy_sets
        if IPv6Address(hoa) in {h.ip for h in s.home_addresses}
    ]
    return found


def test_home_agent(home_agent: Config) -> None:
    assert home_agent.node_config is NodeRole.HA
    assert home_agent.warnings == ()
    assert [Path(s).name for s in home_agent.sources] == [
        "home-agent.conf", "mobile-host.conf", "mobile-router.conf",
    ]
    assert [i.name for i in home_agent.interfaces] == ["eth0"]
    assert home_agent.default_binding_acl_policy == BA_PROHIBITED
    assert home_agent.ha_accept_mob_rtr is True
    assert home_agent.ha_served_prefixes == ()  # each router's file lists its prefixes
    assert [str(a.home_address) for a in home_agent.binding_acl] == [
        "2001:db8:1::1234", "2001:db8:1::2001",
    ]
    assert all(acl.allowed for acl in home_agent.binding_acl)
    assert str(home_agent.metrics_listen) == "[::1]:9516"
    for policy_set in home_agent.ipsec_policy_sets:
        assert policy_set.home_agent_address == HA_ADDRESS
        assert len(policy_set.static_keys) == 4


def test_mobile_host(mobile_host: Config) -> None:
    assert mobile_host.node_config is NodeRole.MN
    assert mobile_host.warnings == ()
    (link,) = mobile_host.home_links
    assert link.home_address == IPv6Interface("2001:db8:1::1234/64")
    assert link.home_agent_address == HA_ADDRESS
    assert not link.is_mob_rtr
    assert [(i.name, i.mn_if_preference) for i in mobile_host.interfaces] == [
        ("eth0", 1), ("wlan0", 2),
    ]
    assert mobile_host.do_route_optimization_mn is False
    (policy_set,) = mobile_host.ipsec_policy_sets
    assert [p.type for p in policy_set.policies] == [
        IPsecPolicyType.MH, IPsecPolicyType.MOB_PFX_DISC, IPsecPolicyType.TUNNEL_PAYLOAD,
    ]
    assert {(k.direction, k.reqid) for k in policy_set.static_keys} == {
        (SaDirection.MN_TO_HA, 11), (SaDirection.HA_TO_MN, 12),
        (SaDirection.MN_TO_HA, 13), (SaDirection.HA_TO_MN, 14),
    }


def test_mobile_router(mobile_router: Config) -> None:
    assert mobile_router.node_config is NodeRole.MN
    assert mobile_router.warnings == ()
    (link,) = mobile_router.home_links
    assert link.is_mob_rtr
    assert link.mobile_network_prefixes == (
        IPv6Network("2001:db8:100:1::/64"), IPv6Network("2001:db8:100:2::/64"),
    )
    assert [i.role(NodeRole.MN) for i in mobile_router.interfaces] == [
        NodeRole.MN, NodeRole.CN, NodeRole.CN,
    ]
    assert mobile_router.mob_rtr_use_explicit_mode is True
    (policy_set,) = mobile_router.ipsec_policy_sets
    assert {k.encryption.name for k in policy_set.static_keys} == {"aes-gcm"}


@pytest.mark.parametrize(
    ("node", "hoa"), [("mobile_host", "2001:db8:1::1234"), ("mobile_router", "2001:db8:1::2001")]
)
def test_both_ends_hold_the_same_policies_and_keys(
    home_agent: Config, node: str, hoa: str, request: pytest.FixtureRequest
) -> None:
    config: Config = request.getfixturevalue(node)
    assert set_for(config, hoa) == set_for(home_agent, hoa)
    keys = set_for(config, hoa).static_keys
    assert [k.encryption.key for k in keys] == [k.encryption.key for k in set_for(
        home_agent, hoa).static_keys]


def test_router_prefixes_match_the_home_agent_acl(
    home_agent: Config, mobile_router: Config
) -> None:
    (link,) = mobile_router.home_links
    (acl,) = [a for a in home_agent.binding_acl if a.home_address == link.home_address.ip]
    assert acl.mobile_network_prefixes == link.mobile_network_prefixes
    assert all(p.subnet_of(IPv6Network("2001:db8:100::/48"))
               for p in link.mobile_network_prefixes)


def test_examples_are_commented() -> None:
    for path in [*EXAMPLES.glob("*.conf"), *EXAMPLES.glob("nodes.d/*.conf")]:
        lines = path.read_text().splitlines()
        assert lines[0].startswith("# "), path
        assert sum(line.lstrip().startswith("#") for line in lines) >= 3, path
