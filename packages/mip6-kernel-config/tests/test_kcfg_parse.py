"""Parsing kernel configuration text, and the per-role verdicts."""

from __future__ import annotations

import pytest
from mip6_kernel_config.evaluate import Finding, evaluate, evaluate_role
from mip6_kernel_config.kconfig import ConfigError, KernelConfig, parse
from mip6_kernel_config.options import OPTIONS, ROLES, Level, Role

pytestmark = pytest.mark.unit

TEXT = """\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.192 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
CONFIG_NR_CPUS=64

# CONFIG_IPV6_MIP6 is not set
CONFIG_IPV6=y
CONFIG_IPV6_TUNNEL=m
"""


def test_parse_values_and_title() -> None:
    config = parse(TEXT, "x")
    assert config.title == "Linux/x86 6.1.192 Kernel Configuration"
    assert dict(config.values) == {
        "CC_VERSION_TEXT": '"gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"',
        "NR_CPUS": "64",
        "IPV6_MIP6": "n",
        "IPV6": "y",
        "IPV6_TUNNEL": "m",
    }
    assert config.get("XFRM") is None


def test_parse_rejects_other_text_with_line_number() -> None:
    with pytest.raises(ConfigError) as info:
        parse("CONFIG_IPV6=y\nhello world\n", "/tmp/f")
    assert str(info.value) == (
        "/tmp/f, line 2: 'hello world' is not a kernel configuration line "
        "(expected CONFIG_NAME=value or '# CONFIG_NAME is not set'); "
        "is this the kernel's .config file?"
    )


def test_parse_rejects_text_without_options() -> None:
    with pytest.raises(ConfigError) as info:
        parse("# just a comment\n\n", "/tmp/empty")
    assert str(info.value) == (
        "/tmp/empty: no CONFIG_ lines: this is not a kernel configuration "
        "(expected the kernel's .config, /proc/config.gz or /boot/config-RELEASE)"
    )


def test_long_bad_line_is_shortened() -> None:
    with pytest.raises(ConfigError, match=r"line 1: 'x{57}\.\.\.' is not"):
        parse("x" * 200, "f")


@pytest.mark.parametrize(
    ("found", "module_ok", "ok", "problem"),
    [
        ("y", True, True, ""),
        ("m", True, True, ""),
        ("y", False, True, ""),
        ("m", False, False, "is m, must be built in (y)"),
        ("n", True, False, "is not set"),
        (None, True, False, "is absent (what it depends on is off, or this kernel lacks it)"),
        ('"x"', True, False, 'is "x", expected y or m'),
    ],
)
def test_finding(found: str | None, module_ok: bool, ok: bool, problem: str) -> None:
    option = next(o for o in OPTIONS if o.module_ok == module_ok)
    finding = Finding(option, Level.REQUIRED, found)
    assert finding.ok is ok
    assert finding.problem == problem


def everything(value: str) -> KernelConfig:
    return KernelConfig({o.name: value if o.module_ok else "y" for o in OPTIONS})


def test_all_set_passes_every_role() -> None:
    for value in ("y", "m"):
        reports = evaluate(everything(value), ROLES)
        assert [r.ok for r in reports] == [True] * 4
        assert all(not r.missing(Level.RECOMMENDED) for r in reports)


def test_missing_recommended_still_passes() -> None:
    values = dict(everything("y").values)
    del values["NET_KEY"]
    report = evaluate_role(KernelConfig(values), Role.HOME_AGENT)
    assert report.ok
    assert [f.option.name for f in report.missing(Level.RECOMMENDED)] == ["NET_KEY"]


def test_missing_required_fails_only_the_roles_that_need_it() -> None:
    values = dict(everything("y").values)
    values["IPV6_TUNNEL"] = "n"
    reports = evaluate(KernelConfig(values), ROLES)
    assert {r.role.value: r.ok for r in reports} == {
        "ha": False, "mn": False, "mr": False, "cn": True,
    }
