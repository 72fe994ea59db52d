"""repo/repo.toml: the SETTINGS table drives parsing, checks and the README's reference."""

from pathlib import Path

import pytest

from homeguy.repo.config import (
    DEFAULT_CONFIG,
    ConfigError,
    Suite,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    settings_reference,
)

pytestmark = pytest.mark.unit

MINIMAL = """
[repository]
origin = "O"
label = "L"

[[suite]]
name = "bookworm"
"""


def test_the_shipped_configuration() -> None:
    config = load_config()
    # bookworm only: no suite of binaries built for another release (repo/README.md, Suites).
    assert config.suites == (Suite("bookworm", "bookworm", "Homeguy for Debian 12 (bookworm)"),)
    assert config.components == ("main",)
    assert config.architectures == ("amd64", "all")
    assert config.machine_architectures == ("amd64",)
    assert config.keep_versions == 3
    assert config.keep_superseded == 86400
    assert config.valid_for == 30 * 86400
    assert config.signing_home == Path("/var/lib/homeguy/repo-signing")
    assert config.config_file == str(DEFAULT_CONFIG)


def test_defaults_fill_what_is_left_out() -> None:
    config = parse_config(MINIMAL, "x.toml")
    assert config.valid_for is None
    assert config.default_component == "main"
    assert config.suites == (Suite("bookworm", "bookworm", ""),)
    assert config.keyring_name == "homeguy-archive-keyring"


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90s", "30m", "12h", "7d")] == [90, 1800, 43200, 604800]
    assert [format_duration(s) for s in (90, 1800, 86400, 3601)] == ["90s", "30m", "1d", "3601s"]
    with pytest.raises(ValueError):
        parse_duration("7 days")


@pytest.mark.parametrize(("text", "message"), [
    ("[repository]\norigin = 'O'\n", "x.toml: [repository]: label is missing; add label = ..."),
    (MINIMAL.replace('label = "L"', 'label = "L"\nkeep_versions = 0'),
     "x.toml: [repository]: keep_versions = 0 is not valid; expected: whole number >= 1"),
    (MINIMAL.replace('label = "L"', 'label = "L"\nkeep_superseded = "1 day"'),
     "x.toml: [repository]: keep_superseded = '1 day' is not valid; "
     "expected: duration (90s, 30m, 12h, 7d)"),
    (MINIMAL.replace('label = "L"', 'label = "L"\ncolour = "red"'),
     "x.toml: [repository]: unknown key 'colour'; known keys: origin, label, description, "
     "components, default_component, architectures, keep_versions, keep_superseded, "
     "valid_for, signing_home, key_valid_for, key_uid, keyring_name, url (see repo/README.md)"),
    (MINIMAL.replace('label = "L"', 'label = "L"\narchitectures = ["all"]'),
     "x.toml: [repository] architectures: name at least one machine architecture besides "
     "'all' (for example 'amd64')"),
    (MINIMAL.replace('label = "L"', 'label = "L"\ncomponents = ["Main"]'),
     "x.toml: [repository] components: 'Main' is not a valid name (lower-case letters, "
     "digits, '.', '+', '-')"),
    (MINIMAL.replace('label = "L"', 'label = "L"\ndefault_component = "contrib"'),
     "x.toml: [repository] default_component = 'contrib' is not one of components = ['main']"),
    (MINIMAL.replace('label = "L"', 'label = "L"\nsigning_home = "keys"'),
     "x.toml: [repository]: signing_home = 'keys' is not valid; expected: "
     "absolute path"),
    (MINIMAL.replace('label = "L"', 'label = "L"\nkey_uid = "nobody"'),
     "x.toml: [repository] key_uid = 'nobody' is not 'Name <email>'"),
    (MINIMAL + '[[suite]]\nname = "bookworm"\n', "x.toml: suite 'bookworm' is declared twice"),
    (MINIMAL.replace('name = "bookworm"', 'name = "../up"'),
     "x.toml: [[suite]] #1: name = '../up' is not a valid suite name (letters, digits, '.', "
     "'+', '_', '-')"),
    ("[repository]\norigin = 'O'\nlabel = 'L'\n",
     "x.toml: no [[suite]] table; add one per suite, e.g. [[suite]] name = \"bookworm\""),
    ("[repo]\n", "x.toml: unknown table [repo]; expected [repository] and [[suite]]"),
    ("origin = ", "x.toml: not valid TOML: Invalid value (at end of document)"),
])
def test_errors_name_the_file_the_key_and_what_to_do(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(text, "x.toml")
    assert str(error.value) == message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.toml: cannot read the repository "
                                          r"configuration: No such file or directory"):
        load_config(tmp_path / "missing.toml")


def test_readme_shows_the_settings_table() -> None:
    """repo/README.md carries the table generated from SETTINGS, verbatim."""
    readme = (DEFAULT_CONFIG.parent / "README.md").read_text()
    assert settings_reference() in readme
