"""Celery tasks of the chain runner: one task per session, and the beat sweep."""

from __future__ import annotations

from celery import shared_task

from . import runner


@shared_task(ignore_result=True)
def run_chain_session(chain_id: str) -> bool:
    return runner.run_session(chain_id)


@shared_task(ignore_result=True)
def sweep_chain_runners() -> int:
    return runner.sweep()
