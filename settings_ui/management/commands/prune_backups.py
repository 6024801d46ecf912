from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from settings_ui.models import Backup


class Command(BaseCommand):
    help = "Delete all but the newest N finished backups (of one kind, or of each kind). Exit code 0."

    def add_arguments(self, parser):
        parser.add_argument("--keep", type=int, required=True)
        parser.add_argument("--kind", default="all",
                            choices=["all", *(k for k, _ in Backup.KIND_CHOICES)],
                            help="which kind to prune (default: each kind separately)")

    def handle(self, *args, keep, kind, **options):
        if keep < 0:
            raise CommandError("--keep must be 0 or more.", returncode=2)
        kinds = [k for k, _ in Backup.KIND_CHOICES] if kind == "all" else [kind]
        removed = []
        for k in kinds:
            removed += Backup.prune(keep, kind=k, actor="manage.py")
        for name in removed:
            self.stdout.write(f"deleted {name}")
        self.stdout.write(f"{len(removed)} backup(s) deleted.")
