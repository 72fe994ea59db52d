"""Profiles, lb config options, the rendered live-build configuration, the cache key."""

import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from homeguy_slot import SLOT_SIZE, parse_slot

from homeguy.iso import IsoError, digest
from homeguy.iso.build import LIVE, read_sources
from homeguy.iso.digest import closure, inputs_digest, iso_name
from homeguy.iso.layers import (
    HOMEGUY_LAYER_STAGES,
    RERUN_STAGES,
    chroot_key,
    chroot_options,
    initramfs_inputs,
    layer_env,
    split_layers,
)
from homeguy.iso.lbconfig import BuildInputs, ConfigFile, lb_config_args, render_config
from homeguy.iso.profile import Profile, load_profile, parse_profile, profile_names
from homeguy.iso.serve import repo_path, serve_repo

pytestmark = pytest.mark.unit

GOOD = """
[profile]
name = "mobile-host"
description = "d"
hostname = "hg"
role = "mobile-host"
[packages]
debian = ["python3"]
homeguy = ["mip6d"]
[services]
enable = ["homeguy-enroll.service"]
[defaults]
bootappend = "boot=live components"
"""


def inputs(profile: Profile | None = None) -> BuildInputs:
    return BuildInputs(profile or parse_profile(GOOD, "p.toml"), "http://m/debian",
                   "http://m/debian-security", "http://127.0.0.1:8071/", 1700000000)


def test_every_profile_in_the_tree_parses() -> None:
    names = profile_names()
    assert names == ["home-agent", "mobile-host", "mobile-router"]
    for name in names:
        profile = load_profile(name)
        assert profile.role == name
        assert "homeguy-archive-keyring" in profile.homeguy_packages
        assert "mip6d" in profile.homeguy_packages


def test_profile_defaults_and_values() -> None:
    profile = parse_profile(GOOD, "p.toml")
    assert profile == Profile("mobile-host", "d", "hg", "mobile-host", ("python3",),
                              ("mip6d",), ("homeguy-enroll.service",), (),
                              "boot=live components", "C.UTF-8", 90)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('hostname = "hg"\n', ""),
     "p.toml: missing profile.hostname (host name of the live system)"),
    (lambda t: t + "colour = 1\n", "p.toml: unknown key defaults.colour; the keys are"),
    (lambda t: t.replace('debian = ["python3"]', 'debian = "python3"'),
     "p.toml: packages.debian must be a list, not str"),
    (lambda t: t.replace('debian = ["python3"]', 'debian = ["python3; rm -rf /"]'),
     "p.toml: packages.debian: ['python3; rm -rf /'] are not package or unit names"),
    (lambda t: t.replace('role = "mobile-host"', 'role = "toaster"'),
     "p.toml: profile.role 'toaster' is not one of"),
    (lambda t: t.replace("[profile]", "[profile"), "p.toml: not valid TOML"),
])
def test_bad_profiles_name_file_key_and_expectation(edit, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IsoError) as error:
        parse_profile(edit(GOOD), "p.toml")
    assert str(error.value).startswith(message)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(IsoError, match="the profiles are home-agent, mobile-host"):
        load_profile("nope")


def test_lb_config_options() -> None:
    args = lb_config_args(inputs())
    options = dict(zip(args[::2], args[1::2], strict=True))
    assert options["--binary-images"] == "iso-hybrid"
    assert options["--bootloaders"] == "syslinux grub-efi"
    # Secure Boot's signed chain, or a failed build (not `auto`'s quiet fallback).
    assert options["--uefi-secure-boot"] == "enable"
    assert options["--mirror-chroot"] == "http://m/debian"
    assert options["--mirror-chroot-security"] == "http://m/debian-security"
    assert options["--cache-stages"] == "bootstrap"
    assert options["--apt-indices"] == "false"
    assert options["--image-name"] == "homeguy-mobile-host"
    assert options["--bootappend-live"] == "boot=live components hostname=hg locales=C.UTF-8"
    no_security = lb_config_args(replace(inputs(), security_mirror=None))
    assert "--mirror-chroot-security" not in no_security
    assert no_security[no_security.index("--security") + 1] == "false"


def test_rendered_configuration() -> None:
    files = render_config(inputs(), read_sources(), b"KEY")
    assert files["archives/homeguy.list.chroot"].content.decode().splitlines()[-1] == \
        "deb http://127.0.0.1:8071/ bookworm main"
    assert files["archives/homeguy.key.chroot"].content == b"KEY"
    for name, packages in (("debian", ["python3"]), ("homeguy", ["mip6d"])):
        lists = files[f"package-lists/{name}.list.chroot"].content.decode().splitlines()
        assert [line for line in lists if not line.startswith("#")] == packages
    grub = files["bootloaders/grub-pc/config.cfg"].content.decode()
    assert "set timeout=3\n" in grub and "terminal_output console serial\n" in grub
    isolinux = files["bootloaders/isolinux/isolinux.cfg"].content.decode()
    assert isolinux.startswith("serial 0 115200\n") and "\ntimeout 30\n" in isolinux
    hook = files["hooks/normal/9100-homeguy-services.hook.chroot"]
    assert hook.mode == 0o755
    assert hook.content.startswith(b"#!/bin/sh\n")
    assert b"systemctl enable homeguy-enroll.service\n" in hook.content
    slot = files["includes.binary/homeguy/node.conf"].content
    assert len(slot) == SLOT_SIZE and parse_slot(slot) == {"timeout": "90"}
    assert files["includes.chroot/lib/live/config/2000-homeguy-enroll"].mode == 0o755


def test_the_login_banner_names_homeguy_the_role_and_the_status_command(
        tmp_path: Path) -> None:
    files = render_config(inputs(load_profile("mobile-host")), read_sources(), b"")
    hook = tmp_path / "9120-homeguy-issue"
    hook.write_bytes(files["hooks/normal/9120-homeguy-issue.hook.chroot"].content)
    hook.chmod(0o755)
    subprocess.run([hook], env={"PATH": os.environ["PATH"],
                                "HOMEGUY_ISSUE_DIR": str(tmp_path / "issue.d")}, check=True)
    # The host has no homeguy-mobile-host package: the version is said to be unknown.
    assert (tmp_path / "issue.d" / "10-homeguy.issue").read_text() == (
        "Homeguy mobile-host (version unknown) on \\l: Homeguy mobile host: enrolls itself "
        "from the HAiku service and runs mip6d\n"
        "This node's enrollment and mobility state, live: homeguy-status\n\n")


# What live-build's binary_syslinux and binary_grub_cfg put for their placeholders.
LIVE_BUILD_FILLS = {"@FLAVOUR@": "amd64", "@LINUX@": "/live/vmlinuz",
                    "@INITRD@": "/live/initrd.img", "@APPEND_LIVE@": "boot=live hostname=hg",
                    "@KERNEL_LIVE@": "/live/vmlinuz-6.1.0-57-amd64",
                    "@INITRD_LIVE@": "/live/initrd.img-6.1.0-57-amd64"}
MENUS = {"bootloaders/isolinux/live.cfg.in": "isolinux/live.cfg",
         "bootloaders/isolinux/menu.cfg": "isolinux/menu.cfg",
         "bootloaders/grub-pc/grub.cfg": "boot/grub/grub.cfg"}


def binary_tree(tmp_path: Path, files: dict[str, ConfigFile], version: str | None) -> Path:
    """binary/ as live-build leaves it for the binary hooks (its placeholders filled), and
    ../chroot's package database with homeguy-mobile-host at ``version`` (none: absent)."""
    for source, target in MENUS.items():
        text = files[source].content.decode()
        for placeholder, value in LIVE_BUILD_FILLS.items():
            text = text.replace(placeholder, value)
        (tmp_path / "binary" / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "binary" / target).write_text(text)
    status = tmp_path / "chroot/var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("" if version is None else (
        f"Package: homeguy-mobile-host\nStatus: install ok installed\nVersion: {version}\n"
        "Architecture: all\nMaintainer: Homeguy <dev@example.org>\nDescription: role\n"))
    hook = tmp_path / "9130-homeguy-bootmenu"
    hook.write_bytes(files["hooks/normal/9130-homeguy-bootmenu.hook.binary"].content)
    hook.chmod(0o755)
    return hook


def test_the_boot_menus_name_homeguy_the_role_and_the_version(tmp_path: Path) -> None:
    """BIOS (isolinux) and UEFI (GRUB) alike: the live entry first and default, then the
    same with safe graphics; the version is the role package's in the image."""
    files = render_config(inputs(load_profile("mobile-host")), read_sources(), b"")
    hook = binary_tree(tmp_path, files, "0.1.0+270.gabc")
    done = subprocess.run([hook], cwd=tmp_path / "binary", capture_output=True, text=True,
                          check=True)
    assert "homeguy-mobile-host 0.1.0+270.gabc" in done.stdout
    live = (tmp_path / "binary/isolinux/live.cfg").read_text()
    grub = (tmp_path / "binary/boot/grub/grub.cfg").read_text()
    title = "Homeguy mobile host 0.1.0+270.gabc: live"
    assert re.findall(r"menu label \^?(.*)", live) == [
        "Homeguy mobile host: live", "Homeguy mobile host: live, ^text only (safe graphics)",
        "Homeguy mobile host: live with ^persistence"]
    assert "menu title Homeguy mobile host 0.1.0+270.gabc\n" in (
        tmp_path / "binary/isolinux/menu.cfg").read_text()
    assert re.findall(r'menuentry "(.*)"', grub) == [
        title, title + ", text only (safe graphics)",
        title + " with persistence", "UEFI Firmware Settings"]
    assert live.index("menu default") < live.index("label live-amd64-text")
    for menu in (live, grub):
        appends = re.findall(r"(?:append|linux\t\S+) (.*)", menu)
        assert appends == ["boot=live hostname=hg", "boot=live hostname=hg nomodeset",
                           "boot=live hostname=hg persistence"]
    assert "menu title Homeguy mobile host 0.1.0+270.gabc\n" in (
        tmp_path / "binary/isolinux/menu.cfg").read_text()


def test_only_the_images_that_enroll_offer_persistence(tmp_path: Path) -> None:
    """The home agent's image keeps nothing for a node: no persistence entry."""
    files = render_config(inputs(load_profile("home-agent")), read_sources(), b"")
    for menu in ("bootloaders/isolinux/live.cfg.in", "bootloaders/grub-pc/grub.cfg"):
        text = files[menu].content.decode()
        assert "persistence" not in text and "nomodeset" in text, menu


def test_only_the_mobile_router_s_image_offers_to_install_itself() -> None:
    """Its last entry boots the live system with the installer asking on tty1 which disk
    to erase (homeguy-installer is in that image alone)."""
    for name, offered in (("mobile-router", True), ("mobile-host", False),
                          ("home-agent", False)):
        files = render_config(inputs(load_profile(name)), read_sources(), b"")
        live = files["bootloaders/isolinux/live.cfg.in"].content.decode()
        grub = files["bootloaders/grub-pc/grub.cfg"].content.decode()
        if not offered:
            assert "homeguy.install" not in live + grub, name
            continue
        assert re.findall(r"menu label (.*)", live)[-1] == (
            "Homeguy mobile router: ^install to a disk")
        assert re.findall(r"append (.*)", live)[-1] == "@APPEND_LIVE@ homeguy.install=ask"
        entry = grub[grub.index('menuentry "Homeguy mobile router @HOMEGUY_VERSION@: install'):]
        assert "--hotkey=i {\n\tlinux\t@KERNEL_LIVE@ @APPEND_LIVE@ homeguy.install=ask\n" in entry


def test_the_boot_menu_hook_fails_on_what_it_cannot_fill(tmp_path: Path) -> None:
    files = render_config(inputs(load_profile("mobile-host")), read_sources(), b"")
    hook = binary_tree(tmp_path, files, None)
    failed = subprocess.run([hook], cwd=tmp_path / "binary", capture_output=True, text=True,
                            check=False)
    assert failed.returncode != 0 and "homeguy-mobile-host" in failed.stderr
    hook = binary_tree(tmp_path / "next", files, "1")
    (tmp_path / "next/binary/isolinux/live.cfg").write_text("append @APPEND_LIVE@\n")
    failed = subprocess.run([hook], cwd=tmp_path / "next/binary", capture_output=True,
                            text=True, check=False)
    assert failed.returncode == 1
    assert "isolinux/live.cfg:1:append @APPEND_LIVE@" in failed.stderr
    assert "placeholders left in the menus" in failed.stderr


def test_rendered_hooks_pass_shellcheck(tmp_path: Path) -> None:
    for name in profile_names():
        files = render_config(inputs(load_profile(name)), read_sources(), b"")
        for path, item in files.items():
            if path.startswith("hooks/"):
                script = tmp_path / f"{name}-{Path(path).name}"
                script.write_bytes(item.content)
                result = subprocess.run(["shellcheck", "--severity=style", script],
                                        capture_output=True, text=True, check=False)
                assert result.returncode == 0, result.stdout


def test_inputs_digest_follows_what_goes_into_the_image() -> None:
    files = render_config(inputs(), read_sources(), b"KEY")
    packages = {"mip6d": "mip6d 1 aa"}
    base = inputs_digest(inputs(), files, packages)
    assert base == inputs_digest(inputs(), dict(reversed(files.items())), packages)
    assert base != inputs_digest(inputs(), files, {"mip6d": "mip6d 2 bb"})
    assert base != inputs_digest(replace(inputs(), source_date_epoch=1), files, packages)
    other = render_config(inputs(), read_sources(), b"KEY2")
    assert base != inputs_digest(inputs(), other, packages)
    with pytest.MonkeyPatch.context() as patch:  # the slot placed elsewhere: another image
        patch.setattr(digest, "XORRISO_OPTIONS", ("--sort-weight", "1", "/homeguy/node.conf"))
        assert base != inputs_digest(inputs(), files, packages)


def test_the_debian_layer_has_the_debian_package_list_only() -> None:
    files = render_config(inputs(), read_sources(), b"KEY")
    debian, homeguy = split_layers(files)
    assert list(debian) == ["package-lists/debian.list.chroot"]
    assert set(homeguy) == set(files) - {"package-lists/debian.list.chroot"}
    assert "archives/homeguy.list.chroot" in homeguy and "apt/apt.conf" in homeguy
    with pytest.raises(IsoError, match=r"debian\.list\.chroot"):
        split_layers(homeguy)


def test_chroot_options_leave_out_the_binary_stage_ones() -> None:
    assert chroot_options(["--distribution", "bookworm", "--image-name", "x",
                           "--bootappend-live", "boot=live quiet"]) == \
        ["--distribution", "bookworm"]
    kept = chroot_options(lb_config_args(inputs()))
    assert "--mirror-chroot" in kept and "--apt-recommends" in kept
    assert "--iso-volume" not in kept and "--bootloaders" not in kept


def test_every_layer_stage_is_one_of_live_builds() -> None:
    for stage in (*HOMEGUY_LAYER_STAGES, *RERUN_STAGES):
        assert Path("/usr/lib/live/build", stage.split(".")[0]).is_file(), stage


def test_chroot_key_follows_the_debian_side_only() -> None:
    files = render_config(inputs(), read_sources(), b"KEY")
    debian, _ = split_layers(files)
    tools = {"live-build": "1:20230502", "debootstrap": "1.0.128"}
    scripts = {"lb-build.sh": b"#!/bin/sh\n"}
    base = chroot_key(inputs(), debian, tools, scripts)
    assert base == chroot_key(inputs(), dict(reversed(debian.items())), tools, scripts)
    # Homeguy's side, the date and the boot menu leave the Debian layer as it is.
    profile = replace(inputs().profile, homeguy_packages=("mip6d", "haiku"),
                      enable=("ssh.service",), bootappend="boot=live quiet", name="other")
    unchanged = replace(inputs(profile), source_date_epoch=1, keyring_url="http://x/",
                        repo_url="http://127.0.0.1:1/")
    again = split_layers(render_config(unchanged, read_sources(), b"KEY2"))[0]
    assert chroot_key(unchanged, again, tools, scripts) == base
    # The mirror, the Debian packages, the tools and the wrapper make another one.
    other_mirror = replace(inputs(), mirror="http://n/debian")
    assert chroot_key(other_mirror, debian, tools, scripts) != base
    more = replace(inputs(), profile=replace(inputs().profile, debian_packages=("python3",
                                                                               "sudo")))
    more_files = split_layers(render_config(more, read_sources(), b"KEY"))[0]
    assert chroot_key(more, more_files, tools, scripts) != base
    assert chroot_key(inputs(), debian, {**tools, "live-build": "2"}, scripts) != base
    assert chroot_key(inputs(), debian, tools, {"lb-build.sh": b"#"}) != base
    assert layer_env(base, {})["HOMEGUY_LAYER_KEY"] == base


def test_the_initramfs_is_made_again_only_for_what_it_is_made_of() -> None:
    _, homeguy = split_layers(render_config(inputs(), read_sources(), b"KEY"))
    assert initramfs_inputs(homeguy) == []
    assert layer_env("k", homeguy)["HOMEGUY_INITRAMFS"] == "keep"
    conf = ConfigFile(b"options ipv6 disable=0\n", 0o644)
    more = {**homeguy, "includes.chroot/etc/modprobe.d/mip6.conf": conf,
            "includes.chroot/etc/modules-load.d/mip6.conf": conf}
    assert initramfs_inputs(more) == ["includes.chroot/etc/modprobe.d/mip6.conf"]
    assert layer_env("k", more)["HOMEGUY_INITRAMFS"] == "make"


PACKAGES = """Package: homeguy-mobile-host
Version: 1
Depends: mip6d, mip6-kernel-config
SHA256: a1

Package: mip6d
Version: 2
Depends: python3-mip6d (= 2), iproute2
SHA256: b2

Package: python3-mip6d
Version: 2
SHA256: c3

Package: mip6-kernel-config
Version: 3
SHA256: d4

Package: haiku
Version: 9
SHA256: e5
"""


def test_closure_follows_dependencies_inside_the_repository() -> None:
    assert closure(PACKAGES, ("homeguy-mobile-host",)) == {
        "homeguy-mobile-host": "homeguy-mobile-host 1 a1", "mip6d": "mip6d 2 b2",
        "python3-mip6d": "python3-mip6d 2 c3", "mip6-kernel-config": "mip6-kernel-config 3 d4",
    }


def test_iso_name() -> None:
    assert iso_name("mobile-host", "0.1.0+3.gabc") == \
        "homeguy-mobile-host-0.1.0+3.gabc-amd64.hybrid.iso"


def test_build_time_apt_proxy_for_the_keyring_source() -> None:
    files = render_config(inputs(), read_sources(), b"")
    conf = files["apt/apt.conf"].content.decode()
    assert conf.splitlines()[-1] == \
        'Acquire::http::Proxy::localhost "http://127.0.0.1:8071/";'
    assert 'Acquire::http::Timeout "30";' in conf.splitlines()
    with pytest.raises(IsoError, match=r"repo/repo\.toml url 'file:///srv/repo'"):
        render_config(replace(inputs(), keyring_url="file:///srv/repo"), read_sources(), b"")


@pytest.mark.parametrize(("target", "prefix", "path"), [
    ("/dists/bookworm/InRelease", "/homeguy/", "/dists/bookworm/InRelease"),
    ("http://localhost/homeguy/dists/bookworm/InRelease", "/homeguy/",
     "/dists/bookworm/InRelease"),
    ("http://localhost/homeguy", "/homeguy/", "/"),
    ("http://localhost/homeguyx/a", "/homeguy/", "/homeguyx/a"),
    ("http://localhost/pool/a.deb", "/", "/pool/a.deb"),
])
def test_repo_server_paths(target: str, prefix: str, path: str) -> None:
    assert repo_path(target, prefix) == path


def test_repo_server_answers_apt_as_its_proxy(tmp_path: Path) -> None:
    import urllib.request  # noqa: PLC0415

    (tmp_path / "dists").mkdir()
    (tmp_path / "dists" / "Release").write_text("Origin: Homeguy\n")
    with serve_repo(tmp_path, 0, "http://localhost/homeguy/") as url:
        assert url.startswith("http://127.0.0.1:")
        direct = urllib.request.urlopen(url + "dists/Release").read()
        proxy = urllib.request.ProxyHandler({"http": url})
        via = urllib.request.build_opener(proxy).open(
            "http://localhost/homeguy/dists/Release").read()
    assert direct == via == b"Origin: Homeguy\n"


def test_normalize_chroot_removes_what_differs_between_builds(tmp_path: Path) -> None:
    root = tmp_path / "chroot"
    files = {
        "etc/machine-id": "0123456789abcdef\n", "etc/passwd-": "x", "etc/hostname": "keep\n",
        "var/log/dpkg.log": "2026-11-27 12:00:00 install\n", "var/log/apt/eipp.log.xz": "x",
        "var/log/journal/abc/system.journal": "x", "var/cache/ldconfig/aux-cache": "x",
        "var/lib/systemd/catalog/database": "x", "var/lib/dbus/machine-id": "x",
        "usr/lib/python3/dist-packages/m/__pycache__/m.cpython-311.pyc": "x",
        "usr/lib/python3/dist-packages/m/__init__.py": "", "var/cache/debconf/config.dat-old": "x",
        "var/cache/debconf/config.dat": "keep", "var/lib/systemd/random-seed": "x",
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    subprocess.run(["sh", LIVE / "normalize-chroot.sh", root], check=True,
                   capture_output=True, env={"SOURCE_DATE_EPOCH": "1700000000",
                                             "PATH": "/usr/bin:/bin"})
    left = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert left == {"etc/machine-id", "etc/hostname", "var/log/dpkg.log",
                    "usr/lib/python3/dist-packages/m/__init__.py",
                    "var/cache/debconf/config.dat"}
    assert (root / "etc/machine-id").read_text() == ""
    assert (root / "var/log/dpkg.log").read_text() == ""
    assert (root / "etc/hostname").read_text() == "keep\n"
    without_epoch = subprocess.run(["sh", LIVE / "normalize-chroot.sh", root], check=False,
                                   capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert without_epoch.returncode != 0 and "SOURCE_DATE_EPOCH" in without_epoch.stderr


def test_squashfs_leaves_out_apt_caches() -> None:
    files = render_config(inputs(), read_sources(), b"KEY")
    assert files["rootfs/excludes"].content == b"var/cache/apt/*.bin\n"
