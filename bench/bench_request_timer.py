"""Request-timer middleware overhead on a trivial view, against django-silk and django-prometheus.

One child process (settings bench.request_timer_settings: the site's middleware stack plus the
two comparison apps) builds one WSGI handler per middleware stack and drives a trivial view
in-process, interleaving the stacks round by round (order rotated each round) so that machine
noise hits all of them alike. A ratio is the median over rounds of (stack's rate / baseline's
rate in the same round); rates shown are medians. Rates are requests per second of this
process's CPU time (all its threads): on a machine shared with other jobs, wall-clock rates
mostly measure the neighbours. Stacks: the site's without the timer (baseline), the site's (with
the timer, its flush thread running every 5 s), and the timer replaced by silk's or by
prometheus' middleware. Also checks merged-histogram percentiles against exact ones.
Default: 20 rounds × 1,500 requests (or 2 s) per stack; BENCH_FULL=1: 25 rounds × 5,000; at most
90 s of rounds either way.
"""

from __future__ import annotations

import gc
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMER = "observability.timing.RequestTimerMiddleware"
TIME_BUDGET_S = 90.0
SLICE_S = 2.0


def _stacks(site: list[str]) -> dict[str, list[str]]:
    bare = [m for m in site if m != TIMER]
    at = site.index(TIMER)
    silk = [*bare[:at], "silk.middleware.SilkyMiddleware", *bare[at:]]
    prom = [
        *bare[:at],
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *bare[at:],
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    return {"baseline": bare, "timer": list(site), "silk": silk, "prometheus": prom}


def _environ() -> dict:
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/bench/ping/", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _child() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.test.utils import override_settings

    call_command("migrate", verbosity=0, interactive=False)
    full = os.environ.get("BENCH_FULL") == "1"
    rounds, per_round = (25, 5000) if full else (20, 1500)
    handlers = {}
    for name, stack in _stacks(list(settings.MIDDLEWARE)).items():
        with override_settings(MIDDLEWARE=stack):
            handlers[name] = WSGIHandler()

    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    rates: dict[str, list[float]] = {name: [] for name in handlers}
    started = time.perf_counter()
    for h in handlers.values():  # warm up every stack
        for _ in range(50):
            b"".join(h(_environ(), start_response))
    names = list(handlers)
    done_rounds = 0
    for r in range(rounds):
        # Rotate the order each round so no stack always runs right after the slow silk one.
        for name in names[r % len(names):] + names[: r % len(names)]:
            h = handlers[name]
            # Start every slice from the same collector state: otherwise the garbage silk's
            # slice leaves behind is collected on the time of whichever stack runs next.
            gc.collect()
            # per_round requests, or as many as fit in SLICE_S (silk writes a row per request).
            n, t0, c0 = 0, time.perf_counter(), time.process_time()
            deadline = t0 + SLICE_S
            while n < per_round:
                b"".join(h(_environ(), start_response))
                n += 1
                if n % 50 == 0 and time.perf_counter() > deadline:
                    break
            # Process CPU time (all threads, so the flush thread's work counts against the timer):
            # on a shared machine, wall time mostly measures the neighbours.
            rates[name].append(n / max(time.process_time() - c0, 1e-9))
        done_rounds += 1
        if time.perf_counter() - started > TIME_BUDGET_S:
            break
    assert all(s.startswith("200") for s in statuses), set(statuses)
    from observability import timing

    timing.flush()
    # Each round measures every stack back to back, so the ratio within a round cancels the
    # machine's drift; the median over rounds discards the rounds a neighbour disturbed.
    base = rates["baseline"]
    ratios = {
        name: statistics.median(x / b for x, b in zip(rs, base, strict=True))
        for name, rs in rates.items()
    }
    rps = {name: statistics.median(rs) for name, rs in rates.items()}
    print(json.dumps({"rps": rps, "ratio": ratios, "rounds": done_rounds, "per_round": per_round}))


def _accuracy() -> float:
    """Worst relative error of p50/p95/p99 of two merged 'process' histograms vs exact."""
    import random

    from observability.histogram import Histogram, exact_quantile

    rng = random.Random(69)
    a = [rng.lognormvariate(3, 1.2) for _ in range(50_000)]
    b = [rng.paretovariate(1.5) * 20 for _ in range(50_000)]
    merged = Histogram.of(a).merge(Histogram.of(b))
    worst = 0.0
    for q in (0.5, 0.95, 0.99):
        exact = exact_quantile(a + b, q)
        worst = max(worst, abs(merged.quantile(q) - exact) / exact)
    return worst


def run():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.request_timer_settings",
           "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_VERSION", None)
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_request_timer", "--child"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    data = json.loads(out.stdout.strip().splitlines()[-1])
    rps = data["rps"]
    base = rps["baseline"]
    size = f"{data['rounds']} rounds × {data['per_round']} requests per stack"
    print(f"   size: {size} ({'BENCH_FULL' if os.environ.get('BENCH_FULL') == '1' else 'default'})")
    rows = [("req/s without middleware", base, "req/CPU-s", "baseline")]
    for key, label, target in (
        ("timer", "req/s with request timer", "target ≥ 0.97× (≤ 3 % loss)"),
        ("silk", "req/s with django-silk", "comparison"),
        ("prometheus", "req/s with django-prometheus", "comparison"),
    ):
        ratio = data["ratio"][key]
        rows.append((label, rps[key], "req/CPU-s", f"{ratio:.3f}× of baseline; {target}"))
    rows.append(("merged p50/p95/p99 worst error", _accuracy() * 100, "%", "target ≤ 1 %"))
    return rows


if __name__ == "__main__" and "--child" in sys.argv:
    _child()
