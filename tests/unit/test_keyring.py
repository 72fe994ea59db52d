"""The keyring package pins nothing, and removes the pin its versions before 0.2.0
installed (the upgrade itself: tests/e2e/test_patched_build.py)."""

from __future__ import annotations

import pytest
from debian.changelog import Changelog
from debian.debian_support import version_compare

from homeguy import keyring, packages

pytestmark = pytest.mark.unit

DEBIAN = packages.PACKAGES / keyring.PACKAGE / "debian"


def test_the_package_installs_no_apt_preferences() -> None:
    installed = (DEBIAN / "install").read_text()
    assert "preferences" not in installed and "homeguy.pref" not in installed


def test_the_old_pin_is_removed_on_upgrade_from_every_version_that_had_it() -> None:
    (line,) = (DEBIAN / f"{keyring.PACKAGE}.maintscript").read_text().splitlines()
    command, conffile, prior = line.split()
    assert (command, conffile) == ("rm_conffile", keyring.OLD_PIN)
    versions = [str(block.version) for block in Changelog((DEBIAN / "changelog").read_text())]
    # The git-derived versions of 0.1.0 (0.1.0+N.gHASH...) sort below `prior`, this
    # release's above it.
    assert version_compare(f"{versions[-1]}+999.gffffff.k9999999999", prior) < 0
    assert version_compare(f"{versions[0]}+1.g0000000", prior) > 0
