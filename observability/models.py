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


class RouteLatencyBucket(models.Model):
    """One route's latency histogram for one minute (or one hour, after the 48 h roll-up).

    Every web process adds its deltas into the same row (observability.timing.flush), so a row
    is the merge of all processes' requests for that route and period.
    """

    MINUTE = 60
    HOUR = 3600

    route = models.CharField(max_length=255)
    bucket_start = models.DateTimeField()
    resolution = models.PositiveIntegerField(default=MINUTE)  # seconds the row covers
    count = models.PositiveBigIntegerField(default=0)
    sum_ms = models.FloatField(default=0.0)
    min_ms = models.FloatField(null=True)
    max_ms = models.FloatField(null=True)
    errors_4xx = models.PositiveBigIntegerField(default=0)
    errors_5xx = models.PositiveBigIntegerField(default=0)
    bins = models.JSONField(default=dict)  # {log-bucket index: count}, see histogram.py
    last_seen = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            # The upsert target of every flush and of the roll-up.
            models.UniqueConstraint(
                fields=["route", "bucket_start", "resolution"], name="latency_route_bucket"
            )
        ]
        indexes = [
            # Window queries (/api/performance/?window=…), the roll-up and retention sweeps.
            models.Index(fields=["bucket_start"], name="latency_bucket_start"),
        ]

    def __str__(self) -> str:
        return f"{self.route} @ {self.bucket_start:%Y-%m-%d %H:%M} ({self.count})"

    def histogram(self):
        from .histogram import Histogram

        return Histogram.from_parts(self.bins, self.count, self.sum_ms, self.min_ms, self.max_ms)


class SlowRequest(models.Model):
    """A request slower than OperatorSettings.slow_request_ms; only the newest 200 are kept."""

    KEEP = 200

    ts = models.DateTimeField()
    route = models.CharField(max_length=255)
    method = models.CharField(max_length=16)
    path = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField()
    duration_ms = models.FloatField()
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("-ts", "-id")

    def __str__(self) -> str:
        return f"{self.route} {self.duration_ms:.0f} ms"
