"""The daemon shell's pure parts: configuration -> policy and mobile settings, address
changes -> movement events, Mobility Header send/receive encoding, XFRM commands, and
the kernel adapter against a recording stand-in for pyroute2."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path

import pytest
from mip6d.command import BatchError, Command, CommandError
from mip6d.config import NodeRole, parse
from mip6d.config.model import FlowBindingPolicy, KeyedAlgorithm, SaDirection, StaticKey
from mip6d.core.bul import FlowPolicy
from mip6d.core.effects import (
    AddAddress,
    AddEspSa,
    AddTunnel,
    AddXfrmState,
    ChangeTunnel,
    RemoveTunnel,
    RemoveXfrmState,
    SendMessage,
    XfrmRoProto,
    inverse,
)
from mip6d.core.ipsec import RO_POLICIES, direct_policy
from mip6d.core.mobile import (
    CareOfAddressAvailable,
    CareOfAddressGone,
    HomeLinkDetected,
    HomeLinkLost,
)
from mip6d.shell.adapters import (
    AdapterError,
    flow_selector,
    home_agent_policy,
    mobile_config,
    movement_events,
)
from mip6d.shell.kernel import (
    Kernel,
    KernelError,
    esp_sa_argv,
    xfrm_policy_argv,
    xfrm_state_argv,
)
from mip6d.shell.mhsocket import MalformedPacket, Received, encode_send, parse_received
from mip6d.shell.netlink_events import IFA_F_TENTATIVE, AddressChange
from mip6d.wire import exthdr, mh
from mip6d.wire.flowsel import TrafficSelector6

from testkit.mip6d_fakes import FakeIPRoute

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
HOA = IPv6Address("2001:db8:1::100")
COA = IPv6Address("2001:db8:a::5")

HA_CONF = """\
NodeConfig HA;
Interface "eth0";
UseMnHaIPsec disabled;
DefaultBindingAclPolicy deny;
HaAcceptMobRtr enabled;
HaMaxBindingLife 120;
BindingAclPolicy 2001:db8:1::200 (2001:db8:100:1::/64) allow;
"""

MN_CONF = """\
NodeConfig MN;
Interface "eth0" { MnIfPreference 1; }
Interface "wlan0" { MnIfPreference 2; }
UseMnHaIPsec disabled;
MnMaxHaBindingLife 60;
MnHomeLink "eth0" {
    IsMobRtr enabled;
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::100/64 (2001:db8:100:1::/64);
}
"""


def test_home_agent_policy_from_config_and_interface_addresses() -> None:
    config = parse(HA_CONF, "ha.conf")
    policy = home_agent_policy(
        config, {"eth0": [IPv6Interface("fe80::1/64"), IPv6Interface("2001:db8:1::1/64")]}
    )
    assert [(link.ifname, link.prefix, link.ha_address) for link in policy.home_links] == [
        ("eth0", IPv6Network("2001:db8:1::/64"), HA)
    ]
    assert not policy.default_allow and policy.accept_mobile_routers
    assert not policy.require_ipsec and policy.max_binding_life == 120
    assert policy.mobile_router_allowed(IPv6Address("2001:db8:1::200"))
    assert policy.configured_prefixes(IPv6Address("2001:db8:1::200")) == (
        IPv6Network("2001:db8:100:1::/64"),
    )


def test_home_agent_without_address_on_the_home_link_is_a_clear_error() -> None:
    with pytest.raises(AdapterError, match="home link eth0: no global IPv6 address"):
        home_agent_policy(parse(HA_CONF, "ha.conf"), {"eth0": [IPv6Interface("fe80::1/64")]})


def test_mobile_config_from_config() -> None:
    mobile = mobile_config(parse(MN_CONF, "mn.conf"))
    (reg,) = mobile.registrations
    assert reg.home_address == IPv6Interface("2001:db8:1::100/64")
    assert reg.home_agent == HA and reg.mobile_router and reg.lifetime == 60
    assert reg.mobile_network_prefixes == (IPv6Network("2001:db8:100:1::/64"),)
    assert mobile.interface_preference == (("eth0", 1), ("wlan0", 2))


def test_mobile_config_with_home_agent_discovery() -> None:
    text = MN_CONF.replace("HomeAgentAddress 2001:db8:1::1;", "HomeAgentAddress ::;")
    mobile = mobile_config(parse(text + "MnMaxHaConsecutiveResends 3;\n"
                                 "MnResetDhaadAtHome enabled;\n", "mn.conf"))
    (reg,) = mobile.registrations
    assert reg.discover_home_agent and reg.home_agent == IPv6Address("::")
    assert (mobile.settings.ha_resends, mobile.settings.rediscover_at_home) == (3, True)


MCOA_CONF = """\
NodeConfig MN;
Interface "eth1" { MnIfPreference 1; Bid 1; BidPriority 10; }
Interface "eth2" { MnIfPreference 2; Bid 2; BidPriority 20; }
Interface "wlan0" { MnIfPreference 3; }
Interface "eth3" { IfType CN; Bid 3; }
UseMnHaIPsec disabled;
MnHomeLink "eth0" {
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::1234/64 (2001:db8:2::/64);
    IsMobRtr enabled;
    RegMultipleCoA enabled;
    FlowBinding 1 {
        FlowPriority 10;
        BindingIds 1 2;
        Protocol 17;
        DestinationPort 5001;
    }
    FlowBinding 2 {
        FlowPriority 20;
        BindingIds 2 1;
        Protocol 17;
        DestinationPort 5002 5003;
    }
    FlowBinding 3 {
        FlowPriority 30;
        BindingIds 2;
        Protocol 6;
        SourcePort 80;
        SourceAddress 2001:db8:9::/48;
        DestinationAddress 2001:db8:2::/64;
    }
    FlowBinding 4 {
        FlowPriority 40;
        BindingIds 1;
    }
}
"""


def test_mobile_config_with_multiple_care_of_addresses_and_flows() -> None:
    mobile = mobile_config(parse(MCOA_CONF, "mn.conf"))
    (reg,) = mobile.registrations
    assert reg.multiple_care_of and reg.mobile_router
    assert reg.flows == (
        FlowPolicy(1, 10, (1, 2), TrafficSelector6(destination_port=(5001, 5001),
                                                   next_header=(17, 17))),
        FlowPolicy(2, 20, (2, 1), TrafficSelector6(destination_port=(5002, 5003),
                                                   next_header=(17, 17))),
        FlowPolicy(3, 30, (2,), TrafficSelector6(
            source_address=(IPv6Address("2001:db8:9::"),
                            IPv6Address("2001:db8:9:ffff:ffff:ffff:ffff:ffff")),
            destination_address=(IPv6Address("2001:db8:2::"),
                                 IPv6Address("2001:db8:2::ffff:ffff:ffff:ffff")),
            source_port=(80, 80), next_header=(6, 6),
        )),
        FlowPolicy(4, 40, (1,), None),
    )
    # Only the interfaces the node moves with (eth3 is IfType CN), only those with a Bid.
    assert mobile.binding_ids == (("eth1", 1, 10), ("eth2", 2, 20))
    assert mobile.interface_preference == (("eth1", 1), ("eth2", 2), ("wlan0", 3))


def test_mobile_config_without_multiple_care_of_addresses() -> None:
    mobile = mobile_config(parse(MN_CONF.replace('MnIfPreference 2;', "Bid 7;"), "mn.conf"))
    (reg,) = mobile.registrations
    assert not reg.multiple_care_of and reg.flows == ()
    assert mobile.binding_ids == (("wlan0", 7, 0),)  # BID-PRI 0: none given


def test_flow_selector_of_a_single_address() -> None:
    flow = FlowBindingPolicy(fid=1, priority=1, bids=(1,),
                             destination_address=IPv6Network("2001:db8:1::1234/128"))
    home = IPv6Address("2001:db8:1::1234")
    assert flow_selector(flow) == TrafficSelector6(destination_address=(home, home))
    assert flow_selector(FlowBindingPolicy(fid=1, priority=1, bids=(1,))) is None


def _change(address: str, added: bool = True, flags: int = 0, ifname: str = "eth0",
            scope: int = 0) -> AddressChange:
    return AddressChange(added, ifname, IPv6Interface(address), flags, scope)


def test_movement_events() -> None:
    mobile = mobile_config(parse(MN_CONF, "mn.conf"))
    watched = ("eth0", "wlan0")
    home = IPv6Network("2001:db8:1::/64")
    assert movement_events(_change("2001:db8:a::5/64"), mobile, watched) == (
        CareOfAddressAvailable(COA, "eth0"),
    )
    assert movement_events(_change("2001:db8:a::5/64", added=False), mobile, watched) == (
        CareOfAddressGone(COA),
    )
    assert movement_events(_change("2001:db8:1::77/64"), mobile, watched) == (
        HomeLinkDetected("eth0", home),
    )
    assert movement_events(_change("2001:db8:1::77/64", added=False), mobile, watched) == (
        HomeLinkLost("eth0", home),
    )
    ignored = [
        _change("2001:db8:a::5/64", flags=IFA_F_TENTATIVE),  # DAD not done
        _change("fe80::5/64", scope=253),  # link-local
        _change("2001:db8:1::100/64", flags=0x10),  # our own home address
        _change("2001:db8:a::5/64", ifname="mip6mn0"),  # the tunnel
        _change("2001:db8:a::5/64", ifname="eth1"),  # not a movement interface
    ]
    for change in ignored:
        assert movement_events(change, mobile, watched) == (), change


def test_binding_update_with_home_address_option_is_encoded_over_the_home_address() -> None:
    bu = mh.BindingUpdate(7, 15, mh.BUFlag.A | mh.BUFlag.H)
    packet, ancillary, destination = encode_send(
        SendMessage(bu, COA, HA, home_address_option=HOA)
    )
    assert destination == HA
    assert packet == mh.encode(bu, HOA, HA)
    assert (socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, exthdr.home_address_option(HOA)) in ancillary
    assert (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, COA.packed + bytes(4)) in ancillary


def test_binding_ack_with_routing_header_goes_to_the_home_address() -> None:
    ba = mh.BindingAck(mh.BAStatus.ACCEPTED, 7, 15)
    packet, ancillary, destination = encode_send(SendMessage(ba, HA, COA, routing_header=HOA))
    assert destination == HOA  # RFC 3542: the header lists the hop, the care-of address
    assert packet == mh.encode(ba, HA, HOA)
    assert (socket.IPPROTO_IPV6, socket.IPV6_RTHDR, exthdr.type2_routing_header(COA)) in ancillary


def test_received_binding_update_has_the_wire_addresses_again() -> None:
    """The kernel swapped the Home Address option in: it reports the home address as
    the peer and the care-of address in the option; the socket swaps them back."""
    bu = mh.BindingUpdate(7, 15, mh.BUFlag.A | mh.BUFlag.H)
    ancillary = [
        (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, HA.packed + bytes(4)),
        (socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, exthdr.home_address_option(COA)),
    ]
    received = parse_received(mh.encode(bu, HOA, HA), HOA, ancillary)
    assert received == Received(bu, COA, HA, home_address=HOA)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", bytes(16), mh.encode(mh.BindingUpdate(1, 1), COA, HA)],
    ids=["empty", "short", "zeros", "checksum-over-care-of"],
)
def test_malformed_packets_raise_one_exception(data: bytes) -> None:
    ancillary = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, HA.packed + bytes(4))]
    with pytest.raises(MalformedPacket):
        parse_received(data, HOA, ancillary)


def test_xfrm_commands() -> None:
    any_ = IPv6Address("::")
    assert xfrm_state_argv(AddXfrmState(XfrmRoProto.HAO, any_, HA, any_)) == [
        "ip", "xfrm", "state", "add", "src", "::", "dst", str(HA), "proto", "hao", "spi", "0",
        "mode", "ro", "coa", "::", "flag", "wildrecv",
    ]
    assert xfrm_state_argv(RemoveXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA)) == [
        "ip", "xfrm", "state", "delete", "src", str(HA), "dst", str(HOA), "proto", "route2",
        "spi", "0",
    ]
    assert xfrm_policy_argv(RO_POLICIES[NodeRole.HA]) == [
        "ip", "xfrm", "policy", "update", "dir", "in", "src", "::/0", "dst", "::/0", "proto",
        "135", "type", "5", "priority", "1000", "tmpl", "proto", "hao", "mode", "ro",
        "level", "use",
    ]
    assert xfrm_policy_argv(inverse(RO_POLICIES[NodeRole.MN])) == [
        "ip", "xfrm", "policy", "delete", "dir", "in", "src", "::/0", "dst", "::/0", "proto",
        "135", "type", "6",
    ]
    # A binding's direct traffic: any protocol, and only its own state's transform.
    direct = direct_policy(HOA, HA, XfrmRoProto.HAO)
    assert xfrm_policy_argv(direct) == [
        "ip", "xfrm", "policy", "update", "dir", "in", "src", f"{HOA}/128", "dst", f"{HA}/128",
        "priority", "2000", "tmpl", "src", str(HOA), "dst", str(HA), "proto", "hao",
        "mode", "ro", "level", "use",
    ]
    assert xfrm_policy_argv(inverse(direct)) == [
        "ip", "xfrm", "policy", "delete", "dir", "in", "src", f"{HOA}/128", "dst", f"{HA}/128",
    ]


def test_kernel_adapter_is_idempotent_and_cleans_up_what_it_created() -> None:
    ipr = FakeIPRoute()
    commands: list[list[str]] = []
    kernel = Kernel(ipr, runner=lambda argv, tolerate: commands.append(list(argv)) or "")
    tunnel = AddTunnel("mip6t0", HA, COA)
    kernel.apply(tunnel)
    kernel.apply(tunnel)  # replace: the existing link is changed, not added twice
    assert [c[1] for c in ipr.calls if c[0] == "link"] == ["add", "set", "set", "set"]
    assert ipr.calls[0][2]["ip6tnl_proto"] == 41  # ip6ip6
    new_coa = IPv6Address("2001:db8:b::5")
    kernel.apply(ChangeTunnel("mip6t0", HA, new_coa, HA, COA))
    kernel.apply(AddAddress(IPv6Interface(HOA), "lo", home_address=True, nodad=True))
    assert ipr.calls[-1][2]["flags"] == 0x12  # IFA_F_HOMEADDRESS | IFA_F_NODAD
    kernel.apply(AddXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA))
    assert kernel.installed == [
        AddTunnel("mip6t0", HA, new_coa),
        AddAddress(IPv6Interface(HOA), "lo", home_address=True, nodad=True),
        AddXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA),
    ]
    kernel.apply(RemoveTunnel("mip6t0", HA, new_coa))
    kernel.apply(RemoveTunnel("mip6t0", HA, new_coa))  # already gone: fine
    kernel.cleanup()
    assert commands[-1][:4] == ["ip", "xfrm", "state", "delete"]
    assert kernel.installed == []


def test_a_run_of_xfrm_changes_is_one_batch_that_stops_at_the_first_refusal() -> None:
    """Kernel.apply_all hands a run of XFRM effects to one batch (one ``ip`` process),
    other effects one by one between runs; a refusal stops the list there, the effects
    before it recorded; apply_each goes on past it and names each refusal's effect."""
    batches: list[list[str]] = []
    refuse: set[str] = set()

    def batch(commands: Sequence[Command]) -> None:
        batches.append([" ".join(argv[3:5]) for argv, _tolerate in commands])
        for index, (argv, _tolerate) in enumerate(commands):
            if " ".join(argv) in refuse:
                raise BatchError(index, CommandError(" ".join(argv), 2, "RTNETLINK answers"))

    kernel = Kernel(FakeIPRoute())
    kernel.batch = batch
    route2 = AddXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA)
    hao = AddXfrmState(XfrmRoProto.HAO, HOA, HA, COA)
    direct = direct_policy(HOA, HA, XfrmRoProto.HAO)
    tunnel = AddTunnel("mip6t0", HA, COA)
    kernel.apply_all((route2, hao, tunnel, direct))
    assert batches == [["add src", "add src"], ["update dir"]]
    assert kernel.installed == [route2, hao, tunnel, direct]

    kernel.cleanup()
    batches.clear()
    refuse.add(" ".join(xfrm_state_argv(hao)))
    with pytest.raises(KernelError) as refused:
        kernel.apply_all((route2, hao, direct))
    assert refused.value.effect == hao and "RTNETLINK answers" in str(refused.value)
    assert kernel.installed == [route2] and batches == [["add src", "add src", "update dir"]]
    errors = kernel.apply_each((route2, hao, direct))
    assert [e.effect for e in errors] == [hao]
    assert kernel.installed == [route2, direct]


def test_an_sa_left_with_the_same_spi_is_replaced_and_the_batch_goes_on() -> None:
    """``ip xfrm state add`` refuses an SA whose SPI is taken (a crashed daemon's, other
    keys perhaps): then, and only then, the old one is removed first, and the rest of the
    batch follows; a refusal that stays is the effect's."""
    key = StaticKey(direction=SaDirection.MN_TO_HA, spi=0x1011, reqid=11,
                    encryption=KeyedAlgorithm(name="aes-cbc", key=bytes(16)))
    sa = AddEspSa(HOA, HA, key.spi, key.reqid, key)
    taken = {" ".join(esp_sa_argv(sa))}
    batches: list[list[str]] = []

    def batch(commands: Sequence[Command]) -> None:
        batches.append([" ".join(argv[3:4]) for argv, _tolerate in commands])
        for index, (argv, _tolerate) in enumerate(commands):
            line = " ".join(argv)
            if argv[3] == "delete":
                taken.clear()
            elif line in taken:
                raise BatchError(index, CommandError(line, 2, "RTNETLINK answers: File exists"))

    kernel = Kernel(FakeIPRoute())
    kernel.batch = batch
    route2 = AddXfrmState(XfrmRoProto.ROUTE2, HA, HOA, COA)
    kernel.apply_all((route2, sa, direct_policy(HOA, HA, XfrmRoProto.HAO)))
    assert batches == [["add", "add", "update"], ["delete", "add", "update"]]
    assert len(kernel.installed) == 3
    batches.clear()
    kernel.apply(sa)  # free: one add
    assert batches == [["add"]]

    def refusing(commands: Sequence[Command]) -> None:
        argv = commands[0][0]
        raise BatchError(0, CommandError(" ".join(argv), 2, "RTNETLINK answers: File exists"))

    kernel.batch = refusing
    with pytest.raises(KernelError) as refused:  # still there after its removal
        kernel.apply(sa)
    assert refused.value.effect == sa


def test_the_null_algorithm_has_an_empty_key() -> None:
    """RFC 2410's null encryption takes no key: an empty word (``""`` in ip's batch)."""
    key = StaticKey(direction=SaDirection.MN_TO_HA, spi=0x1011, reqid=11,
                    encryption=KeyedAlgorithm(name="null", key=b""),
                    authentication=KeyedAlgorithm(name="hmac-sha256", key=bytes(32)))
    argv = esp_sa_argv(AddEspSa(HOA, HA, key.spi, key.reqid, key))
    assert argv[-7:] == ["enc", "ecb(cipher_null)", "", "auth-trunc", "hmac(sha256)",
                         "0x" + "00" * 32, "128"]


@pytest.mark.parametrize(("before", "after", "raised"), [
    ("1\n", "2\n", True),   # the kernel handled RAs: keep it doing so while forwarding
    ("0\n", "0\n", False),  # systemd-networkd's own RA client (or the admin) owns the link
    ("2\n", "2\n", False),
])
def test_accept_ra_is_raised_only_where_the_kernel_handled_router_advertisements(
        tmp_path: Path, before: str, after: str, raised: bool) -> None:
    conf = tmp_path / "net/ipv6/conf/eth0"
    conf.mkdir(parents=True)
    (conf / "accept_ra").write_text(before)
    kernel = Kernel(FakeIPRoute(), runner=lambda argv, tolerate: "", proc_sys=tmp_path)
    assert kernel.keep_accepting_ra("eth0") is raised
    assert (conf / "accept_ra").read_text() == after
    assert kernel.keep_accepting_ra("wlan0") is False  # no such link (yet)


def test_a_departed_routers_default_route_goes_and_a_missing_one_is_fine() -> None:
    ipr = FakeIPRoute(("lo", "eth0"))
    ipr.routes[("::", 0, 254)] = "eth0"
    logged: list[tuple[str, str]] = []
    kernel = Kernel(ipr, runner=lambda argv, tolerate: "",
                    log=lambda level, event, **fields: logged.append((level, event)))
    router = IPv6Address("fe80::1")
    kernel.forget_default_router("eth0", router)
    # Only the route router advertisements gave (proto ra), via that router.
    assert ipr.calls[-1] == ("route", "del", {
        "dst": "::", "dst_len": 0, "table": 254, "oif": 2, "gateway": "fe80::1",
        "proto": 9, "family": socket.AF_INET6})
    assert ipr.routes == {} and logged == [("info", "router-forgotten")]
    kernel.forget_default_router("eth0", router)  # already gone (ESRCH): quiet
    kernel.forget_default_router("wlan0", router)  # no such link: nothing asked
    assert logged == [("info", "router-forgotten")] and len(ipr.calls) == 2
    ipr.fail[("route", "del")] = 1  # EPERM: said, never raised
    kernel.forget_default_router("eth0", router)
    assert logged[-1] == ("warning", "router-forget-failed")
