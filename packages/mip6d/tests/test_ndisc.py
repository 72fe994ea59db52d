"""Neighbor Discovery for DAD of home addresses (exact bytes, conflict rules) and
movement detection from Router Advertisements."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest
from mip6d.core.bul import HomeRegistration
from mip6d.core.mobile import (
    CareOfAddressAvailable,
    CareOfAddressGone,
    HomeLinkDetected,
    MobileConfig,
)
from mip6d.shell.adapters import LinkRouters
from mip6d.shell.ndisc import icmp6_filter, interface_dad_timing
from mip6d.wire import nd
from mip6d.wire.checksum import pseudo_header_checksum, verify_pseudo_header_checksum
from mip6d.wire.errors import DecodeError
from mip6d.wire.icmp6 import PrefixFlag, PrefixInformation, RouterAdvertisement

pytestmark = pytest.mark.unit

HOA = IPv6Address("2001:db8:1::100")
UNSPECIFIED = IPv6Address("::")


def test_solicited_node_address() -> None:
    assert nd.solicited_node(HOA) == IPv6Address("ff02::1:ff00:100")
    assert nd.solicited_node(IPv6Address("fe80::2aa:ff:fe28:9c5a")) == IPv6Address(
        "ff02::1:ff28:9c5a")


def test_dad_probe_is_a_neighbor_solicitation_from_the_unspecified_address() -> None:
    packet, dst = nd.dad_probe(HOA)
    assert dst == IPv6Address("ff02::1:ff00:100")
    assert packet[:8] == bytes.fromhex("60000000" "0018" "3a" "ff")  # 24 octets, ICMPv6, 255
    assert packet[8:24] == bytes(16) and packet[24:40] == dst.packed
    body = packet[40:]
    assert body[0] == 135 and body[1] == 0 and body[4:8] == bytes(4) and body[8:] == HOA.packed
    assert verify_pseudo_header_checksum(UNSPECIFIED, dst, 58, body)
    assert nd.decode_neighbor_message(body, UNSPECIFIED, dst) == nd.NeighborMessage(
        nd.NdType.NEIGHBOR_SOLICITATION, HOA)


def _na(target: IPv6Address, src: IPv6Address, dst: IPv6Address, kind: int = 136) -> bytes:
    body = bytearray(bytes((kind, 0, 0, 0)) + bytes.fromhex("20000000") + target.packed)
    body[2:4] = pseudo_header_checksum(src, dst, 58, bytes(body)).to_bytes(2, "big")
    return bytes(body)


def test_conflicts_follow_rfc_4862() -> None:
    ll = IPv6Address("fe80::1")
    probing = frozenset({HOA})
    na = nd.decode_neighbor_message(_na(HOA, ll, IPv6Address("ff02::1")), ll,
                                    IPv6Address("ff02::1"))
    assert na == nd.NeighborMessage(nd.NdType.NEIGHBOR_ADVERTISEMENT, HOA)
    assert nd.is_duplicate(na, ll, probing)
    assert not nd.is_duplicate(na, ll, frozenset({IPv6Address("2001:db8:1::200")}))
    sol = nd.solicited_node(HOA)
    other_dad = nd.decode_neighbor_message(_na(HOA, UNSPECIFIED, sol, 135), UNSPECIFIED, sol)
    assert nd.is_duplicate(other_dad, UNSPECIFIED, probing)
    resolution = nd.decode_neighbor_message(_na(HOA, ll, sol, 135), ll, sol)
    assert not nd.is_duplicate(resolution, ll, probing)


@pytest.mark.parametrize("data", [b"", bytes(23), bytes((136, 1)) + bytes(22),
                                  bytes((134, 0)) + bytes(22)])
def test_malformed_neighbor_messages_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        nd.decode_neighbor_message(data, UNSPECIFIED, UNSPECIFIED)


def test_bad_checksum_is_refused() -> None:
    ll = IPv6Address("fe80::1")
    data = bytearray(_na(HOA, ll, IPv6Address("ff02::1")))
    data[3] ^= 1
    with pytest.raises(DecodeError, match="checksum"):
        nd.decode_neighbor_message(bytes(data), ll, IPv6Address("ff02::1"))


def test_icmp6_filter_passes_only_the_given_types() -> None:
    value = icmp6_filter(135, 136)
    words = [int.from_bytes(value[i:i + 4], "little") for i in range(0, 32, 4)]
    assert words[4] == 0xFFFFFFFF & ~((1 << 7) | (1 << 8))
    assert all(w == 0xFFFFFFFF for i, w in enumerate(words) if i != 4)


def test_dad_timing_comes_from_the_interface_sysctls(tmp_path: object) -> None:
    from pathlib import Path  # noqa: PLC0415

    root = Path(str(tmp_path))
    (root / "conf" / "eth0").mkdir(parents=True)
    (root / "neigh" / "eth0").mkdir(parents=True)
    (root / "conf" / "eth0" / "dad_transmits").write_text("2\n")
    (root / "neigh" / "eth0" / "retrans_time_ms").write_text("500\n")
    assert interface_dad_timing("eth0", root) == (2, 0.5)
    assert interface_dad_timing("missing", root) == (1, 1.0)


# -- movement detection from Router Advertisements -------------------------------------

F1 = IPv6Network("2001:db8:a::/64")
F3 = IPv6Network("2001:db8:d::/64")
HOME = IPv6Network("2001:db8:1::/64")
COA1 = IPv6Address("2001:db8:a::5")
COA3 = IPv6Address("2001:db8:d::5")
R1 = IPv6Address("fe80::1")
R2 = IPv6Address("fe80::2")
MOBILE = MobileConfig((HomeRegistration(IPv6Interface(f"{HOA}/64"), IPv6Address("2001:db8:1::1")),))


def ra(*prefixes: IPv6Network, lifetime: int = 1800) -> RouterAdvertisement:
    return RouterAdvertisement(router_lifetime=lifetime, options=tuple(
        PrefixInformation(p.prefixlen, PrefixFlag.L | PrefixFlag.A, 86400, 14400,
                          p.network_address) for p in prefixes))


def test_renumbered_link_hides_the_old_care_of_address() -> None:
    watch = LinkRouters(MOBILE, ("eth0",))
    # Before any RA, addresses are used as they are.
    assert watch.address(CareOfAddressAvailable(COA1, "eth0")) == (
        CareOfAddressAvailable(COA1, "eth0"),)
    assert watch.advertisement("eth0", R1, ra(F1), COA1) == ()
    # The router now advertises F3 only; the address in F3 came first (netlink): it
    # is held back until an RA covers it, then comes before the old one's departure.
    assert watch.address(CareOfAddressAvailable(COA3, "eth0")) == ()
    assert watch.advertisement("eth0", R1, ra(F3), COA1) == (
        CareOfAddressAvailable(COA3, "eth0"), CareOfAddressGone(COA1))
    assert watch.advertisement("eth0", R1, ra(F3), COA3) == ()  # repeated RAs: quiet
    # A netlink refresh of the old address does not bring it back.
    assert watch.address(CareOfAddressAvailable(COA1, "eth0")) == ()
    # The prefix comes back: so does the address.
    assert watch.advertisement("eth0", R1, ra(F1, F3), COA3) == (
        CareOfAddressAvailable(COA1, "eth0"),)


def test_new_router_without_our_prefix_means_movement_and_router_leaving() -> None:
    watch = LinkRouters(MOBILE, ())
    watch.address(CareOfAddressAvailable(COA1, "eth0"))
    watch.advertisement("eth0", R1, ra(F1), COA1)
    # A second router with the same prefix: same link, nothing happens.
    assert watch.advertisement("eth0", R2, ra(F1), COA1) == ()
    watch2 = LinkRouters(MOBILE, ())
    watch2.address(CareOfAddressAvailable(COA1, "eth0"))
    watch2.advertisement("eth0", R1, ra(F1), COA1)
    assert watch2.take_departed() == ()
    assert watch2.advertisement("eth0", R2, ra(F3), COA1) == (CareOfAddressGone(COA1),)
    # The old router is departed (its default route is to go), once.
    assert watch2.take_departed() == (("eth0", R1),)
    assert watch2.take_departed() == ()
    # The only router says goodbye (router lifetime 0): its addresses are gone.
    watch3 = LinkRouters(MOBILE, ())
    watch3.address(CareOfAddressAvailable(COA1, "eth0"))
    watch3.advertisement("eth0", R1, ra(F1), COA1)
    assert watch3.advertisement("eth0", R1, ra(F1, lifetime=0), COA1) == (
        CareOfAddressGone(COA1),)
    # Link down forgets the routers: addresses count as they are again.
    watch3.link_down("eth0")
    assert watch3.address(CareOfAddressAvailable(COA1, "eth0")) == (
        CareOfAddressAvailable(COA1, "eth0"),)


def test_home_prefix_in_an_ra_means_home_once_and_other_interfaces_are_ignored() -> None:
    watch = LinkRouters(MOBILE, ("eth0", "eth1"))
    assert watch.advertisement("eth1", R1, ra(HOME), None) == (HomeLinkDetected("eth1", HOME),)
    assert watch.advertisement("eth1", R1, ra(HOME), None) == ()
    assert watch.advertisement("wlan9", R1, ra(HOME), None) == ()
    assert watch.advertisement("mip6mn0", R1, ra(HOME), None) == ()
    assert watch.advertisement("eth0", R1, RouterAdvertisement(router_lifetime=1800), None) == ()


def test_a_router_silent_for_three_advertisement_intervals_is_gone() -> None:
    from mip6d.wire.icmp6 import AdvertisementInterval  # noqa: PLC0415

    watch = LinkRouters(MOBILE, ())
    watch.address(CareOfAddressAvailable(COA1, "eth0"))
    with_interval = RouterAdvertisement(router_lifetime=1800, options=(
        *ra(F1).options, AdvertisementInterval(1500)))
    assert watch.advertisement("eth0", R1, with_interval, COA1, now=100.0) == ()
    assert watch.next_deadline() == 104.5
    assert watch.expire(104.4) == ()
    assert watch.advertisement("eth0", R1, with_interval, COA1, now=104.0) == ()  # heard again
    assert watch.expire(108.4) == ()
    assert watch.take_departed() == ()
    assert watch.expire(108.5) == (("eth0", CareOfAddressGone(COA1)),)
    assert watch.take_departed() == (("eth0", R1),)
    assert watch.next_deadline() is None
    # The router speaks again: the address is back.
    assert watch.advertisement("eth0", R1, with_interval, None, now=120.0) == (
        CareOfAddressAvailable(COA1, "eth0"),)
    # A router without the option is never timed out.
    quiet = LinkRouters(MOBILE, ())
    quiet.address(CareOfAddressAvailable(COA1, "eth0"))
    quiet.advertisement("eth0", R1, ra(F1), COA1, now=100.0)
    assert quiet.next_deadline() is None and quiet.expire(1e9) == ()
