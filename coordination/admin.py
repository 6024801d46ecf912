from __future__ import annotations

from django.contrib import admin

from . import models as m


@admin.register(m.Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("code", "status", "priority", "category", "worker", "attempts", "created_at")
    list_filter = ("status", "category")
    search_fields = ("code", "text")
    raw_id_fields = ("worker", "cancelled_by", "deps")


@admin.register(m.Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ("code", "status", "last_heartbeat", "cost_usd", "budget_exceeded")


@admin.register(m.Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ("code", "role", "status", "worker", "task", "last_activity_at")


@admin.register(m.DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("task", "status", "worker_code", "attempts", "created_at")
    list_filter = ("status",)


admin.site.register([m.TerminalMessage, m.Snapshot, m.CoordinatorState, m.RateLimitState])
