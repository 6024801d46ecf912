from __future__ import annotations

import uuid

from django.apps import AppConfig


def _uuids(ids: list[str]) -> list[uuid.UUID]:
    """The ids that are UUIDs (audit target ids are free text; a bad one must not raise)."""
    out = []
    for i in ids:
        try:
            out.append(uuid.UUID(i))
        except ValueError:
            continue
    return out


def _backup_links(ids: list[str]) -> dict[str, str]:
    from .models import Backup

    found = Backup.objects.filter(code__in=_uuids(ids)).values_list("code", flat=True)
    return {str(code): "/settings/#backups" for code in found}


def _webhook_links(ids: list[str]) -> dict[str, str]:
    from .models import Webhook

    found = Webhook.objects.filter(code__in=_uuids(ids)).values_list("code", flat=True)
    return {str(code): f"/settings/?webhook={code}#webhooks" for code in found}


def _secret_links(ids: list[str]) -> dict[str, str]:
    from .models import Secret

    return {
        name: "/settings/#secrets"
        for name in Secret.objects.filter(name__in=ids).values_list("name", flat=True)
    }


def _outbox(event) -> None:
    from .models import WebhookDelivery

    WebhookDelivery.fan_out(event)


class SettingsUiConfig(AppConfig):
    name = "settings_ui"
    verbose_name = "Settings"

    def ready(self) -> None:
        from observability import links
        from observability.events import subscribe

        # The webhook outbox: one pending delivery per matching webhook, in the event's transaction.
        subscribe(_outbox)
        links.register("backup", _backup_links)
        links.register("webhook", _webhook_links)
        links.register("secret", _secret_links)
