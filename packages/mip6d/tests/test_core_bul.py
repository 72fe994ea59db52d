"""One Binding Update List entry: transitions, retransmission schedule with a fake
clock, refresh, handover, return home, mobile router (RFC 6275 section 11, RFC 3963
section 5)."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mip6d.core.bul import (
    TRANSITIONS,
    AckReceived,
    BulEntry,
    BulEvent,
    BulState,
    CareOfChanged,
    HomeRegistration,
    LeftHome,
    MnSettings,
    ReturnedHome,
    Shutdown,
    TimerFired,
    Trigger,
    step,
    timer_key,
    trigger_of,
)
from mip6d.core.effects import (
    MAIN_TABLE,
    AddAddress,
    AddRoute,
    AddRule,
    AddTunnel,
    AddUnreachableRoute,
    AddXfrmState,
    CancelTimer,
    ChangeTunnel,
    Effect,
    RemoveAddress,
    RemoveRoute,
    RemoveRule,
    RemoveTunnel,
    RemoveUnreachableRoute,
    RemoveXfrmState,
    SendMessage,
    StartTimer,
    XfrmRoProto,
    inverse,
    log,
    teardown,
)
from mip6d.core.ipsec import direct_policy
from mip6d.wire.mh import (
    AlternateCareOfAddress,
    BAFlag,
    BAStatus,
    BindingAck,
    BindingRefreshAdvice,
    BindingUpdate,
    BUFlag,
    MobileNetworkPrefix,
)

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
HOME = IPv6Interface("2001:db8:1::10/64")
HOA = HOME.ip
COA = IPv6Address("2001:db8:2::10")
COA2 = IPv6Address("2001:db8:3::10")
MNP = IPv6Network("2001:db8:100::/48")
MNP2 = IPv6Network("2001:db8:101::/64")
AH = BUFlag.A | BUFlag.H
S = MnSettings()
REG = HomeRegistration(HOME, HA)
MR_REG = HomeRegistration(HOME, HA, mobile_router=True, mobile_network_prefixes=(MNP, MNP2))
KEY = timer_key(BulEntry(REG))
ROUTE2 = AddXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA)
TUNNEL = AddTunnel("mip6mn0", COA, HA)
HOA_ON_TUNNEL = AddAddress(IPv6Interface("2001:db8:1::10/128"), "mip6mn0", True, True)
DEFAULT_ROUTE = AddRoute(IPv6Network("::/0"), "mip6mn0", 252)
HOA_RULE = AddRule(1001, 252, source=IPv6Network("2001:db8:1::10/128"))
HOA_MH_RULE = AddRule(999, MAIN_TABLE, source=IPv6Network("2001:db8:1::10/128"), protocol=135)
REFUSE = AddUnreachableRoute(IPv6Network("::/0"), 252, 4096)
DIRECT = direct_policy(HA, HOA, XfrmRoProto.ROUTE2)
# Away from the first Binding Update on: the home address's traffic is refused until the
# tunnel's route comes, its Binding Updates use the main table.
AWAY = (ROUTE2, REFUSE, HOA_MH_RULE, HOA_RULE)
BOUND = (TUNNEL, *AWAY, DEFAULT_ROUTE, HOA_ON_TUNNEL, DIRECT)
MNP_RULES = (  # MR_REG's: to each prefix the main table, from it the tunnel's table
    AddRule(1000, MAIN_TABLE, destination=MNP),
    AddRule(1002, 252, source=MNP),
    AddRule(1000, MAIN_TABLE, destination=MNP2),
    AddRule(1002, 252, source=MNP2),
)


def bu_sent(
    sequence: int,
    lifetime: int = 900,
    care_of: IPv6Address = COA,
    flags: BUFlag = AH,
    extra: tuple[object, ...] = (),
) -> SendMessage:
    options = (AlternateCareOfAddress(care_of), *extra)
    return SendMessage(
        BindingUpdate(sequence, lifetime, flags, options),  # type: ignore[arg-type]
        care_of,
        HA,
        home_address_option=HOA,
    )


def sent_log(sequence: int, timeout: float, src: IPv6Address = COA, lifetime: int = 3600) -> Effect:
    return log(
        "binding-update-sent",
        home_address=HOA,
        home_agent=HA,
        src=src,
        sequence=sequence,
        lifetime=lifetime,
        timeout=timeout,
    )


def run(entry: BulEntry, *events: tuple[BulEvent, float]) -> tuple[BulEntry, tuple[Effect, ...]]:
    effects: tuple[Effect, ...] = ()
    for event, now in events:
        entry, effects = step(entry, event, now, S)
    return entry, effects


def registered(reg: HomeRegistration = REG, now: float = 0.0) -> BulEntry:
    entry, _ = run(
        BulEntry(reg),
        (CareOfChanged(COA), now),
        (
            AckReceived(
                BindingAck(BAStatus.ACCEPTED, 1, 900, BAFlag.R if reg.mobile_router else BAFlag(0))
            ),
            now + 0.2,
        ),
    )
    assert entry.state is BulState.REGISTERED
    return entry


def sends(effects: tuple[Effect, ...]) -> list[SendMessage]:
    return [e for e in effects if isinstance(e, SendMessage)]


# -- first registration --------------------------------------------------------------------


def test_first_registration() -> None:
    entry, effects = step(BulEntry(REG), CareOfChanged(COA), 100.0, S)
    assert effects == (*AWAY, bu_sent(1), sent_log(1, 1.5), StartTimer(KEY, 101.5))
    assert entry.state is BulState.REGISTERING
    assert (entry.sequence, entry.first_sequence, entry.care_of, entry.timer_at) == (
        1,
        1,
        COA,
        101.5,
    )
    assert entry.installed == AWAY


def test_first_registration_retransmission_timeline() -> None:
    """RFC 6275 section 11.8: InitialBindackTimeoutFirstReg (1.5 s), doubled on each
    retransmission up to MAX_BINDACK_TIMEOUT (32 s), and on at that pace."""
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 0.0, S)
    times, sequences = [0.0], [1]
    for _ in range(9):
        assert entry.timer_at is not None
        now = entry.timer_at
        assert step(entry, TimerFired(), now - 0.01, S) == (entry, ())  # early: nothing
        entry, effects = step(entry, TimerFired(), now, S)
        (message,) = sends(effects)
        assert isinstance(message.msg, BindingUpdate)
        times.append(now)
        sequences.append(message.msg.sequence)
    intervals = [b - a for a, b in pairwise(times)]
    assert intervals == [1.5, 3.0, 6.0, 12.0, 24.0, 32.0, 32.0, 32.0, 32.0]
    assert times == [0.0, 1.5, 4.5, 10.5, 22.5, 46.5, 78.5, 110.5, 142.5, 174.5]
    assert sequences == list(range(1, 11))  # every Binding Update takes a new number
    assert entry.state is BulState.REGISTERING


def test_reregistration_timeline() -> None:
    """A refresh starts at InitialBindackTimeoutReReg (1 s)."""
    entry = registered()
    assert entry.refresh_at == 2880.0  # 0.8 of 3600 s, counted from the BU sent at 0
    entry, effects = step(entry, TimerFired(), 2880.0, S)
    assert effects == (bu_sent(2), sent_log(2, 1.0), StartTimer(KEY, 2881.0))
    assert entry.state is BulState.REFRESHING
    times = [2880.0]
    for _ in range(7):
        assert entry.timer_at is not None
        times.append(entry.timer_at)
        entry, _ = step(entry, TimerFired(), entry.timer_at, S)
    assert [b - a for a, b in pairwise(times)] == [1, 2, 4, 8, 16, 32, 32]
    assert entry.sequence == 9


def test_refreshing_until_the_binding_lapses_then_first_registration() -> None:
    entry = registered()
    entry, _ = step(entry, TimerFired(), 2880.0, S)
    while entry.state is BulState.REFRESHING:
        assert entry.timer_at is not None and entry.timer_at <= 3600.0
        entry, effects = step(entry, TimerFired(), entry.timer_at, S)
    assert entry.state is BulState.REGISTERING
    assert entry.timeout == 1.5
    # The tunnel goes; the home address's traffic is refused again until the next one.
    assert effects[:5] == (
        inverse(DIRECT),
        RemoveAddress(IPv6Interface("2001:db8:1::10/128"), "mip6mn0", True, True),
        RemoveRoute(IPv6Network("::/0"), "mip6mn0", 252),
        RemoveTunnel("mip6mn0", COA, HA),
        log("binding-expired", home_address=HOA, home_agent=HA),
    )
    assert entry.installed == AWAY


# -- acknowledgements --------------------------------------------------------------------------


def test_accepted_installs_the_binding() -> None:
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 100.0, S)
    entry, effects = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 1, 500)), 100.3, S)
    assert effects == (
        TUNNEL,
        DEFAULT_ROUTE,
        HOA_ON_TUNNEL,
        DIRECT,
        log(
            "binding-registered",
            home_address=HOA,
            home_agent=HA,
            care_of=COA,
            sequence=1,
            lifetime=2000,
            refresh_at=1700.0,
        ),
        StartTimer(KEY, 1700.0),
    )
    assert entry.state is BulState.REGISTERED
    assert (entry.registered_coa, entry.lifetime, entry.expires_at) == (COA, 2000, 2100.0)
    assert entry.installed == BOUND


def test_acknowledgement_of_an_earlier_retransmission() -> None:
    """A home agent busy with DAD answers the first Binding Update of the exchange; the
    lifetime then counts from the start of the exchange, to be safe."""
    entry, _ = run(BulEntry(REG), (CareOfChanged(COA), 0.0), (TimerFired(), 1.5))
    assert entry.sequence == 2
    entry, _ = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 1, 900)), 1.6, S)
    assert entry.state is BulState.REGISTERED
    assert (entry.expires_at, entry.refresh_at) == (3600.0, 2880.0)


def test_acknowledgement_of_a_number_never_sent_is_ignored() -> None:
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 0.0, S)
    same, effects = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 2, 900)), 0.1, S)
    assert same == entry
    assert effects == (
        log(
            "binding-ack-ignored",
            home_address=HOA,
            home_agent=HA,
            sequence=2,
            reason="sequence number not sent",
        ),
    )


def test_acknowledgement_when_none_is_awaited_is_ignored() -> None:
    entry = registered()
    same, effects = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 1, 900)), 5.0, S)
    assert same == entry
    assert effects == (
        log(
            "binding-ack-ignored",
            home_address=HOA,
            home_agent=HA,
            state=BulState.REGISTERED,
            status=0,
        ),
    )


@pytest.mark.parametrize(("interval", "refresh_at"), [(100, 400.0), (900, 2880.0), (0, 2880.0)])
def test_binding_refresh_advice(interval: int, refresh_at: float) -> None:
    """RFC 6275 section 11.7.3: the home agent's Refresh Interval, when shorter than the
    lifetime, says when to refresh."""
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 0.0, S)
    ack = BindingAck(BAStatus.ACCEPTED, 1, 900, options=(BindingRefreshAdvice(interval),))
    entry, _ = step(entry, AckReceived(ack), 0.2, S)
    assert (entry.refresh_at, entry.timer_at) == (refresh_at, refresh_at)


def test_sequence_number_resync() -> None:
    """Status 135 carries the home agent's last accepted number: continue after it."""
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 0.0, S)
    entry, effects = step(
        entry, AckReceived(BindingAck(BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, 500, 0)), 0.1, S
    )
    assert effects == (
        log("sequence-number-resync", home_address=HOA, home_agent=HA, sequence=500),
        bu_sent(501),
        sent_log(501, 1.0),
        StartTimer(KEY, 1.1),
    )
    assert entry.state is BulState.REGISTERING
    entry, _ = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 501, 900)), 0.2, S)
    assert entry.state is BulState.REGISTERED


def test_sequence_numbers_wrap() -> None:
    entry, effects = step(BulEntry(REG, sequence=65535), CareOfChanged(COA), 0.0, S)
    assert sends(effects) == [bu_sent(0)]
    entry, effects = step(entry, TimerFired(), 1.5, S)
    assert sends(effects) == [bu_sent(1)]
    entry, _ = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 0, 900)), 1.6, S)
    assert entry.state is BulState.REGISTERED


@pytest.mark.parametrize(
    "status",
    [
        BAStatus.ADMINISTRATIVELY_PROHIBITED,
        BAStatus.NOT_HOME_SUBNET,
        BAStatus.NOT_HOME_AGENT_FOR_THIS_MN,
        BAStatus.DAD_FAILED,
        200,
    ],
)
def test_refusal(status: int) -> None:
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 0.0, S)
    entry, effects = step(entry, AckReceived(BindingAck(status, 1, 0)), 0.1, S)
    assert entry.state is BulState.FAILED
    assert effects == (
        *teardown(AWAY),
        log("registration-refused", home_address=HOA, home_agent=HA, status=status, lifetime=0),
        CancelTimer(KEY),
    )
    # A new care-of address tries again.
    entry, effects = step(entry, CareOfChanged(COA2), 50.0, S)
    assert entry.state is BulState.REGISTERING
    assert sends(effects) == [bu_sent(2, care_of=COA2)]


def test_accepted_with_zero_lifetime_is_a_refusal() -> None:
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 0.0, S)
    entry, _ = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 1, 0)), 0.1, S)
    assert entry.state is BulState.FAILED


# -- movement ------------------------------------------------------------------------------


def test_handover() -> None:
    entry = registered()
    entry, effects = step(entry, CareOfChanged(COA2), 100.0, S)
    assert effects == (
        RemoveXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA),
        AddXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA2),
        bu_sent(2, care_of=COA2),
        sent_log(2, 1.0, COA2),
        StartTimer(KEY, 101.0),
    )
    assert entry.state is BulState.REFRESHING
    entry, effects = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 2, 900)), 100.1, S)
    assert effects == (
        ChangeTunnel("mip6mn0", COA2, HA, COA, HA),
        log(
            "binding-refreshed",
            home_address=HOA,
            home_agent=HA,
            care_of=COA2,
            sequence=2,
            lifetime=3600,
            refresh_at=2980.0,
        ),
        StartTimer(KEY, 2980.0),
    )
    assert entry.registered_coa == COA2


def test_same_care_of_address_again_changes_nothing() -> None:
    entry = registered()
    assert step(entry, CareOfChanged(COA), 10.0, S) == (entry, ())
    entry, effects = step(entry, CareOfChanged(COA, valid_until=500.0), 10.0, S)
    assert effects == () and entry.coa_valid_until == 500.0


def test_care_of_address_lifetime_caps_the_requested_lifetime() -> None:
    _, effects = step(BulEntry(REG), CareOfChanged(COA, valid_until=1000.0), 0.0, S)
    assert sends(effects) == [bu_sent(1, lifetime=250)]
    _, effects = step(BulEntry(REG), CareOfChanged(COA, valid_until=2.0), 0.0, S)
    assert sends(effects) == [bu_sent(1, lifetime=1)]


def test_losing_the_care_of_address_keeps_the_binding_until_it_lapses() -> None:
    entry = registered()
    entry, effects = step(entry, CareOfChanged(None), 100.0, S)
    assert effects == (StartTimer(KEY, 3600.0),)  # no refresh without an address
    assert entry.state is BulState.REGISTERED
    entry, effects = step(entry, TimerFired(), 3600.0, S)
    assert entry.state is BulState.IDLE
    assert effects == (
        inverse(DIRECT),
        RemoveAddress(IPv6Interface("2001:db8:1::10/128"), "mip6mn0", True, True),
        RemoveRoute(IPv6Network("::/0"), "mip6mn0", 252),
        RemoveRule(1001, 252, source=IPv6Network("2001:db8:1::10/128")),
        RemoveRule(999, MAIN_TABLE, source=IPv6Network("2001:db8:1::10/128"), protocol=135),
        RemoveUnreachableRoute(IPv6Network("::/0"), 252, 4096),
        RemoveXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA),
        RemoveTunnel("mip6mn0", COA, HA),
        log("binding-expired", home_address=HOA, home_agent=HA),
        CancelTimer(KEY),
    )


def test_losing_the_care_of_address_during_a_refresh() -> None:
    entry, _ = run(registered(), (CareOfChanged(COA2), 100.0), (CareOfChanged(None), 100.5))
    assert entry.state is BulState.REGISTERED
    assert entry.timer_at == 3600.0
    assert entry.installed[1] == AddXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA)


def test_losing_the_care_of_address_during_a_first_registration() -> None:
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 0.0, S)
    entry, effects = step(entry, CareOfChanged(None), 0.5, S)
    assert entry.state is BulState.IDLE
    assert effects == (*teardown(AWAY), CancelTimer(KEY))


def test_returning_home() -> None:
    """RFC 6275 section 11.5.5: lifetime 0, care-of address = home address, from the
    home address without Home Address option; the home address on the home link."""
    entry = registered()
    entry, effects = step(entry, ReturnedHome("eth0"), 500.0, S)
    dereg = SendMessage(BindingUpdate(2, 0, AH, (AlternateCareOfAddress(HOA),)), HOA, HA)
    assert effects == (
        *teardown(BOUND),
        AddAddress(HOME, "eth0", home_address=True, nodad=True),
        dereg,
        sent_log(2, 1.0, HOA, 0),
        StartTimer(KEY, 501.0),
    )
    assert entry.state is BulState.DEREGISTERING
    done, effects = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 2, 0)), 500.1, S)
    assert done.state is BulState.HOME
    assert effects == (
        log("binding-deregistered", home_address=HOA, home_agent=HA, status=0),
        CancelTimer(KEY),
    )
    assert done.installed == (AddAddress(HOME, "eth0", home_address=True, nodad=True),)
    # 133: the home agent had no binding any more (the first acknowledgement was lost).
    done, _ = step(
        entry, AckReceived(BindingAck(BAStatus.NOT_HOME_AGENT_FOR_THIS_MN, 2, 0)), 500.1, S
    )
    assert done.state is BulState.HOME


def test_deregistration_retransmits_until_the_binding_would_lapse() -> None:
    entry, _ = step(registered(), ReturnedHome("eth0"), 3500.0, S)
    times = []
    while entry.state is BulState.DEREGISTERING:
        assert entry.timer_at is not None
        times.append(entry.timer_at)
        entry, _ = step(entry, TimerFired(), entry.timer_at, S)
    assert times == [3501.0, 3503.0, 3507.0, 3515.0, 3531.0, 3563.0, 3595.0, 3600.0]
    assert entry.state is BulState.HOME


def test_home_during_first_registration_deregisters_to_be_safe() -> None:
    entry, _ = step(BulEntry(REG), CareOfChanged(COA), 0.0, S)
    entry, effects = step(entry, ReturnedHome("eth0"), 1.0, S)
    assert entry.state is BulState.DEREGISTERING
    assert entry.expires_at == 3600.0  # the latest the binding asked for at 0 would last
    assert sends(effects) == [
        SendMessage(BindingUpdate(2, 0, AH, (AlternateCareOfAddress(HOA),)), HOA, HA)
    ]


def test_home_after_a_registration_whose_answer_was_lost() -> None:
    """The home agent may have accepted a Binding Update whose acknowledgement never
    came: coming home within its lifetime still deregisters, and 133 closes the case."""
    entry, _ = run(BulEntry(REG), (CareOfChanged(COA), 0.0), (CareOfChanged(None), 1.0))
    assert entry.state is BulState.IDLE and entry.bound_until == 3600.0
    entry, effects = step(entry, ReturnedHome("eth0"), 10.0, S)
    assert entry.state is BulState.DEREGISTERING
    assert sends(effects) == [
        SendMessage(BindingUpdate(2, 0, AH, (AlternateCareOfAddress(HOA),)), HOA, HA)
    ]
    entry, _ = step(
        entry, AckReceived(BindingAck(BAStatus.NOT_HOME_AGENT_FOR_THIS_MN, 2, 0)), 10.1, S
    )
    assert (entry.state, entry.bound_until) == (BulState.HOME, None)
    # Later than that, nothing to deregister.
    entry, _ = run(BulEntry(REG), (CareOfChanged(COA), 0.0), (CareOfChanged(None), 1.0))
    entry, effects = step(entry, ReturnedHome("eth0"), 3600.0, S)
    assert entry.state is BulState.HOME and sends(effects) == []


def test_leaving_home_again_before_the_deregistration_completes() -> None:
    entry, effects = run(registered(), (ReturnedHome("eth0"), 500.0), (LeftHome(), 500.5))
    assert entry.state is BulState.REFRESHING
    # The home agent may still hold the binding: it is put back while the update runs.
    assert entry.installed == BOUND
    assert sends(effects) == [bu_sent(3)]


def test_starting_at_home_sends_nothing_then_leaving_registers() -> None:
    entry, effects = step(BulEntry(REG), ReturnedHome("eth0"), 0.0, S)
    assert entry.state is BulState.HOME
    assert effects == (AddAddress(HOME, "eth0", home_address=True, nodad=True),)
    entry, effects = step(entry, CareOfChanged(COA), 1.0, S)  # a second interface, abroad
    assert entry.state is BulState.HOME and effects == ()
    entry, effects = step(entry, LeftHome(), 2.0, S)
    assert entry.state is BulState.REGISTERING
    assert effects[:6] == (
        RemoveAddress(HOME, "eth0", home_address=True, nodad=True),
        *AWAY,
        bu_sent(1),
    )


def test_shutdown_away_deregisters_once_and_cleans_up() -> None:
    entry, effects = step(registered(), Shutdown(), 100.0, S)
    assert entry.state is BulState.IDLE and entry.installed == ()
    # The Binding Update first, while what carries it is there (a protected one's hao
    # state and the rule for the home address's signalling), then the state goes.
    assert effects == (
        bu_sent(2, lifetime=0),
        log("stopped", home_address=HOA, home_agent=HA),
        *teardown(BOUND),
        CancelTimer(KEY),
    )


def test_shutdown_at_home_keeps_the_home_address() -> None:
    entry, _ = step(BulEntry(REG), ReturnedHome("eth0"), 0.0, S)
    assert step(entry, Shutdown(), 1.0, S) == (entry, ())


# -- mobile router -------------------------------------------------------------------------


def test_mobile_router_explicit_mode() -> None:
    entry, effects = step(BulEntry(MR_REG), CareOfChanged(COA), 0.0, S)
    assert sends(effects) == [
        bu_sent(
            1,
            flags=AH | BUFlag.R,
            extra=(MobileNetworkPrefix(MNP), MobileNetworkPrefix(MNP2)),
        )
    ]
    entry, effects = step(
        entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 1, 900, BAFlag.R)), 0.1, S
    )
    # The prefixes' rules came with the first Binding Update: until the tunnel's route
    # is there, what the hosts behind the router send is refused, not sent in clear.
    assert entry.installed == (TUNNEL, *AWAY, *MNP_RULES, DEFAULT_ROUTE, HOA_ON_TUNNEL, DIRECT)
    assert effects[:4] == (TUNNEL, DEFAULT_ROUTE, HOA_ON_TUNNEL, DIRECT)
    # The deregistration lists no prefix but keeps the R flag.
    entry, effects = step(entry, ReturnedHome("eth0"), 10.0, S)
    assert sends(effects) == [
        SendMessage(BindingUpdate(2, 0, AH | BUFlag.R, (AlternateCareOfAddress(HOA),)), HOA, HA)
    ]


def test_mobile_router_implicit_mode() -> None:
    reg = replace(MR_REG, explicit_mode=False, key_management=True, alternate_care_of=False)
    _, effects = step(BulEntry(reg), CareOfChanged(COA), 0.0, S)
    assert sends(effects) == [
        SendMessage(
            BindingUpdate(1, 900, AH | BUFlag.R | BUFlag.K), COA, HA, home_address_option=HOA
        )
    ]


def test_mobile_router_refused_when_the_home_agent_ignores_the_r_flag() -> None:
    """RFC 3963: an acknowledgement without R means the home agent does not support
    mobile routers; the router deregisters and gives up."""
    entry, _ = step(BulEntry(MR_REG), CareOfChanged(COA), 0.0, S)
    entry, effects = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 1, 900)), 0.1, S)
    assert entry.state is BulState.FAILED
    assert effects == (
        bu_sent(2, lifetime=0, flags=AH | BUFlag.R),
        log(
            "registration-refused",
            home_address=HOA,
            home_agent=HA,
            reason="R flag missing in acknowledgement",
        ),
        *teardown((*AWAY, *MNP_RULES)),
        CancelTimer(KEY),
    )


def test_a_deregistration_that_ends_the_binding_away_leaves_before_its_state() -> None:
    """A transition that removes the binding's state away from home sends its Binding
    Update first: a protected one goes from the home address, and the kernel adds its
    Home Address option from the hao state, which is among what goes."""
    protected, mobile_router = replace(REG, protected=True), replace(MR_REG, protected=True)
    hao = AddXfrmState(XfrmRoProto.HAO, HOA, HA, COA)
    away = (ROUTE2, hao, REFUSE, HOA_MH_RULE, HOA_RULE)

    def deregistration(flags: BUFlag) -> SendMessage:
        return SendMessage(BindingUpdate(2, 0, flags, (AlternateCareOfAddress(COA),)), HOA, HA)

    # A stopping node.
    _, effects = step(registered(protected), Shutdown(), 100.0, S)
    assert effects == (
        deregistration(AH),
        log("stopped", home_address=HOA, home_agent=HA),
        *teardown((TUNNEL, *away, DEFAULT_ROUTE, HOA_ON_TUNNEL, DIRECT)),
        CancelTimer(KEY),
    )
    # A mobile router whose home agent answers without the R flag.
    entry, _ = step(BulEntry(mobile_router), CareOfChanged(COA), 0.0, S)
    entry, effects = step(entry, AckReceived(BindingAck(BAStatus.ACCEPTED, 1, 900)), 0.1, S)
    assert effects == (
        deregistration(AH | BUFlag.R),
        log(
            "registration-refused",
            home_address=HOA,
            home_agent=HA,
            reason="R flag missing in acknowledgement",
        ),
        *teardown((*away, *MNP_RULES)),
        CancelTimer(KEY),
    )


def test_registration_validation() -> None:
    with pytest.raises(ValueError, match=r"lifetime 3: expected 4\.\.262140 seconds"):
        HomeRegistration(HOME, HA, lifetime=3)
    with pytest.raises(ValueError, match="mobile network prefixes without mobile router"):
        HomeRegistration(HOME, HA, mobile_network_prefixes=(MNP,))
    with pytest.raises(ValueError, match=r"tunnel name 'mip6-tunnel-to-home': expected 1\.\.15"):
        HomeRegistration(HOME, HA, tunnel="mip6-tunnel-to-home")
    with pytest.raises(ValueError, match="refresh_after must be in"):
        MnSettings(refresh_after=1.0)


# -- the table -------------------------------------------------------------------------------


def test_triggers() -> None:
    assert trigger_of(CareOfChanged(None)) is Trigger.COA_LOST
    assert trigger_of(CareOfChanged(COA)) is Trigger.COA
    assert trigger_of(AckReceived(BindingAck(1, 1, 1))) is Trigger.ACCEPTED
    assert trigger_of(AckReceived(BindingAck(135, 1, 0))) is Trigger.RESYNC
    assert trigger_of(AckReceived(BindingAck(133, 1, 0))) is Trigger.NOT_HOME_AGENT
    assert trigger_of(AckReceived(BindingAck(129, 1, 0))) is Trigger.REJECTED
    assert {state for state, _ in TRANSITIONS} == set(BulState)


_events = st.one_of(
    st.builds(CareOfChanged, st.sampled_from([None, COA, COA2])),
    st.builds(ReturnedHome, st.sampled_from(["eth0", "eth1"])),
    st.just(LeftHome()),
    st.just(TimerFired()),
    st.just(Shutdown()),
    st.builds(
        lambda status, back, lifetime, flags: AckReceived(
            BindingAck(status, back, lifetime, flags)
        ),
        st.sampled_from([0, 0, 0, 129, 133, 135]),
        st.integers(0, 3),
        st.sampled_from([0, 10, 900]),
        st.sampled_from([BAFlag(0), BAFlag.R]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.booleans(), st.lists(st.tuples(_events, st.floats(0, 400)), max_size=40))
def test_any_event_sequence_keeps_kernel_timer_and_numbers_consistent(
    mobile_router: bool, events: list[tuple[BulEvent, float]]
) -> None:
    """Whatever happens: the emitted kernel effects, applied in order, give exactly
    the entry's install list; the armed timer is the entry's; every Binding Update
    sent takes the next sequence number."""
    entry = BulEntry(MR_REG if mobile_router else REG, sequence=65530)
    kernel: set[Effect] = set()
    armed: float | None = None
    now = 0.0
    for generated, elapsed in events:
        now += elapsed
        event = generated
        if isinstance(event, TimerFired):
            now = max(now, entry.timer_at or now)
        if isinstance(event, AckReceived):
            ack = event.ack  # its number counts back from the last one sent
            event = AckReceived(replace(ack, sequence=(entry.sequence - ack.sequence) % 65536))
        start = entry.sequence
        awaiting = entry.state in (
            BulState.REGISTERING,
            BulState.REFRESHING,
            BulState.DEREGISTERING,
        )
        if awaiting and isinstance(event, AckReceived) and trigger_of(event) is Trigger.RESYNC:
            start = event.ack.sequence  # continue after the home agent's number
        entry, effects = step(entry, event, now, S)
        numbers = [e.msg.sequence for e in sends(effects) if isinstance(e.msg, BindingUpdate)]
        assert numbers == [(start + i + 1) % 65536 for i in range(len(numbers))]
        for effect in effects:
            if isinstance(effect, ChangeTunnel):
                kernel.remove(AddTunnel(effect.name, effect.old_local, effect.old_remote))
                kernel.add(AddTunnel(effect.name, effect.local, effect.remote))
            elif type(effect).__name__.startswith("Remove"):
                kernel.remove(inverse(effect))
            elif type(effect).__name__.startswith("Add"):
                assert effect not in kernel
                kernel.add(effect)
            elif isinstance(effect, StartTimer):
                armed = effect.at
            elif isinstance(effect, CancelTimer):
                armed = None
        assert kernel == set(entry.installed)
        assert armed == entry.timer_at
        if entry.state in (BulState.IDLE, BulState.FAILED):
            assert entry.installed == () and armed is None
