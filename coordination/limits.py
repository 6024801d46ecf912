"""Pure rate and cost arithmetic: token buckets, the adaptive (429) limiter, cost budgets.

No Django import; every function takes `now` (seconds) so tests inject the clock. The models
persist these states in shared rows and call these functions inside conditional updates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Buckets:
    """Two token buckets (requests/min and tokens/min) sharing one refill timestamp."""

    requests: float
    tokens: float
    updated: float

    def refill(self, now: float, rpm: int, tpm: int) -> None:
        """Continuous proportional refill (capacity × elapsed / 60 s), capped at capacity."""
        elapsed = max(0.0, now - self.updated)
        self.requests = min(float(rpm), self.requests + rpm * elapsed / 60.0)
        self.tokens = min(float(tpm), self.tokens + tpm * elapsed / 60.0)
        self.updated = max(self.updated, now)

    def try_acquire(self, now: float, rpm: int, tpm: int, tokens: int = 0) -> tuple[bool, int]:
        """Take one request (+ tokens) if available. Returns (granted, wait_ms)."""
        if tokens < 0:
            raise ValueError("tokens must be 0 or more")
        self.refill(now, rpm, tpm)
        if self.requests < 1:
            return False, math.ceil((1 - self.requests) / rpm * 60_000)
        if tokens > tpm:
            # Never satisfiable at this limit: say so instead of asking to wait forever.
            raise ValueError(f"tokens ({tokens}) exceed the per-minute limit ({tpm})")
        if tokens > 0 and self.tokens < tokens:
            return False, math.ceil((tokens - self.tokens) / tpm * 60_000)
        self.requests -= 1
        self.tokens -= tokens
        return True, 0


# Reference §8.5 numbers.
ERROR_THRESHOLD = 3
ERROR_WINDOW_S = 60.0
BACKOFF_FACTOR = 0.5
MAX_BACKOFF_LEVEL = 4
RECOVERY_INTERVAL_S = 30.0
RECOVERY_FACTOR = 1.5
REQUESTS_FLOOR = 1
TOKENS_FLOOR = 1000


@dataclass
class Adaptive:
    """normal → backing-off → recovering → normal, driven by reported 429s and a timer."""

    state: str = "normal"
    level: int = 0
    errors: list[float] = field(default_factory=list)
    current_requests: int | None = None
    current_tokens: int | None = None
    last_step: float = 0.0

    def limits(self, base_rpm: int, base_tpm: int) -> tuple[int, int]:
        """The limits in force: the baseline in normal state, else the adjusted ones."""
        if self.state == "normal" or self.current_requests is None:
            return base_rpm, base_tpm
        return min(self.current_requests, base_rpm), min(self.current_tokens, base_tpm)

    def _prune(self, now: float) -> None:
        self.errors = [t for t in self.errors if now - t < ERROR_WINDOW_S]

    def _back_off(self, now: float, base_rpm: int, base_tpm: int) -> bool:
        if self.level >= MAX_BACKOFF_LEVEL:
            return False
        self.level += 1
        f = BACKOFF_FACTOR**self.level
        self.current_requests = max(REQUESTS_FLOOR, round(base_rpm * f))
        self.current_tokens = max(TOKENS_FLOOR, round(base_tpm * f))
        self.state = "backing-off"
        self.errors = []
        self.last_step = now
        return True

    def record_error(self, now: float, base_rpm: int, base_tpm: int) -> bool:
        """Note a 429; returns True when the limits changed (3 errors within 60 s)."""
        self._prune(now)
        self.errors.append(now)
        if len(self.errors) >= ERROR_THRESHOLD:
            return self._back_off(now, base_rpm, base_tpm)
        return False

    def tick(self, now: float, base_rpm: int, base_tpm: int) -> bool:
        """Every 30 s away from normal: back off again on fresh errors, else recover ×1.5.

        Returns True when the limits changed.
        """
        if self.state == "normal" or now - self.last_step < RECOVERY_INTERVAL_S:
            return False
        self._prune(now)
        if len(self.errors) >= ERROR_THRESHOLD:
            changed = self._back_off(now, base_rpm, base_tpm)
            self.last_step = now
            return changed
        rpm, tpm = self.limits(base_rpm, base_tpm)
        rpm = min(base_rpm, math.ceil(rpm * RECOVERY_FACTOR))
        tpm = min(base_tpm, math.ceil(tpm * RECOVERY_FACTOR))
        self.last_step = now
        if rpm >= base_rpm and tpm >= base_tpm:
            self.reset()
            return True
        self.level = max(1, self.level - 1)
        self.state = "recovering"
        self.current_requests, self.current_tokens = rpm, tpm
        return True

    def reset(self) -> None:
        self.state, self.level, self.errors = "normal", 0, []
        self.current_requests = self.current_tokens = None

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "level": self.level,
            "errors": self.errors,
            "current_requests": self.current_requests,
            "current_tokens": self.current_tokens,
            "last_step": self.last_step,
        }

    @classmethod
    def from_dict(cls, d: dict | None) -> Adaptive:
        d = d or {}
        return cls(
            state=d.get("state", "normal"),
            level=int(d.get("level", 0)),
            errors=[float(t) for t in d.get("errors", [])],
            current_requests=d.get("current_requests"),
            current_tokens=d.get("current_tokens"),
            last_step=float(d.get("last_step", 0.0)),
        )


WARNING_RATIO = 0.8


@dataclass
class Budget:
    """One budget (a worker's or the global one). A budget ≤ 0 means unlimited."""

    total: float
    limit: float
    warned: bool = False
    exceeded: bool = False

    @property
    def ratio(self) -> float:
        return self.total / self.limit if self.limit > 0 else 0.0

    @property
    def remaining(self) -> float | None:
        """USD left, or None when unlimited (never Infinity: it does not serialise)."""
        return max(0.0, self.limit - self.total) if self.limit > 0 else None

    def update(self) -> list[str]:
        """Recompute the flags; returns the once-only events now due ("warning", "exceeded").

        Raising the limit above the total clears `exceeded` and recomputes `warned`.
        """
        events = []
        ratio = self.ratio
        if self.limit <= 0:
            self.warned = self.exceeded = False
            return events
        if ratio >= 1:
            if not self.warned:
                self.warned = True
                events.append("warning")
            if not self.exceeded:
                self.exceeded = True
                events.append("exceeded")
        else:
            self.exceeded = False
            if ratio >= WARNING_RATIO:
                if not self.warned:
                    self.warned = True
                    events.append("warning")
            else:
                self.warned = False
        return events

    def add(self, usd: float) -> list[str]:
        if usd < 0:
            raise ValueError("cost must be 0 or more")
        self.total += usd
        return self.update()
