"""The daemon shell's own bookkeeping, with a recording kernel and a fake Mobility
Header socket: retransmission timers count from when the message left, the ``hao``
state of an ESP-protected home address changes only with the care-of address, and the
tunnel payload SAs follow the registered care-of address."""

from __future__ import annotations

from ipaddress import IPv6Address
from pathlib import Path
from typing import get_args

import pytest
from mip6d.adapters import mobile_config
from mip6d.config import load
from mip6d.core.effects import Effect, SendMessage, StartTimer, TimerKey, TimerKind
from mip6d.core.mobile import MobileNode
from mip6d.daemon import EFFECT_HANDLERS, Daemon
from mip6d.ipsec import static_ipsec
from mip6d.kernel import KERNEL_EFFECTS, Kernel
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


def _daemon(takes: float = 0.0) -> tuple[Daemon, list[list[str]], list[float], FakeMh]:
    clock = [1000.0]
    commands: list[list[str]] = []
    kernel = Kernel(FakeIPRoute(), runner=lambda argv, tolerate: commands.append(list(argv)) or "")
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


def test_hao_state_changes_only_with_the_care_of_address() -> None:
    daemon, commands, _, mh_socket = _daemon()
    daemon.mn = MobileNode(mobile_config(daemon.config))
    daemon.ipsec = static_ipsec(daemon.config)

    def hao_commands() -> list[str]:
        out = [" ".join(c[:4]) for c in commands if "hao" in c and "state" in c]
        commands.clear()
        return out

    daemon.apply((_bu(COA1, 1),))
    assert hao_commands() == ["ip xfrm state delete", "ip xfrm state add"]
    daemon.apply((_bu(COA1, 2),))  # retransmission or refresh: same state
    assert hao_commands() == []
    daemon.apply((_bu(COA2, 3),))  # handover
    assert hao_commands() == ["ip xfrm state delete", "ip xfrm state add"]
    # Every Binding Update left from the home address (ESP, then the kernel's hao).
    assert [m.src for m in mh_socket.sent] == [HOST, HOST, HOST]
    assert all(m.home_address_option is None for m in mh_socket.sent)


def test_every_effect_of_the_core_has_its_handler() -> None:
    assert set(EFFECT_HANDLERS) == set(get_args(Effect))
    assert set(KERNEL_EFFECTS) < set(EFFECT_HANDLERS)
