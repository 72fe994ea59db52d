"""The configuration a node fetches with its token (``GET /api/v1/node/config``), cheaply:
every node of a home agent asks at each boot, and the live image's hook retries.

- The token's node, its owner's state and its prefixes come in one query by the token
  digest's unique index (no ORM query building: that was most of a request's time).
- The answer (the rendered JSON and its ETag) is a pure function of those rows, the CA
  certificate and the settings, so it is cached per node *keyed by all of them*: the
  database is read on every request, and any change that alters a node's configuration
  (its fields, keys, certificate, token, prefixes, its owner disabled, a new CA file, the
  settings) gives other rows and a new answer at once. Nothing is invalidated by hand, so
  no code path that forgets to can serve a stale configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from haiku.core import tokens
from haiku.models import MobileNetworkPrefix, Node, User
from haiku.payload import node_config

__all__ = ["Answer", "answer", "forget"]

# What the configuration is rendered from: the node's own columns (not its timestamps),
# the owner's account state (Node.active), and the prefixes' one column.
NODE_FIELDS = ("id", "owner", "name", "kind", "slot", "home_address", "keying",
               "protect_all_traffic", "interface", "enabled", "static_keys",
               "private_key_pem", "certificate_pem", "token_digest", "key_origin")
OWNER_FIELDS = ("is_active", "email_confirmed", "approved")
# A bound on the cache (entries are a few KiB); far above the nodes one home agent serves.
MAX_CACHED = 100_000


@dataclass(frozen=True)
class Answer:
    active: bool
    body: bytes = b""
    etag: str = ""


@cache
def _query() -> str:
    q = connection.ops.quote_name

    def columns(model: type[Any], names: tuple[str, ...], alias: str) -> list[str]:
        return [f"{alias}.{q(model._meta.get_field(n).column)}" for n in names]

    select = [*columns(Node, NODE_FIELDS, "n"), *columns(User, OWNER_FIELDS, "u"),
              *columns(MobileNetworkPrefix, ("prefix",), "p")]
    node_table, user_table = q(Node._meta.db_table), q(User._meta.db_table)
    prefix_table = q(MobileNetworkPrefix._meta.db_table)
    fk = q(MobileNetworkPrefix._meta.get_field("node").column)
    owner = q(Node._meta.get_field("owner").column)
    index = q(MobileNetworkPrefix._meta.get_field("index").column)
    # One row per prefix (one row with a NULL prefix for a node without), in the order of
    # MobileNetworkPrefix.Meta.ordering, as node.prefixes.all() gives them.
    return (f"SELECT {', '.join(select)} FROM {node_table} n "
            f"JOIN {user_table} u ON u.id = n.{owner} "
            f"LEFT JOIN {prefix_table} p ON p.{fk} = n.id "
            f"WHERE n.{q(Node._meta.get_field('token_digest').column)} = %s "
            f"ORDER BY p.{index}")


def _value(model: type[Any], name: str, raw: Any) -> Any:
    """A column's value as the ORM gives it (SQLite's 0/1 as booleans, JSON parsed)."""
    field = model._meta.get_field(name)
    if hasattr(field, "from_db_value"):
        return field.from_db_value(raw, None, connection)
    return raw if raw is None else field.to_python(raw)


def _hashable(value: Any) -> Any:
    # A backend that hands JSON columns back parsed: key them by their text.
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def _render(rows: tuple[tuple[Any, ...], ...]) -> Answer:
    first = rows[0]
    node_values = dict(zip(NODE_FIELDS, first[:len(NODE_FIELDS)], strict=True))
    owner_values = first[len(NODE_FIELDS):len(NODE_FIELDS) + len(OWNER_FIELDS)]
    owner = User(id=node_values.pop("owner"), **{
        name: _value(User, name, raw)
        for name, raw in zip(OWNER_FIELDS, owner_values, strict=True)})
    node = Node(owner=owner, **{name: _value(Node, name, raw)
                                for name, raw in node_values.items()})
    if not node.active:
        return Answer(False)
    prefixes = [row[-1] for row in rows if row[-1] is not None]
    body = json.dumps(node_config(node, prefixes)).encode()
    return Answer(True, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def _ca_version() -> tuple[int, int, int] | None:
    """Which CA certificate file is there now (the certificate nodes' answer carries it)."""
    try:
        st = os.stat(Path(settings.HAIKU.secrets_dir) / "ca.pem")
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class _Entry:
    rows: tuple[tuple[Any, ...], ...]
    ca: tuple[int, int, int] | None
    haiku: object  # the settings object it was rendered with (tests replace it)
    answer: Answer


_cache: dict[int, _Entry] = {}
_evicting = threading.Lock()


def forget() -> None:
    """Drop every cached answer (memory only: a cached answer is never stale)."""
    _cache.clear()


def answer(token: str) -> Answer | None:
    """The answer for this token: None for no such token, an inactive Answer for a node
    or owner that is disabled or not (yet) allowed to log in."""
    with connection.cursor() as cursor:
        cursor.execute(_query(), [tokens.digest(token)])
        rows = tuple(tuple(_hashable(v) for v in row) for row in cursor.fetchall())
    if not rows:
        return None
    node_id, ca, haiku = rows[0][0], _ca_version(), settings.HAIKU
    entry = _cache.get(node_id)
    if entry is not None and entry.rows == rows and entry.ca == ca and entry.haiku is haiku:
        return entry.answer
    found = _render(rows)
    if len(_cache) >= MAX_CACHED:
        with _evicting:
            if _cache:
                _cache.pop(next(iter(_cache)), None)  # the oldest
    _cache[node_id] = _Entry(rows, ca, haiku, found)
    return found
