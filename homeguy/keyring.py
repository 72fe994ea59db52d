"""The homeguy-archive-keyring package: the repository's public key, its apt source and
the apt pin for the patched packages.

None of the files is in the tree. The signing key is created on first use outside it
(`signing_home` in repo/repo.toml); its public key is exported, the deb822 source is
written with the repository's `url`, the pin from the patched recipes' binary packages
and the repository's Origin and Label, and all go into the package at build time.
"""

from __future__ import annotations

from pathlib import Path

from homeguy import packages, patched
from homeguy.repo import signing
from homeguy.repo.config import RepoConfig

PACKAGE = "homeguy-archive-keyring"
KEYRING_PATH = f"/usr/share/keyrings/{PACKAGE}.gpg"
# apt_preferences(5): at or above 1000 a version is installed even if it is a downgrade.
PIN_PRIORITY = 1001


def apt_source(config: RepoConfig) -> str:
    """The deb822 source the package installs: this repository, trusted by its key only.

    It names the first suite of the configuration: the release the packages are built for.
    """
    return (
        f"Types: deb\nURIs: {config.url}\nSuites: {config.suites[0].name}\n"
        f"Components: {config.default_component}\nSigned-By: {KEYRING_PATH}\n"
    )


def apt_preferences(config: RepoConfig, binaries: list[str]) -> str:
    """The pin that keeps the patched packages' binaries on Homeguy's builds.

    Homeguy's version (say 5.9.8-5+deb12u5+homeguy1) sorts below Debian's next security
    update (+deb12u6), which apt would otherwise take and lose the Mobile IPv6 fixes;
    pinned to the repository's Origin and Label above 1000, Homeguy's build is the
    candidate whatever the other versions, and replaces Debian's if that came first.
    When Debian fixes strongSwan, the recipe moves to that version and Homeguy publishes
    a new build.
    """
    if not binaries:
        raise ValueError("no patched binary packages to pin")
    return (
        "# Written by homeguy (homeguy/keyring.py): the binaries of Homeguy's patched\n"
        "# packages come from Homeguy's repository, even when another one has a higher\n"
        "# version (see apt_preferences(5)).\n"
        f"Package: {' '.join(sorted(set(binaries)))}\n"
        f"Pin: release o={config.origin},l={config.label}\n"
        f"Pin-Priority: {PIN_PRIORITY}\n"
    )


def patched_binaries() -> list[str]:
    return sorted({name for recipe in patched.recipes() for name in recipe.publish})


def build(config: RepoConfig, workdir: Path, into: Path = packages.DEBS) -> list[Path]:
    """Export the public keys (creating a key on first use) and build the package into
    `into` (out/debs unless told): during a key rotation (homeguy repo key rotate) the
    keyring holds the old and the new key."""
    keys, _ = signing.ensure_keys(config.signing_home, config.key_uid, config.key_valid_for)
    changed = signing.keys_changed(keys, signing.retired_times(config.signing_home))
    workdir.mkdir(parents=True, exist_ok=True)
    public = workdir / f"{PACKAGE}.gpg"
    signing.export_public_key(keys, workdir / f"{PACKAGE}.asc", public)
    signing.stop_agent(config.signing_home)
    sources = workdir / "homeguy.sources"
    sources.write_text(apt_source(config))
    pin = workdir / "homeguy.pref"
    pin.write_text(apt_preferences(config, patched_binaries()))
    package = next(p for p in packages.source_packages() if p.name == PACKAGE)
    # The version also says when the keys last changed: a rotation or a retirement gives
    # a newer package within one commit, which the repository takes and apt upgrades to.
    return packages.build(package, extra={public.name: public, sources.name: sources,
                                          pin.name: pin}, version_suffix=f".k{changed}",
                          into=into)


def other_packages() -> list[packages.SourcePackage]:
    """Every source package but this one: those build from the tree alone."""
    return [p for p in packages.source_packages() if p.name != PACKAGE]
