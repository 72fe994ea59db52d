"""Home agent policy against crafted Binding Updates (status 129, 135, 142, 140), and a
configuration reload (SIGHUP): an invalid file is refused with its location and the
running configuration kept; a valid one is applied. A router whose BindingAclPolicy lists
no prefixes is refused (140) until a HaServedPrefix bounds what it may announce."""

from __future__ import annotations

import signal
from ipaddress import IPv6Address

import pytest

from homeguy.lab.topology import Topology
from testkit.mip6d_topology import HA_ADDRESS, build, ha_config, start_mip6d, tree_tool

pytestmark = pytest.mark.lab

MR = IPv6Address("2001:db8:1::200")
MN = IPv6Address("2001:db8:1::101")
STRANGER = IPv6Address("2001:db8:1::66")
UNLISTED = IPv6Address("2001:db8:1::201")  # a router whose entry lists no prefixes
ACL = (
    f"BindingAclPolicy {MN} allow;\n"
    f"BindingAclPolicy {MR} (2001:db8:100:1::/64) allow;\n"
    f"BindingAclPolicy {UNLISTED} allow;\n"
)


def test_policy_status_codes_and_reload(net: Topology) -> None:
    m = build(net)
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir, acl=ACL, default="deny"))
    client = tree_tool("mh_client", str(m.cn_address), str(HA_ADDRESS))

    def answer(hoa: IPv6Address, sequence: int, flags: str, *prefixes: str) -> int:
        m.cn.run(*client, str(hoa), str(sequence), flags, "15", *prefixes)
        record = ha.wait(
            lambda r: r.get("event") == "sent" and r.get("message") == "BindingAck"
            and r.get("sequence") in (sequence, 1000),
            timeout=20, what=f"BA for {hoa} #{sequence}", after=ha.seen,
        )
        return int(record["status"])

    assert answer(STRANGER, 1, "AH") == 129  # not in the ACL, default deny
    assert answer(MN, 1000, "AH") == 0
    assert answer(MN, 999, "AH") == 135  # older than the accepted 1000
    assert answer(MN, 1000, "AH") == 135  # replayed
    assert answer(MR, 7, "AHR", "2001:db8:100:9::/64") == 142  # prefix not owned
    assert answer(MR, 8, "AHR", "2001:db8:100:1::/64") == 0
    assert m.ha.run("ip", "-6", "route", "show", "2001:db8:100:1::/64").strip()
    assert answer(UNLISTED, 1, "AHR", "2001:db8:200:5::/64") == 140  # nothing served

    # An invalid configuration: logged with file:line:column, the old one kept.
    ha.config.write_text(ha.config.read_text() + "HaMaxBindingLife banana;\n")
    ha.signal(signal.SIGHUP)
    failed = ha.wait_event("reload-failed", after=ha.seen)
    assert f"{ha.config}:" in failed["error"], failed
    assert ha.process.poll() is None

    # A valid one that refuses mobile routers: the mobile router's binding goes, and a
    # new registration as a mobile router gets 140.
    ha.config.write_text(
        ha_config(net.workdir, acl=ACL, default="deny", accept_mr=False)
    )
    ha.signal(signal.SIGHUP)
    ha.wait_event("reloaded", after=ha.seen)
    assert answer(MR, 9, "AHR", "2001:db8:100:1::/64") == 140
    assert not m.ha.run("ip", "-6", "route", "show", "2001:db8:100:1::/64").strip()
    assert answer(MN, 1001, "AH") == 0  # the mobile node is still served

    # HaServedPrefix: what a router whose entry lists no prefixes may announce.
    ha.config.write_text(
        ha_config(net.workdir, acl=ACL + "HaServedPrefix 2001:db8:200::/48;", default="deny")
    )
    ha.signal(signal.SIGHUP)
    ha.wait_event("reloaded", after=ha.seen)
    assert answer(UNLISTED, 2, "AHR", "2001:db8:300:5::/64") == 142  # outside it
    assert answer(UNLISTED, 3, "AHR", "2001:db8:200:5::/64") == 0
    assert m.ha.run("ip", "-6", "route", "show", "2001:db8:200:5::/64").strip()
    assert answer(MR, 10, "AHR", "2001:db8:200:6::/64") == 142  # MR keeps to its own list
    assert ha.stop() == 0
