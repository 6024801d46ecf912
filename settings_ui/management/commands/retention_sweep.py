from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from settings_ui.retention import KINDS, sweep


class Command(BaseCommand):
    help = (
        "Delete rows past their retention policy (or count them with --dry-run). "
        "Exit codes: 0 done (a sweep cut short by its time budget says so), 1 failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--budget", type=float, default=600.0, help="seconds (default 600)")

    def handle(self, *args, dry_run, budget, **options):
        run = sweep(dry_run=dry_run, trigger="command", actor="manage.py", budget_seconds=budget)
        verb = "would delete" if dry_run else "deleted"
        for kind, n in run.counts.items():
            label = KINDS[kind].label if kind in KINDS else kind
            self.stdout.write(f"{label:<24} {'not available' if n is None else f'{verb} {n:,}'}")
        if run.status == "failed":
            raise CommandError(f"Sweep failed: {run.error}", returncode=1)
        self.stdout.write(f"{run.total:,} rows {verb} in {run.duration_ms:,} ms ({run.status}).")
        if run.error:
            self.stdout.write(run.error)
