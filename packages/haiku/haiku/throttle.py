"""Throttling, one table (:data:`LIMITS`): after a limit's ``events`` for one subject within
its ``window``, the subject is locked for ``lockout``, whatever comes (for log-ins also the
right password), and the person is told for how long.

- Failed log-ins count per account name (its skeleton, so "ALICE" counts for "alice"), not
  per client address: behind a reverse proxy every client has the proxy's.
- Registrations count per client address (an IPv6 client by its /64, behind the TLS proxy
  the address it saw: :func:`haiku.core.web.client_address`) and per e-mail address (any
  case): every attempt, so neither confirmation mails nor probes of taken names and
  addresses go on without end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.db import transaction
from django.utils import timezone

from haiku.core.names import skeleton
from haiku.models import ThrottleCount

__all__ = ["LIMITS", "Limit", "Throttle", "cleared", "counted", "locked_for", "refusal",
           "retry_after"]


class Throttle(Enum):
    LOGIN = "login"
    REGISTRATION_ADDRESS = "registration-address"
    REGISTRATION_EMAIL = "registration-email"


@dataclass(frozen=True)
class Limit:
    events: int
    window: timedelta
    lockout: timedelta
    subject: Callable[[str], str]  # what counts as the same subject
    message: str  # what the person reads; {wait}: "15 minutes"


LIMITS: dict[Throttle, Limit] = {
    Throttle.LOGIN: Limit(
        5, timedelta(minutes=15), timedelta(minutes=15), skeleton,
        "Too many failed log-ins for this account: try again in {wait}. If you forgot your "
        "password, set a new one with \u201cForgot your password?\u201d below."),
    Throttle.REGISTRATION_ADDRESS: Limit(
        10, timedelta(hours=1), timedelta(hours=1), str,
        "Too many registrations from your network: try again in {wait}."),
    Throttle.REGISTRATION_EMAIL: Limit(
        3, timedelta(hours=1), timedelta(hours=1), lambda email: email.strip().casefold(),
        "Too many registrations with this e-mail address: try again in {wait}. If it is "
        "yours and you have an account, log in or set a new password with \u201cForgot "
        "your password?\u201d on the log-in page."),
}


def _key(kind: Throttle, subject: str) -> str:
    return f"{kind.value}:{LIMITS[kind].subject(subject)}"[:150]


def locked_for(kind: Throttle, subject: str, now: datetime | None = None
               ) -> timedelta | None:
    """How much longer the subject is locked, or None."""
    now = now or timezone.now()
    row = ThrottleCount.objects.filter(key=_key(kind, subject)).first()
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return row.locked_until - now


def _wait(left: timedelta) -> str:
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def refusal(kind: Throttle, subject: str) -> str | None:
    """What to tell the person while the subject is locked, or None."""
    left = locked_for(kind, subject)
    return LIMITS[kind].message.format(wait=_wait(left)) if left else None


def retry_after(kinds: dict[Throttle, str]) -> int:
    """Seconds until none of these subjects is locked (HTTP Retry-After)."""
    lefts = [left for kind, subject in kinds.items() if (left := locked_for(kind, subject))]
    return math.ceil(max(lefts).total_seconds()) if lefts else 0


def counted(kind: Throttle, subject: str, now: datetime | None = None) -> None:
    """One more event for the subject; the limit's last one locks it."""
    limit, now = LIMITS[kind], now or timezone.now()
    with transaction.atomic():
        row, _ = ThrottleCount.objects.select_for_update().get_or_create(
            key=_key(kind, subject), defaults={"first": now})
        if now - row.first > limit.window or (row.locked_until and row.locked_until <= now):
            row.count, row.first, row.locked_until = 0, now, None
        row.count += 1
        if row.count >= limit.events:
            row.locked_until = now + limit.lockout
        row.save()


def cleared(kind: Throttle, subject: str) -> None:
    """Forget the subject's events (a successful log-in)."""
    ThrottleCount.objects.filter(key=_key(kind, subject)).delete()
