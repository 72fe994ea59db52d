"""Flow bindings on the home agent (RFC 6089, RFC 6088's IPv6 selectors): what a Flow
Identification option asks for, its status, and the kernel's rules and tables; then the
home agent around them: statuses in the acknowledgement, flows following their
bindings, a restart."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv6Address

import pytest
from mip6d.core.bcache import BindingCache, FlowBinding
from mip6d.core.effects import AddRoute, AddRule, AddXfrmState, RemoveRule, XfrmRoProto
from mip6d.core.flows import FLOW_RULE_BASE, FLOW_TABLE_BASE, accept_flow, flow_table
from mip6d.core.homeagent import HomeAgent
from mip6d.wire.mh import (
    BindingReference,
    FlowIdentification,
    FlowIdentificationStatus,
    FlowSummary,
    MobileNetworkPrefix,
    TrafficSelector4,
    TrafficSelector6,
    UnknownTrafficSelector,
)
from test_core_homeagent import (
    ARH,
    COA,
    COA2,
    HA,
    MNP,
    MR,
    MR_HOST,
    T0,
    UNSPECIFIED,
    KernelModel,
    bid,
    policy,
    two_links,
    update,
)

pytestmark = pytest.mark.unit

Status = FlowIdentificationStatus
UDP_5001 = TrafficSelector6(destination_port=(5001, 5001), next_header=(17, 17))
UDP_5002 = TrafficSelector6(destination_port=(5002, 5002), next_header=(17, 17))
HOST = IPv6Address("2001:db8:100::5")


def fid(number: int, *sub_options: object, priority: int = 10) -> FlowIdentification:
    return FlowIdentification(number, priority, 0, sub_options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "status", "reason"),
    [
        (fid(1, BindingReference((1,)), UDP_5001), Status.FLOW_BINDING_SUCCESSFUL, ""),
        (fid(1, BindingReference((1, 2))), Status.FLOW_BINDING_SUCCESSFUL, ""),
        (fid(0, BindingReference((1,))), Status.OPTION_MALFORMED, "FID and FID-PRI 0"),
        (fid(1, BindingReference((1,)), priority=0), Status.OPTION_MALFORMED, "reserved"),
        (fid(1, UDP_5001), Status.OPTION_MALFORMED, "one Binding Reference"),
        (fid(1, BindingReference((1,)), UDP_5001, UDP_5002), Status.OPTION_MALFORMED,
         "at most one Traffic Selector"),
        (fid(1, BindingReference((1,)), priority=20001), Status.REJECTED_REASON_UNSPECIFIED,
         "FID-PRI 20001 above 20000"),
        (fid(1, BindingReference((1,)), TrafficSelector4(protocol=(17, 17))),
         Status.TRAFFIC_SELECTOR_FORMAT_NOT_SUPPORTED, "IPv6 traffic only"),
        (fid(1, BindingReference((1,)), UnknownTrafficSelector(7, b"")),
         Status.TRAFFIC_SELECTOR_FORMAT_NOT_SUPPORTED, "TS Format 2"),
        (fid(1, BindingReference((1, 3, 4))), Status.BID_NOT_FOUND, "no binding for BID 3, 4"),
        (fid(1, BindingReference((1,)), TrafficSelector6(flow_label=(1, 1))),
         Status.REJECTED_REASON_UNSPECIFIED, "no policy rule matches flow_label"),
        (fid(1, BindingReference((1,)), TrafficSelector6(next_header=(6, 17))),
         Status.REJECTED_REASON_UNSPECIFIED, "one next header value, not a range"),
        (fid(1, BindingReference((1,)), TrafficSelector6(destination_address=(
            IPv6Address("2001:db8:100::1"), IPv6Address("2001:db8:100::2")))),
         Status.REJECTED_REASON_UNSPECIFIED,
         "addresses 2001:db8:100::1 to 2001:db8:100::2 are not one prefix"),
    ],
    ids=["selector", "two-bids", "fid-0", "fid-pri-0", "no-reference", "two-selectors",
         "priority-too-high", "ipv4", "unknown-format", "unknown-bid", "flow-label",
         "next-header-range", "not-a-prefix"],
)
def test_what_a_flow_identification_option_gets(
        option: FlowIdentification, status: FlowIdentificationStatus, reason: str) -> None:
    flow, got, why = accept_flow(option, {1, 2})
    assert (got, reason in why) == (status, True)
    assert (flow is None) == (status is not Status.FLOW_BINDING_SUCCESSFUL)
    assert (why == "") == (status is Status.FLOW_BINDING_SUCCESSFUL)


def test_flow_tables_come_from_the_tunnel_number() -> None:
    assert (flow_table("mip6t0"), flow_table("mip6t17")) == (FLOW_TABLE_BASE, FLOW_TABLE_BASE + 17)


# -- the home agent ------------------------------------------------------------------


def flows_to(ha: HomeAgent, *options: object, sequence: int = 2, now: float = 1010.0
             ) -> tuple[object, ...]:
    """A refresh of both links of the mobile router of :func:`two_links`, with flow
    options; the acknowledgement's flow options."""
    outcome = update(ha, sequence, flags=ARH, home=MR, now=now, options=(
        MobileNetworkPrefix(MNP), bid(1, COA, priority=2), bid(2, COA2, priority=1), *options))
    assert outcome.ack is not None
    return tuple(o for o in outcome.ack.options if isinstance(o, FlowIdentification))


def test_two_flows_steered_to_two_care_of_addresses() -> None:
    """UDP port 5001 to the mobile network through BID 1 (mip6t0), port 5002 through BID
    2 (mip6t1, also the preferred binding): each tunnel's table routes the home address
    and the prefix, and one rule per flow sends what it matches there."""
    ha = HomeAgent(policy())
    kernel = KernelModel()
    kernel.apply(two_links(ha).effects)
    to_mnp = replace(UDP_5001, destination_address=(MNP[0], MNP[-1]))
    outcome = update(ha, 2, flags=ARH, home=MR, now=1010.0, options=(
        MobileNetworkPrefix(MNP), bid(1, COA, priority=2), bid(2, COA2, priority=1),
        fid(1, BindingReference((1,)), to_mnp, priority=5),
        fid(2, BindingReference((2,)), UDP_5002, priority=6)))
    kernel.apply(outcome.effects)
    assert outcome.ack is not None and outcome.ack.options[2:] == (
        FlowIdentification(1, 5, Status.FLOW_BINDING_SUCCESSFUL),
        FlowIdentification(2, 6, Status.FLOW_BINDING_SUCCESSFUL))
    t0, t1 = FLOW_TABLE_BASE, FLOW_TABLE_BASE + 1
    flow_state = {e for e in kernel.objects if isinstance(e, AddRule)
                  or (isinstance(e, AddRoute) and e.table is not None)}
    assert flow_state == {
        AddRoute(MR_HOST, "mip6t0", t0), AddRoute(MNP, "mip6t0", t0),
        AddRoute(MR_HOST, "mip6t1", t1), AddRoute(MNP, "mip6t1", t1),
        AddRule(FLOW_RULE_BASE + 5, t0, destination=MNP, protocol=17,
                destination_port=(5001, 5001)),
        AddRule(FLOW_RULE_BASE + 6, t1, destination=MR_HOST, protocol=17,
                destination_port=(5002, 5002)),
        AddRule(FLOW_RULE_BASE + 6, t1, destination=MNP, protocol=17,
                destination_port=(5002, 5002)),
    }
    assert ha.cache.flows_of(MR) == (FlowBinding(1, 5, (1,), to_mnp),
                                     FlowBinding(2, 6, (2,), UDP_5002))


def test_a_flow_moves_with_its_bindings_and_waits_when_none_is_left() -> None:
    """A flow bound to BIDs 1 and 2 uses the preferred (2); when BID 2 is deregistered it
    moves to BID 1, with no Binding Update naming it; a flow bound to BID 2 alone waits,
    unrouted, and comes back with BID 2."""
    ha = HomeAgent(policy())
    kernel = KernelModel()
    kernel.apply(two_links(ha).effects)
    kernel.apply(update(ha, 2, flags=ARH, home=MR, now=1010.0, options=(
        MobileNetworkPrefix(MNP), bid(1, COA, 2), bid(2, COA2, 1),
        fid(1, BindingReference((1, 2)), UDP_5001), fid(2, BindingReference((2,)), UDP_5002),
    )).effects)
    rules = {(e.destination_port, e.table) for e in kernel.objects if isinstance(e, AddRule)}
    assert rules == {((5001, 5001), FLOW_TABLE_BASE + 1), ((5002, 5002), FLOW_TABLE_BASE + 1)}
    kernel.apply(update(ha, 3, lifetime=0, flags=ARH, home=MR, now=1020.0,
                        options=(bid(2),)).effects)
    rules = {(e.destination_port, e.table) for e in kernel.objects if isinstance(e, AddRule)}
    assert rules == {((5001, 5001), FLOW_TABLE_BASE)}
    assert [f.fid for f in ha.cache.flows_of(MR)] == [1, 2]
    kernel.apply(update(ha, 4, flags=ARH, home=MR, now=1030.0, options=(
        MobileNetworkPrefix(MNP), bid(2, COA2, 1))).effects)
    rules = {(e.destination_port, e.table) for e in kernel.objects if isinstance(e, AddRule)}
    assert rules == {((5001, 5001), FLOW_TABLE_BASE + 2), ((5002, 5002), FLOW_TABLE_BASE + 2)}


def test_statuses_summary_and_removal() -> None:
    """Each Flow Identification option is answered with its status; a Flow Summary keeps
    the flows it names (132 for one unknown); the flows a Binding Update with flow
    options does not name go; one without flow options leaves them."""
    ha = HomeAgent(policy())
    two_links(ha)
    answers = flows_to(ha, fid(1, BindingReference((1,)), UDP_5001),
                       fid(2, BindingReference((9,)), UDP_5002),
                       fid(3, BindingReference((2,))))
    assert [(a.fid, a.status) for a in answers] == [  # type: ignore[attr-defined]
        (1, Status.FLOW_BINDING_SUCCESSFUL), (2, Status.BID_NOT_FOUND),
        (3, Status.FLOW_BINDING_SUCCESSFUL)]
    assert [f.fid for f in ha.cache.flows_of(MR)] == [1, 3]
    assert flows_to(ha, sequence=3, now=1020.0) == ()
    assert [f.fid for f in ha.cache.flows_of(MR)] == [1, 3]
    answers = flows_to(ha, FlowSummary((1, 7)), sequence=4, now=1030.0)
    assert [(a.fid, a.status) for a in answers] == [(7, Status.FID_NOT_FOUND)]  # type: ignore[attr-defined]
    assert [f.fid for f in ha.cache.flows_of(MR)] == [1]
    effects = update(ha, 5, flags=ARH, home=MR, now=1040.0, options=(
        MobileNetworkPrefix(MNP), bid(1, COA, 2), bid(2, COA2, 1),
        fid(1, BindingReference((1,)), TrafficSelector6(spi=(1, 1))))).effects
    assert [f.selector for f in ha.cache.flows_of(MR)] == [UDP_5001]  # refused: unchanged
    assert not any(isinstance(e, AddRule | RemoveRule) for e in effects)


def test_flows_go_with_the_last_binding_and_survive_a_restart() -> None:
    ha = HomeAgent(policy())
    kernel = KernelModel()
    kernel.apply(ha.restore(0.0))
    kernel.apply(two_links(ha).effects)
    kernel.apply(update(ha, 2, flags=ARH, home=MR, now=1010.0, options=(
        MobileNetworkPrefix(MNP), bid(1, COA, 2), bid(2, COA2, 1),
        fid(1, BindingReference((1,)), UDP_5001))).effects)
    restarted = HomeAgent(policy(), BindingCache.from_json(ha.cache.to_json()))
    fresh = KernelModel()
    fresh.apply(restarted.restore(T0 + 20))
    assert fresh.objects == kernel.objects
    assert restarted.cache.flows_of(MR) == ha.cache.flows_of(MR)
    kernel.apply(update(ha, 3, lifetime=0, flags=ARH, home=MR, now=1020.0).effects)
    assert kernel.objects == {AddXfrmState(XfrmRoProto.HAO, UNSPECIFIED, HA, UNSPECIFIED)}
    assert ha.cache.flows_of(MR) == () and '"flows"' not in ha.cache.to_json()


def test_a_persisted_flow_that_is_not_valid_names_itself() -> None:
    ha = HomeAgent(policy())
    two_links(ha)
    flows_to(ha, fid(1, BindingReference((1,)), UDP_5001))
    text = ha.cache.to_json()
    assert '"flows": {"2001:db8:1::20": [{"fid": 1, "priority": 10, "bids": [1], ' in text
    with pytest.raises(ValueError, match=r"flows of 2001:db8:1::20, flow 0: Traffic"):
        BindingCache.from_json(text.replace('"selector": "', '"selector": "ff'))
    with pytest.raises(ValueError, match=r"flows of 2001:db8:1::99: expected a list, for a "
                                         r"home address with bindings"):
        BindingCache.from_json(text.replace('"2001:db8:1::20": [{"fid"',
                                            '"2001:db8:1::99": [{"fid"'))
