from __future__ import annotations

import django_filters

from .models import Chain, normalize_project

ORDERING_FIELDS = (
    ("updated_at", "updated_at"),
    ("created_at", "created_at"),
    ("cost_usd", "cost_usd"),
    ("turns", "turns"),
    ("session_count", "sessions"),
    ("status", "status"),
    ("task", "task"),
)


class ChainFilter(django_filters.FilterSet):
    """Filters for /api/chains/ (list, costs, export) and the /chains/ page."""

    q = django_filters.CharFilter(method="filter_q", label="Search task or id")
    status = django_filters.ChoiceFilter(choices=Chain.Status.choices)
    project = django_filters.CharFilter(method="filter_project", label="Project directory")
    model = django_filters.ChoiceFilter(choices=Chain.Model.choices)
    ordering = django_filters.OrderingFilter(fields=ORDERING_FIELDS)

    class Meta:
        model = Chain
        fields = ["q", "status", "project", "model"]

    def filter_q(self, queryset, name, value):
        return queryset.search(value)

    def filter_project(self, queryset, name, value):
        return queryset.filter(project_dir=normalize_project(value))

    def filter_queryset(self, queryset):
        qs = super().filter_queryset(queryset)
        if self.form.cleaned_data.get("ordering"):
            # A stable tie-break so pages never repeat or skip rows.
            qs = qs.order_by(*qs.query.order_by, "-id")
        return qs
