"""Node tokens and API tokens: random, shown once, stored as a SHA-256 digest (enough for
256-bit random secrets, and a lookup by digest is one index probe). Their prefixes tell
them apart (and let secret scanners find leaked ones)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["API_PREFIX", "PREFIX", "bearer", "digest", "new_token"]

PREFIX = "hgn_"  # a node's enrollment token
API_PREFIX = "hga_"  # a user's API token


def new_token(prefix: str = PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not hmac.compare_digest(scheme.lower(), "bearer") or not value or " " in value:
        return None
    return value
