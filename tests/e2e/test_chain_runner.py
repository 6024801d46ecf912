"""Chromium: start a chain from its page, watch the agent's output arrive, abort it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chains.models import Chain, ChainRun
from settings_ui.models import OperatorSettings
from tests.fixtures.celery_worker import wait_for
from tests.fixtures.processes import pid_alive

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_start_watch_and_abort_a_chain(staff_page, celery_worker_process, tmp_path):
    pidfile = tmp_path / "agent.pid"
    cfg = OperatorSettings.load()
    cfg.agent_backend = "command"
    cfg.agent_command = f"{{python}} {{fake_agent}} slow --interval 0.2 --pidfile {pidfile}"
    cfg.save()
    chain = Chain.create(task="Write the release notes")
    celery_worker_process()

    page = staff_page
    page.goto(f"/chains/{chain.pk}/")
    page.once("dialog", lambda d: d.accept())
    page.click("#start-chain")
    expect(page.locator("#live-output")).to_contain_text("working 3", timeout=60_000)
    expect(page.locator("#run-stats")).to_contain_text("session time")
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text()))
    assert pid_alive(pid)

    page.once("dialog", lambda d: d.accept())
    page.click(".chain-actions button:has-text('Abort')")
    expect(page.locator("#chain-status")).to_have_text("Aborted")
    wait_for(lambda: ChainRun.objects.get(pk=chain.pk).finished_at is not None, timeout=30)
    assert not pid_alive(pid)
    expect(page.locator("#live-output")).to_contain_text("[operator] aborted", timeout=15_000)
