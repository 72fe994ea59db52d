"""Authentication: Django's ModelBackend, refusing accounts that are disabled, not yet
confirmed or not yet approved (also for sessions already open)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend


class HaikuBackend(ModelBackend):
    def user_can_authenticate(self, user: Any) -> bool:
        return bool(getattr(user, "can_log_in", False))
