"""Request timer: per-route, per-minute latency histograms, flushed as deltas to the database.

The request path does as little as possible (bench: ≤ 3 % of a trivial view): two clock reads,
a cached route key and one append of (route, status, ms, time) to a deque, which is atomic under
the GIL, so no lock. A daemon thread per process (started lazily, restarted after a fork, so
gunicorn's pre-forked workers each get one) folds the samples into per-route, per-minute
histograms and adds them into RouteLatencyBucket rows every OPERATOR_PERF_FLUSH_SECONDS (5 s).
Every process adds into the same rows, so the table is the merge of all processes, and it
survives restarts.

Tests run with the thread off (OPERATOR_PERF_FLUSH_SECONDS=0 under pytest) and call flush()
themselves, so no background write ever races a test's database.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connections, transaction

from .histogram import Histogram

logger = logging.getLogger(__name__)

MINUTE = 60
HOUR = 3600
ROLLUP_AFTER = timedelta(hours=48)
# A process that cannot reach the database keeps at most this many route-minutes in memory.
MAX_PENDING_CELLS = 20_000
# Unfolded samples a request thread lets pile up before folding them itself (bounds memory when
# there is no flush thread, or when traffic outruns it).
DRAIN_AT = 10_000
_METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])


# --- route keys -----------------------------------------------------------------------------

_GROUP_RE = re.compile(r"\(\?P<(\w+)>")


def _readable_pattern(route: str) -> str:
    """Turn a matched URL pattern into a readable template; regex routes (DRF's router) included.

    'api/audit/(?P<pk>[^/.]+)/$' → 'api/audit/<pk>/'; path() routes pass through unchanged.
    """
    if "(" not in route and "$" not in route and "^" not in route and "\\" not in route:
        return route
    out = []
    i, n = 0, len(route)
    while i < n:
        ch = route[i]
        if ch == "(":
            m = _GROUP_RE.match(route, i)
            name = m.group(1) if m else "arg"
            depth = 0
            while i < n:  # skip to the matching parenthesis
                if route[i] == "\\":
                    i += 2
                    continue
                if route[i] == "(":
                    depth += 1
                elif route[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            out.append(f"<{name}>")
            i += 1
            if i < n and route[i] in "?*+":
                i += 1
            continue
        if ch == "\\" and i + 1 < n:
            out.append(route[i + 1])
            i += 2
            continue
        if ch in "^$":
            i += 1
            continue
        if ch in "?*+" and out:
            i += 1  # '/?' → '/'
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_FORK_HOOK = hasattr(os, "register_at_fork")
_pattern_cache: dict[str, str] = {}
_key_cache: dict[tuple[str, str], str] = {}


def route_key(request) -> str:
    """'GET /api/chains/<uuid:pk>/'; unresolved paths fold into '<METHOD> <unmatched>'."""
    method = request.method if request.method in _METHODS else "OTHER"
    match = getattr(request, "resolver_match", None)
    if match is None:
        static = settings.STATIC_URL
        if static and request.path_info.startswith(static):
            return f"{method} {static}<path>"
        return f"{method} <unmatched>"
    # Cached per (method, pattern): this runs on every request (bench: ≤ 3 % overhead).
    key = _key_cache.get((method, match.route))
    if key is None:
        raw = match.route
        pattern = _pattern_cache.get(raw)
        if pattern is None:
            pattern = _pattern_cache[raw] = _readable_pattern(raw)
        key = _key_cache[(method, raw)] = f"{method} /{pattern}"
    return key


# --- in-process recorder --------------------------------------------------------------------


class Cell:
    """One route's data for one period: histogram plus error counts and last-seen time."""

    __slots__ = ("hist", "errors_4xx", "errors_5xx", "last_seen")

    def __init__(self) -> None:
        self.hist = Histogram()
        self.errors_4xx = 0
        self.errors_5xx = 0
        self.last_seen = 0.0

    def add(self, status: int, duration_ms: float, now: float) -> None:
        self.hist.add(duration_ms)
        if status >= 500:
            self.errors_5xx += 1
        elif status >= 400:
            self.errors_4xx += 1
        if now > self.last_seen:
            self.last_seen = now

    def merge(self, other: Cell) -> Cell:
        self.hist.merge(other.hist)
        self.errors_4xx += other.errors_4xx
        self.errors_5xx += other.errors_5xx
        self.last_seen = max(self.last_seen, other.last_seen)
        return self


@dataclass(frozen=True)
class Slow:
    ts: float
    route: str
    method: str
    path: str
    status: int
    duration_ms: float
    request_id: str


class Recorder:
    """The process's pending deltas; record() is the hot path, flush() writes them out."""

    def __init__(self, *, wall=time.time, monotonic=time.perf_counter) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self.slow_threshold_ms = 1000.0
        self.flushed = 0  # requests this process has written out
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._samples: deque[tuple[str, int, float, float]] = deque()
        self._pending: dict[tuple[str, int], Cell] = {}
        self._slow: deque[Slow] = deque(maxlen=200)
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def record(self, route: str, status: int, duration_ms: float, request=None) -> None:
        """Note one request. Lock-free: deque appends are atomic; drain() folds them later.

        `request` (optional) is read only when the request was slow, for its path and id.
        """
        # Without os.register_at_fork (see the bottom of this module), notice a fork here.
        if not _FORK_HOOK and self._pid != os.getpid():
            with self._lock:
                self._after_fork()
        now = self.wall()
        self._samples.append((route, status, duration_ms, now))
        if duration_ms > self.slow_threshold_ms:
            self._slow.append(Slow(
                now, route, getattr(request, "method", ""), getattr(request, "path", "")[:500],
                status, duration_ms, getattr(request, "request_id", ""),
            ))
        if len(self._samples) >= DRAIN_AT:
            self.drain()
        if self._thread is None and settings.OPERATOR_PERF_FLUSH_SECONDS > 0:
            self._start_thread()

    def drain(self) -> None:
        """Fold the recorded samples into the pending per-route, per-minute cells."""
        with self._lock:
            pending = self._pending
            popleft = self._samples.popleft
            while True:
                try:
                    route, status, duration_ms, now = popleft()
                except IndexError:  # empty; appends racing this loop are picked up next time
                    return
                key = (route, int(now // MINUTE) * MINUTE)
                cell = pending.get(key)
                if cell is None:
                    if len(pending) >= MAX_PENDING_CELLS:
                        pending.pop(next(iter(pending)))
                    cell = pending[key] = Cell()
                cell.add(status, duration_ms, now)

    def take(self) -> tuple[dict[tuple[str, int], Cell], list[Slow]]:
        """Hand over everything pending and start afresh."""
        self.drain()
        with self._lock:
            pending, self._pending = self._pending, {}
            slow = list(self._slow)
            self._slow.clear()
        return pending, slow

    def give_back(self, pending: dict[tuple[str, int], Cell], slow: list[Slow]) -> None:
        """Re-queue deltas whose write failed, so a database blip loses nothing."""
        with self._lock:
            for key, cell in pending.items():
                mine = self._pending.get(key)
                self._pending[key] = cell if mine is None else mine.merge(cell)
            self._slow.extendleft(reversed(slow))

    def clear(self) -> None:
        self.take()

    def pending_count(self) -> int:
        self.drain()
        with self._lock:
            return sum(c.hist.count for c in self._pending.values())

    def _after_fork(self) -> None:
        # The parent's pending data is the parent's to flush; the child starts empty. Fresh
        # locks: a lock held by one of the parent's threads at fork time would never be released.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pid = os.getpid()
        self._samples = deque()
        self._pending = {}
        self._slow.clear()
        self.flushed = 0
        self._thread = None
        self._stop = threading.Event()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="request-timer-flush", daemon=True
            )
        self._thread.start()

    def _run(self) -> None:
        interval = settings.OPERATOR_PERF_FLUSH_SECONDS
        stop = self._stop
        while not stop.wait(interval):
            try:
                self.flush()
            except Exception:
                logger.exception("request timer: flush failed; will retry")
            finally:
                connections.close_all()  # this thread's connections only

    def stop(self) -> None:
        self._stop.set()

    def flush(self) -> int:
        """Write pending deltas and slow requests to the database; returns requests written."""
        with self._flush_lock:
            pending, slow = self.take()
            try:
                written = write_deltas(pending) if pending else 0
                if slow:
                    write_slow(slow)
            except Exception:
                self.give_back(pending, slow)
                raise
            self.flushed += written
            self.slow_threshold_ms = load_slow_threshold(self.slow_threshold_ms)
            return written


recorder = Recorder()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=recorder._after_fork)


def flush() -> int:
    """Flush this process's pending latency data now (tests, shutdown)."""
    return recorder.flush()


def _flush_at_exit() -> None:
    if settings.configured and getattr(settings, "OPERATOR_PERF_FLUSH_SECONDS", 0) > 0:
        try:
            recorder.flush()
        except Exception:  # the database may be gone at interpreter exit
            logger.warning("request timer: final flush failed", exc_info=True)


atexit.register(_flush_at_exit)


def load_slow_threshold(default: float) -> float:
    # settings_ui is reached through the app registry: observability imports no other app.
    from django.apps import apps

    try:
        model = apps.get_model("settings_ui", "OperatorSettings")
        return float(model.load().slow_request_ms)
    except Exception:
        return default


# --- the middleware -------------------------------------------------------------------------


class RequestTimerMiddleware:
    """Times every request (static files and 404s included) into the process recorder."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rec = recorder
        started = rec.monotonic()
        response = self.get_response(request)
        rec.record(
            route_key(request), response.status_code, (rec.monotonic() - started) * 1000.0, request
        )
        return response


# --- storage --------------------------------------------------------------------------------


def _dt(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def merge_cells(resolution: int, cells: dict[tuple[str, datetime], Cell]) -> None:
    """Add cells into RouteLatencyBucket rows of `resolution`, creating rows as needed.

    Race-free across processes: rows are created with ON CONFLICT DO NOTHING, then locked
    (PostgreSQL row locks, taken in key order so two flushers cannot deadlock; SQLite's
    IMMEDIATE transactions serialise writers) and updated with the merged values.
    Call inside transaction.atomic().
    """
    from .models import RouteLatencyBucket as Row

    keys = sorted(cells)
    Row.objects.bulk_create(
        [Row(route=r, bucket_start=s, resolution=resolution) for r, s in keys],
        ignore_conflicts=True,
        batch_size=500,
    )
    rows = {}
    starts = sorted({s for _, s in keys})
    routes = sorted({r for r, _ in keys})
    for i in range(0, len(routes), 200):
        qs = (
            Row.objects.select_for_update()
            .filter(resolution=resolution, bucket_start__in=starts, route__in=routes[i : i + 200])
            .order_by("route", "bucket_start")
        )
        for row in qs:
            rows[(row.route, row.bucket_start)] = row
    changed = []
    for key in keys:
        row = rows[key]
        cell = cells[key]
        merged = row.histogram().merge(cell.hist)
        row.bins = {str(i): n for i, n in merged.bins.items()}
        row.count = merged.count
        row.sum_ms = merged.total
        row.min_ms = merged.min
        row.max_ms = merged.max
        row.errors_4xx += cell.errors_4xx
        row.errors_5xx += cell.errors_5xx
        seen = _dt(cell.last_seen) if cell.last_seen else None
        if seen and (row.last_seen is None or seen > row.last_seen):
            row.last_seen = seen
        changed.append(row)
    Row.objects.bulk_update(
        changed,
        ["bins", "count", "sum_ms", "min_ms", "max_ms", "errors_4xx", "errors_5xx", "last_seen"],
        batch_size=200,
    )


def write_deltas(pending: dict[tuple[str, int], Cell]) -> int:
    cells = {(route, _dt(minute)): cell for (route, minute), cell in pending.items()}
    with transaction.atomic():
        merge_cells(MINUTE, cells)
    return sum(c.hist.count for c in pending.values())


def write_slow(slow: list[Slow]) -> None:
    from .models import SlowRequest

    with transaction.atomic():
        SlowRequest.objects.bulk_create(
            [
                SlowRequest(
                    ts=_dt(s.ts), route=s.route, method=s.method[:16], path=s.path,
                    status=s.status, duration_ms=s.duration_ms, request_id=s.request_id[:64],
                )
                for s in slow
            ]
        )
        keep = list(
            SlowRequest.objects.order_by("-ts", "-id").values_list("id", flat=True)[
                : SlowRequest.KEEP
            ]
        )
        SlowRequest.objects.exclude(id__in=keep).delete()


def rollup(now: datetime | None = None, *, batch: int = 5000) -> int:
    """Merge minute rows older than 48 h into hour rows; returns minute rows rolled up."""
    from .models import RouteLatencyBucket as Row

    now = now or datetime.now(tz=UTC)
    cutoff = (now - ROLLUP_AFTER).replace(minute=0, second=0, microsecond=0)
    done = 0
    while True:
        with transaction.atomic():
            rows = list(
                Row.objects.select_for_update()
                .filter(resolution=MINUTE, bucket_start__lt=cutoff)
                .order_by("route", "bucket_start")[:batch]
            )
            if not rows:
                return done
            cells: dict[tuple[str, datetime], Cell] = {}
            for row in rows:
                hour = row.bucket_start.replace(minute=0, second=0, microsecond=0)
                cell = Cell()
                cell.hist = row.histogram()
                cell.errors_4xx = row.errors_4xx
                cell.errors_5xx = row.errors_5xx
                cell.last_seen = row.last_seen.timestamp() if row.last_seen else 0.0
                key = (row.route, hour)
                cells[key] = cells[key].merge(cell) if key in cells else cell
            merge_cells(HOUR, cells)
            Row.objects.filter(id__in=[r.id for r in rows]).delete()
            done += len(rows)


def reset() -> None:
    """Forget all latency data and slow requests (stored, and this process's pending)."""
    from .models import RouteLatencyBucket, SlowRequest

    recorder.clear()
    with transaction.atomic():
        RouteLatencyBucket.objects.all().delete()
        SlowRequest.objects.all().delete()
