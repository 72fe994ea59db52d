"""Static IPsec protection of Binding Updates and Acknowledgements, and of Mobile Prefix
Solicitations and Advertisements (RFC 3776).

Pure: from the configuration's ``IPsecPolicySet`` blocks and their ``StaticKey``s to the
ESP security associations and the XFRM policies the kernel needs, declared as effects
(:class:`Keying`'s ``desired_state``, which the shell reconciles with what it installed;
the ``ip xfrm`` command lines are the kernel adapter's). Measured in the kernel lab:

* The Binding Update travels as IPv6 (care-of address) | Destination Options (Home
  Address option) | ESP | MH (RFC 3776 section 3.1). On the mobile node the kernel builds
  it: the socket sends from the home address, the out policy's templates are ESP in
  transport mode and then ``hao`` in route-optimisation mode, whose state carries the
  care-of address (declared by :func:`mip6d.core.bul.desired_state` for a protected
  registration, changed on every movement).
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
* Mobile Prefix Solicitations and Advertisements (ICMPv6 types 146 and 147, ``IPsecPolicy
  MobPfxDisc``) travel the same ways, under the same kind of policies (:data:`SIGNALLING`).

Payload protection (``IPsecPolicy TunnelPayload``, RFC 3776 section 4.4: everything the
mobile node and the home agent tunnel to each other goes under ESP) is
:func:`tunnel_effects`. On the wire RFC 3776's tunnel-mode ESP is outer IPv6 (care-of
address <-> home agent) | ESP | inner IPv6 packet. The kernel's ip6ip6 device already
builds outer IPv6 | inner IPv6 and runs its output through XFRM (``ip6_tnl_xmit``), so a
transport-mode ESP SA on that outer packet (selector: care-of address <-> home agent,
protocol 41) puts exactly that on the wire, while routes, the binding's tunnel device
and its in-place handover stay as they are. An IPsec tunnel-mode SA instead would
replace the device, and its policy (inner addresses: any <-> home address) would also
catch the home address's traffic on the home link. The SAs name the care-of address,
so they follow it: the daemon replaces them when the registered care-of address
changes, on both ends, the new ones before the tunnel moves and the old ones after
(:func:`around_tunnel_move`; with dynamic keying, the keying daemon moves the SAs when
told: :func:`migrate_requests`). ``TunnelMh`` and ``TunnelHomeTesting`` (only some tunnelled
messages) cannot be told apart on the outer packet and are not installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from mip6d.config.model import (
    Config,
    IPsecPolicySet,
    IPsecPolicyType,
    NodeRole,
    SaDirection,
    StaticKey,
)
from mip6d.core.effects import (
    AddEspSa,
    AddXfrmPolicy,
    Effect,
    MigrateKeying,
    RemoveEspSa,
    XfrmDirection,
    XfrmRoProto,
    is_removal,
)
from mip6d.wire.icmp6 import IPPROTO_ICMPV6, ICMPv6Type
from mip6d.wire.mh import MHType
from mip6d.wire.xfrm import KmAddress, MigrateEntry, PolicyDir, migrate_message

__all__ = [
    "DIRECT_PRIORITY",
    "KEYING_DAEMON_MOVES",
    "MH_PROTOCOL",
    "POLICY_PRIORITY",
    "RO_POLICIES",
    "SIGNALLING",
    "WILDCARD_PRIORITY",
    "EspSa",
    "Keying",
    "Message",
    "MigrateRequest",
    "SignallingPolicy",
    "StaticIPsec",
    "TunnelKeys",
    "around_tunnel_move",
    "direct_policy",
    "migrate_requests",
    "policy_effect",
    "solicitation_policy",
    "static_effects",
    "static_ipsec",
    "tunnel_effects",
    "tunnel_keys",
]

MH_PROTOCOL = 135
IPV6_IN_IPV6 = 41
# Below the wildcard Home Address option policy's priority (a lower number wins), so that
# a protected home address meets its own policy first.
POLICY_PRIORITY = 100
Message = MHType | ICMPv6Type
"""A signalling message between mobile node and home agent: its Mobility Header type,
or its ICMPv6 type."""
_MPS, _MPA = ICMPv6Type.MOBILE_PREFIX_SOLICITATION, ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT
SIGNALLING: Mapping[IPsecPolicyType, tuple[Message, Message]] = {
    IPsecPolicyType.HOME_REG_BINDING: (MHType.BU, MHType.BA),
    IPsecPolicyType.MH: (MHType.BU, MHType.BA),
    IPsecPolicyType.MOB_PFX_DISC: (_MPS, _MPA),
}
"""The policy types installed here: the message the mobile node sends its home agent
and the home agent's answer (RFC 3776 sections 4.1 and 4.3). ``ICMP`` and ``any`` would
also take neighbour discovery and more under ESP, which the home link cannot (its
neighbours have no SA): they are not installed."""


@dataclass(frozen=True)
class EspSa:
    """One manually keyed ESP security association, transport mode."""

    src: IPv6Address
    dst: IPv6Address
    spi: int
    reqid: int
    key: StaticKey


@dataclass(frozen=True)
class SignallingPolicy:
    """An XFRM policy for one signalling message between two addresses: ESP with
    ``reqid`` required, then (``ro``) the route-optimisation header used alongside."""

    direction: XfrmDirection
    src: IPv6Address
    dst: IPv6Address
    message: Message
    reqid: int
    ro: XfrmRoProto | None

    @property
    def protocol(self) -> int:
        return MH_PROTOCOL if isinstance(self.message, MHType) else IPPROTO_ICMPV6


@dataclass(frozen=True)
class StaticIPsec:
    """The signalling policies of every protected home address and, for those whose
    set has ``StaticKey``s, their SAs. The other sets' SAs come from the IKE daemon or are
    installed by hand (policies only): ``static_keyed`` tells the two apart."""

    sas: tuple[EspSa, ...]
    policies: tuple[SignallingPolicy, ...]
    static_keyed: frozenset[IPv6Address] = frozenset()

    @property
    def home_addresses(self) -> frozenset[IPv6Address]:
        """Home addresses whose Binding Updates and Acknowledgements ESP protects."""
        return self.protecting(MHType.BU)

    def protecting(self, message: Message) -> frozenset[IPv6Address]:
        """Home addresses whose ``message`` (one the mobile node sends: from its home
        address, on either end) ESP protects."""
        return frozenset(p.src for p in self.policies if p.message is message)


def _sets(config: Config, role: NodeRole) -> Iterable[tuple[IPsecPolicySet, IPv6Address]]:
    """The policy sets this node installs, with their home address. Keying is per set:
    a set with ``StaticKey``s is keyed by mip6d; the SAs of one without come from
    elsewhere, the IKE daemon with ``KeyMngMobCapability``, or installed by hand (setkey,
    ``ip xfrm state``) without it, as the reference implementation's examples do. One
    home agent may serve nodes keyed each way."""
    if not config.use_mn_ha_ipsec:
        return
    own_home_addresses = {link.home_address.ip for link in config.home_links}
    for policy_set in config.ipsec_policy_sets:
        for home in policy_set.home_addresses:
            if role is NodeRole.HA or home.ip in own_home_addresses:
                yield policy_set, home.ip


def static_ipsec(config: Config) -> StaticIPsec:
    """The SAs and policies of this node (home agent or mobile node) for ``config``."""
    role = config.node_config
    sas: list[EspSa] = []
    policies: list[SignallingPolicy] = []
    static_keyed: set[IPv6Address] = set()
    for policy_set, home in _sets(config, role):
        if policy_set.static_keys:
            static_keyed.add(home)
        ha = policy_set.home_agent_address
        reqids: set[int] = set()
        for policy in policy_set.policies:
            if policy.type not in SIGNALLING or not policy.allow:
                continue
            up, down = SIGNALLING[policy.type]
            to_ha, to_mn = policy.reqid(SaDirection.MN_TO_HA), policy.reqid(SaDirection.HA_TO_MN)
            reqids |= {to_ha, to_mn}
            if role is NodeRole.HA:
                policies += [
                    SignallingPolicy(XfrmDirection.IN, home, ha, up, to_ha, XfrmRoProto.HAO),
                    SignallingPolicy(XfrmDirection.OUT, ha, home, down, to_mn, None),
                ]
            else:
                policies += [
                    SignallingPolicy(XfrmDirection.OUT, home, ha, up, to_ha, XfrmRoProto.HAO),
                    SignallingPolicy(XfrmDirection.IN, ha, home, down, to_mn, XfrmRoProto.ROUTE2),
                ]
        for key in policy_set.static_keys:
            if key.reqid in reqids:
                src, dst = (home, ha) if key.direction is SaDirection.MN_TO_HA else (ha, home)
                sas.append(EspSa(src, dst, key.spi, key.reqid, key))
    return StaticIPsec(tuple(sas), tuple(policies), frozenset(static_keyed))


_ANYWHERE = IPv6Network("::/0")
WILDCARD_PRIORITY = 1000
"""A higher number than the per-node policies (:data:`POLICY_PRIORITY`): the kernel
consults a protected home address's own policy first, so an unprotected Binding Update
of that node cannot pass through the wildcard one."""

RO_POLICIES: Mapping[NodeRole, AddXfrmPolicy] = {
    NodeRole.HA: AddXfrmPolicy(XfrmDirection.IN, _ANYWHERE, _ANYWHERE, MH_PROTOCOL,
                               MHType.BU, WILDCARD_PRIORITY, ro=XfrmRoProto.HAO),
    NodeRole.MN: AddXfrmPolicy(XfrmDirection.IN, _ANYWHERE, _ANYWHERE, MH_PROTOCOL,
                               MHType.BA, WILDCARD_PRIORITY, ro=XfrmRoProto.ROUTE2),
}
"""The inbound policy each role needs whatever the keying: it accepts Mobility Header
messages of one type carrying the route-optimisation transform (``level use``: the same
messages without it pass too). Without it the kernel drops a Binding Update with a Home
Address option (type 5) or a Binding Acknowledgement with a type 2 routing header (type
6) and counts XfrmInNoPols."""

DIRECT_PRIORITY = 2000
"""After the wildcard policies (:data:`WILDCARD_PRIORITY`): a Binding Update from a new
care-of address, whose Home Address option only the wildcard ``hao`` state accepts, must
meet the wildcard Binding Update policy, not the binding's own :func:`direct_policy`."""


def direct_policy(src: IPv6Address, dst: IPv6Address, ro: XfrmRoProto) -> AddXfrmPolicy:
    """The inbound policy of one binding for what its peer sends directly rather than
    through the tunnel (RFC 6275 sections 9.3.1 and 11.3.4), any protocol: ``src`` ->
    ``dst`` with the transform ``ro`` of the binding's own state (a Home Address option
    from the registered care-of address on the home agent, a type 2 routing header from
    the home agent on the mobile node) or none (tunnelled packets). The reference stack
    sends this way: a mobile node answers its home agent with a Home Address option, a
    home agent reaches a registered node with a type 2 routing header. A Home Address
    option from another source meets only the wildcard state, which the bound template
    refuses (XfrmInTmplMismatch), as section 9.3.1 asks."""
    return AddXfrmPolicy(XfrmDirection.IN, IPv6Network(src), IPv6Network(dst), None, None,
                         DIRECT_PRIORITY, ro=ro, ro_bound=True)


def solicitation_policy(home: IPv6Address, ha: IPv6Address) -> AddXfrmPolicy:
    """The outbound policy that gives a mobile node's Mobile Prefix Solicitations (ICMPv6
    type 146, home address -> home agent) their Home Address option from the ``hao``
    state naming the care-of address (RFC 6275 section 6.7). Sent from the home address,
    so that the kernel's checksum covers it (section 6.3): an ICMPv6 raw socket always
    computes it itself (no ``IPV6_CHECKSUM``), over the packet's addresses as sent."""
    return AddXfrmPolicy(XfrmDirection.OUT, IPv6Network(home), IPv6Network(ha),
                         IPPROTO_ICMPV6, int(ICMPv6Type.MOBILE_PREFIX_SOLICITATION),
                         POLICY_PRIORITY, ro=XfrmRoProto.HAO)


def sa_effect(sa: EspSa) -> AddEspSa:
    return AddEspSa(sa.src, sa.dst, sa.spi, sa.reqid, sa.key)


def policy_effect(policy: SignallingPolicy) -> AddXfrmPolicy:
    """The XFRM policy of one signalling policy: ESP with its reqid, then the
    route-optimisation header used alongside."""
    return AddXfrmPolicy(policy.direction, IPv6Network(policy.src), IPv6Network(policy.dst),
                         policy.protocol, int(policy.message), POLICY_PRIORITY, policy.reqid,
                         policy.ro)


def static_effects(ipsec: StaticIPsec) -> tuple[Effect, ...]:
    """The install list of the static SAs and policies: SAs before their policies."""
    return (*(sa_effect(sa) for sa in ipsec.sas), *(policy_effect(p) for p in ipsec.policies))


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
            if not policy_set.static_keys:  # keyed by the IKE daemon
                out[home] = TunnelKeys(home, ha, up, down)
                continue
            keys = {(k.direction, k.reqid): k for k in policy_set.static_keys}
            to_ha = keys.get((SaDirection.MN_TO_HA, up))
            to_mn = keys.get((SaDirection.HA_TO_MN, down))
            if to_ha is not None and to_mn is not None:
                out[home] = TunnelKeys(home, ha, up, down, to_ha, to_mn)
    return out


def tunnel_effects(keys: TunnelKeys, care_of: IPv6Address, role: NodeRole
                   ) -> tuple[Effect, ...]:
    """The install list protecting the tunnel between ``care_of`` and the home agent:
    SAs, then policies (with dynamic keying the policies only, whose first packet makes
    the kernel ask the keying daemon for the SAs)."""
    up = (care_of, keys.ha, keys.reqid_to_ha)
    down = (keys.ha, care_of, keys.reqid_to_mn)
    out_sa, in_sa = (up, down) if role is NodeRole.MN else (down, up)
    effects: list[Effect] = []
    if keys.to_ha is not None and keys.to_mn is not None:
        up_sa = AddEspSa(care_of, keys.ha, keys.to_ha.spi, keys.reqid_to_ha, keys.to_ha)
        down_sa = AddEspSa(keys.ha, care_of, keys.to_mn.spi, keys.reqid_to_mn, keys.to_mn)
        effects += (up_sa, down_sa) if role is NodeRole.MN else (down_sa, up_sa)
    for direction, (src, dst, reqid) in ((XfrmDirection.OUT, out_sa), (XfrmDirection.IN, in_sa)):
        effects.append(AddXfrmPolicy(direction, IPv6Network(src), IPv6Network(dst),
                                     IPV6_IN_IPV6, None, POLICY_PRIORITY, reqid))
    return tuple(effects)


def around_tunnel_move(changes: Sequence[Effect]) -> tuple[tuple[Effect, ...], tuple[Effect, ...]]:
    """``changes`` (a reconcile of the keying's state for a tunnel about to be set or
    moved) split into what goes in before the tunnel is set and what follows it, so
    that the tunnel never carries its payload in clear.

    Before: the new endpoints' policies and SAs, while the old ones stay. After: the
    old state's removal, then each new SA that takes an old one's identity (the same
    destination and SPI, as the SA towards the home agent keeps its SPI when the
    care-of address changes: the kernel holds one at a time). Between the two, a packet
    meets a policy without its SA and is dropped (a kernel acquire nobody answers); set
    the other way round, measured in the lab, a handover's first packets left as plain
    IPv6-in-IPv6 for about 0.4 s."""
    removals = tuple(e for e in changes if is_removal(e))
    held = {(e.dst, e.spi) for e in removals if isinstance(e, RemoveEspSa)}
    waiting = tuple(e for e in changes if isinstance(e, AddEspSa) and (e.dst, e.spi) in held)
    before = tuple(e for e in changes if not is_removal(e) and e not in waiting)
    return before, removals + waiting


@dataclass(frozen=True)
class Keying:
    """What this node's configuration says to protect (RFC 3776): the static SAs and
    Mobility Header policies, and the home addresses whose tunnel goes under ESP."""

    static: StaticIPsec
    tunnels: Mapping[IPv6Address, TunnelKeys]

    @classmethod
    def of(cls, config: Config) -> Keying:
        return cls(static_ipsec(config), tunnel_keys(config))

    def desired_state(self, role: NodeRole,
                      care_ofs: Iterable[tuple[IPv6Address, IPv6Address]]) -> tuple[Effect, ...]:
        """The IPsec install list of a node of ``role`` whose bindings are ``care_ofs``
        (home address, care-of address): the role's route-optimisation policy, the
        static SAs and policies, then each protected binding's tunnel protection."""
        effects: list[Effect] = [RO_POLICIES[role], *static_effects(self.static)]
        for home, care_of in care_ofs:
            keys = self.tunnels.get(home)
            if keys is not None:
                effects += tunnel_effects(keys, care_of, role)
        return tuple(dict.fromkeys(effects))


KEYING_DAEMON_MOVES = IPv6Address("::")
"""The old endpoints of the tunnel payload's migrate entry: none. The kernel moves the
SAs an entry's old endpoints name but keeps their selectors, and the keying daemon's
transport-mode SAs have a selector naming the care-of address (charon's: care-of
address <-> home agent), so a moved SA would match no packet from or to the new care-of
address (outbound, the kernel asks for an SA again: charon on the home agent has no trap
for it, "trap not found, unable to acquire reqid"; inbound, it drops them,
XfrmInStateMismatch). With no old endpoints the kernel moves nothing and only tells the
keying daemon the reqid and the new address (XFRM_MSG_MIGRATE with KMADDRESS); charon
then moves the CHILD_SA's SAs itself, selectors included, from the addresses it
knows. (A policy needs a template the entry matches, which transport mode matches by
protocol, mode and reqid: the tunnel's policy does.)"""


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


def migrate_requests(ipsec: StaticIPsec, tunnels: Mapping[IPv6Address, TunnelKeys],
                     role: NodeRole, move: MigrateKeying) -> tuple[MigrateRequest, ...]:
    """The XFRM_MSG_MIGRATE messages for ``move`` (RFC 4877 section 6), one per policy,
    each naming its own SAs (strongSwan moves the CHILD_SA of the last entry's reqid):

    * Binding Update/Acknowledgement: transport mode between home address and home
      agent, so old and new addresses are the same; only the KMADDRESS changes, and the
      keying daemon moves its IKE SA to it.
    * Tunnel payload (``TunnelPayload``): the SAs between care-of address and home
      agent move to the new care-of address, and the keying daemon moves them: the one
      entry names their reqid and new endpoints but no old ones (see
      :data:`KEYING_DAEMON_MOVES`), so the kernel leaves them where they are.

    The selector is the same on both ends (from the home address, or the care-of
    address, to the home agent): the mobile node's out policy, the home agent's in.
    A statically keyed home address has no keying daemon to tell: none for it.
    """
    home, ha = move.home_address, move.home_agent
    if home in ipsec.static_keyed:
        return ()
    direction = PolicyDir.OUT if role is NodeRole.MN else PolicyDir.IN
    kmaddress = (KmAddress(move.new_care_of, ha) if role is NodeRole.MN
                 else KmAddress(ha, move.new_care_of))
    reqids = {p.message: p.reqid for p in ipsec.policies
              if {p.src, p.dst} == {home, ha}}
    out: list[MigrateRequest] = []
    if MHType.BU in reqids and MHType.BA in reqids:
        entries = (MigrateEntry(home, ha, home, ha, reqids[MHType.BU]),
                   MigrateEntry(ha, home, ha, home, reqids[MHType.BA]))
        out.append(MigrateRequest(home, ha, direction, entries, kmaddress))
    keys = tunnels.get(home)
    if keys is not None and keys.ha == ha:
        by_reqid = MigrateEntry(KEYING_DAEMON_MOVES, KEYING_DAEMON_MOVES, move.new_care_of,
                                ha, keys.reqid_to_ha)
        out.append(MigrateRequest(move.old_care_of, ha, direction, (by_reqid,), kmaddress))
    return tuple(out)
