"""The mip6d.conf(5) reference, rendered from the keyword table as roff and Markdown.

Everything about a keyword (synopsis, description, value range, default, origin,
example) comes from :data:`mip6d.config.schema.KEYWORDS`, the value classes and the
model's defaults, so the documentation cannot drift from the parser. The Debian package
ships the roff page; ``python -m mip6d.config.reference --format roff`` writes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence

from mip6d.config.model import ALGORITHMS, Algorithm
from mip6d.config.parser import DEFAULT_CONFIG_PATH
from mip6d.config.schema import (
    BLOCK_MODELS,
    KEYWORDS,
    Action,
    Block,
    Body,
    Keyword,
    Origin,
    Section,
)
from mip6d.config.values import FALSE_WORDS, TRUE_WORDS, Optional, join_or

__all__ = ["default_text", "main", "render_markdown", "render_roff", "synopsis"]

_NAME = "mip6d.conf \\- configuration of the Homeguy Mobile IPv6 and NEMO daemon"

_SYNTAX = (
    "The file is a sequence of statements. A statement is a keyword, its values, and "
    "either ';' or a block of further statements in braces. Keywords are case-sensitive. "
    "Strings are written in double quotes on one line. A '#' starts a comment that runs to "
    "the end of the line. Booleans are written " + ", ".join(TRUE_WORDS) + " (true) or "
    + ", ".join(FALSE_WORDS) + " (false), interchangeably. Durations are seconds, with or "
    "without a fraction (1.5, 2). Addresses are IPv6 addresses; address/length and "
    "prefix/length add a prefix length. Keys and SPIs may be written in hexadecimal after 0x.",
    "The syntax is that of the UMIP mip6d daemon (USAGI, with the NEMO extensions of "
    "NEPL), so existing configuration files can be used as they are. What Homeguy adds "
    "is marked as a Homeguy extension below; UMIP does not understand it. Homeguy checks "
    "more than UMIP did: every error names the file, line and column, what was found and "
    "what was expected, and the daemon does not start on a configuration with an error.",
)

_COMPATIBILITY = (
    "A keyword given twice where once is expected is an error (UMIP kept the last one), "
    "also across included files.",
    "A home address, a mobile network prefix or an SPI given twice is an error that names "
    "both places.",
    "include resolves a relative pattern against the directory of the file that holds it, "
    "accepts an optional ';', and refuses include cycles and files included twice.",
    "Durations may be written without a fraction; the statements of IPsecPolicySet may come "
    "in any order; ';' after '}' is tolerated.",
    "IPsecPolicy accepts only UseESP, as UMIP does when built without MULTIPROTO_MIGRATE.",
    "UsePolicyModule is refused; NonVolatileBindingCache and UseMovementModule are accepted "
    "and ignored, with a warning.",
    "Interfaces are not looked up while the file is read: a missing home agent interface is "
    "reported when the daemon starts.",
)

_SEE_ALSO = (
    "RFC 6275: Mobility Support in IPv6",
    "RFC 3963: Network Mobility (NEMO) Basic Support Protocol",
    "RFC 3776: Using IPsec to Protect Mobile IPv6 Signaling Between Mobile Nodes and Home "
    "Agents",
    "RFC 4877: Mobile IPv6 Operation with IKEv2 and the Revised IPsec Architecture",
    "RFC 4303: IP Encapsulating Security Payload (ESP)",
)

_BODY_SUFFIX = {Body.NONE: ";", Body.REQUIRED: " { ... }", Body.OPTIONAL: " ; | { ... }"}


def synopsis(row: Keyword) -> str:
    """How a statement is written: ``DebugLevel number;``."""
    words = [] if row.anonymous else [row.name]
    words += [arg.synopsis for arg in row.args]
    suffix = " [;]" if row.action is Action.INCLUDE else _BODY_SUFFIX[row.body]
    return " ".join(words) + suffix


def default_text(row: Keyword) -> str | None:
    """The documented default: the row's own text, else the model's default formatted as
    the configuration would write it; None where a default makes no sense."""
    if row.default is not None:
        return row.default
    if row.required:
        return "none; required"
    if row.action is not Action.STORE or row.entry is not None or len(row.args) != 1:
        return None
    arg = row.args[0]
    if not isinstance(arg.field, str):
        return None
    model_fields = {f.name: f for f in dataclasses.fields(BLOCK_MODELS[row.block])}
    model_field = model_fields[arg.field]
    if model_field.default is dataclasses.MISSING:
        return None
    value = model_field.default
    return "none" if value is None else arg.format(value)


def _value_text(row: Keyword) -> str | None:
    if len(row.args) != 1 or row.entry is not None or row.action is Action.INCLUDE:
        return None
    arg = row.args[0]
    if isinstance(arg, Optional) or arg.synopsis.startswith('"'):
        return None
    return arg.what


def _top_rows(section: Section) -> list[Keyword]:
    return [k for k in KEYWORDS if k.block is Block.TOP and k.section is section]


def _children(block: Block) -> list[Keyword]:
    return [k for k in KEYWORDS if k.block is block]


def _origin_text(row: Keyword) -> str | None:
    return None if row.origin is Origin.UMIP else row.origin.value


def _algorithm_text(spec: Algorithm) -> str:
    bits = "no key" if spec.key_bits == (0,) else (
        "key of " + join_or([str(b) for b in spec.key_bits]) + " bits"
    )
    parts = [spec.kind.value, bits, f"kernel {spec.xfrm_name}"]
    if spec.icv_bits:
        parts.append(f"ICV {spec.icv_bits} bits")
    parts.append(spec.reference)
    if spec.note:
        parts.append(spec.note)
    return "; ".join(parts) + "."


def _extensions() -> list[Keyword]:
    return [k for k in KEYWORDS if k.extension and not k.anonymous]


def _extension_text(row: Keyword) -> str:
    where = "at top level" if row.block is Block.TOP else f"in {row.block.value}"
    return f"{row.origin.value}, {where}."


# ------------------------------------------------------------------------------- roff


def _roff(text: str) -> str:
    """Escape text for roff: backslashes, hyphens as minus signs, leading dots."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = [("\\&" + line) if line[:1] in (".", "'") else line for line in text.split("\n")]
    return "\n".join(lines)


def _roff_example(text: str) -> list[str]:
    return [".RS", ".nf", _roff(text), ".fi", ".RE"]


def _roff_row(row: Keyword, parent: Keyword | None = None) -> Iterator[str]:
    yield ".TP"
    # Bold by escape, not by .B: a text line keeps its quotes, and may break after '|'.
    yield "\\fB" + _roff(synopsis(row)).replace("|", "|\\:") + "\\fR"
    yield _roff(row.description)
    details = []
    value = _value_text(row)
    if value:
        details.append(f"Value: {value}.")
    default = default_text(row)
    if default:
        details.append(f"Default: {default}.")
    origin = _origin_text(row)
    if origin:
        details.append(f"Origin: {origin}.")
    for detail in details:
        yield ".br"
        yield _roff(detail)
    if row.opens is not None:
        yield ".RS"
        for child in _children(row.opens):
            yield from _roff_row(child, row)
        yield ".RE"
    if parent is None or row.example != parent.example:
        yield ".IP"
        yield "Example:"
        yield from _roff_example(row.example)


def render_roff() -> str:
    """The whole mip6d.conf(5) page."""
    out = [
        '.TH MIP6D.CONF 5 "" "Homeguy" "File Formats"',
        ".ad l",  # no justification: synopses have long unbreakable words
        ".nh",
        ".SH NAME",
        _NAME,
        ".SH SYNOPSIS",
        f".B {_roff(DEFAULT_CONFIG_PATH)}",
        ".br",
        ".B /etc/mip6d/nodes.d/*.conf",
        ".SH DESCRIPTION",
    ]
    for paragraph in _SYNTAX:
        out += [_roff(paragraph), ".PP"]
    out.pop()
    for section in Section:
        out.append(f".SH {section.value.upper()}")
        for row in _top_rows(section):
            out += list(_roff_row(row))
    out += [".SH STATIC KEY ALGORITHMS"]
    for spec in ALGORITHMS:
        out += [".TP", f".B {_roff(spec.name)}", _roff(_algorithm_text(spec))]
    out += [".SH HOMEGUY EXTENSIONS",
            _roff("These keywords are not UMIP's, or behave differently from UMIP's:")]
    for row in _extensions():
        out += [".TP", f".B {_roff(row.name)}", _roff(_extension_text(row))]
    out += [".SH COMPATIBILITY WITH UMIP"]
    for item in _COMPATIBILITY:
        out += [".IP \\(bu 2", _roff(item)]
    out += [
        ".SH FILES",
        ".TP",
        f".B {_roff(DEFAULT_CONFIG_PATH)}",
        "The configuration of the daemon.",
        ".TP",
        ".B /etc/mip6d/nodes.d/",
        _roff("On a home agent, one file per mobile node (its BindingAclPolicy, "
              "IPsecPolicySet and StaticKey), read through include."),
        ".SH SEE ALSO",
        ".BR mip6d (8),",
        ".BR glob (7)",
    ]
    for item in _SEE_ALSO:
        out += [".PP", _roff(item)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- markdown


def _md_row(row: Keyword, level: int, parent: Keyword | None = None) -> Iterator[str]:
    title = "peer line" if row.anonymous else row.name
    marker = f" *({row.origin.value})*" if row.origin is not Origin.UMIP else ""
    yield f"{'#' * level} {title}{marker}"
    yield ""
    yield f"`{synopsis(row)}`"
    yield ""
    yield row.description
    yield ""
    value = _value_text(row)
    if value:
        yield f"- Value: {value}."
    default = default_text(row)
    if default:
        yield f"- Default: {default}."
    if value or default:
        yield ""
    if row.opens is not None:
        for child in _children(row.opens):
            yield from _md_row(child, level + 1, row)
    if parent is None or row.example != parent.example:
        yield "Example:"
        yield ""
        yield "```"
        yield row.example
        yield "```"
        yield ""


def render_markdown() -> str:
    """The same reference as Markdown (for the project's documentation)."""
    out = ["# mip6d.conf(5)", "", _NAME.replace("\\-", "-"), "", "Files: "
           f"`{DEFAULT_CONFIG_PATH}`, `/etc/mip6d/nodes.d/*.conf`.", ""]
    for paragraph in _SYNTAX:
        out += [paragraph, ""]
    for section in Section:
        out += [f"## {section.value}", ""]
        for row in _top_rows(section):
            out += list(_md_row(row, 3))
    out += ["## Static key algorithms", "", "| name | kind | key bits | kernel | ICV bits | "
            "reference | note |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for spec in ALGORITHMS:
        bits = ", ".join(str(b) for b in spec.key_bits)
        out.append(f"| `{spec.name}` | {spec.kind.value} | {bits} | `{spec.xfrm_name}` | "
                   f"{spec.icv_bits or ''} | {spec.reference} | {spec.note} |")
    out += ["", "## Homeguy extensions", ""]
    out += [f"- `{row.name}`: {_extension_text(row)}" for row in _extensions()]
    out += ["", "## Compatibility with UMIP", ""]
    out += [f"- {item}" for item in _COMPATIBILITY]
    out += ["", "## See also", ""]
    out += [f"- {item}" for item in _SEE_ALSO]
    return "\n".join(out) + "\n"


_RENDERERS: dict[str, Callable[[], str]] = {"roff": render_roff, "markdown": render_markdown}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mip6d.config.reference", description="Write the mip6d.conf reference."
    )
    parser.add_argument("--format", choices=sorted(_RENDERERS), default="roff")
    parser.add_argument("--output", "-o", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = _RENDERERS[args.format]()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

