"""Streamed exports of coordination data: /api/export/tasks|terminal-messages|dead-letters/.

Registered with observability.exports at start (CoordinationConfig.ready); each kind reuses the
FilterSet of its list endpoint, so an export carries exactly the filters the list accepts.
"""

from __future__ import annotations

import django_filters
from rest_framework import exceptions

from operator_site.lib.filters import UtcIsoDateTimeFilter

from .filters import DeadLetterFilter, TaskFilter
from .models import DeadLetter, Task, TerminalMessage


class TerminalMessageFilter(django_filters.FilterSet):
    sender = django_filters.CharFilter()
    recipient = django_filters.CharFilter()
    thread = django_filters.CharFilter()
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = TerminalMessage
        fields = ["sender", "recipient", "thread", "since", "until"]


def _filtered(filterset_class, params, queryset):
    fs = filterset_class(params, queryset=queryset)
    if not fs.is_valid():
        raise exceptions.ValidationError(fs.errors)
    return fs.qs


def tasks_queryset(params):
    return _filtered(TaskFilter, params, Task.objects.order_by("-created_at", "-id"))


def terminal_messages_queryset(params):
    return _filtered(
        TerminalMessageFilter, params, TerminalMessage.objects.order_by("-created_at", "-id")
    )


def dead_letters_queryset(params):
    return _filtered(DeadLetterFilter, params, DeadLetter.objects.order_by("-created_at", "-id"))


TASK_COLUMNS = [
    ("id", lambda row: row["code"]),
    "text", "status", "priority", "category", "attempts",
    ("worker", lambda row: row["worker__code"]),
    "error", "result", "created_at", "started_at", "finished_at",
]
TERMINAL_MESSAGE_COLUMNS = ["created_at", "sender", "recipient", "thread", "content"]
DEAD_LETTER_COLUMNS = [
    ("id", lambda row: row["code"]),
    ("task", lambda row: row["task__code"]),
    "status", "attempts", "error", "worker_code", "dismiss_reason", "created_at",
]


def register_all() -> None:
    from observability import exports

    exports.register("tasks", tasks_queryset, TASK_COLUMNS, fetch=["code", "worker__code"])
    exports.register("terminal-messages", terminal_messages_queryset, TERMINAL_MESSAGE_COLUMNS)
    exports.register(
        "dead-letters", dead_letters_queryset, DEAD_LETTER_COLUMNS, fetch=["code", "task__code"]
    )
