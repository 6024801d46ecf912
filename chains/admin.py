from __future__ import annotations

from django.contrib import admin

from .models import Chain, Session


class SessionInline(admin.TabularInline):
    model = Session
    extra = 0
    can_delete = False
    fields = ("index", "status", "turns", "cost_usd", "duration_ms", "hit_max_turns", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False  # sessions are recorded through the API (totals move with them)


@admin.register(Chain)
class ChainAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "status", "model", "session_count", "cost_usd", "updated_at")
    list_filter = ("status", "model")
    search_fields = ("task",)
    readonly_fields = (
        "id", "status", "restarted_from", "cost_usd", "turns", "duration_ms", "input_tokens",
        "output_tokens", "session_count", "consecutive_errors", "created_at", "updated_at",
    )
    inlines = [SessionInline]
