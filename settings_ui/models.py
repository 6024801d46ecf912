from __future__ import annotations

import hashlib
import logging
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from observability.events import emit

logger = logging.getLogger(__name__)

MODEL_CHOICES = [("haiku", "Haiku"), ("sonnet", "Sonnet"), ("opus", "Opus")]
BACKUP_SCHEDULE_CHOICES = [("off", "Off"), ("hourly", "Hourly"), ("daily", "Daily")]


def _ranged(field_cls, default, low, high, help_text=""):
    return field_cls(
        default=default,
        validators=[MinValueValidator(low), MaxValueValidator(high)],
        help_text=help_text or f"{low}–{high}",
    )


class OperatorSettings(models.Model):
    """The console's one row of settings (pk=1), validated on write and clamped on read."""

    model = models.CharField(max_length=16, choices=MODEL_CHOICES, default="sonnet")
    max_turns = _ranged(models.IntegerField, 30, 1, 200, "Turns per session, 1–200")
    max_continuations = _ranged(models.IntegerField, 5, 1, 20, "Sessions per chain, 1–20")
    max_budget_usd = _ranged(models.FloatField, 5.0, 0, 100, "Budget per chain in USD, 0–100")
    auto_push = models.BooleanField(default=False, help_text="Push after each session commit")
    coord_max_requests_per_minute = _ranged(
        models.IntegerField, 60, 1, 1000, "Shared request rate limit, 1–1000 per minute"
    )
    coord_max_tokens_per_minute = _ranged(
        models.IntegerField, 100_000, 1000, 10_000_000, "Shared token rate limit, 1,000–10,000,000"
    )
    coord_global_budget_usd = _ranged(
        models.FloatField, 50.0, 0, 1000, "Budget for all workers in USD, 0–1000"
    )
    coord_per_worker_budget_usd = _ranged(
        models.FloatField, 10.0, 0, 100, "Budget per worker in USD, 0–100"
    )
    max_pool_terminals = _ranged(models.IntegerField, 8, 2, 64, "Terminals in the pool, 2–64")
    slow_request_ms = _ranged(
        models.IntegerField, 1000, 1, 600_000, "Requests slower than this (ms) are kept, 1–600,000"
    )
    max_task_retries = _ranged(
        models.IntegerField, 3, 1, 20, "Failed attempts before a task is dead-lettered, 1–20"
    )
    assignment_strategy = models.CharField(
        max_length=16,
        choices=[
            ("round-robin", "Round-robin"),
            ("capability", "Capability"),
            ("least-loaded", "Least-loaded"),
        ],
        default="round-robin",
        help_text="How claims pick work for a worker",
    )
    backup_schedule = models.CharField(
        max_length=8, choices=BACKUP_SCHEDULE_CHOICES, default="off",
        help_text="Automatic backups: off, hourly, or daily at the hour below",
    )
    backup_daily_hour = _ranged(
        models.IntegerField, 3, 0, 23, "Hour (UTC, 0–23) of the daily automatic backup"
    )
    backup_keep = _ranged(models.IntegerField, 10, 1, 1000, "Automatic backups kept, 1–1000")
    backup_upload_max_mb = _ranged(
        models.IntegerField, 1024, 1, 102_400, "Largest backup upload in MB, 1–102,400"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "operator settings"
        verbose_name_plural = "operator settings"

    def __str__(self) -> str:
        return "Operator settings"

    @classmethod
    def editable_fields(cls) -> list[str]:
        return [f.name for f in cls._meta.concrete_fields if f.name not in ("id", "updated_at")]

    @classmethod
    def defaults(cls) -> dict:
        return {name: cls._meta.get_field(name).default for name in cls.editable_fields()}

    @classmethod
    def load(cls) -> OperatorSettings:
        """The settings row (created with defaults on first use), with values clamped into range.

        Clamping on read covers rows written before a range tightened, by the admin, or by a
        restored backup; writes through the API are rejected instead (400 naming the field).
        """
        obj, _ = cls.objects.get_or_create(pk=1)
        obj.clamp()
        return obj

    def clamp(self) -> None:
        for name in self.editable_fields():
            field = self._meta.get_field(name)
            value = getattr(self, name)
            if field.choices and value not in dict(field.choices):
                setattr(self, name, field.default)
                continue
            for v in field.validators:
                if isinstance(v, MinValueValidator) and value < v.limit_value:
                    setattr(self, name, v.limit_value)
                elif isinstance(v, MaxValueValidator) and value > v.limit_value:
                    setattr(self, name, v.limit_value)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.editable_fields()}

    @transaction.atomic
    def apply(self, values: dict, *, actor=None, event: str = "settings.changed") -> dict:
        """Store already-validated values; emit `event` with {field: {from, to}} if any changed.

        Returns the changes (empty when nothing changed, and then nothing is emitted).
        """
        changes = {}
        for name, value in values.items():
            old = getattr(self, name)
            if old != value:
                changes[name] = {"from": old, "to": value}
                setattr(self, name, value)
        if changes:
            self.save()
            emit(event, actor=actor, target=("settings", "1"), data={"changes": changes})
        return changes

    def reset(self, *, actor=None) -> dict:
        return self.apply(self.defaults(), actor=actor, event="settings.reset")


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A Bearer token for the API; only its SHA-256 is stored, the raw value is shown once."""

    PREFIX = "opr_"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    label = models.CharField(max_length=100, blank=True)
    # First characters of the raw token, so a user can tell tokens apart without the secret.
    hint = models.CharField(max_length=16)
    # Looked up on every API request that carries a Bearer token.
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.hint}… ({self.label or 'no label'})"

    @classmethod
    def issue(cls, user, label: str = "", *, actor=None) -> tuple[ApiToken, str]:
        """Create a token for user; returns (row, raw token). The raw token is not kept."""
        raw = cls.PREFIX + secrets.token_hex(24)
        with transaction.atomic():
            token = cls.objects.create(
                user=user, label=label, hint=raw[:10], token_hash=_hash_token(raw)
            )
            emit(
                "token.created",
                actor=actor or user,
                target=token,
                data={"label": label, "user": user.get_username(), "hint": token.hint},
            )
        return token, raw

    @classmethod
    def authenticate(cls, raw: str) -> ApiToken | None:
        token = (
            cls.objects.select_related("user").filter(token_hash=_hash_token(raw)).first()
        )
        if token is None:
            return None
        now = timezone.now()
        # At most one write a minute per token, not one per request.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token

    @transaction.atomic
    def revoke(self, *, actor=None) -> None:
        emit(
            "token.revoked",
            actor=actor,
            target=self,
            data={"label": self.label, "user": self.user.get_username(), "hint": self.hint},
        )
        self.delete()


class Backup(models.Model):
    """One backup file in OPERATOR_BACKUP_DIR and what is known about it (never inside a backup)."""

    KIND_CHOICES = [("manual", "Manual"), ("auto", "Automatic"), ("pre-restore", "Pre-restore"),
                    ("upload", "Uploaded")]
    STATUS_CHOICES = [("pending", "Pending"), ("running", "Running"), ("ok", "OK"),
                      ("failed", "Failed")]

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default="manual")
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default="pending")
    exclude_secrets = models.BooleanField(default=False)
    exclude_audit = models.BooleanField(default=False)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    # Progress of a running backup, shown on the page: rows written of rows expected.
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    duration_ms = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # "auto:<slot>" for automatic backups: the unique value makes two beat ticks that both see
    # a slot as due create one backup, not two.
    slot = models.CharField(max_length=40, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            # Pruning keeps the newest N auto backups; the beat job re-finds pending rows.
            models.Index(fields=["kind", "-created_at"], name="backup_kind_created"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def path(self):
        from .backups import backup_dir

        return backup_dir() / self.name

    @property
    def progress_key(self) -> str:
        return f"backup-progress:{self.pk}"

    @property
    def progress(self) -> tuple[int, int]:
        """(rows written, rows expected) of a running backup, else of the finished file."""
        if self.status == "running":
            return cache.get(self.progress_key) or (0, 0)
        return self.rows_done, self.rows_total

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values()) if self.counts else 0

    @classmethod
    def start(cls, *, kind: str = "manual", exclude_secrets=False, exclude_audit=False,
              actor=None, slot=None) -> Backup:
        """A pending backup row whose file a Celery task writes (enqueued on commit)."""
        from . import tasks
        from .backups import new_file_name

        now = timezone.now()
        with transaction.atomic():
            backup = cls.objects.create(
                name=new_file_name(kind, now), kind=kind, exclude_secrets=exclude_secrets,
                exclude_audit=exclude_audit, created_by=_user_or_none(actor), created_at=now,
                slot=slot,
            )
            transaction.on_commit(lambda: tasks.run_backup.delay(backup.pk))
        return backup

    @classmethod
    def create_now(cls, *, kind: str = "manual", exclude_secrets=False, exclude_audit=False,
                   actor=None, path=None, progress=None) -> Backup:
        """Write a backup synchronously (commands, pre-restore); returns the finished row."""
        from .backups import new_file_name

        now = timezone.now()
        name = path.name if path is not None else new_file_name(kind, now)
        backup = cls.objects.create(
            name=name, kind=kind, exclude_secrets=exclude_secrets, exclude_audit=exclude_audit,
            created_by=_user_or_none(actor), created_at=now, status="running",
        )
        backup.write(actor=actor, path=path, progress=progress)
        return backup

    @classmethod
    def from_upload(cls, upload, *, limit: int, actor=None) -> Backup:
        """Store an uploaded file (chunk by chunk) after verifying it; raises BackupError."""
        import os

        from .backups import BackupError, backup_dir, new_file_name, verify_backup

        now = timezone.now()
        name = new_file_name("upload", now)
        path = backup_dir() / name
        tmp = path.with_name(name + ".part")
        digest, size = hashlib.sha256(), 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                for chunk in upload.chunks():
                    size += len(chunk)
                    if size > limit:
                        raise BackupError("too_large", f"The file is larger than the upload limit ({limit // (1024 * 1024)} MB).")
                    digest.update(chunk)
                    f.write(chunk)
            manifest = verify_backup(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        with transaction.atomic():
            backup = cls.objects.create(
                name=name, kind="upload", status="ok", size=size, sha256=digest.hexdigest(),
                manifest=manifest, counts=manifest.get("counts", {}),
                exclude_secrets=bool(manifest.get("options", {}).get("exclude_secrets")),
                exclude_audit=bool(manifest.get("options", {}).get("exclude_audit")),
                created_by=_user_or_none(actor), created_at=now, finished_at=now,
            )
            backup.rows_done = backup.rows_total = backup.total_rows
            backup.save(update_fields=("rows_done", "rows_total"))
            emit("backup.created", actor=actor, target=backup,
                 data={"name": name, "kind": "upload", "size": size,
                       "original_name": str(getattr(upload, "name", ""))[:200]})
        return backup

    def claim(self) -> bool:
        """pending → running; False when another worker took it first."""
        n = type(self).objects.filter(pk=self.pk, status="pending").update(status="running")
        if n:
            self.status = "running"
        return n == 1

    def write(self, *, actor=None, path=None, progress=None) -> None:
        """Write the file; record the outcome on the row (ok with counts, or failed with error)."""
        import time

        from .backups import write_backup

        started = time.monotonic()
        target = path if path is not None else self.path
        last = [0.0]

        def on_progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] > 1 or done == total:
                last[0] = now
                # The cache, not the row: the rows are read inside one snapshot transaction,
                # and an UPDATE there would stay invisible to the page until the end.
                cache.set(self.progress_key, (done, total), 3600)
            if progress:
                progress(done, total)

        try:
            manifest, size, digest = write_backup(
                target, exclude_secrets=self.exclude_secrets, exclude_audit=self.exclude_audit,
                progress=on_progress,
            )
        except Exception as e:  # recorded on the row for the operator; the file is removed
            logger.exception("backup %s failed", self.name)
            target.unlink(missing_ok=True)
            self.status, self.error = "failed", f"{type(e).__name__}: {e}"
            self.finished_at = timezone.now()
            self.duration_ms = int((time.monotonic() - started) * 1000)
            self.save(update_fields=("status", "error", "finished_at", "duration_ms"))
            return
        with transaction.atomic():
            self.status, self.error = "ok", ""
            self.size, self.sha256, self.manifest = size, digest, manifest
            self.counts = manifest["counts"]
            self.rows_done = self.rows_total = sum(self.counts.values())
            self.finished_at = timezone.now()
            self.duration_ms = int((time.monotonic() - started) * 1000)
            self.save()
            emit("backup.created", actor=actor, target=self,
                 data={"name": self.name, "kind": self.kind, "size": size,
                       "rows": self.rows_total})

    def preview(self) -> dict:
        """Verify the file (checksums, version, schema) and compare its counts with the DB now."""
        from .backups import BackupError, compare_counts, verify_backup

        try:
            if not self.path.exists():
                raise BackupError("missing", "The backup file is missing from the backup directory.")
            manifest = verify_backup(self.path, expected_sha256=self.sha256 or None)
        except BackupError as e:
            return {"valid": False, "reason": e.reason, "error": str(e), "models": []}
        return {"valid": True, "reason": "", "error": "", "manifest": manifest,
                "models": compare_counts(manifest)}

    def restore(self, *, actor=None, progress=None) -> dict:
        """Replace the operator data with this backup's, atomically; returns the result.

        Raises BackupError (bad file) or RestoreRefused (coordinator running). A pre-restore
        backup of the current data is written first and its name is in the result.
        """
        from .backups import BackupError, check_restore_allowed, restore_backup, verify_backup
        from .signals import data_restored

        check_restore_allowed()
        if not self.path.exists():
            raise BackupError("missing", "The backup file is missing from the backup directory.")
        verify_backup(self.path, expected_sha256=self.sha256 or None)
        pre = Backup.create_now(kind="pre-restore", actor=actor)
        if pre.status != "ok":
            raise BackupError("pre_restore_failed", f"The pre-restore backup failed: {pre.error}")
        with transaction.atomic():
            check_restore_allowed()
            result = restore_backup(self.path, progress=progress, total=self.total_rows)
            emit("backup.restored", actor=actor, target=self,
                 data={"name": self.name, "pre_restore": pre.name, "counts": result["counts"],
                       "skipped": result["skipped"]})
            transaction.on_commit(lambda: data_restored.send(sender=Backup, backup=self))
        result["pre_restore"] = pre.name
        return result

    @transaction.atomic
    def remove(self, *, actor=None) -> None:
        emit("backup.deleted", actor=actor, target=self, data={"name": self.name, "kind": self.kind})
        self.path.unlink(missing_ok=True)
        self.delete()

    @classmethod
    def prune(cls, keep: int, *, kind: str = "auto", actor=None) -> list[str]:
        """Delete all but the newest `keep` finished backups of `kind`; returns the names."""
        old = list(cls.objects.filter(kind=kind).exclude(status__in=("pending", "running"))
                   .order_by("-created_at", "-id")[keep:])
        for b in old:
            b.remove(actor=actor)
        return [b.name for b in old]


def _user_or_none(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


class RetentionPolicy(models.Model):
    """How long rows of one kind are kept (settings_ui.retention.KINDS names the kinds)."""

    kind = models.CharField(max_length=32, unique=True)
    enabled = models.BooleanField(default=True)
    # None = keep forever.
    ttl_days = models.IntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    # Only completed tasks use it: at most this many finished tasks are kept (newest first).
    max_count = models.IntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(10_000_000)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"{self.kind}: {'on' if self.enabled else 'off'}, {self.ttl_days or '∞'} days"

    @classmethod
    def load_all(cls) -> list[RetentionPolicy]:
        """One row per kind, in KINDS order, created with the kind's defaults on first use."""
        from .retention import KINDS

        existing = {p.kind: p for p in cls.objects.all()}
        out = []
        for kind, spec in KINDS.items():
            p = existing.get(kind)
            if p is None:
                p, _ = cls.objects.get_or_create(kind=kind, defaults=spec.defaults())
            out.append(p)
        return out


    @classmethod
    @transaction.atomic
    def store(cls, values: dict, *, actor=None) -> dict:
        """Save validated {kind: {enabled, ttl_days, max_count}}; emits settings.changed."""
        changes = {}
        for p in cls.load_all():
            for name, value in values.get(p.kind, {}).items():
                old = getattr(p, name)
                if old != value:
                    changes.setdefault(p.kind, {})[name] = {"from": old, "to": value}
                    setattr(p, name, value)
            if p.kind in changes:
                p.save()
        if changes:
            emit("settings.changed", actor=actor, target=("settings", "retention"),
                 data={"retention": changes})
        return changes


class SweepRun(models.Model):
    """One retention sweep (or dry run): what it deleted per kind, how long it took, any error."""

    STATUS_CHOICES = [("running", "Running"), ("ok", "OK"), ("partial", "Partial"),
                      ("failed", "Failed")]

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    trigger = models.CharField(max_length=16, default="manual")  # beat | manual | command
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default="running")
    counts = models.JSONField(default=dict, blank=True)
    longest_batch_ms = models.IntegerField(default=0)
    duration_ms = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-started_at", "-id")

    def __str__(self) -> str:
        return f"sweep {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def total(self) -> int:
        return sum(v for v in self.counts.values() if isinstance(v, int))
