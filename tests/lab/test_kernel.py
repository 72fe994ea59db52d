"""The lab really is Debian's Mobile IPv6 kernel: everything here fails on the host kernel."""

import platform
from pathlib import Path

import pytest

from homeguy.lab.topology import Topology
from homeguy.run import run

pytestmark = pytest.mark.lab


def test_runs_debian_kernel() -> None:
    release = platform.release()
    assert release.endswith("-amd64"), release
    assert Path(f"/boot/vmlinuz-{release}").exists(), f"{release} is not an installed Debian kernel"
    config = Path(f"/boot/config-{release}").read_text()
    for option in ("CONFIG_IPV6_MIP6=y", "CONFIG_XFRM_MIGRATE=y", "CONFIG_IPV6_SUBTREES=y"):
        assert option in config.splitlines()


def test_mobile_ipv6_kernel_state(net: Topology) -> None:
    run(["modprobe", "ip6_tunnel", "esp6"])
    host = net.host("ha")
    host.run("ip", "-6", "tunnel", "add", "ip6tnl1", "mode", "ip6ip6",
             "local", "2001:db8::1", "remote", "2001:db8:1::2")
    assert "ip6ip6" in host.run("ip", "-6", "-d", "link", "show", "ip6tnl1")
    # The wildcard receive state for the Home Address option (RFC 6275 6.3).
    host.run("ip", "xfrm", "state", "add", "src", "::", "dst", "::", "proto", "hao",
             "spi", "0", "mode", "ro", "coa", "::", "flag", "wildrecv")
    states = host.run("ip", "xfrm", "state", "list")
    assert "proto hao" in states
    assert "mode ro" in states
