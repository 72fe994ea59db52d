"""Reading mip6d.conf: a pure :func:`parse` over text, and a thin :func:`load` for files.

The parser is generic over the keyword table (:mod:`mip6d.config.schema`): it looks a
keyword up in the table of the block it stands in, reads the arguments the row lists,
then ``;`` or a block, and stores the values as the row says. Nothing here knows a
keyword by name. After the whole configuration, included files and all, has been read,
:func:`mip6d.config.validate.validate` checks what needs more than one statement.

``include`` patterns are resolved relative to the directory of the file that holds them
and handed to a *loader*, ``loader(pattern) -> [(path, text), ...]``, the only way the
parser sees other files; :func:`filesystem_loader` is the real one, tests pass a dict's.
"""

from __future__ import annotations

import difflib
import errno
import glob
import os
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TypeVar

from mip6d.config.errors import ConfigError, ConfigWarning, Location
from mip6d.config.lexer import Token, TokenKind, describe, tokenize
from mip6d.config.model import Config
from mip6d.config.schema import (
    ANONYMOUS,
    BY_BLOCK,
    KEYWORDS,
    Action,
    Block,
    Body,
    Keyword,
    Shape,
    blocks_of,
)
from mip6d.config.validate import validate
from mip6d.config.values import Context, PortRange, Repeat, ReqIds, join_or

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "MAX_INCLUDE_DEPTH",
    "Loader",
    "filesystem_loader",
    "load",
    "parse",
]

DEFAULT_CONFIG_PATH = "/etc/mip6d/mip6d.conf"
MAX_INCLUDE_DEPTH = 16

Loader = Callable[[str], Sequence[tuple[str, str]]]
T = TypeVar("T")

_GLOB_MAGIC = re.compile(r"[*?[]")


def parse(text: str, path: str = "<string>", loader: Loader | None = None) -> Config:
    """The configuration in ``text``, read as file ``path``.

    ``loader`` serves ``include``: given a pattern (already joined to the directory of
    ``path`` when relative) it returns the matching files as ``(path, text)`` pairs.
    Without a loader an ``include`` is an error. Raises :class:`ConfigError`.
    """
    state = _State(loader=loader, top=_Fields("the configuration"), sources=[path])
    _Parser(tokenize(text, path), path, state, (posixpath.normpath(path),)).top_level()
    config = replace(
        _build(Config, state.top, Location(path, 1, 1)),
        sources=tuple(state.sources),
        warnings=tuple(state.warnings),
    )
    return validate(config)


def load(path: str = DEFAULT_CONFIG_PATH) -> Config:
    """Read and parse the configuration file ``path`` and everything it includes."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except UnicodeDecodeError as error:
        raise ConfigError(path, 0, 0, f"cannot read the configuration: not UTF-8 text "
                          f"(byte {error.start})") from None
    except OSError as error:
        raise ConfigError(path, 0, 0, f"cannot read the configuration: {error.strerror}"
                          ) from None
    return parse(text, path, filesystem_loader)


def filesystem_loader(pattern: str) -> list[tuple[str, str]]:
    """The regular files matching the glob ``pattern``, sorted by path, with their text.

    As with a shell glob, names starting with a dot match only a pattern that says so.
    Raises ``OSError`` for a file that cannot be read or is not UTF-8.
    """
    files: list[tuple[str, str]] = []
    for path in sorted(glob.glob(pattern)):
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as file:
                files.append((path, file.read()))
        except UnicodeDecodeError:
            raise OSError(errno.EILSEQ, "not UTF-8 text", path) from None
    return files


# ---------------------------------------------------------------------------- internals


class _Fields:
    """The fields of one object being built, and where each was set."""

    def __init__(self, title: str) -> None:
        self.title = title  # 'MnHomeLink "eth0"', for messages
        self.values: dict[str, object] = {}
        self.locations: dict[str, Location] = {}
        self.statements: dict[str, Location] = {}  # keyword -> its first statement

    def view(self, title: str) -> _Fields:
        """The same fields under another title (a block without an object of its own)."""
        other = _Fields(title)
        other.values, other.locations, other.statements = (
            self.values, self.locations, self.statements
        )
        return other

    def once(self, row: Keyword, where: Location) -> None:
        first = self.statements.get(row.name)
        if first is not None and row.shape is Shape.SET:
            inside = "" if row.block is Block.TOP else f" in {self.title}"
            raise ConfigError.at(
                where, f"{row.name} given twice{inside}; expected it at most once (first "
                f"at {first})",
            )
        self.statements.setdefault(row.name, where)

    def put(self, name: str, value: object, where: Location) -> None:
        self.values[name] = value
        self.locations[name] = where

    def append(self, name: str, value: object, where: Location) -> None:
        items = self.values.setdefault(name, [])
        assert isinstance(items, list)
        self.locations[f"{name}[{len(items)}]"] = where
        items.append(value)
        self.locations.setdefault(name, where)


@dataclass
class _State:
    """What all files of one configuration share."""

    loader: Loader | None
    top: _Fields
    sources: list[str]
    warnings: list[ConfigWarning] = field(default_factory=list)
    included: dict[str, Location] = field(default_factory=dict)


def _build(model: Callable[..., T], fields: _Fields, where: Location) -> T:
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.values.items()}
    return model(**values, location=where, field_locations=MappingProxyType(fields.locations))


def _where_text(block: Block, fields: _Fields) -> str:
    return "at top level" if block is Block.TOP else f"in {fields.title}"


class _Parser:
    """Reads the tokens of one file into the fields it is given."""

    def __init__(
        self, tokens: list[Token], path: str, state: _State, chain: tuple[str, ...]
    ) -> None:
        self.tokens = tokens
        self.index = 0
        self.path = path
        self.state = state
        self.chain = chain  # the files being read, outermost first (normalised paths)

    # The token stream that values read from (mip6d.config.values.Stream).
    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not TokenKind.EOF:
            self.index += 1
        return token

    def top_level(self) -> None:
        while self.peek().kind is not TokenKind.EOF:
            self.statement(Block.TOP, self.state.top)

    def block(self, block: Block, fields: _Fields, opener: Token) -> Token:
        """Statements up to the closing brace, which is returned."""
        while True:
            token = self.peek()
            if token.is_punct("}"):
                return self.take()
            if token.kind is TokenKind.EOF:
                raise ConfigError.at(
                    token.location, f"expected '}}' to close {fields.title} opened at line "
                    f"{opener.location.line}, found end of file",
                )
            self.statement(block, fields)

    def keyword(self, block: Block, fields: _Fields) -> Keyword:
        """The row the next statement follows (a keyword is taken, a value is not)."""
        token = self.peek()
        anonymous = ANONYMOUS.get(block)
        if anonymous is not None:
            if anonymous.args[0].starts(token):
                return anonymous
            raise ConfigError.at(
                token.location, f"expected {anonymous.args[0].what} {_where_text(block, fields)}"
                f", found {describe(token)}",
            )
        if token.kind is not TokenKind.WORD:
            raise ConfigError.at(
                token.location,
                f"expected a keyword {_where_text(block, fields)}, found {describe(token)}",
            )
        self.take()
        row = BY_BLOCK[block].get(token.text)
        if row is None:
            raise ConfigError.at(token.location, _unknown(token.text, block, fields))
        return row

    def statement(self, block: Block, fields: _Fields) -> None:
        first = self.index
        start = self.peek()
        row = self.keyword(block, fields)
        if row.action is Action.REJECT:
            raise ConfigError.at(start.location, f"{row.name} is not supported: {row.note}")
        ctx = Context(row.name)
        values = _Fields(row.name)
        expected_more: list[str] = []  # what the statement could still take before ';'
        for arg in row.args:
            taken = self.index
            if arg.optional and not arg.starts(self.peek()):
                expected_more.append(arg.what)
                value = arg.parse(self, ctx)
            else:
                if not arg.starts(self.peek()):  # then it fails at once
                    ctx.pending, ctx.pending_at = expected_more, self.peek()
                before = ctx.after
                value = arg.parse(self, ctx)
                if ctx.after == before:
                    ctx.after = f"{row.name} {arg.label}"
                expected_more = []
                if isinstance(arg, Repeat) and len(_items(value)) < arg.maximum:
                    expected_more = [arg.what]
                if isinstance(arg, ReqIds | PortRange) and self.index - taken < 2:
                    expected_more = [arg.what]
            names = arg.field if isinstance(arg.field, tuple) else (arg.field,)
            items = _items(value) if isinstance(arg.field, tuple) else (value,)
            for name, item in zip(names, items, strict=True):
                if name is not None:
                    ctx.values[name] = item
                    values.put(name, item, start.location)
        title = " ".join(t.text for t in self.tokens[first:self.index])

        if row.action is Action.INCLUDE:
            if self.peek().is_punct(";"):  # UMIP wants none; Homeguy takes both
                self.take()
            self.include(start.location, str(ctx.values["pattern"]))
            return
        if row.action is Action.IGNORE:
            self.state.warnings.append(ConfigWarning(
                start.location,
                f"{row.name} is accepted for compatibility and ignored: {row.note}",
            ))

        if row.opens is not None and row.entry is None:
            target = fields.view(title)  # its lines fill the enclosing object
        else:
            target = values
            target.title = title
        self.terminator(row, ctx, expected_more, target, start)
        if row.action is Action.STORE:
            _store(row, fields, target, start.location)

    def terminator(
        self, row: Keyword, ctx: Context, expected_more: list[str], target: _Fields,
        start: Token,
    ) -> None:
        """The ';' or the block that ends the statement."""
        token = self.peek()
        if row.body is not Body.REQUIRED and token.is_punct(";"):
            end = self.take()
        elif row.body is not Body.NONE and token.is_punct("{"):
            self.take()
            assert row.opens is not None
            end = self.block(row.opens, target, start)
            if self.peek().is_punct(";"):  # tolerated after '}'
                self.take()
        else:
            ctx.pending, ctx.pending_at = expected_more, token
            ctx.fail(row.body.value, self.take())
        if row.opens is not None:
            for required in BY_BLOCK[row.opens].values():
                if required.required and required.name not in target.statements:
                    article = "an" if required.name[0] in "AEIOU" else "a"
                    raise ConfigError.at(
                        end.location, f"expected {article} {required.name} statement in "
                        f"{target.title}, found {describe(end)}",
                    )

    def include(self, where: Location, pattern: str) -> None:
        if self.state.loader is None:
            raise ConfigError.at(
                where, "include needs a loader to read other files; expected the "
                "configuration to be read with mip6d.config.load() or parse(..., loader=...)",
            )
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(self.path), pattern))
        if len(self.chain) >= MAX_INCLUDE_DEPTH:
            raise ConfigError.at(
                where, f"includes nest deeper than {MAX_INCLUDE_DEPTH} levels; expected a "
                "flatter configuration",
            )
        try:
            files = sorted(self.state.loader(joined))
        except OSError as error:
            name = f" {error.filename}" if error.filename else ""
            raise ConfigError.at(
                where, f"cannot read included file{name}: {error.strerror or error}"
            ) from None
        if not files:
            if _GLOB_MAGIC.search(pattern):
                self.state.warnings.append(
                    ConfigWarning(where, f"include pattern '{joined}' matches no file")
                )
                return
            raise ConfigError.at(where, f"included file '{joined}' does not exist")
        for path, text in files:
            normal = posixpath.normpath(path)
            if normal in self.chain:
                cycle = " -> ".join([*self.chain[self.chain.index(normal):], normal])
                raise ConfigError.at(where, f"include cycle: {cycle}")
            first = self.state.included.get(normal)
            if first is not None:
                raise ConfigError.at(
                    where, f"'{path}' is included twice; expected each file once (first "
                    f"included at {first})",
                )
            self.state.included[normal] = where
            self.state.sources.append(path)
            _Parser(tokenize(text, path), path, self.state, (*self.chain, normal)).top_level()


def _store(row: Keyword, fields: _Fields, target: _Fields, where: Location) -> None:
    """Put what statement ``row`` read (``target``) into the enclosing ``fields``."""
    fields.once(row, where)
    if row.entry is not None:
        assert row.field is not None
        entry = _build(row.entry, target, where)
        if row.shape is Shape.APPEND:
            fields.append(row.field, entry, where)
        else:
            fields.put(row.field, entry, where)
    elif row.opens is not None:
        pass  # a block without an object of its own has filled ``fields`` directly
    elif row.shape is Shape.APPEND:
        assert row.field is not None
        (value,) = target.values.values()
        fields.append(row.field, value, where)
    else:
        for name, value in target.values.items():
            fields.put(name, value, where)


def _items(value: object) -> tuple[object, ...]:
    assert isinstance(value, tuple)
    return value


def _unknown(name: str, block: Block, fields: _Fields) -> str:
    """The message for a word that is not a keyword of ``block``."""
    where = _where_text(block, fields)
    elsewhere = blocks_of(name)
    if elsewhere:
        places = join_or(["top level" if b is Block.TOP else b.value for b in elsewhere])
        return f"{name} cannot stand {where}; it belongs in {places}"
    here = list(BY_BLOCK[block])
    close = difflib.get_close_matches(name, here, n=1, cutoff=0.6)
    if not close:
        close = [k for k in here if k.lower() == name.lower()]
    if close:
        return f"unknown keyword '{name}' {where}; did you mean '{close[0]}'?"
    everywhere = sorted({k.name for k in KEYWORDS if not k.anonymous})
    close = difflib.get_close_matches(name, everywhere, n=1, cutoff=0.6)
    if close:
        places = join_or(
            ["top level" if b is Block.TOP else b.value for b in blocks_of(close[0])]
        )
        return f"unknown keyword '{name}' {where}; did you mean '{close[0]}' (in {places})?"
    return f"unknown keyword '{name}' {where}"
