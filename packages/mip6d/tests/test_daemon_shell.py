"""The daemon shell's own bookkeeping, with a recording kernel and a fake Mobility
Header socket: retransmission timers count from when the message left, and the IPsec
the configuration declares (static SAs and policies, the tunnel payload's SAs that
follow the registered care-of address) is reconciled with the kernel adapter's one
record and removed with it."""

from __future__ import annotations

import selectors
import socket
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any, get_args

import pytest
from mip6d.config import load
from mip6d.core.effects import (
    AddEspSa,
    AddXfrmPolicy,
    Effect,
    SendMessage,
    StartTimer,
    TimerKey,
    TimerKind,
)
from mip6d.core.mobile import CareOfAddressAvailable, CareOfAddressGone
from mip6d.shell.kernel import KERNEL_EFFECTS, Kernel
from mip6d.shell.loop import EFFECT_HANDLERS, READ_PASSES, Daemon
from mip6d.shell.mobile import MobilePart
from mip6d.wire import mh

from testkit.mip6d_fakes import FakeIPRoute

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HA = IPv6Address("2001:db8:1::1")
HOST = IPv6Address("2001:db8:1::1234")
COA1, COA2 = IPv6Address("2001:db8:a::5"), IPv6Address("2001:db8:b::5")


class FakeMh:
    def __init__(self, clock: list[float], takes: float) -> None:
        self.clock, self.takes = clock, takes
        self.sent: list[SendMessage] = []

    def send(self, effect: SendMessage) -> int:
        self.clock[0] += self.takes  # kernel work before the packet actually leaves
        self.sent.append(effect)
        return 0


class TunnelsInLine(FakeIPRoute):
    """Records each tunnel endpoint change in the kernel adapter's command list, as
    ``ip tunnel set NAME LOCAL REMOTE``, so a test sees it among the ``ip xfrm`` lines."""

    def __init__(self, commands: list[list[str]]) -> None:
        super().__init__()
        self.commands = commands

    def link(self, command: str, **kwargs: Any) -> None:
        super().link(command, **kwargs)
        if "ip6tnl_local" in kwargs:
            name = kwargs.get("ifname") or self.name_of(kwargs["index"])
            self.commands.append(["ip", "tunnel", "set", name, kwargs["ip6tnl_local"],
                                  kwargs["ip6tnl_remote"]])


def _daemon(takes: float = 0.0) -> tuple[Daemon, list[list[str]], list[float], FakeMh]:
    clock = [1000.0]
    commands: list[list[str]] = []
    kernel = Kernel(TunnelsInLine(commands),
                    runner=lambda argv, tolerate: commands.append(list(argv)) or "")
    mh_socket = FakeMh(clock, takes)
    path = str(EXAMPLES / "mobile-host.conf")
    daemon = Daemon(path, load(path), log=lambda *a, **k: None, kernel=kernel,
                    mh_socket=mh_socket,  # type: ignore[arg-type]
                    clock=lambda: clock[0])
    return daemon, commands, clock, mh_socket


def _bu(src: IPv6Address, sequence: int) -> SendMessage:
    bu = mh.BindingUpdate(sequence, 100, mh.BUFlag.A | mh.BUFlag.H, ())
    return SendMessage(bu, src, HA, home_address_option=HOST)


def test_a_timer_counts_from_when_the_message_left() -> None:
    daemon, _, _, _ = _daemon(takes=0.6)
    key = TimerKey(TimerKind.BINDING_UPDATE, str(HOST))
    daemon.apply((_bu(COA1, 1), StartTimer(key, 1001.5)), now=1000.0)
    assert daemon.timers[key] == pytest.approx(1002.1)
    daemon.apply((StartTimer(key, 1001.5),))  # no ``now``: as given (home agent)
    assert daemon.timers[key] == 1001.5


def _ipsec(commands: list[list[str]]) -> list[str]:
    """The ``ip xfrm`` state and policy lines run since the last call, by their head and
    selector, and the tunnel's endpoint changes among them."""
    out = [" ".join(c[:10]) for c in commands if c[:2] in (["ip", "xfrm"], ["ip", "tunnel"])]
    commands.clear()
    return out


def test_ipsec_follows_the_registered_care_of_address_from_one_record() -> None:
    daemon, commands, clock, mh_socket = _daemon()
    part = daemon.part = MobilePart(daemon, initial_sequence=1)
    daemon.sync_ipsec(strict=True)
    static = _ipsec(commands)
    assert static == [
        "ip xfrm policy update dir in src ::/0 dst ::/0",  # the route2 wildcard
        "ip xfrm state add src 2001:db8:1::1234 dst 2001:db8:1::1 proto esp",
        "ip xfrm state add src 2001:db8:1::1 dst 2001:db8:1::1234 proto esp",
        "ip xfrm policy update dir out src 2001:db8:1::1234/128 dst 2001:db8:1::1/128",
        "ip xfrm policy update dir in src 2001:db8:1::1/128 dst 2001:db8:1::1234/128",
        # the same, for Mobile Prefix Solicitations and Advertisements
        "ip xfrm policy update dir out src 2001:db8:1::1234/128 dst 2001:db8:1::1/128",
        "ip xfrm policy update dir in src 2001:db8:1::1/128 dst 2001:db8:1::1234/128",
    ]
    for care_of in (COA1, COA2):
        if care_of == COA2:
            daemon.apply(part.node.handle_movement(CareOfAddressGone(COA1), clock[0]))
        daemon.apply(part.node.handle_movement(CareOfAddressAvailable(care_of, "eth0"),
                                               clock[0]))
        bu = mh_socket.sent[-1]
        assert (bu.src, bu.home_address_option) == (HOST, None)  # ESP, then the kernel's hao
        assert isinstance(bu.msg, mh.BindingUpdate)
        ack = mh.BindingAck(mh.BAStatus.ACCEPTED, bu.msg.sequence, 100)
        commands.clear()
        daemon.apply(part.node.handle_binding_ack(ack, HA, care_of, clock[0]))
        lines = _ipsec(commands)
        moved = lines.index(f"ip tunnel set {part.node.entries[0].registration.tunnel} "
                            f"{care_of} {HA}")
        # The care-of address's protection is in before the tunnel moves onto it; the old
        # one goes after. The SA to the home agent keeps its SPI, which the old SA holds
        # until its removal: the new one waits for it (and the packets meanwhile are
        # dropped by the new policy, never sent in clear).
        up_sa = f"ip xfrm state add src {care_of} dst {HA} proto esp"
        for line in (f"ip xfrm state add src {HA} dst {care_of} proto esp",
                     f"ip xfrm policy update dir out src {care_of}/128 dst {HA}/128",
                     f"ip xfrm policy update dir in src {HA}/128 dst {care_of}/128"):
            assert lines.index(line) < moved, lines
        if care_of == COA1:
            assert lines.index(up_sa) < moved, lines
        else:
            old_sa = lines.index(f"ip xfrm state delete src {COA1} dst {HA} proto esp")
            assert moved < lines.index(f"ip xfrm policy delete dir out src {COA1}/128 "
                                       f"dst {HA}/128") < old_sa < lines.index(up_sa), lines
        daemon.sync_ipsec()
        assert _ipsec(commands) == []  # nothing changed: nothing to do
    installed = [e for e in daemon.kernel.installed if isinstance(e, (AddEspSa, AddXfrmPolicy))]
    # The wildcard, the static SAs and policies (Binding Update and Acknowledgement,
    # Mobile Prefix Solicitation and Advertisement), the tunnel's, and the binding's own
    # direct-traffic policy, which sync_ipsec leaves to the binding. No solicitation
    # policy of the prefix discovery's own: the static one sends them.
    assert len(installed) == 1 + 2 + 4 + 4 + 1
    assert not [e for e in installed if getattr(e, "proto", None) == 58 and e.esp_reqid is None]
    daemon.kernel.cleanup()
    removed = _ipsec(commands)
    assert sum(line.startswith(("ip xfrm state delete", "ip xfrm policy delete"))
               for line in removed) >= len(installed)
    assert daemon.kernel.installed == []


def test_every_effect_of_the_core_has_its_handler() -> None:
    assert set(EFFECT_HANDLERS) == set(get_args(Effect))
    assert set(KERNEL_EFFECTS) < set(EFFECT_HANDLERS)


def test_what_arrives_during_a_long_turn_is_read_before_the_deadlines_fire() -> None:
    """A Router Advertisement that reached its socket while the Binding Acknowledgement's
    kernel changes ran is read in the same turn, before the loop checks whether the router
    fell silent (a fresh clone's lab run lost its default route that way); a socket that
    never drains gives the timers their turn all the same."""
    daemon, _, _, _ = _daemon()
    selector = selectors.DefaultSelector()
    mh_in, mh_peer = socket.socketpair()
    ra_in, ra_peer = socket.socketpair()
    heard: list[str] = []

    def on_mh() -> None:  # the acknowledgement, then seconds of kernel changes
        heard.append(mh_in.recv(64).decode())
        ra_peer.send(b"ra")

    selector.register(mh_in, selectors.EVENT_READ, on_mh)
    selector.register(ra_in, selectors.EVENT_READ, lambda: heard.append(ra_in.recv(64).decode()))
    mh_peer.send(b"ba")
    daemon._read_ready(selector, 0.0)
    assert heard == ["ba", "ra"]

    def flood() -> None:  # reads, and finds more each time
        heard.append(ra_in.recv(64).decode())
        ra_peer.send(b"ra")

    selector.modify(ra_in, selectors.EVENT_READ, flood)
    ra_peer.send(b"ra")
    heard.clear()
    daemon._read_ready(selector, 0.0)
    assert len(heard) == READ_PASSES
    for sock in (mh_in, mh_peer, ra_in, ra_peer):
        sock.close()
    selector.close()
