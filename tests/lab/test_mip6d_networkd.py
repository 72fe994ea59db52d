"""systemd-networkd and mip6d on one node, as on a Homeguy image (issue 12, acceptance 4).

The images configure their access links with systemd-networkd (the live hook's
``80-homeguy-dhcp.network``: DHCPv4 and SLAAC by networkd's own RA client), while mip6d
adds the home address, the tunnel, its routing table and rules. The mip6d package
installs ``networkd.conf.d/mip6d.conf`` so that networkd leaves those routes and rules
alone. Here Debian's networkd runs in the mobile node's namespace from the installed
root (where that drop-in lies), is restarted while the node is registered and keeps
receiving router advertisements; the binding, its care-of address and the traffic
through the tunnel must not notice.
"""

from __future__ import annotations

import subprocess
import time
from ipaddress import IPv6Address, IPv6Network

import pytest

from homeguy.lab import installed
from homeguy.lab.topology import Host, Topology
from testkit.mip6d_topology import (
    F1,
    HOA,
    ROOT,
    Mobility,
    build,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
)

pytestmark = pytest.mark.lab

IMAGE_NETWORK = ROOT / "live/hooks/enroll/80-homeguy-dhcp.network"
MR_HOA = IPv6Address("2001:db8:1::200")
MNP = IPv6Network("2001:db8:100:1::/64")
# networkd in a namespace of the lab: its own /etc/systemd/network and /run/systemd, and
# /sys read-only (how networkd knows there is no udev to wait for, as in a container).
NETWORKD = ('mount --bind "$0" /etc/systemd/network && mount -o remount,ro /sys && '
            "mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/netif && "
            "chown systemd-network: /run/systemd/netif && "
            "exec /lib/systemd/systemd-networkd")


# What mip6d logs when it loses its care-of address or its binding.
LOST = ("care-of-address-lost", "binding-deregistered", "binding-expired")


def start_networkd(net: Topology, host: Host, generation: int,
                   link: str = "mn-f1") -> subprocess.Popen[bytes]:
    """Debian's networkd (installed root) on ``host``'s access ``link``, configured with
    the images' own .network file; returns once it configured it. (Only that link: the
    node's others stand for networks it is not on, and networkd brings up what it
    manages.)"""
    config = net.workdir / f"networkd-{host.name}"
    config.mkdir(exist_ok=True)
    image = IMAGE_NETWORK.read_text()
    lab = "\n".join(f"Name={link}" if line.startswith("Name=") else line
                    for line in image.splitlines())
    assert lab != image, "the image's .network file has no Name= match"
    (config / "80-homeguy-dhcp.network").write_text(lab + "\n")
    log = net.workdir / f"networkd-{host.name}-{generation}.log"
    process = host.spawn(*installed.argv("env", "SYSTEMD_LOG_LEVEL=debug", "sh", "-c",
                                         NETWORKD, str(config)), log=log)
    deadline = time.monotonic() + 30
    while "Configuring with /etc/systemd/network/80-homeguy-dhcp.network" not in (
            log.read_text(errors="replace")):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return process


def mip6d_state(host: Host) -> tuple[str, str, str]:
    """What mip6d put in the kernel: IPv6 rules, every table's routes but the kernel's own
    and the access links' router-advertised ones, and the tunnels' addresses."""
    rules = host.run("ip", "-6", "rule", "show")
    routes = "\n".join(line for line in host.run("ip", "-6", "route", "show", "table",
                                                 "all").splitlines()
                       if "proto kernel" not in line and "proto ra" not in line
                       and "expires" not in line and not line.startswith(("local", "multicast")))
    addresses = host.run("ip", "-6", "-o", "addr", "show", "scope", "global")
    home = "\n".join(line for line in addresses.splitlines() if "2001:db8:1:" in line)
    return rules, routes, home


def answered_pings(m: Mobility, target: IPv6Address, count: int) -> int:
    """Answers of ``count`` pings, 0.2 s apart, from the correspondent to ``target``."""
    out = m.cn.run("ping", "-6", "-n", "-i", "0.2", "-W", "1", "-c", str(count), str(target),
                   check=False, timeout=count + 10)
    received = [line for line in out.splitlines() if "packets transmitted" in line]
    assert received, out
    return int(received[0].split(",")[1].split()[0])


@pytest.mark.parametrize("role", ["host", "router"])
def test_networkd_restart_keeps_binding_and_traffic(net: Topology, role: str) -> None:
    m = build(net)
    router = role == "router"
    hoa = MR_HOA if router else HOA
    networkd = start_networkd(net, m.mn, 1)
    coa = m.mn.wait_address("mn-f1", within=F1)
    acl = f"BindingAclPolicy {MR_HOA} ({MNP}) allow;\n" if router else ""
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir, acl=acl))
    target = hoa
    if router:
        lan = net.host("lan")
        net.link(m.mn, lan, a_ifname="mn-lan", b_ifname="lan-mn",
                 a_address=f"{MNP[1]}/64", b_address=f"{MNP[2]}/64")
        lan.run("ip", "-6", "route", "add", "default", "via", str(MNP[1]))
        target = MNP[2]
    mn = start_mip6d(net, m.mn, "mn", mn_config(net.workdir, hoa=hoa,
                                                prefixes=(MNP,) if router else ()))
    ack = mn.wait_event("received", message="BindingAck", timeout=60)
    assert ack["status"] == 0, ack
    ping_until(m.cn, target, timeout=30)
    # networkd's RA client owns the access links: mip6d left their accept_ra at 0.
    assert m.mn.run("sysctl", "-n", "net.ipv6.conf.mn-f1.accept_ra").strip() == "0"
    before = mip6d_state(m.mn)
    mark = mn.mark()

    # networkd goes away and comes back, re-reads its configuration and takes over the
    # links again, while router advertisements keep renewing the care-of address.
    networkd.terminate()
    assert networkd.wait(timeout=20) == 0
    start_networkd(net, m.mn, 2)
    time.sleep(5)  # several advertisements (every 0.5-1.5 s) after the new start
    answered = answered_pings(m, target, 20)
    after = mip6d_state(m.mn)

    assert answered >= 19, f"{answered} of 20 pings through the tunnel after the restart"
    assert after == before, (before, after)
    assert coa in [address.ip for address in m.mn.addresses("mn-f1")]
    # mip6d saw no movement: no care-of address lost or selected, nothing deregistered.
    moved = [r for r in mn.records()[mark:] if r.get("event") in LOST
             or (r.get("event") == "care-of-address-selected" and r["address"] != str(coa))]
    assert not moved, moved
    removed = [r for r in ha.records() if r.get("event") in ("binding-removed",
                                                              "binding-expired")]
    assert not removed, removed
    log = (net.workdir / "networkd-mn-2.log").read_text(errors="replace")
    dropped = [line for line in log.splitlines()
               if line.startswith(("Removing route", "Removing routing policy rule"))]
    assert not dropped, dropped
