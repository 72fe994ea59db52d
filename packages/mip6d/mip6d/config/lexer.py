"""Tokens of mip6d.conf, as UMIP's ``src/scan.l`` reads them.

* ``#`` starts a comment that runs to the end of the line (UMIP knows no other comment
  form, so neither ``//`` nor ``/* */`` is accepted);
* strings are in double quotes, on one line, without escapes;
* ``{ } ; ( ) , / =`` stand alone;
* everything else is a word: an IPv6 address when it has a colon, a number
  (``600``), a decimal (``1.5``), a hexadecimal number (``0x1f``), else a keyword or a
  value word (``enabled``, ``HomeRegBinding``, ``aes-cbc``).

Keywords are case-sensitive, as in UMIP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv6Address

from mip6d.config.errors import ConfigError, Location

__all__ = ["PUNCTUATION", "Token", "TokenKind", "describe", "tokenize"]

PUNCTUATION = "{};(),/="


class TokenKind(Enum):
    WORD = "word"
    NUMBER = "number"
    DECIMAL = "decimal"
    HEX = "hexadecimal number"
    ADDRESS = "IPv6 address"
    STRING = "string"
    PUNCT = "punctuation"
    EOF = "end of file"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # as written (a string with its quotes)
    value: object  # int, float, IPv6Address, the string's content, or the text
    location: Location

    def is_punct(self, char: str) -> bool:
        return self.kind is TokenKind.PUNCT and self.text == char

    def is_word(self, word: str | None = None) -> bool:
        return self.kind is TokenKind.WORD and (word is None or self.text == word)


def describe(token: Token) -> str:
    """The token as an error message quotes it: ``'}'``, ``'"eth0"'``, ``end of file``."""
    if token.kind is TokenKind.EOF:
        return "end of file"
    text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
    return f"'{text}'"


_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\f\v]+)
    |(?P<newline>\n)
    |(?P<comment>\#[^\n]*)
    |(?P<string>"[^"\n]*")
    |(?P<open_string>"[^"\n]*)
    |(?P<c_comment>//|/\*)
    |(?P<punct>[{};(),/=])
    |(?P<word>[A-Za-z0-9_.:\-]+)
    |(?P<other>.)
    """,
    re.VERBOSE,
)
_NUMBER = re.compile(r"-?[0-9]+")  # signed: a home agent preference may be below 0
_DECIMAL = re.compile(r"[0-9]+\.[0-9]+")
_HEX = re.compile(r"0[xX][0-9A-Fa-f]+")


def tokenize(text: str, path: str) -> list[Token]:
    """All tokens of ``text``, ending with one EOF token; ``ConfigError`` on a character
    or word that cannot start any token."""
    tokens: list[Token] = []
    line, line_start = 1, 0
    if text.startswith("\ufeff"):  # a byte order mark some editors write
        text = " " + text[1:]
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        lexeme = match.group()
        where = Location(path, line, match.start() - line_start + 1)
        if kind == "newline":
            line, line_start = line + 1, match.end()
        elif kind in ("space", "comment"):
            pass
        elif kind == "string":
            tokens.append(Token(TokenKind.STRING, lexeme, lexeme[1:-1], where))
        elif kind == "open_string":
            raise ConfigError.at(
                where, f"unterminated string {describe_text(lexeme)}; expected '\"' before the "
                "end of the line",
            )
        elif kind == "c_comment":
            raise ConfigError.at(
                where, f"'{lexeme}' does not start a comment in mip6d.conf; expected '#' for a "
                "comment, as UMIP reads only those",
            )
        elif kind == "punct":
            tokens.append(Token(TokenKind.PUNCT, lexeme, lexeme, where))
        elif kind == "word":
            tokens.append(_word(lexeme, where))
        else:
            shown = repr(lexeme)[1:-1] if not lexeme.isprintable() else lexeme
            raise ConfigError.at(
                where, f"unexpected character '{shown}'; expected a keyword, a value, a "
                "quoted string or one of { } ; ( ) , /",
            )
    end = Location(path, line, len(text) - line_start + 1)
    tokens.append(Token(TokenKind.EOF, "", None, end))
    return tokens


def describe_text(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _word(lexeme: str, where: Location) -> Token:
    if ":" in lexeme:
        try:
            address = IPv6Address(lexeme)
        except ValueError:
            raise ConfigError.at(
                where, f"'{describe_text(lexeme)}' is not a valid IPv6 address"
            ) from None
        return Token(TokenKind.ADDRESS, lexeme, address, where)
    if _NUMBER.fullmatch(lexeme):
        return Token(TokenKind.NUMBER, lexeme, int(lexeme), where)
    if _DECIMAL.fullmatch(lexeme):
        return Token(TokenKind.DECIMAL, lexeme, float(lexeme), where)
    if _HEX.fullmatch(lexeme):
        return Token(TokenKind.HEX, lexeme, lexeme[2:].lower(), where)
    return Token(TokenKind.WORD, lexeme, lexeme, where)
