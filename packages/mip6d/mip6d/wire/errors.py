"""Errors shared by the wire codecs.

Every decoder in :mod:`mip6d.wire` raises :class:`DecodeError` and nothing else, whatever
the input: a daemon reading a raw socket can wrap one ``except DecodeError`` around a
decode call and count or log the bad packet. The error carries the octet offset of the
offending field, which is what an ICMPv6 Parameter Problem message needs in its Pointer
field (RFC 6275 section 9.2 asks for one, pointing at the Header Len field, when the
Mobility Header is too short for its type).
"""

from __future__ import annotations

__all__ = ["DecodeError", "EncodeError"]


class DecodeError(ValueError):
    """Bytes that do not form a valid message.

    ``reason`` says what was wrong, ``offset`` at which octet of the decoded buffer
    (counted from its first octet); ``str()`` gives both.
    """

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at offset {offset})")
        self.reason = reason
        self.offset = offset


class EncodeError(ValueError):
    """A message or option that cannot be put on the wire (a field out of range, an
    option not allowed in the message, and so on)."""
