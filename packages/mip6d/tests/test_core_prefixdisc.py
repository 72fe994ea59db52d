"""Mobile Prefix Discovery, the home agent's side: the home prefixes of a home link from
its router advertisements and the home agent's own prefix (RFC 6275 section 10.6.1),
and the Advertisement that answers a Solicitation (sections 6.7, 6.8, 10.6), with given
times."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest
from mip6d.core.bcache import Binding, BindingCache
from mip6d.core.effects import Log, SendIcmp
from mip6d.core.policy import HomeLink
from mip6d.core.prefixdisc import (
    INFINITE_LIFETIME,
    MAX_ADVERTISED_PREFIXES,
    HomePrefixList,
    Solicitation,
    answer_solicitation,
)
from mip6d.wire import icmp6
from mip6d.wire.icmp6 import (
    MobilePrefixAdvertisement,
    MobilePrefixSolicitation,
    MPAFlag,
    PrefixFlag,
    PrefixInformation,
    RouterAdvertisement,
)
from mip6d.wire.mh import BUFlag

pytestmark = pytest.mark.unit

HOME = IPv6Network("2001:db8:1::/64")
NEW = IPv6Network("2001:db8:2::/64")
HA = IPv6Address("2001:db8:1::1")
HOA = IPv6Address("2001:db8:1::10")
COA, OTHER_COA = IPv6Address("2001:db8:a::5"), IPv6Address("2001:db8:b::5")
LA = PrefixFlag.L | PrefixFlag.A
T0 = 1000.0


def pio(network: IPv6Network, valid: int, preferred: int,
        flags: PrefixFlag = LA, address: IPv6Address | None = None) -> PrefixInformation:
    return PrefixInformation(network.prefixlen, flags, valid, preferred,
                             address or network.network_address)


def ra(*prefixes: PrefixInformation) -> RouterAdvertisement:
    return RouterAdvertisement(64, router_lifetime=1800, options=prefixes)


def home_list(valid_until: float | None = None) -> HomePrefixList:
    return HomePrefixList.of(HomeLink("eth0", HOME, HA, valid_until), T0)


def advertised(lst: HomePrefixList, now: float) -> list[tuple[str, int, int, PrefixFlag]]:
    return [(str(p.prefix), o.valid_lifetime, o.preferred_lifetime, o.flags)
            for p in lst.current(now) for o in (p.option(now),)]


@pytest.mark.parametrize(("heard", "at", "expected"), [
    pytest.param((), T0 + 50, [(str(HOME), INFINITE_LIFETIME, INFINITE_LIFETIME, LA)],
                 id="no advertisement: the own prefix, infinite"),
    pytest.param(((T0, ra(pio(HOME, 86400, 14400))),), T0 + 100,
                 [(str(HOME), 86300, 14300, LA)],
                 id="an advertised prefix counts down in real time"),
    pytest.param(((T0, ra(pio(HOME, 86400, 14400, LA | PrefixFlag.R, HA))),), T0,
                 [(str(HOME), 86400, 14400, LA)],
                 id="R flag: the router address becomes the prefix, R not passed on"),
    pytest.param(((T0, ra(pio(HOME, 600, 300))), (T0 + 200, ra(pio(HOME, 600, 300)))),
                 T0 + 300, [(str(HOME), 500, 200, LA)],
                 id="a later advertisement restarts the count"),
    pytest.param(((T0, ra(pio(HOME, 100, 50))),), T0 + 60,
                 [(str(HOME), 40, 0, LA)], id="preferred over, still valid"),
    pytest.param(((T0, ra(pio(HOME, 100, 50))),), T0 + 100,
                 [(str(HOME), INFINITE_LIFETIME, INFINITE_LIFETIME, LA)],
                 id="advertised lifetime over: the own prefix again"),
    pytest.param(((T0, ra(pio(HOME, 86400, 14400), pio(NEW, 3600, 1800))),), T0,
                 [(str(HOME), 86400, 14400, LA), (str(NEW), 3600, 1800, LA)],
                 id="a second prefix on the link"),
    pytest.param(((T0, ra(pio(HOME, 86400, 14400), pio(NEW, 3600, 1800))),
                  (T0 + 10, ra(pio(NEW, 0, 0)))), T0 + 10,
                 [(str(HOME), 86390, 14390, LA)],
                 id="valid lifetime 0 removes a prefix"),
    pytest.param(((T0, ra(pio(IPv6Network("fe80::/64"), 86400, 14400),
                          pio(IPv6Network("::/0"), 86400, 14400))),), T0,
                 [(str(HOME), INFINITE_LIFETIME, INFINITE_LIFETIME, LA)],
                 id="link-local and default prefixes are no home prefixes"),
    pytest.param(((T0, ra(pio(HOME, INFINITE_LIFETIME, 14400))),), T0 + 10 ** 6,
                 [(str(HOME), INFINITE_LIFETIME, 0, LA)],
                 id="an infinite valid lifetime never counts down"),
    pytest.param(((T0, ra(pio(HOME, 100, 500))),), T0,
                 [(str(HOME), 100, 100, LA)],
                 id="preferred never above valid"),
])
def test_home_prefixes(heard: tuple[tuple[float, RouterAdvertisement], ...], at: float,
                       expected: list[tuple[str, int, int, PrefixFlag]]) -> None:
    lst = home_list()
    for when, advertisement in heard:
        lst = lst.heard(advertisement, when)
    assert advertised(lst, at) == expected


def test_the_own_prefix_follows_the_links_valid_lifetime() -> None:
    lst = home_list(valid_until=T0 + 500)
    assert advertised(lst, T0 + 100) == [(str(HOME), 400, 400, LA)]
    assert lst.current(T0 + 500) == ()


# -- answering a solicitation ------------------------------------------------------------


def cache_with(care_of: IPv6Address = COA) -> BindingCache:
    cache = BindingCache()
    cache.put(Binding(HOA, care_of, HA, "eth0", "mip6t0", 7, BUFlag.A | BUFlag.H, 400,
                      T0, T0, T0 + 400))
    return cache


def answer(solicitation: Solicitation, enabled: bool = True,
           lst: HomePrefixList | None = None, now: float = T0) -> tuple[object, ...]:
    lists = {"eth0": lst or home_list().heard(ra(pio(HOME, 86400, 14400)), T0)}
    return answer_solicitation(lists, cache_with(), solicitation, now, enabled)


MPS = MobilePrefixSolicitation(0xBEEF)


def test_a_registered_node_gets_the_home_links_prefixes_through_its_care_of_address() -> None:
    send, record = answer(Solicitation(MPS, COA, HA, HOA), now=T0 + 4)
    assert send == SendIcmp(
        MobilePrefixAdvertisement(0xBEEF, MPAFlag(0), (pio(HOME, 86396, 14396),)),
        HA, COA, routing_header=HOA)
    assert isinstance(record, Log) and record.event == "mobile-prefix-advertisement"
    assert dict(record.fields) == {
        "ifname": "eth0", "home_address": str(HOA), "care_of": str(COA),
        "identifier": 0xBEEF, "solicited": True, "prefixes": str(HOME)}


@pytest.mark.parametrize(("solicitation", "enabled", "reason"), [
    (Solicitation(MPS, COA, HA, HOA), False, "SendMobPfxAdvs is disabled"),
    (Solicitation(MPS, HOA, HA, None), True, "no Home Address option"),
    (Solicitation(MPS, COA, HA, IPv6Address("2001:db8:1::99")), True,
     "no binding for the home address"),
    (Solicitation(MPS, OTHER_COA, HA, HOA), True, "not from the registered care-of address"),
    (Solicitation(MPS, COA, IPv6Address("2001:db8:1::2"), HOA), True,
     "not to the binding's home agent address"),
])
def test_other_solicitations_are_logged_and_dropped(solicitation: Solicitation, enabled: bool,
                                                    reason: str) -> None:
    (record,) = answer(solicitation, enabled)
    assert isinstance(record, Log) and record.event == "mobile-prefix-solicitation-ignored"
    assert dict(record.fields)["reason"] == reason
    assert dict(record.fields)["identifier"] == 0xBEEF


def test_a_binding_on_a_link_no_longer_served_gets_no_answer() -> None:
    (record,) = answer_solicitation({}, cache_with(), Solicitation(MPS, COA, HA, HOA), T0)
    assert isinstance(record, Log)
    assert dict(record.fields)["reason"] == "the binding's home link is not served any more"


def test_the_advertisement_fits_the_minimum_mtu() -> None:
    many = tuple(pio(IPv6Network(f"2001:db8:{i:x}::/64"), 3600, 1800) for i in range(1, 60))
    lst = home_list().heard(ra(*many), T0)
    send, _ = answer(Solicitation(MPS, COA, HA, HOA), lst=lst)
    assert isinstance(send, SendIcmp)
    assert len(send.msg.options) == MAX_ADVERTISED_PREFIXES == 37  # type: ignore[union-attr]
    packet = icmp6.encode(send.msg, HA, HOA)
    assert 40 + 24 + len(packet) <= 1280
