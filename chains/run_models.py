"""The chain runner's rows: who runs a chain right now (claim + heartbeat) and its live output.

Kept beside, not inside, Chain: a chain can exist without ever being run by the Operator (an
external runner reports sessions through the API); a ChainRun exists once it is started here.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ChainRun(models.Model):
    """The Operator running one chain: backend, claim and heartbeat of the session in flight."""

    chain = models.OneToOneField(
        "chains.Chain", primary_key=True, on_delete=models.CASCADE, related_name="run"
    )
    backend = models.CharField(max_length=16)
    command = models.CharField(max_length=1000, blank=True, default="")
    # {ENV_VAR: secret_name}: per-chain secrets handed to the agent (on top of the settings').
    env = models.JSONField(default=dict, blank=True)
    # Non-empty while a session task holds the chain; claimed with a conditional UPDATE.
    claim = models.CharField(max_length=32, blank=True, default="")
    # Last sign of life of the runner (or when the next session was queued); the sweep resumes
    # chains whose heartbeat is older than CHAIN_RUNNER_STALE_SECONDS.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    session_started_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The beat sweep: unfinished runs ordered by heartbeat.
            models.Index(fields=["finished_at", "heartbeat_at"], name="chainrun_sweep_idx"),
        ]

    def __str__(self) -> str:
        return f"run of {self.chain_id}"

    @property
    def is_active(self) -> bool:
        return self.finished_at is None


class OutputChunk(models.Model):
    """A chunk of a session's live output (lines, secrets already masked)."""

    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="output_chunks")
    session_index = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The chain page tails the newest chunks of a chain.
            models.Index(fields=["chain", "-id"], name="outputchunk_tail_idx"),
        ]

    def __str__(self) -> str:
        return f"output of {self.chain_id} session {self.session_index}"
