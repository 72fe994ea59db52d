"""The home agent's binding cache (RFC 6275 sections 9.1 and 10.1, RFC 3963 section 6.1,
RFC 5648 section 6.2).

Home registrations only: one :class:`Binding` per home address, or, for a node that
registers several care-of addresses (RFC 5648), one per home address and Binding
Identifier (BID). The cache is built for a home agent serving 100,000 mobile nodes:

* lookup, insert and removal by home address (and BID) are dictionary operations, O(1);
* expiry uses a heap of ``(expires_at, home_address, bid)`` with lazy deletion: a refresh
  pushes a new item and leaves the old one to be skipped when popped, and the heap is
  rebuilt when stale items outnumber live ones, so :meth:`BindingCache.pop_expired`
  costs O(k log n) for k expired entries, never a scan;
* bindings that share a care-of address share one tunnel device (Linux refuses two
  ip6ip6 tunnels with the same endpoints), reference-counted here;
* the mobile network prefixes of mobile routers are indexed, so that one prefix is
  never routed to two mobile routers (the bindings of one router share them);
* a home address's flow bindings (RFC 6089, :class:`FlowBinding`) are kept with its
  bindings, and persisted with them.

The cache is the home agent's only state, and it persists as JSON
(:meth:`BindingCache.to_json`, :meth:`BindingCache.from_json`) with a format name and
version, so a restarted daemon keeps every binding and re-creates the kernel state with
:meth:`mip6d.core.homeagent.HomeAgent.restore`. Times are seconds since the UNIX epoch.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from mip6d.core import seqno
from mip6d.wire.errors import DecodeError
from mip6d.wire.flowsel import (
    TrafficSelector6,
    TrafficSelectorFormat,
    decode_selector,
    encode_selector,
)
from mip6d.wire.mh import BUFlag

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Binding",
    "BindingCache",
    "BindingCacheFormatError",
    "FlowBinding",
    "NemoMode",
    "preference",
]

FORMAT_NAME = "mip6d-binding-cache"
FORMAT_VERSION = 1


class NemoMode(StrEnum):
    """How a binding's mobile network prefixes were chosen (RFC 3963 section 5.2)."""

    NONE = "none"
    """A mobile node (R flag clear): no prefixes."""
    IMPLICIT = "implicit"
    """A mobile router that listed no prefix: the configured ones are used."""
    EXPLICIT = "explicit"
    """A mobile router that listed its prefixes in Mobile Network Prefix options."""


@dataclass(frozen=True, slots=True)
class Binding:
    """One binding cache entry (RFC 6275 section 9.1), a home registration.

    ``lifetime`` is the lifetime granted in the last Binding Acknowledgement, in
    seconds; ``expires_at`` is when the binding lapses unless refreshed.
    ``registered_at`` is the first registration, ``refreshed_at`` the last accepted
    Binding Update; ``updates`` counts accepted Binding Updates and ``handovers`` the
    ones that changed the care-of address, the last of them at ``last_handover``
    (``None`` while the binding never moved).

    ``bid`` is the Binding Identifier of a multiple care-of address registration
    (RFC 5648), ``None`` for a binding registered without one; ``priority`` its BID-PRI
    (RFC 6089 section 4.1: lower is preferred, 0 when the node gave none).
    """

    home_address: IPv6Address
    care_of: IPv6Address
    ha_address: IPv6Address
    home_ifname: str
    tunnel: str
    sequence: int
    flags: BUFlag
    lifetime: int
    registered_at: float
    refreshed_at: float
    expires_at: float
    prefixes: tuple[IPv6Network, ...] = ()
    nemo_mode: NemoMode = NemoMode.NONE
    updates: int = 1
    handovers: int = 0
    last_handover: float | None = None
    bid: int | None = None
    priority: int = 0

    @property
    def mobile_router(self) -> bool:
        """Whether the binding was registered with the R flag (RFC 3963 section 4.1)."""
        return BUFlag.R in self.flags


@dataclass(frozen=True, slots=True)
class FlowBinding:
    """One flow binding of a home address (RFC 6089, :mod:`mip6d.core.flows`): its FID,
    FID-PRI, the BIDs it may use in the order given, and the traffic it steers (an
    RFC 6088 IPv6 selector; ``None``: all)."""

    fid: int
    priority: int
    bids: tuple[int, ...]
    selector: TrafficSelector6 | None = None


class BindingCacheFormatError(ValueError):
    """A persisted binding cache that cannot be read; the message says where and what."""


def _flag_names(flags: BUFlag) -> list[str]:
    return [m.name for m in BUFlag if m.value and m in flags and m.name]


def _parse_flags(value: object) -> BUFlag:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of flag names")
    result = BUFlag(0)
    for name in value:
        try:
            result |= BUFlag[name]
        except KeyError:
            raise ValueError(f"unknown flag {name!r}") from None
    return result


def _parse_int(lo: int, hi: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"expected an integer {lo}..{hi}")
        return value

    return parse


def _parse_time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number of seconds")
    return float(value)


def _parse_optional_time(value: object) -> float | None:
    return None if value is None else _parse_time(value)


def _parse_str(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _parse_address(value: object) -> IPv6Address:
    return IPv6Address(_parse_str(value))


def _parse_prefixes(value: object) -> tuple[IPv6Network, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list of prefixes")
    return tuple(IPv6Network(_parse_str(v)) for v in value)


# One row per persisted field: JSON name, parser, serializer. Drives both directions.
_FIELDS: tuple[tuple[str, Callable[[object], Any], Callable[[Any], object]], ...] = (
    ("home_address", _parse_address, str),
    ("care_of", _parse_address, str),
    ("ha_address", _parse_address, str),
    ("home_ifname", _parse_str, str),
    ("tunnel", _parse_str, str),
    ("sequence", _parse_int(0, seqno.MODULUS - 1), int),
    ("flags", _parse_flags, _flag_names),
    ("lifetime", _parse_int(0, 0xFFFF * 4), int),
    ("registered_at", _parse_time, float),
    ("refreshed_at", _parse_time, float),
    ("expires_at", _parse_time, float),
    ("prefixes", _parse_prefixes, lambda ps: [str(p) for p in ps]),
    ("nemo_mode", lambda v: NemoMode(_parse_str(v)), str),
    ("updates", _parse_int(0, 2**63), int),
    ("handovers", _parse_int(0, 2**63), int),
    ("last_handover", _parse_optional_time, lambda t: t),
    ("bid", lambda v: None if v is None else _parse_int(0, 0xFFFF)(v), lambda b: b),
    ("priority", _parse_int(0, 127), int),
)

def _flow_to_json(flow: FlowBinding) -> dict[str, object]:
    # The selector as its RFC 6088 binary form, hex: one place for that format.
    return {"fid": flow.fid, "priority": flow.priority, "bids": list(flow.bids),
            "selector": None if flow.selector is None else encode_selector(flow.selector).hex()}


def _flow_from_json(where: str, raw: object) -> FlowBinding:
    if not isinstance(raw, dict) or raw.keys() != {"fid", "priority", "bids", "selector"}:
        raise BindingCacheFormatError(f"{where}: expected an object with fid, priority, "
                                      "bids and selector")
    try:
        bids = raw["bids"]
        if not isinstance(bids, list) or not bids:
            raise ValueError("bids: expected a non-empty list")
        selector = raw["selector"]
        return FlowBinding(
            _parse_int(1, 0xFFFF)(raw["fid"]), _parse_int(1, 0xFFFF)(raw["priority"]),
            tuple(_parse_int(0, 0xFFFF)(b) for b in bids),
            None if selector is None else decode_selector(  # type: ignore[arg-type]
                TrafficSelectorFormat.IPV6_BINARY, bytes.fromhex(_parse_str(selector)), 0))
    except (ValueError, DecodeError) as exc:
        raise BindingCacheFormatError(f"{where}: {exc}") from None


# Fields added after the format's version 1 was first written: a state file of an older
# mip6d lacks them, and its bindings take the dataclass default (never moved, no BID).
_ADDED_LATER = frozenset({"last_handover", "bid", "priority"})

_NO_BID = -1
"""The BID key of a binding registered without a Binding Identifier."""


def _bid_key(bid: int | None) -> int:
    return _NO_BID if bid is None else bid


def preference(binding: Binding) -> tuple[int, int]:
    """Sort key of a home address's bindings, preferred first: the lowest BID-PRI (one
    the node did not give comes last), then the lowest BID (RFC 6089 section 4.1)."""
    return (binding.priority or 128, _bid_key(binding.bid))


def _binding_to_json(binding: Binding) -> dict[str, object]:
    return {name: dump(getattr(binding, name)) for name, _, dump in _FIELDS}


def _binding_from_json(index: int, raw: object) -> Binding:
    if not isinstance(raw, dict):
        raise BindingCacheFormatError(f"binding {index}: expected an object")
    where = f"binding {index}"
    if isinstance(raw.get("home_address"), str):
        where += f" (home address {raw['home_address']})"
    unknown = raw.keys() - {name for name, _, _ in _FIELDS}
    if unknown:
        raise BindingCacheFormatError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, parse, _ in _FIELDS:
        if name not in raw:
            if name in _ADDED_LATER:
                continue
            raise BindingCacheFormatError(f"{where}: field {name!r} is missing")
        try:
            values[name] = parse(raw[name])
        except ValueError as exc:
            raise BindingCacheFormatError(
                f"{where}: field {name!r}: {exc} (got {raw[name]!r})"
            ) from None
    return Binding(**values)


class BindingCache:
    """Bindings by home address and BID, with an expiry heap, shared tunnels and a prefix
    index.

    The cache only stores; :class:`mip6d.core.homeagent.HomeAgent` decides.
    """

    def __init__(self, tunnel_prefix: str = "mip6t") -> None:
        self._entries: dict[IPv6Address, dict[int, Binding]] = {}
        self._count = 0
        self._heap: list[tuple[float, IPv6Address, int]] = []
        self._tunnel_prefix = tunnel_prefix
        self._next_tunnel_id = 0
        self._tunnel_names: dict[tuple[IPv6Address, IPv6Address], str] = {}
        self._tunnel_ends: dict[str, tuple[IPv6Address, IPv6Address]] = {}
        self._tunnel_refs: dict[str, int] = {}
        self._prefix_owner: dict[IPv6Network, IPv6Address] = {}
        self._prefix_refs: dict[IPv6Network, int] = {}
        self._flows: dict[IPv6Address, tuple[FlowBinding, ...]] = {}

    # -- mapping ---------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of bindings (a node with several care-of addresses has several)."""
        return self._count

    def __contains__(self, home_address: object) -> bool:
        """Whether ``home_address`` has any binding."""
        return home_address in self._entries

    def __iter__(self) -> Iterator[Binding]:
        return iter(tuple(b for group in self._entries.values() for b in group.values()))

    def get(self, home_address: IPv6Address, bid: int | None = None) -> Binding | None:
        """The binding of ``home_address`` with Binding Identifier ``bid`` (``None``: the
        one registered without), if any."""
        return self._entries.get(home_address, {}).get(_bid_key(bid))

    def bindings_of(self, home_address: IPv6Address) -> tuple[Binding, ...]:
        """Every binding of ``home_address``, the preferred one first
        (:func:`preference`)."""
        return tuple(sorted(self._entries.get(home_address, {}).values(), key=preference))

    def homes(self) -> tuple[IPv6Address, ...]:
        """The home addresses that have bindings, in order."""
        return tuple(sorted(self._entries))

    def sorted(self) -> tuple[Binding, ...]:
        """All bindings ordered by home address, then preference (deterministic output)."""
        return tuple(b for home in self.homes() for b in self.bindings_of(home))

    # -- updates ---------------------------------------------------------------------

    def put(self, binding: Binding) -> Binding | None:
        """Insert or replace the binding of ``binding.home_address`` and ``binding.bid``;
        the one replaced.

        The tunnel named in ``binding`` must be the one :meth:`tunnel_for` gives for
        its endpoints, or a name no other endpoints use.
        """
        key = _bid_key(binding.bid)
        group = self._entries.setdefault(binding.home_address, {})
        old = group.get(key)
        if old is not None:
            self._release(old)
        else:
            self._count += 1
        group[key] = binding
        self._acquire(binding)
        if old is None or old.expires_at != binding.expires_at:
            heapq.heappush(self._heap, (binding.expires_at, binding.home_address, key))
            self._compact()
        return old

    def remove(self, home_address: IPv6Address, bid: int | None = None) -> Binding | None:
        """Remove and return the binding of ``home_address`` and ``bid``, if any."""
        group = self._entries.get(home_address, {})
        old = group.pop(_bid_key(bid), None)
        if old is not None:
            if not group:
                del self._entries[home_address]
            self._count -= 1
            self._release(old)
            self._compact()
        return old

    def next_expiry(self) -> float | None:
        """When the earliest binding expires, or ``None`` for an empty cache."""
        while self._heap:
            at, home_address, key = self._heap[0]
            entry = self._entries.get(home_address, {}).get(key)
            if entry is not None and entry.expires_at == at:
                return at
            heapq.heappop(self._heap)
        return None

    def pop_expired(self, now: float) -> tuple[Binding, ...]:
        """Remove and return every binding with ``expires_at <= now``, earliest first."""
        expired: list[Binding] = []
        while self._heap and self._heap[0][0] <= now:
            at, home_address, key = heapq.heappop(self._heap)
            entry = self._entries.get(home_address, {}).get(key)
            if entry is not None and entry.expires_at == at:
                self.remove(home_address, entry.bid)
                expired.append(entry)
        return tuple(expired)

    def flows_of(self, home_address: IPv6Address) -> tuple[FlowBinding, ...]:
        """The flow bindings of ``home_address`` (RFC 6089)."""
        return self._flows.get(home_address, ())

    def set_flows(self, home_address: IPv6Address, flows: tuple[FlowBinding, ...]) -> None:
        """Replace the flow bindings of ``home_address`` (none: forget them). They are
        kept only while the home address has bindings: its home agent drops them with
        the last one."""
        if flows:
            self._flows[home_address] = flows
        else:
            self._flows.pop(home_address, None)

    # -- tunnels and prefixes ----------------------------------------------------------

    def tunnel_for(self, local: IPv6Address, remote: IPv6Address) -> str | None:
        """The tunnel device in use between these endpoints, if any."""
        return self._tunnel_names.get((local, remote))

    def new_tunnel_name(self) -> str:
        """A tunnel device name never handed out before by this cache."""
        name = f"{self._tunnel_prefix}{self._next_tunnel_id}"
        self._next_tunnel_id += 1
        return name

    def tunnel_endpoints(self, name: str) -> tuple[IPv6Address, IPv6Address] | None:
        """``(local, remote)`` of tunnel ``name``, or ``None`` when no binding uses it."""
        return self._tunnel_ends.get(name)

    def tunnel_users(self, name: str) -> int:
        """How many bindings use tunnel ``name``."""
        return self._tunnel_refs.get(name, 0)

    def tunnels(self) -> Mapping[tuple[IPv6Address, IPv6Address], str]:
        """Tunnel names by ``(local, remote)``, for tunnels in use."""
        return dict(self._tunnel_names)

    def prefix_owner(self, prefix: IPv6Network) -> IPv6Address | None:
        """The home address of the mobile router ``prefix`` is routed to, if any."""
        return self._prefix_owner.get(prefix)

    def _acquire(self, binding: Binding) -> None:
        key = (binding.ha_address, binding.care_of)
        known = self._tunnel_names.get(key)
        ends = self._tunnel_ends.get(binding.tunnel)
        if known is None and ends is None:
            self._tunnel_names[key] = binding.tunnel
            self._tunnel_ends[binding.tunnel] = key
        elif known != binding.tunnel:
            raise ValueError(
                f"binding {binding.home_address}: tunnel {binding.tunnel!r} for "
                f"{key[0]} and {key[1]}, but "
                + (f"{known!r} already joins them" if known is not None
                   else f"it already joins {ends[0]} and {ends[1]}")  # type: ignore[index]
            )
        self._tunnel_refs[binding.tunnel] = self._tunnel_refs.get(binding.tunnel, 0) + 1
        for prefix in binding.prefixes:
            if self._prefix_owner.get(prefix) != binding.home_address:
                self._prefix_owner[prefix] = binding.home_address
                self._prefix_refs[prefix] = 0
            self._prefix_refs[prefix] += 1

    def _release(self, binding: Binding) -> None:
        refs = self._tunnel_refs[binding.tunnel] - 1
        if refs:
            self._tunnel_refs[binding.tunnel] = refs
        else:
            del self._tunnel_refs[binding.tunnel], self._tunnel_ends[binding.tunnel]
            del self._tunnel_names[(binding.ha_address, binding.care_of)]
        for prefix in binding.prefixes:
            if self._prefix_owner.get(prefix) != binding.home_address:
                continue
            self._prefix_refs[prefix] -= 1
            if not self._prefix_refs[prefix]:
                del self._prefix_owner[prefix], self._prefix_refs[prefix]

    def _compact(self) -> None:
        if len(self._heap) > 2 * self._count + 64:
            self._heap = [(b.expires_at, b.home_address, _bid_key(b.bid)) for b in self]
            heapq.heapify(self._heap)

    # -- persistence -----------------------------------------------------------------

    def to_json(self) -> str:
        """The cache as a JSON document: a header, then one binding per line, ordered
        by home address (about 400 bytes a binding)."""
        header = json.dumps(
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "clock": "unix-seconds",
                "next_tunnel_id": self._next_tunnel_id,
            }
        )
        lines = ",\n".join(json.dumps(_binding_to_json(b)) for b in self.sorted())
        flows = {str(home): [_flow_to_json(f) for f in self._flows[home]]
                 for home in sorted(self._flows) if home in self._entries}
        bindings = '"bindings": [\n' + lines + "\n]" if lines else '"bindings": []'
        tail = f', "flows": {json.dumps(flows)}' if flows else ""
        return header[:-1] + ", " + bindings + tail + "}\n"

    @classmethod
    def from_json(cls, text: str, tunnel_prefix: str = "mip6t") -> BindingCache:
        """Read a document written by :meth:`to_json`.

        Raises :class:`BindingCacheFormatError` naming the binding and field at fault
        for anything else, including a future format version.
        """
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BindingCacheFormatError(
                f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise BindingCacheFormatError(f"not a binding cache: expected format {FORMAT_NAME!r}")
        version = document.get("version")
        if version != FORMAT_VERSION:
            raise BindingCacheFormatError(
                f"format version {version!r}: this mip6d reads version {FORMAT_VERSION}"
            )
        raw_bindings = document.get("bindings")
        if not isinstance(raw_bindings, list):
            raise BindingCacheFormatError("field 'bindings': expected a list")
        next_id = document.get("next_tunnel_id", 0)
        if isinstance(next_id, bool) or not isinstance(next_id, int) or next_id < 0:
            raise BindingCacheFormatError("field 'next_tunnel_id': expected an integer >= 0")
        cache = cls(tunnel_prefix)
        cache._next_tunnel_id = next_id
        for index, raw in enumerate(raw_bindings):
            binding = _binding_from_json(index, raw)
            if cache.get(binding.home_address, binding.bid) is not None:
                bid = "" if binding.bid is None else f" with BID {binding.bid}"
                raise BindingCacheFormatError(
                    f"binding {index}: home address {binding.home_address}{bid} listed twice"
                )
            # Bindings that share endpoints share the first one's tunnel.
            name = cache._tunnel_names.get((binding.ha_address, binding.care_of))
            if name is not None and name != binding.tunnel:
                binding = replace(binding, tunnel=name)
            cache.put(binding)
            cache._bump_tunnel_id(binding.tunnel)
        raw_flows = document.get("flows", {})  # absent: written before flow bindings
        if not isinstance(raw_flows, dict):
            raise BindingCacheFormatError("field 'flows': expected an object")
        for home, raw in raw_flows.items():
            where = f"flows of {home}"
            try:
                address = IPv6Address(home)
            except ValueError:
                raise BindingCacheFormatError(f"{where}: not an IPv6 address") from None
            if address not in cache or not isinstance(raw, list):
                raise BindingCacheFormatError(f"{where}: expected a list, for a home address "
                                              "with bindings")
            cache.set_flows(address, tuple(_flow_from_json(f"{where}, flow {index}", flow)
                                           for index, flow in enumerate(raw)))
        return cache

    def _bump_tunnel_id(self, name: str) -> None:
        suffix = name.removeprefix(self._tunnel_prefix)
        if name != suffix and suffix.isdigit():
            self._next_tunnel_id = max(self._next_tunnel_id, int(suffix) + 1)
