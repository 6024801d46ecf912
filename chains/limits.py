"""The runner's seam to coordination: the shared rate limiter and the global cost budget.

chains may use coordination (DESIGN "which app may import which"); this is the one module that
does. Before each session the runner takes one request from the shared limiter (waiting while
it is empty) and refuses to start when the global budget is exceeded; after each session the
cost goes on the global ledger (which emits budget.warning/exceeded); a 429 from the agent
feeds the adaptive limiter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from coordination.models import CoordinatorState, RateLimitState, StateConflict
from settings_ui.models import OperatorSettings

logger = logging.getLogger(__name__)

ACTOR = "chain-runner"
ABORTED = "aborted"  # before_session's answer when the chain was aborted while waiting
MAX_WAIT_SECONDS = 30.0  # one wait step; the loop heartbeats and re-checks abort between steps


def before_session(chain, *, wait: Callable[[float], bool],
                   note: Callable[[str], None] = lambda text: None) -> str | None:
    """None when the session may run; ABORTED if aborted while waiting; else the reason the
    chain must stop (the global budget is spent)."""
    state = CoordinatorState.load()
    if state.global_exceeded:
        cfg = OperatorSettings.load()
        return (f"global budget exceeded: ${state.global_cost_usd:.2f} of "
                f"${cfg.coord_global_budget_usd:.2f}")
    noted = False
    while True:
        try:
            got = RateLimitState.acquire(tokens=0)
        except StateConflict:
            got = {"granted": False, "wait_ms": 1000}
        if got["granted"]:
            return None
        seconds = min(max(got["wait_ms"] / 1000, 0.05), MAX_WAIT_SECONDS)
        if not noted:
            note(f"waiting for the shared rate limiter ({seconds:.1f} s)")
            noted = True
        if not wait(seconds):
            return ABORTED


def after_session(chain, cost_usd: float, input_tokens: int, output_tokens: int) -> None:
    """Put the session's cost on the global ledger (budget events come from there)."""
    if cost_usd <= 0:
        return
    cfg = OperatorSettings.load()
    with transaction.atomic():
        pk = CoordinatorState.load().pk
        state = CoordinatorState.objects.select_for_update().get(pk=pk)
        state.global_cost_usd += cost_usd
        state.save(update_fields=("global_cost_usd",))
        CoordinatorState.check_budgets(cfg, workers=[], state=state)


def rate_limited(chain) -> None:
    """The agent hit a 429: tell the adaptive limiter (it backs off after repeated errors)."""
    try:
        RateLimitState.record_error(actor=ACTOR)
    except StateConflict:
        logger.warning("rate limiter too contended to record a 429 from chain %s", chain.pk)
