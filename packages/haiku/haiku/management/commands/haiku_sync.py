"""Rewrite the home agent's include file of every node, remove stale ones, reload."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from haiku import homeagent


class Command(BaseCommand):
    help = "Bring the nodes directory in line with the database and reload mip6d."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-reload", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        result = homeagent.sync_all(reload_daemon=not options["no_reload"])
        self.stdout.write(f"nodes directory synchronised; {result.message}")
