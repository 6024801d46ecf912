from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone

from observability.events import emit

logger = logging.getLogger(__name__)

MODEL_CHOICES = [("haiku", "Haiku"), ("sonnet", "Sonnet"), ("opus", "Opus")]
BACKUP_SCHEDULE_CHOICES = [("off", "Off"), ("hourly", "Hourly"), ("daily", "Daily")]
AGENT_BACKEND_CHOICES = [("claude", "Claude Code CLI"), ("command", "Command template")]
# "VAR=secret_name" pairs, comma separated: secrets handed to chain agents as environment variables.
AGENT_ENV_RE = r"^\s*([A-Za-z_][A-Za-z0-9_]*\s*=\s*[A-Za-z0-9_]{1,64}\s*(,\s*|$))*$"


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
    agent_backend = models.CharField(
        max_length=16, choices=AGENT_BACKEND_CHOICES, default="claude",
        help_text="What runs chain sessions: the Claude Code CLI or a command template",
    )
    agent_command = models.CharField(
        max_length=1000, blank=True, default="",
        help_text="Command template (prompt on stdin), or the claude executable; "
        "placeholders {model} {max_turns} {budget_usd} {project_dir} {python} {fake_agent}",
    )
    agent_env = models.CharField(
        max_length=1000, blank=True, default="",
        validators=[RegexValidator(AGENT_ENV_RE, "Comma-separated VAR=secret_name pairs.")],
        help_text="Secrets given to every chain agent as environment variables: "
        "VAR=secret_name, comma separated (e.g. ANTHROPIC_API_KEY=anthropic_key)",
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


# --- webhooks -------------------------------------------------------------------------------

WEBHOOK_FORMATS = [("generic", "Generic"), ("slack", "Slack"), ("discord", "Discord")]
# Delivery outcomes are logged per delivery and never fan out (no loops); these names are
# refused by the outbox even if some producer emits them.
NEVER_DELIVERED = ("webhook.delivered", "webhook.failed", "webhook.delivery")


def _render_message(name: str, ctx: dict) -> str:
    from django.template.loader import render_to_string

    return render_to_string(f"settings_ui/webhooks/{name}.txt", ctx)


class Webhook(models.Model):
    """An outgoing webhook: where to POST which events, in which format, signed with a secret."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)
    format = models.CharField(max_length=16, choices=WEBHOOK_FORMATS, default="generic")
    label = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    # Signing secret (`whsec_…`), Fernet-encrypted with the secrets key ring; "" = unsigned.
    secret_ciphertext = models.TextField(blank=True)
    secret_key_id = models.CharField(max_length=8, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    consecutive_failures = models.IntegerField(default=0)
    last_delivery_status = models.CharField(max_length=16, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.label or self.url

    def get_absolute_url(self) -> str:
        return f"/settings/?webhook={self.code}#webhooks"

    @property
    def audit_id(self) -> str:
        return str(self.code)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ciphertext)

    def matches(self, event: str) -> bool:
        from .webhook_protocol import event_matches

        return event_matches(self.events, event)

    def set_secret(self, plaintext: str | None) -> None:
        from . import keyring

        if plaintext:
            self.secret_ciphertext, self.secret_key_id = keyring.encrypt(plaintext)
        else:
            self.secret_ciphertext, self.secret_key_id = "", ""

    def signing_secret(self) -> str | None:
        from . import keyring

        return keyring.decrypt(self.secret_ciphertext) if self.secret_ciphertext else None

    def audit_data(self) -> dict:
        """What the audit log and exports may show: never the secret itself."""
        return {
            "url": self.url, "events": self.events, "format": self.format, "label": self.label,
            "active": self.active, "has_secret": self.has_secret,
        }

    @classmethod
    @transaction.atomic
    def create_from(cls, values: dict, *, actor=None) -> Webhook:
        """Create from validated values (url, events, format, label, active, secret)."""
        values = dict(values)
        secret = values.pop("secret", None)
        hook = cls(**values)
        hook.set_secret(secret)
        hook.save()
        emit("webhook.created", actor=actor, target=hook, data=hook.audit_data())
        return hook

    @transaction.atomic
    def update_from(self, values: dict, *, actor=None) -> dict:
        """Apply validated values; emits webhook.updated with the changed field names."""
        changes: dict = {}
        for name, value in values.items():
            if name == "secret":
                from .keyring import DecryptError

                try:
                    current = self.signing_secret()
                except DecryptError:  # written with a key no longer in the ring: replace it
                    current = object()
                if (value or None) != current:
                    self.set_secret(value)
                    changes["secret"] = {"set": bool(value)}
                continue
            old = getattr(self, name)
            if old != value:
                changes[name] = {"from": old, "to": value}
                setattr(self, name, value)
        if changes.get("active", {}).get("to") is True:
            self.disabled_reason = ""
            self.consecutive_failures = 0
        if changes:
            self.save()
            emit("webhook.updated", actor=actor, target=self, data={"changes": changes})
        return changes

    def enable(self, *, actor=None) -> dict:
        return self.update_from({"active": True}, actor=actor)

    def disable(self, *, actor=None) -> dict:
        return self.update_from({"active": False}, actor=actor)

    def auto_disable(self, reason: str) -> bool:
        """Disable after a permanent failure (410, Slack/Discord 404). Returns False if it was
        already inactive (the conditional UPDATE makes concurrent deliveries disable it once)."""
        with transaction.atomic():
            n = Webhook.objects.filter(pk=self.pk, active=True).update(
                active=False, disabled_reason=reason[:500], updated_at=timezone.now()
            )
            if n != 1:
                return False
            self.active, self.disabled_reason = False, reason[:500]
            emit("webhook.disabled", actor="system", target=self,
                 data={"reason": reason, "url": self.url})
        return True

    @transaction.atomic
    def remove(self, *, actor=None) -> None:
        emit("webhook.deleted", actor=actor, target=self, data=self.audit_data())
        self.delete()

    def sample_envelope(self, event: str = "webhook.test", data: dict | None = None) -> dict:
        return {
            "id": "msg_" + uuid.uuid4().hex,
            "event": event,
            "timestamp": timezone.now().isoformat(),
            "data": data if data is not None else {"message": "Test delivery from the Operator"},
        }

    def render(self, envelope: dict) -> tuple[dict, list[str]]:
        """(payload, limit warnings) this webhook's format makes of envelope."""
        from .webhook_formats import build

        return build(self.format, envelope, _render_message)

    def send_test(self, *, actor=None) -> WebhookDelivery:
        """One synchronous attempt of a test event, also when inactive; never retried."""
        envelope = self.sample_envelope()
        delivery = WebhookDelivery.objects.create(
            webhook=self, message_id=envelope["id"], event=envelope["event"], payload=envelope,
            status="delivering", is_test=True, claimed_at=timezone.now(),
        )
        delivery.attempt_now()
        return delivery


class WebhookDelivery(models.Model):
    """One message to one webhook: the outbox row, its retry state and its last attempt."""

    STATUSES = [
        ("pending", "Pending"), ("delivering", "Delivering"),
        ("succeeded", "Succeeded"), ("failed", "Failed"),
    ]
    # A claim older than this is a worker that died mid-request (timeout is 10 s).
    STALE_CLAIM_SECONDS = 120

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # `webhook-id`: the same on every retry and redelivery, so receivers can deduplicate.
    message_id = models.CharField(max_length=40)
    event = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)  # the envelope {id, event, timestamp, data}
    status = models.CharField(max_length=16, choices=STATUSES, default="pending")
    attempt = models.IntegerField(default=0)  # attempts made so far
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    response_status = models.IntegerField(null=True, blank=True)
    latency_ms = models.IntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)  # first 4 KB
    error = models.TextField(blank=True)
    is_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The beat sweep: pending rows whose next attempt is due.
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            # A webhook's delivery log, newest first.
            models.Index(fields=["webhook", "-created_at"], name="delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"

    @classmethod
    def fan_out(cls, event) -> list[WebhookDelivery]:
        """emit() subscriber: one pending delivery per matching active webhook, written in the
        emitting transaction (an outbox) and handed to Celery after commit."""
        if event.action in NEVER_DELIVERED:
            return []
        hooks = [h for h in Webhook.objects.filter(active=True) if h.matches(event.action)]
        if not hooks:
            return []
        envelope_data = {
            "actor": event.actor,
            "target": {"type": event.target_type, "id": event.target_id},
            **(event.data or {}),
        }
        now = timezone.now()
        rows = []
        for hook in hooks:
            msg_id = "msg_" + uuid.uuid4().hex
            rows.append(cls(
                webhook=hook, message_id=msg_id, event=event.action, next_attempt_at=now,
                payload={"id": msg_id, "event": event.action, "timestamp": event.ts.isoformat(),
                         "data": envelope_data},
            ))
        created = cls.objects.bulk_create(rows)
        if any(r.pk is None for r in created):  # backends without RETURNING
            created = list(cls.objects.filter(message_id__in=[r.message_id for r in rows]))
        for row in created:
            row.enqueue()
        return created

    def enqueue(self) -> None:
        from .tasks import deliver_webhook

        pk = self.pk
        transaction.on_commit(lambda: _send_task(deliver_webhook, pk))

    @classmethod
    def claim(cls, pk: int) -> bool:
        """Atomically take a due pending delivery; True if we got it (a conditional UPDATE:
        of two workers racing for the row, exactly one sees 1)."""
        now = timezone.now()
        with transaction.atomic():
            _relaxed_commit()
            return cls.objects.filter(
                pk=pk, status="pending", next_attempt_at__lte=now
            ).update(status="delivering", claimed_at=now) == 1

    @classmethod
    def deliver_one(cls, pk: int) -> bool:
        """Claim and attempt delivery pk; returns whether an attempt was made."""
        if not cls.claim(pk):
            return False
        delivery = cls.objects.select_related("webhook").get(pk=pk)
        if not delivery.webhook.active:
            # Disabled since the row was written: it waits, due, until the webhook is enabled.
            cls.objects.filter(pk=pk).update(status="pending", claimed_at=None)
            return False
        delivery.attempt_now()
        return True

    @classmethod
    def due_ids(cls, limit: int = 500) -> list[int]:
        return list(
            cls.objects.filter(
                status="pending", next_attempt_at__lte=timezone.now(), webhook__active=True
            ).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
        )

    @classmethod
    def release_stale_claims(cls) -> int:
        """Put back deliveries whose worker died mid-attempt; returns how many."""
        cutoff = timezone.now() - timedelta(seconds=cls.STALE_CLAIM_SECONDS)
        return cls.objects.filter(
            status="delivering", claimed_at__lt=cutoff, is_test=False
        ).update(status="pending", claimed_at=None, next_attempt_at=timezone.now())

    def request(self) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers of the next attempt."""
        import json

        from .webhook_protocol import sign

        payload, _ = self.webhook.render(self.payload)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(timezone.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Operator-Webhooks/{settings.OPERATOR_VERSION}",
            "X-Operator-Event": self.event,
            "webhook-id": self.message_id,
            "webhook-timestamp": str(timestamp),
        }
        secret = self.webhook.signing_secret()
        if secret:
            headers["webhook-signature"] = sign(secret, self.message_id, timestamp, body)
        return body, headers

    def attempt_now(self) -> None:
        """Make one attempt (the row is claimed: status delivering) and record its outcome."""
        from operator_site.lib import http

        from .keyring import DecryptError

        response, error, permanent = None, "", False
        try:
            body, headers = self.request()
            response = http.post(self.webhook.url, data=body, headers=headers)
        except http.UnsafeURL as e:
            error, permanent = str(e), True
        except http.HttpError as e:
            error = str(e)
        except DecryptError as e:
            error, permanent = f"Signing secret: {e}", True
        self.record_attempt(response, error, permanent=permanent)

    def record_attempt(self, response, error: str = "", *, permanent: bool = False) -> None:
        from .webhook_protocol import parse_retry_after, retry_delay

        now = timezone.now()
        hook = self.webhook
        self.attempt += 1
        self.claimed_at = None
        self.error = error
        self.response_status = response.status if response else None
        self.latency_ms = response.latency_ms if response else None
        self.response_body = (
            response.body[:4096].decode("utf-8", errors="replace") if response else ""
        )
        ok = response is not None and 200 <= response.status < 300
        disable_reason = ""
        if response is not None and not ok:
            self.error = f"HTTP {response.status}"
            if 300 <= response.status < 400:
                self.error += " (redirects are not followed)"
            gone = response.status == 410 or (
                response.status == 404 and hook.format in ("slack", "discord")
            )
            if gone:
                permanent = True
                disable_reason = (
                    f"HTTP {response.status} from the receiver on {now:%Y-%m-%d %H:%M} UTC: "
                    "it no longer accepts deliveries."
                )
        if ok:
            self.status, self.next_attempt_at = "succeeded", None
        elif permanent or self.is_test:
            self.status, self.next_attempt_at = "failed", None
        else:
            retry_after = None
            if response is not None and response.status in (429, 503):
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            delay = retry_delay(self.attempt, retry_after=retry_after)
            if delay is None:
                self.status, self.next_attempt_at = "failed", None
            else:
                self.status = "pending"
                self.next_attempt_at = now + timedelta(seconds=delay)
        with transaction.atomic():  # one commit for the delivery and its webhook's summary
            _relaxed_commit()
            self.save(update_fields=[
                "attempt", "claimed_at", "error", "response_status", "latency_ms",
                "response_body", "status", "next_attempt_at", "updated_at",
            ])
            Webhook.objects.filter(pk=hook.pk).update(
                consecutive_failures=0 if ok else models.F("consecutive_failures") + 1,
                last_delivery_status="succeeded" if ok else "failed",
                last_delivery_at=now,
            )
        if disable_reason and not self.is_test:
            hook.auto_disable(disable_reason)

    @transaction.atomic
    def redeliver(self) -> WebhookDelivery:
        """A new delivery of the same message (same webhook-id), due now."""
        copy = WebhookDelivery.objects.create(
            webhook=self.webhook, message_id=self.message_id, event=self.event,
            payload=self.payload, next_attempt_at=timezone.now(),
        )
        copy.enqueue()
        return copy


def _relaxed_commit() -> None:
    """PostgreSQL: don't wait for the WAL flush when this transaction commits.

    Only for a delivery's own bookkeeping (claim, outcome): a crash can lose the last few ms of
    it, which at worst sends a message once more, with the same webhook-id receivers dedupe
    on (webhooks are at-least-once anyway). It doubles deliveries/s per worker.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _send_task(task, pk: int) -> None:
    """Hand a delivery to Celery; a broker outage only delays it (the beat sweep re-finds it)."""
    import logging

    try:
        task.delay(pk)
    except Exception:  # noqa: BLE001 - any broker error: the row is the truth
        logging.getLogger(__name__).warning("could not enqueue delivery %s; beat will retry", pk)


# --- secrets --------------------------------------------------------------------------------

SECRET_NAME_RE = r"^[A-Za-z0-9_]{1,64}$"


class Secret(models.Model):
    """A named value encrypted with the secrets key ring; the plaintext is only ever revealed."""

    name = models.CharField(
        max_length=64, unique=True,
        validators=[RegexValidator(SECRET_NAME_RE, "1–64 letters, digits or underscores.")],
    )
    label = models.CharField(max_length=200, blank=True)
    ciphertext = models.TextField()
    key_id = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_revealed_at = models.DateTimeField(null=True, blank=True)
    last_revealed_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return "/settings/#secrets"

    @property
    def audit_id(self) -> str:
        return self.name

    @classmethod
    @transaction.atomic
    def put(cls, name: str, value: str, label: str | None = None, *, actor=None):
        """Create or update; the label is kept unless given. Returns (secret, created)."""
        from . import keyring

        ciphertext, key = keyring.encrypt(value)
        secret = cls.objects.select_for_update().filter(name=name).first()
        created = secret is None
        if created:
            secret = cls(name=name, label=label or "")
        elif label is not None:
            secret.label = label
        secret.ciphertext, secret.key_id = ciphertext, key
        secret.save()
        emit("secret.created" if created else "secret.updated", actor=actor, target=secret,
             data={"name": secret.name, "label": secret.label})
        return secret, created

    @transaction.atomic
    def reveal(self, *, actor=None) -> str:
        from . import keyring

        value = keyring.decrypt(self.ciphertext)
        self.last_revealed_at = timezone.now()
        self.last_revealed_by = getattr(actor, "get_username", lambda: str(actor or ""))()[:150]
        self.save(update_fields=["last_revealed_at", "last_revealed_by"])
        emit("secret.revealed", actor=actor, target=self, data={"name": self.name})
        return value

    @transaction.atomic
    def remove(self, *, actor=None) -> None:
        emit("secret.deleted", actor=actor, target=self, data={"name": self.name, "label": self.label})
        self.delete()
