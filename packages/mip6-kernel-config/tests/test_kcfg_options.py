"""The tables themselves: consistent, and naming only what Debian's Linux 6.1 has."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from mip6_kernel_config.kconfig import parse
from mip6_kernel_config.options import (
    OPTIONS,
    ROLES,
    SYSCTLS,
    KernelOption,
    Level,
    Role,
    boot_modules,
    options_for,
    sysctls_for,
)

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data"
DEBIAN_CONFIG = DATA / "config-6.1.0-56-amd64.gz"


def debian_config() -> dict[str, str]:
    return dict(parse(gzip.decompress(DEBIAN_CONFIG.read_bytes()).decode(), "debian").values)


def test_names_are_unique_and_plain() -> None:
    names = [o.name for o in OPTIONS]
    assert len(names) == len(set(names))
    for name in names:
        assert name == name.upper() and not name.startswith("CONFIG_"), name


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_row_is_consistent(option: KernelOption) -> None:
    assert option.roles, "an option no role needs"
    assert not option.required & option.recommended
    assert option.build in option.accepted
    assert (option.module is not None) == option.module_ok
    assert not option.load_at_boot or option.module
    assert 0 < len(option.purpose) <= 76 and "\n" not in option.purpose


def test_every_option_is_set_in_debians_61_config() -> None:
    """No invented names: each exists in Debian's 6.1 kernel, at a value we accept."""
    debian = debian_config()
    for option in OPTIONS:
        assert debian.get(option.name) in option.accepted, option.name


def test_options_removed_before_61_are_not_listed() -> None:
    names = {o.name for o in OPTIONS}
    for gone in ("TRANSPORT", "TUNNEL", "BEET", "ROUTEOPTIMIZATION"):
        assert f"INET6_XFRM_MODE_{gone}" not in names
        assert f"INET6_XFRM_MODE_{gone}" not in debian_config()


def test_module_names_are_debians() -> None:
    """Each module name is a module or a built-in of the installed Debian kernel
    (linux-image-amd64, installed for the kernel lab)."""
    trees = sorted(Path("/lib/modules").glob("6.1.*-amd64"))
    assert trees, "no Debian 6.1 kernel in /lib/modules: run `make test` (it installs one)"
    tree = trees[-1]
    known = {
        Path(line.split(":")[0]).name.split(".ko")[0]
        for line in (tree / "modules.dep").read_text().splitlines()
    } | {
        Path(line).name.split(".ko")[0]
        for line in (tree / "modules.builtin").read_text().splitlines()
    }
    for option in OPTIONS:
        if option.module:
            assert option.module in known, (option.name, option.module)


def test_role_lists() -> None:
    assert [r.value for r in ROLES] == ["ha", "mn", "mr", "cn"]
    required = {
        role: [o.name for o in options_for(role) if o.level(role) is Level.REQUIRED]
        for role in ROLES
    }
    assert required[Role.CORRESPONDENT] == ["IPV6", "IPV6_MIP6", "XFRM", "XFRM_USER"]
    assert "IPV6_TUNNEL" in required[Role.HOME_AGENT]
    assert "INET6_ESP" in required[Role.MOBILE_ROUTER]
    assert len(required[Role.HOME_AGENT]) == 17


def test_boot_modules() -> None:
    assert boot_modules(Role.HOME_AGENT) == ("mip6", "ip6_tunnel", "xfrm_user", "esp6")
    assert boot_modules(Role.MOBILE_NODE) == boot_modules(Role.HOME_AGENT)
    assert boot_modules(Role.MOBILE_ROUTER) == boot_modules(Role.HOME_AGENT)
    assert boot_modules(Role.CORRESPONDENT) == ("mip6", "xfrm_user")


def test_sysctls() -> None:
    def keys(role: Role) -> list[tuple[str, str]]:
        return [(s.key, s.value) for s in sysctls_for(role)]

    assert keys(Role.HOME_AGENT) == [
        ("net.ipv6.conf.all.forwarding", "1"),
        ("net.ipv6.conf.all.proxy_ndp", "1"),
    ]
    assert keys(Role.MOBILE_ROUTER) == [
        ("net.ipv6.conf.all.forwarding", "1"),
        ("net.ipv6.conf.*.accept_ra", "2"),
        ("net.ipv6.conf.*.optimistic_dad", "1"),
    ]
    assert keys(Role.MOBILE_NODE) == [("net.ipv6.conf.*.optimistic_dad", "1")]
    assert keys(Role.CORRESPONDENT) == []
    assert all(s.roles for s in SYSCTLS)
