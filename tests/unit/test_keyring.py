"""The apt pin the keyring package ships: exact text, from the recipes and repo.toml."""

from __future__ import annotations

import pytest

from homeguy import keyring
from homeguy.repo.config import load_config

pytestmark = pytest.mark.unit


def test_pin_names_the_patched_binaries_and_the_repository() -> None:
    text = keyring.apt_preferences(load_config(), ["libstrongswan", "charon-systemd",
                                                   "libstrongswan"])
    assert text.splitlines()[3:] == [
        "Package: charon-systemd libstrongswan",
        "Pin: release o=Homeguy,l=Homeguy",
        "Pin-Priority: 1001",
    ]
    assert all(line.startswith("#") for line in text.splitlines()[:3])


def test_pin_covers_what_the_strongswan_recipe_publishes() -> None:
    binaries = keyring.patched_binaries()
    assert {"libstrongswan", "strongswan-charon", "charon-systemd", "strongswan-swanctl",
            "strongswan-libcharon"} <= set(binaries)


def test_no_binaries_is_an_error() -> None:
    with pytest.raises(ValueError, match="no patched binary packages to pin"):
        keyring.apt_preferences(load_config(), [])
