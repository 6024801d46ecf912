from __future__ import annotations

from django.contrib.auth import get_user
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action, api_view, authentication_classes, permission_classes
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from . import exports, health, timeline
from .filters import AuditEventFilter, category_counts
from .models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "ts", "action", "actor", "target_type", "target_id", "data", "request_id"]


AUDIT_FILTER_PARAMETERS = [
    OpenApiParameter("action", str), OpenApiParameter("actor", str),
    OpenApiParameter("target_type", str), OpenApiParameter("target_id", str),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="inclusive"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="inclusive, not before since"),
    OpenApiParameter("q", str, description="case-insensitive text search"),
    OpenApiParameter("category", str, enum=list(timeline.CATEGORIES)),
]


class AuditSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    categories = serializers.DictField(child=serializers.IntegerField())


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    @extend_schema(responses=AuditSummarySerializer, parameters=AUDIT_FILTER_PARAMETERS)
    @action(detail=False, pagination_class=None)
    def summary(self, request):
        """Counts per category (zeros included) for the current filters, ignoring `category`."""
        fs = AuditEventFilter(request.query_params, queryset=AuditEvent.objects.all())
        if not fs.is_valid():
            raise exceptions.ValidationError(fs.errors)
        return Response(category_counts(fs.without_category()))


def audit_export_queryset(params):
    """Rows of /api/export/audit/: the /api/audit/ filters, newest first."""
    fs = AuditEventFilter(params, queryset=AuditEvent.objects.order_by("-ts", "-id"))
    if not fs.is_valid():
        raise exceptions.ValidationError(fs.errors)
    return fs.qs


AUDIT_EXPORT_COLUMNS = [
    "ts",
    "action",
    ("category", lambda row: timeline.category_of(row["action"])),
    "actor",
    "target_type",
    "target_id",
    "data",
    "request_id",
]


class _IgnoreFormatParam(DefaultContentNegotiation):
    """?format= names the export format here, not a DRF renderer; errors are always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(
    parameters=[
        # exports.KIND_NAMES is the registry's live list, so the schema names every kind.
        OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=exports.KIND_NAMES,
                         description="a registered export kind; the filters below are audit's"),
        OpenApiParameter("format", str, enum=list(exports.FORMATS), description="default json"),
        *AUDIT_FILTER_PARAMETERS,
    ],
    responses={
        (200, "text/csv"): OpenApiTypes.STR,
        (200, "application/json"): OpenApiTypes.ANY,
        (200, "application/x-ndjson"): OpenApiTypes.STR,
        400: OpenApiResponse(description="Bad filter or format: {field: [message]}"),
        404: OpenApiResponse(description="Unknown kind"),
    },
)
class ExportView(APIView):
    """GET /api/export/<kind>/?format=csv|json|jsonl&<filters>: a streamed download."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = _IgnoreFormatParam

    def get(self, request, kind: str):
        entry = exports.get(kind)
        if entry is None:
            raise Http404(f"No export named {kind!r}.")
        try:
            fmt = exports.parse_format(request.query_params.get("format"))
        except ValueError as exc:
            raise exceptions.ValidationError({"format": [str(exc)]}) from None
        queryset = entry.queryset_fn(request.query_params)  # raises ValidationError → 400
        return exports.streaming_response(entry, queryset, fmt, timezone.now())


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "unhealthy"])
    version = serializers.CharField()
    time = serializers.DateTimeField()
    components = serializers.DictField()


@extend_schema(responses={200: HealthSerializer, 503: HealthSerializer}, auth=[])
@api_view(["GET"])
@authentication_classes([])  # public: a stale or wrong token must not turn health into a 401
@permission_classes([AllowAny])
def health_view(request):
    """Public: database and broker reachability, and when a worker was last seen."""
    status, body = health.report()
    user = get_user(request._request)  # the session user, if any
    if not (user.is_authenticated and user.is_staff):
        # Error texts can name hosts and users: only staff see them.
        for part in body["components"].values():
            if part["ok"] is False:
                part["detail"] = "unreachable" if part is not body["components"]["worker"] else "stale"
    return Response(body, status=status)
