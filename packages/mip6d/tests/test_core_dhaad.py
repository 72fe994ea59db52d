"""Dynamic home agent address discovery, the home agent's side: the Home-Agents anycast
address (RFC 2526), the Home Agents List from router advertisements (RFC 6275 section
10.1) and the Reply to a Request (section 10.5, RFC 3963 section 7), with given times."""

from __future__ import annotations

import random
from ipaddress import IPv6Address, IPv6Network

import pytest
from mip6d.core.dhaad import (
    MAX_REPLY_ADDRESSES,
    HomeAgentEntry,
    HomeAgentsList,
    answer_request,
    home_agents_anycast,
)
from mip6d.core.effects import Log, SendIcmp
from mip6d.wire import icmp6
from mip6d.wire.icmp6 import (
    DHAADFlag,
    DHAADReply,
    DHAADRequest,
    HAIFlag,
    HomeAgentInformation,
    PrefixFlag,
    PrefixInformation,
    RAFlag,
    RouterAdvertisement,
)

pytestmark = pytest.mark.unit

HOME = IPv6Network("2001:db8:1::/64")
ANYCAST = IPv6Address("2001:db8:1::fdff:ffff:ffff:fffe")
HA1, HA2, HA3 = (IPv6Address(f"2001:db8:1::{i}") for i in (1, 2, 3))
LL2, LL3 = IPv6Address("fe80::2"), IPv6Address("fe80::3")
COA = IPv6Address("2001:db8:a::5")


def ra(address: IPv6Address | None, *, preference: int | None = None, lifetime: int = 1800,
       router_lifetime: int = 9000, flags: RAFlag = RAFlag.H, valid: int = 86400,
       mobile_router: bool = False) -> RouterAdvertisement:
    """A home agent's advertisement: its ``address`` with the R flag, a Home Agent
    Information option when ``preference`` is given."""
    options: list[icmp6.NDOption] = []
    if address is not None:
        options.append(PrefixInformation(64, PrefixFlag.L | PrefixFlag.A | PrefixFlag.R,
                                         valid, valid, address))
    if preference is not None:
        options.append(HomeAgentInformation(preference, lifetime,
                                            HAIFlag.R if mobile_router else HAIFlag(0)))
    return RouterAdvertisement(64, flags, router_lifetime, options=tuple(options))


def home_link(preference: int = 0, mobile_router: bool = False) -> HomeAgentsList:
    return HomeAgentsList("eth0", HOME, HomeAgentEntry((HA1,), preference,
                                                       mobile_router=mobile_router))


@pytest.mark.parametrize(("prefix", "anycast"), [
    ("2001:db8:1::/64", "2001:db8:1::fdff:ffff:ffff:fffe"),  # 64-bit IID: u bit 0
    ("2001:db8:1::/48", "2001:db8:1:ffff:ffff:ffff:ffff:fffe"),
    ("2001:db8:1:2:3::/80", "2001:db8:1:2:3:ffff:ffff:fffe"),
    ("2001:db8:1:2:3:4:5:0/120", "2001:db8:1:2:3:4:5:fe"),
])
def test_the_home_agents_anycast_address(prefix: str, anycast: str) -> None:
    assert home_agents_anycast(IPv6Network(prefix)) == IPv6Address(anycast)


def test_the_list_learns_refreshes_and_forgets_home_agents() -> None:
    hal = home_link(preference=5)
    assert hal.ranked(0.0) == (HA1,)  # alone: itself
    hal, effects = hal.heard(LL2, ra(HA2, preference=10, lifetime=100), 0.0)
    assert effects == (Log("home-agent-heard", (("ifname", "eth0"), ("router", "fe80::2"),
                                                ("addresses", str(HA2)), ("preference", 10),
                                                ("lifetime", 100))),)
    hal, effects = hal.heard(LL3, ra(HA3), 0.0)  # no option: preference 0, router lifetime
    assert hal.ranked(10.0) == (HA2, HA1, HA3)
    assert [e.expires_at for e in hal.others] == [100.0, 9000.0]
    # The same again: refreshed, nothing to say.
    hal, effects = hal.heard(LL2, ra(HA2, preference=10, lifetime=100), 90.0)
    assert effects == () and hal.ranked(150.0) == (HA2, HA1, HA3)
    assert hal.ranked(190.0) == (HA1, HA3)  # its lifetime ran out
    # Lifetime 0 or the H flag gone: removed at once.
    hal, effects = hal.heard(LL3, ra(HA3, preference=0, lifetime=0), 100.0)
    assert [e.event for e in effects] == ["home-agent-gone"] and hal.ranked(100.0) == (HA2, HA1)
    hal, _ = hal.heard(LL2, ra(HA2, flags=RAFlag(0)), 100.0)
    assert hal.ranked(100.0) == (HA1,) and hal.others == ()


def test_an_entry_without_a_global_address_is_kept_but_never_offered() -> None:
    hal, _ = home_link().heard(LL2, ra(None, preference=50), 0.0)
    assert len(hal.others) == 1 and hal.ranked(0.0) == (HA1,)
    hal, _ = home_link().heard(LL2, ra(HA2, preference=50, valid=0), 0.0)  # prefix invalid
    assert hal.ranked(0.0) == (HA1,)
    # The bare prefix with the R flag (radvd's "prefix 2001:db8:1::/64 { AdvRouterAddr
    # on; }", measured) is no address.
    hal, _ = home_link().heard(LL2, ra(HOME.network_address, preference=50), 0.0)
    assert hal.ranked(0.0) == (HA1,)


def test_its_own_advertisement_leaves_the_own_entry_as_configured() -> None:
    hal = home_link(preference=7)
    again, effects = hal.heard(LL2, ra(HA1, preference=99), 0.0)
    assert (again, effects) == (hal, ())


def test_ties_are_broken_by_address_and_replies_fit_the_minimum_mtu() -> None:
    hal = home_link(preference=1)
    for i in range(2, 100):
        hal, _ = hal.heard(IPv6Address(f"fe80::{i:x}"),
                           ra(IPv6Address(f"2001:db8:1::{100 - i:x}"), preference=1), 0.0)
    ranked = hal.ranked(0.0)
    assert len(ranked) == MAX_REPLY_ADDRESSES == 77
    assert list(ranked) == sorted(ranked)
    packet = icmp6.encode(DHAADReply(1, ranked), HA1, COA)
    assert 40 + len(packet) == 1280


def test_each_reply_draws_the_order_of_equally_preferred_home_agents() -> None:
    """Section 10.5.1: home agents of equal preference in an order randomized for each
    Reply, so that mobile nodes spread over them; preference still comes first."""
    hal = home_link(preference=5)
    for i, preference in ((2, 5), (3, 5), (4, 9)):
        hal, _ = hal.heard(IPv6Address(f"fe80::{i}"),
                           ra(IPv6Address(f"2001:db8:1::{i}"), preference=preference), 0.0)
    draws = random.Random(7)
    orders = {answer_request([hal], DHAADRequest(1), COA, ANYCAST, 1.0, draws.random)[0]
              .msg.home_agents for _ in range(30)}  # type: ignore[union-attr]
    assert {order[0] for order in orders} == {IPv6Address("2001:db8:1::4")}  # preference 9
    assert {frozenset(order[1:]) for order in orders} == {frozenset((HA1, HA2, HA3))}
    assert len(orders) == 6  # every order of the three of preference 5 came up


def test_the_reply_lists_the_home_agents_from_the_home_agents_own_address() -> None:
    hal, _ = home_link(preference=5).heard(LL2, ra(HA2, preference=10), 0.0)
    effects = answer_request([hal], DHAADRequest(0x1234), COA, ANYCAST, 1.0)
    assert effects[0] == SendIcmp(DHAADReply(0x1234, (HA2, HA1)), HA1, COA)
    assert effects[1].event == "dhaad-reply"  # type: ignore[union-attr]
    # The bytes on the wire (RFC 6275 section 6.6): type 145, code 0, the checksum
    # (summed by hand, RFC 1071, over the pseudo-header HA1 -> COA, length 40, 58),
    # identifier, reserved, the addresses.
    assert icmp6.encode(effects[0].msg, HA1, COA).hex() == (  # type: ignore[union-attr]
        "9100a56e12340000" + HA2.packed.hex() + HA1.packed.hex())


def test_a_mobile_router_is_offered_home_agents_that_serve_mobile_routers() -> None:
    hal, _ = home_link(preference=5, mobile_router=True).heard(LL2, ra(HA2, preference=10), 0.0)
    hal, _ = hal.heard(LL3, ra(HA3, preference=1, mobile_router=True), 0.0)
    (reply, _) = answer_request([hal], DHAADRequest(9, DHAADFlag.R), COA, ANYCAST, 1.0)
    assert reply == SendIcmp(DHAADReply(9, (HA1, HA3), DHAADFlag.R), HA1, COA)
    (reply, _) = answer_request([hal], DHAADRequest(9), COA, ANYCAST, 1.0)
    assert reply == SendIcmp(DHAADReply(9, (HA2, HA1, HA3)), HA1, COA)


@pytest.mark.parametrize(("src", "dst", "reason"), [
    (COA, IPv6Address("2001:db8:2::fdff:ffff:ffff:fffe"),
     "not a home link's Home-Agents anycast address"),
    (COA, HA1, "not a home link's Home-Agents anycast address"),
    (IPv6Address("::"), ANYCAST, "invalid source"),
    (IPv6Address("ff02::1"), ANYCAST, "invalid source"),
])
def test_requests_that_get_no_answer(src: IPv6Address, dst: IPv6Address, reason: str) -> None:
    (record,) = answer_request([home_link()], DHAADRequest(3), src, dst, 0.0)
    assert isinstance(record, Log) and record.event == "dhaad-request-ignored"
    assert dict(record.fields)["reason"] == reason
