from __future__ import annotations

from django.apps import AppConfig


def _backup_links(ids: list[str]) -> dict[str, str]:
    from .models import Backup

    found = Backup.objects.filter(code__in=_uuids(ids)).values_list("code", flat=True)
    return {str(code): "/settings/#backups" for code in found}


def _uuids(ids: list[str]) -> list:
    import uuid

    out = []
    for i in ids:
        try:
            out.append(uuid.UUID(i))
        except ValueError:
            continue
    return out


class SettingsUiConfig(AppConfig):
    name = "settings_ui"
    verbose_name = "Settings"

    def ready(self) -> None:
        from observability import links

        links.register("backup", _backup_links)
