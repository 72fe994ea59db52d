"""Home agent processing of home registrations (RFC 6275 sections 9.5, 10.3 and 10.4;
RFC 3963 section 6 for mobile routers).

:class:`HomeAgent` is a deterministic state machine around a
:class:`~mip6d.core.bcache.BindingCache`: each call takes ``now`` (seconds since the
UNIX epoch) and returns the Binding Acknowledgement to send, if any, and the effects for
the shell (:mod:`mip6d.core.effects`). It does no I/O.

A Binding Update is checked in this order; the first check that fails decides the
status of a negative Binding Acknowledgement (lifetime 0, the Binding Update's sequence
number, no flags):

====  ===================================================  ==============================
code  condition                                            reference
====  ===================================================  ==============================
 --   IPsec required and the Binding Update arrived        RFC 6275 s. 5.1, RFC 3776 s. 4
      without it: dropped silently, no acknowledgement     (see :mod:`.policy`)
 --   duplicate address detection for this home address   RFC 6275 s. 10.3.1
      in progress: ignored, the result answers it
131   H flag clear: this daemon is a home agent only and   RFC 6275 s. 6.1.8, 10.3.1
      does not act as a correspondent node
132   home address outside every served home prefix, or    RFC 6275 s. 10.3.1
      not one a node may own there (Subnet-Router
      anycast, a home agent address), or the prefix's
      valid lifetime is over
129   home address refused by the binding ACL             RFC 6275 s. 6.1.8
135   sequence number not greater than the binding's      RFC 6275 s. 9.5.1; the
      (modulo 2**16)                                       acknowledgement carries the
                                                           last accepted number
133   deregistration of a home address without binding    RFC 6275 s. 10.3.2
140   R flag, and mobile routers are not accepted, or the  RFC 3963 s. 4.2, 6.6
      node's BindingAclPolicy lists no prefixes and no
      HaServedPrefix is set
141   an announced prefix is not a valid mobile network    RFC 3963 s. 4.2, 6.2
      prefix (not global unicast, or overlaps a home link)
142   an announced prefix is not configured for this       RFC 3963 s. 4.2, 6.2
      node (nor inside a HaServedPrefix when none is),
      or is routed to another mobile router
143   implicit mode and a configured prefix is routed to   RFC 3963 s. 4.2, 6.2
      another mobile router; or the shell could not set
      up forwarding (:meth:`HomeAgent.forwarding_failed`)
134   duplicate address detection failed                   RFC 6275 s. 10.3.1
====  ===================================================  ==============================

Accepted registrations:

* Lifetime granted = min(requested, HaMaxBindingLife, remaining valid lifetime of the
  home prefix), rounded down to 4-second units (RFC 6275 section 10.3.1).
* The Binding Acknowledgement has the R flag when the registration is a mobile router's
  (RFC 3963 section 4.2), the K flag only when the Binding Update had it, key
  management mobility is configured and the node's IPsecPolicySet is not statically
  keyed (RFC 6275 sections 6.1.7 and 10.3.1). It goes to the Binding
  Update's source address, through a type 2 routing header naming the home address when
  that source is not the home address (section 9.5.4), and it is sent only when the A
  flag asked for it (a refusal is always sent).
* First registration of a home address: duplicate address detection on the home link
  (:class:`~mip6d.core.effects.CheckDuplicateAddress`, also for the link-local address
  when the L flag is set) before anything is installed; the shell answers with
  :meth:`HomeAgent.dad_complete`. Retransmitted Binding Updates meanwhile are ignored.
* Kernel state per binding: a route to the home address, and to each mobile network
  prefix, out of an ip6ip6 tunnel to the care-of address (shared by bindings with the
  same care-of address; moved in place, routes kept, when a node that has it alone
  changes care-of address); proxy Neighbor Discovery for the home address (and its
  link-local address with the L flag) on the home link (section 10.4.1). At start, one
  wildcard ``proto hao`` XFRM state per home agent address lets the kernel accept Binding
  Updates that carry a Home Address option from any care-of address.
* Deregistration (lifetime 0 or care-of address = home address) removes all of it
  before the acknowledgement is sent (section 10.3.2).

Effects come in this order: kernel changes, a log record, the expiry timer, the
acknowledgement. If the shell fails to apply a kernel effect, it stops and calls
:meth:`HomeAgent.forwarding_failed`, which removes the binding and answers 143 (a
mobile router) or 130 (a mobile node).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv6Address, IPv6Network
from typing import NamedTuple

from mip6d.core import seqno
from mip6d.core.bcache import Binding, BindingCache, NemoMode
from mip6d.core.effects import (
    AddProxyNeighbour,
    AddRoute,
    AddTunnel,
    AddXfrmState,
    CancelTimer,
    ChangeTunnel,
    CheckDuplicateAddress,
    Effect,
    MigrateKeying,
    RemoveTunnel,
    SendMessage,
    StartTimer,
    TimerKey,
    TimerKind,
    XfrmRoProto,
    diff,
    log,
    reconcile,
    teardown,
)
from mip6d.core.ipsec import direct_policy
from mip6d.core.policy import HomeAgentPolicy, HomeLink
from mip6d.wire.mh import (
    AlternateCareOfAddress,
    BAFlag,
    BAStatus,
    BindingAck,
    BindingUpdate,
    BUFlag,
    MobileNetworkPrefix,
)

__all__ = [
    "DAD_PENDING_LIMIT",
    "EXPIRY_TIMER",
    "HaOutcome",
    "HomeAgent",
    "Unanswered",
    "binding_addresses",
    "binding_effects",
    "direct_effects",
    "link_local_of",
]

EXPIRY_TIMER = TimerKey(TimerKind.BINDING_EXPIRY)
"""The home agent's one timer: the earliest binding expiry."""

DAD_PENDING_LIMIT = 10.0
"""Seconds after which a duplicate address detection the shell never answered is
forgotten, so that a new Binding Update for the home address is processed again."""

_UNSPECIFIED = IPv6Address("::")
_KNOWN_BU_FLAGS = BUFlag.A | BUFlag.H | BUFlag.L | BUFlag.K | BUFlag.M | BUFlag.R | BUFlag.P


class Unanswered(StrEnum):
    """What became of a Binding Update that got no status."""

    DROPPED = "dropped"
    """IPsec is required and the Binding Update came without it."""
    IGNORED = "ignored"
    """Duplicate address detection for its home address is in progress."""


class HaOutcome(NamedTuple):
    """What a home agent call produced: the Binding Acknowledgement sent, if any (it is
    also the last effect, a :class:`~mip6d.core.effects.SendMessage`), and the effects
    in the order the shell applies them.

    ``verdict`` is what became of the Binding Update: the status of the
    acknowledgement (also when the A flag asked for none), an :class:`Unanswered`
    reason, or ``None`` while it waits for duplicate address detection (the verdict
    then comes with :meth:`HomeAgent.dad_complete`) and for calls that decided nothing.
    ``handover`` says that an accepted Binding Update moved its binding to a new
    care-of address."""

    ack: BindingAck | None
    effects: tuple[Effect, ...]
    verdict: BAStatus | Unanswered | None = None
    handover: bool = False


def binding_addresses(
    src: IPv6Address, bu: BindingUpdate, home_address_option: IPv6Address | None
) -> tuple[IPv6Address, IPv6Address]:
    """``(home address, care-of address)`` of a received Binding Update (RFC 6275
    section 9.5.1): the home address is the Home Address option's, else the source
    address; the care-of address is the Alternate Care-of Address option's, else the
    source address."""
    home = home_address_option if home_address_option is not None else src
    care_of = src
    for option in bu.options:
        if isinstance(option, AlternateCareOfAddress):
            care_of = option.address
    return home, care_of


def link_local_of(address: IPv6Address) -> IPv6Address:
    """The link-local address with the interface identifier of ``address``
    (``fe80::/64``), which the L flag asks the home agent to defend too."""
    return IPv6Address((0xFE80 << 112) | (int(address) & ((1 << 64) - 1)))


def binding_effects(binding: Binding) -> tuple[Effect, ...]:
    """The kernel state of one binding, in install order, its tunnel excepted (tunnels
    are shared and counted by the cache)."""
    effects: list[Effect] = [AddRoute(IPv6Network(binding.home_address), binding.tunnel)]
    effects.extend(AddRoute(prefix, binding.tunnel) for prefix in binding.prefixes)
    effects.append(AddProxyNeighbour(binding.home_address, binding.home_ifname))
    if BUFlag.L in binding.flags:
        effects.append(AddProxyNeighbour(link_local_of(binding.home_address), binding.home_ifname))
    return (*effects, *direct_effects(binding))


def direct_effects(binding: Binding) -> tuple[Effect, ...]:
    """What lets the node reach this home agent with a Home Address option from its
    care-of address, the reference stack's way (and from nowhere else): not needed to
    forward, so installed after the acknowledgement has left."""
    return (AddXfrmState(XfrmRoProto.HAO, binding.home_address, binding.ha_address,
                         binding.care_of),
            direct_policy(binding.home_address, binding.ha_address, XfrmRoProto.HAO))


def _global_effects(policy: HomeAgentPolicy) -> tuple[Effect, ...]:
    return tuple(
        AddXfrmState(XfrmRoProto.HAO, _UNSPECIFIED, address, _UNSPECIFIED)
        for address in policy.ha_addresses
    )


@dataclass(frozen=True, slots=True)
class _Request:
    bu: BindingUpdate
    src: IPv6Address
    dst: IPv6Address
    home_address: IPv6Address
    care_of: IPv6Address
    received_at: float


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A registration that passed every check, before it is committed."""

    request: _Request
    link: HomeLink
    lifetime: int
    prefixes: tuple[IPv6Network, ...]
    nemo_mode: NemoMode


_Check = Callable[["HomeAgent", _Request], "BAStatus | None"]


class HomeAgent:
    """A home agent: policy, binding cache and the pending duplicate address checks."""

    def __init__(self, policy: HomeAgentPolicy, cache: BindingCache | None = None) -> None:
        self.policy = policy
        self.cache = cache if cache is not None else BindingCache(policy.tunnel_prefix)
        self._pending: dict[IPv6Address, _Accepted] = {}
        self._timer_at: float | None = None

    # -- start -----------------------------------------------------------------------

    def restore(self, now: float) -> tuple[Effect, ...]:
        """The effects that (re)create the kernel state at daemon start.

        Bindings that expired while the daemon was down, or that the current policy no
        longer allows, are dropped and their leftovers torn down (the shell ignores
        objects that are already gone); every other binding is installed again, which
        is harmless over state the kernel kept (``Add*`` effects are idempotent).
        """
        effects: list[Effect] = list(_global_effects(self.policy))
        dropped: list[Binding] = []
        stale: list[Effect] = []
        for binding in self.cache.pop_expired(now):
            dropped.append(binding)
            effects.append(log("binding-expired", home_address=binding.home_address))
        for binding in self.cache.sorted():
            revised, reason = self._revalidate(binding)
            if revised is None:
                self.cache.remove(binding.home_address)
                dropped.append(binding)
                effects.append(
                    log("binding-removed", home_address=binding.home_address, reason=reason)
                )
            elif revised != binding:
                stale.extend(diff(binding_effects(binding), binding_effects(revised))[0])
                self.cache.put(revised)
        for binding in dropped:
            effects.extend(teardown(binding_effects(binding)))
        effects.extend(stale)
        effects.extend(self._unused_tunnels(dropped))
        seen: set[str] = set()
        for binding in self.cache.sorted():
            if binding.tunnel not in seen:
                seen.add(binding.tunnel)
                effects.append(AddTunnel(binding.tunnel, binding.ha_address, binding.care_of))
            effects.extend(binding_effects(binding))
        effects.append(log("binding-cache-restored", bindings=len(self.cache)))
        self._timer_at = None
        effects.extend(self._timer())
        return tuple(effects)

    # -- Binding Updates -------------------------------------------------------------

    def handle_binding_update(
        self,
        bu: BindingUpdate,
        src: IPv6Address,
        dst: IPv6Address,
        home_address: IPv6Address,
        care_of: IPv6Address,
        now: float,
        protected: bool,
    ) -> HaOutcome:
        """Process a Binding Update that arrived from ``src`` to ``dst`` (one of this
        home agent's addresses) for ``home_address`` and ``care_of`` (see
        :func:`binding_addresses`); ``protected`` says whether it arrived under IPsec
        ESP."""
        request = _Request(bu, src, dst, home_address, care_of, now)
        if self.policy.require_ipsec and not protected:
            return HaOutcome(
                None,
                (
                    log(
                        "binding-update-dropped",
                        home_address=home_address,
                        src=src,
                        sequence=bu.sequence,
                        reason="not protected by IPsec",
                    ),
                ),
                Unanswered.DROPPED,
            )
        pending = self._pending.get(home_address)
        if pending is not None:
            if now - pending.request.received_at < DAD_PENDING_LIMIT:
                return HaOutcome(
                    None,
                    (
                        log(
                            "binding-update-ignored",
                            home_address=home_address,
                            sequence=bu.sequence,
                            reason="duplicate address detection in progress",
                        ),
                    ),
                    Unanswered.IGNORED,
                )
            del self._pending[home_address]
        for check in _CHECKS:
            status = check(self, request)
            if status is not None:
                return self._refuse(request, status)
        if bu.lifetime == 0 or care_of == home_address:
            return self._deregister(request)
        status, prefixes, mode = self._mobile_network(request)
        if status is not None:
            return self._refuse(request, status)
        link = self.policy.home_link_for(home_address)
        assert link is not None  # _check_home_subnet passed
        lifetime = self._grant(bu, link, now)
        if lifetime is None:
            return self._refuse(request, BAStatus.NOT_HOME_SUBNET)
        accepted = _Accepted(request, link, lifetime, prefixes, mode)
        if home_address not in self.cache and self.policy.duplicate_address_detection:
            self._pending[home_address] = accepted
            addresses: tuple[IPv6Address, ...] = (home_address,)
            if BUFlag.L in bu.flags:
                addresses += (link_local_of(home_address),)
            return HaOutcome(
                None,
                (
                    CheckDuplicateAddress(addresses, link.ifname),
                    log(
                        "duplicate-address-detection", home_address=home_address, ifname=link.ifname
                    ),
                ),
            )
        return self._commit(accepted, now)

    def dad_complete(self, home_address: IPv6Address, unique: bool, now: float) -> HaOutcome:
        """The shell's answer to :class:`~mip6d.core.effects.CheckDuplicateAddress`:
        commit the registration, or refuse it with status 134."""
        accepted = self._pending.pop(home_address, None)
        if accepted is None:
            return HaOutcome(
                None, (log("duplicate-address-detection-ignored", home_address=home_address),)
            )
        if not unique:
            return self._refuse(accepted.request, BAStatus.DAD_FAILED)
        return self._commit(accepted, now)

    def forwarding_failed(self, home_address: IPv6Address) -> HaOutcome:
        """The shell could not apply the kernel effects of the binding of
        ``home_address``: remove the binding and tell the node (143 for a mobile router,
        RFC 3963 section 4.2; 130 for a mobile node, RFC 6275 section 6.1.8)."""
        binding = self.cache.get(home_address)
        if binding is None:
            return HaOutcome(None, (log("forwarding-failed-ignored", home_address=home_address),))
        effects = self._transition(binding, None)
        status = (
            BAStatus.FORWARDING_SETUP_FAILED
            if binding.mobile_router
            else BAStatus.INSUFFICIENT_RESOURCES
        )
        ack = BindingAck(status, binding.sequence, 0)
        send = SendMessage(
            ack,
            binding.ha_address,
            binding.care_of,
            routing_header=None if binding.care_of == home_address else home_address,
        )
        record = log(
            "binding-removed",
            home_address=home_address,
            reason="forwarding setup failed",
            status=status,
        )
        return HaOutcome(ack, (*effects, record, *self._timer(), send), status)

    # -- expiry, administration, reload -----------------------------------------------

    def expire(self, now: float) -> tuple[Effect, ...]:
        """Remove the bindings whose lifetime is over (RFC 6275 section 10.3.1)."""
        expired = self.cache.pop_expired(now)
        effects: list[Effect] = []
        for binding in expired:
            effects.extend(teardown(binding_effects(binding)))
            effects.append(
                log("binding-expired", home_address=binding.home_address, care_of=binding.care_of)
            )
        effects.extend(self._unused_tunnels(expired))
        effects.extend(self._timer())
        return tuple(effects)

    def remove_node(self, home_address: IPv6Address) -> tuple[Effect, ...]:
        """Forget the binding (or pending registration) of ``home_address`` at an
        operator's request."""
        if self._pending.pop(home_address, None) is not None:
            return (log("registration-cancelled", home_address=home_address),)
        binding = self.cache.get(home_address)
        if binding is None:
            return (log("remove-node-unknown", home_address=home_address),)
        return (
            *self._transition(binding, None),
            log("binding-removed", home_address=home_address, reason="removed by operator"),
            *self._timer(),
        )

    def apply_policy(self, policy: HomeAgentPolicy) -> tuple[Effect, ...]:
        """Switch to ``policy`` (a configuration reload): bindings it still allows are
        kept, with their lifetime shortened to the new limits and their implicit-mode
        prefixes updated; the others are removed."""
        old_globals = _global_effects(self.policy)
        self.policy = policy
        effects: list[Effect] = list(reconcile(old_globals, _global_effects(policy)))
        for home_address in sorted(self._pending):
            if (
                not self.policy.allows(home_address)
                or self.policy.home_link_for(home_address) is None
            ):
                del self._pending[home_address]
                effects.append(log("registration-cancelled", home_address=home_address))
        for binding in self.cache.sorted():
            revised, reason = self._revalidate(binding)
            if revised is None:
                effects.extend(self._transition(binding, None))
                effects.append(
                    log("binding-removed", home_address=binding.home_address, reason=reason)
                )
            elif revised != binding:
                effects.extend(self._transition(binding, revised))
                effects.append(log("binding-updated", home_address=binding.home_address))
        effects.extend(self._timer())
        return tuple(effects)

    def next_timer(self) -> float | None:
        """When :meth:`expire` should run next (the armed timer), if ever."""
        return self._timer_at

    # -- checks ----------------------------------------------------------------------

    def _check_home_registration(self, request: _Request) -> BAStatus | None:
        return None if BUFlag.H in request.bu.flags else BAStatus.HOME_REGISTRATION_NOT_SUPPORTED

    def _check_home_subnet(self, request: _Request) -> BAStatus | None:
        address = request.home_address
        link = self.policy.home_link_for(address)
        if (
            link is None
            or address.is_multicast
            or address.is_link_local
            or any(address == prefix.network_address  # Subnet-Router anycast
                   for prefix in (link.prefix, *link.advertised_prefixes))
            or address in self.policy.ha_addresses
        ):
            return BAStatus.NOT_HOME_SUBNET
        return None

    def _check_acl(self, request: _Request) -> BAStatus | None:
        return (
            None
            if self.policy.allows(request.home_address)
            else BAStatus.ADMINISTRATIVELY_PROHIBITED
        )

    def _check_sequence(self, request: _Request) -> BAStatus | None:
        binding = self.cache.get(request.home_address)
        if binding is None or seqno.is_greater(request.bu.sequence, binding.sequence):
            return None
        return BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW

    def _mobile_network(
        self, request: _Request
    ) -> tuple[BAStatus | None, tuple[IPv6Network, ...], NemoMode]:
        """RFC 3963 sections 5.2 and 6.2: the prefixes to route to a mobile router,
        announced (explicit mode) or configured (implicit mode)."""
        if BUFlag.R not in request.bu.flags:
            return None, (), NemoMode.NONE
        home_address = request.home_address
        if not self.policy.mobile_router_allowed(home_address):
            return BAStatus.MOBILE_ROUTER_OPERATION_NOT_PERMITTED, (), NemoMode.NONE
        announced = tuple(
            dict.fromkeys(
                o.prefix for o in request.bu.options if isinstance(o, MobileNetworkPrefix)
            )
        )
        if announced:
            if not all(self.policy.prefix_valid(p) for p in announced):
                return BAStatus.INVALID_PREFIX, (), NemoMode.EXPLICIT
            for prefix in announced:
                owner = self.cache.prefix_owner(prefix)
                if not self.policy.prefix_authorized(home_address, prefix) or owner not in (
                    None,
                    home_address,
                ):
                    return BAStatus.NOT_AUTHORIZED_FOR_PREFIX, (), NemoMode.EXPLICIT
            return None, announced, NemoMode.EXPLICIT
        configured = self.policy.configured_prefixes(home_address)
        if not configured or any(
            self.cache.prefix_owner(p) not in (None, home_address) for p in configured
        ):
            return BAStatus.FORWARDING_SETUP_FAILED, (), NemoMode.IMPLICIT
        return None, configured, NemoMode.IMPLICIT

    def _grant(self, bu: BindingUpdate, link: HomeLink, now: float) -> int | None:
        """Granted lifetime in seconds, a multiple of 4; ``None`` when the home prefix
        has less than 4 seconds of valid lifetime left."""
        limit = min(bu.lifetime * 4, self.policy.max_binding_life)
        if link.valid_until is not None:
            limit = min(limit, int(link.valid_until - now))
        units = limit // 4
        return units * 4 if units > 0 else None

    def _revalidate(self, binding: Binding) -> tuple[Binding | None, str]:
        """``binding`` as the current policy allows it, or ``None`` and why not."""
        policy = self.policy
        link = policy.home_link_for(binding.home_address)
        if link is None:
            return None, "home prefix no longer served"
        if binding.ha_address not in policy.ha_addresses:
            return None, "home agent address gone"
        if not policy.allows(binding.home_address):
            return None, "refused by policy"
        prefixes = binding.prefixes
        if binding.mobile_router:
            if not policy.mobile_router_allowed(binding.home_address):
                return None, "mobile router operation no longer permitted"
            if binding.nemo_mode is NemoMode.IMPLICIT:
                prefixes = policy.configured_prefixes(binding.home_address)
            if not all(policy.prefix_authorized(binding.home_address, p) for p in prefixes):
                return None, "prefix no longer authorized"
            if any(
                self.cache.prefix_owner(p) not in (None, binding.home_address) for p in prefixes
            ):
                return None, "prefix routed to another mobile router"
        expires_at = min(binding.expires_at, binding.refreshed_at + policy.max_binding_life)
        if link.valid_until is not None:
            expires_at = min(expires_at, link.valid_until)
        return (
            replace(
                binding,
                home_ifname=link.ifname,
                prefixes=prefixes,
                lifetime=min(binding.lifetime, policy.max_binding_life),
                expires_at=expires_at,
            ),
            "",
        )

    # -- outcomes --------------------------------------------------------------------

    def _ack_flags(self, request: _Request) -> BAFlag:
        """R for a mobile router; K when the Binding Update had it, this home agent's
        keying daemon can move IKE SAs and the node is not statically keyed (keying is
        per IPsecPolicySet, so one home agent acknowledges K to some nodes only)."""
        flags = BAFlag(0)
        bu = request.bu
        if BUFlag.R in bu.flags:
            flags |= BAFlag.R
        if (BUFlag.K in bu.flags and self.policy.key_management_mobility
                and request.home_address not in self.policy.static_keyed):
            flags |= BAFlag.K
        return flags

    @staticmethod
    def _send_ack(request: _Request, ack: BindingAck) -> SendMessage:
        return SendMessage(
            ack,
            request.dst,
            request.src,
            routing_header=None if request.src == request.home_address else request.home_address,
        )

    def _refuse(self, request: _Request, status: BAStatus) -> HaOutcome:
        sequence = request.bu.sequence
        binding = self.cache.get(request.home_address)
        if status is BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW and binding is not None:
            sequence = binding.sequence
        ack = BindingAck(status, sequence, 0)
        record = log(
            "binding-update-refused",
            home_address=request.home_address,
            care_of=request.care_of,
            sequence=request.bu.sequence,
            status=status,
        )
        return HaOutcome(ack, (record, self._send_ack(request, ack)), status)

    def _deregister(self, request: _Request) -> HaOutcome:
        binding = self.cache.get(request.home_address)
        if binding is None:
            return self._refuse(request, BAStatus.NOT_HOME_AGENT_FOR_THIS_MN)
        effects = self._transition(binding, None)
        ack = BindingAck(BAStatus.ACCEPTED, request.bu.sequence, 0, self._ack_flags(request))
        record = log(
            "binding-removed",
            home_address=request.home_address,
            care_of=binding.care_of,
            sequence=request.bu.sequence,
            reason="deregistration",
        )
        send = (self._send_ack(request, ack),) if BUFlag.A in request.bu.flags else ()
        return HaOutcome(ack if send else None, (*effects, record, *self._timer(), *send),
                         BAStatus.ACCEPTED)

    def _commit(self, accepted: _Accepted, now: float) -> HaOutcome:
        request = accepted.request
        bu = request.bu
        old = self.cache.get(request.home_address)
        moved = old is not None and old.care_of != request.care_of
        tunnel = self.cache.tunnel_for(request.dst, request.care_of)
        if tunnel is None:
            if (
                old is not None
                and old.ha_address == request.dst
                and self.cache.tunnel_users(old.tunnel) == 1
            ):
                tunnel = old.tunnel  # the node moved alone: move its tunnel in place
            else:
                tunnel = self.cache.new_tunnel_name()
        binding = Binding(
            home_address=request.home_address,
            care_of=request.care_of,
            ha_address=request.dst,
            home_ifname=accepted.link.ifname,
            tunnel=tunnel,
            sequence=bu.sequence,
            flags=bu.flags & _KNOWN_BU_FLAGS,
            lifetime=accepted.lifetime,
            registered_at=now if old is None else old.registered_at,
            refreshed_at=now,
            expires_at=now + accepted.lifetime,
            prefixes=accepted.prefixes,
            nemo_mode=accepted.nemo_mode,
            updates=1 if old is None else old.updates + 1,
            handovers=0 if old is None else old.handovers + int(moved),
            last_handover=now if moved else None if old is None else old.last_handover,
        )
        effects = self._transition(old, binding)
        if (moved and old is not None and BAFlag.K in self._ack_flags(request)
                and BUFlag.K in old.flags):
            # RFC 4877 section 6: the IKE SA follows the care-of address, before the
            # acknowledgement that the keying daemon's SAs protect leaves. And before
            # the tunnel moves: the tunnel payload's MIGRATE names the policy of the old
            # care-of address, which the move replaces (the kernel refuses a MIGRATE
            # for a policy it does not hold), as the mobile node's does.
            effects = (MigrateKeying(request.home_address, request.dst,
                                     old.care_of, request.care_of), *effects)
        event = (
            "binding-added" if old is None else "binding-moved" if moved else "binding-refreshed"
        )
        record = log(
            event,
            home_address=binding.home_address,
            care_of=binding.care_of,
            sequence=binding.sequence,
            lifetime=binding.lifetime,
            mode=binding.nemo_mode,
            prefixes=binding.prefixes,
        )
        ack = BindingAck(
            BAStatus.ACCEPTED, bu.sequence, accepted.lifetime // 4, self._ack_flags(request)
        )
        send = (self._send_ack(request, ack),) if BUFlag.A in bu.flags else ()
        late = set(direct_effects(binding))  # the acknowledgement waits for forwarding only
        effects, after = (tuple(e for e in effects if e not in late),
                          tuple(e for e in effects if e in late))
        return HaOutcome(ack if send else None,
                         (*effects, record, *self._timer(), *send, *after),
                         BAStatus.ACCEPTED, moved)

    def _transition(self, old: Binding | None, new: Binding | None) -> tuple[Effect, ...]:
        """Store ``new`` in place of ``old`` (either may be ``None``) and return the
        kernel effects: the old binding's state not kept, the old tunnel if nobody uses
        it any more, the new tunnel if it is new, the new binding's state."""
        removals, additions = diff(
            binding_effects(old) if old is not None else (),
            binding_effects(new) if new is not None else (),
        )
        if new is not None:
            self.cache.put(new)
        elif old is not None:
            self.cache.remove(old.home_address)
        tunnels: list[Effect] = []
        if old is not None and new is not None and old.tunnel == new.tunnel:
            if (old.ha_address, old.care_of) != (new.ha_address, new.care_of):
                tunnels.append(
                    ChangeTunnel(
                        new.tunnel, new.ha_address, new.care_of, old.ha_address, old.care_of
                    )
                )
        else:
            if old is not None:
                tunnels.extend(self._unused_tunnels((old,)))
            if new is not None and self.cache.tunnel_users(new.tunnel) == 1:
                tunnels.append(AddTunnel(new.tunnel, new.ha_address, new.care_of))
        return (*removals, *tunnels, *additions)

    def _unused_tunnels(self, bindings: Iterable[Binding]) -> tuple[Effect, ...]:
        names: dict[str, Binding] = {}
        for binding in bindings:
            if self.cache.tunnel_users(binding.tunnel) == 0:
                names.setdefault(binding.tunnel, binding)
        return tuple(RemoveTunnel(b.tunnel, b.ha_address, b.care_of) for b in names.values())

    def _timer(self) -> tuple[Effect, ...]:
        at = self.cache.next_expiry()
        if at == self._timer_at:
            return ()
        self._timer_at = at
        return (StartTimer(EXPIRY_TIMER, at),) if at is not None else (CancelTimer(EXPIRY_TIMER),)


_CHECKS: tuple[_Check, ...] = (
    HomeAgent._check_home_registration,
    HomeAgent._check_home_subnet,
    HomeAgent._check_acl,
    HomeAgent._check_sequence,
)
"""The checks every Binding Update goes through, in order (see the module's table)."""
