"""The homeguy-archive-keyring package: the repository's public key and its apt source.

Neither file is in the tree. The signing key is created on first use outside it
(`signing_home` in repo/repo.toml); its public key is exported, the deb822 source is
written with the repository's `url`, and both go into the package at build time.

The package ships no apt pin any more (before 0.2.0 it pinned the patched strongSwan to
this repository at priority 1001, which held every node on Homeguy's build when Debian
published a security update above it): the patched builder follows Debian's newest
source, so Homeguy's build sorts above Debian's when it has one, and Debian's wins when
it is newer (packages/strongswan-mip6/README.md). Its maintscript removes the old pin.
"""

from __future__ import annotations

from pathlib import Path

from homeguy import packages
from homeguy.repo import signing
from homeguy.repo.config import RepoConfig

PACKAGE = "homeguy-archive-keyring"
KEYRING_PATH = f"/usr/share/keyrings/{PACKAGE}.gpg"
# What versions before 0.2.0 installed (removed on upgrade by debian/*.maintscript).
OLD_PIN = "/etc/apt/preferences.d/homeguy.pref"


def apt_source(config: RepoConfig) -> str:
    """The deb822 source the package installs: this repository, trusted by its key only.

    It names the first suite of the configuration: the release the packages are built for.
    """
    return (
        f"Types: deb\nURIs: {config.url}\nSuites: {config.suites[0].name}\n"
        f"Components: {config.default_component}\nSigned-By: {KEYRING_PATH}\n"
    )


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
    package = next(p for p in packages.source_packages() if p.name == PACKAGE)
    # The version also says when the keys last changed: a rotation or a retirement gives
    # a newer package within one commit, which the repository takes and apt upgrades to.
    return packages.build(package, extra={public.name: public, sources.name: sources},
                          version_suffix=f".k{changed}",
                          into=into)


def other_packages() -> list[packages.SourcePackage]:
    """Every source package but this one: those build from the tree alone."""
    return [p for p in packages.source_packages() if p.name != PACKAGE]
