from __future__ import annotations

from django.contrib import admin

from .models import (
    ApiToken,
    Backup,
    OperatorSettings,
    RetentionPolicy,
    Secret,
    SweepRun,
    Webhook,
    WebhookDelivery,
)


@admin.register(OperatorSettings)
class OperatorSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "model", "max_turns", "updated_at")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("hint", "label", "user", "created_at", "last_used_at")
    readonly_fields = ("code", "hint", "token_hash", "created_at", "last_used_at")


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "status", "size", "created_at", "created_by")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in Backup._meta.fields]


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("kind", "enabled", "ttl_days", "max_count", "updated_at")


@admin.register(SweepRun)
class SweepRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "trigger", "dry_run", "status", "duration_ms")
    readonly_fields = [f.name for f in SweepRun._meta.fields]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("__str__", "url", "format", "active", "last_delivery_status", "last_delivery_at")
    list_filter = ("active", "format")
    # The signing secret is edited through the settings page/API (encrypted there), never here.
    exclude = ("secret_ciphertext", "secret_key_id")
    readonly_fields = ("code", "consecutive_failures", "last_delivery_status", "last_delivery_at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "webhook", "status", "attempt", "response_status", "created_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    list_display = ("name", "label", "key_id", "updated_at", "last_revealed_at", "last_revealed_by")
    # Only metadata: values are set and revealed through the settings page or the API.
    fields = ("name", "label", "key_id", "created_at", "updated_at", "last_revealed_at",
              "last_revealed_by")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False
