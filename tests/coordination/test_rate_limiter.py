"""Rate limiter: token buckets, adaptive backoff and recovery (pure, injected clock) and the
shared row every process uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from coordination.limits import Adaptive, Buckets
from coordination.models import Invalid, RateLimitState, Worker
from observability.models import AuditEvent
from settings_ui.models import OperatorSettings

# --- token bucket (pure) -------------------------------------------------------------------


def test_it_grants_until_the_request_bucket_is_empty():
    b = Buckets(2, 1000, 0)
    assert b.try_acquire(0, 60, 1000) == (True, 0)
    assert b.try_acquire(0, 60, 1000) == (True, 0)
    assert b.try_acquire(0, 60, 1000) == (False, 1000)


def test_it_computes_the_wait_for_requests():
    b = Buckets(0.5, 1000, 0)
    assert b.try_acquire(0, 60, 1000) == (False, 500)


def test_it_computes_the_wait_for_tokens():
    b = Buckets(10, 100, 0)
    granted, wait = b.try_acquire(0, 60, 6000, tokens=200)
    assert (granted, wait) == (False, 1000)


def test_it_consumes_tokens_with_the_request():
    b = Buckets(10, 1000, 0)
    b.try_acquire(0, 60, 1000, tokens=300)
    assert (b.requests, b.tokens) == (9, 700)


def test_it_refills_proportionally():
    b = Buckets(0, 0, 0)
    b.refill(30, 60, 1000)
    assert (b.requests, b.tokens) == (30, 500)


def test_it_caps_refill_at_capacity():
    b = Buckets(59, 999, 0)
    b.refill(600, 60, 1000)
    assert (b.requests, b.tokens) == (60, 1000)


def test_it_caps_to_a_lowered_limit():
    b = Buckets(60, 1000, 0)
    b.refill(0, 10, 500)
    assert (b.requests, b.tokens) == (10, 500)


def test_it_ignores_a_clock_going_backwards():
    b = Buckets(0, 0, 100)
    b.refill(50, 60, 1000)
    assert (b.requests, b.updated) == (0, 100)


def test_it_rejects_negative_tokens():
    with pytest.raises(ValueError):
        Buckets(1, 1, 0).try_acquire(0, 60, 1000, tokens=-1)


def test_it_rejects_more_tokens_than_the_limit():
    with pytest.raises(ValueError, match="exceed"):
        Buckets(60, 1000, 0).try_acquire(0, 60, 1000, tokens=1001)


@settings(max_examples=200, deadline=None)
@given(
    rpm=st.integers(1, 1000),
    steps=st.lists(st.tuples(st.floats(0, 10), st.integers(0, 50)), max_size=60),
)
def test_property_a_bucket_never_grants_more_than_capacity_plus_rate_times_elapsed(rpm, steps):
    tpm = 10_000
    b = Buckets(float(rpm), float(tpm), 0.0)
    now, granted_requests, granted_tokens = 0.0, 0, 0
    for dt, tokens in steps:
        now += dt
        ok, _ = b.try_acquire(now, rpm, tpm, tokens)
        if ok:
            granted_requests += 1
            granted_tokens += tokens
    assert granted_requests <= rpm + rpm * now / 60 + 1e-9
    assert granted_tokens <= tpm + tpm * now / 60 + 1e-6


# --- adaptive limiter (pure) ---------------------------------------------------------------


def test_it_stays_normal_below_three_errors():
    a = Adaptive()
    assert not a.record_error(0, 60, 100_000) and not a.record_error(1, 60, 100_000)
    assert a.state == "normal" and a.limits(60, 100_000) == (60, 100_000)


def test_three_errors_in_a_minute_halve_the_limits():
    a = Adaptive()
    for t in (0, 1, 2):
        changed = a.record_error(t, 60, 100_000)
    assert changed and (a.state, a.level) == ("backing-off", 1)
    assert a.limits(60, 100_000) == (30, 50_000)


def test_errors_outside_the_window_do_not_count():
    a = Adaptive()
    a.record_error(0, 60, 100_000)
    a.record_error(1, 60, 100_000)
    assert not a.record_error(61, 60, 100_000)


def test_levels_follow_the_reference_numbers():
    a = Adaptive()
    seen = []
    for level in range(4):
        for i in range(3):
            a.record_error(level * 10 + i, 60, 100_000)
        seen.append(a.limits(60, 100_000))
    assert seen == [(30, 50_000), (15, 25_000), (8, 12_500), (4, 6_250)]


def test_backoff_stops_at_level_four():
    a = Adaptive()
    for i in range(30):
        a.record_error(i, 60, 100_000)
    assert a.level == 4


def test_limits_have_floors():
    a = Adaptive()
    for i in range(12):
        a.record_error(i, 2, 1500)
    assert a.limits(2, 1500) == (1, 1000)


def test_recovery_waits_thirty_seconds():
    a = Adaptive()
    for t in (0, 1, 2):
        a.record_error(t, 60, 100_000)
    assert not a.tick(20, 60, 100_000)
    assert a.tick(32, 60, 100_000)
    assert a.state == "recovering" and a.limits(60, 100_000) == (45, 75_000)


def test_recovery_returns_to_normal_at_baseline():
    a = Adaptive()
    for t in (0, 1, 2):
        a.record_error(t, 60, 100_000)
    now = 2
    while a.state != "normal":
        now += 30
        a.tick(now, 60, 100_000)
    assert (a.level, a.limits(60, 100_000)) == (0, (60, 100_000))


def test_fresh_errors_during_recovery_back_off_again():
    a = Adaptive()
    for t in (0, 1, 2):
        a.record_error(t, 60, 100_000)
    a.tick(40, 60, 100_000)
    a.errors = [41, 42, 43]
    assert a.tick(75, 60, 100_000) and a.level == 2


def test_a_normal_limiter_ignores_ticks():
    assert not Adaptive().tick(1000, 60, 100_000)


def test_state_round_trips_through_json():
    a = Adaptive()
    for t in (0, 1, 2):
        a.record_error(t, 60, 100_000)
    assert Adaptive.from_dict(a.as_dict()) == a


def test_a_lowered_baseline_caps_the_adjusted_limits():
    a = Adaptive(state="recovering", level=1, current_requests=50, current_tokens=80_000)
    assert a.limits(20, 40_000) == (20, 40_000)


# --- shared row ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_shared_bucket_starts_full_and_counts_down():
    now = timezone.now()
    first = RateLimitState.acquire(0, now)
    assert first["granted"] and first["remaining"]["requests"] == 59
    assert RateLimitState.acquire(0, now)["remaining"]["requests"] == 58


@pytest.mark.django_db
def test_the_shared_bucket_denies_with_a_wait():
    OperatorSettings.objects.update_or_create(pk=1, defaults={"coord_max_requests_per_minute": 1})
    now = timezone.now()
    assert RateLimitState.acquire(0, now)["granted"]
    denied = RateLimitState.acquire(0, now)
    assert (denied["granted"], denied["wait_ms"]) == (False, 60_000)
    assert RateLimitState.acquire(0, now + timedelta(seconds=60))["granted"]


@pytest.mark.django_db
def test_settings_changes_apply_on_the_next_acquire():
    now = timezone.now()
    RateLimitState.acquire(0, now)
    OperatorSettings.load().apply({"coord_max_requests_per_minute": 5})
    r = RateLimitState.acquire(0, now)
    assert r["limits"]["requests_per_minute"] == 5 and r["remaining"]["requests"] == 4


@pytest.mark.django_db
def test_state_lives_in_the_database_not_the_process():
    now = timezone.now()
    RateLimitState.acquire(0, now)
    row = RateLimitState.objects.get()
    assert (row.requests, row.granted, row.version) == (59, 1, 1)


@pytest.mark.django_db
def test_a_stale_version_does_not_overwrite():
    now = timezone.now()
    RateLimitState.acquire(0, now)
    RateLimitState.objects.update(version=99)
    RateLimitState.acquire(0, now)
    assert RateLimitState.objects.get().version == 100


@pytest.mark.django_db
def test_negative_tokens_are_invalid():
    with pytest.raises(Invalid):
        RateLimitState.acquire(-5)


@pytest.mark.django_db
def test_reported_errors_back_off_and_emit_rate_adjusted():
    now = timezone.now()
    for i in range(3):
        r = RateLimitState.record_error(now + timedelta(seconds=i))
    assert r["changed"] and r["requests_per_minute"] == 30
    ev = AuditEvent.objects.get(action="rate.adjusted")
    assert ev.data["backoff_level"] == 1 and ev.data["current_tokens"] == 50_000
    assert RateLimitState.acquire(0, now)["limits"]["requests_per_minute"] == 30


@pytest.mark.django_db
def test_the_tick_recovers_the_shared_limiter():
    now = timezone.now()
    for _i in range(3):
        RateLimitState.record_error(now)
    r = RateLimitState.tick(now + timedelta(seconds=31))
    assert r["state"] == "recovering" and r["requests_per_minute"] == 45
    assert AuditEvent.objects.filter(action="rate.adjusted").count() == 2


# --- API -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_acquire_grants(api):
    r = api.post("/api/rate-limit/acquire/", {"tokens": 10}, format="json")
    assert r.status_code == 200 and r.json()["granted"] is True


@pytest.mark.django_db
@pytest.mark.parametrize("body,field", [({"tokens": -1}, "tokens"), ({"tokens": "x"}, "tokens"),
                                        ({"tokens": 10**8}, "tokens"), ({"bogus": 1}, "bogus"),
                                        ({"worker": "ghost"}, "worker")])
def test_api_acquire_rejects_bad_input(api, body, field):
    r = api.post("/api/rate-limit/acquire/", body, format="json")
    assert r.status_code == 400 and field in r.json()


@pytest.mark.django_db
def test_api_rate_error_counts_on_the_worker(api):
    Worker.register("w1")
    for _ in range(3):
        r = api.post("/api/workers/w1/rate-error/")
    assert r.status_code == 200 and r.json()["backoff_level"] == 1
    assert Worker.objects.get().rate_errors == 3
