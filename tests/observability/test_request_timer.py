from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, RequestFactory

from observability import timing
from observability.histogram import Histogram
from observability.models import RouteLatencyBucket, SlowRequest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_recorder():
    timing.recorder.clear()
    threshold = timing.recorder.slow_threshold_ms
    yield timing.recorder
    timing.recorder.clear()
    timing.recorder.slow_threshold_ms = threshold


def _routes() -> dict[str, int]:
    timing.flush()
    return {r.route: r.count for r in RouteLatencyBucket.objects.all()}


@pytest.mark.urls("tests.observability.perf_urls")
def test_it_keys_every_url_kind_by_method_and_pattern(alice_client):
    alice_client.get(f"/t/things/{uuid.uuid4()}/")
    alice_client.get(f"/t/things/{uuid.uuid4()}/")
    alice_client.get("/t/re/12/abc/")
    alice_client.get("/api/audit/")
    alice_client.get("/api/audit/123/")
    alice_client.get("/api/audit.json")
    alice_client.post("/api/settings/reset/")
    alice_client.get("/timeline/")
    alice_client.get("/")
    alice_client.get("/admin/auth/user/1/change/")
    alice_client.get("/static/css/operator.css")
    routes = _routes()
    assert routes["GET /t/things/<uuid:pk>/"] == 2
    assert routes["GET /t/re/<arg>/<slug>/"] == 1
    assert routes["GET /api/audit/"] == 1
    assert routes["GET /api/audit/<pk>/"] == 1
    assert routes["GET /api/audit.<format>/"] == 1
    assert routes["POST /api/settings/reset/"] == 1
    assert routes["GET /timeline/"] == 1
    assert routes["GET /"] == 1
    assert routes["GET /admin/auth/user/<path:object_id>/change/"] == 1
    assert routes["GET /static/<path>"] == 1


def test_it_folds_unmatched_paths_into_one_key_per_method(alice_client):
    for p in ("/nope/", "/nope/1/", f"/x/{uuid.uuid4()}/", "/%00?q=1", "/api/nothing/here/"):
        assert alice_client.get(p).status_code == 404
    alice_client.post("/nope/")
    alice_client.generic("BREW", "/nope/")
    routes = _routes()
    assert routes == {"GET <unmatched>": 5, "POST <unmatched>": 1, "OTHER <unmatched>": 1}
    assert RouteLatencyBucket.objects.get(route="GET <unmatched>").errors_4xx == 5


@pytest.mark.urls("tests.observability.perf_urls")
def test_it_counts_4xx_and_5xx(alice_client, anon_api):
    c = Client(raise_request_exception=False)
    c.get("/t/boom/")
    c.get("/t/boom/")
    c.get("/t/teapot/")
    anon_api.get("/api/performance/")  # 401
    alice_client.get("/timeline/")
    timing.flush()
    boom = RouteLatencyBucket.objects.get(route="GET /t/boom/")
    assert (boom.count, boom.errors_4xx, boom.errors_5xx) == (2, 0, 2)
    teapot = RouteLatencyBucket.objects.get(route="GET /t/teapot/")
    assert (teapot.errors_4xx, teapot.errors_5xx) == (1, 0)
    api = RouteLatencyBucket.objects.get(route="GET /api/performance/")
    assert (api.errors_4xx, api.errors_5xx) == (1, 0)
    ok = RouteLatencyBucket.objects.get(route="GET /timeline/")
    assert (ok.errors_4xx, ok.errors_5xx) == (0, 0)


def test_it_measures_on_the_injected_monotonic_clock(alice_client, monkeypatch, fresh_recorder):
    ticks = iter([10.0, 10.25, 20.0, 20.004])
    monkeypatch.setattr(fresh_recorder, "monotonic", lambda: next(ticks))
    alice_client.get("/timeline/")
    alice_client.get("/timeline/")
    timing.flush()
    row = RouteLatencyBucket.objects.get(route="GET /timeline/")
    assert row.count == 2
    assert row.min_ms == pytest.approx(4.0) and row.max_ms == pytest.approx(250.0)
    assert row.histogram().quantile(0.99) == pytest.approx(250.0, rel=0.01)


def test_it_keeps_slow_requests_over_the_setting(alice_client, monkeypatch, fresh_recorder):
    from settings_ui.models import OperatorSettings

    s = OperatorSettings.load()
    s.slow_request_ms = 100
    s.save()
    timing.flush()  # picks up the threshold
    assert fresh_recorder.slow_threshold_ms == 100
    ticks = iter([0.0, 0.150, 1.0, 1.050])
    monkeypatch.setattr(fresh_recorder, "monotonic", lambda: next(ticks))
    alice_client.get("/timeline/?x=1", HTTP_X_REQUEST_ID="req-slow-1")
    alice_client.get("/timeline/")
    timing.flush()
    slow = SlowRequest.objects.get()
    assert (slow.route, slow.path, slow.status, slow.request_id, slow.method) == (
        "GET /timeline/", "/timeline/", 200, "req-slow-1", "GET",
    )
    assert slow.duration_ms == pytest.approx(150.0)


def test_it_keeps_only_the_newest_200_slow_requests(fresh_recorder):
    from settings_ui.models import OperatorSettings

    OperatorSettings.objects.update_or_create(pk=1, defaults={"slow_request_ms": 1})
    timing.flush()
    request = RequestFactory().get("/x/")
    for i in range(260):
        request.request_id = f"r{i}"
        fresh_recorder.record("GET /x/", 200, 5.0 + i, request)
        if i % 100 == 0:
            timing.flush()
    timing.flush()
    assert SlowRequest.objects.count() == 200
    assert SlowRequest.objects.filter(request_id="r259").exists()
    assert not SlowRequest.objects.filter(request_id="r59").exists()


def test_it_merges_deltas_from_two_processes_into_one_row(fresh_recorder):
    now = 1_700_000_000.0
    a = timing.Recorder(wall=lambda: now)
    b = timing.Recorder(wall=lambda: now + 1)
    va, vb = [1.0, 2.5, 800.0], [3.0, 3.0, 90.0, 12000.0]
    for v in va:
        a.record("GET /x/", 200, v)
    for v in vb:
        b.record("GET /x/", 503, v)
    a.flush()
    b.flush()
    a.record("GET /x/", 404, 7.0)
    a.flush()  # a second delta from the same process adds, never overwrites
    row = RouteLatencyBucket.objects.get()
    assert row.histogram() == Histogram.of(va + vb + [7.0])
    assert (row.count, row.errors_4xx, row.errors_5xx) == (8, 1, 4)
    assert row.last_seen == datetime.fromtimestamp(now + 1, tz=UTC)


def test_it_keeps_deltas_whose_write_failed(fresh_recorder, monkeypatch):
    fresh_recorder.record("GET /x/", 200, 3.0)

    def broken(pending):
        raise RuntimeError("database down")

    monkeypatch.setattr(timing, "write_deltas", broken)
    with pytest.raises(RuntimeError):
        fresh_recorder.flush()
    assert fresh_recorder.pending_count() == 1
    monkeypatch.undo()
    fresh_recorder.flush()
    assert RouteLatencyBucket.objects.get().count == 1


def test_it_does_not_flush_in_the_background_under_tests(alice_client, fresh_recorder):
    alice_client.get("/timeline/")
    assert fresh_recorder._thread is None
    assert fresh_recorder.pending_count() == 1
    assert not RouteLatencyBucket.objects.exists()


def test_it_rolls_minutes_older_than_48_hours_into_hours():
    now = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    old = now - timedelta(hours=50)  # 10:30 two days before
    recs = []
    for minute, values in ((0, [1.0, 2.0]), (10, [30.0]), (45, [4.0])):
        r = timing.Recorder(wall=lambda m=minute: (old.replace(minute=0) + timedelta(minutes=m)).timestamp())
        for v in values:
            r.record("GET /x/", 500 if v == 30.0 else 200, v)
        r.flush()
        recs.append(r)
    recent = timing.Recorder(wall=lambda: (now - timedelta(minutes=5)).timestamp())
    recent.record("GET /x/", 200, 9.0)
    recent.flush()
    assert timing.rollup(now) == 3
    hour = RouteLatencyBucket.objects.get(resolution=3600)
    assert hour.bucket_start == old.replace(minute=0)
    assert hour.histogram() == Histogram.of([1.0, 2.0, 30.0, 4.0])
    assert hour.errors_5xx == 1
    assert RouteLatencyBucket.objects.filter(resolution=60).count() == 1
    assert timing.rollup(now) == 0


def test_it_starts_empty_after_a_fork(fresh_recorder, monkeypatch):
    # Platforms without os.register_at_fork notice the fork by the pid on the next record().
    from observability import timing

    monkeypatch.setattr(timing, "_FORK_HOOK", False)
    fresh_recorder.record("GET /x/", 200, 1.0)
    monkeypatch.setattr(fresh_recorder, "_pid", -1)
    fresh_recorder.record("GET /x/", 200, 2.0)
    assert fresh_recorder.pending_count() == 1


def test_samples_pile_up_only_to_a_bound_without_a_flush_thread(fresh_recorder, monkeypatch):
    # Under tests (and wherever the flush thread is off) request threads fold samples
    # themselves once DRAIN_AT have piled up, so memory stays bounded without losing any.
    monkeypatch.setattr(timing, "DRAIN_AT", 50)
    for i in range(175):
        fresh_recorder.record("GET /x/", 200, 1.0 + i)
    assert len(fresh_recorder._samples) < 50
    assert fresh_recorder.pending_count() == 175


def test_recording_threads_racing_a_flusher_lose_no_sample(fresh_recorder):
    import threading

    per_thread, taken, done = 5000, [], threading.Event()

    def requests():
        for i in range(per_thread):
            fresh_recorder.record(f"GET /r{i % 7}/", 200, 1.0 + i % 300)

    def flusher():
        while not done.is_set():
            taken.append(fresh_recorder.take()[0])

    threads = [threading.Thread(target=requests) for _ in range(4)]
    f = threading.Thread(target=flusher)
    f.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    f.join()
    taken.append(fresh_recorder.take()[0])
    total = sum(c.hist.count for batch in taken for c in batch.values())
    assert total == 4 * per_thread


@pytest.mark.django_db(transaction=True)
def test_it_merges_concurrent_flushes_without_losing_counts():
    import threading

    from django.db import connections

    now = 1_700_000_040.0
    values = {k: [float(1 + (k * 37 + i) % 500) for i in range(120)] for k in range(4)}
    errors = []

    def worker(k):
        try:
            r = timing.Recorder(wall=lambda: now)
            for i, v in enumerate(values[k]):
                r.record(f"GET /r{i % 3}/", 200, v)
                if i % 20 == 19:
                    r.flush()
            r.flush()
        except Exception as e:  # surfaced below
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(k,)) for k in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for route in range(3):
        expected = Histogram.of(
            v for vs in values.values() for i, v in enumerate(vs) if i % 3 == route
        )
        assert RouteLatencyBucket.objects.get(route=f"GET /r{route}/").histogram() == expected
