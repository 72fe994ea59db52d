"""Store samples of the home agent's bindings and counters (the operator's plots)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from haiku import live
from haiku.core.dashboard import MIN_SAMPLE_INTERVAL


class Command(BaseCommand):
    help = (f"Sample mip6d's bindings and counters every --interval seconds (at least "
            f"{MIN_SAMPLE_INTERVAL:g}), or --once; samples older than "
            f"{live.KEEP.days} days are removed.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=MIN_SAMPLE_INTERVAL)
        parser.add_argument("--once", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] < MIN_SAMPLE_INTERVAL:
            raise CommandError(f"--interval {options['interval']:g}: samples are taken at "
                               f"most once every {MIN_SAMPLE_INTERVAL:g} s")
        while True:
            sample = live.take_sample()
            live.prune()
            if sample is None:
                self.stdout.write("skipped: the last sample is less than a minute old")
            else:
                self.stdout.write(f"sample {sample.pk}: ok={sample.ok} "
                                  f"bindings={sample.bindings}"
                                  + (f" error={sample.error}" if sample.error else ""))
            if options["once"]:
                return
            time.sleep(options["interval"])
