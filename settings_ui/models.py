from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone

from observability.events import emit

MODEL_CHOICES = [("haiku", "Haiku"), ("sonnet", "Sonnet"), ("opus", "Opus")]
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
