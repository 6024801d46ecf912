"""Git for chain sessions: commit what a session changed, push when asked. No Django import."""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass

logger = logging.getLogger(__name__)

GIT_TIMEOUT = 15  # seconds per git command (reference: git ops 15 s)
_IDENTITY = ("-c", "user.name=Operator", "-c", "user.email=operator@localhost")


@dataclass
class CommitOutcome:
    sha: str | None = None  # None when nothing changed or the directory is not a repository
    pushed: bool = False
    error: str | None = None


def _git(cwd: str, *args: str, identity: bool = False) -> subprocess.CompletedProcess:
    cmd = ["git", *(_IDENTITY if identity else ()), *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # never wait for a password prompt
    )


def is_repository(path: str | None) -> bool:
    if not path:
        return False
    try:
        r = _git(path, "rev-parse", "--is-inside-work-tree")
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and r.stdout.strip() == "true"


def commit_message(session_number: int, summary: str) -> str:
    return f"operator: chain {session_number} — {summary}"


def commit_session(path: str | None, message: str, *, push: bool = False) -> CommitOutcome:
    """Commit every change in the work tree (if any); push to the upstream when `push`.

    Never raises: a git failure is returned as `error` and logged, it does not fail the chain.
    The repository's own user.name/email win; the Operator identity is only a fallback.
    """
    if not is_repository(path):
        return CommitOutcome()
    try:
        status = _git(path, "status", "--porcelain")
        if status.returncode != 0 or not status.stdout.strip():
            return CommitOutcome(error=status.stderr.strip() or None)
        add = _git(path, "add", "-A")
        if add.returncode != 0:
            return CommitOutcome(error=add.stderr.strip())
        has_identity = _git(path, "config", "user.email").returncode == 0
        commit = _git(path, "commit", "-q", "-m", message, identity=not has_identity)
        if commit.returncode != 0:
            return CommitOutcome(error=(commit.stderr or commit.stdout).strip())
        sha = _git(path, "rev-parse", "HEAD").stdout.strip()
        outcome = CommitOutcome(sha=sha)
        if push:
            p = _git(path, "push", "-q")
            outcome.pushed = p.returncode == 0
            if not outcome.pushed:
                outcome.error = f"push failed: {p.stderr.strip()}"
        return outcome
    except (OSError, subprocess.SubprocessError) as e:
        logger.warning("git in %s failed: %s", path, e)
        return CommitOutcome(error=str(e))
