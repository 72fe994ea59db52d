"""The mobile node: care-of address choice, movement events, dispatch, and a mobile
node and a home agent talking to each other through pure calls."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mip6d.core.bcache import NemoMode
from mip6d.core.bul import BulState, FlowPolicy, HomeRegistration, binding_tunnel, timer_key
from mip6d.core.effects import (
    AddRoute,
    AddTunnel,
    ChangeTunnel,
    Effect,
    RemoveTunnel,
    SendMessage,
    StartTimer,
    TimerKey,
    TimerKind,
    log,
)
from mip6d.core.homeagent import HomeAgent, binding_addresses
from mip6d.core.mobile import (
    UNRANKED,
    CareOfAddressAvailable,
    CareOfAddressGone,
    CareOfCandidate,
    HomeLinkDetected,
    HomeLinkLost,
    MobileConfig,
    MobileNode,
    MovementEvent,
    select_care_of,
)
from mip6d.core.policy import BindingAclPolicy, HomeAgentPolicy, HomeLink
from mip6d.wire.flowsel import TrafficSelector6
from mip6d.wire.mh import (
    BAStatus,
    BindingAck,
    BindingIdentifier,
    BindingReference,
    BindingUpdate,
    FlowIdentification,
)

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
PREFIX = IPv6Network("2001:db8:1::/64")
HOME = IPv6Interface("2001:db8:1::10/64")
HOA = HOME.ip
OTHER_HOME = IPv6Interface("2001:db8:5::10/64")
COA_WLAN = IPv6Address("2001:db8:2::10")
COA_ETH = IPv6Address("2001:db8:3::10")
COA_LTE = IPv6Address("2001:db8:4::10")
MNP = IPv6Network("2001:db8:100::/48")
PREFERENCE = {"eth1": 1, "wlan0": 2}


def candidate(
    address: IPv6Address, ifname: str, at: float = 0.0, until: float | None = None
) -> CareOfCandidate:
    return CareOfCandidate(address, ifname, at, until)


# -- care-of address choice ------------------------------------------------------------------


def test_lowest_preference_wins() -> None:
    candidates = [candidate(COA_WLAN, "wlan0"), candidate(COA_ETH, "eth1", at=5.0)]
    assert select_care_of(candidates, PREFERENCE, None, 10.0) == candidates[1]


def test_unranked_interfaces_come_last() -> None:
    candidates = [candidate(COA_LTE, "wwan0"), candidate(COA_WLAN, "wlan0", at=9.0)]
    assert select_care_of(candidates, PREFERENCE, COA_LTE, 10.0) == candidates[1]
    assert PREFERENCE.get("wwan0", UNRANKED) == UNRANKED


def test_equals_keep_the_address_in_use_then_the_oldest() -> None:
    older = candidate(COA_WLAN, "wlan0", at=1.0)
    newer = candidate(IPv6Address("2001:db8:2::1"), "wlan0", at=2.0)
    assert select_care_of([newer, older], PREFERENCE, None, 10.0) == older
    assert select_care_of([newer, older], PREFERENCE, newer.address, 10.0) == newer
    same_time = candidate(IPv6Address("2001:db8:2::1"), "wlan0", at=1.0)
    assert select_care_of([older, same_time], PREFERENCE, None, 10.0) == same_time  # lower


def test_expired_addresses_do_not_qualify() -> None:
    dying = candidate(COA_ETH, "eth1", until=10.0)
    assert select_care_of([dying], PREFERENCE, None, 9.9) == dying
    assert select_care_of([dying], PREFERENCE, None, 10.0) is None
    assert select_care_of([], PREFERENCE, None, 0.0) is None


# -- the node ------------------------------------------------------------------------------


def node(*registrations: HomeRegistration) -> MobileNode:
    return MobileNode(
        MobileConfig(
            registrations or (HomeRegistration(HOME, HA),),
            interface_preference=tuple(PREFERENCE.items()),
        )
    )


def test_movement_picks_the_preferred_interface() -> None:
    mn = node()
    effects = mn.handle_movement(CareOfAddressAvailable(COA_WLAN, "wlan0"), 0.0)
    assert effects[0] == log("care-of-address-selected", address=COA_WLAN, ifname="wlan0")
    assert mn.entry(HOA).care_of == COA_WLAN
    assert mn.handle_movement(CareOfAddressAvailable(COA_LTE, "wwan0"), 1.0) == ()
    effects = mn.handle_movement(CareOfAddressAvailable(COA_ETH, "eth1"), 2.0)
    assert effects[0] == log("care-of-address-selected", address=COA_ETH, ifname="eth1")
    assert mn.entry(HOA).care_of == COA_ETH
    mn.handle_movement(CareOfAddressGone(COA_ETH), 3.0)
    assert mn.entry(HOA).care_of == COA_WLAN
    mn.handle_movement(CareOfAddressGone(COA_WLAN), 4.0)
    assert mn.entry(HOA).care_of == COA_LTE
    effects = mn.handle_movement(CareOfAddressGone(COA_LTE), 5.0)
    assert effects[0] == log("care-of-address-selected", address=None, ifname=None)
    assert mn.primary_care_of is None and mn.entry(HOA).state is BulState.IDLE


def test_addresses_in_a_home_prefix_are_not_care_of_addresses() -> None:
    mn = node()
    address = IPv6Address("2001:db8:1::99")
    assert mn.handle_movement(CareOfAddressAvailable(address, "eth0"), 0.0) == (
        log("care-of-address-ignored", address=address, reason="inside a home prefix"),
    )
    assert mn.primary_care_of is None


def test_home_link_events_reach_the_matching_registrations_only() -> None:
    mn = node(HomeRegistration(HOME, HA), HomeRegistration(OTHER_HOME, HA, tunnel="mip6mn1"))
    mn.handle_movement(HomeLinkDetected("eth0", PREFIX), 0.0)
    assert mn.entry(HOA).state is BulState.HOME
    assert mn.entry(OTHER_HOME.ip).state is BulState.IDLE
    # The home prefix moves to another interface: still at home, address follows.
    mn.handle_movement(HomeLinkDetected("eth1", PREFIX), 1.0)
    mn.handle_movement(HomeLinkLost("eth0", PREFIX), 1.0)
    assert mn.entry(HOA).home_link == "eth1"
    mn.handle_movement(HomeLinkLost("eth1", PREFIX), 2.0)
    assert mn.entry(HOA).home_link is None and mn.entry(HOA).state is BulState.IDLE


def test_acknowledgements_are_dispatched_by_home_agent_and_home_address() -> None:
    mn = node(HomeRegistration(HOME, HA), HomeRegistration(OTHER_HOME, HA, tunnel="mip6mn1"))
    mn.handle_movement(CareOfAddressAvailable(COA_WLAN, "wlan0"), 0.0)
    mn.handle_binding_ack(BindingAck(BAStatus.ACCEPTED, 1, 900), HA, OTHER_HOME.ip, 0.1)
    assert mn.entry(OTHER_HOME.ip).state is BulState.REGISTERED
    assert mn.entry(HOA).state is BulState.REGISTERING
    stranger = IPv6Address("2001:db8:9::1")
    assert mn.handle_binding_ack(BindingAck(0, 1, 900), stranger, HOA, 0.2) == (
        log(
            "binding-ack-ignored",
            src=stranger,
            dst=HOA,
            sequence=1,
            reason="no matching home registration",
        ),
    )


def test_timers_are_dispatched_by_key() -> None:
    mn = node()
    effects = mn.handle_movement(CareOfAddressAvailable(COA_WLAN, "wlan0"), 0.0)
    (timer,) = [e for e in effects if isinstance(e, StartTimer)]
    assert timer.key == timer_key(mn.entry(HOA))
    effects = mn.timer_fired(timer.key, timer.at)
    assert [e.msg.sequence for e in effects if isinstance(e, SendMessage)] == [2]  # type: ignore[union-attr]
    assert mn.timer_fired(timer.key, 0.5) == ()  # not due: a stale timer is harmless
    assert mn.timer_fired(TimerKey(TimerKind.BINDING_UPDATE, "2001:db8:9::1"), 9.0) == ()


def test_configuration_validation() -> None:
    with pytest.raises(ValueError, match="home address 2001:db8:1::10 registered twice"):
        MobileConfig((HomeRegistration(HOME, HA), HomeRegistration(HOME, HA, tunnel="x")))
    with pytest.raises(ValueError, match="tunnel 'mip6mn0' used by two home registrations"):
        MobileConfig((HomeRegistration(HOME, HA), HomeRegistration(OTHER_HOME, HA)))


# -- a mobile node and a home agent --------------------------------------------------------


class Network:
    """Carries Binding Updates to the home agent and acknowledgements back, instantly;
    keeps the effects each side asked for."""

    def __init__(self, mn: MobileNode, ha: HomeAgent, lose_acks: int = 0) -> None:
        self.mn, self.ha = mn, ha
        self.mn_effects: list[Effect] = []
        self.ha_effects: list[Effect] = []
        self.lose_acks = lose_acks

    def deliver(self, effects: tuple[Effect, ...], now: float) -> None:
        self.mn_effects.extend(effects)
        for effect in effects:
            if not (isinstance(effect, SendMessage) and isinstance(effect.msg, BindingUpdate)):
                continue
            home, care_of = binding_addresses(effect.src, effect.msg, effect.home_address_option)
            ack, ha_effects, *_ = self.ha.handle_binding_update(
                effect.msg, effect.src, effect.dst, home, care_of, now, True
            )
            self.ha_effects.extend(ha_effects)
            if ack is None:
                continue
            if self.lose_acks:
                self.lose_acks -= 1
                continue
            (reply,) = (e for e in ha_effects if isinstance(e, SendMessage))
            assert reply.msg == ack
            # The kernel hands the acknowledgement over addressed to the home address.
            dst = reply.routing_header or reply.dst
            self.deliver(self.mn.handle_binding_ack(ack, reply.src, dst, now), now)

    def move(self, event: MovementEvent, now: float) -> None:
        self.deliver(self.mn.handle_movement(event, now), now)

    def wander(self, moves: list[tuple[MovementEvent, int, int]]) -> float:
        """Each ``(move, seconds before it, acknowledgements lost after it)``, then
        quiet until the retransmissions are over; the time then."""
        now = 0.0
        for move, elapsed, lost in moves:
            now += elapsed
            self.tick(now)
            self.lose_acks = lost
            self.move(move, now)
        self.lose_acks = 0
        for _ in range(12):
            now += 40.0
            self.tick(now)
        return now

    def tick(self, now: float) -> None:
        for entry in self.mn.entries:
            if entry.timer_at is not None and entry.timer_at <= now:
                self.deliver(self.mn.timer_fired(timer_key(entry), entry.timer_at), entry.timer_at)
        self.ha_effects.extend(self.ha.expire(now))


def home_agent() -> HomeAgent:
    return HomeAgent(
        HomeAgentPolicy(
            home_links=(HomeLink("eth0", PREFIX, HA),),
            acl=(BindingAclPolicy(HOA, mobile_network_prefixes=(MNP,)),),
            accept_mobile_routers=True,
            duplicate_address_detection=False,
        )
    )


def test_mobile_node_and_home_agent_agree() -> None:
    mn, ha = node(), home_agent()
    net = Network(mn, ha)
    net.move(CareOfAddressAvailable(COA_WLAN, "wlan0"), 0.0)
    entry, binding = mn.entry(HOA), ha.cache.get(HOA)
    assert entry.state is BulState.REGISTERED and binding is not None
    assert (binding.care_of, binding.sequence, binding.expires_at) == (COA_WLAN, 1, 3600.0)
    assert entry.expires_at == binding.expires_at
    # Handover to the wired interface: both sides move the tunnel in place.
    net.move(CareOfAddressAvailable(COA_ETH, "eth1"), 100.0)
    assert ChangeTunnel("mip6mn0", COA_ETH, HA, COA_WLAN, HA) in net.mn_effects
    assert ChangeTunnel("mip6t0", HA, COA_ETH, HA, COA_WLAN) in net.ha_effects
    # Refreshes keep the binding alive for a day.
    for now in range(200, 86_400, 200):
        net.tick(float(now))
    binding = ha.cache.get(HOA)
    assert binding is not None and binding.care_of == COA_ETH
    assert mn.entry(HOA).expires_at == binding.expires_at
    # Home again: both sides clean up.
    net.move(HomeLinkDetected("eth0", PREFIX), 90_000.0)
    assert mn.entry(HOA).state is BulState.HOME and len(ha.cache) == 0


def test_lost_acknowledgement_and_sequence_resync() -> None:
    """The first acknowledgement is lost: the retransmission is accepted. Then the mobile
    node restarts from sequence 0 and the home agent's 135 resynchronises it."""
    mn, ha = node(), home_agent()
    net = Network(mn, ha, lose_acks=1)
    net.move(CareOfAddressAvailable(COA_WLAN, "wlan0"), 0.0)
    assert mn.entry(HOA).state is BulState.REGISTERING
    net.tick(1.5)
    assert mn.entry(HOA).state is BulState.REGISTERED
    assert ha.cache.get(HOA).sequence == 2  # type: ignore[union-attr]
    restarted = MobileNode(
        MobileConfig((HomeRegistration(HOME, HA),), tuple(PREFERENCE.items())),
        initial_sequence=65535,
    )
    net2 = Network(restarted, ha)
    net2.move(CareOfAddressAvailable(COA_ETH, "eth1"), 10.0)
    # BU 0 is not greater than 2: status 135 carries 2, the node continues with 3.
    assert [e.msg.sequence for e in net2.mn_effects if isinstance(e, SendMessage)] == [0, 3]  # type: ignore[union-attr]
    assert restarted.entry(HOA).state is BulState.REGISTERED
    assert ha.cache.get(HOA).care_of == COA_ETH  # type: ignore[union-attr]


def test_mobile_router_and_home_agent() -> None:
    reg = HomeRegistration(HOME, HA, mobile_router=True, mobile_network_prefixes=(MNP,))
    mn, ha = node(reg), home_agent()
    net = Network(mn, ha)
    net.move(CareOfAddressAvailable(COA_WLAN, "wlan0"), 0.0)
    binding = ha.cache.get(HOA)
    assert binding is not None and binding.nemo_mode is NemoMode.EXPLICIT
    assert AddRoute(MNP, "mip6t0") in net.ha_effects
    assert AddTunnel("mip6mn0", COA_WLAN, HA) in net.mn_effects
    assert mn.entry(HOA).state is BulState.REGISTERED


def test_shutdown_deregisters() -> None:
    mn, ha = node(), home_agent()
    net = Network(mn, ha)
    net.move(CareOfAddressAvailable(COA_WLAN, "wlan0"), 0.0)
    net.deliver(mn.shutdown(10.0), 10.0)
    assert len(ha.cache) == 0 and mn.entry(HOA).state is BulState.IDLE


_moves = st.one_of(
    st.builds(
        CareOfAddressAvailable,
        st.sampled_from([COA_WLAN, COA_ETH, COA_LTE]),
        st.sampled_from(["wlan0", "eth1", "wwan0"]),
    ),
    st.builds(CareOfAddressGone, st.sampled_from([COA_WLAN, COA_ETH, COA_LTE])),
    st.builds(HomeLinkDetected, st.sampled_from(["eth0", "eth2"]), st.just(PREFIX)),
    st.builds(HomeLinkLost, st.sampled_from(["eth0", "eth2"]), st.just(PREFIX)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_moves, st.integers(0, 2000), st.integers(0, 2)), max_size=25))
def test_wandering_node_and_home_agent_stay_in_step(
    moves: list[tuple[MovementEvent, int, int]],
) -> None:
    """However the node wanders (with lost acknowledgements), once the network is quiet
    the two sides agree: registered away means bound at the care-of address in use; at
    home or unreachable means no binding after expiry."""
    mn, ha = node(), home_agent()
    net = Network(mn, ha)
    now = net.wander(moves)
    entry = mn.entry(HOA)
    binding = ha.cache.get(HOA)
    if entry.home_link is not None:
        assert entry.state is BulState.HOME and binding is None
    elif entry.care_of is not None:
        assert entry.state is BulState.REGISTERED
        assert binding is not None and binding.care_of == entry.care_of
        assert entry.registered_coa == entry.care_of
    else:
        net.tick(now + 262_140.0)
        assert ha.cache.get(HOA) is None


# -- multiple care-of addresses and flow bindings (RFC 5648, RFC 6089) ---------------------

FLOW_ETH = FlowPolicy(1, 10, (1, 2), TrafficSelector6(destination_port=(5001, 5001),
                                                      next_header=(17, 17)))
FLOW_WLAN = FlowPolicy(2, 20, (2,), TrafficSelector6(destination_port=(5002, 5002),
                                                       next_header=(17, 17)))


def multihomed_router() -> MobileNode:
    return MobileNode(MobileConfig(
        (HomeRegistration(HOME, HA, mobile_router=True, mobile_network_prefixes=(MNP,),
                          multiple_care_of=True, flows=(FLOW_ETH, FLOW_WLAN)),),
        interface_preference=tuple(PREFERENCE.items()),
        binding_ids=(("eth1", 1, 10), ("wlan0", 2, 20)),
    ))


def sent_updates(effects: list[Effect]) -> list[BindingUpdate]:
    return [e.msg for e in effects
            if isinstance(e, SendMessage) and isinstance(e.msg, BindingUpdate)]


def held(ha: HomeAgent) -> dict[int | None, IPv6Address]:
    return {b.bid: b.care_of for b in ha.cache.bindings_of(HOA)}


def registered_on_both_links() -> Network:
    net = Network(multihomed_router(), home_agent())
    net.move(CareOfAddressAvailable(COA_ETH, "eth1"), 0.0)
    net.move(CareOfAddressAvailable(COA_WLAN, "wlan0"), 1.0)
    net.mn_effects.clear()
    return net


def test_a_router_registers_each_link_by_its_bid_with_its_flows() -> None:
    net = Network(multihomed_router(), home_agent())
    net.move(CareOfAddressAvailable(COA_ETH, "eth1"), 0.0)
    net.move(CareOfAddressAvailable(COA_WLAN, "wlan0"), 1.0)
    first, bulk = sent_updates(net.mn_effects)
    assert BindingIdentifier(1, COA_ETH, priority=10) in first.options
    # The second link: one Binding Update naming both bindings, and the flows.
    assert [o for o in bulk.options if isinstance(o, BindingIdentifier | FlowIdentification)] == [
        BindingIdentifier(1, COA_ETH, priority=10),
        BindingIdentifier(2, COA_WLAN, priority=20),
        FlowIdentification(1, 10, sub_options=(BindingReference((1, 2)), FLOW_ETH.selector)),
        FlowIdentification(2, 20, sub_options=(BindingReference((2,)), FLOW_WLAN.selector)),
    ]
    assert bulk.lifetime > 0
    assert held(net.ha) == {1: COA_ETH, 2: COA_WLAN}
    assert {f.fid for f in net.ha.cache.flows_of(HOA)} == {1, 2}
    entry = net.mn.entry(HOA)
    assert entry.state is BulState.REGISTERED and entry.registered_coa == COA_ETH
    # Each binding's share of the traffic comes through a tunnel of its own.
    assert AddTunnel("mip6mn0", COA_ETH, HA) in entry.installed
    assert AddTunnel(binding_tunnel("mip6mn0", 2), COA_WLAN, HA) in entry.installed


def test_losing_the_second_link_deregisters_its_bid_only() -> None:
    net = registered_on_both_links()
    net.move(CareOfAddressGone(COA_WLAN), 2.0)
    (update,) = sent_updates(net.mn_effects)
    assert update.lifetime == 0
    assert [o for o in update.options if isinstance(o, BindingIdentifier)] == [
        BindingIdentifier(2)]
    assert held(net.ha) == {1: COA_ETH}
    entry = net.mn.entry(HOA)
    assert entry.state is BulState.REGISTERED and entry.dropping == ()
    assert [b.bid for b in entry.registered_bindings] == [1]
    assert RemoveTunnel(binding_tunnel("mip6mn0", 2), COA_WLAN, HA) in net.mn_effects


def test_losing_the_first_link_deregisters_it_and_moves_the_tunnel_at_once() -> None:
    net = registered_on_both_links()
    effects = net.mn.handle_movement(CareOfAddressGone(COA_ETH), 2.0)
    # The deregistration first (the home agent moves the link's traffic), then the
    # tunnel to the binding the home agent holds already, before any answer.
    update = next(i for i, e in enumerate(effects) if isinstance(e, SendMessage))
    assert effects.index(ChangeTunnel("mip6mn0", COA_WLAN, HA, COA_ETH, HA)) > update
    net.deliver(effects, 2.0)
    (sent,) = sent_updates(net.mn_effects)
    assert sent.lifetime == 0 and BindingIdentifier(1) in sent.options
    assert held(net.ha) == {2: COA_WLAN}
    # The flows stay: the one bound to both links now has the second.
    assert {f.fid for f in net.ha.cache.flows_of(HOA)} == {1, 2}
    entry = net.mn.entry(HOA)
    assert entry.state is BulState.REGISTERED and entry.registered_coa == COA_WLAN
    assert not any(isinstance(e, AddTunnel) and e.name != "mip6mn0" for e in entry.installed)
    assert not any(isinstance(e, AddTunnel) for e in net.mn_effects)  # none for the lost one


def test_a_link_that_comes_back_is_registered_again() -> None:
    net = registered_on_both_links()
    net.move(CareOfAddressGone(COA_WLAN), 2.0)
    net.move(CareOfAddressAvailable(COA_WLAN, "wlan0"), 3.0)
    assert held(net.ha) == {1: COA_ETH, 2: COA_WLAN}
    assert sent_updates(net.mn_effects)[-1].lifetime > 0


def test_going_home_deregisters_every_binding() -> None:
    net = registered_on_both_links()
    net.move(HomeLinkDetected("eth0", PREFIX), 2.0)
    (update,) = sent_updates(net.mn_effects)
    assert update.lifetime == 0
    assert not any(isinstance(o, BindingIdentifier) for o in update.options)
    assert held(net.ha) == {}


def test_an_interface_without_a_bid_registers_alone() -> None:
    net = Network(multihomed_router(), home_agent())
    net.move(CareOfAddressAvailable(COA_LTE, "wwan0"), 0.0)
    (update,) = sent_updates(net.mn_effects)
    assert not any(isinstance(o, BindingIdentifier | FlowIdentification)
                   for o in update.options)
    assert held(net.ha) == {None: COA_LTE}


def test_where_multiple_care_of_addresses_are_prohibited_the_primary_registers_alone(
) -> None:
    """166: the router registers its primary care-of address without BID, without
    flows, from the first registration on, and when the home agent stops accepting the
    bindings it held (the registration without BID replaces them)."""
    def prohibited(ha: HomeAgent) -> HomeAgent:
        ha.policy = replace(ha.policy, accept_multiple_care_of=False)
        return ha

    net = Network(multihomed_router(), prohibited(home_agent()))
    net.move(CareOfAddressAvailable(COA_ETH, "eth1"), 0.0)
    net.move(CareOfAddressAvailable(COA_WLAN, "wlan0"), 1.0)
    assert held(net.ha) == {None: COA_ETH}
    entry = net.mn.entry(HOA)
    assert entry.state is BulState.REGISTERED and entry.bindings == ()
    assert not entry.registration.multiple_care_of and entry.registration.flows == ()
    assert not any(isinstance(o, BindingIdentifier | FlowIdentification)
                   for o in sent_updates(net.mn_effects)[-1].options)
    assert log("multiple-care-of-prohibited", home_address=HOA, home_agent=HA) in net.mn_effects
    assert [e.name for e in entry.installed if isinstance(e, AddTunnel)] == ["mip6mn0"]

    net = registered_on_both_links()
    prohibited(net.ha)
    refresh_at = net.mn.entry(HOA).refresh_at
    assert refresh_at is not None
    net.tick(refresh_at)
    assert held(net.ha) == {None: COA_ETH} and net.ha.cache.flows_of(HOA) == ()
    entry = net.mn.entry(HOA)
    assert entry.state is BulState.REGISTERED and entry.registered_bindings == ()
    assert RemoveTunnel(binding_tunnel("mip6mn0", 2), COA_WLAN, HA) in net.mn_effects


def test_flows_need_multiple_care_of_addresses() -> None:
    with pytest.raises(ValueError, match="flow bindings without multiple care-of"):
        HomeRegistration(HOME, HA, flows=(FLOW_ETH,))
    with pytest.raises(ValueError, match=r"1\.\.9 characters"):
        HomeRegistration(HOME, HA, tunnel="mip6mn0long", multiple_care_of=True)


_router_moves = st.one_of(
    st.sampled_from([CareOfAddressAvailable(COA_WLAN, "wlan0"),
                     CareOfAddressAvailable(COA_ETH, "eth1"),
                     CareOfAddressAvailable(COA_LTE, "wwan0")]),
    st.builds(CareOfAddressGone, st.sampled_from([COA_WLAN, COA_ETH, COA_LTE])),
    st.builds(HomeLinkDetected, st.just("eth0"), st.just(PREFIX)),
    st.builds(HomeLinkLost, st.just("eth0"), st.just(PREFIX)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_router_moves, st.integers(0, 2000), st.integers(0, 2)),
                max_size=25), st.booleans())
def test_multihomed_router_and_home_agent_stay_in_step(
    moves: list[tuple[MovementEvent, int, int]], multiple_accepted: bool,
) -> None:
    """However the router's links come and go (with lost acknowledgements, and an
    interface without BID), once the network is quiet the home agent holds one binding
    per BID the router has a care-of address for, or the one binding without BID (the
    only one where the home agent accepts no BIDs), and the router's tunnel is at its
    primary care-of address."""
    ha = home_agent()
    ha.policy = replace(ha.policy, accept_multiple_care_of=multiple_accepted)
    net = Network(multihomed_router(), ha)
    now = net.wander(moves)
    entry = net.mn.entry(HOA)
    if entry.home_link is not None:
        assert entry.state is BulState.HOME and held(net.ha) == {}
    elif entry.care_of is not None:
        assert entry.state is BulState.REGISTERED and entry.registered_coa == entry.care_of
        wanted = {b.bid: b.care_of for b in entry.bindings} or {None: entry.care_of}
        assert held(net.ha) == wanted
        assert entry.registered_bindings == entry.bindings
        assert multiple_accepted or (entry.bindings == () and not net.ha.cache.flows_of(HOA))
    else:
        net.tick(now + 262_140.0)
        assert held(net.ha) == {}
