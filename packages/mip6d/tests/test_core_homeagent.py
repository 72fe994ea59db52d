"""Home agent processing of home registrations: the exact acknowledgement and effect
list for each case (RFC 6275 sections 9.5, 10.3, 10.4; RFC 3963 section 6)."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mip6d.core import seqno
from mip6d.core.bcache import BindingCache, NemoMode
from mip6d.core.effects import (
    AddProxyNeighbour,
    AddRoute,
    AddRule,
    AddTunnel,
    AddXfrmState,
    CancelTimer,
    ChangeTunnel,
    CheckDuplicateAddress,
    Effect,
    Log,
    RemoveProxyNeighbour,
    RemoveRoute,
    RemoveTunnel,
    RemoveXfrmState,
    SendMessage,
    StartTimer,
    XfrmRoProto,
    inverse,
    log,
    teardown,
)
from mip6d.core.homeagent import (
    EXPIRY_TIMER,
    HaOutcome,
    HomeAgent,
    Unanswered,
    binding_addresses,
    link_local_of,
)
from mip6d.core.ipsec import direct_policy
from mip6d.core.policy import (
    BindingAclPolicy,
    HomeAgentPolicy,
    HomeLink,
    PolicyError,
    policy_keywords,
)
from mip6d.wire.mh import (
    AlternateCareOfAddress,
    BAFlag,
    BAStatus,
    BindingAck,
    BindingIdentifier,
    BindingReference,
    BindingUpdate,
    BUFlag,
    FlowIdentification,
    FlowSummary,
    MobileNetworkPrefix,
    TrafficSelector6,
)

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
PREFIX = IPv6Network("2001:db8:1::/64")
HOA = IPv6Address("2001:db8:1::10")
HOA2 = IPv6Address("2001:db8:1::11")
MR = IPv6Address("2001:db8:1::20")
MR2 = IPv6Address("2001:db8:1::21")
COA = IPv6Address("2001:db8:2::10")
COA2 = IPv6Address("2001:db8:3::10")
MNP = IPv6Network("2001:db8:100::/48")
MNP2 = IPv6Network("2001:db8:200::/48")
HOST = IPv6Network("2001:db8:1::10/128")
AH = BUFlag.A | BUFlag.H
T0 = 1000.0
UNSPECIFIED = IPv6Address("::")


def policy(**changes: object) -> HomeAgentPolicy:
    base = HomeAgentPolicy(
        home_links=(HomeLink("eth0", PREFIX, HA),),
        acl=(
            BindingAclPolicy(MR, mobile_network_prefixes=(MNP,)),
            BindingAclPolicy(MR2, mobile_network_prefixes=(MNP2, MNP)),
        ),
        accept_mobile_routers=True,
        duplicate_address_detection=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def update(
    ha: HomeAgent,
    sequence: int,
    lifetime: int = 100,
    flags: BUFlag = AH,
    options: tuple[object, ...] = (),
    home: IPv6Address = HOA,
    care_of: IPv6Address = COA,
    now: float = T0,
    protected: bool = True,
) -> HaOutcome:
    bu = BindingUpdate(sequence, lifetime, flags, options)  # type: ignore[arg-type]
    return ha.handle_binding_update(bu, care_of, HA, home, care_of, now, protected)


def direct(home: IPv6Address = HOA, care_of: IPv6Address = COA) -> tuple[Effect, ...]:
    """A binding's acceptance of what its node sends with a Home Address option."""
    return (AddXfrmState(XfrmRoProto.HAO, home, HA, care_of),
            direct_policy(home, HA, XfrmRoProto.HAO))


def ack_to(ack: BindingAck, care_of: IPv6Address = COA, home: IPv6Address = HOA) -> SendMessage:
    return SendMessage(ack, HA, care_of, routing_header=None if care_of == home else home)


def refused(status: BAStatus, sequence: int, **fields: object) -> Log:
    return log(
        "binding-update-refused",
        home_address=fields.get("home", HOA),
        care_of=fields.get("care_of", COA),
        sequence=sequence,
        status=status,
    )


class KernelModel:
    """What the kernel holds after the effects, checked strictly: no object added
    twice or removed when absent, routes only through existing tunnels, tunnels removed
    only when no route uses them."""

    def __init__(self) -> None:
        self.objects: set[Effect] = set()

    def tunnels(self) -> set[str]:
        return {o.name for o in self.objects if isinstance(o, AddTunnel)}

    def apply(self, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            if isinstance(effect, ChangeTunnel):
                old = AddTunnel(effect.name, effect.old_local, effect.old_remote)
                assert old in self.objects, effect
                self.objects.remove(old)
                self.objects.add(AddTunnel(effect.name, effect.local, effect.remote))
            elif isinstance(effect, RemoveTunnel):
                assert not any(
                    isinstance(o, AddRoute) and o.via_tunnel == effect.name for o in self.objects
                ), effect
                self.objects.remove(inverse(effect))
            elif type(effect).__name__.startswith("Remove"):
                self.objects.remove(inverse(effect))
            elif type(effect).__name__.startswith("Add"):
                assert effect not in self.objects, effect
                if isinstance(effect, AddRoute):
                    assert effect.via_tunnel in self.tunnels(), effect
                self.objects.add(effect)


# -- registration ----------------------------------------------------------------------


def test_first_registration() -> None:
    ha = HomeAgent(policy())
    ack, effects, verdict, handover = update(ha, 1)
    assert (verdict, handover) == (BAStatus.ACCEPTED, False)
    assert ack == BindingAck(BAStatus.ACCEPTED, 1, 100)
    assert effects == (
        AddTunnel("mip6t0", HA, COA),
        AddRoute(HOST, "mip6t0"),
        AddProxyNeighbour(HOA, "eth0"),
        Log(
            "binding-added",
            (
                ("home_address", "2001:db8:1::10"),
                ("care_of", "2001:db8:2::10"),
                ("sequence", 1),
                ("lifetime", 400),
                ("mode", "none"),
                ("prefixes", ""),
            ),
        ),
        StartTimer(EXPIRY_TIMER, 1400.0),
        SendMessage(ack, HA, COA, routing_header=HOA),
        *direct(),  # after the acknowledgement: forwarding does not need it
    )
    binding = ha.cache.get(HOA)
    assert binding is not None
    assert (binding.sequence, binding.care_of, binding.lifetime, binding.expires_at) == (
        1,
        COA,
        400,
        1400.0,
    )
    assert (binding.registered_at, binding.updates, binding.handovers) == (T0, 1, 0)
    assert binding.last_handover is None


def test_refresh_from_the_same_care_of_address() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    ack, effects, verdict, handover = update(ha, 2, lifetime=50, now=1100.0)
    assert (verdict, handover) == (BAStatus.ACCEPTED, False)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 50)
    assert effects == (
        log(
            "binding-refreshed",
            home_address=HOA,
            care_of=COA,
            sequence=2,
            lifetime=200,
            mode=NemoMode.NONE,
            prefixes=(),
        ),
        StartTimer(EXPIRY_TIMER, 1300.0),
        ack_to(ack),
    )
    binding = ha.cache.get(HOA)
    assert binding is not None and (binding.updates, binding.registered_at) == (2, T0)
    assert binding.last_handover is None  # a refresh is no handover


def test_handover_moves_the_tunnel_in_place() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    ack, effects, verdict, handover = update(ha, 2, care_of=COA2, now=1010.0)
    assert (verdict, handover) == (BAStatus.ACCEPTED, True)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 100)
    assert effects == (
        *teardown(direct()[:1]),
        ChangeTunnel("mip6t0", HA, COA2, HA, COA),
        log(
            "binding-moved",
            home_address=HOA,
            care_of=COA2,
            sequence=2,
            lifetime=400,
            mode=NemoMode.NONE,
            prefixes=(),
        ),
        StartTimer(EXPIRY_TIMER, 1410.0),
        ack_to(ack, COA2),
        direct(care_of=COA2)[0],
    )
    binding = ha.cache.get(HOA)
    assert binding is not None and binding.handovers == 1
    assert (binding.registered_at, binding.last_handover) == (T0, 1010.0)
    assert ha.cache.tunnel_for(HA, COA2) == "mip6t0"
    # A refresh from the new care-of address keeps the time of the move.
    update(ha, 3, care_of=COA2, now=1020.0)
    refreshed = ha.cache.get(HOA)
    assert refreshed is not None and (refreshed.refreshed_at, refreshed.last_handover) == (
        1020.0, 1010.0)


def test_nodes_behind_one_care_of_address_share_a_tunnel() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    effects = update(ha, 1, home=HOA2, now=1001.0).effects
    assert effects[:2] == (
        AddRoute(IPv6Network("2001:db8:1::11/128"), "mip6t0"),
        AddProxyNeighbour(HOA2, "eth0"),
    )
    # The first node moves away: the shared tunnel stays, a new one is made.
    effects = update(ha, 2, care_of=COA2, now=1002.0).effects
    assert effects[:4] == (
        *teardown(direct()[:1]),
        RemoveRoute(HOST, "mip6t0"),
        AddTunnel("mip6t1", HA, COA2),
        AddRoute(HOST, "mip6t1"),
    )
    # The second one deregisters: now nobody uses mip6t0.
    effects = update(ha, 2, lifetime=0, home=HOA2, now=1003.0).effects
    assert effects[:5] == (
        *teardown(direct(HOA2)),
        RemoveProxyNeighbour(HOA2, "eth0"),
        RemoveRoute(IPv6Network("2001:db8:1::11/128"), "mip6t0"),
        RemoveTunnel("mip6t0", HA, COA),
    )


def test_acknowledgement_only_when_asked() -> None:
    ha = HomeAgent(policy())
    ack, effects, *_ = update(ha, 1, flags=BUFlag.H)
    assert ack is None
    assert not any(isinstance(e, SendMessage) for e in effects)
    assert HOA in ha.cache


def test_link_local_compatibility_proxies_the_link_local_address() -> None:
    ha = HomeAgent(policy())
    effects = update(ha, 1, flags=AH | BUFlag.L).effects
    assert link_local_of(HOA) == IPv6Address("fe80::10")
    assert effects[:4] == (
        AddTunnel("mip6t0", HA, COA),
        AddRoute(HOST, "mip6t0"),
        AddProxyNeighbour(HOA, "eth0"),
        AddProxyNeighbour(IPv6Address("fe80::10"), "eth0"),
    )


@pytest.mark.parametrize(
    ("bu_flags", "key_management", "ba_flags"),
    [
        (AH, False, BAFlag(0)),
        (AH | BUFlag.K, False, BAFlag(0)),
        (AH, True, BAFlag(0)),
        (AH | BUFlag.K, True, BAFlag.K),
    ],
)
def test_k_flag_only_when_configured(
    bu_flags: BUFlag, key_management: bool, ba_flags: BAFlag
) -> None:
    ha = HomeAgent(policy(key_management_mobility=key_management))
    ack = update(ha, 1, flags=bu_flags).ack
    assert ack == BindingAck(BAStatus.ACCEPTED, 1, 100, ba_flags)


@pytest.mark.parametrize(
    ("requested", "max_life", "valid_for", "granted"),
    [
        (100, 262140, None, 100),  # as asked
        (0xFFFF, 3600, None, 900),  # HaMaxBindingLife
        (0xFFFF, 262140, 1000.0, 250),  # the home prefix's remaining valid lifetime
        (100, 262140, 1003.9, 100),
        (100, 262140, 399.0, 99),  # rounded down to whole units
        (0xFFFF, 3599, None, 899),  # HaMaxBindingLife rounded down to whole units
    ],
)
def test_granted_lifetime(
    requested: int, max_life: int, valid_for: float | None, granted: int
) -> None:
    link = HomeLink("eth0", PREFIX, HA, None if valid_for is None else T0 + valid_for)
    ha = HomeAgent(policy(home_links=(link,), max_binding_life=max_life))
    ack = update(ha, 1, lifetime=requested).ack
    assert ack == BindingAck(BAStatus.ACCEPTED, 1, granted)
    binding = ha.cache.get(HOA)
    assert binding is not None and binding.expires_at == T0 + granted * 4


def test_home_prefix_about_to_expire_is_not_home_subnet() -> None:
    ha = HomeAgent(policy(home_links=(HomeLink("eth0", PREFIX, HA, T0 + 3.5),)))
    ack, effects, *_ = update(ha, 1)
    assert ack == BindingAck(BAStatus.NOT_HOME_SUBNET, 1, 0)
    assert effects == (refused(BAStatus.NOT_HOME_SUBNET, 1), ack_to(ack))


def test_binding_addresses_from_the_options() -> None:
    plain = BindingUpdate(1, 100, AH)
    assert binding_addresses(COA, plain, HOA) == (HOA, COA)
    assert binding_addresses(HOA, plain, None) == (HOA, HOA)  # from home: deregistration
    alternate = BindingUpdate(1, 100, AH, (AlternateCareOfAddress(COA2),))
    assert binding_addresses(COA, alternate, HOA) == (HOA, COA2)


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ({"flags": BUFlag.A}, BAStatus.HOME_REGISTRATION_NOT_SUPPORTED),
        ({"home": IPv6Address("2001:db8:9::10")}, BAStatus.NOT_HOME_SUBNET),
        ({"home": IPv6Address("fe80::10")}, BAStatus.NOT_HOME_SUBNET),
        ({"home": IPv6Address("ff02::1")}, BAStatus.NOT_HOME_SUBNET),
        ({"lifetime": 0}, BAStatus.NOT_HOME_AGENT_FOR_THIS_MN),
    ],
)
def test_refusals(case: dict[str, object], status: BAStatus) -> None:
    ha = HomeAgent(policy())
    ack, effects, *_ = update(ha, 5, **case)  # type: ignore[arg-type]
    assert ack == BindingAck(status, 5, 0)
    home = case.get("home", HOA)
    assert isinstance(home, IPv6Address)
    assert effects == (
        refused(status, 5, home=home),
        SendMessage(ack, HA, COA, routing_header=home),
    )
    assert len(ha.cache) == 0


@pytest.mark.parametrize(
    ("default_allow", "acl", "status"),
    [
        (False, (), BAStatus.ADMINISTRATIVELY_PROHIBITED),
        (True, (BindingAclPolicy(HOA, allow=False),), BAStatus.ADMINISTRATIVELY_PROHIBITED),
        (False, (BindingAclPolicy(HOA),), BAStatus.ACCEPTED),
    ],
)
def test_binding_acl(
    default_allow: bool, acl: tuple[BindingAclPolicy, ...], status: BAStatus
) -> None:
    ha = HomeAgent(policy(default_allow=default_allow, acl=acl))
    ack = update(ha, 1).ack
    assert ack is not None and ack.status == status


def test_unprotected_binding_update_is_dropped_silently() -> None:
    ha = HomeAgent(policy())
    assert update(ha, 1, protected=False) == HaOutcome(
        None,
        (
            log(
                "binding-update-dropped",
                home_address=HOA,
                src=COA,
                sequence=1,
                reason="not protected by IPsec",
            ),
        ),
        Unanswered.DROPPED,
    )
    assert len(ha.cache) == 0
    lax = HomeAgent(policy(require_ipsec=False))
    ack = update(lax, 1, protected=False).ack
    assert ack == BindingAck(BAStatus.ACCEPTED, 1, 100)


@pytest.mark.parametrize(
    ("last", "new", "accepted"),
    [
        (15, 16, True),
        (15, 32782, True),
        (15, 32783, False),
        (15, 15, False),
        (15, 14, False),
        (65535, 0, True),
        (65535, 32766, True),
        (65535, 32767, False),
        (0, 65535, False),
    ],
)
def test_sequence_window(last: int, new: int, accepted: bool) -> None:
    ha = HomeAgent(policy())
    update(ha, last)
    ack, effects, *_ = update(ha, new, now=1010.0)
    if accepted:
        assert ack == BindingAck(BAStatus.ACCEPTED, new, 100)
        assert ha.cache.get(HOA).sequence == new  # type: ignore[union-attr]
    else:
        # The acknowledgement carries the last accepted sequence number.
        assert ack == BindingAck(BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, last, 0)
        assert effects == (
            refused(BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, new),
            ack_to(ack),
        )
        binding = ha.cache.get(HOA)
        assert binding is not None and (binding.sequence, binding.expires_at) == (last, 1400.0)


def test_any_sequence_number_starts_a_binding() -> None:
    ha = HomeAgent(policy())
    update(ha, 40000)
    ack, _, *_ = update(ha, 1, lifetime=0, now=1001.0)  # 1 - 40000 mod 2**16 = 25537: greater
    assert ack == BindingAck(BAStatus.ACCEPTED, 1, 0)


# -- deregistration ---------------------------------------------------------------------


def test_deregistration_from_a_foreign_link() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    ack, effects, *_ = update(ha, 2, lifetime=0, now=1010.0)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 0)
    assert effects == (
        *teardown(direct()),
        RemoveProxyNeighbour(HOA, "eth0"),
        RemoveRoute(HOST, "mip6t0"),
        RemoveTunnel("mip6t0", HA, COA),
        log("binding-removed", home_address=HOA, care_of=COA, sequence=2, reason="deregistration"),
        CancelTimer(EXPIRY_TIMER),
        SendMessage(ack, HA, COA, routing_header=HOA),
    )
    assert len(ha.cache) == 0


def test_deregistration_from_home() -> None:
    """RFC 6275 section 11.5.5: from the home address, care-of address = home address,
    lifetime 0; the acknowledgement goes straight to the home address."""
    ha = HomeAgent(policy())
    update(ha, 1)
    bu = BindingUpdate(2, 0, AH, (AlternateCareOfAddress(HOA),))
    home, care_of = binding_addresses(HOA, bu, None)
    ack, effects, *_ = ha.handle_binding_update(bu, HOA, HA, home, care_of, 1010.0, True)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 0)
    assert effects[-1] == SendMessage(ack, HA, HOA)
    assert effects[:5] == (
        *teardown(direct()),
        RemoveProxyNeighbour(HOA, "eth0"),
        RemoveRoute(HOST, "mip6t0"),
        RemoveTunnel("mip6t0", HA, COA),
    )


def test_care_of_equal_to_home_address_is_a_deregistration() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    ack = ha.handle_binding_update(BindingUpdate(2, 100, AH), HOA, HA, HOA, HOA, 1010.0, True).ack
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 0)
    assert len(ha.cache) == 0


# -- duplicate address detection ------------------------------------------------------------


def test_first_registration_waits_for_duplicate_address_detection() -> None:
    ha = HomeAgent(policy(duplicate_address_detection=True))
    assert update(ha, 1) == HaOutcome(
        None,
        (
            CheckDuplicateAddress((HOA,), "eth0"),
            log("duplicate-address-detection", home_address=HOA, ifname="eth0"),
        ),
    )
    # The mobile node retransmits after 1.5 s: DAD goes on, and its result answers the
    # retransmission (the answer a node that checks the sequence number waits for).
    assert update(ha, 2, now=1001.5) == HaOutcome(
        None, (log("binding-update-pending", home_address=HOA, sequence=2, replaces=1),),
        Unanswered.SUPERSEDED)
    # An older one arriving late, or one that would be refused, changes nothing.
    def ignored(sequence: int) -> HaOutcome:
        return HaOutcome(None, (log("binding-update-ignored", home_address=HOA,
                                    sequence=sequence,
                                    reason="duplicate address detection in progress"),),
                         Unanswered.IGNORED)

    assert update(ha, 1, now=1001.55) == ignored(1)
    assert update(ha, 3, now=1001.55, flags=AH | BUFlag.L) == ignored(3)  # other addresses
    ack, effects, *_ = ha.dad_complete(HOA, True, 1001.6)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 100)
    assert effects[:3] == (
        AddTunnel("mip6t0", HA, COA),
        AddRoute(HOST, "mip6t0"),
        AddProxyNeighbour(HOA, "eth0"),
    )
    assert effects[-4:] == (StartTimer(EXPIRY_TIMER, 1401.6), ack_to(ack), *direct())
    # Refreshes do not run DAD again.
    ack = update(ha, 4, now=1100.0).ack
    assert ack == BindingAck(BAStatus.ACCEPTED, 4, 100)


def test_duplicate_address_detection_failure() -> None:
    ha = HomeAgent(policy(duplicate_address_detection=True))
    ack, effects, *_ = update(ha, 1, flags=AH | BUFlag.L)
    assert effects[0] == CheckDuplicateAddress((HOA, IPv6Address("fe80::10")), "eth0")
    ack, effects, *_ = ha.dad_complete(HOA, False, 1001.0)
    assert ack == BindingAck(BAStatus.DAD_FAILED, 1, 0)
    assert effects == (refused(BAStatus.DAD_FAILED, 1), ack_to(ack))
    assert len(ha.cache) == 0
    assert ha.dad_complete(HOA, True, 1002.0) == HaOutcome(
        None, (log("duplicate-address-detection-ignored", home_address=HOA),)
    )


def test_unanswered_duplicate_address_detection_is_forgotten() -> None:
    ha = HomeAgent(policy(duplicate_address_detection=True))
    update(ha, 1)
    update(ha, 2, now=T0 + 5.0)  # takes the first one's place, not its start
    ack, effects, *_ = update(ha, 9, now=T0 + 10.0)
    assert ack is None and effects[0] == CheckDuplicateAddress((HOA,), "eth0")


# -- mobile routers (RFC 3963) -----------------------------------------------------------


def test_mobile_router_implicit_mode() -> None:
    ha = HomeAgent(policy())
    ack, effects, *_ = update(ha, 1, flags=AH | BUFlag.R, home=MR)
    assert ack == BindingAck(BAStatus.ACCEPTED, 1, 100, BAFlag.R)
    assert effects == (
        AddTunnel("mip6t0", HA, COA),
        AddRoute(IPv6Network("2001:db8:1::20/128"), "mip6t0"),
        AddRoute(MNP, "mip6t0"),
        AddProxyNeighbour(MR, "eth0"),
        log(
            "binding-added",
            home_address=MR,
            care_of=COA,
            sequence=1,
            lifetime=400,
            mode=NemoMode.IMPLICIT,
            prefixes=(MNP,),
        ),
        StartTimer(EXPIRY_TIMER, 1400.0),
        SendMessage(ack, HA, COA, routing_header=MR),
        *direct(MR),
    )
    binding = ha.cache.get(MR)
    assert binding is not None and binding.mobile_router and binding.prefixes == (MNP,)


def test_mobile_router_explicit_mode() -> None:
    ha = HomeAgent(policy())
    sub = IPv6Network("2001:db8:100:1::/64")
    ack, effects, *_ = update(
        ha,
        1,
        flags=AH | BUFlag.R,
        home=MR,
        options=(MobileNetworkPrefix(sub), MobileNetworkPrefix(sub)),
    )
    assert ack == BindingAck(BAStatus.ACCEPTED, 1, 100, BAFlag.R)
    assert effects[1:3] == (
        AddRoute(IPv6Network("2001:db8:1::20/128"), "mip6t0"),
        AddRoute(sub, "mip6t0"),
    )
    binding = ha.cache.get(MR)
    assert binding is not None and binding.nemo_mode is NemoMode.EXPLICIT
    # A refresh announcing another authorized prefix moves the routes.
    _, effects, *_ = update(
        ha, 2, flags=AH | BUFlag.R, home=MR, options=(MobileNetworkPrefix(MNP),), now=1010.0
    )
    assert effects[:2] == (RemoveRoute(sub, "mip6t0"), AddRoute(MNP, "mip6t0"))


def test_mobile_router_deregistration_keeps_the_r_flag() -> None:
    ha = HomeAgent(policy())
    update(ha, 1, flags=AH | BUFlag.R, home=MR)
    ack, effects, *_ = update(ha, 2, lifetime=0, flags=AH | BUFlag.R, home=MR, now=1010.0)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 0, BAFlag.R)
    assert effects[:6] == (
        *teardown(direct(MR)),
        RemoveProxyNeighbour(MR, "eth0"),
        RemoveRoute(MNP, "mip6t0"),
        RemoveRoute(IPv6Network("2001:db8:1::20/128"), "mip6t0"),
        RemoveTunnel("mip6t0", HA, COA),
    )


@pytest.mark.parametrize(
    ("changes", "home", "options", "status"),
    [
        ({"accept_mobile_routers": False}, MR, (), BAStatus.MOBILE_ROUTER_OPERATION_NOT_PERMITTED),
        ({}, HOA, (), BAStatus.MOBILE_ROUTER_OPERATION_NOT_PERMITTED),  # not configured as MR
        ({}, MR, (IPv6Network("fe80::/64"),), BAStatus.INVALID_PREFIX),
        ({}, MR, (IPv6Network("ff0e::/16"),), BAStatus.INVALID_PREFIX),
        ({}, MR, (IPv6Network("::/0"),), BAStatus.INVALID_PREFIX),
        ({}, MR, (IPv6Network("2001:db8:1::/80"),), BAStatus.INVALID_PREFIX),  # home link
        ({}, MR, (IPv6Network("2001:db8:300::/48"),), BAStatus.NOT_AUTHORIZED_FOR_PREFIX),
        ({}, MR, (MNP, IPv6Network("2001:db8:100::/40")), BAStatus.NOT_AUTHORIZED_FOR_PREFIX),
    ],
)
def test_mobile_router_refusals(
    changes: dict[str, object],
    home: IPv6Address,
    options: tuple[IPv6Network, ...],
    status: BAStatus,
) -> None:
    ha = HomeAgent(policy(**changes))
    ack, effects, *_ = update(
        ha,
        4,
        flags=AH | BUFlag.R,
        home=home,
        options=tuple(MobileNetworkPrefix(p) for p in options),
    )
    assert ack == BindingAck(status, 4, 0)
    assert effects == (refused(status, 4, home=home), ack_to(ack, home=home))
    assert len(ha.cache) == 0


SERVED = IPv6Network("2001:db8:400::/48")


@pytest.mark.parametrize(
    ("changes", "home", "announced", "status"),
    [
        # No BindingAclPolicy lists HOA's prefixes: HaServedPrefix bounds what it announces.
        ({"served_prefixes": (SERVED,)}, HOA, (IPv6Network("2001:db8:400:7::/64"),),
         BAStatus.ACCEPTED),
        ({"served_prefixes": (SERVED,)}, HOA, (IPv6Network("2001:db8:500::/64"),),
         BAStatus.NOT_AUTHORIZED_FOR_PREFIX),
        ({"served_prefixes": (SERVED,)}, HOA, (), BAStatus.FORWARDING_SETUP_FAILED),  # implicit
        ({}, HOA, (IPv6Network("2001:db8:400:7::/64"),),
         BAStatus.MOBILE_ROUTER_OPERATION_NOT_PERMITTED),
        ({"served_prefixes": (SERVED,), "default_allow": False}, HOA,
         (IPv6Network("2001:db8:400:7::/64"),), BAStatus.ADMINISTRATIVELY_PROHIBITED),
        # A node whose entry lists prefixes keeps to them, whatever is served.
        ({"served_prefixes": (SERVED,)}, MR, (IPv6Network("2001:db8:400:7::/64"),),
         BAStatus.NOT_AUTHORIZED_FOR_PREFIX),
    ],
)
def test_served_prefixes_bound_routers_whose_entry_lists_none(
    changes: dict[str, object],
    home: IPv6Address,
    announced: tuple[IPv6Network, ...],
    status: BAStatus,
) -> None:
    ha = HomeAgent(policy(**changes))
    ack, *_ = update(ha, 1, flags=AH | BUFlag.R, home=home,
                     options=tuple(MobileNetworkPrefix(p) for p in announced))
    assert ack.status is status
    binding = ha.cache.get(home)
    if status is BAStatus.ACCEPTED:
        assert binding is not None and binding.prefixes == announced
        assert binding.nemo_mode is NemoMode.EXPLICIT
    else:
        assert binding is None


def test_a_prefix_is_routed_to_one_mobile_router_only() -> None:
    ha = HomeAgent(policy())
    update(ha, 1, flags=AH | BUFlag.R, home=MR)  # implicit: MNP
    ack, _, *_ = update(
        ha, 1, flags=AH | BUFlag.R, home=MR2, care_of=COA2, options=(MobileNetworkPrefix(MNP),)
    )
    assert ack == BindingAck(BAStatus.NOT_AUTHORIZED_FOR_PREFIX, 1, 0)
    ack, _, *_ = update(ha, 2, flags=AH | BUFlag.R, home=MR2, care_of=COA2)  # implicit: MNP2, MNP
    assert ack == BindingAck(BAStatus.FORWARDING_SETUP_FAILED, 2, 0)
    ack, _, *_ = update(
        ha, 3, flags=AH | BUFlag.R, home=MR2, care_of=COA2, options=(MobileNetworkPrefix(MNP2),)
    )
    assert ack == BindingAck(BAStatus.ACCEPTED, 3, 100, BAFlag.R)


def test_prefix_options_without_r_flag_are_ignored() -> None:
    ha = HomeAgent(policy())
    ack = update(ha, 1, home=MR, options=(MobileNetworkPrefix(MNP),)).ack
    assert ack == BindingAck(BAStatus.ACCEPTED, 1, 100)
    binding = ha.cache.get(MR)
    assert binding is not None and binding.prefixes == () and not binding.mobile_router


@pytest.mark.parametrize(
    ("flags", "home", "status"),
    [
        (AH | BUFlag.R, MR, BAStatus.FORWARDING_SETUP_FAILED),
        (AH, HOA, BAStatus.INSUFFICIENT_RESOURCES),
    ],
)
def test_forwarding_setup_failure(flags: BUFlag, home: IPv6Address, status: BAStatus) -> None:
    """The shell could not apply the kernel effects: the binding goes, the node is told."""
    ha = HomeAgent(policy())
    installed = update(ha, 1, flags=flags, home=home).effects
    kernel_part = tuple(e for e in installed if type(e).__name__.startswith("Add"))
    ack, effects, verdict, _ = ha.forwarding_failed(home)
    assert verdict == status and ack == BindingAck(status, 1, 0)
    assert effects == (
        *(inverse(e) for e in reversed(kernel_part[1:])),
        inverse(kernel_part[0]),
        log("binding-removed", home_address=home, reason="forwarding setup failed", status=status),
        CancelTimer(EXPIRY_TIMER),
        SendMessage(ack, HA, COA, routing_header=home),
    )
    assert len(ha.cache) == 0
    assert ha.forwarding_failed(home) == HaOutcome(
        None, (log("forwarding-failed-ignored", home_address=home),)
    )


# -- expiry, removal, reload, restart ------------------------------------------------------


def test_expiry() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)  # expires at 1400
    update(ha, 1, home=HOA2, care_of=COA2, lifetime=50, now=1100.0)  # at 1300
    assert ha.next_timer() == 1300.0
    assert ha.expire(1299.0) == ()
    assert ha.expire(1300.0) == (
        *teardown(direct(HOA2, COA2)),
        RemoveProxyNeighbour(HOA2, "eth0"),
        RemoveRoute(IPv6Network("2001:db8:1::11/128"), "mip6t1"),
        log("binding-expired", home_address=HOA2, care_of=COA2),
        RemoveTunnel("mip6t1", HA, COA2),
        StartTimer(EXPIRY_TIMER, 1400.0),
    )
    assert ha.expire(5000.0) == (
        *teardown(direct()),
        RemoveProxyNeighbour(HOA, "eth0"),
        RemoveRoute(HOST, "mip6t0"),
        log("binding-expired", home_address=HOA, care_of=COA),
        RemoveTunnel("mip6t0", HA, COA),
        CancelTimer(EXPIRY_TIMER),
    )
    assert ha.next_timer() is None


def test_bindings_sharing_a_tunnel_expire_together() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    update(ha, 1, home=HOA2)
    effects = ha.expire(2000.0)
    assert [type(e).__name__ for e in effects] == [
        "RemoveXfrmPolicy",
        "RemoveXfrmState",
        "RemoveProxyNeighbour",
        "RemoveRoute",
        "Log",
        "RemoveXfrmPolicy",
        "RemoveXfrmState",
        "RemoveProxyNeighbour",
        "RemoveRoute",
        "Log",
        "RemoveTunnel",
        "CancelTimer",
    ]


def test_remove_node() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    assert ha.remove_node(HOA) == (
        *teardown(direct()),
        RemoveProxyNeighbour(HOA, "eth0"),
        RemoveRoute(HOST, "mip6t0"),
        RemoveTunnel("mip6t0", HA, COA),
        log("binding-removed", home_address=HOA, reason="removed by operator"),
        CancelTimer(EXPIRY_TIMER),
    )
    assert ha.remove_node(HOA) == (log("remove-node-unknown", home_address=HOA),)
    pending = HomeAgent(policy(duplicate_address_detection=True))
    update(pending, 1)
    assert pending.remove_node(HOA) == (log("registration-cancelled", home_address=HOA),)
    assert pending.dad_complete(HOA, True, 1002.0).ack is None


def test_policy_reload_keeps_what_is_still_allowed() -> None:
    ha = HomeAgent(policy(duplicate_address_detection=False))
    update(ha, 1)  # HOA: allowed by the default policy only
    update(ha, 1, home=HOA2, care_of=COA2)
    update(ha, 1, flags=AH | BUFlag.R, home=MR)  # implicit mode: MNP
    update(ha, 1, flags=AH | BUFlag.R, home=MR2, options=(MobileNetworkPrefix(MNP2),))
    new_policy = policy(
        default_allow=False,
        max_binding_life=200,
        acl=(
            BindingAclPolicy(HOA2),
            BindingAclPolicy(MR, mobile_network_prefixes=(MNP, IPv6Network("2001:db8:101::/48"))),
            BindingAclPolicy(MR2, mobile_network_prefixes=(MNP,)),
        ),
    )
    effects = ha.apply_policy(new_policy)
    assert effects == (
        *teardown(direct()),
        RemoveProxyNeighbour(HOA, "eth0"),
        RemoveRoute(HOST, "mip6t0"),
        log("binding-removed", home_address=HOA, reason="refused by policy"),
        log("binding-updated", home_address=HOA2),
        AddRoute(IPv6Network("2001:db8:101::/48"), "mip6t0"),
        log("binding-updated", home_address=MR),
        *teardown(direct(MR2)),
        RemoveProxyNeighbour(MR2, "eth0"),
        RemoveRoute(MNP2, "mip6t0"),
        RemoveRoute(IPv6Network("2001:db8:1::21/128"), "mip6t0"),
        log("binding-removed", home_address=MR2, reason="prefix no longer authorized"),
        StartTimer(EXPIRY_TIMER, 1200.0),
    )
    assert sorted(b.home_address for b in ha.cache) == [HOA2, MR]
    assert {b.expires_at for b in ha.cache} == {1200.0}
    assert {b.lifetime for b in ha.cache} == {200}


def test_policy_reload_drops_pending_registrations_and_moves_home_agent_addresses() -> None:
    ha = HomeAgent(policy(duplicate_address_detection=True))
    update(ha, 1)
    new_ha = IPv6Address("2001:db8:1::2")
    effects = ha.apply_policy(
        policy(default_allow=False, home_links=(HomeLink("eth0", PREFIX, new_ha),))
    )
    assert effects == (
        RemoveXfrmState(XfrmRoProto.HAO, UNSPECIFIED, HA, UNSPECIFIED),
        AddXfrmState(XfrmRoProto.HAO, UNSPECIFIED, new_ha, UNSPECIFIED),
        log("registration-cancelled", home_address=HOA),
    )
    assert ha.dad_complete(HOA, True, 1002.0).ack is None


def test_restart_restores_bindings_from_json() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    update(ha, 1, home=HOA2, lifetime=10)  # expires at 1040, while the daemon is down
    update(ha, 7, flags=AH | BUFlag.R, home=MR, care_of=COA2)
    saved = ha.cache.to_json()

    restarted = HomeAgent(policy(), BindingCache.from_json(saved))
    assert restarted.restore(1100.0) == (
        AddXfrmState(XfrmRoProto.HAO, UNSPECIFIED, HA, UNSPECIFIED),
        log("binding-expired", home_address=HOA2),
        *teardown(direct(HOA2)),
        RemoveProxyNeighbour(HOA2, "eth0"),
        RemoveRoute(IPv6Network("2001:db8:1::11/128"), "mip6t0"),
        AddTunnel("mip6t0", HA, COA),
        AddRoute(HOST, "mip6t0"),
        AddProxyNeighbour(HOA, "eth0"),
        *direct(),
        AddTunnel("mip6t1", HA, COA2),
        AddRoute(IPv6Network("2001:db8:1::20/128"), "mip6t1"),
        AddRoute(MNP, "mip6t1"),
        AddProxyNeighbour(MR, "eth0"),
        *direct(MR, COA2),
        log("binding-cache-restored", bindings=2),
        StartTimer(EXPIRY_TIMER, 1400.0),
    )
    # The restored daemon goes on with the numbers it had.
    ack = update(restarted, 7, flags=AH | BUFlag.R, home=MR, care_of=COA2, now=1110.0).ack
    assert ack == BindingAck(BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, 7, 0)
    # Moving to the mobile router's care-of address joins its tunnel, mip6t1.
    ack, effects, *_ = update(restarted, 2, care_of=COA2, now=1110.0)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 100)
    assert effects[:4] == (
        *teardown(direct()[:1]),
        RemoveRoute(HOST, "mip6t0"),
        RemoveTunnel("mip6t0", HA, COA),
        AddRoute(HOST, "mip6t1"),
    )


def test_restart_applies_the_new_policy() -> None:
    ha = HomeAgent(policy())
    update(ha, 1)
    restarted = HomeAgent(policy(default_allow=False), BindingCache.from_json(ha.cache.to_json()))
    assert restarted.restore(1010.0) == (
        AddXfrmState(XfrmRoProto.HAO, UNSPECIFIED, HA, UNSPECIFIED),
        log("binding-removed", home_address=HOA, reason="refused by policy"),
        *teardown(direct()),
        RemoveProxyNeighbour(HOA, "eth0"),
        RemoveRoute(HOST, "mip6t0"),
        RemoveTunnel("mip6t0", HA, COA),
        log("binding-cache-restored", bindings=0),
    )


def test_policy_validation() -> None:
    with pytest.raises(PolicyError, match=r"HaMaxBindingLife 3: expected 4\.\.262140 seconds"):
        policy(max_binding_life=3)
    with pytest.raises(PolicyError, match="BindingAclPolicy 2001:db8:1::10: listed twice"):
        policy(acl=(BindingAclPolicy(HOA), BindingAclPolicy(HOA)))
    with pytest.raises(PolicyError, match="home agent address 2001:db8:9::1 is not in"):
        HomeLink("eth0", PREFIX, IPv6Address("2001:db8:9::1"))
    with pytest.raises(PolicyError, match="prefixes 2001:db8:1::/64 and 2001:db8:1::/48 overlap"):
        policy(
            home_links=(
                HomeLink("eth0", PREFIX, HA),
                HomeLink("eth1", IPv6Network("2001:db8:1::/48"), HA),
            )
        )
    with pytest.raises(PolicyError, match="no home link"):
        policy(home_links=())


# -- multiple care-of addresses (RFC 5648) ---------------------------------------------------

MR_HOST = IPv6Network(f"{MR}/128")
ARH = AH | BUFlag.R


def bid(number: int, care_of: IPv6Address | IPv4Address | None = None, priority: int = 0,
        **changes: object) -> BindingIdentifier:
    return BindingIdentifier(number, care_of, priority=priority, **changes)  # type: ignore[arg-type]


def two_links(ha: HomeAgent) -> HaOutcome:
    """A mobile router registers two care-of addresses at once (bulk registration),
    the second preferred (BID-PRI 1 before 2)."""
    return update(ha, 1, flags=ARH, home=MR, options=(
        MobileNetworkPrefix(MNP), bid(1, COA, priority=2), bid(2, COA2, priority=1)))


def test_bulk_registration_of_two_care_of_addresses() -> None:
    """One binding per BID, one tunnel per care-of address; the home address and the
    prefixes routed to the preferred one; each BID option copied into the acknowledgement
    with its status (RFC 5648 section 6.2)."""
    ha = HomeAgent(policy())
    ack, effects, verdict, handover = two_links(ha)
    options = (bid(1, COA, priority=2), bid(2, COA2, priority=1))
    assert (ack, verdict, handover) == (
        BindingAck(BAStatus.ACCEPTED, 1, 100, BAFlag.R, options), BAStatus.ACCEPTED, False)
    assert effects[:5] == (
        AddTunnel("mip6t0", HA, COA),
        AddTunnel("mip6t1", HA, COA2),
        AddRoute(MR_HOST, "mip6t1"),
        AddRoute(MNP, "mip6t1"),
        AddProxyNeighbour(MR, "eth0"),
    )
    assert [(e.event, dict(e.fields)["bid"]) for e in effects if isinstance(e, Log)] == [
        ("binding-added", 1), ("binding-added", 2)]
    assert effects[-3:] == (ack_to(ack, COA, MR), *direct(MR, COA2))
    assert [(b.bid, b.care_of, b.tunnel, b.priority) for b in ha.cache.bindings_of(MR)] == [
        (2, COA2, "mip6t1", 1), (1, COA, "mip6t0", 2)]
    assert ha.cache.get(MR) is None and ha.cache.prefix_owner(MNP) == MR


def test_one_bid_at_a_time_takes_the_packet_care_of_address() -> None:
    """A Binding Update with one BID option and no address in it binds the packet's
    care-of address (RFC 5648 section 6.1); a second one adds a binding, keeping the
    first, whose tunnel keeps the routes until a preferred binding comes."""
    ha = HomeAgent(policy())
    update(ha, 1, options=(bid(7),))
    ack, effects, *_ = update(ha, 2, options=(bid(8, priority=1),), care_of=COA2, now=1010.0)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 100, options=(bid(8, priority=1),))
    assert effects[:4] == (
        RemoveXfrmState(XfrmRoProto.HAO, HOA, HA, COA),  # the policy stays
        RemoveRoute(HOST, "mip6t0"),
        AddTunnel("mip6t1", HA, COA2),
        AddRoute(HOST, "mip6t1"),
    )
    assert effects[-1] == AddXfrmState(XfrmRoProto.HAO, HOA, HA, COA2)
    assert [(b.bid, b.care_of) for b in ha.cache.bindings_of(HOA)] == [(8, COA2), (7, COA)]


def test_deregistering_one_bid_moves_the_routes_to_the_other() -> None:
    """Losing one link: the mobile router deregisters its BID, the home address and the
    prefixes move to the binding left, already registered, and the lost link's tunnel
    goes."""
    ha = HomeAgent(policy())
    two_links(ha)
    ack, effects, *_ = update(ha, 2, lifetime=0, flags=ARH, home=MR, now=1010.0,
                              options=(bid(2),), care_of=COA)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 0, BAFlag.R, (bid(2),))
    assert effects[:7] == (
        RemoveXfrmState(XfrmRoProto.HAO, MR, HA, COA2),
        RemoveRoute(MNP, "mip6t1"),
        RemoveRoute(MR_HOST, "mip6t1"),
        RemoveTunnel("mip6t1", HA, COA2),
        AddRoute(MR_HOST, "mip6t0"),
        AddRoute(MNP, "mip6t0"),
        AddXfrmState(XfrmRoProto.HAO, MR, HA, COA),
    )
    assert [b.bid for b in ha.cache.bindings_of(MR)] == [1]
    assert ha.cache.prefix_owner(MNP) == MR


def test_the_preferred_binding_expiring_moves_the_routes() -> None:
    ha = HomeAgent(policy())
    two_links(ha)
    update(ha, 2, flags=ARH, home=MR, options=(MobileNetworkPrefix(MNP), bid(1, COA, 2)),
           now=1200.0)  # BID 1 refreshed: it outlives BID 2
    effects = ha.expire(1400.0)
    assert effects == (
        RemoveXfrmState(XfrmRoProto.HAO, MR, HA, COA2),
        RemoveRoute(MNP, "mip6t1"),
        RemoveRoute(MR_HOST, "mip6t1"),
        AddRoute(MR_HOST, "mip6t0"),
        AddRoute(MNP, "mip6t0"),
        AddXfrmState(XfrmRoProto.HAO, MR, HA, COA),
        log("binding-expired", home_address=MR, care_of=COA2, bid=2),
        RemoveTunnel("mip6t1", HA, COA2),
        StartTimer(EXPIRY_TIMER, 1600.0),
    )


def test_a_binding_update_without_bid_replaces_them_all() -> None:
    """Back to one care-of address: a regular Binding Update speaks for the home address
    as a whole (RFC 6275), the flow bindings by BID going with the BIDs, and its
    deregistration removes every binding."""
    ha = HomeAgent(policy())
    two_links(ha)
    update(ha, 2, flags=ARH, home=MR, now=1005.0, options=(
        MobileNetworkPrefix(MNP), bid(1, COA, priority=2), bid(2, COA2, priority=1),
        FlowIdentification(1, 1, 0, (BindingReference((1,)),))))
    assert [f.fid for f in ha.cache.flows_of(MR)] == [1]
    ack, effects, *_ = update(ha, 3, flags=ARH, home=MR, care_of=COA,
                              options=(MobileNetworkPrefix(MNP),), now=1010.0)
    assert ack == BindingAck(BAStatus.ACCEPTED, 3, 100, BAFlag.R)
    assert [(b.bid, b.care_of, b.tunnel) for b in ha.cache.bindings_of(MR)] == [
        (None, COA, "mip6t0")]
    assert RemoveTunnel("mip6t1", HA, COA2) in effects
    assert ha.cache.flows_of(MR) == ()
    ha = HomeAgent(policy())
    two_links(ha)
    ack, effects, *_ = update(ha, 2, lifetime=0, flags=ARH, home=MR, now=1010.0)
    assert ack == BindingAck(BAStatus.ACCEPTED, 2, 0, BAFlag.R)
    assert len(ha.cache) == 0
    assert {e for e in effects if isinstance(e, RemoveTunnel)} == {
        RemoveTunnel("mip6t0", HA, COA), RemoveTunnel("mip6t1", HA, COA2)}
    assert not any(isinstance(e, AddRoute | AddTunnel) for e in effects)


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ((bid(1, COA), bid(1, COA2)), BAStatus.MCOA_MALFORMED),  # one BID twice
        ((bid(1, COA), bid(2)), BAStatus.MCOA_MALFORMED),  # bulk, a BID with no address
        ((bid(1, IPv4Address("192.0.2.1")),), BAStatus.MCOA_MALFORMED),  # no IPv4 tunnels
        ((bid(1, COA, simultaneous_home=True),),
         BAStatus.MCOA_SIMULTANEOUS_HOME_AND_FOREIGN_PROHIBITED),
    ],
    ids=["bid-twice", "bulk-without-address", "ipv4-care-of", "home-and-foreign"],
)
def test_mcoa_refusals(options: tuple[BindingIdentifier, ...], status: BAStatus) -> None:
    """RFC 5648 section 6.2's status codes, each BID option answered with it."""
    ha = HomeAgent(policy())
    ack, effects, verdict, _ = update(ha, 1, options=options)
    assert (ack, verdict) == (BindingAck(status, 1, 0, options=tuple(
        replace(o, status=status) for o in options)), status)
    assert len(ha.cache) == 0 and not any(isinstance(e, AddTunnel) for e in effects)


def test_bids_are_refused_where_multiple_care_of_addresses_are_not_accepted() -> None:
    """166 (HaAcceptMultipleCoA disabled): whatever the BIDs, while a registration
    without them is accepted."""
    ha = HomeAgent(policy(accept_multiple_care_of=False))
    ack, effects, *_ = update(ha, 1, options=(bid(1, COA), bid(2, COA2)))
    assert ack == BindingAck(BAStatus.MCOA_PROHIBITED, 1, 0, options=(
        bid(1, COA, status=BAStatus.MCOA_PROHIBITED),
        bid(2, COA2, status=BAStatus.MCOA_PROHIBITED)))
    assert len(ha.cache) == 0 and not any(isinstance(e, AddTunnel) for e in effects)
    assert update(ha, 2).verdict is BAStatus.ACCEPTED


def test_a_bid_added_to_a_binding_without_bid_is_refused() -> None:
    """165: the binding registered without BID stays (the O flag that would replace it
    became BID-PRI with RFC 6089); deregistering it first lets the BIDs in."""
    ha = HomeAgent(policy())
    update(ha, 1)
    ack, *_ = update(ha, 2, options=(bid(1),), now=1010.0)
    assert ack == BindingAck(BAStatus.MCOA_NON_MCOA_BINDING_EXISTS, 2, 0, options=(
        bid(1, status=BAStatus.MCOA_NON_MCOA_BINDING_EXISTS),))
    assert ha.cache.get(HOA) is not None
    update(ha, 3, lifetime=0, now=1020.0)
    assert update(ha, 4, options=(bid(1),), now=1030.0).verdict is BAStatus.ACCEPTED


def test_deregistering_an_unknown_bid_is_refused() -> None:
    """RFC 5648 section 6.2: a deregistration for a BID without binding gets 133."""
    ha = HomeAgent(policy())
    two_links(ha)
    ack, *_ = update(ha, 2, lifetime=0, flags=ARH, home=MR, options=(bid(2, COA2), bid(3, COA)))
    assert ack is not None and ack.status is BAStatus.NOT_HOME_AGENT_FOR_THIS_MN
    assert len(ha.cache.bindings_of(MR)) == 2


def test_sequence_numbers_are_checked_per_bid() -> None:
    """Each BID's binding has its last accepted sequence number; a Binding Update naming
    it must exceed it, and one refused gets it back."""
    ha = HomeAgent(policy())
    update(ha, 10, options=(bid(1),))
    assert update(ha, 5, options=(bid(2),), care_of=COA2).verdict is BAStatus.ACCEPTED
    ack, *_ = update(ha, 7, options=(bid(1),))
    assert ack == BindingAck(BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, 10, 0, options=(
        bid(1, status=BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW),))


def test_mcoa_bindings_survive_a_restart() -> None:
    ha = HomeAgent(policy())
    kernel = KernelModel()
    kernel.apply(ha.restore(0.0))
    kernel.apply(two_links(ha).effects)
    restarted = HomeAgent(policy(), BindingCache.from_json(ha.cache.to_json()))
    fresh = KernelModel()
    fresh.apply(restarted.restore(T0 + 10))
    assert fresh.objects == kernel.objects
    assert restarted.cache.sorted() == ha.cache.sorted()


# -- properties ------------------------------------------------------------------------------

_homes = st.sampled_from([HOA, HOA2, IPv6Address("2001:db8:1::12")])
_coas = st.sampled_from([COA, COA2, IPv6Address("2001:db8:4::10")])
_sequences = st.one_of(st.integers(0, 0xFFFF), st.sampled_from([0, 1, 2, 32767, 32768, 65535]))
_operations = st.lists(
    st.tuples(_homes, _coas, _sequences, st.sampled_from([0, 1, 25, 100]), st.integers(0, 150)),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_operations)
def test_any_interleaving_keeps_the_cache_and_kernel_consistent(
    operations: list[tuple[IPv6Address, IPv6Address, int, int, int]],
) -> None:
    """Whatever Binding Updates arrive, in whatever order: the cache holds, for each
    home address, the last accepted registration; the kernel holds exactly what a
    restarted daemon would install from the persisted cache."""
    ha = HomeAgent(policy())
    kernel = KernelModel()
    kernel.apply(ha.restore(0.0))
    model: dict[IPv6Address, tuple[int, IPv6Address, float]] = {}
    now = 0.0
    for home, care_of, sequence, lifetime, elapsed in operations:
        now += elapsed
        kernel.apply(ha.expire(now))
        model = {h: m for h, m in model.items() if m[2] > now}
        ack, effects, *_ = update(ha, sequence, lifetime, home=home, care_of=care_of, now=now)
        kernel.apply(effects)
        assert ack is not None
        last = model.get(home)
        if ack.status == BAStatus.ACCEPTED:
            assert last is None or seqno.is_greater(sequence, last[0])
            if lifetime == 0:
                model.pop(home)
            else:
                model[home] = (sequence, care_of, now + lifetime * 4)
        elif ack.status == BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW:
            assert last is not None and not seqno.is_greater(sequence, last[0])
            assert ack.sequence == last[0]
        else:
            assert ack.status == BAStatus.NOT_HOME_AGENT_FOR_THIS_MN
            assert last is None and lifetime == 0
    assert {b.home_address: (b.sequence, b.care_of, b.expires_at) for b in ha.cache} == model
    assert ha.next_timer() == min((m[2] for m in model.values()), default=None)
    restarted = HomeAgent(policy(), BindingCache.from_json(ha.cache.to_json()))
    fresh = KernelModel()
    fresh.apply(restarted.restore(now))
    assert fresh.objects == kernel.objects
    # Tunnels: one per care-of address in use, nothing else left behind.
    assert kernel.tunnels() == {b.tunnel for b in ha.cache}
    assert len(kernel.tunnels()) == len({b.care_of for b in ha.cache})


def test_policy_keywords_table() -> None:
    rows = policy_keywords()
    assert (
        "HaAcceptMobRtr",
        "HomeAgentPolicy.accept_mobile_routers",
        "accept mobile router registrations (RFC 3963)",
    ) in rows
    assert ("HaMaxBindingLife", "HomeAgentPolicy.max_binding_life") in {r[:2] for r in rows}
    assert not any(name.split(".")[1].startswith("_") for _, name, _ in rows)
    assert all(doc for _, _, doc in rows)


_bid_sets = st.sampled_from([(), (1,), (2,), (1, 2), (2, 1)])
_flow_sets = st.sampled_from([
    (),
    (FlowIdentification(1, 1, 0, (BindingReference((1,)),)),),
    (FlowIdentification(1, 2, 0, (BindingReference((2, 1)), TrafficSelector6(
        destination_port=(5001, 5001), next_header=(17, 17)))),
     FlowIdentification(2, 1, 0, (BindingReference((2,)),))),
    (FlowSummary((2,)),),
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_homes, _bid_sets, _coas, _coas, _sequences,
                          st.sampled_from([0, 25, 100]), st.integers(0, 150), _flow_sets),
                max_size=40))
def test_any_interleaving_with_bids_keeps_the_cache_and_kernel_consistent(
    operations: list[tuple[IPv6Address, tuple[int, ...], IPv6Address, IPv6Address, int, int,
                           int, tuple[object, ...]]],
) -> None:
    """Binding Updates with and without BIDs, bulk or not, with flow bindings or not, in
    any order: every home address's routes go through one tunnel of its own bindings,
    the preferred one; no tunnel is left without a binding, nor a flow rule without its
    table's routes; a restarted daemon installs exactly what the kernel holds."""
    ha = HomeAgent(policy())
    kernel = KernelModel()
    kernel.apply(ha.restore(0.0))
    now = 0.0
    for home, bids, care_of, other, sequence, lifetime, elapsed, flows in operations:
        now += elapsed
        kernel.apply(ha.expire(now))
        options = tuple(bid(n, (care_of, other)[i] if len(bids) > 1 else None, priority=n)
                        for i, n in enumerate(bids)) + flows
        outcome = update(ha, sequence, lifetime, home=home, care_of=care_of, now=now,
                         options=options)
        kernel.apply(outcome.effects)
        assert outcome.ack is not None
    for home in ha.cache.homes():
        preferred = ha.cache.bindings_of(home)[0]
        assert AddRoute(IPv6Network(f"{home}/128"), preferred.tunnel) in kernel.objects
    assert kernel.tunnels() == {b.tunnel for b in ha.cache}
    assert len(kernel.tunnels()) == len({b.care_of for b in ha.cache})
    tables = {e.table for e in kernel.objects if isinstance(e, AddRoute)}
    assert all(e.table in tables for e in kernel.objects if isinstance(e, AddRule))
    restarted = HomeAgent(policy(), BindingCache.from_json(ha.cache.to_json()))
    fresh = KernelModel()
    fresh.apply(restarted.restore(now))
    assert fresh.objects == kernel.objects
