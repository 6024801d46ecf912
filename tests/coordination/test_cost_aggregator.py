"""Cost aggregator: per-worker and global budgets, once-only warnings, stop and drain."""

from __future__ import annotations

import pytest

from coordination.limits import Budget
from coordination.models import CoordinatorState, Invalid, Worker
from observability.models import AuditEvent
from settings_ui.models import OperatorSettings

# --- pure ----------------------------------------------------------------------------------


def test_it_is_quiet_below_eighty_percent():
    b = Budget(0, 10)
    assert b.add(7.9) == [] and not b.warned


def test_it_warns_once_at_eighty_percent():
    b = Budget(0, 10)
    assert b.add(8) == ["warning"]
    assert b.add(0.5) == []


def test_it_exceeds_once_at_one_hundred_percent():
    b = Budget(8, 10, warned=True)
    assert b.add(2) == ["exceeded"]
    assert b.add(1) == []
    assert b.exceeded


def test_a_jump_past_the_limit_warns_and_exceeds():
    assert Budget(0, 10).add(12) == ["warning", "exceeded"]


def test_a_zero_budget_is_unlimited():
    b = Budget(0, 0)
    assert b.add(1_000) == [] and b.remaining is None and not b.exceeded


def test_remaining_never_goes_negative():
    b = Budget(0, 10)
    b.add(15)
    assert b.remaining == 0


def test_raising_the_limit_clears_exceeded():
    b = Budget(0, 10)
    b.add(11)
    b.limit = 100
    assert b.update() == [] and not b.exceeded and not b.warned


def test_raising_the_limit_into_the_warning_band_keeps_warned():
    b = Budget(0, 10)
    b.add(11)
    b.limit = 12
    b.update()
    assert b.warned and not b.exceeded


def test_negative_costs_are_refused():
    with pytest.raises(ValueError):
        Budget(0, 10).add(-1)


def test_ratio():
    assert Budget(5, 10).ratio == 0.5 and Budget(5, 0).ratio == 0


# --- recording -----------------------------------------------------------------------------


@pytest.fixture
def w1(db):
    return Worker.register("w1")[0]


@pytest.mark.django_db
def test_it_accumulates_per_worker_and_globally(w1):
    w1.record_cost(1.5, 100, 200)
    r = w1.record_cost(2.0, 10, 20)
    assert (w1.cost_usd, w1.input_tokens, w1.output_tokens, w1.sessions) == (3.5, 110, 220, 2)
    assert r["worker_total"] == 3.5 and r["global_total"] == 3.5 and r["allowed"]


@pytest.mark.django_db
def test_the_global_total_spans_workers(w1):
    w2 = Worker.register("w2")[0]
    w1.record_cost(1)
    assert w2.record_cost(2)["global_total"] == 3


@pytest.mark.django_db
def test_a_worker_warning_is_emitted_once(w1):
    w1.record_cost(8)
    w1.record_cost(0.5)
    evs = AuditEvent.objects.filter(action="budget.warning", target_type="worker")
    assert evs.count() == 1 and evs.get().data["scope"] == "worker"


@pytest.mark.django_db
def test_a_worker_over_budget_is_told_to_stop(w1):
    r = w1.record_cost(10)
    assert r["worker_exceeded"] and not r["allowed"]
    assert w1.budget_exceeded
    assert AuditEvent.objects.filter(action="budget.exceeded", target_id="w1").count() == 1


@pytest.mark.django_db
def test_a_global_overrun_drains_a_running_coordinator(w1):
    OperatorSettings.objects.update_or_create(
        pk=1, defaults={"coord_global_budget_usd": 5, "coord_per_worker_budget_usd": 0})
    CoordinatorState.load().start()
    r = w1.record_cost(6)
    assert r["global_exceeded"] and not r["allowed"]
    assert CoordinatorState.load().status == "draining"
    ev = AuditEvent.objects.get(action="coordinator.draining")
    assert ev.data["reason"] == "global budget exceeded"


@pytest.mark.django_db
def test_a_global_warning_is_emitted_once(w1):
    OperatorSettings.objects.update_or_create(
        pk=1, defaults={"coord_global_budget_usd": 10, "coord_per_worker_budget_usd": 0})
    w1.record_cost(8)
    w1.record_cost(1)
    assert AuditEvent.objects.filter(action="budget.warning", target_type="coordinator").count() == 1


@pytest.mark.django_db
def test_raising_budgets_in_settings_clears_the_flags_on_the_next_check(w1):
    w1.record_cost(12)
    OperatorSettings.load().apply({"coord_per_worker_budget_usd": 100})
    CoordinatorState.check_budgets(OperatorSettings.load())
    w1.refresh_from_db()
    assert not w1.budget_exceeded and not w1.budget_warned


@pytest.mark.django_db
def test_negative_costs_are_invalid(w1):
    with pytest.raises(Invalid):
        w1.record_cost(-1)


@pytest.mark.django_db
def test_unlimited_budgets_report_no_remaining(w1):
    OperatorSettings.objects.update_or_create(
        pk=1, defaults={"coord_global_budget_usd": 0, "coord_per_worker_budget_usd": 0})
    r = w1.record_cost(500)
    assert r["allowed"] and r["global_remaining"] is None and r["worker_remaining"] is None


# --- API -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_cost_reports_the_totals(api, w1):
    r = api.post("/api/workers/w1/cost/", {"total_usd": 2.5, "input_tokens": 10}, format="json")
    assert r.status_code == 200 and r.json()["worker_total"] == 2.5


@pytest.mark.django_db
@pytest.mark.parametrize("body,field", [({"total_usd": -1}, "total_usd"), ({}, "total_usd"),
                                        ({"total_usd": 1, "input_tokens": -3}, "input_tokens"),
                                        ({"total_usd": 1, "x": 1}, "x")])
def test_api_cost_rejects_bad_input(api, w1, body, field):
    r = api.post("/api/workers/w1/cost/", body, format="json")
    assert r.status_code == 400 and field in r.json()
    assert Worker.objects.get().cost_usd == 0


@pytest.mark.django_db
def test_api_claim_refuses_an_over_budget_worker(api, w1):
    CoordinatorState.load().start()
    w1.record_cost(11)
    r = api.post("/api/tasks/claim/", {"worker": "w1"}, format="json")
    assert r.status_code == 409 and "budget" in r.json()["detail"]
