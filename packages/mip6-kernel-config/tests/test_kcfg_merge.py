"""merge-into-source: the pure parts (what to unpack, the before/after table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mip6_kernel_config import merge
from mip6_kernel_config.kconfig import KernelConfig
from mip6_kernel_config.options import Role

pytestmark = pytest.mark.unit


def test_tarball_top() -> None:
    assert merge.tarball_top(Path("/usr/src/linux-source-6.1.tar.xz")) == "linux-source-6.1"
    assert merge.tarball_top(Path("linux-6.1.tar.gz")) == "linux-6.1"
    with pytest.raises(merge.MergeError, match=r"expected a \.tar\.xz"):
        merge.tarball_top(Path("linux.zip"))


def test_tar_members() -> None:
    assert merge.tar_members("linux-source-6.1", "x86") == (
        "linux-source-6.1/Makefile",
        "linux-source-6.1/scripts/*",
        "linux-source-6.1/arch/x86/*",
        "*/Kconfig*",
    )


def test_merge_table_exact() -> None:
    base = KernelConfig({"IPV6": "y", "XFRM": "y", "XFRM_USER": "y", "IPV6_MIP6": "n"})
    result = KernelConfig({"IPV6": "y", "XFRM": "y", "XFRM_USER": "y", "IPV6_MIP6": "y"})
    rows = merge.merged_options(base, result, Role.CORRESPONDENT)
    assert [r.ok for r in rows] == [True, True, True, True, False]
    assert merge.merge_table(rows) == """\
option                  base  asked  result
CONFIG_IPV6             y     y      y
CONFIG_IPV6_MIP6        n     y      y
CONFIG_XFRM             y     y      y
CONFIG_XFRM_USER        y     m      y
CONFIG_XFRM_SUB_POLICY  -     y      -  <- NOT SET AS ASKED
"""


def test_module_where_built_in_was_asked_is_not_ok() -> None:
    base = KernelConfig({"IPV6_MIP6": "n"})
    result = KernelConfig({"IPV6_MIP6": "m"})
    rows = merge.merged_options(base, result, Role.CORRESPONDENT)
    assert not next(r for r in rows if r.option.name == "IPV6_MIP6").ok


def test_unpack_errors(tmp_path: Path) -> None:
    with pytest.raises(merge.MergeError) as info:
        merge.unpack(tmp_path / "linux-source-6.1.tar.xz", tmp_path, kconfig_only=True)
    assert str(info.value) == (
        f"{tmp_path}/linux-source-6.1.tar.xz: no such kernel source; install Debian's with "
        "'apt-get install linux-source-6.1', or pass --source TARBALL|DIR"
    )
    with pytest.raises(merge.MergeError) as info:
        merge.unpack(tmp_path, tmp_path, kconfig_only=False)
    assert str(info.value) == (
        f"{tmp_path}: not a kernel source tree (no scripts/kconfig/merge_config.sh)"
    )


def test_run_names_the_failed_command(tmp_path: Path) -> None:
    with pytest.raises(merge.MergeError) as info:
        merge.run(["sh", "-c", "exit 3"], cwd=tmp_path)
    assert str(info.value) == f"command failed (exit status 3): cd {tmp_path} && sh -c 'exit 3'"
    with pytest.raises(merge.MergeError, match="no-such-tool: not found"):
        merge.run(["no-such-tool"])
