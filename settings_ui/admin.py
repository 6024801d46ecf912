from __future__ import annotations

from django.contrib import admin

from .models import ApiToken, OperatorSettings


@admin.register(OperatorSettings)
class OperatorSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "model", "max_turns", "updated_at")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("hint", "label", "user", "created_at", "last_used_at")
    readonly_fields = ("code", "hint", "token_hash", "created_at", "last_used_at")
