"""In the kernel lab (Debian's kernel running): the checker finds the running kernel's
configuration and passes, every role's modules load, and the sysctl files apply as the
README says, including the mobile router's glob and its per-interface exclusion."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import pytest
from mip6_kernel_config import layout
from mip6_kernel_config.generate import SOURCE_DIR
from mip6_kernel_config.options import ROLES, Role

from homeguy.lab.topology import Host, Topology

pytestmark = pytest.mark.lab

SYSTEMD = Path("/lib/systemd")


def test_checker_passes_on_the_running_debian_kernel() -> None:
    result = subprocess.run(
        ["/usr/bin/python3", "-S", "-E", "-m", "mip6_kernel_config", "check"],
        cwd=SOURCE_DIR, capture_output=True, text=True, check=False,
    )
    release = platform.release()
    assert result.returncode == 0, result.stdout + result.stderr
    # Debian's kernel has no /proc/config.gz: the checker falls back to /boot.
    assert result.stdout.startswith(f"Kernel configuration: /boot/config-{release} (Linux/x86 ")
    assert result.stdout.endswith("\nResult: ha, mn, mr and cn can work with this kernel.\n")


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_modules_load(role: Role) -> None:
    """systemd-modules-load itself loads the role's file (built-in ones pass too)."""
    path = SOURCE_DIR / layout.modules_load(role)
    result = subprocess.run([SYSTEMD / "systemd-modules-load", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    loaded = Path("/proc/modules").read_text()
    for name in ("ip6_tunnel", "esp6", "xfrm_user") if role is not Role.CORRESPONDENT else ():
        assert f"\n{name} " in f"\n{loaded}", name


def sysctl_apply(host: Host, *argv: str | Path) -> None:
    host.run(str(SYSTEMD / "systemd-sysctl"), *map(str, argv))


def test_home_agent_sysctls(tmp_path: Path) -> None:
    with Topology(tmp_path) as net:
        ha = net.host("kcfg-ha")
        sysctl_apply(ha, SOURCE_DIR / layout.sysctl(Role.HOME_AGENT))
        assert ha.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").strip() == "1"
        assert ha.run("sysctl", "-n", "net.ipv6.conf.all.proxy_ndp").strip() == "1"


def test_mobile_router_sysctls(tmp_path: Path) -> None:
    """accept_ra=2 on an existing interface, on one that appears later (the udev rule runs
    systemd-sysctl with --prefix), and not on one excluded by an explicit key."""
    mr_file = SOURCE_DIR / layout.sysctl(Role.MOBILE_ROUTER)
    local = tmp_path / "70-local.conf"
    local.write_text("net.ipv6.conf.ingress0.accept_ra = 0\n")
    with Topology(tmp_path) as net:
        mr = net.host("kcfg-mr")
        mr.run("ip", "link", "add", "egress0", "type", "dummy")
        mr.run("ip", "link", "add", "ingress0", "type", "dummy")
        sysctl_apply(mr, mr_file, local)

        def get(key: str) -> str:
            return mr.run("sysctl", "-n", key).strip()

        assert get("net.ipv6.conf.all.forwarding") == "1"
        assert get("net.ipv6.conf.egress0.forwarding") == "1"
        assert get("net.ipv6.conf.egress0.accept_ra") == "2"
        assert get("net.ipv6.conf.default.accept_ra") == "2"
        assert get("net.ipv6.conf.egress0.optimistic_dad") == "1"
        assert get("net.ipv6.conf.ingress0.accept_ra") == "0"
        # An interface that appears later: it starts from `default`, and udev applies
        # the files again for it alone.
        mr.run("ip", "link", "add", "wwan0", "type", "dummy")
        assert get("net.ipv6.conf.wwan0.accept_ra") == "2"
        sysctl_apply(mr, "--prefix=/net/ipv6/conf/wwan0", mr_file, local)
        assert get("net.ipv6.conf.wwan0.accept_ra") == "2"
        assert get("net.ipv6.conf.ingress0.accept_ra") == "0"
