from __future__ import annotations

import json
import sys
import threading

import pytest

from chains import agents
from chains.agents import AgentRequest, ClaudeBackend, CommandBackend, classify_error, make_backend
from chains.handoff import build_prompt, followup_prompt, parse_handoff
from tests.fixtures.processes import pid_alive

FAKE = agents.FAKE_AGENT


def cmd(*args: str) -> CommandBackend:
    return CommandBackend(" ".join([sys.executable, FAKE, *args]))


def req(session: int = 0, **kw) -> AgentRequest:
    kw.setdefault("env", {"OPERATOR_SESSION_INDEX": str(session)})
    return AgentRequest(prompt=build_prompt("Do the thing", session_index=session), **kw)


@pytest.mark.parametrize("message", [
    "API Error: 429 Too Many Requests", "rate limit exceeded", "Overloaded", "Request timed out",
    "ECONNRESET", "connection refused", "HTTP 502 Bad Gateway", "503 Service Unavailable",
    "fetch failed", "exited with code 1", "something nobody has seen before",
])
def test_it_classifies_transient_errors(message):
    assert classify_error(message) == "transient"


@pytest.mark.parametrize("message", [
    "authentication failed", "Invalid API key", "401 Unauthorized", "billing: credit balance too low",
    "quota exceeded", "invalid model: claude-9", "unknown model", "executable not found: claude",
    "failed to spawn agent", "aborted by user",
])
def test_it_classifies_fatal_errors(message):
    assert classify_error(message) == "fatal"


def test_it_streams_output_and_reads_the_metrics_line():
    lines = []
    r = cmd("complete", "--sessions", "2", "--cost", "0.25", "--turns", "7").run(req(0), on_output=lines.append)
    assert r.error is None
    assert r.cost_usd == 0.25 and r.turns == 7
    assert r.input_tokens == 1000 and r.output_tokens == 200
    assert r.session_id == "fake-0"
    assert lines[0].startswith("Session 1: working on")
    assert not any(line.startswith("{") for line in lines)  # the metrics line is not output
    h = parse_handoff(r.output)
    assert h is not None and not h.complete


def test_it_passes_the_session_index_and_completes_at_the_last_session():
    r = cmd("complete", "--sessions", "2").run(req(1))
    assert parse_handoff(r.output).complete


def test_it_keeps_a_json_line_that_is_not_last():
    backend = CommandBackend(f"{sys.executable} -c \"print('{{\\\"a\\\": 1}}'); print('done')\"")
    r = backend.run(req())
    assert r.output == '{"a": 1}\ndone'
    assert r.cost_usd == 0


def test_it_substitutes_placeholders(tmp_path):
    argv_file = tmp_path / "argv"
    backend = CommandBackend(f"{{python}} {{fake_agent}} noop --argv-file {argv_file} --m {{model}} "
                             f"--t {{max_turns}} --b {{budget_usd}} --f {{followup}}")
    r = backend.run(req(model="opus", max_turns=9, budget_usd=1.5, followup=True))
    assert r.error is None
    argv = json.loads(argv_file.read_text())
    assert argv[-8:] == ["--m", "opus", "--t", "9", "--b", "1.5000", "--f", "1"]


def test_it_runs_in_the_project_directory(tmp_path):
    r = cmd("complete", "--write", "out.txt").run(req(cwd=str(tmp_path)))
    assert r.error is None
    assert (tmp_path / "out.txt").read_text() == "session 1\n"


def test_it_reports_a_crash_as_transient():
    r = cmd("crash").run(req())
    assert r.error_kind == "transient"
    assert "exited with code 1" in r.error and "boom" in r.error
    assert "starting work..." in r.output


def test_it_reports_auth_failure_as_fatal():
    r = cmd("fatal").run(req())
    assert r.error_kind == "fatal"
    assert "authentication failed" in r.error


def test_it_reports_a_rate_limit_as_transient(tmp_path):
    backend = cmd("transient", "--state", str(tmp_path / "n"))
    first = backend.run(req())
    assert first.error_kind == "transient" and agents.is_rate_limit(first.error)
    second = backend.run(req())
    assert second.error is None and parse_handoff(second.output).complete


def test_it_reports_a_missing_executable_as_fatal_without_hanging():
    r = CommandBackend("/nonexistent/agent-binary --x").run(req())
    assert r.error_kind == "fatal"
    assert r.error == "executable not found: /nonexistent/agent-binary"


def test_it_reports_a_missing_project_directory():
    r = cmd("noop").run(req(cwd="/nonexistent/project"))
    assert r.error_kind == "fatal" and "project directory not found" in r.error


def test_it_rejects_an_empty_or_broken_template():
    assert CommandBackend("").run(req()).error_kind == "fatal"
    assert "cannot be parsed" in CommandBackend("agent 'unclosed").run(req()).error


def test_it_masks_secrets_in_output():
    lines = []
    backend = cmd("complete", "--echo-env", "API_KEY")
    r = backend.run(req(secrets={"API_KEY": "sk-very-secret-123"}), on_output=lines.append)
    assert "sk-very-secret-123" not in r.output
    assert "API_KEY=••••••••" in r.output
    assert "API_KEY=••••••••" in lines


def test_it_passes_env_but_not_the_workers_secrets(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/x")
    r = cmd("complete", "--echo-env", "DATABASE_URL").run(req())
    assert "DATABASE_URL=" in r.output.splitlines()
    r = cmd("complete", "--echo-env", "GREETING").run(req(env={"GREETING": "hello"}))
    assert "GREETING=hello" in r.output


def test_it_masks_short_values_only_when_long_enough():
    m = agents.Masker(["abc", "abcdef"])
    assert m("abc abcdef") == "abc ••••••••"


def test_it_reads_hit_max_turns():
    r = cmd("max-turns").run(req())
    assert r.hit_max_turns and r.error is None and parse_handoff(r.output) is None


@pytest.mark.parametrize("ignore_term", [False, True])
def test_it_stops_the_process_on_abort(tmp_path, ignore_term):
    pidfile = tmp_path / "pid"
    lines = []
    flag = threading.Event()

    def on_output(line):
        lines.append(line)
        if len(lines) >= 3:
            flag.set()

    args = ["slow", "--interval", "0.05", "--pidfile", str(pidfile)]
    if ignore_term:
        args.append("--ignore-term")
    r = cmd(*args).run(req(), on_output=on_output, should_abort=flag.is_set, grace=0.5)
    assert r.aborted and r.error == "aborted by user" and r.error_kind == "fatal"
    assert len(lines) >= 3 and len(lines) < 1000
    assert not pid_alive(int(pidfile.read_text()))


def test_it_times_out_a_session():
    r = cmd("slow", "--interval", "0.05").run(req(timeout=0.3), grace=0.5)
    assert r.error_kind == "transient" and "timed out" in r.error


def test_it_runs_the_claude_backend(tmp_path):
    argv_file = tmp_path / "argv"
    backend = ClaudeBackend(f"{sys.executable} {FAKE} --claude complete --cost 0.5 --turns 4 --argv-file {argv_file}")
    lines = []
    r = backend.run(req(model="haiku", max_turns=12, budget_usd=2.25), on_output=lines.append)
    assert r.error is None
    assert r.cost_usd == 0.5 and r.turns == 4 and r.input_tokens == 1000 and r.output_tokens == 200
    assert r.session_id.startswith("fake-0-")
    assert "→ Read" in lines
    assert parse_handoff(r.output).complete
    argv = json.loads(argv_file.read_text())
    for flag in (["-p"], ["--output-format", "stream-json"], ["--model", "claude-haiku-4-5-20251001"],
                 ["--max-turns", "12"], ["--max-budget-usd", "2.2500"]):
        i = argv.index(flag[0])
        assert argv[i:i + len(flag)] == flag


def test_it_runs_the_claude_followup_with_two_turns_and_no_tools(tmp_path):
    argv_file = tmp_path / "argv"
    backend = ClaudeBackend(f"{sys.executable} {FAKE} --claude late-handoff --argv-file {argv_file}")
    r = backend.run(AgentRequest(prompt=followup_prompt("t", "out"), followup=True, max_turns=30))
    assert parse_handoff(r.output).complete
    argv = json.loads(argv_file.read_text())
    assert argv[argv.index("--max-turns") + 1] == "2"
    assert "--disallowedTools" in argv


def test_it_reads_claude_errors():
    r = ClaudeBackend(f"{sys.executable} {FAKE} --claude fatal").run(req())
    assert r.error_kind == "fatal" and "Invalid API key" in r.error
    r = ClaudeBackend(f"{sys.executable} {FAKE} --claude max-turns").run(req())
    assert r.hit_max_turns and r.error is None


def test_it_reads_claude_in_band_result_subtypes():
    b = ClaudeBackend()
    for subtype, kind in [("error_during_execution", "transient"), ("error_max_budget_usd", "fatal")]:
        result = agents.AgentResult()
        b.handle_line(json.dumps({"type": "result", "subtype": subtype}), result, lambda line: None)
        assert result.error_kind == kind
    result = agents.AgentResult()
    b.handle_line(json.dumps({"type": "assistant", "error": "rate_limit", "message": {"content": []}}),
                  result, lambda line: None)
    assert result.error_kind == "transient"


def test_it_reports_a_missing_claude_executable():
    r = ClaudeBackend("/nonexistent/claude").run(req())
    assert r.error == "executable not found: /nonexistent/claude" and r.error_kind == "fatal"


def test_it_makes_backends_by_name():
    assert isinstance(make_backend("claude", ""), ClaudeBackend)
    assert isinstance(make_backend("command", "x"), CommandBackend)
    with pytest.raises(ValueError, match="unknown agent backend"):
        make_backend("gpt", "")


def test_the_agent_dies_with_the_worker_that_started_it(tmp_path):
    import subprocess
    import time
    from pathlib import Path

    pidfile = tmp_path / "pid"
    script = (
        "from chains.agents import CommandBackend, AgentRequest\n"
        f"CommandBackend({sys.executable!r} + ' ' + {FAKE!r} + ' slow --interval 0.05 --pidfile {pidfile}')"
        ".run(AgentRequest(prompt='x'))\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=Path(agents.__file__).parent.parent)
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    worker.kill()
    worker.wait()
    for _ in range(200):
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    assert not pid_alive(pid)
