from __future__ import annotations

import uuid

from django.apps import AppConfig


def _webhook_links(ids: list[str]) -> dict[str, str]:
    from .models import Webhook

    valid = []
    for i in ids:
        try:
            valid.append(str(uuid.UUID(i)))
        except ValueError:
            continue
    return {
        str(code): f"/settings/?webhook={code}#webhooks"
        for code in Webhook.objects.filter(code__in=valid).values_list("code", flat=True)
    }


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

        subscribe(_outbox)
        links.register("webhook", _webhook_links)
        links.register("secret", _secret_links)
