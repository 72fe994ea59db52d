"""The lab really is Debian's Mobile IPv6 kernel: everything here fails on the host kernel."""

import json
import platform
from pathlib import Path

import pytest

from homeguy.lab import installed
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


BATCH = """
import json
from mip6d.command import BatchError, run_batch

GONE = ("No such file or directory",)


def policy(verb, src, dst):
    return ["ip", "xfrm", "policy", verb, "dir", "out", "src", src, "dst", dst,
            *(["proto", "135", "type", "5", "priority", "100", "tmpl", "src", src[:-4],
               "dst", dst[:-4], "proto", "esp", "mode", "transport", "reqid", "11",
               "level", "required"] if verb == "update" else [])]


try:
    run_batch([(policy("update", "2001:db8::1/128", "2001:db8::2/128"), ()),
               (policy("delete", "2001:db8::9/128", "2001:db8::2/128"), GONE),
               (policy("update", "2001:db8::1/128", "2001:db8::3/128"), ()),
               (policy("delete", "2001:db8::9/128", "2001:db8::3/128"), ()),
               (policy("update", "2001:db8::1/128", "2001:db8::4/128"), ())])
except BatchError as error:
    print(json.dumps({"index": error.index, "command": error.command, "output": error.output}))

# An SA whose SPI is taken: refused with the phrase mip6d's kernel adapter replaces it on.
KEYS = ["enc", "cbc(aes)", "0x" + "11" * 16, "auth-trunc", "hmac(sha256)", "0x" + "22" * 32, "128"]
SA = ["ip", "xfrm", "state", "add", "src", "2001:db8::1", "dst", "2001:db8::2", "proto", "esp",
      "spi", "0x10", "reqid", "11", "mode", "transport", *KEYS]
try:
    run_batch([(SA, ()), (SA, ())])
except BatchError as error:
    print(json.dumps({"index": error.index, "command": error.command, "output": error.output}))

# The null encryption algorithm (RFC 2410, authentication only): its key is empty.
run_batch([(["ip", "xfrm", "state", "add", "src", "2001:db8::1", "dst", "2001:db8::2",
             "proto", "esp", "spi", "0x20", "reqid", "12", "mode", "transport",
             "enc", "ecb(cipher_null)", "", *KEYS[3:]], ())])
"""


def test_ip_xfrm_changes_run_in_one_batch_as_one_by_one(net: Topology) -> None:
    """The installed mip6d's batches of ``ip xfrm`` commands (one process for a turn's
    IPsec): an error that means "nothing to do" is passed over and the batch goes on; the
    first other error stops it, named with its command, and what came before it stays."""
    host = net.host("k")
    script = net.workdir / "batch.py"
    script.write_text(BATCH)
    failure, taken = map(json.loads, host.run(*installed.argv("python3", str(script)))
                         .splitlines())
    assert failure["index"] == 3, failure
    assert "policy delete dir out src 2001:db8::9/128 dst 2001:db8::3/128" in failure["command"]
    assert "No such file or directory" in failure["output"], failure
    policies = host.run("ip", "xfrm", "policy")
    assert "dst 2001:db8::2/128" in policies and "dst 2001:db8::3/128" in policies, policies
    assert "2001:db8::4" not in policies, policies
    assert taken["index"] == 1 and "File exists" in taken["output"], taken
    assert "[redacted]" in taken["command"] and "11" * 16 not in taken["command"]
    states = host.run("ip", "xfrm", "state")
    assert "spi 0x00000020" in states and "ecb(cipher_null)" in states, states


FLOWS = """
import json
from ipaddress import IPv6Address
from mip6d.core.bcache import Binding, FlowBinding
from mip6d.core.effects import AddTunnel, inverse
from mip6d.core.flows import flow_effects
from mip6d.shell.kernel import Kernel
from mip6d.wire.flowsel import TrafficSelector6
from mip6d.wire.mh import BUFlag

HA, HOME = IPv6Address("2001:db8:1::1"), IPv6Address("2001:db8:1::20")
binding = Binding(HOME, IPv6Address("2001:db8:2::2"), HA, "lo", "mip6t3", 1,
                  BUFlag.A | BUFlag.H, 400, 0.0, 0.0, 400.0, bid=1)
flow = FlowBinding(1, 5, (1,), TrafficSelector6(destination_port=(5001, 5010),
                                                source_port=(53, 53), next_header=(17, 17)))
kernel = Kernel()
effects = (AddTunnel("mip6t3", HA, binding.care_of), *flow_effects((binding,), (flow,)))
kernel.apply_all(effects)
print(json.dumps([type(e).__name__ for e in effects]))
"""


def test_flow_binding_rules_reach_the_kernel(net: Topology) -> None:
    """The installed mip6d's flow binding state (RFC 6089) in Debian's kernel through
    Debian's pyroute2: the tunnel's table routes the home address, and a rule with the
    selector's next header and port ranges sends what it matches to that table."""
    host = net.host("k")
    script = net.workdir / "flows.py"
    script.write_text(FLOWS)
    applied = json.loads(host.run(*installed.argv("python3", str(script))))
    assert applied == ["AddTunnel", "AddRoute", "AddRule"], applied
    rules = host.run("ip", "-6", "rule", "show")
    assert ("12005:\tfrom all to 2001:db8:1::20 ipproto udp sport 53 dport 5001-5010 "
            "lookup 1000003") in rules, rules
    routes = host.run("ip", "-6", "route", "show", "table", "1000003")
    assert routes.startswith("2001:db8:1::20 dev mip6t3"), routes
