"""Log-in throttling: after LIMIT failed log-ins for one account name within WINDOW, the
name is locked for LOCKOUT, whatever password comes (also the right one), and the log-in
form says for how long. Counted per account name (its skeleton, so "ALICE" counts for
"alice"), not per client address: behind a reverse proxy every client has the proxy's."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from haiku.core.names import skeleton
from haiku.models import LoginFailures

__all__ = ["LIMIT", "LOCKOUT", "WINDOW", "failed", "locked_for", "locked_message",
           "succeeded"]

LIMIT = 5
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


def _key(name: str) -> str:
    return skeleton(name)[:150]


def locked_for(name: str, now: datetime | None = None) -> timedelta | None:
    """How much longer the name is locked, or None."""
    now = now or timezone.now()
    row = LoginFailures.objects.filter(key=_key(name)).first()
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return row.locked_until - now


def locked_message(left: timedelta) -> str:
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    return (f"Too many failed log-ins for this account: try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}. If you forgot your password, set a new one "
            "with \u201cForgot your password?\u201d below.")


def failed(name: str, now: datetime | None = None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        row, _ = LoginFailures.objects.select_for_update().get_or_create(
            key=_key(name), defaults={"first": now})
        if now - row.first > WINDOW or (row.locked_until and row.locked_until <= now):
            row.count, row.first, row.locked_until = 0, now, None
        row.count += 1
        if row.count >= LIMIT:
            row.locked_until = now + LOCKOUT
        row.save()


def succeeded(name: str) -> None:
    LoginFailures.objects.filter(key=_key(name)).delete()
