"""The effect vocabulary: inverses, teardown and reconcile lists, log records."""

from __future__ import annotations

from dataclasses import fields
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d.core.effects import (
    AddAddress,
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
    RemoveAddress,
    RemoveProxyNeighbour,
    RemoveRoute,
    RemoveRule,
    RemoveTunnel,
    RemoveXfrmState,
    SendMessage,
    StartTimer,
    TimerKey,
    TimerKind,
    XfrmRoProto,
    diff,
    flag_names,
    inverse,
    is_invertible,
    is_removal,
    log,
    reconcile,
    teardown,
)
from mip6d.wire.mh import BAStatus, BindingAck, BUFlag

pytestmark = pytest.mark.unit

A1 = IPv6Address("2001:db8:1::1")
A2 = IPv6Address("2001:db8:2::10")
A3 = IPv6Address("2001:db8:3::10")
HOST = IPv6Network("2001:db8:1::10/128")

PAIRS = [
    (AddTunnel("t0", A1, A2), RemoveTunnel("t0", A1, A2)),
    (AddRoute(HOST, "t0", 252), RemoveRoute(HOST, "t0", 252)),
    (AddProxyNeighbour(A1, "eth0"), RemoveProxyNeighbour(A1, "eth0")),
    (
        AddAddress(IPv6Interface("2001:db8:1::10/128"), "t0", home_address=True, nodad=True),
        RemoveAddress(IPv6Interface("2001:db8:1::10/128"), "t0", home_address=True, nodad=True),
    ),
    (AddRule(1001, 252, source=HOST), RemoveRule(1001, 252, source=HOST)),
    (
        AddXfrmState(XfrmRoProto.ROUTE2, A1, A2, A3),
        RemoveXfrmState(XfrmRoProto.ROUTE2, A1, A2, A3),
    ),
]


@pytest.mark.parametrize(("add", "remove"), PAIRS)
def test_add_and_remove_are_inverse_twins(add: Effect, remove: Effect) -> None:
    assert inverse(add) == remove
    assert inverse(remove) == add
    assert [f.name for f in fields(add)] == [f.name for f in fields(remove)]
    assert (is_removal(add), is_removal(remove)) == (False, True)


def test_change_tunnel_inverse_swaps_endpoints() -> None:
    change = ChangeTunnel("mip6mn0", A3, A1, A2, A1)
    assert inverse(change) == ChangeTunnel("mip6mn0", A2, A1, A3, A1)
    assert inverse(inverse(change)) == change


def test_timer_inverse_is_cancel() -> None:
    key = TimerKey(TimerKind.BINDING_EXPIRY)
    assert inverse(StartTimer(key, 10.0)) == CancelTimer(key)
    assert not is_invertible(StartTimer(key, 10.0))  # not kernel state: teardown skips it


@pytest.mark.parametrize(
    "effect",
    [
        SendMessage(BindingAck(BAStatus.ACCEPTED, 1, 1), A1, A2),
        Log("x"),
        CheckDuplicateAddress((A1,), "eth0"),
        CancelTimer(TimerKey(TimerKind.BINDING_EXPIRY)),
    ],
)
def test_no_inverse(effect: Effect) -> None:
    assert not is_invertible(effect)
    with pytest.raises(ValueError, match="has no inverse"):
        inverse(effect)


def test_teardown_reverses_and_skips_what_cannot_be_undone() -> None:
    installed = (
        AddTunnel("t0", A1, A2),
        AddRoute(HOST, "t0"),
        Log("installed"),
        AddProxyNeighbour(A1, "eth0"),
    )
    assert teardown(installed) == (
        RemoveProxyNeighbour(A1, "eth0"),
        RemoveRoute(HOST, "t0"),
        RemoveTunnel("t0", A1, A2),
    )


def test_diff_keeps_what_both_have() -> None:
    old = (AddRoute(HOST, "t0"), AddProxyNeighbour(A1, "eth0"))
    new = (AddRoute(HOST, "t1"), AddProxyNeighbour(A1, "eth0"))
    assert diff(old, new) == ((RemoveRoute(HOST, "t0"),), (AddRoute(HOST, "t1"),))
    assert diff(old, old) == ((), ())


def test_reconcile_turns_a_moved_tunnel_into_one_change() -> None:
    address = AddAddress(IPv6Interface("2001:db8:1::10/128"), "mip6mn0", True, True)
    route = AddRoute(IPv6Network("::/0"), "mip6mn0", 252)
    old = (
        AddTunnel("mip6mn0", A2, A1),
        AddXfrmState(XfrmRoProto.ROUTE2, A1, HOST.network_address, A2),
        address,
        route,
    )
    new = (
        AddTunnel("mip6mn0", A3, A1),
        AddXfrmState(XfrmRoProto.ROUTE2, A1, HOST.network_address, A3),
        address,
        route,
    )
    assert reconcile(old, new) == (
        RemoveXfrmState(XfrmRoProto.ROUTE2, A1, HOST.network_address, A2),
        ChangeTunnel("mip6mn0", A3, A1, A2, A1),
        AddXfrmState(XfrmRoProto.ROUTE2, A1, HOST.network_address, A3),
    )


def test_reconcile_from_and_to_nothing() -> None:
    installed = (AddTunnel("t0", A1, A2), AddRoute(HOST, "t0"))
    assert reconcile((), installed) == installed
    assert reconcile(installed, ()) == teardown(installed)


_effects = st.sampled_from([p[0] for p in PAIRS] + [AddTunnel("t0", A1, A3), AddRoute(HOST, "t1")])


@given(st.lists(_effects, unique=True), st.lists(_effects, unique=True))
def test_reconcile_reaches_the_new_state(old: list[Effect], new: list[Effect]) -> None:
    state = set(old)
    for effect in reconcile(old, new):
        if isinstance(effect, ChangeTunnel):
            state.remove(AddTunnel(effect.name, effect.old_local, effect.old_remote))
            state.add(AddTunnel(effect.name, effect.local, effect.remote))
        elif type(effect).__name__.startswith("Remove"):
            state.remove(inverse(effect))
        else:
            assert effect not in state
            state.add(effect)
    assert state == set(new)


def test_log_record_fields() -> None:
    record = log(
        "binding-added",
        home_address=A1,
        sequence=7,
        lifetime=3600.5,
        accepted=True,
        status=BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW,
        flags=BUFlag.A | BUFlag.H | BUFlag.R,
        prefixes=(IPv6Network("2001:db8:100::/48"), IPv6Network("2001:db8:101::/48")),
        reason=None,
        kind=TimerKind.BINDING_UPDATE,
    )
    assert record == Log(
        "binding-added",
        (
            ("home_address", "2001:db8:1::1"),
            ("sequence", 7),
            ("lifetime", 3600.5),
            ("accepted", True),
            ("status", "SEQUENCE_NUMBER_OUT_OF_WINDOW"),
            ("flags", "A|H|R"),
            ("prefixes", "2001:db8:100::/48 2001:db8:101::/48"),
            ("reason", None),
            ("kind", "binding-update"),
        ),
    )
    hash(record)  # effects are hashable: install lists are compared as sets


def test_flag_names() -> None:
    assert flag_names(BUFlag(0)) == ""
    assert flag_names(BUFlag.H | BUFlag.A) == "A|H"
