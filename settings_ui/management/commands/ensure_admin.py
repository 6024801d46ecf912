from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Make sure the initial staff user exists (OPERATOR_ADMIN_USER, default 'admin'). "
        "Its password comes from OPERATOR_ADMIN_PASSWORD; when unset, a new user gets a "
        "generated password printed once."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("OPERATOR_ADMIN_USER", "admin").strip() or "admin"
        password = os.environ.get("OPERATOR_ADMIN_PASSWORD", "")
        user = User.objects.filter(username=username).first()
        if user is None:
            generated = not password
            password = password or secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(self.style.SUCCESS(f"Created staff user '{username}'."))
            if generated:
                self.stdout.write(
                    self.style.WARNING(
                        f"  Password: {password}\n"
                        "  (shown once; set OPERATOR_ADMIN_PASSWORD to choose it, or change it "
                        "with `.venv/bin/python manage.py changepassword "
                        f"{username}`)"
                    )
                )
            return
        changed = []
        if not (user.is_staff and user.is_superuser and user.is_active):
            user.is_staff = user.is_superuser = user.is_active = True
            changed.append("staff rights")
        if password and not user.check_password(password):
            user.set_password(password)
            changed.append("password from OPERATOR_ADMIN_PASSWORD")
        if changed:
            user.save()
            self.stdout.write(f"Updated staff user '{username}': {', '.join(changed)}.")
        else:
            self.stdout.write(f"Staff user '{username}' exists.")
