"""The mip6d.conf tokenizer: UMIP's scan.l token classes, positions, and its errors."""

from ipaddress import IPv6Address

import pytest
from mip6d.config import ConfigError, Location, parse
from mip6d.config.lexer import Token, TokenKind, describe, tokenize

pytestmark = pytest.mark.unit


def kinds(text: str) -> list[tuple[TokenKind, object]]:
    return [(t.kind, t.value) for t in tokenize(text, "t.conf")]


def test_statement_tokens_and_values() -> None:
    assert kinds('HomeAddress 2001:db8::1/64 (2001:db8:2::/64, ::); x 1.5 0xAbC "s p";') == [
        (TokenKind.WORD, "HomeAddress"),
        (TokenKind.ADDRESS, IPv6Address("2001:db8::1")),
        (TokenKind.PUNCT, "/"),
        (TokenKind.NUMBER, 64),
        (TokenKind.PUNCT, "("),
        (TokenKind.ADDRESS, IPv6Address("2001:db8:2::")),
        (TokenKind.PUNCT, "/"),
        (TokenKind.NUMBER, 64),
        (TokenKind.PUNCT, ","),
        (TokenKind.ADDRESS, IPv6Address("::")),
        (TokenKind.PUNCT, ")"),
        (TokenKind.PUNCT, ";"),
        (TokenKind.WORD, "x"),
        (TokenKind.DECIMAL, 1.5),
        (TokenKind.HEX, "abc"),
        (TokenKind.STRING, "s p"),
        (TokenKind.PUNCT, ";"),
        (TokenKind.EOF, None),
    ]


def test_words_with_dashes_and_digits_stay_words() -> None:
    assert kinds("aes-cbc 3des-cbc hmac-sha256 1.2.3 -5 5-") == [
        (TokenKind.WORD, "aes-cbc"),
        (TokenKind.WORD, "3des-cbc"),
        (TokenKind.WORD, "hmac-sha256"),
        (TokenKind.WORD, "1.2.3"),
        (TokenKind.NUMBER, -5),  # signed (a home agent's preference may be below 0)
        (TokenKind.WORD, "5-"),
        (TokenKind.EOF, None),
    ]


def test_hash_comments_run_to_end_of_line_but_not_inside_strings() -> None:
    assert kinds('# whole line\nDebugLevel 1; # trailing\n"a # b"') == [
        (TokenKind.WORD, "DebugLevel"),
        (TokenKind.NUMBER, 1),
        (TokenKind.PUNCT, ";"),
        (TokenKind.STRING, "a # b"),
        (TokenKind.EOF, None),
    ]


def test_positions_are_one_based_lines_and_columns() -> None:
    tokens = tokenize("a\n  b\tc\r\n\nd", "f")
    assert [(t.text, t.location.line, t.location.column) for t in tokens] == [
        ("a", 1, 1), ("b", 2, 3), ("c", 2, 5), ("d", 4, 1), ("", 4, 2),
    ]


def test_eof_location_of_empty_text() -> None:
    (eof,) = tokenize("", "f")
    assert eof.location == Location("f", 1, 1)


def test_describe() -> None:
    (string, punct, eof) = tokenize('"' + "x" * 50 + '" }', "f")
    assert describe(punct) == "'}'"
    assert describe(eof) == "end of file"
    assert describe(string) == "'\"" + "x" * 36 + "...'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('DebugLogFile "abc\n";', "t.conf:1:14: unterminated string \"abc; expected '\"' before "
         "the end of the line"),
        ('x "abc', "t.conf:1:3: unterminated string \"abc; expected '\"' before the end of the "
         "line"),
        ("a @ b", "t.conf:1:3: unexpected character '@'; expected a keyword, a value, a quoted "
         "string or one of { } ; ( ) , /"),
        ("a\n  \x00", "t.conf:2:3: unexpected character '\\x00'; expected a keyword, a value, "
         "a quoted string or one of { } ; ( ) , /"),
        ("// comment", "t.conf:1:1: '//' does not start a comment in mip6d.conf; expected "
         "'#' for a comment, as UMIP reads only those"),
        ("HomeAgentAddress 2001:db8::zz;", "t.conf:1:18: '2001:db8::zz' is not a valid IPv6 "
         "address"),
        ("x 00:11:22:33:44:55;", "t.conf:1:3: '00:11:22:33:44:55' is not a valid IPv6 "
         "address"),
    ],
)
def test_lexical_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, "t.conf")
    assert str(caught.value) == message


def test_c_style_comments_are_not_umip_syntax() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("DebugLevel 1; /* old */", "t.conf")
    assert str(caught.value) == (
        "t.conf:1:15: '/*' does not start a comment in mip6d.conf; expected '#' for a comment, "
        "as UMIP reads only those"
    )


def test_token_helpers() -> None:
    token = Token(TokenKind.PUNCT, ";", ";", Location("f", 1, 1))
    assert token.is_punct(";") and not token.is_punct("{") and not token.is_word()
