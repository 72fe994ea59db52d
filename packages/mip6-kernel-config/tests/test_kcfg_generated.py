"""The files generated from the tables: up to date in the tree, and saying what the
tables say."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from mip6_kernel_config import layout
from mip6_kernel_config.generate import SOURCE_DIR, generated_files, main, stale, write
from mip6_kernel_config.kconfig import parse
from mip6_kernel_config.options import OPTIONS, ROLES, Role, boot_modules, options_for, sysctls_for

pytestmark = pytest.mark.unit


def test_generated_files_are_up_to_date() -> None:
    assert stale(SOURCE_DIR) == [], "run: python3 -m mip6_kernel_config generate"


def test_stale_and_write(tmp_path: Path) -> None:
    assert len(write(tmp_path)) == len(generated_files()) == 15
    assert stale(tmp_path) == []
    (tmp_path / "fragments/mip6-ha.config").write_text("CONFIG_IPV6=y\n")
    (tmp_path / "options.md").unlink()
    assert stale(tmp_path) == ["fragments/mip6-ha.config", "options.md"]
    assert main(["--check", str(tmp_path)]) == 1
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0


@pytest.mark.parametrize("role", [*ROLES, None], ids=lambda r: r.value if r else "all")
def test_fragment_holds_the_roles_options(role: Role | None) -> None:
    text = (SOURCE_DIR / layout.fragment(role)).read_text()
    config = parse(text, "fragment")
    wanted = options_for(role) if role else OPTIONS
    assert dict(config.values) == {o.name: o.build for o in wanted}


def test_fragment_cn_exact() -> None:
    assert (SOURCE_DIR / "fragments/mip6-cn.config").read_text() == """\
# Linux 6.1 kernel options for Mobile IPv6 and NEMO: the correspondent node (cn).
# Generated from mip6_kernel_config/options.py: do not edit.
# Merge it with the kernel's scripts/kconfig/merge_config.sh -y (which never turns
# =y into =m) and then `make olddefconfig`; =m may also be =y.

# Required: the role cannot work without these.
# the IPv6 protocol
CONFIG_IPV6=y
# Home Address option, type 2 routing header, MH checks (RFC 6275)
CONFIG_IPV6_MIP6=y
# the transformation framework: hao/route2 states, IPsec SAs and policies
CONFIG_XFRM=y
# netlink (NETLINK_XFRM) interface to install states and policies
CONFIG_XFRM_USER=m

# Recommended: features and interoperability.
# sub policies: mobility transforms and IPsec apply to the same packet
CONFIG_XFRM_SUB_POLICY=y
"""


def test_fragment_all_notes_the_roles() -> None:
    text = (SOURCE_DIR / "fragments/mip6-all.config").read_text()
    assert (
        "# sub policies: mobility transforms and IPsec apply to the same packet "
        "[required: ha mn mr;\n# recommended: cn]\nCONFIG_XFRM_SUB_POLICY=y\n"
    ) in text


def lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_modules_load_file(role: Role) -> None:
    assert tuple(lines(SOURCE_DIR / layout.modules_load(role))) == boot_modules(role)


def test_modules_load_ha_exact() -> None:
    assert (SOURCE_DIR / "modules-load.d/mip6-ha.conf").read_text() == """\
# Kernel modules of the Mobile IPv6 home agent (ha), loaded at boot
# by systemd-modules-load.service; built-in ones (=y) are reported as such.
# Generated from mip6_kernel_config/options.py: do not edit.
# CONFIG_IPV6_MIP6: Home Address option, type 2 routing header, MH checks (RFC 6275)
mip6
# CONFIG_IPV6_TUNNEL: ip6ip6 tunnel (RFC 2473) between mobile node or router and home agent
ip6_tunnel
# CONFIG_XFRM_USER: netlink (NETLINK_XFRM) interface to install states and policies
xfrm_user
# CONFIG_INET6_ESP: ESP (RFC 4303) protecting Binding Updates and Acknowledgements (RFC 4877)
esp6
"""


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_sysctl_file(role: Role) -> None:
    path = SOURCE_DIR / layout.sysctl(role)
    pairs = [tuple(re.split(r"\s*=\s*", ln, maxsplit=1)) for ln in lines(path)]
    assert pairs == [(s.key, s.value) for s in sysctls_for(role)]


def test_sysctl_ha_exact() -> None:
    assert (SOURCE_DIR / "sysctl.d/60-mip6-ha.conf").read_text() == """\
# sysctl settings of the Mobile IPv6 home agent (ha), applied by
# systemd-sysctl at boot and again for each network interface as it appears.
# To change one, set it in a later-sorting file in /etc/sysctl.d (sysctl.d(5)).
# Generated from mip6_kernel_config/options.py: do not edit.
# route between the home link or mobile network and the tunnels (RFC 6275 10.4, NEMO RFC 3963)
net.ipv6.conf.all.forwarding = 1
# answer Neighbor Solicitations for the home addresses of mobile nodes away from home (RFC 6275
# 10.4.1); mip6d adds one proxy entry per binding
net.ipv6.conf.all.proxy_ndp = 1
"""


def test_generated_lines_are_short() -> None:
    for name, content in generated_files().items():
        if name.endswith((".conf", ".config")):
            assert all(len(ln) <= 100 for ln in content.splitlines()), name


def test_options_md_lists_every_option() -> None:
    text = (SOURCE_DIR / "options.md").read_text()
    for option in OPTIONS:
        assert f"| `{option.symbol}` |" in text
    assert "| `CONFIG_IPV6_TUNNEL` | ha mn mr |  | yes | m | ip6_tunnel | yes |" in text


def test_manpage_renders_without_warnings() -> None:
    """man-db (lintian needs it) formats the page with groff's warnings on."""
    page = SOURCE_DIR / "man/mip6-kernel-check.1"
    result = subprocess.run(
        ["man", "--warnings", "-l", "-Tascii", str(page)],
        capture_output=True,
        text=True,
        check=False,
        env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = " ".join(re.sub(".\b", "", result.stdout).split())  # no overstrike, no justification
    assert "mip6-kernel-check - check that a Linux kernel can run Mobile IPv6" in text
    for option in OPTIONS:
        assert option.symbol in text
