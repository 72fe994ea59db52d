"""Binding Errors for the Mobility Header requests a node does not serve (RFC 6275
section 9.2): which messages get one, what it says, where it goes, how often."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from mip6d.core.effects import SendMessage
from mip6d.core.unserved import INTERVAL, BindingErrors
from mip6d.wire import mh

pytestmark = pytest.mark.unit

CN = IPv6Address("2001:db8:9::1")
HOA = IPv6Address("2001:db8:1::10")
COA = IPv6Address("2001:db8:a::5")
OTHER = IPv6Address("2001:db8:b::5")
UNSPECIFIED = IPv6Address("::")
UNRECOGNIZED = mh.BEStatus.UNRECOGNIZED_MH_TYPE

REQUESTS = [
    mh.HomeTestInit(0x0102030405060708),
    mh.CareOfTestInit(0x0102030405060708),
    mh.BindingUpdate(7, 100, mh.BUFlag.A),
    mh.UnknownMessage(12, 59, bytes(10)),
]
REPLIES = [
    mh.BindingRefreshRequest(),
    mh.HomeTest(1, 2, 3),
    mh.CareOfTest(1, 2, 3),
    mh.BindingAck(mh.BAStatus.ACCEPTED, 7, 25, mh.BAFlag(0)),
    mh.BindingError(UNRECOGNIZED, HOA),
]


@pytest.mark.parametrize("msg", REQUESTS, ids=lambda m: type(m).__name__)
def test_a_request_gets_status_2_from_where_it_was_sent(msg: mh.Message) -> None:
    assert BindingErrors().answer(msg, COA, CN, None, 0.0) == SendMessage(
        mh.BindingError(UNRECOGNIZED, UNSPECIFIED), CN, COA)


def test_the_error_names_the_home_address_of_the_senders_option() -> None:
    update = mh.BindingUpdate(7, 100, mh.BUFlag.A)
    # To the care-of address, never through a binding (type 2 routing header).
    assert BindingErrors().answer(update, COA, CN, HOA, 0.0) == SendMessage(
        mh.BindingError(UNRECOGNIZED, HOA), CN, COA)


@pytest.mark.parametrize("msg", REPLIES, ids=lambda m: type(m).__name__)
def test_a_reply_is_never_answered(msg: mh.Message) -> None:
    assert BindingErrors().answer(msg, COA, CN, None, 0.0) is None


def test_one_error_per_destination_per_interval() -> None:
    errors, hoti = BindingErrors(), REQUESTS[0]
    sent = [t for t in (0.0, 0.1, INTERVAL - 0.01, INTERVAL, INTERVAL + 0.5, 2 * INTERVAL)
            if errors.answer(hoti, COA, CN, None, t) is not None]
    assert sent == [0.0, INTERVAL, 2 * INTERVAL]
    assert errors.answer(hoti, OTHER, CN, None, 2 * INTERVAL) is not None  # its own limit


def test_many_senders_are_forgotten_once_their_interval_is_over() -> None:
    errors, hoti = BindingErrors(), REQUESTS[0]
    for n in range(5000):
        assert errors.answer(hoti, IPv6Address(int(COA) + n), CN, None, n * 0.01) is not None
    assert len(errors._last) <= 1024  # bounded whatever the number of senders
    assert errors.answer(hoti, IPv6Address(int(COA) + 4999), CN, None, 50.0) is None
