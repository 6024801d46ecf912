from __future__ import annotations

from django.contrib import admin

from .models import ApiToken, Backup, OperatorSettings, RetentionPolicy, SweepRun


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
