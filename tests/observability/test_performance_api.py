from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from observability import performance, timing
from observability.models import RouteLatencyBucket, SlowRequest

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, 30, tzinfo=UTC)
ENDPOINTS = [
    "/api/performance/",
    "/api/performance/summary/",
    "/api/performance/slow/",
    "/api/performance/metrics/",
]


@pytest.fixture(autouse=True)
def fresh_recorder():
    timing.recorder.clear()
    yield timing.recorder
    timing.recorder.clear()


def _record(at: datetime, route: str, values, status: int = 200) -> None:
    r = timing.Recorder(wall=lambda: at.timestamp())
    for v in values:
        r.record(route, status, v)
    r.flush()


# --- window math ----------------------------------------------------------------------------

def test_window_bounds_cover_whole_minutes_up_to_now():
    start, seconds = performance.window_bounds(NOW, "5m")
    assert start == datetime(2026, 3, 10, 12, 26, tzinfo=UTC)
    assert seconds == 4 * 60 + 30
    start, seconds = performance.window_bounds(NOW, "7d")
    assert start == NOW.replace(second=0) - timedelta(days=7) + timedelta(minutes=1)
    assert performance.window_bounds(NOW, "1h")[0] == datetime(2026, 3, 10, 11, 31, tzinfo=UTC)
    assert performance.window_bounds(NOW, "24h")[0] == datetime(2026, 3, 9, 12, 31, tzinfo=UTC)


def test_slots_span_the_window():
    for window, n in (("5m", 5), ("1h", 60)):
        start, _ = performance.window_bounds(NOW, window)
        slots = performance.slot_starts(start, NOW, window)
        assert len(slots) == n and slots[-1] == NOW.replace(second=0)


def test_it_counts_only_buckets_inside_the_window():
    _record(NOW, "GET /a/", [10.0, 20.0])
    _record(NOW - timedelta(minutes=4), "GET /a/", [30.0])  # inside 5m (12:26)
    _record(NOW - timedelta(minutes=5), "GET /a/", [40.0])  # 12:25: outside 5m
    _record(NOW - timedelta(minutes=59), "GET /b/", [5.0])
    _record(NOW - timedelta(hours=3), "GET /c/", [5.0])
    five = performance.load_report("5m", NOW)
    assert [(r["route"], r["count"]) for r in five.routes] == [("GET /a/", 3)]
    assert five.routes[0]["rps"] == round(3 / 270, 3)
    hour = performance.load_report("1h", NOW)
    assert {r["route"]: r["count"] for r in hour.routes} == {"GET /a/": 4, "GET /b/": 1}
    day = performance.load_report("24h", NOW)
    assert day.summary["total_requests"] == 6 and day.summary["route_count"] == 3


def test_it_includes_rolled_up_hours_in_the_7d_window():
    _record(NOW - timedelta(days=3), "GET /a/", [10.0, 11.0])
    _record(NOW - timedelta(days=8), "GET /a/", [12.0])
    timing.rollup(NOW)
    assert RouteLatencyBucket.objects.filter(resolution=3600).count() == 2
    report = performance.load_report("7d", NOW)
    assert report.summary["total_requests"] == 2


# --- endpoints ------------------------------------------------------------------------------

def test_it_lists_routes_with_stats(api):
    _record(NOW, "GET /a/", [1.0, 2.0, 3.0, 100.0])
    _record(NOW, "GET /a/", [5.0], status=404)
    _record(NOW, "GET /a/", [7.0], status=502)
    _record(NOW - timedelta(minutes=1), "POST /b/", [50.0])
    with time_machine.travel(NOW, tick=False):
        body = api.get("/api/performance/?window=5m").json()
    assert body["window"] == "5m"
    first, second = body["results"]
    assert first["route"] == "GET /a/"  # slowest p95 first
    assert first["count"] == 6
    assert (first["errors_4xx"], first["errors_5xx"]) == (1, 1)
    assert first["error_rate"] == round(1 / 6, 4)
    assert first["min"] == 1.0 and first["max"] == 100.0
    assert first["p50"] == pytest.approx(3.0, rel=0.01)
    assert first["p99"] == pytest.approx(100.0, rel=0.01)
    assert first["mean"] == round(118 / 6, 2)
    assert first["last_seen"].startswith("2026-03-10T12:30:30")
    assert set(first) == {
        "route", "count", "rps", "mean", "min", "max", "p50", "p95", "p99", "errors_4xx",
        "errors_5xx", "error_rate", "last_seen",
    }
    assert second["route"] == "POST /b/"


def test_it_summarises_and_lists_the_five_slowest(api):
    for i in range(7):
        _record(NOW, f"GET /r{i}/", [float(10 * (i + 1))] * 3, status=500 if i == 0 else 200)
    with time_machine.travel(NOW, tick=False):
        body = api.get("/api/performance/summary/?window=1h").json()
    assert body["total_requests"] == 21
    assert body["route_count"] == 7
    assert body["errors_5xx"] == 3 and body["error_rate"] == round(3 / 21, 4)
    assert [r["route"] for r in body["top_slowest"]] == [f"GET /r{i}/" for i in (6, 5, 4, 3, 2)]
    assert body["p99"] == pytest.approx(70.0, rel=0.01)
    assert body["p50"] == pytest.approx(40.0, rel=0.01)


def test_it_answers_an_empty_window(api):
    body = api.get("/api/performance/summary/").json()
    assert body["total_requests"] == 0 and body["top_slowest"] == [] and body["p95"] == 0.0
    assert api.get("/api/performance/").json()["results"] == []


@pytest.mark.parametrize("url", ["/api/performance/", "/api/performance/summary/",
                                 "/api/performance/metrics/"])
def test_it_rejects_an_unknown_window(api, url):
    r = api.get(url + "?window=3m")
    assert r.status_code == 400
    assert '"window"' in r.content.decode()


def test_it_lists_slow_requests_newest_first(api):
    for i in range(3):
        SlowRequest.objects.create(
            ts=NOW + timedelta(seconds=i), route="GET /x/", method="GET", path="/x/",
            status=200, duration_ms=1500 + i, request_id=f"r{i}",
        )
    body = api.get("/api/performance/slow/?limit=2").json()
    assert [s["request_id"] for s in body["results"]] == ["r2", "r1"]
    assert set(body["results"][0]) == {
        "ts", "route", "method", "path", "status", "duration_ms", "request_id",
    }
    assert api.get("/api/performance/slow/?limit=0").status_code == 400
    assert api.get("/api/performance/slow/?limit=x").status_code == 400


def test_it_resets_everything(api):
    _record(NOW, "GET /a/", [1.0])
    SlowRequest.objects.create(ts=NOW, route="GET /a/", method="GET", path="/a/", status=200,
                               duration_ms=2000)
    timing.recorder.record("GET /pending/", 200, 1.0)
    r = api.post("/api/performance/reset/")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert not RouteLatencyBucket.objects.exists() and not SlowRequest.objects.exists()
    # Only the reset request itself is pending: it is timed after its view ran.
    assert {route for route, _ in timing.recorder.take()[0]} == {"POST /api/performance/reset/"}


def test_it_serves_prometheus_text(api):
    _record(NOW, 'GET /a/"quoted"/', [1.0, 2.0])
    with time_machine.travel(NOW, tick=False):
        r = api.get("/api/performance/metrics/?window=5m")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.content.decode()
    assert 'operator_http_requests{route="GET /a/\\"quoted\\"/"} 2' in text
    assert 'operator_http_request_duration_ms{route="GET /a/\\"quoted\\"/",quantile="0.99"}' in text
    assert "# TYPE operator_http_request_duration_ms summary" in text
    assert "operator_http_slow_requests 0" in text


def test_it_serves_prometheus_text_to_a_bearer_token(anon_api, alice_token):
    r = anon_api.get("/api/performance/metrics/", HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert r.status_code == 200


# --- access ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ENDPOINTS)
def test_it_rejects_anonymous(anon_api, url):
    assert anon_api.get(url).status_code == 401


@pytest.mark.parametrize("url", ENDPOINTS)
def test_it_requires_staff(bob_api, url):
    assert bob_api.get(url).status_code == 403


@pytest.mark.parametrize("url", ENDPOINTS)
def test_it_serves_staff(api, url):
    assert api.get(url).status_code == 200


class TestReset:
    def test_it_rejects_get(self, api):
        assert api.get("/api/performance/reset/").status_code == 405

    def test_it_requires_staff(self, bob_api):
        assert bob_api.post("/api/performance/reset/").status_code == 403

    def test_it_rejects_anonymous(self, anon_api):
        assert anon_api.post("/api/performance/reset/").status_code == 401
