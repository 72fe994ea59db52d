"""Flow bindings on the home agent (RFC 6089, with RFC 6088's IPv6 binary traffic
selectors): which traffic to a node with several care-of addresses goes to which.

A :class:`FlowBinding` names the bindings it may use, by BID, and the traffic it
steers, a traffic selector (``None``: all of the node's traffic). Of the bindings it
names, the preferred one that exists carries the flow (:func:`~mip6d.core.bcache.
preference`), so a flow bound to two BIDs moves to the second when the first goes; a
flow none of whose bindings exists waits, unrouted, for one to come back.

In the kernel (:func:`flow_effects`), each tunnel that carries flows has a routing table
of its own (:func:`flow_table`) with the node's home address and mobile network
prefixes routed through it, and each flow is one policy rule per destination (the
selector's, else the home address and every prefix) sending what it matches to that
table, ahead of the main table's routes to the preferred binding. The rule's priority
is :data:`FLOW_RULE_BASE` plus the flow's FID-PRI: lower is preferred in both.

What a Linux rule can match decides what a selector may hold: an address range that is
one prefix, one next header value, port ranges. A selector on IPsec SPI, flow label or
traffic class, or an address range that is no prefix, is refused with a reason
(:func:`accept_flow`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from ipaddress import IPv6Address, IPv6Network, summarize_address_range

from mip6d.config.model import MAX_FLOW_PRIORITY  # the largest FID-PRI taken (FlowPriority's)
from mip6d.core.bcache import Binding, FlowBinding, preference
from mip6d.core.effects import AddRoute, AddRule, Effect
from mip6d.wire.flowsel import TrafficSelector4, TrafficSelector6
from mip6d.wire.mh import (
    BindingReference,
    FlowIdentification,
    FlowIdentificationStatus,
    UnknownTrafficSelector,
)

__all__ = [
    "FLOW_RULE_BASE",
    "FLOW_TABLE_BASE",
    "MAX_FLOW_PRIORITY",
    "FlowBinding",
    "accept_flow",
    "flow_effects",
    "flow_table",
]

FLOW_RULE_BASE = 12000
"""Priority of the rule of a flow with FID-PRI 0; a flow's is this plus its FID-PRI."""
FLOW_TABLE_BASE = 1_000_000
"""Routing table of the tunnel numbered 0 (``mip6t0``); the tunnel numbered n has this
plus n."""


def flow_table(tunnel: str) -> int:
    """The routing table of the flows through ``tunnel``, from the number its name ends
    with (the binding cache names tunnels so)."""
    number = re.search(r"\d+$", tunnel)
    return FLOW_TABLE_BASE + (int(number.group()) if number else 0)


def _prefix(span: tuple[IPv6Address, IPv6Address] | None) -> IPv6Network | None:
    """The one prefix an address range covers exactly; ``None`` without a range."""
    if span is None:
        return None
    networks = list(summarize_address_range(*span))
    if len(networks) != 1:
        raise ValueError(f"addresses {span[0]} to {span[1]} are not one prefix")
    return networks[0]


def _kernel_fields(selector: TrafficSelector6) -> str:
    """Why a Linux rule cannot match ``selector``, or ``""``."""
    unmatched = [name for name in ("spi", "flow_label", "traffic_class")
                 if getattr(selector, name) is not None]
    if unmatched:
        return f"no policy rule matches {', '.join(unmatched)}"
    if selector.next_header is not None and selector.next_header[0] != selector.next_header[1]:
        return "a policy rule matches one next header value, not a range"
    try:
        _prefix(selector.source_address)
        _prefix(selector.destination_address)
    except ValueError as exc:
        return str(exc)
    return ""


def accept_flow(option: FlowIdentification, bound: Collection[int]
           ) -> tuple[FlowBinding | None, FlowIdentificationStatus, str]:
    """The flow binding a Flow Identification option of a Binding Update asks for, its
    status and, when refused, why (RFC 6089's status codes). ``bound`` are
    the BIDs that have a binding once the Binding Update is applied."""
    status = FlowIdentificationStatus
    references = [s for s in option.sub_options if isinstance(s, BindingReference)]
    selectors = [s for s in option.sub_options
                 if isinstance(s, TrafficSelector4 | TrafficSelector6 | UnknownTrafficSelector)]
    if not option.fid or not option.priority:
        return None, status.OPTION_MALFORMED, "FID and FID-PRI 0 are reserved"
    if len(references) != 1 or len(selectors) > 1:
        return None, status.OPTION_MALFORMED, \
            "expected one Binding Reference and at most one Traffic Selector"
    if option.priority > MAX_FLOW_PRIORITY:
        return None, status.REJECTED_REASON_UNSPECIFIED, \
            f"FID-PRI {option.priority} above {MAX_FLOW_PRIORITY}"
    selector = selectors[0] if selectors else None
    if selector is not None and not isinstance(selector, TrafficSelector6):
        return None, status.TRAFFIC_SELECTOR_FORMAT_NOT_SUPPORTED, \
            "this home agent steers IPv6 traffic only (TS Format 2)"
    missing = [bid for bid in references[0].bids if bid not in bound]
    if missing:
        return None, status.BID_NOT_FOUND, \
            f"no binding for BID {', '.join(map(str, missing))}"
    reason = _kernel_fields(selector) if selector is not None else ""
    if reason:
        return None, status.REJECTED_REASON_UNSPECIFIED, reason
    return (FlowBinding(option.fid, option.priority, references[0].bids, selector),
            status.FLOW_BINDING_SUCCESSFUL, "")


def flow_effects(bindings: Sequence[Binding], flows: Sequence[FlowBinding],
                 table_of: Callable[[str], int] = flow_table) -> tuple[Effect, ...]:
    """The kernel state of a home address's flows over its ``bindings``: each carrying
    tunnel's table, then each flow's rules, in FID-PRI order (see the module's text)."""
    by_bid = {b.bid: b for b in bindings}
    routes: dict[Effect, None] = {}
    rules: dict[Effect, None] = {}
    for flow in sorted(flows, key=lambda f: (f.priority, f.fid)):
        usable = [by_bid[bid] for bid in flow.bids if bid in by_bid]
        if not usable:
            continue
        carrier = min(usable, key=preference)
        table = table_of(carrier.tunnel)
        owned = (IPv6Network(carrier.home_address), *carrier.prefixes)
        routes.update(dict.fromkeys(AddRoute(d, carrier.tunnel, table) for d in owned))
        s = flow.selector or TrafficSelector6()
        destination = _prefix(s.destination_address)
        rules.update(dict.fromkeys(
            AddRule(FLOW_RULE_BASE + flow.priority, table, source=_prefix(s.source_address),
                    destination=d, protocol=None if s.next_header is None else s.next_header[0],
                    source_port=s.source_port, destination_port=s.destination_port)
            for d in ((destination,) if destination is not None else owned)))
    return (*routes, *rules)
