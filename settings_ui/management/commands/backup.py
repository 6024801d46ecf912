from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from observability.events import emit
from settings_ui.backups import write_backup
from settings_ui.management.progress import ProgressBar
from settings_ui.models import Backup


class Command(BaseCommand):
    help = (
        "Write a backup of the operator data. Without --output it goes to OPERATOR_BACKUP_DIR "
        "and is listed on the settings page; with --output it is written to PATH only. "
        "Exit codes: 0 written, 1 failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--exclude-secrets", action="store_true")
        parser.add_argument("--exclude-audit", action="store_true")
        parser.add_argument("--output", metavar="PATH", help="write the file here instead")

    def handle(self, *args, exclude_secrets, exclude_audit, output, **options):
        bar = ProgressBar("backup", self.stderr._out)
        if output:
            path = Path(output)
            try:
                manifest, size, digest = write_backup(
                    path, exclude_secrets=exclude_secrets, exclude_audit=exclude_audit, progress=bar
                )
            except Exception as e:
                raise CommandError(f"Backup failed: {type(e).__name__}: {e}", returncode=1) from e
            bar.finish()
            emit("backup.created", actor="manage.py", target=("backup", path.name),
                 data={"name": path.name, "kind": "manual", "size": size, "path": str(path)})
            rows = sum(manifest["counts"].values())
        else:
            backup = Backup.create_now(
                kind="manual", exclude_secrets=exclude_secrets, exclude_audit=exclude_audit,
                actor=None, progress=bar,
            )
            bar.finish()
            if backup.status != "ok":
                raise CommandError(f"Backup failed: {backup.error}", returncode=1)
            path, size, digest, rows = backup.path, backup.size, backup.sha256, backup.total_rows
        self.stdout.write(f"{path}\n{rows:,} rows, {size:,} bytes, sha256 {digest}")
