from __future__ import annotations

import django_filters

from .models import AuditEvent


class AuditEventFilter(django_filters.FilterSet):
    """Filters for /api/audit/ and the timeline page."""

    action = django_filters.CharFilter()
    actor = django_filters.CharFilter()
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "target_type", "target_id"]
