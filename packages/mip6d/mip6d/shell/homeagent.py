"""The home agent's part of the daemon: the binding cache's state machine
(:class:`~mip6d.core.homeagent.HomeAgent`) fed with Binding Updates, duplicate address
detection answers and expiries, its binding cache saved to the state file (debounced),
and the answers to the control protocol's questions about its bindings; and dynamic
home agent address discovery: the Home Agents List of each home link
(:class:`~mip6d.core.dhaad.HomeAgentsList`) fed with the link's Router Advertisements,
DHAAD Requests answered at the link's Home-Agents anycast address, which the part's
ICMPv6 socket joins (:mod:`mip6d.shell.icmpsocket`)."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Interface
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mip6d import control, statefile
from mip6d.config import Config
from mip6d.core.bcache import Binding, BindingCache
from mip6d.core.dhaad import HomeAgentEntry, HomeAgentsList, answer_request
from mip6d.core.effects import AddTunnel, CheckDuplicateAddress, TimerKey, TimerKind
from mip6d.core.homeagent import HaOutcome, HomeAgent, binding_addresses
from mip6d.core.policy import HomeAgentPolicy, HomeLink
from mip6d.core.prefixdisc import (
    HomePrefixList,
    Solicitation,
    UnsolicitedSchedule,
    answer_solicitation,
)
from mip6d.metrics import label_value, sample_key
from mip6d.shell.adapters import home_agent_policy, home_interfaces
from mip6d.shell.icmpsocket import ReceivedIcmp
from mip6d.shell.mhsocket import Received
from mip6d.shell.ndisc import DadProber, DadResult
from mip6d.shell.part import DaemonError, Part
from mip6d.wire import icmp6, mh

if TYPE_CHECKING:
    from mip6d.shell.loop import Daemon

__all__ = ["SAVE_DELAY", "HomeAgentPart"]

SAVE_DELAY = 0.2
"""Seconds the binding cache may stay unsaved after a change (debounce)."""


class HomeAgentPart(Part):
    """A home agent: serves Binding Updates for the home links of its configuration."""

    def __init__(self, daemon: Daemon) -> None:
        super().__init__(daemon)
        self._node: HomeAgent | None = None
        self.dad: DadProber | None = None  # opened at the first registration
        self._dad_results: list[DadResult] = []
        self._dirty_since: float | None = None
        self.home_agents: dict[str, HomeAgentsList] = {}  # the Home Agents List per link
        self.home_prefixes: dict[str, HomePrefixList] = {}  # the home prefixes per link
        self.unsolicited: dict[str, UnsolicitedSchedule] = {}  # their advertisements
        self._own_link_locals: set[IPv6Address] = set()

    @property
    def node(self) -> HomeAgent:
        """The core's home agent (from :meth:`start`)."""
        assert self._node is not None, "the home agent has not started"
        return self._node

    def _policy(self, config: Config) -> HomeAgentPolicy:
        """The configuration with the addresses on the home links (from the kernel)."""
        names = home_interfaces(config)
        ipr = self.daemon.kernel.ipr
        addresses: dict[str, list[IPv6Interface]] = {name: [] for name in names}
        for name in names:
            found = ipr.link_lookup(ifname=name)
            if not found:
                raise DaemonError(f"interface {name!r} (from the configuration) does not exist")
            for msg in ipr.get_addr(family=socket.AF_INET6, index=found[0]):
                address = msg.get_attr("IFA_ADDRESS")
                if address and msg["scope"] == 0:
                    addresses[name].append(IPv6Interface(f"{address}/{msg['prefixlen']}"))
        return home_agent_policy(config, addresses)

    def start(self, now: float) -> None:
        daemon, kernel = self.daemon, self.daemon.kernel
        policy = self._policy(daemon.config)
        daemon.sync_ipsec(strict=True)
        if policy.require_ipsec:
            unkeyed = ({acl.home_address for acl in policy.acl}
                       - daemon.keying.static.home_addresses)
            if unkeyed:
                daemon.log(
                    "warning", "ipsec-without-keys",
                    message="UseMnHaIPsec is enabled and these home addresses have no static "
                    "keys: their Binding Updates are dropped",
                    home_addresses=sorted(str(a) for a in unkeyed),
                )
        kernel.sysctl("net/ipv6/conf/all/forwarding", 1)
        kernel.sysctl("net/ipv6/conf/all/proxy_ndp", 1)
        for link in policy.home_links:
            kernel.sysctl(f"net/ipv6/conf/{link.ifname}/proxy_ndp", 1)
        self._node = HomeAgent(policy, self._load_state(policy.tunnel_prefix))
        daemon.apply(self.node.restore(now))
        self._mark_dirty(now)
        self._start_discovery(policy)

    # -- dynamic home agent address discovery -----------------------------------------

    def _own_entry(self, link: HomeLink, config: Config) -> HomeAgentEntry:
        return HomeAgentEntry((link.ha_address,), config.ha_preference,
                              mobile_router=config.ha_accept_mob_rtr)

    def _start_discovery(self, policy: HomeAgentPolicy) -> None:
        """The Home Agents Lists and home prefix lists, and the ICMPv6 socket that hears
        the home links' Router Advertisements, answers DHAAD Requests at their anycast
        addresses and Mobile Prefix Solicitations. Without it the home agent still
        serves the nodes that know its address."""
        daemon = self.daemon
        self._set_lists(policy)
        ipr = daemon.kernel.ipr
        for link in policy.home_links:
            index = ipr.link_lookup(ifname=link.ifname)[0]
            for msg in ipr.get_addr(family=socket.AF_INET6, index=index):
                address = msg.get_attr("IFA_ADDRESS")
                if address and IPv6Address(address).is_link_local:
                    self._own_link_locals.add(IPv6Address(address))
        try:
            icmp = daemon.open_icmp((icmp6.ICMPv6Type.ROUTER_ADVERTISEMENT,
                                     icmp6.ICMPv6Type.DHAAD_REQUEST,
                                     icmp6.ICMPv6Type.MOBILE_PREFIX_SOLICITATION))
        except OSError as error:
            daemon.log("error", "dhaad-unavailable", error=str(error))
            return
        for hal in self.home_agents.values():
            try:
                icmp.join_anycast(hal.anycast, hal.ifname)
            except OSError as error:
                daemon.log("error", "dhaad-unavailable", ifname=hal.ifname,
                           anycast=str(hal.anycast), error=str(error))
                continue
            daemon.log("info", "dhaad-listening", ifname=hal.ifname, anycast=str(hal.anycast),
                       preference=hal.own.preference)

    def _set_lists(self, policy: HomeAgentPolicy) -> None:
        """One list of each kind per home link, the home agent's own entry and prefix
        from ``policy`` and the configuration; what was heard on a link that stays is
        kept."""
        config = self.daemon.config
        now = self.daemon.clock()
        self.home_prefixes = {
            link.ifname: HomePrefixList.of(link, now, self.home_prefixes.get(link.ifname))
            for link in policy.home_links}
        self.unsolicited = {
            link.ifname: self.unsolicited.get(link.ifname) or UnsolicitedSchedule(
                TimerKey(TimerKind.MOBILE_PREFIX, link.ifname))
            for link in policy.home_links}
        self.home_agents = {
            link.ifname: HomeAgentsList(
                link.ifname, link.prefix, self._own_entry(link, config),
                self.home_agents[link.ifname].others if link.ifname in self.home_agents
                else ())
            for link in policy.home_links}

    def receive_icmp(self, received: ReceivedIcmp, now: float) -> None:
        msg = received.msg
        if isinstance(msg, icmp6.RouterAdvertisement):
            before = self.home_prefixes.get(received.ifname)
            if before is not None:  # every router's, our own radvd's too
                self._heard_prefixes(received.ifname, before, before.heard(msg, now), now)
            hal = self.home_agents.get(received.ifname)
            if hal is None or received.src in self._own_link_locals:
                return  # not a home link, or our own radvd: the own entry stands
            self.home_agents[received.ifname], effects = hal.heard(received.src, msg, now)
            self.daemon.apply(effects)
        elif isinstance(msg, icmp6.DHAADRequest):
            self.daemon.apply(answer_request(self.home_agents.values(), msg, received.src,
                                             received.dst, now, random.random))
        elif isinstance(msg, icmp6.MobilePrefixSolicitation):
            solicitation = Solicitation(msg, received.src, received.dst,
                                        received.home_address)
            self.daemon.apply(answer_solicitation(
                self.home_prefixes, self.node.cache, solicitation, now,
                enabled=self.daemon.config.send_mob_pfx_advs))
            if received.home_address is not None:
                self._acknowledged(received.home_address)

    def _heard_prefixes(self, ifname: str, before: HomePrefixList, after: HomePrefixList,
                        now: float) -> None:
        """The home prefixes of ``ifname`` are now ``after``: when they changed, the
        bindings there hear of it (``SendUnsolMobPfxAdvs``, section 10.6.2)."""
        self.home_prefixes[ifname] = after
        policy = self._with_advertised(self.node.policy, now)
        if policy != self.node.policy:
            self.daemon.apply(self.node.apply_policy(policy))
            self._mark_dirty(now)
        config = self.daemon.config
        if not (config.send_mob_pfx_advs and config.send_unsol_mob_pfx_advs
                and after.changed_from(before, now)):
            return
        self.unsolicited[ifname], effects = self.unsolicited[ifname].changed(
            after, now, random.random(), config.min_mob_pfx_adv_interval,
            config.max_mob_pfx_adv_interval)
        self.daemon.apply(effects)

    def _with_advertised(self, policy: HomeAgentPolicy, now: float) -> HomeAgentPolicy:
        """``policy`` with each home link's other advertised prefixes, which are home
        subnet prefixes too (a renumbered home link's new prefix)."""
        links = tuple(
            replace(link, advertised_prefixes=tuple(
                p.prefix for p in self.home_prefixes[link.ifname].current(now)
                if p.prefix != link.prefix))
            if link.ifname in self.home_prefixes else link
            for link in policy.home_links)
        return policy if links == policy.home_links else replace(policy, home_links=links)

    # -- state file -------------------------------------------------------------------

    def _state_path(self) -> Path:
        return Path(self.daemon.config.state_file)

    def _load_state(self, tunnel_prefix: str) -> BindingCache:
        path = self._state_path()
        try:
            cache = statefile.load(path, lambda text: BindingCache.from_json(text, tunnel_prefix))
        except statefile.StateFileError as error:
            raise DaemonError(f"state file: {error}") from None
        if cache is None:
            return BindingCache(tunnel_prefix)
        self.daemon.log("info", "state-file-loaded", path=str(path), bindings=len(cache))
        return cache

    def _mark_dirty(self, now: float) -> None:
        if self._dirty_since is None:
            self._dirty_since = now

    def save_state(self) -> None:
        path = self._state_path()
        text = self.node.cache.to_json()
        try:
            statefile.write_atomic(path, text.encode())
        except OSError as error:
            self.daemon.count("state_saves", "failed")
            self.daemon.log("error", "state-file-save-failed", path=str(path), error=str(error))
            return
        self._dirty_since = None
        self.daemon.count("state_saves", "ok")

    # -- inputs -----------------------------------------------------------------------

    def receive(self, received: Received, now: float) -> bool:
        msg = received.msg
        if not isinstance(msg, mh.BindingUpdate):
            return False
        home, care_of = binding_addresses(received.src, msg, received.home_address)
        # The kernel lets a Binding Update of a home address with static keys reach this
        # socket only under ESP (its policy requires it): so it is protected.
        outcome = self.node.handle_binding_update(
            msg, received.src, received.dst, home, care_of, now,
            protected=home in self.daemon.keying.static.home_addresses,
        )
        self._decide(outcome, home, now)
        self._answer_dad(now)
        self._acknowledged(home)
        return True

    def _acknowledged(self, home: IPv6Address) -> None:
        """The node of ``home`` registered or solicited: no more unsolicited Mobile Prefix
        Advertisements of the last round to it."""
        self.unsolicited = {ifname: schedule.acknowledged(home)
                            for ifname, schedule in self.unsolicited.items()}

    def _decide(self, outcome: HaOutcome, home: IPv6Address, now: float) -> None:
        """Apply a verdict on a Binding Update and count it: when its kernel changes
        fail, the core's answer to that (forwarding_failed) instead."""
        if not self.daemon.apply(outcome.effects):
            outcome = self.node.forwarding_failed(home)
            self.daemon.apply(outcome.effects)
        self._mark_dirty(now)
        if outcome.verdict is not None:
            self.daemon.count("binding_updates_received", label_value(outcome.verdict.name))
        if outcome.handover:
            self.daemon.count("handovers")

    def check_duplicate_address(self, effect: CheckDuplicateAddress) -> None:
        """Start DAD for a first registration (see :mod:`mip6d.shell.ndisc`); the verdict
        is given to the core from the loop (:meth:`_answer_dad`), never from inside
        :meth:`Daemon.apply`."""
        daemon = self.daemon
        home = effect.addresses[0]
        daemon.log("info", "dad-started", home_address=str(home), ifname=effect.ifname,
                   addresses=[str(a) for a in effect.addresses])
        try:
            if self.dad is None:
                self.dad = daemon.dad_prober()
                daemon.register(self.dad.fileno(), self._on_dad)
            self._dad_results += self.dad.start(home, effect.addresses, effect.ifname,
                                                daemon.clock())
        except OSError as error:  # no DAD possible: keep serving, as before DAD existed
            daemon.log("error", "dad-failed-to-run", home_address=str(home), error=str(error))
            self._dad_results.append(DadResult(home, True, ran=False))

    def _on_dad(self) -> None:
        assert self.dad is not None
        self._dad_results += self.dad.read(self.daemon.clock())
        self._answer_dad(self.daemon.clock())

    def _answer_dad(self, now: float) -> None:
        if self.dad is not None:
            self._dad_results += self.dad.due(now)
        while self._dad_results:
            result = self._dad_results.pop(0)
            verdict = ("error" if not result.ran else
                       "unique" if result.unique else "duplicate")
            self.daemon.count("duplicate_address_detections", verdict)
            self.daemon.log("info" if result.unique else "warning", "dad-done",
                            home_address=str(result.home_address), unique=result.unique,
                            seen=str(result.seen) if result.seen else None)
            home = result.home_address
            self._decide(self.node.dad_complete(home, result.unique, now), home, now)

    def timer_fired(self, key: TimerKey, now: float) -> None:
        if key.kind is TimerKind.MOBILE_PREFIX and key.subject in self.unsolicited:
            self.unsolicited[key.subject], effects = self.unsolicited[key.subject].fire(
                self.home_prefixes[key.subject], self.node.cache, now)
            self.daemon.apply(effects)
        if key.kind is TimerKind.BINDING_EXPIRY:
            before = len(self.node.cache)
            self.daemon.apply(self.node.expire(now))
            self.daemon.count("bindings_expired", by=before - len(self.node.cache))
            self._mark_dirty(now)

    def after_turn(self, now: float) -> None:
        self._answer_dad(now)
        if self._dirty_since is not None and now >= self._dirty_since + SAVE_DELAY:
            self.save_state()

    def deadlines(self) -> list[float]:
        out = [] if self._dirty_since is None else [self._dirty_since + SAVE_DELAY]
        due = self.dad.next_deadline() if self.dad is not None else None
        return out if due is None else [*out, due]

    def started_bindings(self) -> tuple[Binding, ...]:
        """The bindings, none before the start."""
        return () if self._node is None else self._node.cache.sorted()

    def protected_tunnels(self) -> list[tuple[IPv6Address, AddTunnel]]:
        return [(b.home_address, AddTunnel(b.tunnel, b.ha_address, b.care_of))
                for b in self.started_bindings()]

    # -- reload -----------------------------------------------------------------------

    def check_reload(self, config: Config) -> Callable[[], None]:
        policy = self._policy(config)

        def change() -> None:
            now = self.daemon.clock()
            self._set_lists(policy)  # a new link's anycast address waits for a restart
            self.daemon.apply(self.node.apply_policy(self._with_advertised(policy, now)))
            self._mark_dirty(now)

        return change

    # -- the control protocol ---------------------------------------------------------

    def status(self) -> dict[str, Any]:
        if self._node is None:
            return {}
        bindings = self.node.cache.sorted()
        now = self.daemon.clock()
        return {
            "bindings": len(bindings),
            "mobile_router_bindings": sum(1 for b in bindings if b.mobile_router),
            "tunnels": len(self.node.cache.tunnels()),
            "bid_bindings": sum(1 for b in bindings if b.bid is not None),
            "flow_bindings": sum(len(self.node.cache.flows_of(h))
                                 for h in self.node.cache.homes()),
            "home_agents": {name: [str(a) for a in hal.ranked(now)]
                            for name, hal in sorted(self.home_agents.items())},
        }

    def bindings(self) -> list[dict[str, Any]]:
        now = self.daemon.clock()
        bindings = self.started_bindings()
        # One read per tunnel device, however many bindings share it.
        traffic = {name: self.daemon.kernel.link_traffic(name)
                   for name in {b.tunnel for b in bindings}}
        return [control.binding_record(b, now, traffic[b.tunnel]) for b in bindings]

    def remove_binding(self, home_address: IPv6Address) -> dict[str, Any]:
        if home_address not in self.node.cache:
            return {"ok": False, "error": f"no binding for {home_address}"}
        self.daemon.apply(self.node.remove_node(home_address))
        self._mark_dirty(self.daemon.clock())
        return {"ok": True, "error": None}

    def counters(self) -> dict[str, int]:
        if self.dad is None or not self.dad.malformed:
            return {}
        return {sample_key("malformed_packets_dropped", "nd"): self.dad.malformed}

    def shutdown(self, now: float) -> None:
        if self._node is not None:
            self.save_state()

    def close(self) -> None:
        if self.dad is not None:
            self.dad.close()
