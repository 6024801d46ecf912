from __future__ import annotations

from django.contrib.auth import get_user
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from . import health
from .filters import AuditEventFilter
from .models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "ts", "action", "actor", "target_type", "target_id", "data", "request_id"]


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter


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
