"""Chain runner: sessions/s with a no-op agent (`cat`) and the runner's overhead per session.

The no-op agent echoes the prompt, whose handoff template parses as a not-complete handoff, so
every chain runs max_continuations (20) sessions. Sessions run in-process (run_session, as a
worker would) without Celery dispatch; the shared rate limiter is bypassed for the main
measurement (its own per-session cost is measured separately). BENCH_FULL=1: 10 chains.
"""

from __future__ import annotations

import os
import subprocess
import time


def run():
    from chains import agents, limits, runner
    from chains.handoff import build_prompt
    from chains.models import Chain
    from coordination.models import RateLimitState
    from settings_ui.models import OperatorSettings

    full = os.environ.get("BENCH_FULL") == "1"
    n_chains = 10 if full else 3
    print(f"   size: {n_chains} chains × 20 sessions ({'full' if full else 'default'})", flush=True)

    cfg = OperatorSettings.load()
    saved = (cfg.agent_backend, cfg.agent_command, cfg.coord_max_requests_per_minute)
    cfg.agent_backend, cfg.agent_command = "command", "cat"
    cfg.save()

    # Bare agent cost: spawn `cat` with a session prompt, nothing else.
    prompt = build_prompt("Benchmark task", session_index=3, previous_handoff="## HANDOFF\nx")
    n_bare = 100
    t0 = time.perf_counter()
    for _ in range(n_bare):
        subprocess.run(["cat"], input=prompt, capture_output=True, text=True, check=True)
    bare_ms = (time.perf_counter() - t0) / n_bare * 1000

    agent_time = 0.0
    original_run = agents.Backend.run

    def timed_run(self, *a, **kw):
        nonlocal agent_time
        started = time.perf_counter()
        try:
            return original_run(self, *a, **kw)
        finally:
            agent_time += time.perf_counter() - started

    original_before = limits.before_session
    agents.Backend.run = timed_run
    limits.before_session = lambda chain, **kw: None
    chains = []
    try:
        for i in range(n_chains):
            chain = Chain.create(task=f"bench chain {i}", max_continuations=20,
                                 max_budget_usd=100)
            runner.start_chain(chain, enqueue=False)
            chains.append(chain)
        started = time.perf_counter()
        sessions = 0
        for chain in chains:
            while runner.run_session(chain.pk):
                sessions += 1
        wall = time.perf_counter() - started
    finally:
        agents.Backend.run = original_run
        limits.before_session = original_before

    statuses = {c.status for c in Chain.objects.filter(pk__in=[c.pk for c in chains])}
    n_sessions = sum(Chain.objects.filter(pk__in=[c.pk for c in chains]).values_list("session_count", flat=True))
    per_session_ms = wall / n_sessions * 1000
    overhead_ms = (wall - agent_time) / n_sessions * 1000
    agent_ms = agent_time / n_sessions * 1000

    cfg.coord_max_requests_per_minute = 1000
    cfg.save()
    RateLimitState.objects.all().delete()
    t0 = time.perf_counter()
    for _ in range(200):
        RateLimitState.acquire(tokens=0)
    acquire_ms = (time.perf_counter() - t0) / 200 * 1000

    cfg.agent_backend, cfg.agent_command, cfg.coord_max_requests_per_minute = saved
    cfg.save()
    Chain.objects.filter(pk__in=[c.pk for c in chains]).delete()
    return [
        ("sessions/s (no-op agent)", n_sessions / wall, "sessions/s",
         f"{n_sessions} sessions (runs {sessions} claims), end status {'/'.join(sorted(statuses))}"),
        ("wall time per session", per_session_ms, "ms", f"bare `cat` spawn {bare_ms:.1f} ms"),
        ("agent time per session", agent_ms, "ms", "process spawn + stream + parse"),
        ("runner overhead per session", overhead_ms, "ms",
         f"{overhead_ms / per_session_ms:.0%} of session wall time (DB claim, record, events, chunks)"),
        ("rate-limiter acquire", acquire_ms, "ms", "added per session when limits apply"),
    ]
