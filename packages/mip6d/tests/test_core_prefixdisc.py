"""Mobile Prefix Discovery, the home agent's side: the home prefixes of a home link from
its router advertisements and the home agent's own prefix (RFC 6275 section 10.6.1),
and the Advertisement that answers a Solicitation (sections 6.7, 6.8, 10.6), with given
times."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest
from mip6d.core.bcache import Binding, BindingCache
from mip6d.core.effects import (
    AddXfrmPolicy,
    AddXfrmState,
    CancelTimer,
    Log,
    SendIcmp,
    StartTimer,
    TimerKey,
    TimerKind,
    XfrmDirection,
    XfrmRoProto,
    inverse,
)
from mip6d.core.ipsec import POLICY_PRIORITY
from mip6d.core.policy import HomeLink
from mip6d.core.prefixdisc import (
    INFINITE_LIFETIME,
    INITIAL_SOLICIT_TIMER,
    MAX_ADVERTISED_PREFIXES,
    PREFIX_ADV_RETRIES,
    SOLICIT_AT,
    SOLICIT_RETRIES,
    HomePrefixList,
    PrefixSolicitor,
    Solicitation,
    UnsolicitedSchedule,
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
    pytest.param(((T0, ra(pio(HOME, 100, 50))),), T0 + 100, [],
                 id="advertised lifetime over: gone, the own prefix not back"),
    pytest.param(((T0, ra(pio(HOME, 0, 0), pio(NEW, 3600, 1800))),), T0,
                 [(str(NEW), 3600, 1800, LA)],
                 id="renumbered: the own prefix withdrawn, a new one"),
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


# -- the mobile node's side ------------------------------------------------------------------

HOME_ADDRESS = IPv6Interface("2001:db8:1::10/64")


def events(effects: tuple[object, ...]) -> list[str]:
    return [e.event for e in effects if isinstance(e, Log)]


def solicitor_registered() -> tuple[PrefixSolicitor, tuple[object, ...]]:
    return PrefixSolicitor(HOME_ADDRESS, next_identifier=40).registered(HA, COA, T0)


def hao_kernel(care_of: IPv6Address = COA) -> tuple[AddXfrmState, AddXfrmPolicy]:
    return (AddXfrmState(XfrmRoProto.HAO, HOA, HA, care_of),
            AddXfrmPolicy(XfrmDirection.OUT, IPv6Network(HOA), IPv6Network(HA), 58, 146,
                          POLICY_PRIORITY, ro=XfrmRoProto.HAO))


def test_a_registered_node_asks_at_once_the_kernel_adding_the_home_address_option() -> None:
    s, effects = solicitor_registered()
    stale, state, policy, send, record, timer = effects
    assert (stale, state, policy) == (inverse(hao_kernel()[0]), *hao_kernel())
    # From the home address: the raw socket's checksum covers it (RFC 6275 6.3).
    assert send == SendIcmp(MobilePrefixSolicitation(40), HOA, HA)
    assert isinstance(record, Log) and record.event == "mobile-prefix-solicitation-sent"
    assert timer == StartTimer(s.timer, T0 + INITIAL_SOLICIT_TIMER)
    assert s.registered(HA, COA, T0 + 1) == (s, ())  # the same binding refreshed


def test_an_unanswered_solicitation_is_sent_again_doubling_then_given_up() -> None:
    s, _ = solicitor_registered()
    sent_at, now = [], T0
    for _ in range(SOLICIT_RETRIES):
        now = s.next_at  # type: ignore[assignment]
        s, effects = s.fire(now)
        sent_at.append(now)
        assert isinstance(effects[0], SendIcmp)
    assert [b - a for a, b in zip([T0, *sent_at], sent_at, strict=False)] == [3, 6, 12, 24]
    s, effects = s.fire(s.next_at)  # type: ignore[arg-type]
    assert events(effects) == ["mobile-prefix-solicitation-unanswered"]
    assert effects[-1] == CancelTimer(s.timer)


def mpa(identifier: int, *prefixes: PrefixInformation) -> MobilePrefixAdvertisement:
    return MobilePrefixAdvertisement(identifier, MPAFlag(0), prefixes)


def test_the_answer_sets_the_next_solicitation_before_the_prefix_expires() -> None:
    s, _ = solicitor_registered()
    s, effects = s.advertised(mpa(40, pio(HOME, 1000, 500)), HA, HOA, T0 + 1)
    assert events(effects) == ["mobile-prefix-advertisement-received"]
    assert effects[-1] == StartTimer(s.timer, T0 + 1 + SOLICIT_AT * 1000)
    assert s.renumbered_to is None and s.identifier is None
    s, effects = s.fire(T0 + 801)
    assert effects[0] == SendIcmp(MobilePrefixSolicitation(41), HOA, HA)


def test_an_infinite_home_prefix_is_not_asked_about_again() -> None:
    s, _ = solicitor_registered()
    s, effects = s.advertised(mpa(40, pio(HOME, INFINITE_LIFETIME, INFINITE_LIFETIME)),
                              HA, HOA, T0 + 1)
    assert effects[-1] == CancelTimer(s.timer)


@pytest.mark.parametrize(("msg", "src", "dst", "reason"), [
    (mpa(41, pio(HOME, 1000, 500)), HA, HOA, "identifier of another solicitation"),
    (mpa(40, pio(HOME, 1000, 500)), IPv6Address("2001:db8:1::2"), HOA,
     "not from the home agent"),
    (mpa(40, pio(HOME, 1000, 500)), HA, COA, "not to the home address"),
])
def test_advertisements_that_do_not_count(msg: MobilePrefixAdvertisement, src: IPv6Address,
                                          dst: IPv6Address, reason: str) -> None:
    s, _ = solicitor_registered()
    after, (record,) = s.advertised(msg, src, dst, T0 + 1)
    assert after == s
    assert isinstance(record, Log) and dict(record.fields)["reason"] == reason


def test_an_unsolicited_advertisement_counts_when_none_is_outstanding() -> None:
    s, _ = solicitor_registered()
    s, _ = s.advertised(mpa(40, pio(HOME, 1000, 500)), HA, HOA, T0 + 1)
    s, effects = s.advertised(mpa(999, pio(HOME, 2000, 500)), HA, HOA, T0 + 2)
    assert events(effects) == ["mobile-prefix-advertisement-received"]
    assert effects[-1] == StartTimer(s.timer, T0 + 2 + SOLICIT_AT * 2000)


@pytest.mark.parametrize(("prefixes", "renumbered_to"), [
    ((pio(HOME, 0, 0), pio(NEW, 3600, 1800)), IPv6Interface("2001:db8:2::10/64")),
    ((pio(NEW, 3600, 1800),), IPv6Interface("2001:db8:2::10/64")),
    ((pio(HOME, 60, 0), pio(NEW, 3600, 1800)), None),  # the old one still valid
    ((pio(NEW, 3600, 1800, PrefixFlag.L),), None),  # no autonomous configuration
    ((pio(IPv6Network("2001:db8:2::/48"), 3600, 1800),), None),  # another length
    ((), None),
])
def test_renumbering(prefixes: tuple[PrefixInformation, ...],
                     renumbered_to: IPv6Interface | None) -> None:
    s, _ = solicitor_registered()
    s, effects = s.advertised(mpa(40, *prefixes), HA, HOA, T0 + 1)
    assert s.renumbered_to == renumbered_to
    assert ("home-prefix-renumbered" in events(effects)) == (renumbered_to is not None)


def test_leaving_the_binding_cancels_and_a_new_care_of_address_asks_again() -> None:
    s, _ = solicitor_registered()
    s, effects = s.unregistered()
    assert effects == (inverse(hao_kernel()[1]), CancelTimer(s.timer))  # state shared
    assert s.identifier is None
    s, effects = s.registered(HA, OTHER_COA, T0 + 5)
    assert effects[:4] == (inverse(hao_kernel(OTHER_COA)[0]), *hao_kernel(OTHER_COA),
                           SendIcmp(MobilePrefixSolicitation(41), HOA, HA))


def test_a_handover_moves_the_hao_state_and_asks_again_only_if_unanswered() -> None:
    s, _ = solicitor_registered()
    s, _ = s.advertised(mpa(40, pio(HOME, 1000, 500)), HA, HOA, T0 + 1)
    s, effects = s.registered(HA, OTHER_COA, T0 + 5)
    # The state replaced (add keeps an existing one's care-of address); same policy.
    assert effects == (inverse(hao_kernel(OTHER_COA)[0]), *hao_kernel(OTHER_COA),
                       StartTimer(s.timer, T0 + 1 + SOLICIT_AT * 1000))


def test_another_home_agent_gets_its_own_policy() -> None:
    s, _ = solicitor_registered()
    other = IPv6Address("2001:db8:1::2")
    s, effects = s.registered(other, COA, T0 + 5)
    assert effects[0] == inverse(hao_kernel()[1])
    assert effects[2:4] == (AddXfrmState(XfrmRoProto.HAO, HOA, other, COA),
                            AddXfrmPolicy(XfrmDirection.OUT, IPv6Network(HOA),
                                          IPv6Network(other), 58, 146, POLICY_PRIORITY,
                                          ro=XfrmRoProto.HAO))


# -- unsolicited advertisements ----------------------------------------------------------


def test_only_a_change_of_what_is_advertised_is_a_change() -> None:
    first = home_list()
    heard = first.heard(ra(pio(HOME, 86400, 14400)), T0)
    assert not heard.changed_from(first, T0)  # the first advertisement says what is
    again = heard.heard(ra(pio(HOME, 86400, 14400)), T0 + 600)
    assert not again.changed_from(heard, T0 + 600)  # time passing is no change
    for change in (ra(pio(HOME, 86400, 14400), pio(NEW, 3600, 1800)),  # a new prefix
                   ra(pio(HOME, 0, 0)),  # withdrawn
                   ra(pio(HOME, 86400, 7200)),  # a lifetime reconfigured
                   ra(pio(HOME, 86400, 14400, PrefixFlag.L))):  # a flag
        assert heard.heard(change, T0 + 600).changed_from(heard, T0 + 600), change


TIMER = TimerKey(TimerKind.MOBILE_PREFIX, "eth0")


@pytest.mark.parametrize(("random", "preferred", "last_sent", "at"), [
    (0.0, 14400, None, T0 + 600),  # MinMobPfxAdvInterval
    (0.5, 14400, None, T0 + 600 + 0.5 * (3600 - 600)),  # MaxMobPfxAdvInterval 3600
    (0.5, 1600, None, T0 + 600 + 0.5 * (1600 - 600)),  # the preferred lifetime is less
    (0.5, 100, None, T0 + 600 + 0.5 * 500),  # |100 - 600|
    (0.0, 14400, T0 - 100, T0 + 600 + 0.0),  # not sooner than Min after the last
    (0.0, 14400, T0 + 50, T0 + 650),
])
def test_unsolicited_advertisements_are_scheduled_within_the_intervals(
        random: float, preferred: int, last_sent: float | None, at: float) -> None:
    lst = home_list().heard(ra(pio(HOME, 86400, preferred)), T0)
    schedule = UnsolicitedSchedule(TIMER, last_sent=last_sent)
    schedule, effects = schedule.changed(lst, T0, random, 600, 3600)
    assert schedule.next_at == at and effects[0] == StartTimer(TIMER, at)
    assert schedule.changed(lst, T0 + 1, 0.9, 600, 3600) == (schedule, ())  # scheduled


def test_each_binding_of_the_link_gets_an_unsolicited_advertisement() -> None:
    cache = cache_with()
    cache.put(Binding(IPv6Address("2001:db8:1::20"), OTHER_COA, HA, "eth0", "mip6t1", 3,
                      BUFlag.A | BUFlag.H, 400, T0, T0, T0 + 400))
    cache.put(Binding(IPv6Address("2001:db8:9::20"), OTHER_COA, IPv6Address("2001:db8:9::1"),
                      "eth9", "mip6t2", 3, BUFlag.A | BUFlag.H, 400, T0, T0, T0 + 400))
    lst = home_list().heard(ra(pio(NEW, 3600, 1800)), T0)
    schedule = UnsolicitedSchedule(TIMER, next_at=T0 + 5, identifier=0xFFFF)
    schedule, effects = schedule.fire(lst, cache, T0 + 5)
    sends = [e for e in effects if isinstance(e, SendIcmp)]
    assert [(s.dst, s.routing_header, s.msg.identifier) for s in sends] == [  # type: ignore[union-attr]
        (COA, HOA, 0xFFFF), (OTHER_COA, IPv6Address("2001:db8:1::20"), 0)]
    prefixes = (pio(HOME, INFINITE_LIFETIME, INFINITE_LIFETIME), pio(NEW, 3595, 1795))
    assert [s.msg.options for s in sends] == [prefixes] * 2  # type: ignore[union-attr]
    assert [dict(e.fields)["solicited"] for e in effects if isinstance(e, Log)] == [False] * 2
    assert (schedule.next_at, schedule.last_sent, schedule.identifier) == (None, T0 + 5, 1)


def test_unanswered_unsolicited_advertisements_are_sent_again_three_times() -> None:
    other = IPv6Address("2001:db8:1::20")
    cache = cache_with()
    cache.put(Binding(other, OTHER_COA, HA, "eth0", "mip6t1", 3, BUFlag.A | BUFlag.H, 400,
                      T0, T0, T0 + 400))
    lst = home_list().heard(ra(pio(NEW, 3600, 1800)), T0)
    schedule, effects = UnsolicitedSchedule(TIMER, next_at=T0 + 5).fire(lst, cache, T0 + 5)
    assert effects[-1] == StartTimer(TIMER, T0 + 8)  # PREFIX_ADV_TIMEOUT
    assert schedule.unacknowledged == (HOA, other)
    schedule = schedule.acknowledged(HOA)  # it registered
    sent_to = []
    for at in (T0 + 8, T0 + 14, T0 + 26):  # the wait doubling
        assert schedule.fire(lst, cache, at - 0.5) == (schedule, ())  # not yet
        schedule, effects = schedule.fire(lst, cache, at)
        sent_to += [e.routing_header for e in effects if isinstance(e, SendIcmp)]
    assert sent_to == [other] * PREFIX_ADV_RETRIES
    assert not any(isinstance(e, StartTimer) for e in effects)  # the last one
    assert schedule.retry_at is None


def test_answered_unsolicited_advertisements_are_not_sent_again() -> None:
    lst = home_list().heard(ra(pio(NEW, 3600, 1800)), T0)
    schedule, _ = UnsolicitedSchedule(TIMER, next_at=T0 + 5).fire(lst, cache_with(), T0 + 5)
    schedule = schedule.acknowledged(HOA)
    assert schedule.retry_at is None and schedule.unacknowledged == ()
    assert schedule.fire(lst, cache_with(), T0 + 8) == (schedule, ())
    assert schedule.acknowledged(HOA) == schedule


def test_a_change_during_retransmissions_keeps_the_sooner_timer() -> None:
    lst = home_list().heard(ra(pio(NEW, 3600, 1800)), T0)
    schedule, _ = UnsolicitedSchedule(TIMER, next_at=T0 + 5).fire(lst, cache_with(), T0 + 5)
    changed = lst.heard(ra(pio(HOME, 0, 0)), T0 + 6)
    schedule, effects = schedule.changed(changed, T0 + 6, 0.0, 600, 3600)
    assert effects[0] == StartTimer(TIMER, T0 + 8)  # the retransmission comes first
    assert schedule.next_at == T0 + 6 + 600  # MinMobPfxAdvInterval from the change


def test_stopping_removes_the_policy_and_the_state_even_after_going_home() -> None:
    s, _ = solicitor_registered()
    state, policy = hao_kernel()
    assert s.stopped()[1] == (inverse(policy), CancelTimer(s.timer), inverse(state))
    s, _ = s.unregistered()
    assert s.stopped()[1] == (inverse(state),)
    assert s.stopped()[0].stopped()[1] == ()
