from __future__ import annotations

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from operator_site.lib.api import Conflict, StrictFieldsMixin

from .backups import BackupError, RestoreRefused
from .filters import WebhookDeliveryFilter, WebhookFilter
from .keyring import DecryptError
from .models import (
    SECRET_NAME_RE,
    WEBHOOK_FORMATS,
    Backup,
    OperatorSettings,
    RetentionPolicy,
    Secret,
    SweepRun,
    Webhook,
    WebhookDelivery,
)
from .retention import KINDS, sweep
from .validators import validate_event_patterns, validate_signing_secret, validate_webhook_url
from .webhook_protocol import valid_pattern


class OperatorSettingsSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = OperatorSettings
        fields = [*OperatorSettings.editable_fields(), "updated_at"]
        read_only_fields = ["updated_at"]


@extend_schema(
    methods=["GET"], responses=OperatorSettingsSerializer, summary="Current settings"
)
@extend_schema(
    methods=["PUT"],
    request=OperatorSettingsSerializer,
    responses=OperatorSettingsSerializer,
    summary="Replace all settings (missing fields take their defaults)",
)
@extend_schema(
    methods=["PATCH"],
    request=OperatorSettingsSerializer,
    responses=OperatorSettingsSerializer,
    summary="Change some settings",
)
@api_view(["GET", "PUT", "PATCH"])
def settings_view(request):
    obj = OperatorSettings.load()
    if request.method == "GET":
        return Response(OperatorSettingsSerializer(obj).data)
    if request.method == "PUT":
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        data = {**OperatorSettings.defaults(), **request.data}
        serializer = OperatorSettingsSerializer(obj, data=data)
    else:
        serializer = OperatorSettingsSerializer(obj, data=request.data, partial=True)
    # Every field is validated before anything is written.
    serializer.is_valid(raise_exception=True)
    obj.apply(serializer.validated_data, actor=request.user)
    return Response(OperatorSettingsSerializer(obj).data)


@extend_schema(request=None, responses=OperatorSettingsSerializer, summary="Reset to defaults")
@api_view(["POST"])
def settings_reset_view(request):
    obj = OperatorSettings.load()
    obj.reset(actor=request.user)
    return Response(OperatorSettingsSerializer(obj).data)


# --- backups ------------------------------------------------------------------------------------


class BackupSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    rows_done = serializers.SerializerMethodField()
    rows_total = serializers.SerializerMethodField()

    class Meta:
        model = Backup
        fields = ["id", "name", "kind", "status", "exclude_secrets", "exclude_audit", "size",
                  "sha256", "counts", "rows_done", "rows_total", "duration_ms", "error",
                  "created_by", "created_at", "finished_at"]
        read_only_fields = fields

    def get_rows_done(self, obj) -> int:
        return obj.progress[0]

    def get_rows_total(self, obj) -> int:
        return obj.progress[1]


class BackupCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    exclude_secrets = serializers.BooleanField(default=False)
    exclude_audit = serializers.BooleanField(default=False)


class RestoreSerializer(StrictFieldsMixin, serializers.Serializer):
    confirm = serializers.BooleanField()

    def validate_confirm(self, value):
        if value is not True:
            raise serializers.ValidationError("Set confirm to true to replace the current data.")
        return value


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class PreviewModelSerializer(serializers.Serializer):
    model = serializers.CharField()
    name = serializers.CharField()
    in_backup = serializers.IntegerField()
    present_now = serializers.IntegerField(allow_null=True)
    action = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    reason = serializers.CharField()
    error = serializers.CharField()
    manifest = serializers.DictField(required=False)
    models = PreviewModelSerializer(many=True)


class RestoreResultSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    skipped = serializers.DictField(child=serializers.IntegerField())
    pre_restore = serializers.CharField()


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    return request.data


class BackupViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Backup files and their rows: create (runs as a Celery task), preview, restore, upload."""

    queryset = Backup.objects.select_related("created_by")
    serializer_class = BackupSerializer
    lookup_field = "code"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    @extend_schema(request=BackupCreateSerializer, responses={202: BackupSerializer})
    def create(self, request):
        s = BackupCreateSerializer(data=_body(request))
        s.is_valid(raise_exception=True)
        backup = Backup.start(actor=request.user, **s.validated_data)
        return Response(BackupSerializer(backup).data, status=status.HTTP_202_ACCEPTED)

    def perform_destroy(self, instance):
        if instance.status in ("pending", "running"):
            raise Conflict("The backup is still being written.")
        instance.remove(actor=self.request.user)

    @extend_schema(responses={(200, "application/gzip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, id=None):
        backup = self.get_object()
        if backup.status != "ok" or not backup.path.exists():
            raise Conflict("The backup file is not available.")
        return FileResponse(
            open(backup.path, "rb"), as_attachment=True, filename=backup.name,
            content_type="application/gzip",
        )

    @extend_schema(responses=PreviewSerializer)
    @action(detail=True, methods=["get"])
    def preview(self, request, id=None):
        backup = self.get_object()
        if backup.status != "ok":
            raise Conflict("The backup is not finished.")
        return Response(backup.preview())

    @extend_schema(request=RestoreSerializer, responses=RestoreResultSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, id=None):
        backup = self.get_object()
        s = RestoreSerializer(data=_body(request))
        s.is_valid(raise_exception=True)
        if backup.status != "ok":
            raise Conflict("The backup is not finished.")
        try:
            result = backup.restore(actor=request.user)
        except RestoreRefused as e:
            raise Conflict(str(e)) from None
        except BackupError as e:
            raise serializers.ValidationError({"backup": [str(e)]}) from None
        return Response(result)

    @extend_schema(request={"multipart/form-data": UploadSerializer},
                   responses={201: BackupSerializer})
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser])
    def upload(self, request):
        limit = OperatorSettings.load().backup_upload_max_mb * 1024 * 1024
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + 64 * 1024:  # multipart framing on top of the file
            raise serializers.ValidationError(
                {"file": [f"The file is larger than the upload limit ({limit // (1024 * 1024)} MB)."]}
            )
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": ["No file was submitted."]})
        try:
            backup = Backup.from_upload(upload, limit=limit, actor=request.user)
        except BackupError as e:
            raise serializers.ValidationError({"file": [str(e)]}) from None
        return Response(BackupSerializer(backup).data, status=status.HTTP_201_CREATED)


# --- retention ----------------------------------------------------------------------------------


class PolicySerializer(StrictFieldsMixin, serializers.Serializer):
    enabled = serializers.BooleanField()
    ttl_days = serializers.IntegerField(min_value=1, max_value=3650, allow_null=True)
    max_count = serializers.IntegerField(
        min_value=1, max_value=10_000_000, allow_null=True, required=False
    )
    label = serializers.CharField(read_only=True)
    available = serializers.BooleanField(read_only=True)


def _policies_data() -> dict:
    out = {}
    for p in RetentionPolicy.load_all():
        kind = KINDS[p.kind]
        row = {"label": kind.label, "available": kind.get_model() is not None,
               "enabled": p.enabled, "ttl_days": p.ttl_days}
        if kind.has_max_count:
            row["max_count"] = p.max_count
        out[p.kind] = row
    return out


class RetentionRunSerializer(StrictFieldsMixin, serializers.Serializer):
    dry_run = serializers.BooleanField(default=False)


class SweepRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SweepRun
        fields = ["id", "started_at", "finished_at", "dry_run", "trigger", "status", "counts",
                  "longest_batch_ms", "duration_ms", "error"]
        read_only_fields = fields


@extend_schema(methods=["GET"], responses=OpenApiTypes.OBJECT,
               summary="Retention policy per kind")
@extend_schema(methods=["PUT", "PATCH"], request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT,
               summary="Set policies: {kind: {enabled, ttl_days, max_count}} (PUT: missing kinds take defaults)")
@api_view(["GET", "PUT", "PATCH"])
def retention_view(request):
    if request.method == "GET":
        return Response(_policies_data())
    body = _body(request)
    values = apply_policy_values(body, partial=request.method == "PATCH")
    RetentionPolicy.store(values, actor=request.user)
    return Response(_policies_data())


def apply_policy_values(body: dict, *, partial: bool) -> dict:
    """Validate {kind: {...}} for every kind before anything is written; returns clean values."""
    errors: dict = {}
    values: dict = {}
    for kind in body:
        if kind not in KINDS:
            errors[kind] = ["Unknown retention kind."]
    for kind, spec in KINDS.items():
        if kind not in body:
            if not partial:
                values[kind] = spec.defaults()
            continue
        raw = body[kind]
        if not isinstance(raw, dict):
            errors[kind] = ["Expected an object with enabled and ttl_days."]
            continue
        s = PolicySerializer(data=raw, partial=partial)
        if not s.is_valid():
            errors[kind] = s.errors
            continue
        data = dict(s.validated_data)
        if "max_count" in data and not spec.has_max_count and data["max_count"] is not None:
            errors[kind] = {"max_count": ["Only completed_tasks has a max count."]}
            continue
        if not partial:
            data.setdefault("max_count", spec.default_max_count)
        values[kind] = data
    if errors:
        raise serializers.ValidationError(errors)
    return values


@extend_schema(request=RetentionRunSerializer, responses=SweepRunSerializer,
               summary="Sweep now (or dry run): counts per kind, null = kind not available")
@api_view(["POST"])
def retention_run_view(request):
    s = RetentionRunSerializer(data=_body(request))
    s.is_valid(raise_exception=True)
    run = sweep(dry_run=s.validated_data["dry_run"], trigger="api", actor=request.user)
    return Response(SweepRunSerializer(run).data)


class SweepRunViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Recent retention sweeps, newest first."""

    queryset = SweepRun.objects.all()
    serializer_class = SweepRunSerializer


# --- webhooks -------------------------------------------------------------------------------


class WebhookSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    url = serializers.CharField(max_length=2000, validators=[])
    events = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=True)
    format = serializers.ChoiceField(choices=WEBHOOK_FORMATS, default="generic")
    secret = serializers.CharField(
        write_only=True, required=False, allow_null=True, allow_blank=True, max_length=200,
        help_text="whsec_ + base64 key bytes; empty or null removes it.",
    )
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = Webhook
        fields = [
            "id", "url", "events", "format", "label", "active", "secret", "has_secret",
            "disabled_reason", "consecutive_failures", "last_delivery_status",
            "last_delivery_at", "created_at", "updated_at",
        ]
        read_only_fields = [
            "disabled_reason", "consecutive_failures", "last_delivery_status",
            "last_delivery_at", "created_at", "updated_at",
        ]

    def validate_url(self, value):
        return validate_webhook_url(value)

    def validate_events(self, value):
        return validate_event_patterns(value)

    def validate_secret(self, value):
        return validate_signing_secret(value)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    webhook = serializers.UUIDField(source="webhook.code", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "webhook", "message_id", "event", "status", "attempt", "next_attempt_at",
            "response_status", "latency_ms", "response_body", "error", "is_test", "payload",
            "created_at", "updated_at",
        ]
        read_only_fields = fields


class PreviewSerializer(serializers.Serializer):
    format = serializers.CharField()
    event = serializers.CharField()
    payload = serializers.JSONField()
    warnings = serializers.ListField(child=serializers.CharField())


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    delivery = WebhookDeliverySerializer()


SAMPLE_DATA = {
    "message": "Sample event rendered by the preview",
    "chain": "3f2a9c1e-0000-4000-8000-000000000000",
    "status": "failed",
    "error": "Session exited with code 1",
    "cost_usd": 1.42,
}


def webhook_preview(hook: Webhook, event: str, fmt: str | None = None) -> dict:
    """The exact payload `fmt` (default: the webhook's) would send for a sample `event`."""
    from .webhook_formats import build

    envelope = hook.sample_envelope(
        event, {"actor": "alice", "target": {"type": event.split(".")[0], "id": "sample"}, **SAMPLE_DATA}
    )
    fmt = fmt or hook.format
    from .models import _render_message

    payload, warnings = build(fmt, envelope, _render_message)
    return {"format": fmt, "event": event, "payload": payload, "warnings": warnings}


class _FormatIsAFilter(DefaultContentNegotiation):
    """`?format=` names a webhook format here (filter, preview), not a DRF renderer."""

    class settings:  # noqa: N801 - stands in for api_settings
        URL_FORMAT_OVERRIDE = None


class WebhookViewSet(viewsets.ModelViewSet):
    """Outgoing webhooks. Writes emit webhook.created|updated|deleted."""

    content_negotiation_class = _FormatIsAFilter
    queryset = Webhook.objects.all()
    serializer_class = WebhookSerializer
    filterset_class = WebhookFilter
    lookup_field = "code"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def perform_create(self, serializer):
        serializer.instance = Webhook.create_from(serializer.validated_data, actor=self.request.user)

    def perform_update(self, serializer):
        serializer.instance.update_from(serializer.validated_data, actor=self.request.user)

    def perform_destroy(self, instance):
        instance.remove(actor=self.request.user)

    @extend_schema(request=None, responses=TestResultSerializer,
                   summary="Send a test event now (one attempt, also when inactive)")
    @action(detail=True, methods=["post"])
    def test(self, request, id=None):
        delivery = self.get_object().send_test(actor=request.user)
        return Response({
            "ok": delivery.status == "succeeded",
            "delivery": WebhookDeliverySerializer(delivery).data,
        })

    @extend_schema(
        responses=WebhookDeliverySerializer(many=True),
        parameters=[OpenApiParameter("status", str, enum=[s for s, _ in WebhookDelivery.STATUSES]),
                    OpenApiParameter("event", str)],
        summary="Delivery log of this webhook, newest first",
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def deliveries(self, request, id=None):
        hook = self.get_object()
        qs = WebhookDeliveryFilter(request.query_params, hook.deliveries.all()).qs
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        request=None, responses={201: WebhookDeliverySerializer},
        summary="Deliver this message again (same webhook-id)",
    )
    @action(detail=True, methods=["post"], filterset_class=None,
            url_path=r"deliveries/(?P<delivery>[0-9a-fA-F-]{36})/redeliver")
    def redeliver(self, request, id=None, delivery=None):
        hook = self.get_object()
        try:
            original = hook.deliveries.get(code=delivery)
        except (WebhookDelivery.DoesNotExist, ValueError, DjangoValidationError):
            raise NotFound("No such delivery.") from None
        copy = original.redeliver()
        return Response(WebhookDeliverySerializer(copy).data, status=201)

    @extend_schema(
        parameters=[OpenApiParameter("event", str, description="event name, default chain.failed"),
                    OpenApiParameter("format", str, enum=[f for f, _ in WEBHOOK_FORMATS])],
        responses=PreviewSerializer,
        summary="The payload a format would send for a sample event, with limit warnings",
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def preview(self, request, id=None):
        hook = self.get_object()
        event = request.query_params.get("event") or "chain.failed"
        fmt = request.query_params.get("format") or None
        errors = {}
        if len(event) > 64 or not valid_pattern(event) or "*" in event:
            errors["event"] = ["Give an event name like chain.failed."]
        if fmt is not None and fmt not in dict(WEBHOOK_FORMATS):
            errors["format"] = ["Choose generic, slack or discord."]
        if errors:
            raise serializers.ValidationError(errors)
        return Response(webhook_preview(hook, event, fmt))


# --- secrets --------------------------------------------------------------------------------


class SecretSerializer(serializers.ModelSerializer):
    class Meta:
        model = Secret
        fields = ["name", "label", "key_id", "created_at", "updated_at",
                  "last_revealed_at", "last_revealed_by"]
        read_only_fields = fields


class SecretCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.RegexField(
        SECRET_NAME_RE, max_length=64,
        error_messages={"invalid": "1–64 letters, digits or underscores."},
    )
    value = serializers.CharField(trim_whitespace=False, max_length=65536)
    label = serializers.CharField(required=False, allow_blank=True, max_length=200)


class SecretPutSerializer(StrictFieldsMixin, serializers.Serializer):
    value = serializers.CharField(trim_whitespace=False, max_length=65536)
    label = serializers.CharField(required=False, allow_blank=True, max_length=200)


class SecretValueSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField()


class SecretViewSet(viewsets.GenericViewSet):
    """Encrypted secrets: metadata only, except POST {name}/reveal/ (audited)."""

    queryset = Secret.objects.all()
    serializer_class = SecretSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    filter_backends = []

    def get_object(self):
        name = self.kwargs["name"]
        if not re.match(SECRET_NAME_RE, name):
            raise serializers.ValidationError({"name": ["1–64 letters, digits or underscores."]})
        return get_object_or_404(Secret, name=name)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SecretSerializer(page, many=True).data)

    @extend_schema(request=SecretCreateSerializer, responses={201: SecretSerializer})
    def create(self, request):
        s = SecretCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        if Secret.objects.filter(name=s.validated_data["name"]).exists():
            raise Conflict(f"A secret named {s.validated_data['name']} exists; PUT to replace it.")
        secret, _ = Secret.put(**s.validated_data, actor=request.user)
        return Response(SecretSerializer(secret).data, status=201)

    def retrieve(self, request, name=None):
        return Response(SecretSerializer(self.get_object()).data)

    @extend_schema(request=SecretPutSerializer, responses={200: SecretSerializer, 201: SecretSerializer},
                   summary="Create or replace the value (the label is kept unless given)")
    def update(self, request, name=None):
        if not re.match(SECRET_NAME_RE, name or ""):
            raise serializers.ValidationError({"name": ["1–64 letters, digits or underscores."]})
        s = SecretPutSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        secret, created = Secret.put(name, **s.validated_data, actor=request.user)
        return Response(SecretSerializer(secret).data, status=201 if created else 200)

    def destroy(self, request, name=None):
        self.get_object().remove(actor=request.user)
        return Response(status=204)

    @extend_schema(request=None, responses=SecretValueSerializer,
                   summary="Reveal the value (audited as secret.revealed)")
    @action(detail=True, methods=["post"])
    def reveal(self, request, name=None):
        secret = self.get_object()
        try:
            value = secret.reveal(actor=request.user)
        except DecryptError:
            raise Conflict(
                f"Secret {secret.name} cannot be decrypted with the configured keys."
            ) from None
        return Response({"name": secret.name, "value": value})
