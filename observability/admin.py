from __future__ import annotations

from django.contrib import admin

from .models import AuditEvent, ProcessHeartbeat, RouteLatencyBucket, SlowRequest


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("ts", "action", "actor", "target_type", "target_id", "request_id")
    list_filter = ("action",)
    search_fields = ("action", "actor", "target_id", "request_id")
    date_hierarchy = "ts"

    def has_change_permission(self, request, obj=None):
        return False  # the audit trail is append-only


@admin.register(ProcessHeartbeat)
class ProcessHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "host", "pid", "seen_at")


@admin.register(RouteLatencyBucket)
class RouteLatencyBucketAdmin(admin.ModelAdmin):
    list_display = ("route", "bucket_start", "resolution", "count")
    list_filter = ("resolution",)
    search_fields = ("route",)


@admin.register(SlowRequest)
class SlowRequestAdmin(admin.ModelAdmin):
    list_display = ("ts", "route", "path", "status", "duration_ms", "request_id")
    search_fields = ("route", "path", "request_id")
