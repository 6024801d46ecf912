"""Chains API: /api/chains/ list, create, detail, PATCH, actions, bulk, costs, export."""

from __future__ import annotations

import re
import uuid

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from observability import exports
from operator_site.lib.api import Conflict, PreconditionFailed, SearchPagination, StrictFieldsMixin
from settings_ui.models import OperatorSettings

from . import runner
from .filters import ChainFilter
from .models import (
    BULK_MAX,
    Chain,
    ChainRun,
    OutputChunk,
    Session,
    normalize_project,
    sanitize_branch,
)

ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

MONEY = {"max_digits": 14, "decimal_places": 6, "coerce_to_string": False}


class TextField(serializers.CharField):
    """A CharField that refuses numbers and other non-strings instead of coercing them."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SessionSerializer(serializers.ModelSerializer):
    cost_usd = serializers.DecimalField(read_only=True, **MONEY)

    class Meta:
        model = Session
        fields = [
            "index", "agent_session_id", "status", "turns", "cost_usd", "input_tokens",
            "output_tokens", "duration_ms", "hit_max_turns", "handoff", "error", "created_at",
        ]
        read_only_fields = fields


class SessionRecordSerializer(StrictFieldsMixin, serializers.Serializer):
    """Body of POST /api/chains/{id}/sessions/: one finished session."""

    agent_session_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    turns = serializers.IntegerField(min_value=0, max_value=10_000)
    cost_usd = serializers.DecimalField(
        max_digits=14, decimal_places=6, min_value=0, max_value=1_000_000, coerce_to_string=False
    )
    input_tokens = serializers.IntegerField(min_value=0, max_value=10**12, default=0)
    output_tokens = serializers.IntegerField(min_value=0, max_value=10**12, default=0)
    duration_ms = serializers.IntegerField(min_value=0, max_value=10**12, default=0)
    handoff = TextField(
        max_length=100_000, required=False, allow_blank=True, trim_whitespace=False, default=""
    )
    error = TextField(max_length=10_000, required=False, allow_blank=True, default="")
    hit_max_turns = serializers.BooleanField(default=False)


class ChainSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """The chain as read; only task and metadata are writable (PATCH)."""

    task = TextField(max_length=10_000)
    metadata = serializers.JSONField(allow_null=True, required=False)
    max_budget_usd = serializers.DecimalField(
        max_digits=10, decimal_places=2, read_only=True, coerce_to_string=False
    )
    cost_usd = serializers.DecimalField(read_only=True, **MONEY)

    class Meta:
        model = Chain
        fields = [
            "id", "task", "status", "project_dir", "branch", "model", "max_turns",
            "max_continuations", "max_budget_usd", "restarted_from", "metadata", "cost_usd",
            "turns", "duration_ms", "input_tokens", "output_tokens", "session_count",
            "consecutive_errors", "created_at", "updated_at",
        ]
        read_only_fields = [f for f in fields if f not in ("task", "metadata")]

    def validate_metadata(self, value):
        if value is not None and not isinstance(value, dict):
            raise ValidationError("Must be a JSON object or null.")
        return value

    def validate(self, attrs):
        if not attrs:
            raise ValidationError(
                {"non_field_errors": ["No fields to update (provide task and/or metadata)."]}
            )
        return attrs


class ChainRunSerializer(serializers.ModelSerializer):
    """The Operator's runner for a chain (null until the chain is started here)."""

    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ChainRun
        fields = ["backend", "active", "started_at", "finished_at", "heartbeat_at",
                  "session_started_at", "attempt", "last_error", "env"]
        read_only_fields = fields


class ChainDetailSerializer(ChainSerializer):
    sessions = SessionSerializer(many=True, read_only=True)
    restarts = serializers.SerializerMethodField()
    run = serializers.SerializerMethodField()

    class Meta(ChainSerializer.Meta):
        fields = [*ChainSerializer.Meta.fields, "sessions", "restarts", "run"]
        read_only_fields = [*ChainSerializer.Meta.read_only_fields, "sessions", "restarts", "run"]

    @extend_schema_field(ChainRunSerializer(allow_null=True))
    def get_run(self, obj):
        run = ChainRun.objects.filter(pk=obj.pk).first()
        return ChainRunSerializer(run).data if run else None

    def get_restarts(self, obj) -> list[str]:
        return [str(i) for i in obj.restarts.order_by("created_at").values_list("id", flat=True)]


class ChainCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """Body of POST /api/chains/. Missing config fields take the operator settings' defaults."""

    task = TextField(max_length=10_000)
    model = serializers.ChoiceField(choices=Chain.Model.choices, required=False)
    max_turns = serializers.IntegerField(min_value=1, max_value=200, required=False)
    max_continuations = serializers.IntegerField(min_value=1, max_value=20, required=False)
    max_budget_usd = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, max_value=100_000, required=False,
        coerce_to_string=False,
    )
    project_dir = serializers.CharField(max_length=500, required=False, allow_blank=True)
    branch = serializers.CharField(max_length=500, required=False, allow_blank=True)
    metadata = serializers.JSONField(required=False, allow_null=True)
    start = serializers.BooleanField(default=False, help_text="Run the chain on the workers now.")
    agent_backend = TextField(max_length=32, required=False,
                              help_text="claude | command (default: settings)")
    env = serializers.DictField(child=TextField(max_length=64), required=False,
                                help_text="{ENV_VAR: secret_name} handed to the agent")

    def validate_metadata(self, value):
        if value is not None and not isinstance(value, dict):
            raise ValidationError("Must be a JSON object or null.")
        return value

    def validate_env(self, value):
        return validate_agent_env(value)

    def validate_branch(self, value):
        return sanitize_branch(value)

    def validate_project_dir(self, value):
        return normalize_project(value)

    def validate(self, attrs):
        defaults = OperatorSettings.load()
        for name in ("model", "max_turns", "max_continuations", "max_budget_usd"):
            attrs.setdefault(name, getattr(defaults, name))
        if not attrs.get("start"):
            for name in ("agent_backend", "env"):
                if name in attrs:
                    raise ValidationError({name: ['Only used with "start": true.']})
        else:
            try:
                attrs["agent_backend"] = runner.check_start_input(
                    project_dir=attrs.get("project_dir", ""),
                    max_budget_usd=attrs["max_budget_usd"], backend=attrs.get("agent_backend"),
                )
            except runner.StartRefused as e:
                raise ValidationError({e.field: [e.message]}) from None
        return attrs


def validate_agent_env(value: dict) -> dict:
    for var in value:
        if not ENV_VAR.match(var):
            raise ValidationError(f"Not an environment variable name: {var[:60]!r}.")
    return value


class ChainStartSerializer(StrictFieldsMixin, serializers.Serializer):
    """Body of POST /api/chains/{id}/start/ (all optional)."""

    agent_backend = TextField(max_length=32, required=False)
    env = serializers.DictField(child=TextField(max_length=64), required=False)

    def validate_env(self, value):
        return validate_agent_env(value)


class FinishSerializer(StrictFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=[(s.value, s.label) for s in Chain.FINISHED])
    error = TextField(max_length=10_000, required=False, allow_blank=True, default="")


class BulkSerializer(StrictFieldsMixin, serializers.Serializer):
    ids = serializers.ListField(child=serializers.JSONField(), allow_empty=False)

    def validate_ids(self, value):
        if len(value) > BULK_MAX:
            raise ValidationError(f"At most {BULK_MAX} ids per call (got {len(value)}).")
        out, seen, errors = [], set(), []
        for raw in value:
            try:
                ident = uuid.UUID(str(raw)) if isinstance(raw, str) else None
            except ValueError:
                ident = None
            if ident is None:
                errors.append(f"Not a chain id: {str(raw)[:60]!r}.")
            elif ident in seen:
                errors.append(f"Duplicate id: {ident}.")
            else:
                seen.add(ident)
                out.append(ident)
        if errors:
            raise ValidationError(errors)
        return out


BULK_RESULT = inline_serializer(
    "ChainBulkResult",
    {
        "results": serializers.ListField(child=serializers.DictField()),
        "total": serializers.IntegerField(),
        "succeeded": serializers.IntegerField(),
        "failed": serializers.IntegerField(),
    },
)

EXPORT_COLUMNS = [
    "id", "task", "status", "model", "sessions", "cost_usd", "turns", "duration_ms",
    "input_tokens", "output_tokens", "created_at", "updated_at", "project_dir", "branch",
    "restarted_from",
]


def _export_row(c: dict) -> list:
    return [
        str(c["id"]), c["task"], c["status"], c["model"], c["session_count"],
        float(c["cost_usd"]), c["turns"], c["duration_ms"], c["input_tokens"],
        c["output_tokens"], c["created_at"].isoformat(), c["updated_at"].isoformat(),
        c["project_dir"], c["branch"], str(c["restarted_from"] or ""),
    ]


class ChainViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Chain.objects.all()
    serializer_class = ChainSerializer
    filterset_class = ChainFilter
    pagination_class = SearchPagination
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_serializer_class(self):
        if self.action in ("retrieve", "partial_update", "restart", "sessions", "start"):
            return ChainDetailSerializer
        return ChainSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            qs = qs.prefetch_related("sessions")
        return qs

    def get_object(self):
        try:
            uuid.UUID(str(self.kwargs.get("pk")))
        except ValueError:
            raise NotFound("Chain not found.") from None
        return super().get_object()

    def perform_content_negotiation(self, request, force=False):
        # export/ takes ?format=csv|json as its own parameter (DRF would read it as a
        # renderer name); it streams its own response, so any renderer will do.
        if self.action == "export":
            return (renderers.JSONRenderer(), "application/json")
        return super().perform_content_negotiation(request, force)

    def _with_etag(self, chain: Chain, data, code=200) -> Response:
        return Response(data, status=code, headers={"ETag": chain.etag})

    def retrieve(self, request, *args, **kwargs):
        chain = self.get_object()
        return self._with_etag(chain, self.get_serializer(chain).data)

    @extend_schema(request=ChainCreateSerializer, responses={201: ChainDetailSerializer})
    def create(self, request, *args, **kwargs):
        ser = ChainCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        fields = dict(ser.validated_data)
        start = fields.pop("start")
        backend, env = fields.pop("agent_backend", None), fields.pop("env", None)
        with transaction.atomic():
            chain = Chain.create(actor=request.user, **fields)
            if start:
                self._start(chain, request, backend, env)
        return self._with_etag(chain, ChainDetailSerializer(chain).data, status.HTTP_201_CREATED)

    def _start(self, chain, request, backend, env):
        try:
            runner.start_chain(chain, actor=request.user, backend=backend, env=env)
        except runner.StartRefused as e:
            if e.field:
                raise ValidationError({e.field: [e.message]}) from None
            raise Conflict(e.message) from None

    @extend_schema(request=ChainStartSerializer, responses={200: ChainDetailSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Run the chain on the workers (400 bad backend/project/budget, 409 not startable)."""
        chain = self.get_object()
        ser = ChainStartSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        self._start(chain, request, ser.validated_data.get("agent_backend"),
                    ser.validated_data.get("env"))
        chain.refresh_from_db()
        return self._with_etag(chain, ChainDetailSerializer(chain).data)

    @extend_schema(
        parameters=[OpenApiParameter("after", int, required=False,
                                     description="Only chunks with a larger id")],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def output(self, request, pk=None):
        """Live output chunks of the chain's sessions (secrets masked), oldest first."""
        chain = self.get_object()
        raw = request.query_params.get("after") or "0"
        try:
            after = int(raw)
        except ValueError:
            raise ValidationError({"after": ["Must be an integer."]}) from None
        if after < 0 or after > 2**62:
            raise ValidationError({"after": ["Must be between 0 and 2^62."]})
        chunks = list(
            OutputChunk.objects.filter(chain=chain, id__gt=after).order_by("id")
            .values("id", "session_index", "text")[:500]
        )
        return Response({
            "chunks": chunks, "last_id": chunks[-1]["id"] if chunks else after,
            "status": chain.status,
        })

    @extend_schema(
        request=ChainSerializer, responses={200: ChainDetailSerializer},
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=False,
                                     description="ETag from GET; a stale one gets 412.")],
    )
    def partial_update(self, request, *args, **kwargs):
        chain = self.get_object()
        ser = ChainSerializer(chain, data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        with transaction.atomic():
            chain = Chain.objects.select_for_update().get(pk=chain.pk)
            if_match = request.headers.get("If-Match")
            if if_match and if_match.strip() != "*":
                tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
                if chain.etag not in tags:
                    raise PreconditionFailed()
            chain.edit(dict(ser.validated_data), actor=request.user)
        return self._with_etag(chain, ChainDetailSerializer(chain).data)

    def destroy(self, request, *args, **kwargs):
        chain = self.get_object()
        if not chain.delete_chain(actor=request.user):
            raise Conflict("Chain is running: abort it first.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ChainSerializer})
    @action(detail=True, methods=["post"])
    def abort(self, request, pk=None):
        chain = self.get_object()
        if not chain.abort(actor=request.user):
            raise Conflict(f"Chain is not running (status: {chain.status}).")
        return self._with_etag(chain, ChainSerializer(chain).data)

    @extend_schema(request=None, responses={201: ChainDetailSerializer})
    @action(detail=True, methods=["post"])
    def restart(self, request, pk=None):
        chain = self.get_object()
        if chain.is_running:
            raise Conflict("Chain is running: abort it before restarting.")
        new = chain.restart(actor=request.user)
        return self._with_etag(new, ChainDetailSerializer(new).data, status.HTTP_201_CREATED)

    @extend_schema(request=SessionRecordSerializer, responses={201: SessionSerializer})
    @action(detail=True, methods=["post"])
    def sessions(self, request, pk=None):
        chain = self.get_object()
        ser = SessionRecordSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        session = chain.record_session(actor=request.user, **ser.validated_data)
        if session is None:
            raise Conflict(f"Chain is not running (status: {chain.status}).")
        return Response(SessionSerializer(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=FinishSerializer, responses={200: ChainSerializer})
    @action(detail=True, methods=["post"])
    def finish(self, request, pk=None):
        chain = self.get_object()
        ser = FinishSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        if not chain.finish(ser.validated_data["status"], error=ser.validated_data["error"],
                            actor=request.user):
            raise Conflict(f"Chain is not running (status: {chain.status}).")
        return self._with_etag(chain, ChainSerializer(chain).data)

    @extend_schema(request=BulkSerializer, responses={200: BULK_RESULT})
    @action(detail=False, methods=["post"], url_path="bulk-archive")
    def bulk_archive(self, request):
        ser = BulkSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response(Chain.objects.bulk_archive(ser.validated_data["ids"], actor=request.user))

    @extend_schema(request=BulkSerializer, responses={200: BULK_RESULT})
    @action(detail=False, methods=["post"], url_path="bulk-delete")
    def bulk_delete(self, request):
        ser = BulkSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response(Chain.objects.bulk_delete(ser.validated_data["ids"], actor=request.user))

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def costs(self, request):
        return Response(self.filter_queryset(self.get_queryset()).cost_summary())

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "json"], required=False)],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def export(self, request):
        fmt = request.query_params.get("format", "json")
        if fmt not in ("csv", "json"):
            raise ValidationError({"format": ["Must be csv or json."]})
        qs = self.filter_queryset(self.get_queryset()).values(
            "id", "task", "status", "model", "session_count", "cost_usd", "turns",
            "duration_ms", "input_tokens", "output_tokens", "created_at", "updated_at",
            "project_dir", "branch", "restarted_from",
        )
        rows = (_export_row(c) for c in qs.iterator(chunk_size=2000))
        # The same streaming encoders (and CSV formula escaping) as every other export.
        resp = StreamingHttpResponse(
            exports.encode(fmt, EXPORT_COLUMNS, rows), content_type=exports.FORMATS[fmt][0]
        )
        resp["Content-Disposition"] = f'attachment; filename="chains.{fmt}"'
        return resp


