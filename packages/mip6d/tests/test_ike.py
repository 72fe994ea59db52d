"""Dynamic keying with an IKE daemon (RFC 4877): the K flag both ways, the MIGRATE the
core asks for on movement, the XFRM_MSG_MIGRATE bytes, the policies without SAs, and the
configuration rules."""

from __future__ import annotations

import errno
import socket
import struct
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest
from mip6d.config import ConfigError, parse
from mip6d.core.bul import AckReceived, BulEntry, CareOfChanged, HomeRegistration, MnSettings, step
from mip6d.core.effects import (
    AddXfrmPolicy,
    ChangeTunnel,
    MigrateKeying,
    SendMessage,
    XfrmDirection,
    XfrmRoProto,
)
from mip6d.core.homeagent import HomeAgent
from mip6d.core.ipsec import (
    SignallingPolicy,
    migrate_requests,
    policy_effect,
    static_ipsec,
    tunnel_effects,
    tunnel_keys,
)
from mip6d.core.policy import HomeAgentPolicy, HomeLink
from mip6d.shell.kernel import Kernel, KernelError, xfrm_policy_argv
from mip6d.wire.errors import DecodeError
from mip6d.wire.mh import BAFlag, BAStatus, BindingAck, BindingUpdate, BUFlag, MHType
from mip6d.wire.xfrm import (
    KmAddress,
    MigrateEntry,
    PolicyDir,
    decode_ack,
    migrate_message,
)

from testkit.mip6d_fakes import FakeIPRoute

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
HOA = IPv6Address("2001:db8:1::10")
COA, COA2 = IPv6Address("2001:db8:2::10"), IPv6Address("2001:db8:3::10")
ANY = IPv6Address("::")  # no old endpoints: the kernel leaves the SAs to charon
S = MnSettings()
KREG = HomeRegistration(IPv6Interface(f"{HOA}/64"), HA, key_management=True)


def _registered(reg: HomeRegistration, ack_flags: BAFlag) -> BulEntry:
    entry, effects = step(BulEntry(reg), CareOfChanged(COA), 0.0, S)
    bu = next(e.msg for e in effects if isinstance(e, SendMessage))
    assert isinstance(bu, BindingUpdate)
    assert (BUFlag.K in bu.flags) == reg.key_management
    ack = BindingAck(BAStatus.ACCEPTED, entry.sequence, 100, ack_flags)
    entry, _ = step(entry, AckReceived(ack), 0.5, S)
    return entry


def test_mobile_node_migrates_before_the_binding_update_when_both_set_k() -> None:
    entry = _registered(KREG, BAFlag.K)
    assert entry.keying_coa == COA
    entry, effects = step(entry, CareOfChanged(COA2), 10.0, S)
    kinds = [type(e) for e in effects]
    assert kinds.index(MigrateKeying) < kinds.index(SendMessage)
    assert effects[kinds.index(MigrateKeying)] == MigrateKeying(HOA, HA, COA, COA2)
    assert entry.keying_coa == COA2
    # A retransmission or refresh from the same care-of address migrates nothing.
    ack = BindingAck(BAStatus.ACCEPTED, entry.sequence, 100, BAFlag.K)
    entry, effects = step(entry, AckReceived(ack), 10.5, S)
    assert entry.keying_coa == COA2 and not any(isinstance(e, MigrateKeying) for e in effects)


def test_no_migrate_when_the_home_agent_did_not_ack_k() -> None:
    """RFC 6275 11.7.3: K in the BU but not in the BA: the IKE SA does not survive
    movement; the keying daemon re-keys from the new address on its own."""
    entry = _registered(KREG, BAFlag(0))
    assert entry.keying_coa is None
    _, effects = step(entry, CareOfChanged(COA2), 10.0, S)
    assert not any(isinstance(e, MigrateKeying) for e in effects)
    assert any(isinstance(e, SendMessage) for e in effects)


def test_no_k_flag_and_no_migrate_without_key_management() -> None:
    entry = _registered(HomeRegistration(IPv6Interface(f"{HOA}/64"), HA), BAFlag.K)
    assert entry.keying_coa is None
    _, effects = step(entry, CareOfChanged(COA2), 10.0, S)
    assert not any(isinstance(e, MigrateKeying) for e in effects)


def _home_agent(capable: bool) -> HomeAgent:
    return HomeAgent(HomeAgentPolicy(
        home_links=(HomeLink("eth0", IPv6Network("2001:db8:1::/64"), HA),),
        duplicate_address_detection=False, key_management_mobility=capable))


def _bu(ha: HomeAgent, sequence: int, care_of: IPv6Address, flags: BUFlag) -> tuple[
        BindingAck | None, tuple[object, ...]]:
    bu = BindingUpdate(sequence, 100, flags, ())
    outcome = ha.handle_binding_update(bu, care_of, HA, HOA, care_of, 1000.0 + sequence, True)
    return outcome.ack, outcome.effects


@pytest.mark.parametrize(("capable", "k", "acked", "migrates"), [
    (True, True, True, True),
    (True, False, False, False),  # K only if the BU had it
    (False, True, False, False),  # and the home agent is capable
])
def test_home_agent_acks_k_and_migrates_only_when_both_have_it(
        capable: bool, k: bool, acked: bool, migrates: bool) -> None:
    ha = _home_agent(capable)
    flags = BUFlag.A | BUFlag.H | (BUFlag.K if k else BUFlag(0))
    ack, effects = _bu(ha, 1, COA, flags)
    assert ack is not None and (BAFlag.K in ack.flags) == acked
    assert not any(isinstance(e, MigrateKeying) for e in effects)  # a first registration
    ack, effects = _bu(ha, 2, COA, flags)  # a refresh: same care-of address
    assert not any(isinstance(e, MigrateKeying) for e in effects)
    ack, effects = _bu(ha, 3, COA2, flags)
    moves = [e for e in effects if isinstance(e, MigrateKeying)]
    assert moves == ([MigrateKeying(HOA, HA, COA, COA2)] if migrates else [])
    if migrates:  # before the tunnel moves (its old policy goes) and the ack leaves
        kinds = [type(e) for e in effects]
        assert kinds.index(MigrateKeying) < kinds.index(ChangeTunnel)
        assert kinds.index(MigrateKeying) < kinds.index(SendMessage)


def test_migrate_message_bytes() -> None:
    entries = (MigrateEntry(HOA, HA, HOA, HA, 11), MigrateEntry(HA, HOA, HA, HOA, 11))
    data = migrate_message(HOA, HA, PolicyDir.OUT, entries, KmAddress(COA2, HA), sequence=7)
    assert len(data) == 16 + 64 + (4 + 2 * 76) + (4 + 40) == 280
    assert struct.unpack_from("=IHHII", data) == (280, 0x21, 0x5, 7, 0)
    # xfrm_userpolicy_id: selector daddr, saddr, ports, family, prefix lengths, proto; dir
    assert data[16:32] == HA.packed and data[32:48] == HOA.packed
    assert data[48:56] == bytes(8)
    # protocol IPSEC_ULPROTO_ANY: the kernel then matches the policy on addresses only
    assert struct.unpack_from("=HBBB", data, 56) == (socket.AF_INET6, 128, 128, 255)
    assert data[76] == 1  # XFRM_POLICY_OUT
    # XFRMA_MIGRATE (17): both entries, each old daddr, old saddr, new daddr, new saddr,
    # proto, mode, reserved, reqid, families
    assert struct.unpack_from("=HH", data, 80) == (156, 17)
    first = data[84:84 + 76]
    assert first[:64] == HA.packed + HOA.packed + HA.packed + HOA.packed
    assert struct.unpack_from("=BBHIHH", first, 64) == (50, 0, 0, 11, 10, 10)
    assert data[160:176] == HOA.packed  # the second entry's old daddr
    # XFRMA_KMADDRESS (19): local, remote, reserved, family, padding
    assert struct.unpack_from("=HH", data, 236) == (44, 19)
    assert data[240:256] == COA2.packed and data[256:272] == HA.packed
    assert struct.unpack_from("=IH2x", data, 272) == (0, socket.AF_INET6)
    with pytest.raises(ValueError, match="at least one"):
        migrate_message(HOA, HA, PolicyDir.OUT, (), None)


def test_decode_ack() -> None:
    def ack(sequence: int, error: int) -> bytes:
        return struct.pack("=IHHIIi", 36, 2, 0, sequence, 0, error) + bytes(16)

    assert decode_ack(ack(3, 0), 3) == 0
    assert decode_ack(ack(3, -errno.ENOENT), 3) == errno.ENOENT
    with pytest.raises(DecodeError, match="sequence 4"):
        decode_ack(ack(4, 0), 3)
    with pytest.raises(DecodeError):
        decode_ack(b"\x01\x02", 3)


DYNAMIC = """\
NodeConfig {node};
Interface "eth0";
UseMnHaIPsec enabled;
KeyMngMobCapability enabled;
{home}
IPsecPolicySet {{
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::10/64;
    IPsecPolicy HomeRegBinding UseESP {binding};
    IPsecPolicy TunnelPayload UseESP 13;
}}
"""
MN_HOME = """MnHomeLink "eth0" {
    HomeAgentAddress 2001:db8:1::1;
    HomeAddress 2001:db8:1::10/64;
}"""


def dynamic(node: str = "MN", binding: str = "11") -> str:
    return DYNAMIC.format(node=node, binding=binding, home=MN_HOME if node == "MN" else "")


def test_dynamic_keying_installs_policies_only_with_the_reqids() -> None:
    mn = parse(dynamic("MN"), "mn.conf")
    ipsec = static_ipsec(mn)
    assert ipsec.sas == ()
    assert ipsec.policies == (
        SignallingPolicy(XfrmDirection.OUT, HOA, HA, MHType.BU, 11, XfrmRoProto.HAO),
        SignallingPolicy(XfrmDirection.IN, HA, HOA, MHType.BA, 11, XfrmRoProto.ROUTE2),
    )
    assert "reqid 11 level required tmpl proto hao mode ro" in " ".join(
        xfrm_policy_argv(policy_effect(ipsec.policies[0])))
    keys = tunnel_keys(mn)
    effects = tunnel_effects(keys[HOA], COA, mn.node_config)
    assert [type(e) for e in effects] == [AddXfrmPolicy] * 2  # no SAs: the IKE daemon's
    assert "reqid 13" in " ".join(xfrm_policy_argv(effects[0]))
    ha = parse(dynamic("HA"), "ha.conf")
    assert static_ipsec(ha).policies[0] == SignallingPolicy(
        XfrmDirection.IN, HOA, HA, MHType.BU, 11, XfrmRoProto.HAO)


def test_migrate_requests_mobile_node_and_home_agent() -> None:
    move = MigrateKeying(HOA, HA, COA, COA2)
    mn = parse(dynamic("MN"), "mn.conf")
    mh, tunnel = migrate_requests(static_ipsec(mn), tunnel_keys(mn), mn.node_config, move)
    assert (mh.src, mh.dst, mh.direction) == (HOA, HA, PolicyDir.OUT)
    assert mh.entries == (MigrateEntry(HOA, HA, HOA, HA, 11), MigrateEntry(HA, HOA, HA, HOA, 11))
    assert mh.kmaddress == KmAddress(COA2, HA)
    assert (tunnel.src, tunnel.dst) == (COA, HA)
    # No old endpoints: the kernel leaves the tunnel's SAs, whose selectors name the
    # care-of address, and charon moves them (selectors too) by the reqid.
    assert tunnel.entries == (MigrateEntry(ANY, ANY, COA2, HA, 13),)
    ha = parse(dynamic("HA"), "ha.conf")
    (mh, tunnel) = migrate_requests(static_ipsec(ha), tunnel_keys(ha), ha.node_config, move)
    assert (mh.src, mh.dst, mh.direction) == (HOA, HA, PolicyDir.IN)
    assert mh.kmaddress == KmAddress(HA, COA2)
    assert (tunnel.src, tunnel.dst, tunnel.direction) == (COA, HA, PolicyDir.IN)
    assert tunnel.entries == (MigrateEntry(ANY, ANY, COA2, HA, 13),)
    assert tunnel.kmaddress == KmAddress(HA, COA2)


@pytest.mark.parametrize("binding", ["11 12", "0"])
def test_dynamic_keying_needs_one_reqid_per_policy(binding: str) -> None:
    with pytest.raises(ConfigError, match=r"mn\.conf:12:5: .*one nonzero reqid"):
        parse(dynamic("MN", binding), "mn.conf")


def test_kernel_sends_migrate_and_reports_refusal() -> None:
    sent: list[bytes] = []
    answer = [0]

    def transport(message: bytes) -> bytes:
        sent.append(message)
        sequence = struct.unpack_from("=I", message, 8)[0]
        return struct.pack("=IHHIIi", 36, 2, 0, sequence, 0, -answer[0]) + message[:16]

    kernel = Kernel(ipr=FakeIPRoute(), runner=lambda argv, tolerate: "",
                    xfrm_transport=transport)
    entries = (MigrateEntry(HOA, HA, HOA, HA, 11),)
    kernel.xfrm_message("migrate", lambda seq: migrate_message(
        HOA, HA, PolicyDir.OUT, entries, KmAddress(COA2, HA), seq))
    assert len(sent) == 1 and struct.unpack_from("=H", sent[0], 4) == (0x21,)
    answer[0] = errno.ENOENT
    with pytest.raises(KernelError, match="migrate: ENOENT"):
        kernel.xfrm_message("migrate", lambda seq: migrate_message(
            HOA, HA, PolicyDir.OUT, entries, None, seq))
