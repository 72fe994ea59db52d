"""Store samples of the home agent's bindings and counters (the statistics page's data)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from haiku import control
from haiku.models import Sample


def collect_once() -> Sample:
    path, timeout = settings.HAIKU.control_socket, settings.HAIKU.control_timeout
    try:
        bindings = control.request(path, "bindings", timeout=timeout)
        counters = control.request(path, "counters", timeout=timeout)
    except control.ControlError as exc:
        return Sample.objects.create(taken=timezone.now(), ok=False, error=str(exc))
    numeric = {str(k): v for k, v in (counters or {}).items() if isinstance(v, int | float)}
    return Sample.objects.create(taken=timezone.now(), ok=True,
                                 bindings=len(bindings or []), counters=numeric)


class Command(BaseCommand):
    help = "Sample mip6d's bindings and counters every --interval seconds (or --once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=60.0)
        parser.add_argument("--once", action="store_true")
        parser.add_argument("--keep-days", type=int, default=31)

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            sample = collect_once()
            Sample.objects.filter(
                taken__lt=timezone.now() - timezone.timedelta(days=options["keep_days"])
            ).delete()
            self.stdout.write(f"sample {sample.pk}: ok={sample.ok} bindings={sample.bindings}"
                              + (f" error={sample.error}" if sample.error else ""))
            if options["once"]:
                return
            time.sleep(options["interval"])
