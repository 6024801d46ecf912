from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from observability.events import emit
from observability.models import AuditEvent
from settings_ui.models import RetentionPolicy, SweepRun
from settings_ui.retention import KINDS, Sweeper, sweep

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _events(days_ago: int, n: int):
    with time_machine.travel(NOW - dt.timedelta(days=days_ago), tick=False):
        for i in range(n):
            emit("chain.created", actor="t", target=("chain", f"{days_ago}-{i}"))


def test_it_creates_one_policy_per_kind_with_defaults():
    policies = {p.kind: p for p in RetentionPolicy.load_all()}
    assert list(policies) == list(KINDS)
    assert policies["archived_chains"].enabled is False
    assert policies["completed_tasks"].max_count == 1000


def test_it_deletes_audit_events_past_the_ttl_only():
    RetentionPolicy.load_all()
    RetentionPolicy.objects.filter(kind="audit_events").update(ttl_days=30)
    _events(31, 5)
    _events(29, 3)
    with time_machine.travel(NOW, tick=False):
        run = sweep(trigger="test")
    assert run.status == "ok" and run.counts["audit_events"] == 5
    # the 3 young ones and the retention.swept event
    assert AuditEvent.objects.filter(action="chain.created").count() == 3
    assert AuditEvent.objects.filter(action="retention.swept").count() == 1


def test_models_that_do_not_exist_are_not_available():
    run = sweep(dry_run=True)
    for kind, spec in KINDS.items():
        if spec.get_model() is None:
            assert run.counts[kind] is None


def test_dry_run_counts_without_deleting():
    RetentionPolicy.load_all()
    RetentionPolicy.objects.filter(kind="audit_events").update(ttl_days=10)
    _events(11, 4)
    with time_machine.travel(NOW, tick=False):
        run = sweep(dry_run=True)
    assert run.dry_run and run.counts["audit_events"] == 4
    assert AuditEvent.objects.count() == 4
    assert not AuditEvent.objects.filter(action="retention.swept").exists()


def test_disabled_or_forever_policies_delete_nothing():
    RetentionPolicy.load_all()
    _events(4000, 2)
    RetentionPolicy.objects.filter(kind="audit_events").update(enabled=False)
    with time_machine.travel(NOW, tick=False):
        assert sweep().counts["audit_events"] == 0
    RetentionPolicy.objects.filter(kind="audit_events").update(enabled=True, ttl_days=None)
    with time_machine.travel(NOW, tick=False):
        assert sweep().counts["audit_events"] == 0
    assert AuditEvent.objects.filter(action="chain.created").count() == 2


def test_it_deletes_in_batches_and_stops_at_the_time_budget():
    # Only the audit kind: every other available kind would spend clock ticks of the budget.
    policies = [p for p in RetentionPolicy.load_all() if p.kind == "audit_events"]
    for p in policies:
        p.ttl_days = 1
    _events(5, 7)
    ticks = iter(range(0, 1000, 1))
    sweeper = Sweeper(budget_seconds=2.5, batch=2, clock=lambda: next(ticks))
    counts = sweeper.run(policies, now=NOW)
    assert sweeper.out_of_time
    assert 0 < counts["audit_events"] < 7
    assert AuditEvent.objects.count() == 7 - counts["audit_events"]
    sweeper = Sweeper(batch=2)
    assert sweeper.run(policies, now=NOW)["audit_events"] == 7 - counts["audit_events"]
    assert not AuditEvent.objects.exists() and sweeper.longest_batch > 0


def test_a_failure_is_recorded(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("db gone")

    monkeypatch.setattr(Sweeper, "run", boom)
    run = sweep()
    assert run.status == "failed" and "db gone" in run.error
    assert SweepRun.objects.get().status == "failed"


class TestNeverDeleteRules:
    """The task/chain kinds run the same code as this stand-in kind over AuditEvent: only rows
    matching `deletable` go, and max_count keeps the newest N of those."""

    @pytest.fixture
    def finished_kind(self, monkeypatch):
        from settings_ui import retention

        kind = retention.Kind("Stand-in tasks", "observability.AuditEvent", "ts",
                              {"action__in": ("task.completed", "task.failed")},
                              default_max_count=3, has_max_count=True)
        monkeypatch.setitem(retention.KINDS, "stand_in", kind)
        return kind

    def test_it_keeps_unfinished_rows_whatever_their_age(self, finished_kind):
        with time_machine.travel(NOW - dt.timedelta(days=900), tick=False):
            for action in ("task.completed", "task.failed", "task.running", "task.pending"):
                emit(action)
        policy = RetentionPolicy(kind="stand_in", enabled=True, ttl_days=30, max_count=None)
        counts = Sweeper().run([policy], now=NOW)
        assert counts == {"stand_in": 2}
        assert set(AuditEvent.objects.values_list("action", flat=True)) == {"task.running", "task.pending"}

    def test_max_count_keeps_the_newest(self, finished_kind):
        for day in range(6):
            with time_machine.travel(NOW - dt.timedelta(days=day), tick=False):
                emit("task.completed", data={"day": day})
        emit("task.running")
        policy = RetentionPolicy(kind="stand_in", enabled=True, ttl_days=None, max_count=3)
        assert Sweeper().run([policy], now=NOW, dry_run=True) == {"stand_in": 3}
        assert Sweeper(batch=2).run([policy], now=NOW) == {"stand_in": 3}
        kept = sorted(e.data["day"] for e in AuditEvent.objects.filter(action="task.completed"))
        assert kept == [0, 1, 2]
        assert AuditEvent.objects.filter(action="task.running").exists()

    def test_the_real_kinds_only_touch_finished_rows(self):
        assert KINDS["completed_tasks"].deletable == {"status__in": ("complete", "failed", "cancelled")}
        assert KINDS["archived_chains"].deletable == {"status": "archived"}
        assert KINDS["webhook_deliveries"].deletable == {"status__in": ("succeeded", "failed")}
