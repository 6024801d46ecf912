from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from settings_ui.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for USER and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("user")
        parser.add_argument("--label", default="cli")

    def handle(self, *args, user, label, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user named {user!r}.")
        if not account.is_staff:
            raise CommandError(f"User {user!r} is not staff: the API accepts staff users only.")
        _, raw = ApiToken.issue(account, label, actor=f"cli:{user}")
        self.stdout.write(raw)
