"""Coordinator: lifecycle, event routing, and the tick that orchestrates the subsystems."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from coordination import coordinator, tasks
from coordination.models import CoordinatorState, RateLimitState, StateConflict, Task, Worker
from observability.models import AuditEvent
from settings_ui.models import OperatorSettings

pytestmark = pytest.mark.django_db


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


# --- lifecycle -----------------------------------------------------------------------------


def test_it_starts_in_init():
    assert CoordinatorState.load().status == "init"


def test_it_starts_and_emits_started():
    s = CoordinatorState.load()
    assert s.start() is True
    assert s.status == "running" and actions() == ["coordinator.started"]


def test_start_is_idempotent_while_running():
    s = CoordinatorState.load()
    s.start()
    assert s.start() is False and actions() == ["coordinator.started"]


def test_it_drains_only_from_running():
    s = CoordinatorState.load()
    with pytest.raises(StateConflict):
        s.drain()
    s.start()
    assert s.drain() and s.status == "draining"


def test_it_stops_and_restarts():
    s = CoordinatorState.load()
    s.start()
    s.stop()
    assert s.status == "stopped"
    s.start()
    assert s.status == "running"
    assert actions() == ["coordinator.started", "coordinator.stopped", "coordinator.started"]


def test_stop_is_idempotent():
    s = CoordinatorState.load()
    s.stop()
    assert s.stop() is False


def test_the_state_is_a_singleton_row():
    CoordinatorState.load().start()
    assert CoordinatorState.objects.count() == 1 and CoordinatorState.load().status == "running"


# --- tick ----------------------------------------------------------------------------------


def test_tick_releases_tasks_of_silent_workers():
    CoordinatorState.load().start()
    w = Worker.register("w1")[0]
    Task.create_many([{"id": "a"}])
    t, _ = Task.claim_for(w)
    t.start(w)
    with time_machine.travel(timezone.now() + timedelta(seconds=91)):
        out = coordinator.tick()
    assert out["released"] == ["a"]
    t.refresh_from_db()
    w.refresh_from_db()
    assert (t.status, t.worker, w.status) == ("pending", None, "stale")
    assert AuditEvent.objects.filter(action="task.retried", target_id="a").exists()


def test_tick_keeps_workers_that_heartbeat():
    w = Worker.register("w1")[0]
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        w.heartbeat()
    with time_machine.travel(timezone.now() + timedelta(seconds=120)):
        assert coordinator.tick()["released"] == []
    w.refresh_from_db()
    assert w.status == "active"


def test_a_stale_worker_comes_back_with_a_heartbeat():
    w = Worker.register("w1")[0]
    with time_machine.travel(timezone.now() + timedelta(seconds=100)):
        coordinator.tick()
        w.refresh_from_db()
        assert not w.is_live()
        w.heartbeat()
        assert w.is_live()


def test_tick_steps_adaptive_recovery():
    now = timezone.now()
    for _ in range(3):
        RateLimitState.record_error(now)
    out = coordinator.tick(now + timedelta(seconds=31))
    assert out["rate"]["state"] == "recovering"


def test_tick_rechecks_budgets_after_a_settings_change():
    w = Worker.register("w1")[0]
    w.record_cost(5)
    OperatorSettings.load().apply({"coord_per_worker_budget_usd": 4})
    coordinator.tick()
    w.refresh_from_db()
    assert w.budget_exceeded
    assert "budget.exceeded" in actions()


def test_tick_drains_on_a_global_overrun():
    CoordinatorState.load().start()
    w = Worker.register("w1")[0]
    w.record_cost(9)
    OperatorSettings.load().apply({"coord_global_budget_usd": 5})
    out = coordinator.tick()
    # Nothing is held, so the drain finishes in the same tick.
    assert out["status"] == "stopped"
    assert actions()[-2:] == ["coordinator.draining", "coordinator.stopped"]


def test_tick_finishes_a_drain_once_workers_let_go():
    s = CoordinatorState.load()
    s.start()
    w = Worker.register("w1")[0]
    Task.create_many([{"id": "a"}])
    t, _ = Task.claim_for(w)
    s.drain()
    assert coordinator.tick()["status"] == "draining"
    t.complete(w)
    assert coordinator.tick()["status"] == "stopped"


def test_tick_records_when_it_ran():
    coordinator.tick()
    assert CoordinatorState.load().last_tick_at is not None


def test_the_celery_task_runs_the_tick():
    tasks.tick()
    assert CoordinatorState.load().last_tick_at is not None


def test_beat_runs_the_tick_at_least_every_ten_seconds(settings):
    job = settings.CELERY_BEAT_SCHEDULE["coordination-tick"]
    assert job["task"] == "coordination.tasks.tick" and job["schedule"] <= 10


# --- event routing through the API ---------------------------------------------------------


def test_a_full_run_emits_the_task_events_in_order(api):
    api.post("/api/coordinator/start/")
    api.post("/api/workers/", {"id": "w1"}, format="json")
    api.post("/api/tasks/", {"id": "a", "task": "x"}, format="json")
    api.post("/api/tasks/claim/", {"worker": "w1"}, format="json")
    api.post("/api/tasks/a/start/", {"worker": "w1"}, format="json")
    api.post("/api/tasks/a/complete/", {"worker": "w1", "result": "ok"}, format="json")
    assert actions() == ["coordinator.started", "task.created", "task.assigned", "task.completed"]


def test_claim_waits_while_the_coordinator_is_not_running(api):
    Worker.register("w1")
    Task.create_many([{"id": "a"}])
    r = api.post("/api/tasks/claim/", {"worker": "w1"}, format="json")
    assert r.status_code == 204 and r["X-Claim-Reason"] == "coordinator init"


def test_claim_answers_204_with_a_reason_when_nothing_is_ready(api):
    CoordinatorState.load().start()
    Worker.register("w1")
    r = api.post("/api/tasks/claim/", {"worker": "w1"}, format="json")
    assert r.status_code == 204 and r["X-Claim-Reason"] == "no ready task"


def test_claims_by_unknown_and_stale_workers_are_refused(api):
    CoordinatorState.load().start()
    assert api.post("/api/tasks/claim/", {"worker": "nobody"}, format="json").status_code == 400
    Worker.register("w1")
    with time_machine.travel(timezone.now() + timedelta(seconds=91)):
        r = api.post("/api/tasks/claim/", {"worker": "w1"}, format="json")
    assert r.status_code == 409 and "stale" in r.json()["detail"]


def test_coordinator_api_status_and_actions(api):
    r = api.get("/api/coordinator/")
    assert r.status_code == 200 and r.json()["status"] == "init"
    assert api.post("/api/coordinator/start/").json()["status"] == "running"
    assert api.post("/api/coordinator/drain/").json()["status"] == "draining"
    assert api.post("/api/coordinator/stop/").json()["status"] == "stopped"
    r = api.post("/api/coordinator/drain/")
    assert r.status_code == 409 and "stopped" in r.json()["detail"]


def test_coordinator_api_unknown_verb_is_404(api):
    assert api.post("/api/coordinator/explode/").status_code == 404
