"""Agent backends: run one chain session as a child process and read its result.

Two backends share one process driver:
- `claude`: the Claude Code CLI in print mode (`-p --output-format stream-json`), the prompt on
  stdin; model, max turns and the remaining budget are passed as flags; cost, turns, tokens and
  the session id come from its final `result` event.
- `command`: any command template; the prompt on stdin, output on stdout, and an optional final
  JSON line `{"cost_usd", "turns", "input_tokens", "output_tokens"}` (also `session_id`,
  `hit_max_turns`, `error`).

No Django import: the runner passes settings, secrets and callbacks in. Output lines are masked
(secret values replaced) before anything sees them, so nothing stores a secret.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

BACKENDS = ("claude", "command")
TRANSIENT = "transient"
FATAL = "fatal"
MASK = "••••••••"
ABORT_GRACE_SECONDS = 5.0
STDERR_KEEP_CHARS = 4_000

MODEL_IDS = {
    "haiku": "claude-haiku-4-5-20251001",
    "sonnet": "claude-sonnet-4-5-20250929",
    "opus": "claude-opus-4-6",
}

# Checked before TRANSIENT: "invalid api key" must not become transient because of "key error".
_FATAL_PATTERNS = re.compile(
    r"authenticat|unauthori[sz]ed|\b401\b|\b403\b|forbidden|invalid[ _-]?api[ _-]?key|"
    r"api key (?:is )?(?:missing|not set)|billing|credit balance|quota exceeded|payment required|"
    r"invalid[ _-]model|unknown[ _-]model|model[ _-]not[ _-]found|not_found_error.*model|"
    r"executable not found|command not found|failed to spawn|"
    r"aborted by user|max[ _]budget|invalid_request",
    re.IGNORECASE,
)
_TRANSIENT_PATTERNS = re.compile(
    r"rate[ _-]?limit|\b429\b|overloaded|\b529\b|timed? ?out|timeout|econn\w*|connection|network|"
    r"\b50[0234]\b|bad gateway|service unavailable|gateway timeout|internal server error|"
    r"fetch failed|socket hang up|temporar|try again|exited with code [12]\b|server_error",
    re.IGNORECASE,
)


def classify_error(message: str) -> str:
    """`fatal` (retrying cannot help: auth, billing, bad model, missing executable) or
    `transient` (rate limits, overload, timeouts, connection errors, 5xx). Unknown errors are
    transient, as in the reference: a retry is cheap, a wrongly stopped chain is not."""
    if _FATAL_PATTERNS.search(message or ""):
        return FATAL
    return TRANSIENT


def is_rate_limit(message: str) -> bool:
    return bool(re.search(r"rate[ _-]?limit|\b429\b", message or "", re.IGNORECASE))


class Masker:
    """Replaces secret values in text. Values shorter than 4 characters are not masked (they
    would mangle ordinary output and are not secrets worth the name)."""

    def __init__(self, values: Iterable[str] = ()):
        self.values = sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for v in self.values:
            if v in text:
                text = text.replace(v, MASK)
        return text


@dataclass
class AgentRequest:
    prompt: str
    cwd: str | None = None
    model: str = "sonnet"
    max_turns: int = 30
    budget_usd: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # env vars whose values are masked
    followup: bool = False  # the short "write your handoff now" session: 2 turns, no tools
    timeout: float | None = None


@dataclass
class AgentResult:
    output: str = ""
    cost_usd: float = 0.0
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    session_id: str | None = None
    hit_max_turns: bool = False
    error: str | None = None
    error_kind: str | None = None  # transient | fatal
    aborted: bool = False
    exit_code: int | None = None

    def fail(self, message: str, kind: str | None = None) -> AgentResult:
        self.error = message
        self.error_kind = kind or classify_error(message)
        return self


OutputCallback = Callable[[str], None]
AbortCheck = Callable[[], bool]

_BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "USER", "LOGNAME", "SHELL", "TMPDIR", "TERM", "TZ")


def agent_env(extra: dict[str, str]) -> dict[str, str]:
    """The child's environment: a small allow-list of the worker's variables (never its
    DATABASE_URL or SECRET_KEY) plus the chain's variables and secrets."""
    env = {k: os.environ[k] for k in _BASE_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class ProcessOutcome:
    returncode: int | None
    stderr: str
    aborted: bool = False
    timed_out: bool = False


class SpawnError(Exception):
    """The executable could not be started (missing, not executable): a fatal error."""


def _load_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the worker that started us dies (Linux), so a
    killed worker leaves no orphan agent working on the project behind the resumed chain.
    prctl is looked up in the parent: the child only makes the call."""
    _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process group, then SIGKILL after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_process(
    argv: list[str],
    *,
    stdin_text: str,
    cwd: str | None,
    env: dict[str, str],
    on_line: Callable[[str], None],
    should_abort: AbortCheck = lambda: False,
    grace: float = ABORT_GRACE_SECONDS,
    timeout: float | None = None,
    abort_poll: float = 0.5,
) -> ProcessOutcome:
    """Run argv with stdin_text on stdin, calling on_line(line) for each stdout line as it arrives.

    should_abort() is polled about every `abort_poll` seconds (it may read the database); when
    it returns True, or `timeout` passes, the process group gets SIGTERM, then SIGKILL after
    `grace` seconds. Raises SpawnError when the executable cannot be started.
    """
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd or None, env=env, start_new_session=True,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
            text=True, encoding="utf-8", errors="replace", bufsize=1,
        )
    except FileNotFoundError as e:
        missing = e.filename if e.filename else argv[0]
        if cwd and not Path(cwd).is_dir():
            raise SpawnError(f"project directory not found: {cwd}") from e
        raise SpawnError(f"executable not found: {missing}") from e
    except (PermissionError, OSError) as e:
        raise SpawnError(f"failed to spawn {argv[0]}: {e}") from e

    lines: queue.Queue[str | None] = queue.Queue()
    stderr_parts: list[str] = []

    def feed() -> None:
        try:
            proc.stdin.write(stdin_text)
            proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the agent exited or does not read stdin

    def read_stdout() -> None:
        for line in proc.stdout:
            lines.put(line.rstrip("\r\n"))
        lines.put(None)

    def read_stderr() -> None:
        size = 0
        for line in proc.stderr:
            stderr_parts.append(line)
            size += len(line)
            while size > STDERR_KEEP_CHARS * 2 and len(stderr_parts) > 1:
                size -= len(stderr_parts.pop(0))

    threads = [threading.Thread(target=t, daemon=True) for t in (feed, read_stdout, read_stderr)]
    for t in threads:
        t.start()

    started = time.monotonic()
    next_check = started + abort_poll
    aborted = timed_out = False
    while True:
        try:
            line = lines.get(timeout=min(abort_poll, 0.2))
        except queue.Empty:
            line = ""
        else:
            if line is None:
                break
            on_line(line)
        now = time.monotonic()
        if now >= next_check:
            next_check = now + abort_poll
            if should_abort():
                aborted = True
            elif timeout is not None and now - started > timeout:
                timed_out = True
            if aborted or timed_out:
                _stop(proc, grace)
                # drain what the process wrote before it died
                while True:
                    try:
                        rest = lines.get(timeout=1.0)
                    except queue.Empty:
                        break
                    if rest is None:
                        break
                    on_line(rest)
                break
    try:
        proc.wait(timeout=grace + 5)
    except subprocess.TimeoutExpired:
        _stop(proc, 0)
    threads[2].join(timeout=1)
    stderr = "".join(stderr_parts)[-STDERR_KEEP_CHARS:]
    return ProcessOutcome(proc.returncode, stderr, aborted, timed_out)


class Backend:
    name = ""

    def argv(self, req: AgentRequest) -> list[str]:
        raise NotImplementedError

    def handle_line(self, line: str, result: AgentResult, emit: OutputCallback) -> None:
        emit(line)

    def finish(self, result: AgentResult, emit: OutputCallback) -> None:
        pass

    def run(
        self,
        req: AgentRequest,
        *,
        on_output: OutputCallback = lambda line: None,
        should_abort: AbortCheck = lambda: False,
        grace: float = ABORT_GRACE_SECONDS,
    ) -> AgentResult:
        """Run one session. Never raises for agent failures: they come back as result.error."""
        mask = Masker(req.secrets.values())
        result = AgentResult()
        out: list[str] = []

        def emit(line: str) -> None:
            line = mask(line)
            out.append(line)
            on_output(line)

        try:
            argv = self.argv(req)
        except ValueError as e:
            return result.fail(str(e), FATAL)
        env = agent_env({**req.env, **req.secrets})
        try:
            outcome = run_process(
                argv, stdin_text=req.prompt, cwd=req.cwd, env=env,
                on_line=lambda line: self.handle_line(line, result, emit),
                should_abort=should_abort, grace=grace, timeout=req.timeout,
            )
        except SpawnError as e:
            result.output = ""
            return result.fail(mask(str(e)), FATAL)
        self.finish(result, emit)
        result.output = "\n".join(out)
        result.exit_code = outcome.returncode
        if outcome.aborted:
            result.aborted = True
            return result.fail("aborted by user", FATAL)
        if outcome.timed_out:
            return result.fail(f"session timed out after {req.timeout:.0f} s", TRANSIENT)
        if result.error:
            return result
        if outcome.returncode not in (0, None):
            detail = mask(outcome.stderr.strip().splitlines()[-1]) if outcome.stderr.strip() else ""
            msg = f"{self.name} agent exited with code {outcome.returncode}" + (f": {detail}" if detail else "")
            kind = classify_error(msg)
            return result.fail(msg, kind)
        return result


_PLACEHOLDER = re.compile(r"\{(model|model_id|max_turns|budget_usd|project_dir|python|fake_agent|followup)\}")
FAKE_AGENT = str(Path(__file__).with_name("fake_agent.py"))


class CommandBackend(Backend):
    """Any command: prompt on stdin, output on stdout, optional final JSON metrics line.

    The template is split like a shell would (no shell runs it) and `{model}`, `{model_id}`,
    `{max_turns}`, `{budget_usd}`, `{project_dir}`, `{followup}` (0/1), `{python}` (this
    interpreter) and `{fake_agent}` (the bundled fake agent script) are substituted per argument.
    """

    name = "command"
    METRIC_KEYS = {"cost_usd", "turns", "input_tokens", "output_tokens"}

    def __init__(self, template: str):
        self.template = (template or "").strip()

    def argv(self, req: AgentRequest) -> list[str]:
        if not self.template:
            raise ValueError("agent_command is empty: set the command template in settings")
        try:
            parts = shlex.split(self.template)
        except ValueError as e:
            raise ValueError(f"agent_command cannot be parsed: {e}") from e
        values = {
            "model": req.model,
            "model_id": MODEL_IDS.get(req.model, req.model),
            "max_turns": str(req.max_turns),
            "budget_usd": "" if req.budget_usd is None else f"{req.budget_usd:.4f}",
            "project_dir": req.cwd or "",
            "python": sys.executable,
            "fake_agent": FAKE_AGENT,
            "followup": "1" if req.followup else "0",
        }
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], p) for p in parts]

    def run(self, req, **kw):
        self._pending: str | None = None
        return super().run(req, **kw)

    def handle_line(self, line: str, result: AgentResult, emit: OutputCallback) -> None:
        # Hold back one JSON-looking line: if it turns out to be the last, it is the metrics line.
        if self._pending is not None:
            emit(self._pending)
            self._pending = None
        if line.lstrip().startswith("{"):
            self._pending = line
        else:
            emit(line)

    def finish(self, result: AgentResult, emit: OutputCallback) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            data = json.loads(pending)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not (self.METRIC_KEYS | {"error", "hit_max_turns"}) & data.keys():
            emit(pending)
            return
        try:
            result.cost_usd = max(0.0, float(data.get("cost_usd") or 0))
            result.turns = max(0, int(data.get("turns") or 0))
            result.input_tokens = max(0, int(data.get("input_tokens") or 0))
            result.output_tokens = max(0, int(data.get("output_tokens") or 0))
        except (TypeError, ValueError):
            logger.warning("agent metrics line has non-numeric values: %r", pending[:200])
        result.session_id = str(data["session_id"]) if data.get("session_id") else None
        result.hit_max_turns = bool(data.get("hit_max_turns"))
        if data.get("error"):
            result.fail(str(data["error"]), data.get("error_kind") if data.get("error_kind") in (TRANSIENT, FATAL) else None)


class ClaudeBackend(Backend):
    """The Claude Code CLI in print mode, streaming JSON events (one per line)."""

    name = "claude"
    # Unattended sessions cannot answer permission prompts.
    EXTRA_ARGS = ("--permission-mode", "bypassPermissions")
    FOLLOWUP_DISALLOWED = "Bash Edit Write MultiEdit NotebookEdit WebFetch WebSearch Task"

    def __init__(self, executable: str = ""):
        self.executable = (executable or "").strip() or "claude"

    def argv(self, req: AgentRequest) -> list[str]:
        argv = [*shlex.split(self.executable), "-p", "--output-format", "stream-json", "--verbose"]
        argv += ["--model", MODEL_IDS.get(req.model, req.model)]
        argv += ["--max-turns", str(2 if req.followup else req.max_turns)]
        if req.budget_usd is not None:
            argv += ["--max-budget-usd", f"{max(req.budget_usd, 0.0001):.4f}"]
        argv += list(self.EXTRA_ARGS)
        if req.followup:
            argv += ["--disallowedTools", self.FOLLOWUP_DISALLOWED]
        return argv

    def handle_line(self, line: str, result: AgentResult, emit: OutputCallback) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            if line.strip():
                emit(line)
            return
        kind = event.get("type")
        if kind == "assistant":
            for block in (event.get("message") or {}).get("content") or []:
                if block.get("type") == "text" and block.get("text"):
                    for text_line in block["text"].splitlines():
                        emit(text_line)
                elif block.get("type") == "tool_use":
                    emit(f"→ {block.get('name', 'tool')}")
            err = event.get("error")
            if err:
                self._in_band_error(str(err), result)
        elif kind == "result":
            self._read_result(event, result)

    def _in_band_error(self, err: str, result: AgentResult) -> None:
        fatal = {"authentication_failed", "billing_error", "invalid_request"}
        result.fail(f"agent error: {err}", FATAL if err in fatal else TRANSIENT)

    def _read_result(self, event: dict, result: AgentResult) -> None:
        usage = event.get("usage") or {}
        try:
            result.cost_usd = float(event.get("total_cost_usd") or event.get("cost_usd") or 0)
            result.turns = int(event.get("num_turns") or 0)
            result.input_tokens = int(usage.get("input_tokens") or 0)
            result.output_tokens = int(usage.get("output_tokens") or 0)
        except (TypeError, ValueError):
            pass
        result.session_id = event.get("session_id") or result.session_id
        subtype = event.get("subtype") or ""
        if subtype == "error_max_turns":
            result.hit_max_turns = True  # a continuation signal, not an error
        elif subtype == "error_during_execution":
            result.fail("agent error during execution", TRANSIENT)
        elif subtype in ("error_max_budget_usd", "error_max_structured_output_retries"):
            result.fail(f"agent stopped: {subtype}", FATAL)
        elif event.get("is_error"):
            result.fail(str(event.get("result") or "agent reported an error"))


def make_backend(name: str, command: str = "") -> Backend:
    """The backend for the settings `agent_backend` / `agent_command`; ValueError if unknown."""
    if name == "claude":
        return ClaudeBackend(command)
    if name == "command":
        return CommandBackend(command)
    raise ValueError(f"unknown agent backend {name!r} (expected one of: {', '.join(BACKENDS)})")
