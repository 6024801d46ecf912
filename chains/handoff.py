"""The handoff protocol between chain sessions: parse, validate, and build session prompts.

Pure text functions (no Django import), so the protocol is tested in isolation. Reference §2.2:
a session ends with a `## HANDOFF` heading (`## HANDOFF: COMPLETE` when the task is done)
followed by **Accomplished:**, **Remaining:** and **Context:** parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUMMARY_MIN_CHARS = 20
RAW_MAX_CHARS = 10_000
CRASH_TAIL_CHARS = 3_000
FOLLOWUP_TAIL_CHARS = 2_000
COMMIT_SUMMARY_CHARS = 72

# The LAST heading wins: an agent may quote the protocol earlier in its output.
_HEADING = re.compile(r"^[ \t]*#{2,3}[ \t]*HANDOFF\b(?P<rest>[^\n]*)$", re.IGNORECASE | re.MULTILINE)
_PART = re.compile(
    r"^[ \t]*(?:[-*][ \t]*)?(?:\*\*|__)?[ \t]*(?P<name>accomplished|remaining|context)[ \t]*:?[ \t]*"
    r"(?:\*\*|__)?[ \t]*:?",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Handoff:
    complete: bool
    raw: str
    summary: str
    remaining: str
    context: str


def parse_handoff(output: str) -> Handoff | None:
    """The handoff at the end of a session's output, or None when there is no heading."""
    if not output:
        return None
    headings = list(_HEADING.finditer(output))
    if not headings:
        return None
    last = headings[-1]
    raw = output[last.start():].strip()
    complete = "complete" in last.group("rest").lower()
    body = output[last.end():]
    parts = {"accomplished": "", "remaining": "", "context": ""}
    marks = list(_PART.finditer(body))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        name = m.group("name").lower()
        if not parts[name]:
            parts[name] = body[m.end():end].strip()
    return Handoff(
        complete=complete,
        raw=raw,
        summary=parts["accomplished"],
        remaining=parts["remaining"],
        context=parts["context"],
    )


def validate_handoff(h: Handoff) -> list[str]:
    """Problems with a handoff (empty list when valid). Problems are logged, never fatal."""
    problems = []
    if len(h.summary) < SUMMARY_MIN_CHARS:
        problems.append(f"accomplished summary shorter than {SUMMARY_MIN_CHARS} characters")
    if not h.complete and not h.remaining:
        problems.append("remaining work is empty but the handoff is not COMPLETE")
    if len(h.raw) > RAW_MAX_CHARS:
        problems.append(f"handoff longer than {RAW_MAX_CHARS:,} characters")
    return problems


def tail(text: str, chars: int) -> str:
    return text[-chars:] if len(text) > chars else text


HANDOFF_INSTRUCTIONS = """\
When you stop (because the task is done, or you are running out of turns or context), end your
reply with this section, exactly in this shape:

## HANDOFF
**Accomplished:** what you did in this session (files, commands, decisions).
**Remaining:** what is still to do, as concrete next steps.
**Context:** anything the next session must know (gotchas, state, where to look).

If the whole task is finished, write the heading as `## HANDOFF: COMPLETE` instead (Remaining
may then be empty). The next session starts fresh and sees only this handoff, so be specific."""


def build_prompt(
    task: str,
    *,
    session_index: int,
    project_dir: str | None = None,
    previous_handoff: str | None = None,
) -> str:
    """The prompt for session `session_index` (0-based) of a chain."""
    lines = [f"You are working on a task as session {session_index + 1} of an automated chain.", ""]
    lines += ["# Task", task.strip(), ""]
    if project_dir:
        lines += ["# Working directory", project_dir, ""]
    if previous_handoff:
        lines += [
            "# Handoff from the previous session",
            previous_handoff.strip(),
            "",
            "Continue from this handoff. Do not redo work that is already completed; check the "
            "current state of the files (and `git status` / `git log` if this is a repository) first.",
            "",
        ]
    lines += ["# How to finish", HANDOFF_INSTRUCTIONS]
    return "\n".join(lines) + "\n"


def crash_handoff(session_index: int, error: str, output: str) -> str:
    """A synthetic handoff for the session after one that crashed (reference §2.2)."""
    return (
        f"## HANDOFF\n"
        f"**Accomplished:** Session {session_index + 1} CRASHED before writing a handoff. "
        f"Error: {error.strip() or 'unknown error'}\n"
        f"**Remaining:** The original task. Check `git status` and the files to see what the "
        f"crashed session changed before continuing.\n"
        f"**Context:** Last output of the crashed session:\n"
        f"```\n{tail(output, CRASH_TAIL_CHARS)}\n```\n"
    )


def output_handoff(output: str) -> str:
    """The stand-in handoff when a session and its follow-up wrote none: the output tail."""
    return (
        "## HANDOFF\n"
        "**Accomplished:** (the previous session wrote no handoff; its last output follows)\n"
        "**Remaining:** Work out from the output below and the files what is left.\n"
        f"**Context:**\n```\n{tail(output, CRASH_TAIL_CHARS)}\n```\n"
    )


FOLLOWUP_MARKER = "You ended your previous session without a handoff section."


def followup_prompt(task: str, output: str) -> str:
    """The short follow-up asking a session that wrote no handoff to write it now."""
    return (
        f"{FOLLOWUP_MARKER} Do not use any tools and do not continue the work: only write the "
        f"handoff now.\n\n"
        f"# Task\n{task.strip()}\n\n"
        f"# The last part of your previous output\n```\n{tail(output, FOLLOWUP_TAIL_CHARS)}\n```\n\n"
        f"{HANDOFF_INSTRUCTIONS}\n"
    )


def commit_summary(handoff: Handoff | None, fallback: str) -> str:
    """One line of at most 72 characters for a commit message."""
    text = (handoff.summary if handoff and handoff.summary else "") or fallback
    line = " ".join(text.split())
    if len(line) > COMMIT_SUMMARY_CHARS:
        line = line[: COMMIT_SUMMARY_CHARS - 1].rstrip() + "…"
    return line
