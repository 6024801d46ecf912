"""The chain runner: start a chain, run one session per Celery task, resume silent chains.

The database is the truth (DESIGN "work that must not be lost"): Chain.session_count says which
session is next, ChainRun.claim says who runs it now, ChainRun.heartbeat_at says the runner is
alive. A session task claims the chain with a conditional UPDATE (so a chain never runs twice at
once), runs the agent, records the session, decides the end status or releases the claim and
queues the next session. A worker killed mid-chain loses at most the session in flight: the beat
sweep finds the silent chain and queues it again.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from observability.events import emit
from settings_ui.models import OperatorSettings

from . import agents, limits
from .agents import AgentRequest, AgentResult
from .git import commit_message, commit_session
from .handoff import (
    build_prompt,
    commit_summary,
    crash_handoff,
    followup_prompt,
    output_handoff,
    parse_handoff,
    validate_handoff,
)
from .models import Chain, ChainRun, OutputChunk

logger = logging.getLogger(__name__)

ACTOR = "chain-runner"
RETRY_DELAYS = (1, 4, 16)  # seconds before retries 1..3 of a transient error (reference §2.3)
MAX_CONSECUTIVE_ERRORS = 3
FLUSH_SECONDS = 0.5
FLUSH_CHARS = 8_000
HEARTBEAT_SECONDS = 5
MAX_OUTPUT_CHARS = 2_000_000  # per session; beyond it the output is cut (the handoff still parses)


def stale_seconds() -> float:
    return float(getattr(settings, "CHAIN_RUNNER_STALE_SECONDS", 60))


def session_timeout() -> float | None:
    value = float(getattr(settings, "CHAIN_SESSION_TIMEOUT_SECONDS", 0) or 0)
    return value or None


def retry_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "CHAIN_RUNNER_RETRY_DELAYS", RETRY_DELAYS))


# --- starting -------------------------------------------------------------------------------


class StartRefused(Exception):
    """Bad input (`field` set → 400 {field: [message]}) or a state conflict (field None → 409)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
        self.message = message


def parse_env_spec(text: str) -> dict[str, str]:
    """"VAR=secret_name, VAR2=other" → {VAR: secret_name}."""
    out = {}
    for part in (text or "").split(","):
        if "=" in part:
            var, name = (s.strip() for s in part.split("=", 1))
            if var and name:
                out[var] = name
    return out


def check_start_input(*, project_dir: str, max_budget_usd, backend: str | None) -> str:
    """Validate what a start needs; returns the backend to use. Raises StartRefused (400)."""
    backend = backend or OperatorSettings.load().agent_backend
    if backend not in agents.BACKENDS:
        raise StartRefused(
            f"Unknown agent backend {backend!r}; expected one of {', '.join(agents.BACKENDS)}.",
            "agent_backend",
        )
    if project_dir and not os.path.isdir(project_dir):
        raise StartRefused(f"Project directory {project_dir!r} does not exist.", "project_dir")
    if max_budget_usd is not None and Decimal(str(max_budget_usd)) <= 0:
        raise StartRefused("A chain with a budget of 0 cannot start.", "max_budget_usd")
    return backend


def start_chain(chain: Chain, *, actor=None, backend: str | None = None, env: dict | None = None,
                enqueue: bool = True) -> ChainRun:
    """Start running `chain` on the workers. Raises StartRefused (400 input / 409 state).

    enqueue=False leaves the sessions to the caller (`run_chain --here`) or to the sweep."""
    backend = check_start_input(
        project_dir=chain.project_dir, max_budget_usd=chain.max_budget_usd, backend=backend
    )
    cfg = OperatorSettings.load()
    now = timezone.now()
    with transaction.atomic():
        locked = Chain.objects.select_for_update().get(pk=chain.pk)
        if locked.status != Chain.Status.RUNNING:
            raise StartRefused(
                f"Chain is {locked.status}; only a chain that has not finished can start "
                f"(restart it to run the task again)."
            )
        run, created = ChainRun.objects.get_or_create(
            chain=locked,
            defaults={"backend": backend, "command": cfg.agent_command, "env": env or {},
                      "heartbeat_at": now, "started_at": now},
        )
        if not created:
            raise StartRefused("Chain has already been started.")
        emit("chain.started", actor=actor, target=locked,
             data={"backend": backend, "task": locked.task[:200], "project_dir": locked.project_dir})
        if enqueue:
            _enqueue_on_commit(chain.pk)
    return run


def _enqueue_on_commit(chain_id) -> None:
    from .tasks import run_chain_session

    transaction.on_commit(lambda: run_chain_session.delay(str(chain_id)))


# --- one session ----------------------------------------------------------------------------


class OutputWriter:
    """Buffers a session's output lines into OutputChunk rows and keeps the heartbeat fresh.

    Called from the thread that drives the agent process (run_process calls back there), so the
    database is only touched from one thread.
    """

    def __init__(self, chain_id, session_index: int, claim: str, clock=time.monotonic):
        self.chain_id, self.index, self.claim, self.clock = chain_id, session_index, claim, clock
        self.buf: list[str] = []
        self.size = 0
        self.stored = 0
        self.truncated = False
        self.lost = False
        self.last_flush = self.last_beat = clock()

    def line(self, text: str) -> None:
        if self.stored + self.size > MAX_OUTPUT_CHARS:
            if not self.truncated:
                self.truncated = True
                self.buf.append("[operator] output limit reached; further output is not stored")
                self.flush()
            return
        self.buf.append(text)
        self.size += len(text) + 1
        if self.size >= FLUSH_CHARS or self.clock() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def note(self, text: str) -> None:
        self.buf.append(f"[operator] {text}")
        self.flush()

    def flush(self) -> None:
        self.last_flush = self.clock()
        if self.buf:
            text = "\n".join(self.buf) + "\n"
            OutputChunk.objects.create(chain_id=self.chain_id, session_index=self.index, text=text)
            self.stored += len(text)
            self.buf, self.size = [], 0
        self.heartbeat()

    def heartbeat(self, force: bool = False) -> None:
        if not force and self.clock() - self.last_beat < HEARTBEAT_SECONDS:
            return
        self.last_beat = self.clock()
        n = ChainRun.objects.filter(pk=self.chain_id, claim=self.claim).update(
            heartbeat_at=timezone.now()
        )
        if not n:
            self.lost = True  # the sweep gave the chain to another runner: stop

    def should_abort(self) -> bool:
        if self.buf and self.clock() - self.last_flush >= FLUSH_SECONDS:
            self.flush()
        else:
            self.heartbeat()
        if self.lost:
            return True
        return not Chain.objects.filter(pk=self.chain_id, status=Chain.Status.RUNNING).exists()

    def wait(self, seconds: float, step: float = 0.25) -> bool:
        """Sleep up to `seconds`, staying responsive to abort; False if aborted meanwhile."""
        end = self.clock() + seconds
        while self.clock() < end:
            if self.should_abort():
                return False
            time.sleep(min(step, max(0.0, end - self.clock())))
        return not self.should_abort()


@dataclass
class Totals:
    cost_usd: float = 0.0
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, r: AgentResult) -> None:
        self.cost_usd += r.cost_usd
        self.turns += r.turns
        self.input_tokens += r.input_tokens
        self.output_tokens += r.output_tokens


def claim_chain(chain_id) -> str | None:
    """Take the chain for one session; the claim token, or None if someone else has it."""
    claim = uuid.uuid4().hex
    now = timezone.now()
    n = ChainRun.objects.filter(
        pk=chain_id, claim="", finished_at=None, chain__status=Chain.Status.RUNNING
    ).update(claim=claim, heartbeat_at=now, session_started_at=now, attempt=0)
    return claim if n == 1 else None


def run_session(chain_id) -> bool:
    """Run the next session of a chain if it can be claimed. Returns whether it did work.

    Never leaves a claim behind: the session either ends the chain, queues the next session,
    or (on an unexpected error) fails the chain with the reason.
    """
    claim = claim_chain(chain_id)
    if claim is None:
        return False
    chain = Chain.objects.get(pk=chain_id)
    try:
        _SessionRun(chain, chain.run, claim).execute()
    except Exception as e:  # a bug or a database outage: fail loudly instead of looping
        logger.exception("chain runner crashed on chain %s", chain_id)
        chain.refresh_from_db()
        _end(chain, claim, Chain.Status.FAILED, f"runner error: {type(e).__name__}: {e}")
    return True


def _end(chain: Chain, claim: str, status: str, error: str = "") -> None:
    """Finish the chain with `status` (emits its chain.* event) and close the run."""
    with transaction.atomic():
        if status == Chain.Status.ABORTED:
            moved = chain.abort(actor=ACTOR)
        else:
            moved = chain.finish(status, error=error, actor=ACTOR)
        if not moved:
            logger.info("chain %s was no longer running (now %s)", chain.pk, chain.status)
        ChainRun.objects.filter(pk=chain.pk, claim=claim).update(
            claim="", finished_at=timezone.now(), session_started_at=None, last_error=error
        )


def _release(chain: Chain, claim: str, *, queue_next: bool, error: str = "") -> None:
    with transaction.atomic():
        fields = {"claim": "", "heartbeat_at": timezone.now(), "session_started_at": None}
        if error:
            fields["last_error"] = error
        if not chain.is_running:
            fields["finished_at"] = timezone.now()
        n = ChainRun.objects.filter(pk=chain.pk, claim=claim).update(**fields)
        if n and queue_next:
            _enqueue_on_commit(chain.pk)


class _SessionRun:
    def __init__(self, chain: Chain, run: ChainRun, claim: str):
        self.chain, self.run, self.claim = chain, run, claim

    def execute(self) -> None:
        chain = self.chain
        # Guards before spending anything (reference §2.3 steps 1-2).
        if chain.consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
            return _end(chain, self.claim, Chain.Status.FAILED,
                        f"{chain.consecutive_errors} sessions in a row failed")
        if chain.session_count >= chain.max_continuations:
            return _end(chain, self.claim, Chain.Status.MAX_CONTINUATIONS)
        if chain.cost_usd >= chain.max_budget_usd:
            return self._budget_spent()
        cfg = OperatorSettings.load()
        index = chain.session_count
        writer = OutputWriter(chain.pk, index, self.claim)
        blocked = limits.before_session(chain, wait=writer.wait, note=writer.note)
        if blocked == limits.ABORTED:
            return self._aborted(writer)
        if blocked:
            writer.note(blocked)
            return _end(chain, self.claim, Chain.Status.ABORTED, blocked)
        try:
            secrets = resolve_secrets({**parse_env_spec(cfg.agent_env), **(self.run.env or {})})
        except LookupError as e:
            writer.note(str(e))
            return _end(chain, self.claim, Chain.Status.FAILED, str(e))
        previous = chain.sessions.order_by("-index").values_list("handoff", flat=True).first()
        project = chain.project_dir or None
        req = AgentRequest(
            prompt=build_prompt(chain.task, session_index=index, project_dir=project,
                                previous_handoff=previous or None),
            cwd=project, model=chain.model, max_turns=chain.max_turns,
            budget_usd=float(chain.max_budget_usd - chain.cost_usd),
            env={"OPERATOR_CHAIN_ID": str(chain.pk), "OPERATOR_SESSION_INDEX": str(index)},
            secrets=secrets, timeout=session_timeout(),
        )
        backend = agents.make_backend(self.run.backend, self.run.command)
        writer.note(f"session {index + 1} started ({self.run.backend} backend)")
        started = time.monotonic()
        totals = Totals()
        result = self._run_with_retries(backend, req, writer, totals)

        handoff = None
        if not result.aborted and result.error is None:
            handoff = parse_handoff(result.output)
            if handoff is None and not result.hit_max_turns:
                writer.note("no handoff found; asking for it in a short follow-up session")
                follow = backend.run(
                    AgentRequest(prompt=followup_prompt(chain.task, result.output), cwd=project,
                                 model=chain.model, max_turns=2, followup=True,
                                 budget_usd=max(req.budget_usd - totals.cost_usd, 0.01),
                                 env=req.env, secrets=secrets, timeout=session_timeout()),
                    on_output=writer.line, should_abort=writer.should_abort,
                )
                totals.add(follow)
                if follow.aborted:
                    result = follow
                elif follow.error is None:
                    handoff = parse_handoff(follow.output)
        writer.flush()
        if result.aborted:
            return self._aborted(writer)

        if result.error:
            handoff_text = crash_handoff(index, result.error, result.output)
        elif handoff is not None:
            handoff_text = handoff.raw
            for problem in validate_handoff(handoff):
                writer.note(f"handoff: {problem}")
        else:
            handoff_text = output_handoff(result.output)

        with transaction.atomic():
            if not ChainRun.objects.filter(pk=chain.pk, claim=self.claim).exists():
                return None  # the sweep handed the chain to another runner meanwhile
            session = chain.record_session(
                actor=ACTOR, agent_session_id=(result.session_id or "")[:200],
                turns=totals.turns, cost_usd=Decimal(str(round(totals.cost_usd, 6))),
                input_tokens=totals.input_tokens, output_tokens=totals.output_tokens,
                duration_ms=int((time.monotonic() - started) * 1000),
                hit_max_turns=result.hit_max_turns, handoff=handoff_text,
                error=result.error or "",
            )
        if session is None:  # aborted between the end of the agent and the record
            return self._aborted(writer)
        limits.after_session(chain, totals.cost_usd, totals.input_tokens, totals.output_tokens)
        self._commit(writer, index, handoff, cfg.auto_push)

        if result.error_kind == agents.FATAL:
            return _end(chain, self.claim, Chain.Status.FAILED, result.error)
        if chain.consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
            return _end(chain, self.claim, Chain.Status.FAILED,
                        f"{chain.consecutive_errors} sessions in a row failed; last: {result.error}")
        if handoff is not None and handoff.complete:
            return _end(chain, self.claim, Chain.Status.COMPLETE)
        if result.error is None and handoff is None and not result.hit_max_turns:
            return _end(chain, self.claim, Chain.Status.ASSUMED_COMPLETE)
        if chain.session_count >= chain.max_continuations:
            return _end(chain, self.claim, Chain.Status.MAX_CONTINUATIONS)
        if chain.cost_usd >= chain.max_budget_usd:
            return self._budget_spent()
        _release(chain, self.claim, queue_next=True, error=result.error or "")

    def _run_with_retries(self, backend, req: AgentRequest, writer: OutputWriter, totals: Totals) -> AgentResult:
        delays = retry_delays()
        attempt = 0
        while True:
            result = backend.run(req, on_output=writer.line, should_abort=writer.should_abort)
            totals.add(result)
            if result.aborted or result.error_kind != agents.TRANSIENT or attempt >= len(delays):
                return result
            if agents.is_rate_limit(result.error):
                limits.rate_limited(self.chain)
            delay = delays[attempt]
            attempt += 1
            ChainRun.objects.filter(pk=self.chain.pk, claim=self.claim).update(attempt=attempt)
            writer.note(f"{result.error} — retry {attempt}/{len(delays)} in {delay:g} s")
            if not writer.wait(delay):
                result.aborted = True
                return result
            req.budget_usd = max(float(self.chain.max_budget_usd - self.chain.cost_usd) - totals.cost_usd, 0.01)

    def _commit(self, writer: OutputWriter, index: int, handoff, push: bool) -> None:
        project = self.chain.project_dir
        if not project:
            return
        summary = commit_summary(handoff, f"session {index + 1}")
        out = commit_session(project, commit_message(index + 1, summary), push=push)
        if out.sha:
            writer.note(f"committed {out.sha[:10]}" + (" and pushed" if out.pushed else ""))
        if out.error:
            writer.note(f"git: {out.error}")

    def _aborted(self, writer: OutputWriter) -> None:
        self.chain.refresh_from_db()
        writer.note("aborted")
        self._commit(writer, self.chain.session_count, None, push=False)
        if self.chain.is_running:  # lost the claim to the sweep: leave the chain to the new runner
            return None
        ChainRun.objects.filter(pk=self.chain.pk, claim=self.claim).update(
            claim="", finished_at=timezone.now(), session_started_at=None, last_error="aborted"
        )
        return None

    def _budget_spent(self) -> None:
        c = self.chain
        return _end(c, self.claim, Chain.Status.ABORTED,
                    f"budget spent: ${c.cost_usd:.4f} of ${c.max_budget_usd:.2f}")


def resolve_secrets(mapping: dict[str, str]) -> dict[str, str]:
    """{ENV_VAR: secret_name} → {ENV_VAR: value} through the secrets store (settings_ui.Secret).

    Raises LookupError naming a secret that does not exist, or when there is no secrets store.
    """
    if not mapping:
        return {}
    from django.apps import apps

    try:
        Secret = apps.get_model("settings_ui", "Secret")
    except LookupError:
        raise LookupError("agent secrets are configured but there is no secrets store") from None
    found = {s.name: s for s in Secret.objects.filter(name__in=set(mapping.values()))}
    missing = sorted(set(mapping.values()) - set(found))
    if missing:
        raise LookupError(f"secret not found: {', '.join(missing)}")
    return {var: found[name].reveal(actor=ACTOR) for var, name in mapping.items()}


# --- the sweep ------------------------------------------------------------------------------


def sweep(now=None) -> int:
    """Queue again every running chain whose runner went silent. Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=stale_seconds())
    ids = list(
        ChainRun.objects.filter(
            finished_at=None, chain__status=Chain.Status.RUNNING, heartbeat_at__lt=cutoff
        ).values_list("chain_id", flat=True)[:500]
    )
    resumed = 0
    for chain_id in ids:
        with transaction.atomic():
            n = ChainRun.objects.filter(pk=chain_id, finished_at=None, heartbeat_at__lt=cutoff).update(
                claim="", heartbeat_at=now, session_started_at=None
            )
            if n:
                resumed += 1
                logger.warning("chain %s: runner silent since before %s; resuming", chain_id, cutoff)
                _enqueue_on_commit(chain_id)
    return resumed
