"""The value grammar of mip6d.conf: what may follow a keyword.

Each keyword row of :mod:`mip6d.config.schema` lists its arguments as instances of the
classes here. One class knows, for one kind of value, everything the parser and the
reference documentation need: whether a token can start it (:meth:`Value.starts`), how
to read it (:meth:`Value.parse`), how to write it in a synopsis, and how to show a
default. Errors always read ``expected <what> after <keyword ...>, found <token>``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address, IPv6Interface, IPv6Network, ip_address
from typing import NoReturn, Protocol

from mip6d.config.errors import ConfigError
from mip6d.config.lexer import Token, TokenKind, describe
from mip6d.config.model import (
    ALGORITHMS,
    BA_ACCEPTED,
    BA_PROHIBITED,
    AlgorithmKind,
    ListenAddress,
    algorithm,
)

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "AclStatus",
    "Address",
    "AddressLength",
    "Bool",
    "Choice",
    "Context",
    "Either",
    "HexKey",
    "Int",
    "Listen",
    "Optional",
    "PortRange",
    "Prefix",
    "PrefixList",
    "QString",
    "Repeat",
    "ReqIds",
    "Seconds",
    "Spi",
    "Stream",
    "Value",
    "join_or",
    "seconds_text",
    "unicast_problem",
]

# UMIP scan.l: {true} (enabled|allow|true), {false} (disabled|deny|block|false); any of
# them is accepted wherever a boolean is.
TRUE_WORDS = ("enabled", "allow", "true")
FALSE_WORDS = ("disabled", "deny", "block", "false")


class Stream(Protocol):
    def peek(self) -> Token: ...

    def take(self) -> Token: ...


@dataclass
class Context:
    """The statement being read: its keyword, the values read so far (by field), and
    what the next error would say the value comes after."""

    keyword: str
    values: dict[str, object] = field(default_factory=dict)
    after: str = ""
    # Optional values left out just before ``pending_at``: an error at that very token
    # names them among what was expected.
    pending: list[str] = field(default_factory=list)
    pending_at: Token | None = None

    def __post_init__(self) -> None:
        self.after = self.after or self.keyword

    def fail(self, what: str, token: Token, note: str = "") -> NoReturn:
        if token is self.pending_at and self.pending:
            what = join_or([*self.pending, what])
        raise ConfigError.at(
            token.location, f"expected {what} after {self.after}, found {describe(token)}{note}"
        )


def join_or(items: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        folded = [c for c in choices if c.lower() == word.lower()]
        close = folded
    return f"; did you mean '{close[0]}'?" if close else ""


def seconds_text(value: float) -> str:
    """A duration as the configuration writes it: ``1.5``, ``32.0``, ``0.00001``."""
    return format(Decimal(repr(value)), "f") if value != int(value) else f"{value:.1f}"


def unicast_problem(address: IPv6Address) -> str | None:
    """Why ``address`` cannot be a node's unicast address, or None if it can."""
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "the loopback address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped address"
    return None


class Value:
    """One argument of a keyword. ``field`` names the model field it fills."""

    field: str | tuple[str, ...] | None
    label: str  # "after <keyword> <label>"

    @property
    def what(self) -> str:
        """What an error says was expected."""
        raise NotImplementedError

    @property
    def synopsis(self) -> str:
        """How the reference documentation writes the argument."""
        raise NotImplementedError

    @property
    def optional(self) -> bool:
        """Whether the statement may go on without this argument."""
        return False

    def starts(self, token: Token) -> bool:
        raise NotImplementedError

    def parse(self, stream: Stream, ctx: Context) -> object:
        raise NotImplementedError

    def format(self, value: object) -> str:
        """A value as the configuration would write it (for documented defaults)."""
        return str(value)


@dataclass(frozen=True)
class Bool(Value):
    field: str | None
    true_word: str = "enabled"
    false_word: str = "disabled"
    label: str = "value"

    @property
    def what(self) -> str:
        return f"{self.true_word} or {self.false_word}"

    @property
    def synopsis(self) -> str:
        return f"{self.true_word}|{self.false_word}"

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.WORD and token.text in TRUE_WORDS + FALSE_WORDS

    def parse(self, stream: Stream, ctx: Context) -> bool:
        token = stream.take()
        if not self.starts(token):
            ctx.fail(self.what, token, _suggest(token.text, TRUE_WORDS + FALSE_WORDS))
        return token.text in TRUE_WORDS

    def format(self, value: object) -> str:
        return self.true_word if value else self.false_word


@dataclass(frozen=True)
class Int(Value):
    field: str | None
    minimum: int
    maximum: int
    noun: str = "a number"
    label: str = "value"
    name: str = "number"

    @property
    def what(self) -> str:
        return f"{self.noun} from {self.minimum} to {self.maximum}"

    @property
    def synopsis(self) -> str:
        return self.name

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.NUMBER

    def parse(self, stream: Stream, ctx: Context) -> int:
        token = stream.take()
        if token.kind is not TokenKind.NUMBER:
            ctx.fail(self.what, token)
        value = token.value
        assert isinstance(value, int)
        if not self.minimum <= value <= self.maximum:
            ctx.fail(self.what, token)
        return value


@dataclass(frozen=True)
class Seconds(Value):
    """A duration; UMIP's grammar wants a decimal (``1.0``), Homeguy also takes ``1``."""

    field: str | None
    maximum: float
    positive: bool = False
    label: str = "value"

    @property
    def what(self) -> str:
        low = "a positive number of seconds" if self.positive else "a number of seconds"
        return f"{low} (at most {self.maximum:g})"

    @property
    def synopsis(self) -> str:
        return "seconds"

    def starts(self, token: Token) -> bool:
        return token.kind in (TokenKind.NUMBER, TokenKind.DECIMAL)

    def parse(self, stream: Stream, ctx: Context) -> float:
        token = stream.take()
        if not self.starts(token):
            ctx.fail(self.what, token)
        assert isinstance(token.value, int | float)
        value = float(token.value)
        if value > self.maximum or (self.positive and value <= 0):
            ctx.fail(self.what, token)
        return value

    def format(self, value: object) -> str:
        assert isinstance(value, float)
        return seconds_text(value)


@dataclass(frozen=True)
class QString(Value):
    field: str | None
    noun: str  # "a quoted interface name"
    name: str  # for the synopsis, written in quotes
    check: Callable[[str], bool] | None = None
    label: str = "value"

    @property
    def what(self) -> str:
        return self.noun

    @property
    def synopsis(self) -> str:
        return f'"{self.name}"'

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.STRING

    def parse(self, stream: Stream, ctx: Context) -> str:
        token = stream.take()
        if token.kind is not TokenKind.STRING:
            ctx.fail(self.what, token)
        assert isinstance(token.value, str)
        if self.check is not None and not self.check(token.value):
            ctx.fail(self.what, token)
        return token.value

    def format(self, value: object) -> str:
        return f'"{value}"'


_LISTEN = re.compile(r"\[(?P<v6>[^\]]+)\]:(?P<port6>[0-9]+)|(?P<v4>[0-9.]+):(?P<port4>[0-9]+)")


@dataclass(frozen=True)
class Listen(Value):
    """A TCP listening address in a string: ``"[::1]:9516"`` or ``"127.0.0.1:9516"``."""

    field: str | None
    label: str = "value"

    @property
    def what(self) -> str:
        return 'a quoted "[IPv6 address]:port" or "IPv4 address:port"'

    @property
    def synopsis(self) -> str:
        return '"[address]:port"'

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.STRING

    def parse(self, stream: Stream, ctx: Context) -> ListenAddress:
        token = stream.take()
        if token.kind is not TokenKind.STRING:
            ctx.fail(self.what, token)
        assert isinstance(token.value, str)
        match = _LISTEN.fullmatch(token.value)
        if match is None:
            ctx.fail(self.what, token)
        host_text = match["v6"] or match["v4"]
        port = int(match["port6"] or match["port4"])
        try:
            host = ip_address(host_text)
        except ValueError:
            ctx.fail(self.what, token, f" ('{host_text}' is not an IP address)")
        if (match["v6"] is not None) != isinstance(host, IPv6Address):
            ctx.fail(self.what, token)
        if not 1 <= port <= 65535:
            ctx.fail(self.what, token, " (ports run from 1 to 65535)")
        assert isinstance(host, IPv4Address | IPv6Address)
        return ListenAddress(host, port)

    def format(self, value: object) -> str:
        return f'"{value}"'


@dataclass(frozen=True)
class Choice(Value):
    """One word out of a fixed set; ``convert`` turns it into the model's value."""

    field: str | None
    choices: tuple[str, ...]
    convert: Callable[[str], object] = str
    label: str = "value"

    @property
    def what(self) -> str:
        return join_or(self.choices)

    @property
    def synopsis(self) -> str:
        return "|".join(self.choices)

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.WORD and token.text in self.choices

    def parse(self, stream: Stream, ctx: Context) -> object:
        token = stream.take()
        if not self.starts(token):
            ctx.fail(self.what, token, _suggest(token.text, self.choices))
        return self.convert(token.text)


@dataclass(frozen=True)
class Either(Value):
    """The first of two alternatives that the next token starts."""

    field: str | None
    first: Value
    second: Value
    label: str = "value"

    @property
    def what(self) -> str:
        return f"{self.first.what} or {self.second.what}"

    @property
    def synopsis(self) -> str:
        return f"{self.first.synopsis}|{self.second.synopsis}"

    def starts(self, token: Token) -> bool:
        return self.first.starts(token) or self.second.starts(token)

    def parse(self, stream: Stream, ctx: Context) -> object:
        token = stream.peek()
        if self.first.starts(token):
            return self.first.parse(stream, ctx)
        if self.second.starts(token):
            return self.second.parse(stream, ctx)
        ctx.fail(self.what, stream.take())


@dataclass(frozen=True)
class Address(Value):
    """An IPv6 unicast address; ``::`` only where ``unspecified`` names its meaning."""

    field: str | None
    unspecified: str = ""  # e.g. "discover the home agent": then :: is accepted
    label: str = "address"
    name: str = "address"  # in the synopsis

    @property
    def what(self) -> str:
        return "an IPv6 unicast address" + (" or ::" if self.unspecified else "")

    @property
    def synopsis(self) -> str:
        return self.name

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.ADDRESS

    def parse(self, stream: Stream, ctx: Context) -> IPv6Address:
        token = stream.take()
        if token.kind is not TokenKind.ADDRESS:
            ctx.fail(self.what, token)
        assert isinstance(token.value, IPv6Address)
        problem = unicast_problem(token.value)
        if problem and not (self.unspecified and token.value.is_unspecified):
            ctx.fail(self.what, token, f" ({problem})")
        return token.value


def _prefix_length(stream: Stream, ctx: Context, what: str) -> int:
    slash = stream.take()
    if not slash.is_punct("/"):
        ctx.fail(f"'/' and the prefix length of {what}", slash)
    token = stream.take()
    if token.kind is not TokenKind.NUMBER or not 0 <= int(str(token.value)) <= 128:
        saved, ctx.after = ctx.after, "'/'"
        try:
            ctx.fail("a prefix length from 0 to 128", token)
        finally:
            ctx.after = saved
    assert isinstance(token.value, int)
    return token.value


@dataclass(frozen=True)
class AddressLength(Value):
    """``address/length``: a home address and the length of its home link's prefix."""

    field: str | None
    label: str = "address/length"

    @property
    def what(self) -> str:
        return "an IPv6 address/length"

    @property
    def synopsis(self) -> str:
        return "address/length"

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.ADDRESS

    def parse(self, stream: Stream, ctx: Context) -> IPv6Interface:
        token = stream.take()
        if token.kind is not TokenKind.ADDRESS:
            ctx.fail(self.what, token)
        assert isinstance(token.value, IPv6Address)
        problem = unicast_problem(token.value)
        if problem:
            ctx.fail("an IPv6 unicast address/length", token, f" ({problem})")
        length = _prefix_length(stream, ctx, "the address")
        interface = IPv6Interface(f"{token.value}/{length}")
        if length < 127 and interface.ip == interface.network.network_address:
            ctx.fail(
                "a node's own address", token,
                f" (the Subnet-Router anycast address of {interface.network}, RFC 4291 "
                "section 2.6.1)",
            )
        return interface


@dataclass(frozen=True)
class Prefix(Value):
    """``prefix/length``. With ``mask`` (UMIP's HomePrefix) bits past the length are
    cleared; otherwise they are an error, as they are usually a typo."""

    field: str | None
    mask: bool = False
    label: str = "prefix"

    @property
    def what(self) -> str:
        return "an IPv6 prefix/length"

    @property
    def synopsis(self) -> str:
        return "prefix/length"

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.ADDRESS

    def parse(self, stream: Stream, ctx: Context) -> IPv6Network:
        token = stream.take()
        if token.kind is not TokenKind.ADDRESS:
            ctx.fail(self.what, token)
        length = _prefix_length(stream, ctx, "the prefix")
        network = IPv6Network(f"{token.value}/{length}", strict=False)
        found = f"'{token.text}/{length}'"
        if not self.mask and network.network_address != token.value:
            raise ConfigError.at(
                token.location,
                f"expected a prefix with no bits set past /{length} after {ctx.after}, "
                f"found {found}; did you mean {network}?",
            )
        if network.is_multicast or network.is_loopback or network.is_link_local:
            kind = unicast_problem(network.network_address) or "not a unicast prefix"
            raise ConfigError.at(
                token.location,
                f"expected a unicast IPv6 prefix after {ctx.after}, found {found} ({kind})",
            )
        return network


@dataclass(frozen=True)
class PrefixList(Value):
    """``(prefix/length, prefix/length, ...)``: mobile network prefixes (NEMO)."""

    field: str | None
    label: str = "prefix list"

    @property
    def what(self) -> str:
        return "a prefix list '(prefix/length, ...)'"

    @property
    def synopsis(self) -> str:
        return "(prefix/length, ...)"

    def starts(self, token: Token) -> bool:
        return token.is_punct("(")

    def parse(self, stream: Stream, ctx: Context) -> tuple[IPv6Network, ...]:
        token = stream.take()
        if not token.is_punct("("):
            ctx.fail(self.what, token)
        prefixes: list[IPv6Network] = []
        entry = Prefix(None)
        saved = ctx.after
        ctx.after = f"'(' in {ctx.keyword}"
        while True:
            at = stream.peek()
            prefix = entry.parse(stream, ctx)
            for earlier in prefixes:
                if prefix.overlaps(earlier):
                    raise ConfigError.at(
                        at.location,
                        f"prefix {prefix} overlaps {earlier}, given before in this list; "
                        "expected distinct mobile network prefixes",
                    )
            prefixes.append(prefix)
            token = stream.take()
            if token.is_punct(")"):
                break
            if not token.is_punct(","):
                ctx.after = f"{prefix} in the prefix list of {ctx.keyword}"
                ctx.fail("',' or ')'", token)
            ctx.after = f"',' in {ctx.keyword}"
        ctx.after = saved
        return tuple(prefixes)


@dataclass(frozen=True)
class AclStatus(Value):
    """``allow``, ``deny``, or the Binding Acknowledgement status number to answer."""

    field: str | None
    label: str = "policy"

    @property
    def what(self) -> str:
        return "allow, deny or a status number from 0 to 255"

    @property
    def synopsis(self) -> str:
        return "allow|deny|status"

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.NUMBER or Bool(None).starts(token)

    def parse(self, stream: Stream, ctx: Context) -> int:
        token = stream.peek()
        if token.kind is TokenKind.NUMBER:
            return Int(None, 0, 255).parse(stream, ctx)
        if Bool(None).starts(token):
            return BA_ACCEPTED if Bool(None).parse(stream, ctx) else BA_PROHIBITED
        ctx.fail(self.what, stream.take(), _suggest(token.text, ("allow", "deny")))

    def format(self, value: object) -> str:
        return {BA_ACCEPTED: "allow", BA_PROHIBITED: "deny"}.get(int(str(value)), str(value))


@dataclass(frozen=True)
class Optional(Value):
    """An argument that may be left out; ``default`` stands in for it then."""

    inner: Value
    default: object = None
    field: str | tuple[str, ...] | None = dataclasses.field(init=False, default=None)
    label: str = dataclasses.field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", self.inner.field)
        object.__setattr__(self, "label", self.inner.label)

    @property
    def what(self) -> str:
        return self.inner.what

    @property
    def synopsis(self) -> str:
        return f"[{self.inner.synopsis}]"

    @property
    def optional(self) -> bool:
        return True

    def starts(self, token: Token) -> bool:
        return self.inner.starts(token)

    def parse(self, stream: Stream, ctx: Context) -> object:
        if self.inner.starts(stream.peek()):
            return self.inner.parse(stream, ctx)
        return self.default


@dataclass(frozen=True)
class Repeat(Value):
    """``minimum`` to ``maximum`` of ``inner`` in a row, each at most once."""

    field: str | None
    inner: Value
    minimum: int
    maximum: int
    label: str = "value"

    @property
    def what(self) -> str:
        return self.inner.what

    @property
    def synopsis(self) -> str:
        more = " ..." if self.maximum > 1 else ""
        text = f"{self.inner.synopsis}{more}"
        return text if self.minimum else f"[{text}]"

    @property
    def optional(self) -> bool:
        return self.minimum == 0

    def starts(self, token: Token) -> bool:
        return self.inner.starts(token)

    def parse(self, stream: Stream, ctx: Context) -> tuple[object, ...]:
        items: list[object] = []
        while len(items) < self.maximum and (
            len(items) < self.minimum or self.inner.starts(stream.peek())
        ):
            token = stream.peek()
            item = self.inner.parse(stream, ctx)
            if item in items:
                raise ConfigError.at(
                    token.location, f"{token.text} given twice in {ctx.keyword}; expected "
                    f"each of {self.inner.what} at most once",
                )
            items.append(item)
            ctx.after = f"{ctx.keyword} {token.text}"
        return tuple(items)


@dataclass(frozen=True)
class PortRange(Value):
    """One port, or the first and last port of an inclusive range: ``(start, end)``, a
    single port ``p`` as ``(p, p)``. A range that ends below its start is left for
    :mod:`mip6d.config.validate` to refuse, at its statement."""

    field: str | None
    label: str = "port"

    @property
    def what(self) -> str:
        return "a port from 0 to 65535"

    @property
    def synopsis(self) -> str:
        return "port [end-port]"

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.NUMBER

    def parse(self, stream: Stream, ctx: Context) -> tuple[int, int]:
        port = Int(None, 0, 0xFFFF, noun="a port")
        start = port.parse(stream, ctx)
        if not self.starts(stream.peek()):
            return (start, start)
        ctx.after = f"{ctx.keyword} {self.label}"
        return (start, port.parse(stream, ctx))


@dataclass(frozen=True)
class ReqIds(Value):
    """UMIP's reqid pair: none (0, no reqid), one for both directions, or one for
    mobile node to home agent then one for home agent to mobile node."""

    field: tuple[str, str]
    label: str = "reqid"

    @property
    def what(self) -> str:
        return "a reqid from 0 to 4294967295"

    @property
    def synopsis(self) -> str:
        return "[reqid-to-ha [reqid-to-mn]]"

    @property
    def optional(self) -> bool:
        return True

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.NUMBER

    def parse(self, stream: Stream, ctx: Context) -> tuple[int, int]:
        number = Int(None, 0, 0xFFFFFFFF, noun="a reqid")
        reqids: list[int] = []
        while len(reqids) < 2 and self.starts(stream.peek()):
            reqids.append(number.parse(stream, ctx))
            ctx.after = f"{ctx.keyword} reqid"
        if not reqids:
            return (0, 0)
        return (reqids[0], reqids[-1])


@dataclass(frozen=True)
class Spi(Value):
    """A Security Parameters Index, decimal or ``0x`` hexadecimal; RFC 4303 section 2.1
    reserves 1 to 255 and 0 is never sent."""

    field: str | None
    label: str = "SPI"

    @property
    def what(self) -> str:
        return "an SPI from 256 to 0xffffffff"

    @property
    def synopsis(self) -> str:
        return "spi"

    def starts(self, token: Token) -> bool:
        return token.kind in (TokenKind.NUMBER, TokenKind.HEX)

    def parse(self, stream: Stream, ctx: Context) -> int:
        token = stream.take()
        if token.kind is TokenKind.NUMBER:
            assert isinstance(token.value, int)
            value = token.value
        elif token.kind is TokenKind.HEX:
            value = int(str(token.value), 16)
        else:
            ctx.fail(self.what, token)
        if not 256 <= value <= 0xFFFFFFFF:
            ctx.fail(self.what, token)
        return value


def _bits_text(bits: Sequence[int]) -> str:
    return join_or([str(b) for b in bits]) + " bits (" + join_or(
        [str(b // 4) for b in bits]
    ) + " hexadecimal digits)"


@dataclass(frozen=True)
class HexKey(Value):
    """A key as ``0x`` and hexadecimal digits, its length checked against the
    algorithm read just before it (field ``algorithm_field`` of the statement). An
    algorithm without a key (``null``) takes none."""

    field: str | None
    algorithm_field: str
    label: str = "key"

    @property
    def what(self) -> str:
        return "a key (0x followed by hexadecimal digits)"

    @property
    def synopsis(self) -> str:
        return "0xkey"

    def starts(self, token: Token) -> bool:
        return token.kind is TokenKind.HEX

    def parse(self, stream: Stream, ctx: Context) -> bytes:
        spec = algorithm(str(ctx.values[self.algorithm_field]))
        token = stream.peek()
        if spec.key_bits == (0,):
            if token.kind is TokenKind.HEX:
                ctx.fail("';' (it takes no key)", stream.take())
            return b""
        stream.take()
        article = "an" if spec.name[0] in "aeiou" else "a"
        expected = f"{article} {spec.name} key of {_bits_text(spec.key_bits)}"
        if token.kind is not TokenKind.HEX:
            ctx.fail(expected, token)
        digits = str(token.value)
        if len(digits) * 4 not in spec.key_bits:
            ctx.fail(expected, token, f", which has {len(digits) * 4} bits")
        return bytes.fromhex(digits)

    def format(self, value: object) -> str:
        return "0x..."


def algorithm_choice(field: str, *kinds: AlgorithmKind) -> Choice:
    """The names of the algorithms of ``kinds``, as a :class:`Choice`."""
    return Choice(field, tuple(a.name for a in ALGORITHMS if a.kind in kinds), label="algorithm")
