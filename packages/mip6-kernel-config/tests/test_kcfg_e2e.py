"""Whole runs from the outside: the fragment merged into Debian's kernel source with the
kernel's own merge_config.sh and `make olddefconfig`, and the Debian package built and
checked by lintian. Each command runs with Debian's python3 and no site packages
(``-S``): the package needs the standard library only.

Needs `linux-source-6.1`, flex, bison, debhelper, dh-python and lintian (`make test`
installs them); about 30 s.
"""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mip6_kernel_config import layout
from mip6_kernel_config.kconfig import parse
from mip6_kernel_config.merge import DEBIAN_SOURCE, RANK, tarball_top
from mip6_kernel_config.options import Role, options_for

from homeguy import packages

pytestmark = pytest.mark.e2e

PACKAGE = Path(__file__).resolve().parent.parent
DEBIAN = Path(__file__).parent / "data" / "config-6.1.0-56-amd64.gz"
PYTHON = ["/usr/bin/python3", "-S", "-E", "-m", "mip6_kernel_config"]

# What `make olddefconfig` derives from the build machine's toolchain (compiler, pahole)
# and from Debian's own build rules, so it may differ from Debian's published .config.
TOOLCHAIN = {
    "CC_VERSION_TEXT", "PAHOLE_VERSION", "BUILD_SALT", "MODULE_SIG_ALL", "MODULE_SIG_KEY",
    "SYSTEM_TRUSTED_KEYS", "PAHOLE_HAS_SPLIT_BTF", "PAHOLE_HAS_LANG_EXCLUDE",
    "DEBUG_INFO_BTF_MODULES", "MODULE_ALLOW_BTF_MISMATCH",
}


def mip6(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYTHON, *map(str, argv)], cwd=PACKAGE, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def kernel_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """Debian's source unpacked (Kconfig only) by a first merge into Debian's own
    configuration with IPV6_MIP6, IPV6_TUNNEL and INET6_ESP switched off."""
    assert DEBIAN_SOURCE.is_file(), "apt-get install linux-source-6.1 (make test does)"
    work = tmp_path_factory.mktemp("merge")
    text = gzip.decompress(DEBIAN.read_bytes()).decode()
    for name, value in (("IPV6_MIP6", "y"), ("IPV6_TUNNEL", "m"), ("INET6_ESP", "m")):
        text = text.replace(f"CONFIG_{name}={value}\n", f"# CONFIG_{name} is not set\n")
    base = work / "base.config"
    base.write_text(text)
    result = mip6("merge-into-source", "--base", base, "--workdir", work, "--kconfig-only")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout
    yield work / "src" / tarball_top(DEBIAN_SOURCE), result.stdout


def test_merge_restores_debians_configuration(kernel_tree: tuple[Path, str]) -> None:
    tree, out = kernel_tree
    merged = parse((tree.parent.parent / "build/.config").read_text(), "merged")
    debian = parse(gzip.decompress(DEBIAN.read_bytes()).decode(), "debian")
    for name, value in (("IPV6_MIP6", "y"), ("IPV6_TUNNEL", "m"), ("INET6_ESP", "m")):
        assert merged.get(name) == value
    changed = {
        name
        for name in set(merged.values) | set(debian.values)
        if merged.get(name) != debian.get(name)
    }
    assert changed <= TOOLCHAIN, sorted(changed - TOOLCHAIN)
    # What it shows: the fragment's options before and after, then the checker's verdict.
    assert "CONFIG_IPV6_MIP6                n     y      y\n" in out
    assert "CONFIG_IPV6_TUNNEL              n     m      m\n" in out
    assert "CONFIG_INET6_ESP                n     m      m\n" in out
    assert "CONFIG_CRYPTO_AES               y     m      y\n" in out  # -y: not demoted
    assert "\nResult: ha, mn, mr and cn can work with this kernel.\n" in out
    assert out.endswith(
        "This tree holds only what Kconfig reads (--kconfig-only): to build, unpack\n"
        "the whole source and copy the configuration into it.\n"
    )


def test_merge_into_defconfig(kernel_tree: tuple[Path, str], tmp_path: Path) -> None:
    """From the architecture's default configuration, which has no Mobile IPv6: the
    mobile router's fragment brings every option it asks for."""
    tree, _ = kernel_tree
    result = mip6("merge-into-source", "--base", "defconfig", "--source", tree,
                  "--role", "mr", "--workdir", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout
    defconfig = parse((tmp_path / "build/.config").read_text(), "defconfig")
    for option in options_for(Role.MOBILE_ROUTER):
        assert RANK[defconfig.get(option.name)] >= RANK[option.build], option.name
    assert "CONFIG_IPV6_MIP6                n     y      y\n" in result.stdout
    assert "\nResult: mr can work with this kernel.\n" in result.stdout


def test_merge_reports_a_missing_base(tmp_path: Path) -> None:
    result = mip6("merge-into-source", "--base", tmp_path / "nope", "--source", tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"merge-into-source: {tmp_path}: not a kernel source tree "
        "(no scripts/kconfig/merge_config.sh)\n"
    )


def test_debian_package(tmp_path: Path) -> None:
    """The package as `make` builds it (homeguy.packages: dpkg-buildpackage, lintian
    without errors or warnings), then the installed layout works."""
    built = packages.build(packages.SourcePackage.read(PACKAGE), progress=False)
    (deb,) = [d for d in built if d.name.startswith("mip6-kernel-config_")]
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    files = {line.split()[-1].removeprefix(".") for line in listing.splitlines()}
    share = str(layout.DATA_DIR)
    expected = {
        "/usr/bin/mip6-kernel-check",
        "/usr/share/man/man1/mip6-kernel-check.1.gz",
        f"{share}/mip6_kernel_config/cli.py",
        f"{share}/fragments/mip6-all.config",
        f"{share}/modules-load.d/mip6-mr.conf",
        f"{share}/sysctl.d/60-mip6-ha.conf",
    }
    assert expected <= files
    assert not any("/etc/" in f or "__pycache__" in f for f in files)
    # The shipped code runs from where dpkg puts it.
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    wrapper = (root / "usr/bin/mip6-kernel-check").read_text()
    assert f'sys.path.insert(0, "{share}")' in wrapper
    check = subprocess.run(
        ["/usr/bin/python3", "-S", "-E", "-m", "mip6_kernel_config", "check",
         "--config", str(DEBIAN)],
        cwd=root / share.lstrip("/"), capture_output=True, text=True, check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.endswith("Result: ha, mn, mr and cn can work with this kernel.\n")
