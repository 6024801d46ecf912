from __future__ import annotations

from functools import reduce
from operator import or_

import django_filters
from django import forms
from django.db.models import Count, Q

from operator_site.lib.filters import UtcIsoDateTimeFilter

from . import timeline
from .models import AuditEvent


class AuditEventFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Must not be before since.")
        return data


def system_q() -> Q:
    """Events whose area is not a known category (the "system" bucket)."""
    known = reduce(or_, (Q(action__startswith=f"{a}.") for a in timeline.known_areas()))
    return ~known | Q(action__startswith="system.")


class AuditEventFilter(django_filters.FilterSet):
    """Filters for /api/audit/, /api/export/audit/ and the timeline page."""

    action = django_filters.CharFilter()
    actor = django_filters.CharFilter()
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    since = UtcIsoDateTimeFilter(
        field_name="ts", lookup_expr="gte", label="Since (ISO 8601, inclusive)"
    )
    until = UtcIsoDateTimeFilter(
        field_name="ts", lookup_expr="lte", label="Until (ISO 8601, inclusive)"
    )
    q = django_filters.CharFilter(method="filter_q", label="Text search")
    category = django_filters.ChoiceFilter(
        choices=[(c, c) for c in timeline.CATEGORIES], method="filter_category"
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "target_type", "target_id"]
        form = AuditEventFilterForm

    def filter_q(self, queryset, name, value):
        """Case-insensitive substring over what the timeline shows: action, actor, target, data."""
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(
            Q(action__icontains=term)
            | Q(actor__icontains=term)
            | Q(target_type__icontains=term)
            | Q(target_id__icontains=term)
            | Q(data__icontains=term)
        )

    def filter_category(self, queryset, name, value):
        if value == timeline.SYSTEM:
            return queryset.filter(system_q())
        return queryset.filter(action__startswith=f"{value}.")

    def without_category(self):
        """The filtered queryset ignoring `category` (for per-category counts)."""
        qs = self.queryset
        for name, value in self.form.cleaned_data.items():
            if name != "category":
                qs = self.filters[name].filter(qs, value)
        return qs


def category_counts(queryset) -> dict:
    """{"total": n, "categories": {category: n, … zeros included}} for a filtered queryset.

    Grouping by action keeps it one query whatever the number of categories (the set of
    distinct actions is small)."""
    pairs = queryset.order_by().values_list("action").annotate(n=Count("id"))
    cats = timeline.fold_counts(pairs)
    return {"total": sum(cats.values()), "categories": cats}
