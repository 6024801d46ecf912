from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from observability.events import emit
from settings_ui.models import OperatorSettings

from . import dag
from .limits import Adaptive, Buckets, Budget

STALE_AFTER = timedelta(seconds=90)
ACTIVE_OUTPUT_WINDOW = timedelta(seconds=10)
BACKOFF_BASE_S = 10
BACKOFF_MAX_S = 300


class Invalid(Exception):
    """Bad input: becomes a 400 {field: [message]}."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class StateConflict(Exception):
    """The object's state forbids the change: becomes a 409 {detail}."""


def _new_code() -> str:
    return uuid.uuid4().hex[:12]


def _ts(dt: datetime) -> float:
    return dt.timestamp()


class Worker(models.Model):
    """An agent process that claims tasks over the API; stale after 90 s without a heartbeat."""

    STATUSES = [("active", "active"), ("stale", "stale"), ("stopped", "stopped")]

    code = models.SlugField(max_length=100, unique=True)
    capabilities = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default="active")
    registered_at = models.DateTimeField(default=timezone.now)
    last_heartbeat = models.DateTimeField(default=timezone.now)
    last_claim_at = models.DateTimeField(null=True, blank=True)
    cost_usd = models.FloatField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    sessions = models.IntegerField(default=0)
    budget_warned = models.BooleanField(default=False)
    budget_exceeded = models.BooleanField(default=False)
    rate_errors = models.IntegerField(default=0)

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return self.code

    @classmethod
    def register(cls, code: str, capabilities: list[str] | None = None) -> tuple[Worker, bool]:
        now = timezone.now()
        worker, created = cls.objects.update_or_create(
            code=code,
            defaults={"capabilities": capabilities or [], "status": "active", "last_heartbeat": now},
        )
        return worker, created

    @classmethod
    def live(cls, now: datetime | None = None):
        now = now or timezone.now()
        return cls.objects.filter(status="active", last_heartbeat__gte=now - STALE_AFTER)

    def is_live(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.status == "active" and self.last_heartbeat >= now - STALE_AFTER

    def heartbeat(self) -> None:
        self.last_heartbeat = timezone.now()
        self.status = "active"
        self.save(update_fields=("last_heartbeat", "status"))

    def active_count(self) -> int:
        return self.tasks.filter(status__in=("assigned", "running")).count()

    @classmethod
    def recover_stale(cls, now: datetime | None = None) -> list[str]:
        """Mark silent workers stale and return their tasks to pending. Returns task codes."""
        now = now or timezone.now()
        released: list[str] = []
        stale = cls.objects.filter(status="active", last_heartbeat__lt=now - STALE_AFTER)
        for worker in stale:
            with transaction.atomic():
                # Conditional: a heartbeat that lands meanwhile keeps the worker alive.
                if not cls.objects.filter(
                    pk=worker.pk, status="active", last_heartbeat__lt=now - STALE_AFTER
                ).update(status="stale"):
                    continue
                for task in Task.objects.filter(worker=worker, status__in=("assigned", "running")):
                    task.release(f"worker {worker.code} went silent")
                    released.append(task.code)
        return released

    def budget(self, limit: float) -> Budget:
        return Budget(self.cost_usd, limit, self.budget_warned, self.budget_exceeded)

    def record_cost(self, usd: float, input_tokens: int = 0, output_tokens: int = 0) -> dict:
        """Add a session's cost to this worker and the global total; emit budget events.

        Returns {allowed, worker_total, global_total, worker_exceeded, global_exceeded,
        worker_remaining, global_remaining}; allowed False means the worker must stop.
        """
        if usd < 0 or input_tokens < 0 or output_tokens < 0:
            raise Invalid("total_usd", "Costs and token counts must be 0 or more.")
        settings = OperatorSettings.load()
        with transaction.atomic():
            worker = Worker.objects.select_for_update().get(pk=self.pk)
            state = CoordinatorState.objects.select_for_update().get(pk=CoordinatorState.load().pk)
            worker.cost_usd += usd
            worker.input_tokens += input_tokens
            worker.output_tokens += output_tokens
            worker.sessions += 1
            state.global_cost_usd += usd
            worker.save(update_fields=("cost_usd", "input_tokens", "output_tokens", "sessions"))
            state.save(update_fields=("global_cost_usd",))
            result = CoordinatorState.check_budgets(settings, workers=[worker], state=state)
        self.refresh_from_db()
        return result


class TaskQuerySet(models.QuerySet):
    def ready(self, now: datetime | None = None):
        """Pending, backoff passed, every dep complete; best first (priority, then age)."""
        now = now or timezone.now()
        unfinished_dep = Task.deps.through.objects.filter(from_task=OuterRef("pk")).exclude(
            to_task__status="complete"
        )
        return (
            self.filter(status="pending")
            .filter(models.Q(not_before__isnull=True) | models.Q(not_before__lte=now))
            .filter(~Exists(unfinished_dep))
            .order_by("-priority", "created_at", "id")
        )


class Task(models.Model):
    """One unit of work in the dependency graph; workers claim the ready ones."""

    STATUSES = [
        (s, s) for s in ("pending", "assigned", "running", "complete", "failed", "cancelled")
    ]
    FINISHED = ("complete", "failed", "cancelled")

    code = models.SlugField(max_length=100, unique=True)
    text = models.TextField(blank=True)
    priority = models.IntegerField(default=0)
    category = models.CharField(max_length=40, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default="pending")
    worker = models.ForeignKey(
        Worker, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    attempts = models.PositiveIntegerField(default=0)
    result = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # The failed/cancelled task whose cascade cancelled this one; retrying it restores this one.
    cancelled_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deps = models.ManyToManyField(
        "self", symmetrical=False, related_name="dependents", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ("-priority", "created_at", "id")
        indexes = [
            # The ready query and the claim: pending rows by priority then age.
            models.Index(fields=["status", "-priority", "created_at"], name="task_ready_idx"),
            # Retention sweeps of finished tasks (issue 6).
            models.Index(fields=["finished_at"], name="task_finished_idx"),
        ]

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return f"/tasks/?task={self.code}"

    # --- creation and edges -------------------------------------------------------------

    @classmethod
    def create_many(cls, specs: list[dict], *, actor=None, prefix: str = "") -> list[Task]:
        """Validate every spec, then create all tasks and edges in one transaction.

        A spec is {id?, task, deps?, priority?, category?, metadata?}; deps may name other new
        tasks. Raises Invalid naming the field (and the cycle's path) before writing anything.
        """
        codes: list[str] = []
        for i, spec in enumerate(specs):
            code = spec.get("id") or _new_code()
            if code in codes:
                raise Invalid(f"{prefix}id" if not prefix else f"{prefix}[{i}].id",
                              f"Duplicate task id '{code}'.")
            codes.append(code)
        name = (lambda i, f: f"{prefix}[{i}].{f}") if prefix else (lambda i, f: f)
        existing = set(cls.objects.filter(code__in=codes).values_list("code", flat=True))
        for i, code in enumerate(codes):
            if code in existing:
                raise Invalid(name(i, "id"), f"A task with id '{code}' already exists.")
        all_deps = {d for s in specs for d in s.get("deps") or []}
        known = dict(cls.objects.filter(code__in=all_deps).values_list("code", "status"))
        graph: dict[str, list[str]] = {}
        for i, (code, spec) in enumerate(zip(codes, specs, strict=True)):
            deps = list(dict.fromkeys(spec.get("deps") or []))
            for d in deps:
                if d == code:
                    raise Invalid(name(i, "deps"), f"Task '{code}' cannot depend on itself.")
                if d not in known and d not in codes:
                    raise Invalid(name(i, "deps"), f"Unknown dependency '{d}'.")
            graph[code] = deps
        # Existing tasks cannot depend on new ones, so any cycle lies among the new tasks.
        cycle = dag.find_cycle({c: [d for d in ds if d in graph] for c, ds in graph.items()})
        if cycle:
            raise Invalid(
                name(codes.index(cycle[0]), "deps"),
                f"Dependency cycle: {' → '.join(cycle)}.",
            )
        with transaction.atomic():
            tasks = []
            for code, spec in zip(codes, specs, strict=True):
                text = spec.get("task") or ""
                tasks.append(
                    cls.objects.create(
                        code=code,
                        text=text,
                        priority=spec.get("priority") or 0,
                        category=spec.get("category") or dag.detect_category(text),
                        metadata=spec.get("metadata") or {},
                    )
                )
            by_code = {t.code: t for t in tasks}
            needed = {d for ds in graph.values() for d in ds if d not in by_code}
            by_code.update({t.code: t for t in cls.objects.filter(code__in=needed)})
            Through = cls.deps.through
            Through.objects.bulk_create(
                [
                    Through(from_task=by_code[c], to_task=by_code[d])
                    for c, ds in graph.items()
                    for d in ds
                ]
            )
            for t in tasks:
                emit("task.created", actor=actor, target=t,
                     data={"deps": graph[t.code], "priority": t.priority, "category": t.category})
        return tasks

    @classmethod
    def dependency_graph(cls) -> dict[str, list[str]]:
        """{code: [dep codes]} for every task (one query over the edge table + one for codes)."""
        codes = dict(cls.objects.values_list("pk", "code"))
        graph: dict[str, list[str]] = {c: [] for c in codes.values()}
        for a, b in cls.deps.through.objects.values_list("from_task_id", "to_task_id"):
            graph[codes[a]].append(codes[b])
        return graph

    def add_dep(self, dep: Task, *, actor=None) -> bool:
        """Add the edge self → dep. Returns False when it already existed."""
        if self.status not in ("pending", "assigned"):
            raise StateConflict(f"Task '{self.code}' is {self.status}; deps can change only "
                                "while pending or assigned.")
        if dep.pk == self.pk:
            raise Invalid("dep", f"Task '{self.code}' cannot depend on itself.")
        if self.deps.filter(pk=dep.pk).exists():
            return False
        cycle = dag.cycle_if_added(self.dependency_graph(), self.code, dep.code)
        if cycle:
            raise Invalid("dep", f"Dependency cycle: {' → '.join(cycle)}.")
        with transaction.atomic():
            self.deps.add(dep)
            emit("task.updated", actor=actor, target=self, data={"dep_added": dep.code})
        return True

    def remove_dep(self, dep: Task, *, actor=None) -> bool:
        if self.status not in ("pending", "assigned"):
            raise StateConflict(f"Task '{self.code}' is {self.status}; deps can change only "
                                "while pending or assigned.")
        if not self.deps.filter(pk=dep.pk).exists():
            return False
        with transaction.atomic():
            self.deps.remove(dep)
            emit("task.updated", actor=actor, target=self, data={"dep_removed": dep.code})
        return True

    def edit(self, values: dict, *, actor=None) -> None:
        """Change text/priority/category/metadata (metadata is merged) while not yet started."""
        if self.status not in ("pending", "assigned"):
            raise StateConflict(f"Task '{self.code}' is {self.status}; only pending or "
                                "assigned tasks can be edited.")
        changes = {}
        for key, attr in (("task", "text"), ("priority", "priority"), ("category", "category")):
            if key in values and getattr(self, attr) != values[key]:
                changes[key] = {"from": getattr(self, attr), "to": values[key]}
                setattr(self, attr, values[key])
        if "metadata" in values:
            merged = {**self.metadata, **values["metadata"]}
            if merged != self.metadata:
                changes["metadata"] = {"from": self.metadata, "to": merged}
                self.metadata = merged
        if changes:
            with transaction.atomic():
                self.save()
                emit("task.updated", actor=actor, target=self, data={"changes": changes})

    def remove(self, *, actor=None) -> None:
        """Delete the task and its edges; refused while a worker holds it."""
        if self.status in ("assigned", "running"):
            raise StateConflict(f"Task '{self.code}' is {self.status}; cancel or fail it first.")
        with transaction.atomic():
            emit("task.deleted", actor=actor, target=self, data={"status": self.status})
            self.delete()

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def claim_for(cls, worker: Worker, now: datetime | None = None) -> tuple[Task | None, str]:
        """Atomically assign the best ready task to worker. Returns (task, reason-if-none).

        PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED. Elsewhere: conditional UPDATE on
        status='pending' with the row count checked, retried over the next candidates.
        """
        now = now or timezone.now()
        settings = OperatorSettings.load()
        strategy = settings.assignment_strategy
        if strategy == "least-loaded":
            mine = worker.active_count()
            if mine and any(
                w.n < mine
                for w in Worker.live(now)
                .exclude(pk=worker.pk)
                .annotate(n=models.Count("tasks", filter=models.Q(
                    tasks__status__in=("assigned", "running"))))
            ):
                return None, "another live worker is less loaded"
        ready = cls.objects.ready(now)
        pools = [ready]
        if strategy == "capability" and worker.capabilities:
            pools = [ready.filter(category__in=worker.capabilities), ready]
        for pool in pools:
            task = cls._take(pool, worker, now)
            if task:
                return task, ""
        return None, "no ready task"

    @classmethod
    def _take(cls, pool, worker: Worker, now: datetime) -> Task | None:
        values = {"status": "assigned", "worker": worker, "assigned_at": now,
                  "attempts": F("attempts") + 1, "updated_at": now}
        if connection.vendor == "postgresql":
            with transaction.atomic():
                task = pool.select_for_update(skip_locked=True, of=("self",)).first()
                if task is None:
                    return None
                cls.objects.filter(pk=task.pk).update(**values)
                return cls._assigned(task.pk, worker)
        for _ in range(5):
            candidates = list(pool.values_list("pk", flat=True)[:8])
            if not candidates:
                return None
            for pk in candidates:
                with transaction.atomic():
                    if cls.objects.filter(pk=pk, status="pending").update(**values) == 1:
                        return cls._assigned(pk, worker)
        return None

    @classmethod
    def _assigned(cls, pk: int, worker: Worker) -> Task:
        task = cls.objects.get(pk=pk)
        Worker.objects.filter(pk=worker.pk).update(last_claim_at=task.assigned_at)
        emit("task.assigned", actor=worker.code, target=task,
             data={"worker": worker.code, "attempt": task.attempts})
        return task

    def _check_holder(self, worker: Worker, allowed: tuple[str, ...], op: str) -> None:
        if self.status not in allowed:
            raise StateConflict(f"Cannot {op} task '{self.code}' with status {self.status}.")
        if self.worker_id != worker.pk:
            holder = self.worker.code if self.worker else "nobody"
            raise StateConflict(
                f"Task '{self.code}' is held by {holder}, not {worker.code}."
            )

    def start(self, worker: Worker) -> None:
        self._check_holder(worker, ("assigned",), "start")
        self.status, self.started_at = "running", timezone.now()
        self.save(update_fields=("status", "started_at", "updated_at"))

    def complete(self, worker: Worker, result: str = "", *, actor=None) -> None:
        self._check_holder(worker, ("assigned", "running"), "complete")
        with transaction.atomic():
            self.status, self.result, self.error = "complete", result, ""
            self.finished_at = timezone.now()
            self.save(update_fields=("status", "result", "error", "finished_at", "updated_at"))
            emit("task.completed", actor=actor or worker.code, target=self,
                 data={"worker": worker.code, "attempts": self.attempts})

    def fail(self, worker: Worker, error: str = "", *, actor=None) -> str:
        """Record a failed attempt: back to pending with backoff, or (retries used up) failed,
        dead-lettered, dependents cancelled. Returns the new status."""
        self._check_holder(worker, ("assigned", "running"), "fail")
        max_retries = OperatorSettings.load().max_task_retries
        now = timezone.now()
        with transaction.atomic():
            self.error = error
            if self.attempts < max_retries:
                delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, self.attempts - 1))
                self.status, self.worker = "pending", None
                self.not_before = now + timedelta(seconds=delay)
                self.assigned_at = self.started_at = None
                self.save()
                emit("task.failed", actor=actor or worker.code, target=self,
                     data={"worker": worker.code, "error": error, "attempt": self.attempts,
                           "will_retry": True, "not_before": self.not_before.isoformat()})
                return self.status
            self.status, self.finished_at = "failed", now
            self.save(update_fields=("status", "error", "finished_at", "updated_at"))
            emit("task.failed", actor=actor or worker.code, target=self,
                 data={"worker": worker.code, "error": error, "attempt": self.attempts,
                       "will_retry": False})
            DeadLetter.add(self, worker)
            self._cancel_dependents(f'Dependency "{self.code}" failed', actor=actor)
        return self.status

    def release(self, reason: str) -> None:
        """Give a held task back to the queue (its worker went away)."""
        self.status, self.worker = "pending", None
        self.assigned_at = self.started_at = None
        self.save(update_fields=("status", "worker", "assigned_at", "started_at", "updated_at"))
        emit("task.retried", actor=None, target=self, data={"reason": reason})

    def cancel(self, reason: str = "cancelled", *, actor=None) -> list[str]:
        """Cancel this task and (transitively) its unfinished dependents. Returns their codes.

        Complete/cancelled: no-op. Running: refused (fail it instead). Failed: stays failed,
        its dependents are cancelled.
        """
        if self.status == "running":
            raise StateConflict(f"Task '{self.code}' is running; fail it instead.")
        if self.status in ("complete", "cancelled"):
            return []
        with transaction.atomic():
            if self.status == "failed":
                return self._cancel_dependents(f'Dependency "{self.code}" failed', actor=actor)
            self.status, self.error, self.worker = "cancelled", reason, None
            self.finished_at = timezone.now()
            self.save(update_fields=("status", "error", "worker", "finished_at", "updated_at"))
            emit("task.cancelled", actor=actor, target=self, data={"reason": reason})
            return [self.code, *self._cancel_dependents(
                f'Dependency "{self.code}" was cancelled', actor=actor)]

    def _cancel_dependents(self, reason: str, *, actor=None) -> list[str]:
        cancelled: list[str] = []
        frontier = [self.pk]
        seen = set(frontier)
        while frontier:
            nxt = []
            for t in Task.objects.filter(deps__pk__in=frontier).distinct():
                if t.pk in seen:
                    continue
                seen.add(t.pk)
                nxt.append(t.pk)
                if t.status in ("pending", "assigned"):
                    t.status, t.error, t.worker, t.cancelled_by = "cancelled", reason, None, self
                    t.finished_at = timezone.now()
                    t.save(update_fields=("status", "error", "worker", "cancelled_by",
                                          "finished_at", "updated_at"))
                    emit("task.cancelled", actor=actor, target=t,
                         data={"reason": reason, "cause": self.code})
                    cancelled.append(t.code)
            frontier = nxt
        return cancelled

    def retry(self, *, actor=None) -> list[str]:
        """failed|cancelled → pending (fresh attempts); restores the dependents its failure or
        cancellation cancelled. Returns the restored dependents' codes."""
        if self.status not in ("failed", "cancelled"):
            raise StateConflict(f"Cannot retry task '{self.code}' with status {self.status}.")
        with transaction.atomic():
            self._reset_to_pending()
            emit("task.retried", actor=actor, target=self, data={})
            restored = []
            for t in Task.objects.filter(cancelled_by=self, status="cancelled"):
                t._reset_to_pending()
                emit("task.retried", actor=actor, target=t, data={"restored_by": self.code})
                restored.append(t.code)
            DeadLetter.objects.filter(task=self, status="pending").update(status="retried")
        return restored

    def _reset_to_pending(self) -> None:
        self.status, self.worker, self.attempts = "pending", None, 0
        self.result = self.error = ""
        self.cancelled_by = None
        self.assigned_at = self.started_at = self.finished_at = self.not_before = None
        self.save()

    # --- explanation -----------------------------------------------------------------------

    def why_not_running(self, ctx: dict | None = None) -> list[str]:
        """Reasons this task is not running now (empty when it is running or finished)."""
        ctx = ctx or explain_context()
        now = ctx["now"]
        if self.status == "running":
            return []
        if self.status == "complete":
            return []
        if self.status in ("failed", "cancelled"):
            return [f"{self.status}: {self.error}" if self.error else self.status]
        if self.status == "assigned":
            who = self.worker.code if self.worker else "a worker"
            live = self.worker and self.worker.is_live(now)
            return [f"assigned to {who}, waiting for it to start"
                    + ("" if live else f" ({who} is not live)")]
        reasons = []
        deps = ctx.get("deps", {}).get(self.pk)
        if deps is None:
            deps = list(self.deps.values_list("code", "status"))
        waiting = [c for c, s in deps if s != "complete"]
        if waiting:
            reasons.append("waiting on deps " + ", ".join(waiting))
        if self.not_before and self.not_before > now:
            reasons.append(f"backoff until {self.not_before:%Y-%m-%d %H:%M:%S} UTC")
        if ctx["coordinator"] != "running":
            reasons.append(f"coordinator not running ({ctx['coordinator']})")
        if ctx["over_budget"]:
            reasons.append("over budget (global)")
        if ctx["rate_wait_ms"]:
            reasons.append(f"rate limited (next request in {ctx['rate_wait_ms'] / 1000:.1f} s)")
        if not ctx["live_workers"]:
            reasons.append("no live worker")
        if not reasons:
            reasons.append("ready, waiting for a worker to claim it")
        return reasons


def explain_context(tasks=None) -> dict:
    """Shared facts for why_not_running(), computed once per request (plus deps for tasks)."""
    now = timezone.now()
    state = CoordinatorState.load()
    rate = RateLimitState.peek(now)
    ctx = {
        "now": now,
        "coordinator": state.status,
        "over_budget": state.global_exceeded,
        "rate_wait_ms": rate["wait_ms"],
        "live_workers": Worker.live(now).count(),
        "deps": {},
    }
    if tasks is not None:
        pks = [t.pk for t in tasks]
        Through = Task.deps.through
        for a, code, status in Through.objects.filter(from_task_id__in=pks).values_list(
            "from_task_id", "to_task__code", "to_task__status"
        ):
            ctx["deps"].setdefault(a, []).append((code, status))
        for pk in pks:
            ctx["deps"].setdefault(pk, [])
    return ctx


def progress() -> dict:
    counts = dict(Task.objects.values_list("status").annotate(n=models.Count("id")))
    out = {s: counts.get(s, 0) for s, _ in Task.STATUSES}
    total = sum(out.values())
    done = out["complete"] + out["cancelled"]
    out["total"] = total
    out["percent_complete"] = round(done / total * 100) if total else 100
    return out


def graph() -> dict:
    g = Task.dependency_graph()
    statuses = dict(Task.objects.values_list("code", "status"))
    return {
        "nodes": [{"id": c, "status": statuses[c]} for c in sorted(g)],
        "edges": [{"from": d, "to": c} for c in sorted(g) for d in g[c]],
        "levels": dag.levels(g),
    }


class DeadLetter(models.Model):
    """A task that used up its retries; retry re-queues it, dismiss files it away."""

    STATUSES = [("pending", "pending"), ("retried", "retried"), ("dismissed", "dismissed")]

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="dead_letters")
    error = models.TextField(blank=True)
    worker_code = models.CharField(max_length=100, blank=True)
    attempts = models.IntegerField(default=0)
    status = models.CharField(max_length=10, choices=STATUSES, default="pending")
    dismiss_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.task.code} ({self.status})"

    @classmethod
    def add(cls, task: Task, worker: Worker | None) -> DeadLetter:
        letter = cls.objects.create(
            task=task, error=task.error, worker_code=worker.code if worker else "",
            attempts=task.attempts,
        )
        emit("dlq.added", actor=worker.code if worker else None, target=task,
             data={"dead_letter": str(letter.code), "error": task.error,
                   "attempts": task.attempts})
        return letter

    def retry(self, *, actor=None) -> list[str]:
        if self.status != "pending":
            raise StateConflict(f"Dead letter is {self.status}; only pending ones can be retried.")
        with transaction.atomic():
            restored = self.task.retry(actor=actor) if self.task.status in (
                "failed", "cancelled") else []
            self.status = "retried"
            self.save(update_fields=("status",))
            emit("dlq.retried", actor=actor, target=self.task,
                 data={"dead_letter": str(self.code), "restored": restored})
        return restored

    def dismiss(self, reason: str = "", *, actor=None) -> None:
        if self.status != "pending":
            raise StateConflict(f"Dead letter is {self.status}; only pending ones can be dismissed.")
        with transaction.atomic():
            self.status, self.dismiss_reason = "dismissed", reason
            self.save(update_fields=("status", "dismiss_reason"))
            emit("dlq.dismissed", actor=actor, target=self.task,
                 data={"dead_letter": str(self.code), "reason": reason})


class CoordinatorState(models.Model):
    """The coordinator's one row (pk=1): lifecycle status and the global cost ledger."""

    STATUSES = [(s, s) for s in ("init", "running", "draining", "stopped")]

    status = models.CharField(max_length=10, choices=STATUSES, default="init")
    changed_at = models.DateTimeField(default=timezone.now)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    global_cost_usd = models.FloatField(default=0)
    global_warned = models.BooleanField(default=False)
    global_exceeded = models.BooleanField(default=False)

    class Meta:
        verbose_name = "coordinator state"

    def __str__(self) -> str:
        return f"Coordinator ({self.status})"

    @classmethod
    def load(cls) -> CoordinatorState:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    def _move(self, to: str, allowed: tuple[str, ...], *, actor=None, data=None) -> bool:
        """Conditional transition; returns False when already in `to` (idempotent)."""
        with transaction.atomic():
            current = CoordinatorState.objects.select_for_update().get(pk=self.pk)
            if current.status == to:
                self.status = to
                return False
            if current.status not in allowed:
                raise StateConflict(f"Cannot move the coordinator from {current.status} to {to}.")
            self.status, self.changed_at = to, timezone.now()
            self.save(update_fields=("status", "changed_at"))
            verb = {"running": "started"}.get(to, to)
            emit(f"coordinator.{verb}", actor=actor, target=("coordinator", "1"),
                 data={"from": current.status, **(data or {})})
        return True

    def start(self, *, actor=None) -> bool:
        return self._move("running", ("init", "stopped", "draining"), actor=actor)

    def drain(self, *, actor=None, reason: str = "") -> bool:
        return self._move("draining", ("running",), actor=actor,
                          data={"reason": reason} if reason else None)

    def stop(self, *, actor=None) -> bool:
        return self._move("stopped", ("init", "running", "draining"), actor=actor)

    @classmethod
    def check_budgets(cls, settings, workers=None, state=None) -> dict:
        """Recompute budget flags for the global ledger and the given workers (default: all
        with costs); emit once-only budget events; drain on a global overrun. Call inside a
        transaction holding the rows."""
        state = state or cls.load()
        g = Budget(state.global_cost_usd, settings.coord_global_budget_usd,
                   state.global_warned, state.global_exceeded)
        for ev in g.update():
            emit(f"budget.{ev}", actor=None, target=("coordinator", "1"),
                 data={"scope": "global", "total_usd": round(g.total, 6),
                       "budget_usd": g.limit, "ratio": round(g.ratio, 4)})
            if ev == "exceeded" and state.status == "running":
                state.drain(reason="global budget exceeded")
        if (g.warned, g.exceeded) != (state.global_warned, state.global_exceeded):
            state.global_warned, state.global_exceeded = g.warned, g.exceeded
            state.save(update_fields=("global_warned", "global_exceeded"))
        if workers is None:
            workers = Worker.objects.filter(cost_usd__gt=0)
        last = None
        for w in workers:
            b = w.budget(settings.coord_per_worker_budget_usd)
            for ev in b.update():
                emit(f"budget.{ev}", actor=None, target=w,
                     data={"scope": "worker", "worker": w.code, "total_usd": round(b.total, 6),
                           "budget_usd": b.limit, "ratio": round(b.ratio, 4)})
            if (b.warned, b.exceeded) != (w.budget_warned, w.budget_exceeded):
                w.budget_warned, w.budget_exceeded = b.warned, b.exceeded
                w.save(update_fields=("budget_warned", "budget_exceeded"))
            last = (w, b)
        out = {"global_total": round(g.total, 6), "global_exceeded": g.exceeded,
               "global_remaining": g.remaining}
        if last:
            w, b = last
            out.update({"worker_total": round(b.total, 6), "worker_exceeded": b.exceeded,
                        "worker_remaining": b.remaining})
        out["allowed"] = not g.exceeded and not out.get("worker_exceeded", False)
        return out

    def finish_drain(self) -> bool:
        """Draining with nothing held by a worker → stopped."""
        if self.status != "draining":
            return False
        if Task.objects.filter(status__in=("assigned", "running")).exists():
            return False
        return self.stop()


class RateLimitState(models.Model):
    """Shared token buckets and adaptive-limiter state (pk=1), changed only by conditional
    UPDATEs on `version` so every process sees one limiter."""

    requests = models.FloatField(default=-1)  # -1: not yet filled (first use fills to capacity)
    tokens = models.FloatField(default=-1)
    updated_ts = models.FloatField(default=0)
    adaptive = models.JSONField(default=dict, blank=True)
    version = models.BigIntegerField(default=0)
    granted = models.BigIntegerField(default=0)
    denied = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "rate limit state"

    def __str__(self) -> str:
        return "Rate limit state"

    @classmethod
    def load(cls) -> RateLimitState:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    def _buckets(self, now_ts: float, rpm: int, tpm: int) -> Buckets:
        if self.requests < 0:
            return Buckets(float(rpm), float(tpm), now_ts)
        return Buckets(self.requests, self.tokens, self.updated_ts)

    @staticmethod
    def _limits(adaptive: Adaptive, settings) -> tuple[int, int]:
        return adaptive.limits(
            settings.coord_max_requests_per_minute, settings.coord_max_tokens_per_minute
        )

    @classmethod
    def acquire(cls, tokens: int = 0, now: datetime | None = None) -> dict:
        """Take one request (+ tokens) from the shared buckets.

        Returns {granted, wait_ms, remaining: {requests, tokens}, limits: {...}}. Raises
        Invalid for negative token counts or counts above the per-minute limit.
        """
        if tokens < 0:
            raise Invalid("tokens", "Must be 0 or more.")
        settings = OperatorSettings.load()
        now_ts = _ts(now or timezone.now())
        for _ in range(50):
            row = cls.load()
            adaptive = Adaptive.from_dict(row.adaptive)
            rpm, tpm = cls._limits(adaptive, settings)
            b = row._buckets(now_ts, rpm, tpm)
            try:
                granted, wait_ms = b.try_acquire(now_ts, rpm, tpm, tokens)
            except ValueError as e:
                raise Invalid("tokens", str(e)) from None
            counter = "granted" if granted else "denied"
            if cls.objects.filter(pk=row.pk, version=row.version).update(
                requests=b.requests, tokens=b.tokens, updated_ts=b.updated,
                version=F("version") + 1, **{counter: F(counter) + 1},
            ):
                return {
                    "granted": granted,
                    "wait_ms": wait_ms,
                    "remaining": {"requests": int(b.requests), "tokens": int(b.tokens)},
                    "limits": {"requests_per_minute": rpm, "tokens_per_minute": tpm},
                }
        raise StateConflict("The rate limiter is too contended; try again.")

    @classmethod
    def peek(cls, now: datetime | None = None) -> dict:
        """Current levels without consuming anything (for gauges and explanations)."""
        settings = OperatorSettings.load()
        now_ts = _ts(now or timezone.now())
        row = cls.load()
        adaptive = Adaptive.from_dict(row.adaptive)
        rpm, tpm = cls._limits(adaptive, settings)
        b = row._buckets(now_ts, rpm, tpm)
        b.refill(now_ts, rpm, tpm)
        wait_ms = 0 if b.requests >= 1 else int((1 - b.requests) / rpm * 60_000) + 1
        return {
            "requests": int(b.requests), "tokens": int(b.tokens),
            "requests_per_minute": rpm, "tokens_per_minute": tpm,
            "baseline_requests_per_minute": settings.coord_max_requests_per_minute,
            "baseline_tokens_per_minute": settings.coord_max_tokens_per_minute,
            "wait_ms": wait_ms, "adaptive_state": adaptive.state,
            "backoff_level": adaptive.level, "granted": row.granted, "denied": row.denied,
        }

    @classmethod
    def _adapt(cls, step, now: datetime | None, *, actor=None, reason: str) -> dict:
        settings = OperatorSettings.load()
        now_ts = _ts(now or timezone.now())
        base = (settings.coord_max_requests_per_minute, settings.coord_max_tokens_per_minute)
        for _ in range(50):
            row = cls.load()
            adaptive = Adaptive.from_dict(row.adaptive)
            changed = step(adaptive, now_ts, *base)
            with transaction.atomic():
                if not cls.objects.filter(pk=row.pk, version=row.version).update(
                    adaptive=adaptive.as_dict(), version=F("version") + 1
                ):
                    continue
                rpm, tpm = adaptive.limits(*base)
                if changed:
                    emit("rate.adjusted", actor=actor, target=("coordinator", "1"),
                         data={"reason": reason, "state": adaptive.state,
                               "backoff_level": adaptive.level, "current_requests": rpm,
                               "current_tokens": tpm, "baseline_requests": base[0],
                               "baseline_tokens": base[1]})
                return {"changed": changed, "state": adaptive.state,
                        "backoff_level": adaptive.level, "requests_per_minute": rpm,
                        "tokens_per_minute": tpm}
        raise StateConflict("The rate limiter is too contended; try again.")

    @classmethod
    def record_error(cls, now: datetime | None = None, *, actor=None) -> dict:
        return cls._adapt(Adaptive.record_error, now, actor=actor, reason="rate errors")

    @classmethod
    def tick(cls, now: datetime | None = None) -> dict:
        return cls._adapt(Adaptive.tick, now, reason="recovery timer")


class Terminal(models.Model):
    """A worker's or master's session, seen in the terminals page; output kept as chunks."""

    ROLES = [("worker", "worker"), ("master", "master")]
    STATUSES = [("running", "running"), ("stopped", "stopped")]

    code = models.SlugField(max_length=100, unique=True)
    role = models.CharField(max_length=10, choices=ROLES, default="worker")
    status = models.CharField(max_length=10, choices=STATUSES, default="running")
    model = models.CharField(max_length=40, blank=True)
    project_dir = models.CharField(max_length=500, blank=True)
    worker = models.ForeignKey(Worker, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="terminals")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="terminals")
    exit_code = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return f"/terminals/?tab={self.code}"

    @classmethod
    def open(cls, code: str, *, actor=None, **fields) -> Terminal:
        limit = OperatorSettings.load().max_pool_terminals
        with transaction.atomic():
            existing = cls.objects.filter(code=code).first()
            if existing and existing.status == "running":
                raise Invalid("id", f"Terminal '{code}' is already running.")
            if cls.objects.filter(status="running").count() >= limit:
                raise Invalid("id", f"Maximum terminals ({limit}) reached.")
            if existing:
                existing.delete()
            term = cls.objects.create(code=code, **fields)
            emit("terminal.registered", actor=actor, target=term,
                 data={"role": term.role, "worker": term.worker.code if term.worker else None})
        return term

    def activity_state(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        if self.status == "stopped":
            return "stopped"
        if self.last_activity_at and now - self.last_activity_at <= ACTIVE_OUTPUT_WINDOW:
            return "active"
        return "waiting" if self.task_id else "idle"

    def append(self, text: str) -> TerminalOutput:
        now = timezone.now()
        with transaction.atomic():
            last = self.chunks.order_by("-seq").values_list("seq", flat=True).first() or 0
            chunk = TerminalOutput.objects.create(terminal=self, seq=last + 1, text=text,
                                                  created_at=now)
            Terminal.objects.filter(pk=self.pk).update(last_activity_at=now)
        self.last_activity_at = now
        return chunk

    def output(self, lines: int = 200) -> str:
        chunks = list(self.chunks.order_by("-seq").values_list("text", flat=True)[:500])
        text = "".join(reversed(chunks))
        return "\n".join(text.splitlines()[-lines:])

    def exit(self, exit_code: int | None = None, *, actor=None) -> None:
        if self.status == "stopped":
            return
        with transaction.atomic():
            self.status, self.exit_code, self.stopped_at = "stopped", exit_code, timezone.now()
            self.save(update_fields=("status", "exit_code", "stopped_at"))
            emit("terminal.exited", actor=actor, target=self, data={"exit_code": exit_code})

    def messages(self):
        return TerminalMessage.objects.filter(
            models.Q(sender=self.code) | models.Q(recipient=self.code)
        )


class TerminalOutput(models.Model):
    """One appended chunk of a terminal's output."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="chunks")
    seq = models.IntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("terminal", "seq")
        # Tail reads (latest chunks of one terminal) and unique order.
        constraints = [models.UniqueConstraint(fields=["terminal", "seq"], name="chunk_seq")]

    def __str__(self) -> str:
        return f"{self.terminal_id}#{self.seq}"


class TerminalMessage(models.Model):
    """A message between terminals (or from the operator), grouped by thread."""

    sender = models.CharField(max_length=100)
    recipient = models.CharField(max_length=100)
    thread = models.CharField(max_length=100, blank=True)
    content = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)  # retention sweeps

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.sender} → {self.recipient}"


class Snapshot(models.Model):
    """Shared memory: a JSON value under a key, readable by every worker."""

    key = models.CharField(max_length=200, unique=True)
    value = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)  # retention sweeps

    def __str__(self) -> str:
        return self.key
