"""Performance API: /api/performance/ (per route), summary/, slow/, reset/, metrics/."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import renderers, serializers
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from . import performance, timing
from .models import SlowRequest

WINDOW_PARAM = OpenApiParameter(
    "window", str, enum=list(performance.WINDOWS), default=performance.DEFAULT_WINDOW,
    description="Time window ending now.",
)


def _window(request) -> str:
    value = request.query_params.get("window") or performance.DEFAULT_WINDOW
    if value not in performance.WINDOWS:
        raise ValidationError({"window": [f"Must be one of {', '.join(performance.WINDOWS)}."]})
    return value


class RouteStatsSerializer(serializers.Serializer):
    route = serializers.CharField()
    count = serializers.IntegerField()
    rps = serializers.FloatField()
    mean = serializers.FloatField()
    min = serializers.FloatField()
    max = serializers.FloatField()
    p50 = serializers.FloatField()
    p95 = serializers.FloatField()
    p99 = serializers.FloatField()
    errors_4xx = serializers.IntegerField()
    errors_5xx = serializers.IntegerField()
    error_rate = serializers.FloatField(help_text="Share of responses that were 5xx.")
    last_seen = serializers.DateTimeField(allow_null=True)


class SummarySerializer(serializers.Serializer):
    window = serializers.CharField()
    since = serializers.DateTimeField()
    total_requests = serializers.IntegerField()
    rps = serializers.FloatField()
    mean = serializers.FloatField()
    p50 = serializers.FloatField()
    p95 = serializers.FloatField()
    p99 = serializers.FloatField()
    errors_4xx = serializers.IntegerField()
    errors_5xx = serializers.IntegerField()
    error_rate = serializers.FloatField(help_text="Share of responses that were 5xx.")
    errors_4xx_rate = serializers.FloatField()
    last_seen = serializers.DateTimeField(allow_null=True)
    route_count = serializers.IntegerField()
    top_slowest = RouteStatsSerializer(many=True, help_text="Five slowest routes by p95.")


class SlowRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = SlowRequest
        fields = ["ts", "route", "method", "path", "status", "duration_ms", "request_id"]


@extend_schema(
    parameters=[WINDOW_PARAM],
    responses=inline_serializer(
        "PerformanceRoutes",
        {"window": serializers.CharField(), "since": serializers.DateTimeField(),
         "results": RouteStatsSerializer(many=True)},
    ),
)
@api_view(["GET"])
def performance_view(request):
    """Latency and errors per route (method + URL pattern) over the window, slowest p95 first."""
    report = performance.load_report(_window(request))
    return Response(
        {"window": report.window, "since": report.start,
         "results": RouteStatsSerializer(report.routes, many=True).data}
    )


@extend_schema(parameters=[WINDOW_PARAM], responses=SummarySerializer)
@api_view(["GET"])
def performance_summary_view(request):
    """Totals, overall p50/p95/p99, error rates, the five slowest routes and the route count."""
    report = performance.load_report(_window(request))
    return Response(SummarySerializer(report.summary).data)


@extend_schema(
    parameters=[OpenApiParameter("limit", int, description="1–200, default 50.")],
    responses=inline_serializer("SlowRequests", {"results": SlowRequestSerializer(many=True)}),
)
@api_view(["GET"])
def performance_slow_view(request):
    """The newest slow requests (over the slow_request_ms setting), newest first."""
    raw = request.query_params.get("limit") or "50"
    try:
        limit = int(raw)
    except ValueError:
        raise ValidationError({"limit": ["Must be an integer."]}) from None
    if not 1 <= limit <= SlowRequest.KEEP:
        raise ValidationError({"limit": [f"Must be between 1 and {SlowRequest.KEEP}."]})
    rows = SlowRequest.objects.all()[:limit]
    return Response({"results": SlowRequestSerializer(rows, many=True).data})


@extend_schema(request=None, responses=inline_serializer("PerformanceReset", {"ok": serializers.BooleanField()}))
@api_view(["POST"])
def performance_reset_view(request):
    """Forget all stored latency data and slow requests."""
    timing.reset()
    return Response({"ok": True})


class PrometheusRenderer(renderers.BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode()
        return json.dumps(data).encode()  # errors (401/403) keep their JSON body


@extend_schema(parameters=[WINDOW_PARAM], responses={(200, "text/plain"): OpenApiTypes.STR})
@api_view(["GET"])
@renderer_classes([PrometheusRenderer])
def performance_metrics_view(request):
    """Prometheus text exposition (version 0.0.4) of the window's per-route stats."""
    report = performance.load_report(_window(request))
    return Response(
        performance.prometheus_text(report, SlowRequest.objects.count()),
        content_type="text/plain; version=0.0.4; charset=utf-8",
    )
