"""Keying per IPsecPolicySet: one home agent with ``KeyMngMobCapability enabled`` serves a
node keyed by IKEv2 (a set without StaticKey: policies only, K flag, MIGRATE) and one with
static keys (its SAs installed by mip6d, no K flag, no MIGRATE) at once, as in the 2007
demonstration (issue #12). The same with the real kernel and charon:
``tests/lab/test_mip6d_mixed_keying.py``."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path

import pytest
from mip6d.config import NodeRole, SaDirection, parse
from mip6d.core.effects import AddEspSa, AddXfrmPolicy, MigrateKeying, SendMessage, XfrmDirection
from mip6d.core.homeagent import HomeAgent
from mip6d.core.ipsec import (
    IPV6_IN_IPV6,
    MH_PROTOCOL,
    POLICY_PRIORITY,
    RO_POLICIES,
    Keying,
    migrate_requests,
)
from mip6d.shell.adapters import home_agent_policy, mobile_config
from mip6d.wire import mh
from mip6d.wire.xfrm import XFRM_MSG_MIGRATE

from testkit.mip6d_fakes import Rig, binding_update_from, rig

pytestmark = pytest.mark.unit

HA = IPv6Address("2001:db8:1::1")
IKE_HOA = IPv6Address("2001:db8:1::10")  # router 1 of the demonstration: IKEv2
STATIC_HOA = IPv6Address("2001:db8:1::20")  # router 2: static keys
COA1, COA2, COA3 = (IPv6Address(f"2001:db8:{n}::5") for n in ("a", "b", "c"))
KEY = "0x" + "22" * 20  # aes-gcm: 128-bit key and 32-bit salt
AHK = mh.BUFlag.A | mh.BUFlag.H | mh.BUFlag.K

MIXED = f"""\
NodeConfig HA;
Interface "eth0";
UseMnHaIPsec enabled;
KeyMngMobCapability enabled;
DefaultBindingAclPolicy deny;
BindingAclPolicy {IKE_HOA} allow;
BindingAclPolicy {STATIC_HOA} allow;
IPsecPolicySet {{
    HomeAgentAddress {HA};
    HomeAddress {IKE_HOA}/64;
    IPsecPolicy Mh UseESP 11;
    IPsecPolicy TunnelPayload UseESP 13;
}}
IPsecPolicySet {{
    HomeAgentAddress {HA};
    HomeAddress {STATIC_HOA}/64;
    IPsecPolicy Mh UseESP 21 22;
    IPsecPolicy TunnelPayload UseESP 23 24;
    StaticKey MnToHa 0x2001 21 {{ Encryption aes-gcm {KEY}; }}
    StaticKey HaToMn 0x2002 22 {{ Encryption aes-gcm {KEY}; }}
    StaticKey MnToHa 0x2003 23 {{ Encryption aes-gcm {KEY}; }}
    StaticKey HaToMn 0x2004 24 {{ Encryption aes-gcm {KEY}; }}
}}
"""


def _policy(direction: XfrmDirection, src: IPv6Address, dst: IPv6Address, proto: int,
            mh_type: mh.MHType | None, reqid: int) -> AddXfrmPolicy:
    ro = {mh.MHType.BU: RO_POLICIES[NodeRole.HA].ro, mh.MHType.BA: None, None: None}[mh_type]
    return AddXfrmPolicy(direction, IPv6Network(src), IPv6Network(dst), proto,
                         None if mh_type is None else int(mh_type), POLICY_PRIORITY, reqid, ro)


def test_a_mixed_home_agent_is_accepted_without_warnings() -> None:
    config = parse(MIXED, "ha.conf")
    assert config.warnings == ()
    assert [bool(s.static_keys) for s in config.ipsec_policy_sets] == [False, True]


def test_static_sas_for_the_static_node_policies_only_for_the_ike_one() -> None:
    config = parse(MIXED, "ha.conf")
    keying = Keying.of(config)
    assert keying.static.static_keyed == {STATIC_HOA}
    keys = {(k.direction, k.reqid): k for k in config.ipsec_policy_sets[1].static_keys}
    up, down = SaDirection.MN_TO_HA, SaDirection.HA_TO_MN
    assert keying.desired_state(NodeRole.HA, [(IKE_HOA, COA1), (STATIC_HOA, COA2)]) == (
        RO_POLICIES[NodeRole.HA],
        # Mobility Header: the static node's SAs, then both nodes' policies
        AddEspSa(STATIC_HOA, HA, 0x2001, 21, keys[up, 21]),
        AddEspSa(HA, STATIC_HOA, 0x2002, 22, keys[down, 22]),
        _policy(XfrmDirection.IN, IKE_HOA, HA, MH_PROTOCOL, mh.MHType.BU, 11),
        _policy(XfrmDirection.OUT, HA, IKE_HOA, MH_PROTOCOL, mh.MHType.BA, 11),
        _policy(XfrmDirection.IN, STATIC_HOA, HA, MH_PROTOCOL, mh.MHType.BU, 21),
        _policy(XfrmDirection.OUT, HA, STATIC_HOA, MH_PROTOCOL, mh.MHType.BA, 22),
        # the tunnels: the IKE node's policies (charon keys them), the static node's SAs too
        _policy(XfrmDirection.OUT, HA, COA1, IPV6_IN_IPV6, None, 13),
        _policy(XfrmDirection.IN, COA1, HA, IPV6_IN_IPV6, None, 13),
        AddEspSa(HA, COA2, 0x2004, 24, keys[down, 24]),
        AddEspSa(COA2, HA, 0x2003, 23, keys[up, 23]),
        _policy(XfrmDirection.OUT, HA, COA2, IPV6_IN_IPV6, None, 24),
        _policy(XfrmDirection.IN, COA2, HA, IPV6_IN_IPV6, None, 23),
    )


def test_k_flag_and_migrate_only_for_the_ike_node() -> None:
    config = parse(MIXED, "ha.conf")
    policy = home_agent_policy(config, {"eth0": [IPv6Interface(f"{HA}/64")]}, False)
    agent = HomeAgent(policy)

    def register(home: IPv6Address, sequence: int, care_of: IPv6Address
                 ) -> tuple[mh.BAFlag, list[MigrateKeying]]:
        outcome = agent.handle_binding_update(mh.BindingUpdate(sequence, 100, AHK), care_of,
                                              HA, home, care_of, 1000.0 + sequence, True)
        assert outcome.ack is not None and outcome.ack.status is mh.BAStatus.ACCEPTED
        return outcome.ack.flags, [e for e in outcome.effects if isinstance(e, MigrateKeying)]

    assert register(IKE_HOA, 1, COA1) == (mh.BAFlag.K, [])
    assert register(STATIC_HOA, 1, COA2) == (mh.BAFlag(0), [])
    assert register(IKE_HOA, 2, COA3) == (mh.BAFlag.K, [MigrateKeying(IKE_HOA, HA, COA1, COA3)])
    assert register(STATIC_HOA, 2, COA1) == (mh.BAFlag(0), [])
    keying = Keying.of(config)
    static_move = MigrateKeying(STATIC_HOA, HA, COA2, COA1)  # never asked for; still none
    assert migrate_requests(keying.static, keying.tunnels, NodeRole.HA, static_move) == ()


STATIC_MN = f"""\
NodeConfig MN;
Interface "eth0";
UseMnHaIPsec enabled;
KeyMngMobCapability enabled;
MnHomeLink "eth0" {{
    HomeAgentAddress {HA};
    HomeAddress {STATIC_HOA}/64;
}}
IPsecPolicySet {{
    HomeAgentAddress {HA};
    HomeAddress {STATIC_HOA}/64;
    IPsecPolicy Mh UseESP 21 22;
    StaticKey MnToHa 0x2001 21 {{ Encryption aes-gcm {KEY}; }}
    StaticKey HaToMn 0x2002 22 {{ Encryption aes-gcm {KEY}; }}
}}
"""


def test_a_statically_keyed_mobile_node_does_not_ask_for_k() -> None:
    (registration,) = mobile_config(parse(STATIC_MN, "mn.conf")).registrations
    assert registration.protected and not registration.key_management
    dynamic = STATIC_MN.replace("21 22;", "21;").split("    StaticKey")[0] + "}\n"
    (registration,) = mobile_config(parse(dynamic, "mn.conf")).registrations
    assert registration.protected and registration.key_management


# -- in process: the daemon on the fakes ------------------------------------------------


def migrate_recorder(r: Rig) -> list[bytes]:
    """The XFRM_MSG_MIGRATE messages the daemon sends, each acknowledged."""
    sent: list[bytes] = []

    def transport(message: bytes) -> bytes:
        sent.append(message)
        sequence = struct.unpack_from("=I", message, 8)[0]
        return struct.pack("=IHHIIi", 36, 2, 0, sequence, 0, 0) + message[:16]

    r.daemon.kernel.xfrm_transport = transport
    return sent


def xfrm_lines(r: Rig, start: int = 0) -> list[str]:
    return [" ".join(line) for line in r.runner.lines[start:]]


def added_spis(lines: list[str]) -> list[str]:
    return [line.split(" spi ")[1].split()[0] for line in lines
            if line.startswith("ip xfrm state add") and "proto esp" in line]


def turn(r: Rig, *bus: tuple[IPv6Address, IPv6Address, int]) -> None:
    """Binding Updates (home address, care-of address, sequence), all with K, and the
    IPsec reconcile that ends each turn of the daemon's loop."""
    r.receive(*(binding_update_from(mh.BindingUpdate(sequence, 25, AHK), home, care_of, HA)
                for home, care_of, sequence in bus))
    r.daemon.sync_ipsec()


def ack(home: IPv6Address, care_of: IPv6Address, sequence: int, flags: mh.BAFlag
        ) -> SendMessage:
    return SendMessage(mh.BindingAck(mh.BAStatus.ACCEPTED, sequence, 25, flags), HA, care_of,
                       routing_header=home)


def test_one_home_agent_serves_an_ike_node_and_a_static_node(tmp_path: Path) -> None:
    r = rig(tmp_path, MIXED + "HaMaxBindingLife 100;\n", [("eth0", f"{HA}/64")])
    migrates = migrate_recorder(r)
    r.daemon.start()
    started = xfrm_lines(r)
    assert added_spis(started) == ["0x2001", "0x2002"]  # the static node's, none else
    policies = [line for line in started if line.startswith("ip xfrm policy")]
    assert sum("reqid 11 " in line for line in policies) == 2  # BU in, BA out: charon's SAs
    assert sum("reqid 21 " in line or "reqid 22 " in line for line in policies) == 2

    # Both register, both with K in their Binding Update; K comes back to the IKE node only.
    turn(r, (IKE_HOA, COA1, 1), (STATIC_HOA, COA2, 1))
    assert r.mh.sent == [ack(IKE_HOA, COA1, 1, mh.BAFlag.K),
                         ack(STATIC_HOA, COA2, 1, mh.BAFlag(0))]
    tunnels = xfrm_lines(r, len(started))
    # the static node's tunnel SAs; charon keys the IKE node's
    assert added_spis(tunnels) == ["0x2004", "0x2003"]
    assert sum("proto 41" in line and "reqid 13" in line for line in tunnels) == 2

    # Both move: MIGRATE for the IKE node's Mobility Header and tunnel policies only; the
    # static node's tunnel SAs are installed again for its new care-of address.
    before = len(r.runner.lines)
    turn(r, (IKE_HOA, COA3, 2), (STATIC_HOA, COA1, 2))
    assert r.mh.sent[2:] == [ack(IKE_HOA, COA3, 2, mh.BAFlag.K),
                             ack(STATIC_HOA, COA1, 2, mh.BAFlag(0))]
    assert [struct.unpack_from("=H", m, 4)[0] for m in migrates] == [XFRM_MSG_MIGRATE] * 2
    assert all(IKE_HOA.packed in m or COA1.packed in m for m in migrates)
    assert not any(STATIC_HOA.packed in m for m in migrates)
    moved = xfrm_lines(r, before)
    assert added_spis(moved) == ["0x2004", "0x2003"]
    assert any(f"state add src {COA1} dst {HA} proto esp spi 0x2003" in line for line in moved)
    assert sum("proto 41" in line and "reqid 13" in line and str(COA3) in line
               for line in moved) == 2
