"""Chains: one agent task worked as a sequence of sessions, and the sessions themselves."""

from __future__ import annotations

import hashlib
import re
import uuid
from decimal import Decimal

from django.db import connections, models, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Cast, Replace
from django.utils import timezone

from observability.events import emit

BRANCH_JUNK = re.compile(r"[^A-Za-z0-9/_-]")
HEX_OR_DASH = re.compile(r"^[0-9a-f-]+$")
BULK_MAX = 100


def sanitize_branch(value: str | None) -> str:
    """Trimmed, characters outside [A-Za-z0-9/_-] removed, at most 100 characters."""
    return BRANCH_JUNK.sub("", (value or "").strip())[:100]


def human_duration(ms: int) -> str:
    """3 h 02 m, 4 m 10 s, 12 s."""
    secs = int(ms or 0) // 1000
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h} h {m:02d} m"
    if m:
        return f"{m} m {s:02d} s"
    return f"{s} s"


def normalize_project(value: str | None) -> str:
    """One spelling per directory: trimmed, backslashes as /, no trailing slash ("/" stays)."""
    path = (value or "").strip().replace("\\", "/")
    return path.rstrip("/") or ("/" if path else "")


class ChainQuerySet(models.QuerySet):
    def search(self, q: str | None) -> ChainQuerySet:
        """Case-insensitive substring match over the task or any part of the id; blank q = all.

        On PostgreSQL both expressions are backed by trigram GIN indexes (migration 0002); the
        id is compared without dashes so a partial id matches the same way on SQLite, which
        stores UUIDs as 32 hex digits.
        """
        needle = (q or "").strip()
        if not needle:
            return self
        cond = Q(task__icontains=needle)
        hexed = needle.lower().replace("-", "")
        if hexed and HEX_OR_DASH.match(needle.lower()):
            if connections[self.db].vendor != "postgresql":
                # Stored as 32 hex digits: Django's UUID contains-lookup strips the dashes
                # from the needle and compares the bare column (no per-row REPLACE).
                return self.filter(cond | Q(id__contains=hexed))
            # alias(), not annotate(): COUNT(*) then needs no subquery.
            qs = self.alias(
                id_hex=Replace(
                    Cast("id", models.TextField()),
                    models.Value("-", output_field=models.TextField()),
                    models.Value("", output_field=models.TextField()),
                )
            )
            return qs.filter(cond | Q(id_hex__contains=hexed))
        return self.filter(cond)

    def cost_summary(self) -> dict:
        """Totals and breakdowns by status, project and model for a (filtered) chain queryset.

        Three grouped scans, no more: the totals and the running count are sums over the
        status groups (this runs on every keystroke of the chain list's search).
        """
        qs = self.order_by()

        def group(field):
            return list(qs.values(field).annotate(
                chains=Count("id"), cost=Sum("cost_usd"), sessions=Sum("session_count"),
                turns=Sum("turns"), input_tokens=Sum("input_tokens"),
                output_tokens=Sum("output_tokens"),
            ).order_by(field))

        def money(v):
            return round(float(v or 0), 6)

        statuses = group("status")
        return {
            # Decimal sums added before rounding, as one SUM() would.
            "total_cost_usd": money(sum((g["cost"] or 0) for g in statuses)),
            "total_chains": sum(g["chains"] for g in statuses),
            "total_sessions": sum(g["sessions"] or 0 for g in statuses),
            "total_turns": sum(g["turns"] or 0 for g in statuses),
            "running": sum(g["chains"] for g in statuses if g["status"] == Chain.Status.RUNNING),
            "by_status": {
                g["status"]: {"chains": g["chains"], "cost_usd": money(g["cost"])}
                for g in statuses
            },
            "by_project": {
                (g["project_dir"] or "(default)"): {
                    "chains": g["chains"], "cost_usd": money(g["cost"]), "sessions": g["sessions"],
                }
                for g in group("project_dir")
            },
            "by_model": {
                g["model"]: {
                    "chains": g["chains"], "cost_usd": money(g["cost"]), "sessions": g["sessions"],
                    "input_tokens": g["input_tokens"], "output_tokens": g["output_tokens"],
                }
                for g in group("model")
            },
        }

    def bulk_archive(self, ids: list[uuid.UUID], *, actor=None) -> dict:
        return self._bulk(ids, "archive", actor=actor)

    def bulk_delete(self, ids: list[uuid.UUID], *, actor=None) -> dict:
        return self._bulk(ids, "delete", actor=actor)

    def _bulk(self, ids: list[uuid.UUID], op: str, *, actor=None) -> dict:
        """Archive or delete many chains in one transaction with one timestamp.

        Only the listed rows are read or written (never the whole table, unlike the seed's
        archive race); rows are locked on PostgreSQL so a concurrent call waits and then sees
        the committed result. Returns {results: [{id, success, error?}], total, succeeded,
        failed} in request order.
        """
        now = timezone.now()
        results: dict[uuid.UUID, dict] = {}
        with transaction.atomic():
            rows = {
                c.id: c
                for c in Chain.objects.select_for_update().filter(id__in=ids).order_by("id")
            }
            changed: list[Chain] = []
            for ident in ids:
                chain = rows.get(ident)
                if chain is None:
                    results[ident] = {"id": str(ident), "success": False, "error": "not found"}
                elif chain.status == Chain.Status.RUNNING:
                    results[ident] = {
                        "id": str(ident), "success": False, "error": "running — abort first",
                    }
                else:
                    results[ident] = {"id": str(ident), "success": True}
                    if op == "delete" or chain.status != Chain.Status.ARCHIVED:
                        changed.append(chain)
            keys = [c.id for c in changed]
            if op == "archive":
                # Conditional, so a row that started running meanwhile (SQLite has no row
                # locks) is never archived.
                Chain.objects.filter(id__in=keys).exclude(status=Chain.Status.RUNNING).update(
                    status=Chain.Status.ARCHIVED, updated_at=now
                )
                done = set(
                    Chain.objects.filter(id__in=keys, updated_at=now).values_list("id", flat=True)
                )
                for chain in changed:
                    if chain.id in done:
                        emit("chain.archived", actor=actor, target=chain,
                             data={"from": chain.status, "bulk": len(ids) > 1})
                    else:
                        results[chain.id] = {
                            "id": str(chain.id), "success": False, "error": "running — abort first",
                        }
            else:
                done = set(
                    Chain.objects.filter(id__in=keys)
                    .exclude(status=Chain.Status.RUNNING)
                    .values_list("id", flat=True)
                )
                for chain in changed:
                    if chain.id in done:
                        emit("chain.deleted", actor=actor, target=chain,
                             data={"task": chain.task[:200], "status": chain.status})
                    else:
                        results[chain.id] = {
                            "id": str(chain.id), "success": False, "error": "running — abort first",
                        }
                Chain.objects.filter(id__in=done).delete()
        out = [results[i] for i in ids]
        ok = sum(1 for r in out if r["success"])
        return {"results": out, "total": len(out), "succeeded": ok, "failed": len(out) - ok}


class Chain(models.Model):
    """One agent task worked as a sequence of sessions, with running totals."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        ASSUMED_COMPLETE = "assumed-complete", "Assumed done"
        MAX_CONTINUATIONS = "max-continuations", "Max cont."
        FAILED = "failed", "Failed"
        ABORTED = "aborted", "Aborted"
        ARCHIVED = "archived", "Archived"

    class Model(models.TextChoices):
        HAIKU = "haiku", "Haiku"
        SONNET = "sonnet", "Sonnet"
        OPUS = "opus", "Opus"

    FINISHED = (
        Status.COMPLETE, Status.ASSUMED_COMPLETE, Status.MAX_CONTINUATIONS, Status.FAILED,
    )
    RESTARTABLE = (Status.FAILED, Status.ABORTED, Status.MAX_CONTINUATIONS)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    project_dir = models.CharField(max_length=500, blank=True, default="")
    branch = models.CharField(max_length=100, blank=True, default="")
    model = models.CharField(max_length=16, choices=Model.choices, default=Model.SONNET)
    max_turns = models.PositiveSmallIntegerField(default=30)
    max_continuations = models.PositiveSmallIntegerField(default=5)
    max_budget_usd = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("5"))
    restarted_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="restarts"
    )
    metadata = models.JSONField(null=True, blank=True)
    # Totals, kept in step with the sessions by record_session() (F-expressions).
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    turns = models.PositiveIntegerField(default=0)
    duration_ms = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    session_count = models.PositiveIntegerField(default=0)
    consecutive_errors = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ChainQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # The list's default order and the retention sweep of archived chains.
            models.Index(fields=["-updated_at"], name="chain_updated_idx"),
            # status/project filters on the list page and API, and the cost summary.
            models.Index(fields=["status", "-updated_at"], name="chain_status_idx"),
            models.Index(fields=["project_dir"], name="chain_project_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task[:60]} ({self.status})"

    def get_absolute_url(self) -> str:
        return f"/chains/{self.id}/"

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING

    @property
    def duration_display(self) -> str:
        return human_duration(self.duration_ms)

    @property
    def can_restart(self) -> bool:
        return self.status in self.RESTARTABLE

    @property
    def etag(self) -> str:
        """Strong ETag for If-Match: changes whenever updated_at is bumped."""
        raw = f"{self.id}:{self.updated_at.isoformat()}"
        return '"' + hashlib.sha1(raw.encode()).hexdigest()[:20] + '"'

    @classmethod
    def create(cls, *, actor=None, **fields) -> Chain:
        with transaction.atomic():
            chain = cls.objects.create(**fields)
            emit("chain.created", actor=actor, target=chain,
                 data={"task": chain.task[:200], "model": chain.model,
                       "project_dir": chain.project_dir})
        return chain

    def edit(self, changes: dict, *, actor=None) -> None:
        """Apply already-validated task/metadata changes; bumps updated_at."""
        for key, value in changes.items():
            setattr(self, key, value)
        self.updated_at = timezone.now()
        with transaction.atomic():
            self.save(update_fields=[*changes, "updated_at"])
            emit("chain.updated", actor=actor, target=self,
                 data={"fields": sorted(changes), "task": self.task[:200],
                       "metadata": self.metadata})

    def _transition(self, to: str, allowed: tuple[str, ...]) -> bool:
        """Conditional UPDATE: move to `to` only from an allowed status. True if it moved."""
        now = timezone.now()
        n = Chain.objects.filter(pk=self.pk, status__in=allowed).update(status=to, updated_at=now)
        if n:
            self.status, self.updated_at = to, now
        else:
            self.refresh_from_db(fields=["status", "updated_at"])
        return bool(n)

    def abort(self, *, actor=None) -> bool:
        with transaction.atomic():
            frm = self.status
            if not self._transition(self.Status.ABORTED, (self.Status.RUNNING,)):
                return False
            emit("chain.aborted", actor=actor, target=self, data={"from": frm})
        return True

    def finish(self, status: str, *, error: str = "", actor=None) -> bool:
        """Running → a finished status (complete, assumed-complete, max-continuations, failed)."""
        with transaction.atomic():
            if not self._transition(status, (self.Status.RUNNING,)):
                return False
            name = "chain.failed" if status == self.Status.FAILED else "chain.completed"
            data = {"status": status, "cost_usd": float(self.cost_usd),
                    "sessions": self.session_count}
            if error:
                data["error"] = error[:500]
            emit(name, actor=actor, target=self, data=data)
        return True

    def restart(self, *, actor=None) -> Chain:
        """A new running chain with the same task and config, linked by restarted_from."""
        with transaction.atomic():
            new = Chain.objects.create(
                task=self.task, project_dir=self.project_dir, branch=self.branch,
                model=self.model, max_turns=self.max_turns,
                max_continuations=self.max_continuations, max_budget_usd=self.max_budget_usd,
                metadata=self.metadata, restarted_from=self,
            )
            emit("chain.restarted", actor=actor, target=new,
                 data={"restarted_from": str(self.id), "task": new.task[:200]})
        return new

    def record_session(self, *, actor=None, **fields) -> Session | None:
        """Append a finished session and add it to the totals; None unless the chain is running.

        The totals are F-expression UPDATEs, so concurrent reports never lose an increment; the
        UPDATE also locks the row (PostgreSQL) until commit, which makes session_count a safe
        source for the new session's index.
        """
        error = fields.get("error") or ""
        with transaction.atomic():
            n = Chain.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(
                cost_usd=F("cost_usd") + fields.get("cost_usd", 0),
                turns=F("turns") + fields.get("turns", 0),
                duration_ms=F("duration_ms") + fields.get("duration_ms", 0),
                input_tokens=F("input_tokens") + fields.get("input_tokens", 0),
                output_tokens=F("output_tokens") + fields.get("output_tokens", 0),
                session_count=F("session_count") + 1,
                consecutive_errors=(F("consecutive_errors") + 1) if error else 0,
                updated_at=timezone.now(),
            )
            if not n:
                self.refresh_from_db()
                return None
            self.refresh_from_db()
            session = Session.objects.create(
                chain=self, index=self.session_count - 1,
                status=Session.Status.ERROR if error else Session.Status.COMPLETE, **fields,
            )
            emit("session.recorded", actor=actor, target=self,
                 data={"index": session.index, "status": session.status,
                       "cost_usd": float(session.cost_usd), "turns": session.turns})
        return session

    def delete_chain(self, *, actor=None) -> bool:
        """Delete unless running (conditional DELETE). True if it was deleted."""
        with transaction.atomic():
            emit("chain.deleted", actor=actor, target=self,
                 data={"task": self.task[:200], "status": self.status})
            _, per_model = Chain.objects.filter(pk=self.pk).exclude(
                status=self.Status.RUNNING
            ).delete()
            if not per_model.get("chains.Chain"):
                transaction.set_rollback(True)
                return False
        return True


class Session(models.Model):
    """One finished agent session of a chain, with its handoff note."""

    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        ERROR = "error", "Error"

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="sessions")
    index = models.PositiveIntegerField()
    agent_session_id = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETE)
    turns = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    duration_ms = models.BigIntegerField(default=0)
    hit_max_turns = models.BooleanField(default=False)
    handoff = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["chain", "index"]
        constraints = [
            # Session numbers are per chain and gap-free; concurrent reports must not collide.
            models.UniqueConstraint(fields=["chain", "index"], name="session_chain_index_uniq"),
        ]

    def __str__(self) -> str:
        return f"session {self.index} of {self.chain_id}"

    @property
    def duration_display(self) -> str:
        return human_duration(self.duration_ms)


from .run_models import ChainRun, OutputChunk  # noqa: E402,F401  (the chain runner, issue 9)
