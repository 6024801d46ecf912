from __future__ import annotations

import django_filters
from django.db.models import Q

from .models import DeadLetter, Task, Terminal


class TaskFilter(django_filters.FilterSet):
    """Filters for /api/tasks/ and the task board."""

    status = django_filters.ChoiceFilter(choices=Task.STATUSES)
    category = django_filters.CharFilter()
    worker = django_filters.CharFilter(field_name="worker__code")
    q = django_filters.CharFilter(method="filter_q", label="Search id and text")

    class Meta:
        model = Task
        fields = ["status", "category", "worker", "q"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__icontains=value) | Q(text__icontains=value))


class DeadLetterFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeadLetter.STATUSES)
    category = django_filters.CharFilter(field_name="task__category")

    class Meta:
        model = DeadLetter
        fields = ["status", "category"]


class TerminalFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Terminal.STATUSES)
    role = django_filters.ChoiceFilter(choices=Terminal.ROLES)

    class Meta:
        model = Terminal
        fields = ["status", "role"]
