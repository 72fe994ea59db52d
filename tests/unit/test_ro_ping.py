"""The lab's route-optimised ping builds the packets the reference stack sends: parsed
back by mip6d's own packet parser, with the checksum the receiver checks once the Home
Address option or the type 2 routing header has been processed."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from mip6d.wire.checksum import verify_pseudo_header_checksum
from mip6d.wire.exthdr import parse_ipv6_packet

from testkit.ro_ping import ICMPV6, packet

pytestmark = pytest.mark.unit

HA, HOA, COA = (IPv6Address(a) for a in ("2001:db8:1::1", "2001:db8:1::100", "2001:db8:a::5"))


def test_home_address_option_from_the_care_of_address() -> None:
    data, to = packet("hao", COA, HOA, HA, 7, 1)
    parsed = parse_ipv6_packet(data)
    assert (to, parsed.src, parsed.dst, parsed.home_address) == (HA, COA, HA, HOA)
    assert parsed.protocol == ICMPV6 and parsed.payload[0] == 128
    assert verify_pseudo_header_checksum(HOA, HA, ICMPV6, parsed.payload)
    assert not verify_pseudo_header_checksum(COA, HA, ICMPV6, parsed.payload)


def test_type2_routing_header_to_the_care_of_address() -> None:
    data, to = packet("rh2", HA, COA, HOA, 7, 2)
    parsed = parse_ipv6_packet(data)
    assert (to, parsed.src, parsed.dst, parsed.routing_address) == (COA, HA, COA, HOA)
    assert parsed.routing_segments_left == 1
    assert verify_pseudo_header_checksum(HA, HOA, ICMPV6, parsed.payload)
