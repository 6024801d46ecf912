from __future__ import annotations

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from . import exports
        from .api import AUDIT_EXPORT_COLUMNS, audit_export_queryset

        exports.register("audit", audit_export_queryset, AUDIT_EXPORT_COLUMNS)
