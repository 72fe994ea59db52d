"""The home agent as the dashboard sees it: quick looks at mip6d's control socket, and the
samples the operator's plots are made of (pure parts in :mod:`haiku.core.dashboard`).

A look waits at most :data:`LOOK_TIMEOUT` (mip6d answers ``bindings`` and ``counters``
from memory): a page with a hung home agent says so within a second, and then at once
(:data:`haiku.control.QUIET`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from haiku import control
from haiku.core import dashboard
from haiku.core.dashboard import Point, Reading
from haiku.models import Sample

__all__ = ["KEEP", "LOOK_TIMEOUT", "ask", "look", "points", "prune", "take_sample"]

LOOK_TIMEOUT = 1.0
KEEP = timedelta(days=31)
"""How long samples are kept: with one a minute at most, 44,640 small rows."""
MAX_ERROR = 300


def ask(command: str) -> tuple[Any, str]:
    """(mip6d's answer, "") or (None, why there is none)."""
    try:
        return control.request(settings.HAIKU.control_socket, command,
                               timeout=min(LOOK_TIMEOUT, settings.HAIKU.control_timeout)), ""
    except control.ControlError as exc:
        return None, str(exc)


def look() -> Reading:
    return dashboard.reading(*ask("bindings"))


def take_sample(now: datetime | None = None) -> Sample | None:
    """Store one sample of the home agent, unless one was taken less than a minute ago
    (then ``None``): several collectors, or a short --interval, cannot fill the table."""
    now = now or timezone.now()
    ha = look()
    counters, error = ask("counters") if ha.ok else (None, ha.error)
    with transaction.atomic():
        latest = Sample.objects.order_by("-taken").values_list("taken", flat=True).first()
        if latest is not None and (now - latest).total_seconds() < \
                dashboard.MIN_SAMPLE_INTERVAL:
            return None
        if counters is None or not isinstance(counters, dict):
            return Sample.objects.create(taken=now, ok=False,
                                         error=(error or "no counters")[:MAX_ERROR])
        return Sample.objects.create(
            taken=now, ok=True, bindings=len(ha.bindings or ()),
            binding_updates=dashboard.binding_updates(counters),
            failures=dashboard.failures(counters))


def prune(now: datetime | None = None) -> int:
    """Remove samples older than :data:`KEEP`; how many."""
    deleted, _ = Sample.objects.filter(taken__lt=(now or timezone.now()) - KEEP).delete()
    return deleted


def points(since: datetime) -> list[Point]:
    rows = Sample.objects.filter(taken__gte=since).order_by("taken").values_list(
        "taken", "ok", "bindings", "binding_updates", "failures")
    return [Point(taken.timestamp(), bindings if ok else None, updates, failed)
            for taken, ok, bindings, updates, failed in rows]
