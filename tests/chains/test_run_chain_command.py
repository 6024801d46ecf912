from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from chains.models import Chain
from settings_ui.models import OperatorSettings


def use_agent(args: str) -> None:
    cfg = OperatorSettings.load()
    cfg.agent_backend, cfg.agent_command = "command", f"{{python}} {{fake_agent}} {args}"
    cfg.save()


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_chain_here_and_follows_its_output(tmp_path):
    use_agent("complete --sessions 2")
    out = io.StringIO()
    call_command("run_chain", "Write docs", "--project", str(tmp_path), "--budget", "2",
                 "--here", "--follow", "--poll", "0.05", stdout=out)
    text = out.getvalue()
    chain = Chain.objects.get()
    assert chain.status == "complete" and chain.max_budget_usd == 2 and chain.project_dir == str(tmp_path)
    assert f"Chain {chain.pk} started (command backend)." in text
    assert "Session 1: working on Write docs" in text and "Session 2: working on" in text
    assert "## HANDOFF: COMPLETE" in text
    assert text.rstrip().endswith("complete — 2 sessions, 6 turns, $0.0200")


@pytest.mark.django_db(transaction=True)
def test_it_exits_with_an_error_when_the_chain_fails():
    use_agent("fatal")
    with pytest.raises(CommandError, match=r"failed — 1 sessions.*authentication failed"):
        call_command("run_chain", "t", "--here", stdout=io.StringIO())


@pytest.mark.django_db
def test_it_queues_the_chain_for_the_workers(monkeypatch, django_capture_on_commit_callbacks):
    from chains import tasks

    sent = []
    monkeypatch.setattr(tasks.run_chain_session, "delay", sent.append)
    use_agent("complete")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_chain", "t", stdout=io.StringIO())
    assert sent == [str(Chain.objects.get().pk)]


@pytest.mark.django_db
@pytest.mark.parametrize("args,message", [
    (["--project", "/nonexistent/dir"], "project_dir: Project directory"),
    (["--budget", "0"], "max_budget_usd: A chain with a budget of 0 cannot start"),
    (["--budget", "abc"], "--budget: not a number"),
    (["--backend", "gpt"], "agent_backend: Unknown agent backend"),
    (["--max-continuations", "50"], "--max-continuations: must be between 1 and 20"),
])
def test_it_refuses_bad_input_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_chain", "t", *args, stdout=io.StringIO())
    assert not Chain.objects.exists()
