from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One state change, written by emit() in the same transaction as the change."""

    ts = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=64)
    actor = models.CharField(max_length=150, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("-ts", "-id")
        indexes = [
            # /api/audit/?action=… and the timeline's category filter, newest first.
            models.Index(fields=["action", "-ts"], name="audit_action_ts"),
            # Timeline links and "history of this object" lookups.
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}:{self.target_id}"


class ProcessHeartbeat(models.Model):
    """Last time a background process (worker, beat) proved it was alive; read by /api/health/."""

    name = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(default=0)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}@{self.host} {self.seen_at:%H:%M:%S}"
