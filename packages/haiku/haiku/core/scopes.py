"""What an API token may do: its scopes, one row each in :data:`SCOPES`. The table drives
the token form's choices, the access check (``haiku/access.py`` names the scope each API
operation needs) and the OpenAPI document's description of the tokens.

A logged-in session has every scope its user could grant a token; a token has the scopes
it was made with, less the operator-only ones once its owner is no longer an operator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SCOPES", "Scope", "ScopeError", "effective", "grantable", "parse"]


class Scope(StrEnum):
    NODES_READ = "nodes:read"
    NODES_WRITE = "nodes:write"
    TOKENS_ROTATE = "tokens:rotate"
    OPERATOR_NODES = "operator:nodes"


@dataclass(frozen=True)
class ScopeInfo:
    description: str
    operator_only: bool = False


SCOPES: dict[Scope, ScopeInfo] = {
    Scope.NODES_READ: ScopeInfo("list and read your nodes and download their configuration"),
    Scope.NODES_WRITE: ScopeInfo("create, change, disable, enable and delete your nodes"),
    Scope.TOKENS_ROTATE: ScopeInfo("give your nodes new enrollment tokens (the old one "
                                   "stops working)"),
    Scope.OPERATOR_NODES: ScopeInfo("with the scopes above, reach every user's nodes, not "
                                    "only your own; read the address quarantine",
                                    operator_only=True),
}


class ScopeError(ValueError):
    """A scope that does not exist or that this user may not grant; the message says
    which and what may be granted."""


def grantable(is_operator: bool) -> tuple[Scope, ...]:
    """The scopes a user may give a token, in the table's order."""
    return tuple(s for s, info in SCOPES.items() if is_operator or not info.operator_only)


def parse(names: Iterable[str], is_operator: bool) -> frozenset[Scope]:
    """The scopes named, checked against what this user may grant."""
    allowed = grantable(is_operator)
    chosen: set[Scope] = set()
    for name in names:
        try:
            scope = Scope(name)
        except ValueError:
            raise ScopeError(f"unknown scope {name!r}; the scopes are "
                             f"{', '.join(allowed)}") from None
        if scope not in allowed:
            raise ScopeError(f"scope {name!r} is for operators only")
        chosen.add(scope)
    if not chosen:
        raise ScopeError(f"choose at least one scope of {', '.join(allowed)}")
    return frozenset(chosen)


def effective(granted: Iterable[str], is_operator: bool) -> frozenset[Scope]:
    """What a token made with ``granted`` may do now: unknown names (a scope since
    removed) and operator-only scopes of a user who is no longer an operator drop out."""
    allowed = {s.value: s for s in grantable(is_operator)}
    return frozenset(allowed[n] for n in granted if n in allowed)
