"""Re-encrypt every secret and webhook signing secret under the first key of the ring."""

from __future__ import annotations

from collections import Counter

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from settings_ui import keyring
from settings_ui.models import Secret, Webhook


def _rows():
    """(label, model, pk, ciphertext field, key id field, ciphertext) of every encrypted value."""
    for s in Secret.objects.order_by("name"):
        yield f"secret {s.name}", Secret, s.pk, "ciphertext", "key_id", s.ciphertext, s.key_id
    for h in Webhook.objects.exclude(secret_ciphertext="").order_by("id"):
        label = f"webhook {h.code} ({h.label or h.url})"
        yield label, Webhook, h.pk, "secret_ciphertext", "secret_key_id", h.secret_ciphertext, h.secret_key_id


class Command(BaseCommand):
    help = (
        "Re-encrypt all secrets and webhook signing secrets with the first key of "
        "OPERATOR_SECRETS_KEYS (put the new key first, keep the old ones after it, run this, "
        "then remove the old keys)."
    )

    def _bar(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        self.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
        self.stdout.flush()

    def _counts(self, title: str, counts: Counter) -> None:
        self.stdout.write(f"{title}:")
        if not counts:
            self.stdout.write("  (nothing encrypted)")
        for key, n in sorted(counts.items()):
            self.stdout.write(f"  key {key or '?'}: {n}")

    def handle(self, *args, **options):
        try:
            current = keyring.current_key_id()
            keyring.ring()
        except ImproperlyConfigured as e:
            raise CommandError(str(e)) from None
        rows = list(_rows())
        self._counts("Before", Counter(r[6] for r in rows))
        # Check every value first: a value no key can decrypt stops the run before any write.
        broken = []
        for label, *_rest, ciphertext, _key in rows:
            try:
                keyring.decrypt(ciphertext)
            except keyring.DecryptError:
                broken.append(label)
        if broken:
            raise CommandError(
                "No key in OPERATOR_SECRETS_KEYS decrypts: " + ", ".join(broken)
                + ". Add the key they were written with (after the new one) and run again; "
                "nothing was changed."
            )
        after: Counter = Counter()
        with transaction.atomic():
            for i, (_label, model, pk, field, key_field, ciphertext, _key) in enumerate(rows, 1):
                new, key = keyring.rotate(ciphertext)
                model.objects.filter(pk=pk).update(**{field: new, key_field: key})
                after[key] += 1
                self._bar(i, len(rows))
        if rows:
            self.stdout.write("")
        self._counts("After", after)
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {len(rows)} values under key {current}."))
