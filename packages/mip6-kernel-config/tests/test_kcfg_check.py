"""mip6-kernel-check end to end on real configurations, with exact outputs.

* Debian's stock 6.1 kernel (tests/data/config-6.1.0-56-amd64.gz, its /boot/config) passes
  for every role.
* The build machine's running kernel (tests/data/config-6.18.44-fc-v669.gz, copied from its
  /proc/config.gz) fails: no IPV6_MIP6, IPV6_TUNNEL, INET6_ESP, nor the ESP algorithms.
* Debian's configuration with only IPV6_MIP6, IPV6_TUNNEL and INET6_ESP switched off fails.
"""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import pytest
from mip6_kernel_config import cli
from mip6_kernel_config.generate import generated_files

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data"
DEBIAN = DATA / "config-6.1.0-56-amd64.gz"
HOST = DATA / "config-6.18.44-fc-v669.gz"

FIX = """\
To fix: boot a kernel that has these options (Debian's stock kernel, package
linux-image-amd64, has them all), or build one with the fragment
/usr/share/mip6-kernel-config/fragments/mip6-{}.config merged into its configuration
(see mip6-kernel-check(1)).
"""


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_debian_61_passes_every_role(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = check(capsys, "--config", str(DEBIAN))
    assert (status, err) == (0, "")
    assert out == f"""\
Kernel configuration: {DEBIAN} (Linux/x86 6.1.192 Kernel Configuration)

ha (home agent): OK (all 17 required and 5 recommended options set)
mn (mobile node): OK (all 17 required and 8 recommended options set)
mr (mobile router): OK (all 17 required and 8 recommended options set)
cn (correspondent node): OK (all 4 required and 1 recommended option set)

Result: ha, mn, mr and cn can work with this kernel.
"""


@pytest.mark.parametrize("role", ["ha", "mn", "mr", "cn"])
def test_debian_61_passes_each_role(capsys: pytest.CaptureFixture[str], role: str) -> None:
    status, out, _ = check(capsys, "--config", str(DEBIAN), "--role", role)
    assert status == 0
    assert out.endswith(f"\nResult: {role} can work with this kernel.\n")


def test_installed_debian_kernel_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """The Debian kernel installed for the lab (its /boot/config-*), whatever its version."""
    configs = sorted(Path("/boot").glob("config-6.1.*-amd64"))
    assert configs, "no Debian 6.1 kernel in /boot: run `make test` (it installs one)"
    status, out, _ = check(capsys, "--config", str(configs[-1]))
    assert status == 0, out


HOST_MISSING = """\
  required     CONFIG_IPV6_MIP6 is not set
               for: Home Address option, type 2 routing header, MH checks (RFC 6275)
  required     CONFIG_IPV6_TUNNEL is not set
               for: ip6ip6 tunnel (RFC 2473) between mobile node or router and home agent
  required     CONFIG_INET6_ESP is not set
               for: ESP (RFC 4303) protecting Binding Updates and Acknowledgements (RFC 4877)
  required     CONFIG_CRYPTO_GCM is not set
               for: GCM mode of ENCR_AES_GCM_16 (RFC 8221 MUST)
  required     CONFIG_CRYPTO_ECHAINIV is not set
               for: encrypted-chain IV generator of AES-CBC ESP
  required     CONFIG_CRYPTO_AUTHENC is not set
               for: combines a cipher and an HMAC into one ESP transform
  recommended  CONFIG_NET_KEY is not set
               for: PF_KEY sockets, for KAME-style keying daemons
  recommended  CONFIG_NET_KEY_MIGRATE is absent (what it depends on is off, or this kernel lacks it)
               for: PF_KEY MIGRATE: move IPsec SAs on handover, for PF_KEY keying daemons
  recommended  CONFIG_CRYPTO_CHACHA20POLY1305 is not set
               for: ENCR_CHACHA20_POLY1305 (RFC 7634)
"""


def test_build_host_kernel_fails(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = check(capsys, "--config", str(HOST))
    assert (status, err) == (1, "")
    assert out == (
        f"Kernel configuration: {HOST} (Linux/x86 6.18.44 Kernel Configuration)\n"
        "\n"
        "ha (home agent): CANNOT WORK (6 of 17 required options missing; "
        "3 of 5 recommended missing)\n"
        + HOST_MISSING
        + "mn (mobile node): CANNOT WORK (6 of 17 required options missing; "
        "3 of 8 recommended missing)\n"
        + HOST_MISSING
        + "mr (mobile router): CANNOT WORK (6 of 17 required options missing; "
        "3 of 8 recommended missing)\n"
        + HOST_MISSING
        + """\
cn (correspondent node): CANNOT WORK (1 of 4 required options missing)
  required     CONFIG_IPV6_MIP6 is not set
               for: Home Address option, type 2 routing header, MH checks (RFC 6275)

Result: ha, mn, mr and cn cannot work with this kernel.
"""
        + FIX.format("all")
    )


def test_build_host_kernel_one_role(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = check(capsys, "--config", str(HOST), "--role", "cn")
    assert status == 1
    assert out == f"""\
Kernel configuration: {HOST} (Linux/x86 6.18.44 Kernel Configuration)

cn (correspondent node): CANNOT WORK (1 of 4 required options missing)
  required     CONFIG_IPV6_MIP6 is not set
               for: Home Address option, type 2 routing header, MH checks (RFC 6275)

Result: cn cannot work with this kernel.
""" + FIX.format("cn")


def without_mip6(tmp_path: Path) -> Path:
    """Debian's configuration as Kconfig writes it with the three options the build host
    lacks switched off."""
    text = gzip.decompress(DEBIAN.read_bytes()).decode()
    for name, value in (("IPV6_MIP6", "y"), ("IPV6_TUNNEL", "m"), ("INET6_ESP", "m")):
        line = f"CONFIG_{name}={value}\n"
        assert text.count(line) == 1
        text = text.replace(line, f"# CONFIG_{name} is not set\n")
    path = tmp_path / "config"
    path.write_text(text)
    return path


THREE_MISSING = """\
  required     CONFIG_IPV6_MIP6 is not set
               for: Home Address option, type 2 routing header, MH checks (RFC 6275)
  required     CONFIG_IPV6_TUNNEL is not set
               for: ip6ip6 tunnel (RFC 2473) between mobile node or router and home agent
  required     CONFIG_INET6_ESP is not set
               for: ESP (RFC 4303) protecting Binding Updates and Acknowledgements (RFC 4877)
"""


def test_debian_without_the_three_options_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = without_mip6(tmp_path)
    status, out, _ = check(capsys, "--config", str(path), "--role", "mr")
    assert status == 1
    assert out == (
        f"Kernel configuration: {path} (Linux/x86 6.1.192 Kernel Configuration)\n\n"
        "mr (mobile router): CANNOT WORK (3 of 17 required options missing)\n"
        + THREE_MISSING
        + "\nResult: mr cannot work with this kernel.\n"
        + FIX.format("mr")
    )


def test_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = without_mip6(tmp_path)
    status, out, _ = check(capsys, "--config", str(path), "--json", "--role", "cn")
    assert status == 1
    assert json.loads(out) == {
        "source": str(path),
        "kernel": "Linux/x86 6.1.192 Kernel Configuration",
        "ok": False,
        "roles": [
            {
                "role": "cn",
                "title": "correspondent node",
                "ok": False,
                "options": [
                    {
                        "option": "CONFIG_IPV6",
                        "level": "required",
                        "found": "y",
                        "accepted": ["y", "m"],
                        "ok": True,
                        "problem": None,
                        "purpose": "the IPv6 protocol",
                    },
                    {
                        "option": "CONFIG_IPV6_MIP6",
                        "level": "required",
                        "found": "n",
                        "accepted": ["y", "m"],
                        "ok": False,
                        "problem": "is not set",
                        "purpose": "Home Address option, type 2 routing header, MH checks "
                        "(RFC 6275)",
                    },
                    {
                        "option": "CONFIG_XFRM",
                        "level": "required",
                        "found": "y",
                        "accepted": ["y"],
                        "ok": True,
                        "problem": None,
                        "purpose": "the transformation framework: hao/route2 states, "
                        "IPsec SAs and policies",
                    },
                    {
                        "option": "CONFIG_XFRM_USER",
                        "level": "required",
                        "found": "m",
                        "accepted": ["y", "m"],
                        "ok": True,
                        "problem": None,
                        "purpose": "netlink (NETLINK_XFRM) interface to install states and "
                        "policies",
                    },
                    {
                        "option": "CONFIG_XFRM_SUB_POLICY",
                        "level": "recommended",
                        "found": "y",
                        "accepted": ["y"],
                        "ok": True,
                        "problem": None,
                        "purpose": "sub policies: mobility transforms and IPsec apply to the "
                        "same packet",
                    },
                ],
            }
        ],
    }


def test_json_debian_ok(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = check(capsys, "--config", str(DEBIAN), "--json")
    document = json.loads(out)
    assert status == 0 and document["ok"] is True
    assert [(r["role"], r["ok"], len(r["options"])) for r in document["roles"]] == [
        ("ha", True, 22), ("mn", True, 25), ("mr", True, 25), ("cn", True, 5),
    ]


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress, lambda b: b])
def test_reads_plain_gzip_and_xz(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, compress: object
) -> None:
    assert callable(compress)
    path = tmp_path / "config"
    path.write_bytes(compress(gzip.decompress(DEBIAN.read_bytes())))
    status, out, _ = check(capsys, "--config", str(path), "--role", "ha")
    assert status == 0, out


# -- finding the running kernel's configuration ---------------------------------------------


def test_find_config_order(tmp_path: Path) -> None:
    (tmp_path / "lib/modules/6.1.0-9-amd64/build").mkdir(parents=True)
    (tmp_path / "lib/modules/6.1.0-9-amd64/build/.config").write_text("CONFIG_A=y\n")
    assert cli.find_config("6.1.0-9-amd64", tmp_path) == (
        tmp_path / "lib/modules/6.1.0-9-amd64/build/.config"
    )
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot/config-6.1.0-9-amd64").write_text("CONFIG_A=y\n")
    assert cli.find_config("6.1.0-9-amd64", tmp_path) == tmp_path / "boot/config-6.1.0-9-amd64"
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/config.gz").write_bytes(gzip.compress(b"CONFIG_A=y\n"))
    assert cli.find_config("6.1.0-9-amd64", tmp_path) == tmp_path / "proc/config.gz"


def test_no_config_found_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(cli.CheckError) as info:
        cli.find_config("6.18.44-x", tmp_path)
    assert str(info.value) == f"""\
no configuration found for the running kernel (6.18.44-x); looked for:
  {tmp_path}/proc/config.gz: not there (the kernel was built without CONFIG_IKCONFIG_PROC \
(with CONFIG_IKCONFIG=m, 'modprobe configs' adds it))
  {tmp_path}/boot/config-6.18.44-x: not there (Debian's kernel packages install it)
  {tmp_path}/lib/modules/6.18.44-x/build/.config: not there (the kernel's headers or build \
tree are not installed)
Pass the configuration the kernel was built with: mip6-kernel-check --config PATH (its \
.config, or the config-RELEASE file of its package)."""


def test_no_config_found_exit_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = cli.find_config
    monkeypatch.setattr(cli, "find_config", lambda release: real(release, tmp_path))
    status, out, err = check(capsys)
    assert (status, out) == (2, "")
    assert err.startswith("mip6-kernel-check: no configuration found for the running kernel")


# -- clear errors ---------------------------------------------------------------------------


def test_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert check(capsys, "--config", str(missing)) == (
        2, "", f"mip6-kernel-check: cannot read {missing}: No such file or directory\n"
    )
    binary = tmp_path / "vmlinuz"
    binary.write_bytes(b"MZ\xea\x07\x00\xc0\x07\x8c\xc8\x8e\xd8\x8e\xc0\x8e\xd0\x31\xe4\xfb\xfc")
    assert check(capsys, "--config", str(binary)) == (
        2, "", f"mip6-kernel-check: {binary}: binary data, not a kernel configuration "
        "(expected the text of a .config, plain, gzip or xz)\n"
    )
    damaged = tmp_path / "config.gz"
    damaged.write_bytes(gzip.compress(b"CONFIG_A=y\n" * 100)[:40])
    status, out, err = check(capsys, "--config", str(damaged))
    assert (status, out) == (2, "")
    assert err.startswith(f"mip6-kernel-check: {damaged}: damaged compressed file (")
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0:root:/root:/bin/bash\n")
    assert check(capsys, "--config", str(other)) == (
        2, "", f"mip6-kernel-check: {other}, line 1: 'root:x:0:0:root:/root:/bin/bash' is "
        "not a kernel configuration line (expected CONFIG_NAME=value or '# CONFIG_NAME is "
        "not set'); is this the kernel's .config file?\n"
    )


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--role", "xx"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["--enable", "ha", "--json"])
    assert info.value.code == 2
    assert "--enable and --disable take no --role, --config or --json" in capsys.readouterr().err


# -- --enable / --disable -------------------------------------------------------------------


def installed(root: Path) -> None:
    """The package's files under ``root``, as dpkg would put them."""
    for name, content in generated_files().items():
        path = root / "usr/share/mip6-kernel-config" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def test_enable_disable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    installed(tmp_path)
    share = "/usr/share/mip6-kernel-config"
    status, out, _ = check(capsys, "--enable", "mr", "--root", str(tmp_path))
    assert status == 0
    assert out == f"""\
linked {tmp_path}/etc/modules-load.d/mip6-mr.conf -> {share}/modules-load.d/mip6-mr.conf
linked {tmp_path}/etc/sysctl.d/60-mip6-mr.conf -> {share}/sysctl.d/60-mip6-mr.conf
takes effect at the next boot; now: \
systemctl restart systemd-modules-load.service systemd-sysctl.service
"""
    link = tmp_path / "etc/sysctl.d/60-mip6-mr.conf"
    assert str(link.readlink()) == f"{share}/sysctl.d/60-mip6-mr.conf"
    # Again: nothing to do.
    status, out, _ = check(capsys, "--enable", "mr", "--root", str(tmp_path))
    assert status == 0 and "already links to" in out
    status, out, _ = check(capsys, "--disable", "mr", "--root", str(tmp_path))
    assert status == 0
    assert out == f"""\
removed {tmp_path}/etc/modules-load.d/mip6-mr.conf
removed {tmp_path}/etc/sysctl.d/60-mip6-mr.conf
settings already applied stay until the next boot
"""
    assert not link.is_symlink()


def test_enable_leaves_an_administrators_file_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    installed(tmp_path)
    mine = tmp_path / "etc/modules-load.d/mip6-ha.conf"
    mine.parent.mkdir(parents=True)
    mine.write_text("ip6_tunnel\n")
    status, out, err = check(capsys, "--enable", "ha", "--root", str(tmp_path))
    assert (status, out) == (2, "")
    assert err == (
        f"mip6-kernel-check: {mine} exists and is not a link to "
        "/usr/share/mip6-kernel-config/modules-load.d/mip6-ha.conf: move it away, or keep "
        "it and do not enable the role here\n"
    )
    status, out, _ = check(capsys, "--disable", "ha", "--root", str(tmp_path))
    assert status == 0
    assert f"{mine}: not a link, left alone" in out
    assert mine.read_text() == "ip6_tunnel\n"


def test_enable_without_the_package(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = check(capsys, "--enable", "cn", "--root", str(tmp_path))
    assert status == 2
    assert err == (
        f"mip6-kernel-check: {tmp_path}/usr/share/mip6-kernel-config/modules-load.d/"
        "mip6-cn.conf is missing: is the package mip6-kernel-config installed?\n"
    )


def test_running_kernel_gets_a_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    """No --config: whatever kernel runs here, its configuration is found and judged (on
    the build machine it fails, in the kernel lab it passes)."""
    status, out, err = check(capsys, "--role", "cn")
    assert status in (0, 1), err
    assert out.startswith("Kernel configuration: /")
