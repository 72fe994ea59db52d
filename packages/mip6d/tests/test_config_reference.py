"""The keyword table drives the docs: every keyword is documented, every example parses,
the man page is clean roff, and the table agrees with the model."""

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from mip6d.config import ConfigError, parse
from mip6d.config.lexer import TokenKind, tokenize
from mip6d.config.reference import (
    default_text,
    main,
    render_markdown,
    render_roff,
    synopsis,
)
from mip6d.config.schema import (
    BLOCK_MODELS,
    BY_BLOCK,
    KEYWORDS,
    Action,
    Block,
    Keyword,
    Origin,
    Shape,
)

pytestmark = pytest.mark.unit

DOCUMENTED = [k for k in KEYWORDS if not k.anonymous]


def no_files(pattern: str) -> list[tuple[str, str]]:
    return []


@pytest.fixture(scope="module")
def roff() -> str:
    return render_roff()


@pytest.fixture(scope="module")
def markdown() -> str:
    return render_markdown()


@pytest.mark.parametrize("row", DOCUMENTED, ids=lambda k: f"{k.block.name}.{k.name}")
def test_every_keyword_is_in_both_renderings(row: Keyword, roff: str, markdown: str) -> None:
    escaped = synopsis(row).replace("\\", "\\e").replace("-", "\\-").replace("|", "|\\:")
    assert f"\\fB{escaped}\\fR" in roff
    assert row.description.replace("-", "\\-") in roff
    assert f"# {row.name}" in markdown
    assert f"`{synopsis(row)}`" in markdown
    assert row.example in markdown


@pytest.mark.parametrize("row", KEYWORDS, ids=lambda k: f"{k.block.name}.{k.name}")
def test_every_example_is_accepted(row: Keyword) -> None:
    if row.action is Action.REJECT:
        with pytest.raises(ConfigError) as caught:
            parse(row.example, "example.conf", no_files)
        assert caught.value.message == f"{row.name} is not supported: {row.note}"
        return
    config = parse(row.example, "example.conf", no_files)
    if row.action is Action.IGNORE:
        assert [w.message for w in config.warnings] == [
            f"{row.name} is accepted for compatibility and ignored: {row.note}"
        ]
    elif row.action is Action.STORE:
        assert config.warnings == ()


@pytest.mark.parametrize("row", DOCUMENTED, ids=lambda k: f"{k.block.name}.{k.name}")
def test_every_example_uses_its_keyword(row: Keyword) -> None:
    words = [t.text for t in tokenize(row.example, "x") if t.kind is TokenKind.WORD]
    assert row.name in words


# Examples that show the default on purpose (it is the value to write).
SHOWS_DEFAULT = {
    "ControlSocket", "StateFile", "MaxBindackTimeout", "InitialBindackTimeoutFirstReg",
    "InitialBindackTimeoutReReg", "InitialSolicitTimer",
}


def test_examples_change_something_from_the_defaults() -> None:
    for row in KEYWORDS:
        if row.action is Action.STORE and row.name not in SHOWS_DEFAULT:
            assert parse(row.example, loader=no_files) != parse(""), row.name
        elif row.name in SHOWS_DEFAULT:
            assert parse(row.example) == parse(""), row.name


@pytest.mark.parametrize("row", KEYWORDS, ids=lambda k: f"{k.block.name}.{k.name}")
def test_table_agrees_with_the_model(row: Keyword) -> None:
    target = row.entry if row.entry is not None else BLOCK_MODELS[row.block]
    names = {f.name for f in dataclasses.fields(target)}
    for arg in row.args:
        fields = arg.field if isinstance(arg.field, tuple) else (arg.field,)
        for name in fields:
            if name is None or row.action is not Action.STORE:
                continue
            if row.shape is Shape.APPEND and row.entry is None:
                continue  # a single value appended to the enclosing list
            assert name in names, (row.name, name)
    if row.field is not None:
        enclosing = {f.name for f in dataclasses.fields(BLOCK_MODELS[row.block])}
        assert row.field in enclosing
    if row.opens is not None and row.entry is not None:
        assert BLOCK_MODELS[row.opens] is row.entry


def test_keywords_are_unique_per_block_and_every_block_is_reachable() -> None:
    for block in Block:
        names = [k.name for k in KEYWORDS if k.block is block]
        assert len(names) == len(set(names)), block
    opened = {k.opens for k in KEYWORDS if k.opens is not None}
    assert opened | {Block.TOP} == set(Block)
    assert set(BY_BLOCK[Block.CN_BINDING_POLICY_SET]) == set()


def test_extensions_are_marked(roff: str, markdown: str) -> None:
    extensions = {k.name for k in KEYWORDS if k.extension}
    assert extensions == {
        "include", "ControlSocket", "StateFile", "MetricsListen", "StaticKey", "Encryption",
        "Authentication", "MaxBindackTimeout", "HaPreference", "HaAcceptMultipleCoA", "Bid",
        "BidPriority", "RegMultipleCoA", "FlowBinding", "FlowPriority", "BindingIds", "Protocol",
        "SourcePort", "DestinationPort", "SourceAddress", "DestinationAddress",
    }
    section = roff.split(".SH HOMEGUY EXTENSIONS")[1].split(".SH ", maxsplit=1)[0]
    for name in extensions:
        assert f".B {name}\n" in section
        assert f"- `{name}`: " in markdown
    assert "\\fBStaticKey MnToHa|\\:HaToMn spi reqid { ... }\\fR" in roff
    assert "Origin: Homeguy extension." in roff
    assert "### StaticKey *(Homeguy extension)*" in markdown
    assert "### include *(UMIP, extended by Homeguy)*" in markdown
    assert "### HaAcceptMobRtr *(UMIP, NEMO Basic Support (NEPL))*" in markdown
    assert "##### BindingIds *(Homeguy extension)*" in markdown
    assert "\\fBDestinationPort port [end\\-port];\\fR" in roff
    assert {k.origin for k in KEYWORDS} == set(Origin)


def test_defaults_come_from_the_model() -> None:
    rows = {(k.block, k.name): k for k in KEYWORDS}
    expected = {
        (Block.TOP, "NodeConfig"): "CN",
        (Block.TOP, "DebugLevel"): "0",
        (Block.TOP, "DebugLogFile"): "standard error",
        (Block.TOP, "UseMnHaIPsec"): "enabled",
        (Block.TOP, "InitialBindackTimeoutFirstReg"): "1.5",
        (Block.TOP, "InitialBindackTimeoutReReg"): "1.0",
        (Block.TOP, "DefaultBindingAclPolicy"): "allow",
        (Block.TOP, "HaMaxBindingLife"): "262140",
        (Block.TOP, "ControlSocket"): '"/run/mip6d/control.sock"',
        (Block.TOP, "MetricsListen"): "none (disabled)",
        (Block.INTERFACE, "MnIfPreference"): "10",
        (Block.INTERFACE, "IfType"): "the NodeConfig value",
        (Block.MN_HOME_LINK, "HomeAddress"): "none; required",
        (Block.MN_HOME_LINK, "HomeAgentAddress"): "::",
        (Block.TOP, "include"): None,
        (Block.TOP, "BindingAclPolicy"): "none",
        (Block.TOP, "UsePolicyModule"): None,
        (Block.INTERFACE, "Bid"): "none",
        (Block.INTERFACE, "BidPriority"): "none",
        (Block.MN_HOME_LINK, "RegMultipleCoA"): "disabled",
        (Block.MN_HOME_LINK, "FlowBinding"): "none",
        (Block.FLOW_BINDING, "FlowPriority"): "none; required",
        (Block.FLOW_BINDING, "BindingIds"): "none; required",
        (Block.FLOW_BINDING, "Protocol"): "any",
    }
    for key, text in expected.items():
        assert default_text(rows[key]) == text, key


def test_roff_page_structure(roff: str) -> None:
    lines = roff.splitlines()
    assert lines[0] == '.TH MIP6D.CONF 5 "" "Homeguy" "File Formats"'
    sections = [line for line in lines if line.startswith(".SH ")]
    assert sections == [
        ".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH COMMON OPTIONS",
        ".SH OPTIONS COMMON TO HOME AGENT AND MOBILE NODE", ".SH HOME AGENT OPTIONS",
        ".SH MOBILE NODE AND MOBILE ROUTER OPTIONS", ".SH STATIC KEY ALGORITHMS",
        ".SH HOMEGUY EXTENSIONS", ".SH COMPATIBILITY WITH UMIP", ".SH FILES", ".SH SEE ALSO",
    ]
    assert lines.count(".RS") == lines.count(".RE")
    assert lines.count(".nf") == lines.count(".fi")
    # no text line that roff would take for a request
    text_lines = [line for line in lines if not line.startswith(".")]
    assert not [line for line in text_lines if line.startswith("'")]
    assert ".B aes\\-gcm" in lines


def test_groff_reports_nothing(roff: str) -> None:
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z"], input=roff, capture_output=True, text=True,
        check=True,
    )
    assert result.stderr == ""


@pytest.mark.parametrize("width", ["60", "80", "120"])
def test_man_reports_nothing_as_lintian_runs_it(roff: str, tmp_path: Path, width: str) -> None:
    page = tmp_path / "mip6d.conf.5"
    page.write_text(roff)
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANROFFSEQ": "", "MANWIDTH": width}
    result = subprocess.run(
        ["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(page)],
        capture_output=True, text=True, env=env, check=True,
    )
    assert result.stderr == ""
    assert "StaticKey" in result.stdout


def test_markdown_structure(markdown: str) -> None:
    assert markdown.startswith("# mip6d.conf(5)\n")
    assert markdown.count("```") % 2 == 0
    assert "| `aes-cbc` | encryption | 128, 192, 256 | `cbc(aes)` |  | RFC 3602 |  |" in markdown
    assert "- Default: 1.5." in markdown
    assert "- Value: a number from 0 to 10." in markdown


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "mip6d.conf.5"
    assert main(["--format", "roff", "-o", str(target)]) == 0
    assert target.read_text() == render_roff()
    assert main(["--format", "markdown"]) == 0
    assert capsys.readouterr().out == render_markdown()
