"""The runner's seam to coordination: shared rate limiter and cost budgets.

chains may use coordination (DESIGN "which app may import which"); this module is the one place
that does, so the runner works (without limits) when coordination has no limiter yet.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def before_session(chain) -> str | None:
    """Wait for the shared rate limiter and check the budgets; a reason when the session may not
    run (the chain is then aborted with it), else None."""
    return None


def after_session(chain, cost_usd: float, tokens: int) -> None:
    """Record the session's cost and tokens with the shared cost aggregator."""


def rate_limited(chain) -> None:
    """Tell the adaptive rate limiter that the agent hit a 429."""
