from __future__ import annotations

from django.db import transaction
from django.db.models import F
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from operator_site.lib.api import Conflict, StrictFieldsMixin
from settings_ui.models import OperatorSettings

from . import models as m
from .filters import DeadLetterFilter, TaskFilter, TerminalFilter

SLUG = r"[-a-zA-Z0-9_]+"


class DomainErrorsMixin:
    """Model-method errors become API errors: Invalid → 400 {field: [msg]}, StateConflict → 409."""

    def handle_exception(self, exc):
        if isinstance(exc, m.Invalid):
            exc = ValidationError({exc.field: [exc.message]})
        elif isinstance(exc, m.StateConflict):
            exc = Conflict(str(exc))
        return super().handle_exception(exc)


def _domain(fn):
    """The same mapping for function views."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except m.Invalid as e:
            raise ValidationError({e.field: [e.message]}) from None
        except m.StateConflict as e:
            raise Conflict(str(e)) from None

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def _valid(serializer_cls, data) -> dict:
    s = serializer_cls(data=data)
    s.is_valid(raise_exception=True)
    return s.validated_data


# --- tasks ----------------------------------------------------------------------------------


class TaskSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    task = serializers.CharField(source="text", read_only=True)
    worker = serializers.SlugRelatedField(slug_field="code", read_only=True)
    deps = serializers.SerializerMethodField()
    why_not_running = serializers.SerializerMethodField()

    class Meta:
        model = m.Task
        fields = ["id", "task", "priority", "category", "metadata", "status", "worker",
                  "attempts", "result", "error", "deps", "created_at", "assigned_at",
                  "started_at", "finished_at", "not_before", "why_not_running"]

    def get_deps(self, obj) -> list[str]:
        ctx = self.context.get("explain")
        if ctx and obj.pk in ctx["deps"]:
            return [c for c, _ in ctx["deps"][obj.pk]]
        return list(obj.deps.values_list("code", flat=True))

    def get_why_not_running(self, obj) -> list[str]:
        return obj.why_not_running(self.context.get("explain"))


class TaskCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    id = serializers.SlugField(max_length=100, required=False)
    task = serializers.CharField(max_length=20_000, allow_blank=True, required=False, default="")
    deps = serializers.ListField(child=serializers.SlugField(max_length=100), required=False,
                                 default=list, max_length=1000)
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, required=False, default=0)
    category = serializers.CharField(max_length=40, allow_blank=True, required=False, default="")
    metadata = serializers.DictField(required=False, default=dict)


class TaskBatchSerializer(StrictFieldsMixin, serializers.Serializer):
    tasks = TaskCreateSerializer(many=True, allow_empty=False, max_length=1000)


class TaskUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    task = serializers.CharField(max_length=20_000, allow_blank=True, required=False)
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, required=False)
    category = serializers.CharField(max_length=40, allow_blank=True, required=False)
    metadata = serializers.DictField(required=False)


class WorkerRefSerializer(StrictFieldsMixin, serializers.Serializer):
    worker = serializers.SlugField(max_length=100)


class CompleteSerializer(WorkerRefSerializer):
    result = serializers.CharField(allow_blank=True, required=False, default="", max_length=1_000_000)


class FailSerializer(WorkerRefSerializer):
    error = serializers.CharField(allow_blank=True, required=False, default="", max_length=100_000)


class CancelSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, default="cancelled")


class DepSerializer(StrictFieldsMixin, serializers.Serializer):
    dep = serializers.SlugField(max_length=100)


def _worker(code: str, *, must_be_live: bool = True) -> m.Worker:
    worker = m.Worker.objects.filter(code=code).first()
    if worker is None:
        raise ValidationError({"worker": [f"Unknown worker '{code}'; register it first."]})
    if must_be_live and not worker.is_live():
        raise Conflict(f"Worker '{code}' is stale; send a heartbeat or register again.")
    return worker


class TaskViewSet(DomainErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  viewsets.GenericViewSet):
    """The task DAG. Tasks use caller-chosen slug ids (generated when absent)."""

    queryset = m.Task.objects.select_related("worker")
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    lookup_field = "code"
    lookup_url_kwarg = "id"
    lookup_value_regex = SLUG

    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        ctx["explain"] = m.explain_context()
        return ctx

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        ctx = {**self.get_serializer_context(), "explain": m.explain_context(page)}
        return self.get_paginated_response(TaskSerializer(page, many=True, context=ctx).data)

    @extend_schema(request=TaskCreateSerializer, responses={201: TaskSerializer})
    def create(self, request):
        data = _valid(TaskCreateSerializer, request.data)
        [task] = m.Task.create_many([data], actor=request.user)
        return Response(self.get_serializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TaskBatchSerializer, responses={201: TaskSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Create several tasks at once; deps may name tasks of the same batch."""
        data = _valid(TaskBatchSerializer, request.data)
        tasks = m.Task.create_many(data["tasks"], actor=request.user, prefix="tasks")
        return Response(self.get_serializer(tasks, many=True).data, status=201)

    @extend_schema(request=TaskUpdateSerializer, responses=TaskSerializer)
    def partial_update(self, request, id=None):
        task = self.get_object()
        data = _valid(TaskUpdateSerializer, request.data)
        task.edit(data, actor=request.user)
        return Response(self.get_serializer(task).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="Held by a worker")})
    def destroy(self, request, id=None):
        self.get_object().remove(actor=request.user)
        return Response(status=204)

    @extend_schema(request=WorkerRefSerializer,
                   responses={200: TaskSerializer, 204: OpenApiResponse(description="No task")})
    @action(detail=False, methods=["post"])
    def claim(self, request):
        """The best ready task for this worker (by the configured strategy), or 204.

        A 204 carries the reason in the X-Claim-Reason header.
        """
        data = _valid(WorkerRefSerializer, request.data)
        worker = _worker(data["worker"])
        if worker.budget_exceeded:
            raise Conflict(f"Worker '{worker.code}' is over its budget; stop.")
        state = m.CoordinatorState.load()
        if state.status != "running":
            return Response(status=204, headers={"X-Claim-Reason": f"coordinator {state.status}"})
        task, reason = m.Task.claim_for(worker)
        if task is None:
            return Response(status=204, headers={"X-Claim-Reason": reason})
        return Response(self.get_serializer(task).data)

    @extend_schema(request=WorkerRefSerializer, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, id=None):
        task = self.get_object()
        data = _valid(WorkerRefSerializer, request.data)
        task.start(_worker(data["worker"], must_be_live=False))
        return Response(self.get_serializer(task).data)

    @extend_schema(request=CompleteSerializer, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, id=None):
        task = self.get_object()
        data = _valid(CompleteSerializer, request.data)
        task.complete(_worker(data["worker"], must_be_live=False), data["result"])
        return Response(self.get_serializer(task).data)

    @extend_schema(request=FailSerializer, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def fail(self, request, id=None):
        task = self.get_object()
        data = _valid(FailSerializer, request.data)
        task.fail(_worker(data["worker"], must_be_live=False), data["error"])
        return Response(self.get_serializer(task).data)

    @extend_schema(request=CancelSerializer, responses={200: serializers.DictField()})
    @action(detail=True, methods=["post"])
    def cancel(self, request, id=None):
        """Cancel the task and its unfinished dependents; {cancelled: [ids]}."""
        task = self.get_object()
        data = _valid(CancelSerializer, request.data)
        return Response({"cancelled": task.cancel(data["reason"], actor=request.user)})

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, id=None):
        """failed|cancelled → pending; restores dependents its failure cancelled."""
        task = self.get_object()
        restored = task.retry(actor=request.user)
        return Response({**self.get_serializer(task).data, "restored": restored})

    @extend_schema(methods=["POST"], request=DepSerializer, responses=TaskSerializer)
    @extend_schema(methods=["GET"], responses=serializers.ListField(child=serializers.CharField()))
    @action(detail=True, methods=["get", "post"])
    def deps(self, request, id=None):
        """GET: the task's dependency ids. POST {"dep": id}: add an edge (400 names a cycle)."""
        task = self.get_object()
        if request.method == "GET":
            return Response(list(task.deps.values_list("code", flat=True)))
        data = _valid(DepSerializer, request.data)
        dep = m.Task.objects.filter(code=data["dep"]).first()
        if dep is None:
            raise ValidationError({"dep": [f"Unknown task '{data['dep']}'."]})
        task.add_dep(dep, actor=request.user)
        return Response(self.get_serializer(task).data)

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["delete"], url_path=rf"deps/(?P<dep>{SLUG})")
    def remove_dep(self, request, id=None, dep=None):
        task = self.get_object()
        other = m.Task.objects.filter(code=dep).first()
        if other is None:
            raise ValidationError({"dep": [f"Unknown task '{dep}'."]})
        task.remove_dep(other, actor=request.user)
        return Response(self.get_serializer(task).data)

    @extend_schema(responses=serializers.DictField())
    @action(detail=False, methods=["get"])
    def graph(self, request):
        """{nodes, edges: [{from: dep, to: task}], levels} (levels: topological layers)."""
        return Response(m.graph())

    @extend_schema(responses=serializers.DictField())
    @action(detail=False, methods=["get"])
    def progress(self, request):
        return Response(m.progress())


# --- workers --------------------------------------------------------------------------------


class WorkerSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    live = serializers.SerializerMethodField()
    active_tasks = serializers.SerializerMethodField()

    class Meta:
        model = m.Worker
        fields = ["id", "capabilities", "status", "live", "registered_at", "last_heartbeat",
                  "last_claim_at", "cost_usd", "input_tokens", "output_tokens", "sessions",
                  "budget_warned", "budget_exceeded", "rate_errors", "active_tasks"]

    def get_live(self, obj) -> bool:
        return obj.is_live()

    def get_active_tasks(self, obj) -> int:
        return obj.active_count()


class WorkerRegisterSerializer(StrictFieldsMixin, serializers.Serializer):
    id = serializers.SlugField(max_length=100)
    capabilities = serializers.ListField(child=serializers.CharField(max_length=40),
                                         required=False, default=list, max_length=50)


class CostSerializer(StrictFieldsMixin, serializers.Serializer):
    total_usd = serializers.FloatField(min_value=0, max_value=1_000_000)
    input_tokens = serializers.IntegerField(min_value=0, max_value=10**12, required=False, default=0)
    output_tokens = serializers.IntegerField(min_value=0, max_value=10**12, required=False, default=0)


class WorkerViewSet(DomainErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    viewsets.GenericViewSet):
    queryset = m.Worker.objects.all()
    serializer_class = WorkerSerializer
    lookup_field = "code"
    lookup_url_kwarg = "id"
    lookup_value_regex = SLUG

    @extend_schema(request=WorkerRegisterSerializer, responses={201: WorkerSerializer})
    def create(self, request):
        """Register (or re-register) a worker; 201 when new, 200 when it existed."""
        data = _valid(WorkerRegisterSerializer, request.data)
        worker, created = m.Worker.register(data["id"], data["capabilities"])
        return Response(self.get_serializer(worker).data, status=201 if created else 200)

    @extend_schema(request=None, responses=WorkerSerializer)
    @action(detail=True, methods=["post"])
    def heartbeat(self, request, id=None):
        worker = self.get_object()
        worker.heartbeat()
        return Response(self.get_serializer(worker).data)

    @extend_schema(request=CostSerializer, responses=serializers.DictField())
    @action(detail=True, methods=["post"])
    def cost(self, request, id=None):
        """Report a session's cost; {allowed: false} tells the worker to stop."""
        worker = self.get_object()
        data = _valid(CostSerializer, request.data)
        return Response(worker.record_cost(data["total_usd"], data["input_tokens"],
                                           data["output_tokens"]))

    @extend_schema(request=None, responses=serializers.DictField())
    @action(detail=True, methods=["post"], url_path="rate-error")
    def rate_error(self, request, id=None):
        """Report a 429 from the provider; 3 within 60 s halve the shared limits."""
        worker = self.get_object()
        m.Worker.objects.filter(pk=worker.pk).update(rate_errors=F("rate_errors") + 1)
        return Response(m.RateLimitState.record_error(actor=worker.code))


# --- coordinator and rate limit --------------------------------------------------------------


def coordinator_status() -> dict:
    state = m.CoordinatorState.load()
    settings = OperatorSettings.load()
    return {
        "status": state.status,
        "changed_at": state.changed_at,
        "last_tick_at": state.last_tick_at,
        "strategy": settings.assignment_strategy,
        "progress": m.progress(),
        "live_workers": m.Worker.live().count(),
        "rate": m.RateLimitState.peek(),
        "budget": {
            "global_total_usd": round(state.global_cost_usd, 6),
            "global_budget_usd": settings.coord_global_budget_usd,
            "per_worker_budget_usd": settings.coord_per_worker_budget_usd,
            "global_warned": state.global_warned,
            "global_exceeded": state.global_exceeded,
        },
    }


@extend_schema(responses=serializers.DictField())
@api_view(["GET"])
def coordinator_view(request):
    """Lifecycle status (init|running|draining|stopped), progress, rate and budget."""
    return Response(coordinator_status())


@extend_schema(request=None, responses=serializers.DictField())
@api_view(["POST"])
@_domain
def coordinator_action_view(request, verb: str):
    """start (idempotent; restarts a stopped coordinator) | drain (from running) | stop."""
    state = m.CoordinatorState.load()
    getattr(state, verb)(actor=request.user)
    return Response(coordinator_status())


class AcquireSerializer(StrictFieldsMixin, serializers.Serializer):
    tokens = serializers.IntegerField(required=False, default=0, max_value=10**9)
    worker = serializers.SlugField(max_length=100, required=False)

    def validate_tokens(self, value):
        if value < 0:
            raise serializers.ValidationError("Must be 0 or more.")
        return value


@extend_schema(request=AcquireSerializer, responses=serializers.DictField())
@api_view(["POST"])
@_domain
def rate_acquire_view(request):
    """Take 1 request (+ tokens) from the shared buckets → {granted, wait_ms, remaining}."""
    data = _valid(AcquireSerializer, request.data)
    if "worker" in data:
        _worker(data["worker"], must_be_live=False)
    return Response(m.RateLimitState.acquire(data["tokens"]))


# --- dead letters ---------------------------------------------------------------------------


class DeadLetterSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    task = serializers.CharField(source="task.code", read_only=True)
    text = serializers.CharField(source="task.text", read_only=True)
    category = serializers.CharField(source="task.category", read_only=True)
    worker = serializers.CharField(source="worker_code", read_only=True)

    class Meta:
        model = m.DeadLetter
        fields = ["id", "task", "text", "category", "error", "worker", "attempts", "status",
                  "dismiss_reason", "created_at"]


class DismissSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class DeadLetterViewSet(DomainErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    queryset = m.DeadLetter.objects.select_related("task")
    serializer_class = DeadLetterSerializer
    filterset_class = DeadLetterFilter
    lookup_field = "code"
    lookup_url_kwarg = "id"

    @extend_schema(request=None, responses=DeadLetterSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, id=None):
        """Re-queue the task and restore the dependents its failure cancelled."""
        letter = self.get_object()
        restored = letter.retry(actor=request.user)
        return Response({**self.get_serializer(letter).data, "restored": restored})

    @extend_schema(request=DismissSerializer, responses=DeadLetterSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, id=None):
        letter = self.get_object()
        data = _valid(DismissSerializer, request.data)
        letter.dismiss(data["reason"], actor=request.user)
        return Response(self.get_serializer(letter).data)


# --- terminals ------------------------------------------------------------------------------


class TerminalSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    worker = serializers.SlugRelatedField(slug_field="code", read_only=True)
    task = serializers.SlugRelatedField(slug_field="code", read_only=True)
    activity_state = serializers.SerializerMethodField()

    class Meta:
        model = m.Terminal
        fields = ["id", "role", "status", "model", "project_dir", "worker", "task", "exit_code",
                  "created_at", "stopped_at", "last_activity_at", "activity_state"]

    def get_activity_state(self, obj) -> str:
        return obj.activity_state()


class TerminalCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    id = serializers.SlugField(max_length=100)
    role = serializers.ChoiceField(choices=m.Terminal.ROLES, default="worker")
    model = serializers.CharField(max_length=40, required=False, default="", allow_blank=True)
    project_dir = serializers.CharField(max_length=500, required=False, default="",
                                        allow_blank=True)
    worker = serializers.SlugField(max_length=100, required=False)
    task = serializers.SlugField(max_length=100, required=False)


class OutputSerializer(StrictFieldsMixin, serializers.Serializer):
    text = serializers.CharField(max_length=1_000_000, trim_whitespace=False)


class MessageSerializer(serializers.ModelSerializer):
    to = serializers.CharField(source="recipient", max_length=100)

    class Meta:
        model = m.TerminalMessage
        fields = ["id", "sender", "to", "thread", "content", "created_at"]
        read_only_fields = ["id", "sender", "created_at"]


class MessageCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    to = serializers.CharField(max_length=100)
    thread = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    content = serializers.CharField(max_length=100_000)


class ExitSerializer(StrictFieldsMixin, serializers.Serializer):
    exit_code = serializers.IntegerField(required=False, allow_null=True, default=None,
                                         min_value=-1000, max_value=1000)


class TerminalViewSet(DomainErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    queryset = m.Terminal.objects.select_related("worker", "task")
    serializer_class = TerminalSerializer
    filterset_class = TerminalFilter
    lookup_field = "code"
    lookup_url_kwarg = "id"
    lookup_value_regex = SLUG

    @extend_schema(request=TerminalCreateSerializer, responses={201: TerminalSerializer})
    def create(self, request):
        """Open a terminal (cap: max_pool_terminals running)."""
        data = _valid(TerminalCreateSerializer, request.data)
        fields = {k: data[k] for k in ("role", "model", "project_dir")}
        if "worker" in data:
            fields["worker"] = _worker(data["worker"], must_be_live=False)
        if "task" in data:
            fields["task"] = m.Task.objects.filter(code=data["task"]).first()
            if fields["task"] is None:
                raise ValidationError({"task": [f"Unknown task '{data['task']}'."]})
        term = m.Terminal.open(data["id"], actor=request.user, **fields)
        return Response(self.get_serializer(term).data, status=201)

    @extend_schema(methods=["GET"], responses=serializers.DictField())
    @extend_schema(methods=["POST"], request=OutputSerializer, responses=serializers.DictField())
    @action(detail=True, methods=["get", "post"])
    def output(self, request, id=None):
        """GET ?lines=N (≤ 500) → {output}; POST {text} appends a chunk."""
        term = self.get_object()
        if request.method == "POST":
            data = _valid(OutputSerializer, request.data)
            if term.status != "running":
                raise Conflict(f"Terminal '{term.code}' is stopped.")
            chunk = term.append(data["text"])
            return Response({"seq": chunk.seq}, status=201)
        raw = request.query_params.get("lines", "200")
        try:
            lines = int(raw)
        except ValueError:
            raise ValidationError({"lines": ["Must be an integer."]}) from None
        if not 1 <= lines <= 500:
            raise ValidationError({"lines": ["Must be between 1 and 500."]})
        return Response({"id": term.code, "output": term.output(lines)})

    @extend_schema(methods=["GET"], responses=MessageSerializer(many=True))
    @extend_schema(methods=["POST"], request=MessageCreateSerializer,
                   responses={201: MessageSerializer})
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, id=None):
        """Messages from or to this terminal; POST {to, thread, content} sends one from it."""
        term = self.get_object()
        if request.method == "POST":
            data = _valid(MessageCreateSerializer, request.data)
            msg = m.TerminalMessage.objects.create(
                sender=term.code, recipient=data["to"], thread=data["thread"],
                content=data["content"],
            )
            return Response(MessageSerializer(msg).data, status=201)
        page = self.paginate_queryset(term.messages())
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(request=ExitSerializer, responses=TerminalSerializer)
    @action(detail=True, methods=["post"])
    def exit(self, request, id=None):
        term = self.get_object()
        data = _valid(ExitSerializer, request.data)
        with transaction.atomic():
            term.exit(data["exit_code"], actor=request.user)
        return Response(self.get_serializer(term).data)
