"""Log-bucketed latency histogram with bounded relative error (no Django import).

A value v > 0 falls in bucket i = ceil(log(v) / log(GAMMA)), which covers (GAMMA^(i-1), GAMMA^i];
the bucket is reported as 2·GAMMA^i / (GAMMA + 1), at most ALPHA away from any value in it, in
relative terms (the DDSketch construction). Histograms merge by adding counts, so merging the
histograms of two processes gives exactly the histogram of all their samples, and a percentile
read from the merge is as accurate as one read from a single process.

Percentiles are nearest-rank (the value at rank ceil(q·n) of the sorted samples); the bucket holding
that rank is found exactly, so the only error is the bucket width: ≤ ALPHA relative. Values below
MIN_VALUE (1 µs when values are milliseconds) share one bucket.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# 0.9 % leaves headroom under the 1 % promise for floating-point error at bucket edges.
ALPHA = 0.009
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-3
_MIN_INDEX = math.ceil(math.log(MIN_VALUE) / _LOG_GAMMA)


def bucket_index(value: float) -> int:
    if value <= MIN_VALUE:
        return _MIN_INDEX
    return math.ceil(math.log(value) / _LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The representative value of a bucket (within ALPHA of everything in it)."""
    return 2 * GAMMA**index / (GAMMA + 1)


class Histogram:
    """Counts per log bucket plus exact count, sum, min and max."""

    __slots__ = ("bins", "count", "total", "min", "max")

    def __init__(self) -> None:
        self.bins: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (
            self.bins == other.bins
            and self.count == other.count
            and math.isclose(self.total, other.total, rel_tol=1e-9, abs_tol=1e-9)
            and self.min == other.min
            and self.max == other.max
        )

    def __repr__(self) -> str:
        return f"Histogram(count={self.count}, min={self.min}, max={self.max})"

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        h = cls()
        for v in values:
            h.add(v)
        return h

    def add(self, value: float) -> None:
        i = bucket_index(value)
        bins = self.bins
        bins[i] = bins.get(i, 0) + 1
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def merge(self, other: Histogram) -> Histogram:
        """Add other's samples into self (in place); returns self."""
        bins = self.bins
        for i, n in other.bins.items():
            bins[i] = bins.get(i, 0) + n
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        return self

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def quantile(self, q: float) -> float:
        """Nearest-rank q-quantile (0 < q ≤ 1); 0.0 for an empty histogram."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count - 1e-9))
        seen = 0
        for i in sorted(self.bins):
            seen += self.bins[i]
            if seen >= rank:
                # Clamping to the exact extremes only moves the estimate towards the true value.
                return min(max(bucket_value(i), self.min), self.max)
        return self.max

    def to_dict(self) -> dict:
        """JSON-ready form (bucket keys as strings); from_dict() reverses it."""
        return {
            "bins": {str(i): n for i, n in self.bins.items()},
            "count": self.count,
            "sum": self.total,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
        }

    @classmethod
    def from_parts(
        cls, bins: dict, count: int, total: float, lo: float | None, hi: float | None
    ) -> Histogram:
        h = cls()
        h.bins = {int(i): int(n) for i, n in (bins or {}).items()}
        h.count = int(count)
        h.total = float(total)
        h.min = math.inf if lo is None else float(lo)
        h.max = -math.inf if hi is None else float(hi)
        return h

    @classmethod
    def from_dict(cls, data: dict) -> Histogram:
        return cls.from_parts(data["bins"], data["count"], data["sum"], data["min"], data["max"])


def exact_quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of raw values (the reference the histogram is tested against)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered) - 1e-9))
    return ordered[rank - 1]
