"""Create an operator account, or make an existing user an operator."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from haiku.models import User


class Command(BaseCommand):
    help = ("Create an operator (password from $HAIKU_OPERATOR_PASSWORD or asked), or "
            "promote an existing user.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        user, created = User.objects.get_or_create(username=options["username"],
                                                   defaults={"email": options["email"]})
        user.role = User.Role.OPERATOR
        user.approved = user.email_confirmed = True
        if created:
            password = os.environ.get("HAIKU_OPERATOR_PASSWORD") or getpass.getpass()
            if not password:
                raise CommandError("an empty password is not allowed")
            user.set_password(password)
        user.save()
        self.stdout.write(f"{user.username} is an operator")
