"""Performance queries: per-route stats, summary and time series over a window of stored buckets.

A window covers whole minutes: the current minute and the ones before it, back to
floor(now) − window + 1 minute; request rates divide by the seconds actually covered (up to now),
so a rate never counts the unfinished part of the current minute as idle time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .histogram import Histogram

WINDOWS = {"5m": 300, "1h": 3600, "24h": 86400, "7d": 7 * 86400}
DEFAULT_WINDOW = "1h"
# Width of one point of the time-series charts, per window (5, 60, 48 and 28 points).
SLOTS = {"5m": 60, "1h": 60, "24h": 1800, "7d": 6 * 3600}
PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def window_bounds(now: datetime, window: str) -> tuple[datetime, float]:
    """(start, seconds covered) of `window` ending at `now`; start is minute-aligned."""
    minute = now.replace(second=0, microsecond=0)
    start = minute - timedelta(seconds=WINDOWS[window]) + timedelta(seconds=60)
    return start, max((now - start).total_seconds(), 1.0)


def slot_starts(start: datetime, now: datetime, window: str) -> list[datetime]:
    """Start of every chart slot in the window (aligned to the slot width since the epoch)."""
    width = SLOTS[window]
    first = int(start.timestamp() // width) * width
    last = int(now.timestamp() // width) * width
    return [datetime.fromtimestamp(t, tz=UTC) for t in range(first, last + 1, width)]


@dataclass
class Agg:
    """Merged data for one route (or all routes, or one chart slot)."""

    hist: Histogram = field(default_factory=Histogram)
    errors_4xx: int = 0
    errors_5xx: int = 0
    last_seen: datetime | None = None

    def add_row(self, hist: Histogram, e4: int, e5: int, last_seen: datetime | None) -> None:
        self.hist.merge(hist)
        self.errors_4xx += e4
        self.errors_5xx += e5
        if last_seen and (self.last_seen is None or last_seen > self.last_seen):
            self.last_seen = last_seen

    def stats(self, seconds: float) -> dict:
        h = self.hist
        out = {
            "count": h.count,
            "rps": round(h.count / seconds, 3) if seconds else 0.0,
            "mean": round(h.mean, 2),
            "min": round(h.min, 2) if h.count else 0.0,
            "max": round(h.max, 2) if h.count else 0.0,
        }
        for name, q in PERCENTILES:
            out[name] = round(h.quantile(q), 2)
        out["errors_4xx"] = self.errors_4xx
        out["errors_5xx"] = self.errors_5xx
        out["error_rate"] = round(self.errors_5xx / h.count, 4) if h.count else 0.0
        out["last_seen"] = self.last_seen
        return out


@dataclass
class Report:
    window: str
    start: datetime
    now: datetime
    seconds: float
    routes: list[dict]
    summary: dict
    series: list[dict]


Row = tuple  # (route, bucket_start, bins, count, sum_ms, min_ms, max_ms, e4, e5, last_seen)


def build_report(rows, window: str, now: datetime) -> Report:
    """Aggregate stored rows (already limited to the window) into routes, summary and series."""
    start, seconds = window_bounds(now, window)
    per_route: dict[str, Agg] = {}
    total = Agg()
    slots = {s: Agg() for s in slot_starts(start, now, window)}
    width = SLOTS[window]
    for route, bucket_start, bins, count, sum_ms, lo, hi, e4, e5, last_seen in rows:
        hist = Histogram.from_parts(bins, count, sum_ms, lo, hi)
        per_route.setdefault(route, Agg()).add_row(hist, e4, e5, last_seen)
        total.add_row(Histogram.from_parts(bins, count, sum_ms, lo, hi), e4, e5, last_seen)
        slot = datetime.fromtimestamp(int(bucket_start.timestamp() // width) * width, tz=UTC)
        if slot in slots:
            slots[slot].add_row(Histogram.from_parts(bins, count, sum_ms, lo, hi), e4, e5, None)
    routes = [{"route": r, **agg.stats(seconds)} for r, agg in per_route.items()]
    routes.sort(key=lambda s: (-s["p95"], s["route"]))
    summary = total.stats(seconds)
    summary.pop("min")
    summary.pop("max")
    summary = {
        "window": window,
        "since": start,
        "total_requests": summary.pop("count"),
        **summary,
        "errors_4xx_rate": round(total.errors_4xx / total.hist.count, 4) if total.hist.count else 0.0,
        "route_count": len(routes),
        "top_slowest": routes[:5],
    }
    series = []
    for s, agg in slots.items():
        covered = min(width, max((now - s).total_seconds(), 1.0), (s + timedelta(seconds=width) - start).total_seconds())
        st = agg.stats(covered)
        series.append(
            {"start": s, "count": st["count"], "rps": st["rps"], "p95": st["p95"],
             "error_rate": st["error_rate"]}
        )
    return Report(window, start, now, seconds, routes, summary, series)


def load_report(window: str, now: datetime | None = None) -> Report:
    from .models import RouteLatencyBucket

    now = now or datetime.now(tz=UTC)
    start, _ = window_bounds(now, window)
    rows = (
        RouteLatencyBucket.objects.filter(bucket_start__gte=start, count__gt=0)
        .values_list(
            "route", "bucket_start", "bins", "count", "sum_ms", "min_ms", "max_ms",
            "errors_4xx", "errors_5xx", "last_seen",
        )
        .iterator(chunk_size=2000)
    )
    return build_report(rows, window, now)


def has_any_data() -> bool:
    from .models import RouteLatencyBucket

    return RouteLatencyBucket.objects.exists()


def prometheus_text(report: Report, slow_total: int) -> str:
    """Prometheus text format 0.0.4: request counts and a latency summary per route."""

    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    def num(v: float) -> str:
        return repr(float(v)) if math.isfinite(v) else "NaN"

    lines = [
        f"# HELP operator_http_requests Requests per route in the last {report.window}.",
        "# TYPE operator_http_requests gauge",
    ]
    for r in report.routes:
        lines.append(f'operator_http_requests{{route="{esc(r["route"])}"}} {r["count"]}')
    lines += [
        "# HELP operator_http_errors Responses per route and class in the window.",
        "# TYPE operator_http_errors gauge",
    ]
    for r in report.routes:
        for cls, key in (("4xx", "errors_4xx"), ("5xx", "errors_5xx")):
            lines.append(
                f'operator_http_errors{{route="{esc(r["route"])}",class="{cls}"}} {r[key]}'
            )
    lines += [
        f"# HELP operator_http_request_duration_ms Latency per route over the last {report.window}.",
        "# TYPE operator_http_request_duration_ms summary",
    ]
    for r in report.routes:
        label = esc(r["route"])
        for name, q in PERCENTILES:
            lines.append(
                f'operator_http_request_duration_ms{{route="{label}",quantile="{q}"}} {num(r[name])}'
            )
        lines.append(
            f'operator_http_request_duration_ms_sum{{route="{label}"}} {num(r["mean"] * r["count"])}'
        )
        lines.append(f'operator_http_request_duration_ms_count{{route="{label}"}} {r["count"]}')
    lines += [
        "# HELP operator_http_slow_requests Slow requests currently kept (newest 200).",
        "# TYPE operator_http_slow_requests gauge",
        f"operator_http_slow_requests {slow_total}",
    ]
    return "\n".join(lines) + "\n"
