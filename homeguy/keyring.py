"""The homeguy-archive-keyring package: the repository's public key and its apt source.

Neither file is in the tree. The signing key is created on first use outside it
(`signing_home` in repo/repo.toml); its public key is exported, the deb822 source is
written with the repository's `url`, and both go into the package at build time.
"""

from __future__ import annotations

from pathlib import Path

from homeguy import packages
from repo.publisher import signing
from repo.publisher.config import RepoConfig

PACKAGE = "homeguy-archive-keyring"
KEYRING_PATH = f"/usr/share/keyrings/{PACKAGE}.gpg"


def apt_source(config: RepoConfig) -> str:
    """The deb822 source the package installs: this repository, trusted by its key only.

    It names the first suite of the configuration: the release the packages are built for.
    """
    return (
        f"Types: deb\nURIs: {config.url}\nSuites: {config.suites[0].name}\n"
        f"Components: {config.default_component}\nSigned-By: {KEYRING_PATH}\n"
    )


def build(config: RepoConfig, workdir: Path) -> list[Path]:
    """Export the public key (creating the key on first use) and build the package."""
    key, _ = signing.ensure_key(config.signing_home, config.key_uid)
    workdir.mkdir(parents=True, exist_ok=True)
    public = workdir / f"{PACKAGE}.gpg"
    signing.export_public_key(key, workdir / f"{PACKAGE}.asc", public)
    signing.stop_agent(config.signing_home)
    sources = workdir / "homeguy.sources"
    sources.write_text(apt_source(config))
    package = next(p for p in packages.source_packages() if p.name == PACKAGE)
    return packages.build(package, extra={public.name: public, sources.name: sources})


def other_packages() -> list[packages.SourcePackage]:
    """Every source package but this one: those build from the tree alone."""
    return [p for p in packages.source_packages() if p.name != PACKAGE]
