"""Properties over generated input: any text either parses or raises ConfigError (never
another exception), and every scalar keyword reads back the value it was written with."""

import dataclasses
from ipaddress import IPv6Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mip6d.config import Config, ConfigError, parse
from mip6d.config.schema import KEYWORDS, Action, Block, Keyword
from mip6d.config.values import Bool, Choice, Int, Seconds

pytestmark = pytest.mark.unit

VOCABULARY = [
    *sorted(
        {k.name for k in KEYWORDS if not k.anonymous}
        | {"enabled", "disabled", "allow", "deny", "HA", "MN", "CN", "UseESP", "Mh", "MnToHa",
           "aes-cbc", "hmac-sha1", "internal"}
    ),
    *["{", "}", ";", "(", ")", ",", "/", '"eth0"', '"nodes.d/*.conf"', "2001:db8::1", "::",
      "64", "1.5", "0x1001", "0x" + "ab" * 16, "# c\n", "\n"],
]


def loader(pattern: str) -> list[tuple[str, str]]:
    return [("/inc.conf", "DebugLevel 1;")] if "nodes" in pattern else []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse(text, "fuzz.conf", loader)
    except ConfigError as error:
        assert str(error).startswith("fuzz.conf")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=40))
def test_token_soup_never_crashes(words: list[str]) -> None:
    try:
        config = parse(" ".join(words), "soup.conf", loader)
    except ConfigError as error:
        assert error.line >= 1 and error.column >= 1
        assert error.path in ("soup.conf", "/inc.conf")
    else:
        assert isinstance(config, Config)


def _scalar_rows() -> list[Keyword]:
    return [
        k for k in KEYWORDS
        if k.block is Block.TOP and k.action is Action.STORE and k.entry is None
        and len(k.args) == 1 and isinstance(k.args[0], Bool | Int | Seconds | Choice)
    ]


def _value(row: Keyword) -> st.SearchStrategy[object]:
    arg = row.args[0]
    if isinstance(arg, Bool):
        return st.booleans()
    if isinstance(arg, Int):
        return st.integers(arg.minimum, arg.maximum)
    if isinstance(arg, Seconds):
        low = 0.001 if arg.positive else 0.0
        return st.integers(int(low * 1000), int(arg.maximum * 1000)).map(lambda n: n / 1000)
    assert isinstance(arg, Choice)
    return st.sampled_from(arg.choices).map(arg.convert)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_scalar_keywords_read_back_what_was_written(data: st.DataObject) -> None:
    row = data.draw(st.sampled_from(_scalar_rows()))
    value = data.draw(_value(row))
    arg = row.args[0]
    text = f"{row.name} {arg.format(value)};"
    if row.name == "NodeConfig" and value == "HA":
        text += '\nInterface "eth0";'
    if row.name == "NodeConfig" and value == "MN":
        text += '\nMnHomeLink "e" { HomeAgentAddress ::; HomeAddress 2001:db8::2/64; }'
    try:
        config = parse(text, "rt.conf")
    except ConfigError as error:
        # Only the cross-checks between timers may refuse an in-range value.
        assert "expected at" in error.message and ("Interval" in text or "Bindack" in text)
        return
    assert isinstance(arg.field, str)
    assert getattr(config, arg.field) == value
    assert config.where(arg.field).line == 1


@settings(deadline=None)
@given(st.lists(st.integers(1, 0xFFFF), min_size=1, max_size=8, unique=True))
def test_binding_acl_entries_keep_their_order(suffixes: list[int]) -> None:
    text = "".join(f"BindingAclPolicy 2001:db8::{n:x} allow;\n" for n in suffixes)
    config = parse(text)
    assert [a.home_address for a in config.binding_acl] == [
        IPv6Address(f"2001:db8::{n:x}") for n in suffixes
    ]
    assert [a.location.line for a in config.binding_acl] == list(range(1, len(suffixes) + 1))


def test_models_are_frozen_and_hashable() -> None:
    config = parse('Interface "eth0";\nBindingAclPolicy 2001:db8::1 allow;')
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.debug_level = 3  # type: ignore[misc]
    assert hash(config) == hash(parse('Interface "eth0";\nBindingAclPolicy 2001:db8::1 allow;'))
