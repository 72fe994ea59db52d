"""Users' API tokens: made with scopes (:mod:`haiku.core.scopes`), shown once, stored as
their SHA-256 digest, revoked by deleting them; :func:`authenticate` turns an
``Authorization: Bearer hga_...`` header into the token's owner and scopes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from haiku.core import scopes, tokens
from haiku.models import ApiToken, User

__all__ = ["Caller", "authenticate", "create", "revoke"]

_log = logging.getLogger("haiku.apitokens")
# last_used is written at most this often per token: not a database write per request.
_LAST_USED_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    user: User
    scopes: frozenset[scopes.Scope]


def create(owner: User, name: str, scope_names: Iterable[str]) -> tuple[ApiToken, str]:
    """A new token and its secret (shown once); :class:`scopes.ScopeError` for a scope
    the owner may not grant."""
    chosen = scopes.parse(scope_names, owner.is_operator)
    secret = tokens.new_token(tokens.API_PREFIX)
    token = ApiToken.objects.create(
        owner=owner, name=name, digest=tokens.digest(secret),
        hint=secret[:len(tokens.API_PREFIX) + 4],
        scopes=" ".join(s.value for s in scopes.SCOPES if s in chosen))
    _log.info("API token %s (%s) made for user %s", token.pk, token.scopes, owner.pk)
    return token, secret


def revoke(owner: User, token_id: int) -> bool:
    """Delete one of the owner's tokens; False if there is none of that id."""
    deleted, _ = ApiToken.objects.filter(owner=owner, pk=token_id).delete()
    if deleted:
        _log.info("API token %s of user %s revoked", token_id, owner.pk)
    return bool(deleted)


def authenticate(secret: str) -> Caller | None:
    """The owner and effective scopes of this API token, or None (unknown, revoked, or
    its owner may no longer log in)."""
    if not secret.startswith(tokens.API_PREFIX):
        return None
    token = (ApiToken.objects.select_related("owner")
             .filter(digest=tokens.digest(secret)).first())
    if token is None or not token.owner.can_log_in:
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used > _LAST_USED_STEP:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return Caller(token.owner, scopes.effective(token.scope_names, token.owner.is_operator))
