"""Dynamic home agent address discovery, the mobile node's side (RFC 6275 section
11.4.1, constants of section 12): the Request from the care-of address and its
retransmissions, registering with the Reply's first home agent, falling back to the next
when Binding Updates go unanswered or are refused, discovering again when none is left;
pure, with given times."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv6Address, IPv6Interface

import pytest
from mip6d.core.bul import BulEntry, BulState, HomeRegistration, MnSettings, timer_key
from mip6d.core.effects import (
    Effect,
    Log,
    RemoveTunnel,
    SendIcmp,
    SendMessage,
    StartTimer,
)
from mip6d.core.mobile import (
    CareOfAddressAvailable,
    CareOfAddressGone,
    HomeLinkDetected,
    HomeLinkLost,
    MobileConfig,
    MobileNode,
)
from mip6d.wire.icmp6 import DHAADFlag, DHAADReply, DHAADRequest
from mip6d.wire.mh import BAStatus, BindingAck, BindingUpdate

pytestmark = pytest.mark.unit

HOME = IPv6Interface("2001:db8:1::10/64")
HOA = HOME.ip
ANYCAST = IPv6Address("2001:db8:1::fdff:ffff:ffff:fffe")
UNKNOWN = IPv6Address("::")
HA1, HA2 = IPv6Address("2001:db8:1::1"), IPv6Address("2001:db8:1::2")
COA, COA2 = IPv6Address("2001:db8:a::5"), IPv6Address("2001:db8:b::5")
REG = HomeRegistration(HOME, UNKNOWN, discover_home_agent=True)
KEY = timer_key(BulEntry(REG))
FIRST_ID = 101
FALL_BACK_AFTER_2 = MnSettings(ha_resends=2)
NO_FLAGS = DHAADFlag(0)  # initial_sequence 100: the first round is the next identifier


def node(settings: MnSettings = FALL_BACK_AFTER_2, registration: HomeRegistration = REG
         ) -> MobileNode:
    return MobileNode(MobileConfig((registration,), settings=settings), initial_sequence=100)


def of(effects: tuple[Effect, ...], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in effects if isinstance(e, kind)]


def events(effects: tuple[Effect, ...]) -> list[str]:
    return [e.event for e in of(effects, Log)]


def request(identifier: int, src: IPv6Address = COA, flags: DHAADFlag = NO_FLAGS
            ) -> SendIcmp:
    return SendIcmp(DHAADRequest(identifier, flags), src, ANYCAST)


def bu_to(effects: tuple[Effect, ...]) -> list[IPv6Address]:
    return [e.dst for e in of(effects, SendMessage) if isinstance(e.msg, BindingUpdate)]


def ack(mn: MobileNode, src: IPv6Address, now: float,
        status: BAStatus = BAStatus.ACCEPTED) -> tuple[Effect, ...]:
    sequence = mn.entry(HOA).sequence  # lifetime 400 s: refreshed long before it lapses
    return mn.handle_binding_ack(BindingAck(status, sequence, 100), src, HOA, now)


def test_requests_are_resent_after_3_s_doubling_4_times_then_a_new_round() -> None:
    mn = node()
    effects = mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    assert of(effects, SendIcmp) == [request(FIRST_ID)]
    assert of(effects, StartTimer) == [StartTimer(KEY, 3.0)]
    assert mn.entry(HOA).state is BulState.DISCOVERING
    sent_at, now = [0.0], 3.0
    while len(sent_at) < 5:
        effects = mn.timer_fired(KEY, now)
        assert of(effects, SendIcmp) == [request(FIRST_ID)]  # the round keeps its identifier
        sent_at.append(now)
        (timer,) = of(effects, StartTimer)
        now = timer.at
    assert sent_at == [0.0, 3.0, 9.0, 21.0, 45.0] and now == 93.0
    # No Reply to the last one either: a new round, with a new identifier.
    effects = mn.timer_fired(KEY, now)
    assert events(effects)[0] == "dhaad-unanswered"
    assert of(effects, SendIcmp) == [request(FIRST_ID + 1)]
    assert of(effects, StartTimer) == [StartTimer(KEY, 96.0)]
    # A new care-of address asks again from there at once.
    effects = mn.handle_movement(CareOfAddressGone(COA), 97.0)
    assert mn.entry(HOA).state is BulState.IDLE and of(effects, SendIcmp) == []
    effects = mn.handle_movement(CareOfAddressAvailable(COA2, "eth1"), 98.0)
    assert of(effects, SendIcmp) == [request(FIRST_ID + 2, COA2)]


def test_registers_with_the_first_home_agent_of_the_reply() -> None:
    mn = node()
    mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    # Replies that do not answer this round, or list nobody, change nothing.
    for reply in (DHAADReply(FIRST_ID + 7, (HA1,)), DHAADReply(FIRST_ID, ()),
                  DHAADReply(FIRST_ID, (IPv6Address("fe80::1"), UNKNOWN))):
        assert events(mn.handle_dhaad_reply(reply, HA1, 1.0)) == ["dhaad-reply-ignored"]
    assert mn.entry(HOA).state is BulState.DISCOVERING
    effects = mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA1, HA2, HA1)), HA1, 1.0)
    assert events(effects)[0] == "home-agents-discovered"
    (bu,) = of(effects, SendMessage)
    assert (bu.src, bu.dst, bu.home_address_option) == (COA, HA1, HOA)
    entry = mn.entry(HOA)
    assert (entry.state, entry.registration.home_agent, entry.candidates) == (
        BulState.REGISTERING, HA1, (HA2,))
    assert of(effects, StartTimer) == [StartTimer(KEY, 2.5)]  # InitialBindackTimeoutFirstReg
    effects = ack(mn, HA1, 1.2)
    assert events(effects) == ["binding-registered"]
    assert mn.entry(HOA).registered_coa == COA
    # A late Reply finds no discovery in progress.
    assert events(mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA2,)), HA2, 2.0)) == [
        "dhaad-reply-ignored"]


def test_unanswered_binding_updates_move_the_node_to_the_next_home_agent() -> None:
    mn = node()
    mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA1, HA2)), HA1, 0.0)
    ack(mn, HA1, 0.1)
    registered = mn.entry(HOA)
    # The refresh goes unanswered: sent, resent twice (MnMaxHaConsecutiveResends 2), then
    # the next home agent.
    now, sent = registered.refresh_at, []
    assert now is not None
    while True:
        effects = mn.timer_fired(KEY, now)
        if "home-agent-fallback" in events(effects):
            break
        sent += bu_to(effects)
        (timer,) = of(effects, StartTimer)
        now = timer.at
    assert sent == [HA1, HA1, HA1]
    fallback = next(e for e in of(effects, Log) if e.event == "home-agent-fallback")
    assert dict(fallback.fields)["next"] == str(HA2)
    assert bu_to(effects) == [HA2]
    assert RemoveTunnel("mip6mn0", COA, HA1) in effects  # the old binding's state goes
    assert mn.entry(HOA).state is BulState.REGISTERING
    effects = ack(mn, HA2, now + 0.1)
    entry = mn.entry(HOA)
    assert (entry.state, entry.registration.home_agent) == (BulState.REGISTERED, HA2)
    # When the last one fails too, the node discovers again.
    now = entry.refresh_at
    assert now is not None
    while True:
        effects = mn.timer_fired(KEY, now)
        if of(effects, SendIcmp):
            break
        (timer,) = of(effects, StartTimer)
        now = timer.at
    assert "home-agent-fallback" in events(effects)
    assert of(effects, SendIcmp) == [request(FIRST_ID + 1)]
    assert mn.entry(HOA).state is BulState.DISCOVERING


def test_a_refusal_moves_to_the_next_home_agent_and_the_last_one_to_discovery() -> None:
    mn = node()
    mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA1, HA2)), HA1, 0.0)
    effects = ack(mn, HA1, 0.1, BAStatus.ADMINISTRATIVELY_PROHIBITED)
    assert events(effects)[:2] == ["registration-refused", "home-agent-fallback"]
    assert bu_to(effects) == [HA2]
    effects = ack(mn, HA2, 0.2, BAStatus.NOT_HOME_AGENT_FOR_THIS_MN)
    entry = mn.entry(HOA)
    assert (entry.state, entry.registration.home_agent) == (BulState.FAILED, UNKNOWN)
    assert bu_to(effects) == []  # no storm: it waits for the next care-of address
    mn.handle_movement(CareOfAddressGone(COA), 1.0)
    effects = mn.handle_movement(CareOfAddressAvailable(COA2, "eth1"), 1.0)
    assert of(effects, SendIcmp) == [request(FIRST_ID + 1, COA2)]


def test_refused_by_the_last_home_agent_the_node_comes_home_without_a_deregistration(
        ) -> None:
    """Refused by every home agent of the Reply, the node forgets the home agent: coming
    home it has none to deregister with (before, a Binding Update went to ``::``), and
    leaving again it discovers."""
    mn = node()
    mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA1,)), HA1, 0.0)
    ack(mn, HA1, 0.1, BAStatus.ADMINISTRATIVELY_PROHIBITED)
    home = HOME.network
    effects = mn.handle_movement(HomeLinkDetected("eth0", home), 1.0)
    assert of(effects, SendMessage) == [] and mn.entry(HOA).state is BulState.HOME
    effects = mn.handle_movement(HomeLinkLost("eth0", home), 2.0)
    assert bu_to(effects) == [] and of(effects, SendIcmp) == [request(FIRST_ID + 1)]


def test_without_a_fallback_limit_the_node_keeps_to_its_home_agent() -> None:
    mn = node(MnSettings(ha_resends=0))
    mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA1, HA2)), HA1, 0.0)
    now, sent = 1.5, []
    for _ in range(8):
        effects = mn.timer_fired(KEY, now)
        sent += bu_to(effects)
        (timer,) = of(effects, StartTimer)
        now = timer.at
    assert set(sent) == {HA1} and "home-agent-fallback" not in events(effects)


def test_a_mobile_router_asks_for_and_wants_mobile_router_support() -> None:
    router = replace(REG, mobile_router=True)
    mn = node(registration=router)
    effects = mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    assert of(effects, SendIcmp) == [request(FIRST_ID, flags=DHAADFlag.R)]
    effects = mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA1,)), HA1, 0.5)
    assert events(effects) == ["dhaad-reply-ignored"]  # RFC 3963 section 7: no R flag
    effects = mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA1,), DHAADFlag.R), HA1, 0.5)
    assert bu_to(effects) == [HA1]


@pytest.mark.parametrize(("rediscover", "asks"), [(False, False), (True, True)])
def test_coming_home_keeps_or_forgets_the_home_agent(rediscover: bool, asks: bool) -> None:
    mn = node(MnSettings(ha_resends=2, rediscover_at_home=rediscover))
    mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    mn.handle_dhaad_reply(DHAADReply(FIRST_ID, (HA1, HA2)), HA1, 0.0)
    ack(mn, HA1, 0.1)
    home = HOME.network
    effects = mn.handle_movement(HomeLinkDetected("eth0", home), 5.0)
    assert bu_to(effects) == [HA1]  # the deregistration goes to the home agent in use
    ack(mn, HA1, 5.1)
    assert mn.entry(HOA).state is BulState.HOME
    effects = mn.handle_movement(HomeLinkLost("eth0", home), 9.0)
    assert bool(of(effects, SendIcmp)) is asks
    assert bu_to(effects) == ([] if asks else [HA1])


def test_stopping_while_discovering_sends_no_binding_update() -> None:
    mn = node()
    mn.handle_movement(CareOfAddressAvailable(COA, "eth1"), 0.0)
    effects = mn.shutdown(1.0)
    assert of(effects, SendMessage) == [] and events(effects) == ["stopped"]
