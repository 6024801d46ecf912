from __future__ import annotations

import subprocess
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from chains import runner
from chains.models import Chain, ChainRun, OutputChunk
from observability.models import AuditEvent
from settings_ui.models import OperatorSettings
from tests.fixtures.processes import pid_alive


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.CHAIN_RUNNER_RETRY_DELAYS = (0, 0, 0)


def use_agent(args: str, backend: str = "command") -> None:
    cfg = OperatorSettings.load()
    cfg.agent_backend = backend
    cfg.agent_command = f"{{python}} {{fake_agent}} {args}"
    cfg.save()


def start(args: str, **fields) -> Chain:
    use_agent(args)
    fields.setdefault("task", "Build the thing")
    chain = Chain.create(**fields)
    runner.start_chain(chain)
    return chain


def drive(chain: Chain, limit: int = 40) -> Chain:
    for _ in range(limit):
        if not runner.run_session(chain.pk):
            break
    chain.refresh_from_db()
    return chain


def output(chain: Chain) -> str:
    return "".join(OutputChunk.objects.filter(chain=chain).order_by("id").values_list("text", flat=True))


def actions(chain: Chain) -> list[str]:
    return list(AuditEvent.objects.filter(target_id=str(chain.pk)).order_by("id").values_list("action", flat=True))


@pytest.mark.django_db
def test_it_runs_until_the_handoff_says_complete():
    chain = drive(start("complete --sessions 2 --cost 0.1"))
    assert chain.status == "complete"
    assert chain.session_count == 2
    assert chain.cost_usd == Decimal("0.2")
    s0, s1 = chain.sessions.order_by("index")
    assert s0.handoff.startswith("## HANDOFF\n") and s1.handoff.startswith("## HANDOFF: COMPLETE")
    assert s0.agent_session_id == "fake-0" and s1.turns == 3
    assert actions(chain) == ["chain.created", "chain.started", "session.recorded",
                              "session.recorded", "chain.completed"]
    assert AuditEvent.objects.get(action="chain.completed").data["status"] == "complete"
    assert chain.run.finished_at is not None and chain.run.claim == ""
    assert "Session 2: working on Build the thing" in output(chain)


@pytest.mark.django_db
def test_it_seeds_the_next_session_with_the_handoff(tmp_path):
    prompts_file = tmp_path / "prompts"
    chain = drive(start(f"complete --sessions 2 --prompt-file {prompts_file}", project_dir=str(tmp_path)))
    assert chain.status == "complete"
    first, second = prompts_file.read_text().split("\n=====\n")[:2]
    assert "# Task\nBuild the thing" in first and str(tmp_path) in first
    assert "Handoff from the previous session" not in first
    assert "Continue the task in session 2" in second
    assert "Do not redo work" in second


@pytest.mark.django_db
def test_it_assumes_complete_when_no_handoff_even_after_the_followup():
    chain = drive(start("nohandoff"))
    assert chain.status == "assumed-complete"
    assert chain.session_count == 1
    assert "no handoff found; asking for it" in output(chain)
    assert chain.sessions.get().cost_usd == Decimal("0.02")  # session + follow-up
    assert AuditEvent.objects.get(action="chain.completed").data["status"] == "assumed-complete"


@pytest.mark.django_db
def test_it_takes_the_handoff_from_the_followup_session():
    chain = drive(start("late-handoff"))
    assert chain.status == "complete"
    assert chain.sessions.get().handoff.startswith("## HANDOFF: COMPLETE")


@pytest.mark.django_db
def test_it_stops_at_max_continuations():
    chain = drive(start("continue", max_continuations=3))
    assert chain.status == "max-continuations"
    assert chain.session_count == 3


@pytest.mark.django_db
def test_it_continues_after_hitting_max_turns_without_a_followup():
    chain = drive(start("max-turns", max_continuations=2))
    assert chain.status == "max-continuations"
    assert all(s.hit_max_turns for s in chain.sessions.all())
    assert "follow-up" not in output(chain)


@pytest.mark.django_db
def test_it_retries_transient_errors_after_1_4_16_seconds(tmp_path, monkeypatch):
    waits = []
    monkeypatch.setattr(runner, "retry_delays", lambda: runner.RETRY_DELAYS)
    monkeypatch.setattr(runner.OutputWriter, "wait", lambda self, s: waits.append(s) or True)
    chain = drive(start(f"transient --failures 2 --state {tmp_path / 'n'}"))
    assert waits == [1, 4]
    assert chain.status == "complete"
    assert chain.session_count == 1 and chain.sessions.get().error == ""
    assert "429 rate limit exceeded" in output(chain)


@pytest.mark.django_db
def test_it_fails_after_three_sessions_in_a_row_fail(tmp_path, monkeypatch):
    waits = []
    monkeypatch.setattr(runner.OutputWriter, "wait", lambda self, s: waits.append(s) or True)
    chain = drive(start("crash"))
    assert chain.status == "failed"
    assert chain.session_count == 3 and chain.consecutive_errors == 3
    assert len(waits) == 9  # 3 retries per session
    s1 = chain.sessions.get(index=1)
    assert s1.status == "error" and "boom" in s1.error
    # the session after a crash is seeded with a synthetic handoff
    assert "Session 1 CRASHED" in chain.sessions.get(index=0).handoff
    assert "3 sessions in a row failed" in chain.run.last_error
    assert actions(chain)[-1] == "chain.failed"


@pytest.mark.django_db
def test_it_stops_at_a_fatal_error_without_retrying(monkeypatch):
    waits = []
    monkeypatch.setattr(runner.OutputWriter, "wait", lambda self, s: waits.append(s) or True)
    chain = drive(start("fatal"))
    assert chain.status == "failed" and waits == []
    assert chain.session_count == 1
    assert "authentication failed" in chain.run.last_error
    assert "authentication failed" in AuditEvent.objects.get(action="chain.failed").data["error"]


@pytest.mark.django_db
def test_it_fails_clearly_when_the_executable_is_missing():
    cfg = OperatorSettings.load()
    cfg.agent_backend, cfg.agent_command = "command", "/nonexistent/agent --go"
    cfg.save()
    chain = Chain.create(task="t")
    runner.start_chain(chain)
    chain = drive(chain)
    assert chain.status == "failed"
    assert chain.run.last_error == "executable not found: /nonexistent/agent"


@pytest.mark.django_db
def test_it_fails_clearly_when_claude_is_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    cfg = OperatorSettings.load()
    cfg.agent_backend, cfg.agent_command = "claude", ""
    cfg.save()
    chain = Chain.create(task="t")
    runner.start_chain(chain)
    chain = drive(chain)
    assert chain.status == "failed" and chain.run.last_error == "executable not found: claude"


@pytest.mark.django_db
def test_it_aborts_when_the_budget_is_spent(tmp_path):
    argv = tmp_path / "argv"
    chain = drive(start(f"continue --cost 0.6 --budget {{budget_usd}} --argv-file {argv}",
                        max_budget_usd=Decimal("1.00")))
    assert chain.status == "aborted"
    assert chain.session_count == 2
    assert chain.run.last_error.startswith("budget spent: $1.2000 of $1.00")
    budgets = [line.split("--budget")[1].split('"')[2] for line in argv.read_text().splitlines()]
    assert budgets == ["1.0000", "0.4000"]  # the remaining budget is passed to each session
    assert actions(chain)[-1] == "chain.aborted"


@pytest.mark.django_db
def test_it_does_not_start_a_session_over_budget():
    chain = start("continue", max_budget_usd=Decimal("1"))
    Chain.objects.filter(pk=chain.pk).update(cost_usd=Decimal("1"))
    chain = drive(chain)
    assert chain.status == "aborted" and chain.session_count == 0


@pytest.mark.django_db
def test_it_masks_secret_values_in_stored_output(monkeypatch):
    monkeypatch.setattr(runner, "resolve_secrets", lambda mapping: {"API_KEY": "sk-live-0123456789"})
    chain = drive(start("complete --echo-env API_KEY"))
    assert chain.status == "complete"
    text = output(chain)
    assert "API_KEY=••••••••" in text
    assert "sk-live-0123456789" not in text
    assert "sk-live-0123456789" not in chain.sessions.get().handoff


@pytest.mark.django_db
def test_it_fails_when_a_configured_secret_is_missing(monkeypatch):
    def missing(mapping):
        raise LookupError("secret not found: nope")

    monkeypatch.setattr(runner, "resolve_secrets", missing)
    chain = drive(start("complete"))
    assert chain.status == "failed" and chain.run.last_error == "secret not found: nope"


def test_it_parses_the_env_spec():
    assert runner.parse_env_spec("A=x, B = y,bad,=z") == {"A": "x", "B": "y"}


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "project"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-q",
                    "--allow-empty", "-m", "init"], cwd=path, check=True)
    return path


@pytest.mark.django_db
def test_it_commits_after_each_session_that_changed_files(repo):
    chain = drive(start("complete --sessions 2 --write notes.txt", project_dir=str(repo)))
    assert chain.status == "complete"
    log = subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True).stdout
    assert log.splitlines() == [
        "operator: chain 2 — Session 2 of the fake agent worked on the task and finished its step.",
        "operator: chain 1 — Session 1 of the fake agent worked on the task and finished its step.",
        "init",
    ]
    assert (repo / "notes.txt").read_text() == "session 1\nsession 2\n"
    assert "committed " in output(chain)


@pytest.mark.django_db
def test_it_does_not_commit_when_nothing_changed(repo):
    chain = drive(start("complete", project_dir=str(repo)))
    assert chain.status == "complete"
    log = subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True).stdout
    assert log.splitlines() == ["init"]


@pytest.mark.django_db
def test_it_claims_a_chain_only_once():
    chain = start("complete")
    claim = runner.claim_chain(chain.pk)
    assert claim
    assert runner.claim_chain(chain.pk) is None
    assert runner.run_session(chain.pk) is False  # another runner holds it
    chain.refresh_from_db()
    assert chain.session_count == 0


@pytest.mark.django_db
def test_it_does_not_run_an_unstarted_or_finished_chain():
    chain = Chain.create(task="t")
    assert runner.run_session(chain.pk) is False
    chain = drive(start("complete"))
    assert runner.run_session(chain.pk) is False


@pytest.mark.django_db
def test_the_sweep_resumes_only_silent_chains(settings):
    settings.CHAIN_RUNNER_STALE_SECONDS = 60
    chain = start("complete")
    claim = runner.claim_chain(chain.pk)
    assert runner.sweep() == 0  # fresh heartbeat
    ChainRun.objects.filter(pk=chain.pk).update(heartbeat_at=timezone.now() - timezone.timedelta(minutes=5))
    assert runner.sweep() == 1
    run = ChainRun.objects.get(pk=chain.pk)
    assert run.claim == "" and run.claim != claim
    assert drive(chain).status == "complete"
    ChainRun.objects.filter(pk=chain.pk).update(heartbeat_at=timezone.now() - timezone.timedelta(minutes=5))
    assert runner.sweep() == 0  # finished


@pytest.mark.django_db
def test_a_runner_that_lost_its_claim_stops(settings):
    chain = start("complete")
    claim = runner.claim_chain(chain.pk)
    writer = runner.OutputWriter(chain.pk, 0, claim)
    assert writer.should_abort() is False
    ChainRun.objects.filter(pk=chain.pk).update(claim="someone-else")
    writer.heartbeat(force=True)
    assert writer.should_abort() is True


@pytest.mark.django_db
def test_it_refuses_bad_starts(tmp_path):
    use_agent("complete")
    chain = Chain.create(task="t", project_dir=str(tmp_path / "missing"))
    with pytest.raises(runner.StartRefused) as e:
        runner.start_chain(chain)
    assert e.value.field == "project_dir"
    chain = Chain.create(task="t", max_budget_usd=Decimal("0"))
    with pytest.raises(runner.StartRefused) as e:
        runner.start_chain(chain)
    assert e.value.field == "max_budget_usd"
    chain = Chain.create(task="t")
    with pytest.raises(runner.StartRefused) as e:
        runner.start_chain(chain, backend="gpt")
    assert e.value.field == "agent_backend"
    assert not ChainRun.objects.exists()
    runner.start_chain(chain)
    with pytest.raises(runner.StartRefused) as e:
        runner.start_chain(chain)
    assert e.value.field is None and "already been started" in e.value.message
    done = Chain.create(task="t", status="complete")
    with pytest.raises(runner.StartRefused) as e:
        runner.start_chain(done)
    assert e.value.field is None and "complete" in e.value.message


@pytest.mark.django_db(transaction=True)
def test_it_stops_the_agent_process_on_abort(tmp_path):
    pidfile = tmp_path / "pid"
    chain = start(f"slow --interval 0.05 --pidfile {pidfile}")
    done = threading.Event()

    def work():
        try:
            runner.run_session(chain.pk)
        finally:
            connection.close()
            done.set()

    t = threading.Thread(target=work)
    t.start()
    for _ in range(400):
        if pidfile.exists() and OutputChunk.objects.filter(chain=chain, text__contains="working 3").exists():
            break
        done.wait(0.05)
    pid = int(pidfile.read_text())
    assert Chain.objects.get(pk=chain.pk).abort(actor="test")
    t.join(timeout=30)
    assert not t.is_alive()
    assert not pid_alive(pid)
    chain.refresh_from_db()
    assert chain.status == "aborted" and chain.session_count == 0
    assert ChainRun.objects.get(pk=chain.pk).finished_at is not None
    assert "[operator] aborted" in output(chain)


@pytest.mark.django_db
def test_it_puts_session_costs_on_the_global_ledger():
    from coordination.models import CoordinatorState

    drive(start("complete --sessions 2 --cost 0.25"))
    assert CoordinatorState.load().global_cost_usd == pytest.approx(0.5)


@pytest.mark.django_db
def test_it_does_not_start_a_session_over_the_global_budget():
    from coordination.models import CoordinatorState

    state = CoordinatorState.load()
    CoordinatorState.objects.filter(pk=state.pk).update(global_exceeded=True, global_cost_usd=60)
    chain = drive(start("complete"))
    assert chain.status == "aborted" and chain.session_count == 0
    assert chain.run.last_error.startswith("global budget exceeded")


@pytest.mark.django_db
def test_it_emits_budget_exceeded_when_sessions_spend_the_global_budget():
    cfg = OperatorSettings.load()
    cfg.coord_global_budget_usd = 1.0
    cfg.save()
    chain = drive(start("continue --cost 0.6", max_continuations=5, max_budget_usd=Decimal("10")))
    assert AuditEvent.objects.filter(action="budget.exceeded").exists()
    assert chain.status == "aborted" and chain.session_count == 2
    assert chain.run.last_error.startswith("global budget exceeded")


@pytest.mark.django_db
def test_it_waits_for_the_shared_rate_limiter(monkeypatch):
    from coordination.models import RateLimitState

    cfg = OperatorSettings.load()
    cfg.coord_max_requests_per_minute = 1
    cfg.save()
    assert RateLimitState.acquire()["granted"]  # the bucket is now empty
    waits = []

    def fake_wait(self, seconds):
        waits.append(seconds)
        RateLimitState.objects.update(requests=5)  # time passes, the bucket refills
        return True

    monkeypatch.setattr(runner.OutputWriter, "wait", fake_wait)
    chain = drive(start("complete"))
    assert chain.status == "complete"
    assert len(waits) == 1 and 0 < waits[0] <= 30
    assert "waiting for the shared rate limiter" in output(chain)


@pytest.mark.django_db
def test_a_429_feeds_the_adaptive_limiter(tmp_path):
    from coordination.models import RateLimitState

    chain = drive(start(f"transient --failures 3 --state {tmp_path / 'n'}"))
    assert chain.status == "complete"
    assert RateLimitState.peek()["adaptive_state"] == "backing-off"
    assert AuditEvent.objects.filter(action="rate.adjusted").exists()


def _secret_model():
    from django.apps import apps

    try:
        return apps.get_model("settings_ui", "Secret")
    except LookupError:
        return None


@pytest.mark.django_db
@pytest.mark.skipif(_secret_model() is None, reason="needs the secrets store (settings_ui.Secret)")
def test_it_hands_stored_secrets_to_the_agent_masked():
    _secret_model().put("anthropic_key", "sk-ant-stored-0123456789")
    cfg = OperatorSettings.load()
    cfg.agent_env = "API_KEY=anthropic_key"
    cfg.save()
    chain = drive(start("complete --echo-env API_KEY"))
    assert chain.status == "complete"
    assert "API_KEY=••••••••" in output(chain)
    assert "sk-ant-stored" not in output(chain)


@pytest.mark.django_db
def test_it_fails_clearly_when_secrets_are_configured_without_a_store_or_secret():
    cfg = OperatorSettings.load()
    cfg.agent_env = "API_KEY=no_such_secret"
    cfg.save()
    chain = drive(start("complete"))
    assert chain.status == "failed"
    assert chain.run.last_error in ("secret not found: no_such_secret",
                                    "agent secrets are configured but there is no secrets store")
