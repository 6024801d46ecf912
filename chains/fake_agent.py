#!/usr/bin/env python3
"""A fake coding agent that plays scripted chain sessions, for demos, tests and benchmarks.

Use it through the `command` backend, e.g. agent_command = `{python} {fake_agent} complete --sessions 2`.
It reads the prompt on stdin and writes output + a handoff on stdout, then a final JSON metrics
line. The session number comes from OPERATOR_SESSION_INDEX (0-based; set by the runner) or
from the prompt. Standard library only; no Django.

Scenarios:
  complete      handoff COMPLETE at session --sessions (default 1), a normal handoff before it
  continue      always a normal (not complete) handoff → the chain reaches max-continuations
  nohandoff     never writes a handoff, not even when asked again → assumed-complete
  late-handoff  writes no handoff, but the follow-up session writes `## HANDOFF: COMPLETE`
  max-turns     no handoff, reports hit_max_turns → the chain continues
  crash         prints a little, then exits 1 with a traceback (a transient error)
  transient     fails --failures times (default 1) with a 429 rate limit, then plays `complete`;
                needs --state FILE to count attempts across processes
  fatal         exits 1 with "authentication failed: invalid API key"
  slow          prints a line every --interval s for --lines lines (abort tests; --pidfile,
                --ignore-term to force the SIGKILL path)
  noop          immediately COMPLETE with zero cost (benchmarks)
Options: --cost USD per session, --turns N, --write FILE (create/append a file in the cwd),
--echo-env NAME (print that variable), --sleep S (take S seconds), --claude (speak Claude Code's stream-json instead),
--argv-file FILE / --prompt-file FILE (record argv / prompts, for tests).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

FOLLOWUP_MARKER = "without a handoff section"


def handoff(complete: bool, session: int, task: str) -> str:
    head = "## HANDOFF: COMPLETE" if complete else "## HANDOFF"
    remaining = "" if complete else f"Continue the task in session {session + 2}: {task[:60]}"
    return (
        f"{head}\n"
        f"**Accomplished:** Session {session + 1} of the fake agent worked on the task and finished its step.\n"
        f"**Remaining:** {remaining}\n"
        f"**Context:** fake agent, scripted scenario.\n"
    )


def session_index(prompt: str) -> int:
    if os.environ.get("OPERATOR_SESSION_INDEX", "").isdigit():
        return int(os.environ["OPERATOR_SESSION_INDEX"])
    m = re.search(r"session (\d+) of an automated chain", prompt)
    return int(m.group(1)) - 1 if m else 0


def bump_state(path: str | None) -> int:
    """Attempts so far (before this one), counted in a file across processes."""
    if not path:
        return 0
    p = Path(path)
    n = int(p.read_text() or 0) if p.exists() else 0
    p.write_text(str(n + 1))
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("scenario", nargs="?", default=os.environ.get("FAKE_AGENT_SCENARIO", "complete"))
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--failures", type=int, default=1)
    ap.add_argument("--state")
    ap.add_argument("--cost", type=float, default=0.01)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--pidfile")
    ap.add_argument("--ignore-term", action="store_true")
    ap.add_argument("--write")
    ap.add_argument("--echo-env")
    ap.add_argument("--claude", action="store_true")
    ap.add_argument("--argv-file")
    ap.add_argument("--prompt-file")
    ap.add_argument("--sleep", type=float, default=0.0)
    args, _unknown = ap.parse_known_args(argv)

    if args.argv_file:
        with open(args.argv_file, "a") as f:
            f.write(json.dumps(sys.argv[1:] if argv is None else argv) + "\n")
    prompt = sys.stdin.read()
    if args.prompt_file:
        with open(args.prompt_file, "a") as f:
            f.write(prompt + "\n=====\n")
    followup = FOLLOWUP_MARKER in prompt
    session = session_index(prompt)
    task_m = re.search(r"# Task\n(.+)", prompt)
    task = task_m.group(1) if task_m else "the task"
    out: list[str] = []

    def say(line: str) -> None:
        if args.claude:
            out.append(line)
        else:
            print(line, flush=True)

    def finish(text: str, *, hit_max_turns: bool = False, error: str | None = None) -> int:
        if args.claude:
            body = "\n".join([*out, text]).strip()
            sid = f"fake-{session}-{os.getpid()}"
            print(json.dumps({"type": "system", "subtype": "init", "session_id": sid}), flush=True)
            print(json.dumps({"type": "assistant", "message": {"content": [
                {"type": "tool_use", "name": "Read"}, {"type": "text", "text": body}]}}), flush=True)
            print(json.dumps({
                "type": "result", "subtype": "error_max_turns" if hit_max_turns else "success",
                "is_error": bool(error), "num_turns": args.turns, "total_cost_usd": args.cost,
                "usage": {"input_tokens": 1000, "output_tokens": 200}, "session_id": sid,
                "result": error or body,
            }), flush=True)
            return 1 if error else 0
        if text:
            print(text, flush=True)
        metrics = {"cost_usd": args.cost, "turns": args.turns, "input_tokens": 1000,
                   "output_tokens": 200, "session_id": f"fake-{session}"}
        if hit_max_turns:
            metrics["hit_max_turns"] = True
        print(json.dumps(metrics), flush=True)
        return 0

    if args.echo_env:
        say(f"{args.echo_env}={os.environ.get(args.echo_env, '')}")
    if args.write and not followup:
        with open(args.write, "a") as f:
            f.write(f"session {session + 1}\n")
        say(f"wrote {args.write}")

    sc = args.scenario
    if sc == "noop":
        return finish(handoff(True, session, task))
    if sc == "transient":
        if bump_state(args.state) < args.failures:
            print("API Error: 429 rate limit exceeded, please retry", file=sys.stderr, flush=True)
            return 1
        sc = "complete"
    if sc == "fatal":
        if args.claude:
            return finish("", error="Invalid API key · authentication failed")
        print("Error: authentication failed: invalid API key", file=sys.stderr, flush=True)
        return 1
    if sc == "crash":
        say("starting work...")
        print("Traceback (most recent call last):\nRuntimeError: boom", file=sys.stderr, flush=True)
        return 1
    if sc == "slow":
        if args.pidfile:
            Path(args.pidfile).write_text(str(os.getpid()))
        if args.ignore_term:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for i in range(args.lines):
            print(f"working {i + 1}", flush=True)
            time.sleep(args.interval)
        return finish(handoff(True, session, task))
    say(f"Session {session + 1}: working on {task[:60]}")
    if args.sleep:
        time.sleep(args.sleep)
    if sc == "complete":
        return finish(handoff(session + 1 >= args.sessions, session, task))
    if sc == "continue":
        return finish(handoff(False, session, task))
    if sc == "nohandoff":
        return finish("I did some work.")
    if sc == "late-handoff":
        return finish(handoff(True, session, task) if followup else "I did some work but forgot the handoff.")
    if sc == "max-turns":
        return finish("Still working when the turns ran out.", hit_max_turns=True)
    print(f"fake_agent: unknown scenario {sc!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
