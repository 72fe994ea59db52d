"""Static IPsec protection of Binding Updates and Acknowledgements (RFC 3776).

Pure: from the configuration's ``IPsecPolicySet`` blocks and their ``StaticKey``s to the
ESP security associations and the XFRM policies the kernel needs, and to the ``ip xfrm``
command lines that install and remove them. Measured in the kernel lab:

* The Binding Update travels as IPv6 (care-of address) | Destination Options (Home
  Address option) | ESP | MH (RFC 3776 section 3.1). On the mobile node the kernel builds
  it: the socket sends from the home address, the out policy's templates are ESP in
  transport mode and then ``hao`` in route-optimisation mode, whose state carries the
  care-of address (:func:`mobile_hao_state_argv`, changed on every movement).
* The home agent's kernel swaps the Home Address option in (wildcard ``hao`` state),
  then checks ESP; its in policy for that home address requires ESP with the node's
  reqid, so a Binding Update without it never reaches the daemon (the kernel counts
  XfrmInTmplMismatch). That is how "a BU that policy says must be protected and is not,
  is not accepted": the daemon may treat every Binding Update it receives from such a
  home address as protected.
* The Binding Acknowledgement goes back as IPv6 | type 2 routing header | ESP | MH: the
  type 2 routing header comes from the socket's ancillary data, ESP from the home
  agent's out policy for the home address; the mobile node's in policy wants ESP and
  then ``route2``.

Payload protection (``IPsecPolicy TunnelPayload``, RFC 3776 section 4.4: everything the
mobile node and the home agent tunnel to each other goes under ESP) is
:func:`tunnel_commands`. On the wire RFC 3776's tunnel-mode ESP is outer IPv6 (care-of
address <-> home agent) | ESP | inner IPv6 packet. The kernel's ip6ip6 device already
builds outer IPv6 | inner IPv6 and runs its output through XFRM (``ip6_tnl_xmit``), so a
transport-mode ESP SA on that outer packet (selector: care-of address <-> home agent,
protocol 41) puts exactly that on the wire, while routes, the binding's tunnel device
and its in-place handover stay as they are. An IPsec tunnel-mode SA instead would
replace the device, and its policy (inner addresses: any <-> home address) would also
catch the home address's traffic on the home link. The SAs name the care-of address,
so they follow it: the daemon replaces them when the registered care-of address
changes, on both ends. ``TunnelMh`` and ``TunnelHomeTesting`` (only some tunnelled
messages) cannot be told apart on the outer packet and are not installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv6Address

from mip6d.config.model import (
    AlgorithmKind,
    Config,
    IPsecPolicySet,
    IPsecPolicyType,
    NodeRole,
    SaDirection,
    StaticKey,
)
from mip6d.core.effects import MigrateKeying
from mip6d.wire.mh import MHType
from mip6d.wire.xfrm import KmAddress, MigrateEntry, PolicyDir, migrate_message

__all__ = [
    "MH_PROTOCOL",
    "POLICY_PRIORITY",
    "Direction",
    "EspSa",
    "MhPolicy",
    "MigrateRequest",
    "StaticIPsec",
    "TunnelKeys",
    "migrate_requests",
    "mobile_hao_state_argv",
    "policy_argv",
    "sa_argv",
    "static_ipsec",
    "tunnel_commands",
    "tunnel_keys",
]

MH_PROTOCOL = 135
IPV6_IN_IPV6 = 41
# Below the wildcard Home Address option policy's priority (a lower number wins), so that
# a protected home address meets its own policy first.
POLICY_PRIORITY = 100
# The policy types whose traffic is the Binding Update and Acknowledgement.
_BINDING_TYPES = (IPsecPolicyType.HOME_REG_BINDING, IPsecPolicyType.MH)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True)
class EspSa:
    """One manually keyed ESP security association, transport mode."""

    src: IPv6Address
    dst: IPv6Address
    spi: int
    reqid: int
    key: StaticKey


@dataclass(frozen=True)
class MhPolicy:
    """An XFRM policy for one Mobility Header type between two addresses: ESP with
    ``reqid`` required, then (``ro``) the route-optimisation header used alongside."""

    direction: Direction
    src: IPv6Address
    dst: IPv6Address
    mh_type: MHType
    reqid: int
    ro: str | None  # "hao", "route2" or None


@dataclass(frozen=True)
class StaticIPsec:
    sas: tuple[EspSa, ...]
    policies: tuple[MhPolicy, ...]

    @property
    def home_addresses(self) -> frozenset[IPv6Address]:
        """Home addresses whose Binding Updates and Acknowledgements ESP protects."""
        return frozenset(
            p.src if p.mh_type is MHType.BU else p.dst for p in self.policies
        )


def _binding_reqids(policy_set: IPsecPolicySet) -> tuple[int, int] | None:
    """(mobile node to home agent, back) reqids of the set's Binding Update policy."""
    for policy in policy_set.policies:
        if policy.type in _BINDING_TYPES and policy.allow:
            return policy.reqid(SaDirection.MN_TO_HA), policy.reqid(SaDirection.HA_TO_MN)
    return None


def _sets(config: Config, role: NodeRole) -> Iterable[tuple[IPsecPolicySet, IPv6Address]]:
    """The policy sets this node installs, with their home address: those with static
    keys, or with ``KeyMngMobCapability`` (dynamic keying) all of them."""
    if not config.use_mn_ha_ipsec:
        return
    own_home_addresses = {link.home_address.ip for link in config.home_links}
    for policy_set in config.ipsec_policy_sets:
        if not policy_set.static_keys and not config.key_mng_mob_capability:
            continue
        for home in policy_set.home_addresses:
            if role is NodeRole.HA or home.ip in own_home_addresses:
                yield policy_set, home.ip


def static_ipsec(config: Config) -> StaticIPsec:
    """The SAs and policies of this node (home agent or mobile node) for ``config``."""
    role = config.node_config
    sas: list[EspSa] = []
    policies: list[MhPolicy] = []
    for policy_set, home in _sets(config, role):
        reqids = _binding_reqids(policy_set)
        if reqids is None:
            continue
        ha = policy_set.home_agent_address
        to_ha, to_mn = reqids
        for key in policy_set.static_keys:
            if key.reqid in reqids:
                src, dst = (home, ha) if key.direction is SaDirection.MN_TO_HA else (ha, home)
                sas.append(EspSa(src, dst, key.spi, key.reqid, key))
        if role is NodeRole.HA:
            policies += [
                MhPolicy(Direction.IN, home, ha, MHType.BU, to_ha, "hao"),
                MhPolicy(Direction.OUT, ha, home, MHType.BA, to_mn, None),
            ]
        else:
            policies += [
                MhPolicy(Direction.OUT, home, ha, MHType.BU, to_ha, "hao"),
                MhPolicy(Direction.IN, ha, home, MHType.BA, to_mn, "route2"),
            ]
    return StaticIPsec(tuple(sas), tuple(policies))


def _algorithms(key: StaticKey) -> list[str]:
    words = []
    for keyed in (key.encryption, key.authentication):
        if keyed is None:
            continue
        algorithm = keyed.algorithm
        hexkey = "0x" + keyed.key.hex() if keyed.key else '""'
        if algorithm.kind is AlgorithmKind.AEAD:
            words += ["aead", algorithm.xfrm_name, hexkey, str(algorithm.icv_bits)]
        elif algorithm.kind is AlgorithmKind.AUTHENTICATION:
            words += ["auth-trunc", algorithm.xfrm_name, hexkey, str(algorithm.icv_bits)]
        else:
            words += ["enc", algorithm.xfrm_name, hexkey]
    return words


def sa_argv(sa: EspSa, add: bool) -> list[str]:
    """``ip xfrm state add|delete`` for one SA. The keys are on this command line; the
    command runner redacts them in what it logs (:func:`mip6d.command.command_line`)."""
    ident = ["src", str(sa.src), "dst", str(sa.dst), "proto", "esp", "spi", hex(sa.spi)]
    if not add:
        return ["ip", "xfrm", "state", "delete", *ident]
    return ["ip", "xfrm", "state", "add", *ident, "reqid", str(sa.reqid), "mode", "transport",
            *_algorithms(sa.key)]


def policy_argv(policy: MhPolicy, add: bool) -> list[str]:
    """``ip xfrm policy update|delete`` for one Mobility Header policy."""
    selector = ["dir", policy.direction.value, "src", f"{policy.src}/128",
                "dst", f"{policy.dst}/128", "proto", str(MH_PROTOCOL),
                "type", str(int(policy.mh_type))]
    if not add:
        return ["ip", "xfrm", "policy", "delete", *selector]
    templates = ["tmpl", "src", str(policy.src), "dst", str(policy.dst), "proto", "esp",
                 "mode", "transport", "reqid", str(policy.reqid), "level", "required"]
    if policy.ro is not None:
        templates += ["tmpl", "proto", policy.ro, "mode", "ro", "level", "use"]
    return ["ip", "xfrm", "policy", "update", *selector,
            "priority", str(POLICY_PRIORITY), *templates]


def mobile_hao_state_argv(home: IPv6Address, ha: IPv6Address, care_of: IPv6Address | None
                          ) -> list[str]:
    """The mobile node's ``hao`` state that makes its kernel send the Binding Update from
    ``care_of`` with a Home Address option; with ``care_of`` None, its removal. (The
    caller removes the old state before adding the new one: ``ip xfrm state update``
    fails when there is none.)"""
    ident = ["src", str(home), "dst", str(ha), "proto", "hao", "spi", "0"]
    if care_of is None:
        return ["ip", "xfrm", "state", "delete", *ident]
    return ["ip", "xfrm", "state", "add", *ident, "mode", "ro", "coa", str(care_of)]


@dataclass(frozen=True)
class TunnelKeys:
    """One home address's ``TunnelPayload`` policy: its reqids and, with static keying,
    its keys (with dynamic keying, ``None``: the keying daemon installs the SAs)."""

    home: IPv6Address
    ha: IPv6Address
    reqid_to_ha: int
    reqid_to_mn: int
    to_ha: StaticKey | None = None
    to_mn: StaticKey | None = None


def tunnel_keys(config: Config) -> dict[IPv6Address, TunnelKeys]:
    """Home address -> its tunnel payload policy, for the sets this node takes part in."""
    out: dict[IPv6Address, TunnelKeys] = {}
    for policy_set, home in _sets(config, config.node_config):
        for policy in policy_set.policies:
            if policy.type is not IPsecPolicyType.TUNNEL_PAYLOAD or not policy.allow:
                continue
            up, down = policy.reqid(SaDirection.MN_TO_HA), policy.reqid(SaDirection.HA_TO_MN)
            ha = policy_set.home_agent_address
            if config.key_mng_mob_capability:
                out[home] = TunnelKeys(home, ha, up, down)
                continue
            keys = {(k.direction, k.reqid): k for k in policy_set.static_keys}
            to_ha = keys.get((SaDirection.MN_TO_HA, up))
            to_mn = keys.get((SaDirection.HA_TO_MN, down))
            if to_ha is not None and to_mn is not None:
                out[home] = TunnelKeys(home, ha, up, down, to_ha, to_mn)
    return out


def _tunnel_policy_argv(direction: Direction, src: IPv6Address, dst: IPv6Address,
                        reqid: int, add: bool) -> list[str]:
    selector = ["dir", direction.value, "src", f"{src}/128", "dst", f"{dst}/128",
                "proto", str(IPV6_IN_IPV6)]
    if not add:
        return ["ip", "xfrm", "policy", "delete", *selector]
    return ["ip", "xfrm", "policy", "update", *selector, "priority", str(POLICY_PRIORITY),
            "tmpl", "src", str(src), "dst", str(dst), "proto", "esp", "mode", "transport",
            "reqid", str(reqid), "level", "required"]


def tunnel_commands(keys: TunnelKeys, care_of: IPv6Address, role: NodeRole
                    ) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """``(add, remove)`` command pairs protecting the tunnel between ``care_of`` and the
    home agent, in install order (SAs, then policies; with dynamic keying the policies
    only, whose first packet makes the kernel ask the keying daemon for the SAs)."""
    up = (care_of, keys.ha, keys.reqid_to_ha)
    down = (keys.ha, care_of, keys.reqid_to_mn)
    out_sa, in_sa = (up, down) if role is NodeRole.MN else (down, up)
    pairs = []
    if keys.to_ha is not None and keys.to_mn is not None:
        up_sa = EspSa(care_of, keys.ha, keys.to_ha.spi, keys.reqid_to_ha, keys.to_ha)
        down_sa = EspSa(keys.ha, care_of, keys.to_mn.spi, keys.reqid_to_mn, keys.to_mn)
        sas = (up_sa, down_sa) if role is NodeRole.MN else (down_sa, up_sa)
        pairs += [(sa_argv(sa, add=True), sa_argv(sa, add=False)) for sa in sas]
    for direction, (src, dst, reqid) in ((Direction.OUT, out_sa), (Direction.IN, in_sa)):
        pairs.append((_tunnel_policy_argv(direction, src, dst, reqid, add=True),
                      _tunnel_policy_argv(direction, src, dst, reqid, add=False)))
    return tuple((tuple(add), tuple(remove)) for add, remove in pairs)


@dataclass(frozen=True)
class MigrateRequest:
    """One XFRM_MSG_MIGRATE: the SAs ``entries`` under the policy ``src`` -> ``dst`` in
    ``direction``, and the keying daemon's new endpoints."""

    src: IPv6Address
    dst: IPv6Address
    direction: PolicyDir
    entries: tuple[MigrateEntry, ...]
    kmaddress: KmAddress

    def message(self, sequence: int) -> bytes:
        return migrate_message(self.src, self.dst, self.direction, self.entries,
                               self.kmaddress, sequence)


def migrate_requests(ipsec: StaticIPsec, tunnels: dict[IPv6Address, TunnelKeys],
                     role: NodeRole, move: MigrateKeying) -> tuple[MigrateRequest, ...]:
    """The XFRM_MSG_MIGRATE messages for ``move`` (RFC 4877 section 6), one per policy,
    each naming its own SAs (strongSwan moves the CHILD_SA of the last entry's reqid):

    * Binding Update/Acknowledgement: transport mode between home address and home
      agent, so old and new addresses are the same; only the KMADDRESS changes, and the
      keying daemon moves its IKE SA to it.
    * Tunnel payload (``TunnelPayload``): the SAs between care-of address and home
      agent move from the old care-of address to the new one.

    The selector is the same on both ends (from the home address, or the care-of
    address, to the home agent): the mobile node's out policy, the home agent's in.
    """
    home, ha = move.home_address, move.home_agent
    direction = PolicyDir.OUT if role is NodeRole.MN else PolicyDir.IN
    kmaddress = (KmAddress(move.new_care_of, ha) if role is NodeRole.MN
                 else KmAddress(ha, move.new_care_of))
    reqids = {p.mh_type: p.reqid for p in ipsec.policies
              if {p.src, p.dst} == {home, ha}}
    out: list[MigrateRequest] = []
    if MHType.BU in reqids and MHType.BA in reqids:
        entries = (MigrateEntry(home, ha, home, ha, reqids[MHType.BU]),
                   MigrateEntry(ha, home, ha, home, reqids[MHType.BA]))
        out.append(MigrateRequest(home, ha, direction, entries, kmaddress))
    keys = tunnels.get(home)
    if keys is not None and keys.ha == ha:
        old, new = move.old_care_of, move.new_care_of
        entries = (MigrateEntry(old, ha, new, ha, keys.reqid_to_ha),
                   MigrateEntry(ha, old, ha, new, keys.reqid_to_mn))
        out.append(MigrateRequest(old, ha, direction, entries, kmaddress))
    return tuple(out)
