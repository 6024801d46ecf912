from __future__ import annotations

from django.apps import AppConfig


def _task_links(ids: list[str]) -> dict[str, str]:
    from .models import Task

    return {c: f"/tasks/?task={c}" for c in Task.objects.filter(code__in=ids)
            .values_list("code", flat=True)}


def _terminal_links(ids: list[str]) -> dict[str, str]:
    from .models import Terminal

    return {c: f"/terminals/?tab={c}" for c in Terminal.objects.filter(code__in=ids)
            .values_list("code", flat=True)}


class CoordinationConfig(AppConfig):
    name = "coordination"
    verbose_name = "Coordination"

    def ready(self) -> None:
        from observability import links

        links.register("task", _task_links)
        links.register("terminal", _terminal_links)
