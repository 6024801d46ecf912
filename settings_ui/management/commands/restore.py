from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from settings_ui.backups import BackupError, RestoreRefused, backup_dir, verify_backup
from settings_ui.management.progress import ProgressBar
from settings_ui.models import Backup, OperatorSettings

WORD = "RESTORE"


class _FileUpload:
    """What Backup.from_upload reads: a name and chunks()."""

    def __init__(self, path: Path):
        self.path, self.name = path, path.name

    def chunks(self, size: int = 1 << 20):
        with open(self.path, "rb") as f:
            yield from iter(lambda: f.read(size), b"")


class Command(BaseCommand):
    help = (
        "Restore a backup (a path, or the name of a file in OPERATOR_BACKUP_DIR). A pre-restore "
        "backup of the current data is written first; the restore is one transaction. "
        "Exit codes: 0 restored (or dry run valid), 1 invalid file or failure, "
        "3 refused (coordinator running, or not confirmed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="verify and compare counts only")
        parser.add_argument("--yes", action="store_true", help=f"do not ask to type {WORD}")

    def handle(self, *args, path, dry_run, yes, **options):
        backup = Backup.objects.filter(name=Path(path).name, status="ok").first()
        file_path = Path(path)
        if not file_path.exists() and backup is not None:
            file_path = backup.path
        if not file_path.exists():
            raise CommandError(f"No such backup file: {path}", returncode=1)
        known = backup is not None and backup.path.resolve() == file_path.resolve()
        try:
            manifest = verify_backup(file_path, expected_sha256=backup.sha256 if known else None)
        except BackupError as e:
            raise CommandError(f"Invalid backup ({e.reason}): {e}", returncode=1) from e
        self._print_preview(manifest)
        if dry_run:
            self.stdout.write("Dry run: the file is valid; nothing was changed.")
            return
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError(f"Not confirmed: pass --yes (or type {WORD} on a terminal).", returncode=3)
            if input(f"This replaces the operator data. Type {WORD} to continue: ").strip() != WORD:
                raise CommandError("Not confirmed; nothing was changed.", returncode=3)
        if not known:
            # A file from elsewhere is imported first, so it has a row and a copy in the backup dir.
            limit = OperatorSettings.load().backup_upload_max_mb * 1024 * 1024
            try:
                backup = Backup.from_upload(_FileUpload(file_path), limit=max(limit, file_path.stat().st_size), actor=None)
            except BackupError as e:
                raise CommandError(f"Invalid backup ({e.reason}): {e}", returncode=1) from e
            self.stdout.write(f"Imported as {backup_dir() / backup.name}")
        bar = ProgressBar("restore", self.stderr._out)
        try:
            result = backup.restore(actor=None, progress=bar)
        except RestoreRefused as e:
            raise CommandError(str(e), returncode=3) from e
        except BackupError as e:
            raise CommandError(f"Nothing was restored ({e.reason}): {e}", returncode=1) from e
        except Exception as e:
            raise CommandError(f"Nothing was restored: {type(e).__name__}: {e}", returncode=1) from e
        bar.finish()
        rows = sum(result["counts"].values())
        self.stdout.write(f"Restored {rows:,} rows. Data before the restore: {result['pre_restore']}")
        for label, n in result["skipped"].items():
            self.stdout.write(f"  skipped {n:,} rows of {label} (their user does not exist here)")

    def _print_preview(self, manifest: dict) -> None:
        from settings_ui.backups import compare_counts

        self.stdout.write(f"Backup of {manifest.get('created_at')} (Operator {manifest.get('app_version')}, "
                          f"{manifest.get('database')}), format {manifest.get('format_version')}")
        self.stdout.write(f"{'model':<40} {'in backup':>12} {'now':>12}  on restore")
        for m in compare_counts(manifest):
            now = "n/a" if m["present_now"] is None else f"{m['present_now']:,}"
            self.stdout.write(f"{m['model']:<40} {m['in_backup']:>12,} {now:>12}  {m['action']}")
