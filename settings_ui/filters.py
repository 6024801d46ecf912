"""FilterSets shared by the API and the settings page sections."""

from __future__ import annotations

import django_filters

from .models import WEBHOOK_FORMATS, Webhook, WebhookDelivery


class WebhookFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter()
    format = django_filters.ChoiceFilter(choices=WEBHOOK_FORMATS)

    class Meta:
        model = Webhook
        fields = ["active", "format"]


class WebhookDeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.STATUSES)
    event = django_filters.CharFilter()

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event"]
