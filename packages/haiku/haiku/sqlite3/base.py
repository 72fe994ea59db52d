"""Django's SQLite backend, set up for several gunicorn workers writing at once.

- Write-ahead logging: readers never wait for the writer, nor the writer for readers.
- A transaction (``transaction.atomic``) starts with ``BEGIN IMMEDIATE``: it takes the
  write lock first, waiting for it up to the connection's timeout. With Django's plain
  ``BEGIN`` a transaction that reads before it writes (a node's allocation) cannot wait:
  SQLite answers "database is locked" at once when another writer committed since it read.
  (Django 5.1 has this as the ``transaction_mode`` option; Debian 12 has Django 3.2.)
"""

from __future__ import annotations

from typing import Any

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        conn = super().get_new_connection(conn_params)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def _start_transaction_under_autocommit(self) -> None:
        self.cursor().execute("BEGIN IMMEDIATE")
