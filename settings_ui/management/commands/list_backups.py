from __future__ import annotations

from django.core.management.base import BaseCommand

from settings_ui.models import Backup


class Command(BaseCommand):
    help = "List backups, newest first (name, kind, status, size, created, rows). Exit code 0."

    def handle(self, *args, **options):
        rows = Backup.objects.all()
        if not rows:
            self.stdout.write("No backups.")
            return
        self.stdout.write(f"{'name':<60} {'kind':<12} {'status':<8} {'size':>12} {'created':<20} {'rows':>10}")
        for b in rows:
            self.stdout.write(
                f"{b.name:<60} {b.kind:<12} {b.status:<8} {b.size:>12,} "
                f"{b.created_at:%Y-%m-%d %H:%M:%S}  {b.total_rows:>10,}"
            )
