from typing import Any

from django.apps import AppConfig
from django.contrib import messages
from django.contrib.auth.signals import user_logged_out


def _say_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None:
        messages.info(request, "You are logged out.")


class HaikuConfig(AppConfig):
    name = "haiku"
    verbose_name = "HAiku home agent service"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        user_logged_out.connect(_say_logged_out, dispatch_uid="haiku-logged-out")
