"""A real Celery worker on Redis runs the chain; killed between sessions, the chain still
finishes once a new worker starts and the sweep resumes it."""

from __future__ import annotations

import pytest

from chains import runner
from chains.models import Chain, ChainRun
from settings_ui.models import OperatorSettings
from tests.fixtures.celery_worker import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.redis
def test_a_killed_worker_loses_at_most_one_session(celery_worker_process, settings):
    cfg = OperatorSettings.load()
    cfg.agent_backend = "command"
    cfg.agent_command = "{python} {fake_agent} complete --sessions 3 --sleep 1"
    cfg.save()
    settings.CHAIN_RUNNER_STALE_SECONDS = 3

    first = celery_worker_process()
    chain = Chain.create(task="Three sessions of work")
    runner.start_chain(chain)  # committed at once (transactional test): the task is queued
    wait_for(lambda: Chain.objects.get(pk=chain.pk).session_count >= 1, timeout=90)
    first.stop(kill=True)
    chain.refresh_from_db()
    assert chain.status == "running" and chain.session_count < 3

    celery_worker_process()
    # Nothing runs the chain until the sweep sees its runner went silent.
    wait_for(lambda: runner.sweep() == 1, timeout=30, interval=0.5)
    chain = wait_for(lambda: Chain.objects.filter(pk=chain.pk).exclude(status="running").first(),
                     timeout=90)
    assert chain.status == "complete"
    assert sorted(chain.sessions.values_list("index", flat=True)) == [0, 1, 2]
    assert ChainRun.objects.get(pk=chain.pk).finished_at is not None


def test_two_queued_tasks_never_run_one_chain_twice(celery_worker_process):
    from chains.tasks import run_chain_session

    cfg = OperatorSettings.load()
    cfg.agent_backend = "command"
    cfg.agent_command = "{python} {fake_agent} complete --sessions 2"
    cfg.save()
    chain = Chain.create(task="t")
    runner.start_chain(chain)
    for _ in range(3):  # duplicates, e.g. a redelivered message and a sweep
        run_chain_session.delay(str(chain.pk))
    celery_worker_process()
    chain = wait_for(lambda: Chain.objects.filter(pk=chain.pk).exclude(status="running").first(),
                     timeout=90)
    assert chain.status == "complete"
    assert list(chain.sessions.order_by("index").values_list("index", flat=True)) == [0, 1]
