"""Rewrite the home agent's include file of every node, remove stale ones, reload; write the
CRL to HAIKU_CRL_FILE if set."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from haiku import homeagent, revocation


class Command(BaseCommand):
    help = "Bring the nodes directory in line with the database and reload mip6d."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-reload", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        result = homeagent.sync_all(reload_daemon=not options["no_reload"])
        revocation.publish()
        self.stdout.write(f"nodes directory synchronised; {result.message}")
