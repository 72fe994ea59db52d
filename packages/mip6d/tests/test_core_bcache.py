"""The binding cache: lookups, expiry heap, shared tunnels, JSON persistence, size."""

from __future__ import annotations

import json
import time
import tracemalloc
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network

import pytest
from mip6d.core.bcache import (
    FORMAT_VERSION,
    Binding,
    BindingCache,
    BindingCacheFormatError,
    NemoMode,
)
from mip6d.wire.mh import BUFlag

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
HOA1 = IPv6Address("2001:db8:1::10")
HOA2 = IPv6Address("2001:db8:1::11")
MR = IPv6Address("2001:db8:1::20")
COA1 = IPv6Address("2001:db8:2::10")
COA2 = IPv6Address("2001:db8:3::10")
MNP = IPv6Network("2001:db8:100::/48")
AH = BUFlag.A | BUFlag.H


def binding(
    home: IPv6Address = HOA1,
    care_of: IPv6Address = COA1,
    tunnel: str = "mip6t0",
    expires_at: float = 1400.0,
    **changes: object,
) -> Binding:
    base = Binding(
        home_address=home,
        care_of=care_of,
        ha_address=HA,
        home_ifname="eth0",
        tunnel=tunnel,
        sequence=7,
        flags=AH,
        lifetime=400,
        registered_at=900.0,
        refreshed_at=1000.0,
        expires_at=expires_at,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def three_entries() -> BindingCache:
    cache = BindingCache()
    cache.put(binding(HOA1, COA1, cache.new_tunnel_name()))
    cache.put(binding(HOA2, COA1, "mip6t0", expires_at=1200.0, sequence=65535))
    cache.put(
        binding(
            MR,
            COA2,
            cache.new_tunnel_name(),
            expires_at=5000.0,
            flags=AH | BUFlag.R,
            prefixes=(MNP, IPv6Network("2001:db8:101::/64")),
            nemo_mode=NemoMode.EXPLICIT,
            updates=12,
            handovers=3,
            last_handover=950.0,
        )
    )
    return cache


def test_lookup_and_replace() -> None:
    cache = BindingCache()
    first = binding()
    assert cache.put(first) is None
    assert cache.get(HOA1) == first
    assert HOA1 in cache and len(cache) == 1
    refreshed = replace(first, sequence=8, expires_at=1800.0)
    assert cache.put(refreshed) == first
    assert cache.get(HOA1) == refreshed
    assert cache.remove(HOA1) == refreshed
    assert cache.remove(HOA1) is None
    assert cache.get(HOA1) is None and len(cache) == 0


def test_expiry_is_ordered_and_skips_refreshed_entries() -> None:
    cache = BindingCache()
    cache.put(binding(HOA1, COA1, "mip6t0", expires_at=1400.0))
    cache.put(binding(HOA2, COA2, "mip6t1", expires_at=1200.0))
    cache.put(binding(MR, COA2, "mip6t1", expires_at=1300.0))
    assert cache.next_expiry() == 1200.0
    cache.put(binding(HOA2, COA2, "mip6t1", expires_at=2000.0))  # refreshed
    assert cache.next_expiry() == 1300.0
    assert cache.pop_expired(1299.9) == ()
    assert [b.home_address for b in cache.pop_expired(1400.0)] == [MR, HOA1]
    assert cache.next_expiry() == 2000.0
    assert [b.expires_at for b in cache.pop_expired(10_000.0)] == [2000.0]
    assert cache.next_expiry() is None


def test_heap_stays_bounded_under_refreshes() -> None:
    cache = BindingCache()
    for i in range(10_000):
        cache.put(binding(expires_at=1000.0 + i))
    assert len(cache._heap) <= 2 * len(cache) + 65
    assert cache.next_expiry() == 10_999.0


def test_tunnels_are_shared_and_counted() -> None:
    cache = BindingCache()
    name = cache.new_tunnel_name()
    assert name == "mip6t0"
    cache.put(binding(HOA1, COA1, name))
    assert cache.tunnel_for(HA, COA1) == name
    cache.put(binding(HOA2, COA1, name))
    assert cache.tunnel_users(name) == 2
    with pytest.raises(ValueError, match="already joins"):
        cache.put(binding(MR, COA1, "mip6t9"))
    cache.remove(HOA1)
    assert cache.tunnel_users(name) == 1
    cache.remove(HOA2)
    assert cache.tunnel_users(name) == 0
    assert cache.tunnel_for(HA, COA1) is None
    assert cache.new_tunnel_name() == "mip6t1"


def test_prefix_owner() -> None:
    cache = BindingCache()
    cache.put(binding(MR, COA1, "mip6t0", flags=AH | BUFlag.R, prefixes=(MNP,)))
    assert cache.prefix_owner(MNP) == MR
    assert cache.prefix_owner(IPv6Network("2001:db8:100::/64")) is None
    cache.remove(MR)
    assert cache.prefix_owner(MNP) is None


def test_one_binding_per_bid_of_a_home_address() -> None:
    """RFC 5648: the bindings of one home address, one per BID, each with its tunnel;
    the preferred (lowest BID-PRI, then BID) first; the prefixes stay owned while any
    binding of the router holds them; expiry and JSON per binding."""
    cache = BindingCache()
    nemo = {"flags": AH | BUFlag.R, "prefixes": (MNP,)}
    wifi = binding(MR, COA1, "mip6t0", bid=2, priority=20, expires_at=1300.0, **nemo)
    cellular = binding(MR, COA2, "mip6t1", bid=1, priority=0, expires_at=1400.0, **nemo)
    assert cache.put(cellular) is None and cache.put(wifi) is None
    assert len(cache) == 2 and MR in cache and cache.get(MR) is None
    assert cache.get(MR, 1) == cellular and cache.bindings_of(MR) == (wifi, cellular)
    assert cache.homes() == (MR,) and cache.sorted() == (wifi, cellular)
    assert cache.tunnel_for(HA, COA1) == "mip6t0" and cache.tunnel_for(HA, COA2) == "mip6t1"
    again = BindingCache.from_json(cache.to_json())
    assert again.sorted() == cache.sorted() and again.prefix_owner(MNP) == MR
    assert cache.pop_expired(1300.0) == (wifi,)
    assert cache.prefix_owner(MNP) == MR and cache.bindings_of(MR) == (cellular,)
    assert cache.remove(MR, 1) == cellular and MR not in cache and len(cache) == 0
    assert cache.prefix_owner(MNP) is None and cache.tunnels() == {}
    row = json.dumps(json.loads(again.to_json())["bindings"][0])
    twice = cache.to_json().replace('"bindings": []', f'"bindings": [{row}, {row}]')
    with pytest.raises(BindingCacheFormatError, match=r"binding 1: home address "
                       r"2001:db8:1::20 with BID 2 listed twice"):
        BindingCache.from_json(twice)


def test_json_of_an_empty_cache() -> None:
    text = BindingCache().to_json()
    assert text == (
        '{"format": "mip6d-binding-cache", "version": 1, "clock": "unix-seconds", '
        '"next_tunnel_id": 0, "bindings": []}\n'
    )
    again = BindingCache.from_json(text)
    assert len(again) == 0 and again.to_json() == text


def test_json_round_trip_of_three_entries() -> None:
    cache = three_entries()
    text = cache.to_json()
    document = json.loads(text)
    assert document["version"] == FORMAT_VERSION
    assert document["next_tunnel_id"] == 2
    assert document["bindings"][2] == {
        "home_address": "2001:db8:1::20",
        "care_of": "2001:db8:3::10",
        "ha_address": "2001:db8:1::1",
        "home_ifname": "eth0",
        "tunnel": "mip6t1",
        "sequence": 7,
        "flags": ["A", "H", "R"],
        "lifetime": 400,
        "registered_at": 900.0,
        "refreshed_at": 1000.0,
        "expires_at": 5000.0,
        "prefixes": ["2001:db8:100::/48", "2001:db8:101::/64"],
        "nemo_mode": "explicit",
        "updates": 12,
        "handovers": 3,
        "last_handover": 950.0,
        "bid": None,
        "priority": 0,
    }
    assert document["bindings"][0]["last_handover"] is None  # never moved
    again = BindingCache.from_json(text)
    assert again.sorted() == cache.sorted()
    assert again.to_json() == text
    assert again.tunnel_users("mip6t0") == 2
    assert again.prefix_owner(MNP) == MR
    assert again.next_expiry() == 1200.0
    assert again.new_tunnel_name() == "mip6t2"


def test_loading_merges_tunnels_of_shared_endpoints() -> None:
    document = json.loads(three_entries().to_json())
    document["bindings"][1]["tunnel"] = "mip6t7"  # same endpoints as binding 0
    again = BindingCache.from_json(json.dumps(document))
    assert again.get(HOA2) is not None and again.get(HOA2).tunnel == "mip6t0"  # type: ignore[union-attr]
    assert again.new_tunnel_name() == "mip6t2"


def _broken(change: dict[str, object]) -> str:
    document = json.loads(three_entries().to_json())
    document["bindings"][1].update(change)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ('{"format": "other"}', "not a binding cache: expected format 'mip6d-binding-cache'"),
        (
            '{"format": "mip6d-binding-cache", "version": 2, "bindings": []}',
            "format version 2: this mip6d reads version 1",
        ),
        (
            '{"format": "mip6d-binding-cache", "version": 1, "bindings": {}}',
            "field 'bindings': expected a list",
        ),
        (
            _broken({"sequence": 65536}),
            "binding 1 (home address 2001:db8:1::11): field 'sequence': expected an integer "
            "0..65535 (got 65536)",
        ),
        (
            _broken({"care_of": "2001:db8::zz"}),
            "binding 1 (home address 2001:db8:1::11): field 'care_of': Only hex digits",
        ),
        (
            _broken({"flags": ["A", "Q"]}),
            "binding 1 (home address 2001:db8:1::11): field 'flags': unknown flag 'Q'",
        ),
        (
            _broken({"nemo_mode": "both"}),
            "binding 1 (home address 2001:db8:1::11): field 'nemo_mode': 'both' is not a valid",
        ),
        (
            _broken({"last_handover": "yesterday"}),
            "binding 1 (home address 2001:db8:1::11): field 'last_handover': expected a "
            "number of seconds (got 'yesterday')",
        ),
        (_broken({"colour": "red"}), "binding 1 (home address 2001:db8:1::11): unknown field"),
        (
            _broken({"home_address": "2001:db8:1::10"}),
            "binding 1: home address 2001:db8:1::10 listed twice",
        ),
    ],
)
def test_format_errors_name_the_place(text: str, message: str) -> None:
    with pytest.raises(BindingCacheFormatError) as info:
        BindingCache.from_json(text)
    assert str(info.value).startswith(message)


def test_missing_field() -> None:
    document = json.loads(three_entries().to_json())
    del document["bindings"][0]["lifetime"]
    with pytest.raises(
        BindingCacheFormatError,
        match=r"^binding 0 \(home address 2001:db8:1::10\): field 'lifetime' is missing$",
    ):
        BindingCache.from_json(json.dumps(document))


def test_a_state_file_from_before_last_handover_loads() -> None:
    """A mip6d that did not time handovers wrote no ``last_handover``: its bindings load
    as never moved (the count of handovers kept), and are saved with it from then on."""
    document = json.loads(three_entries().to_json())
    for raw in document["bindings"]:
        del raw["last_handover"]
    again = BindingCache.from_json(json.dumps(document))
    router = again.get(MR)
    assert router is not None and (router.handovers, router.last_handover) == (3, None)
    assert json.loads(again.to_json())["bindings"][2]["last_handover"] is None


def test_hundred_thousand_bindings_fit() -> None:
    """Size and speed at the scale the cache is built for (printed, loosely bounded)."""
    count = 100_000
    home_base = int(IPv6Address("2001:db8:1::1:0"))
    coa_base = int(IPv6Address("2001:db8:2::"))
    tracemalloc.start()
    try:
        cache = BindingCache()
        for i in range(count):
            cache.put(
                Binding(
                    IPv6Address(home_base + i),
                    IPv6Address(coa_base + i),
                    HA,
                    "eth0",
                    cache.new_tunnel_name(),
                    i % 65536,
                    AH,
                    3600,
                    0.0,
                    0.0,
                    3600.0 + i,
                )
            )
        used, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\nbinding cache: {count} bindings, {used / count:.0f} bytes per binding")
    assert len(cache) == count
    assert used / count < 4096  # loose: a regression by a factor, not a tuning target
    started = time.perf_counter()
    assert cache.get(IPv6Address(home_base + 54321)) is not None
    assert len(cache.pop_expired(3600.0 + 999)) == 1000
    assert time.perf_counter() - started < 1.0
