from __future__ import annotations

from chains import handoff as h

FULL = """Some work output.
## HANDOFF
**Accomplished:** Wrote the parser and its tests for the handoff.
**Remaining:** Wire the parser into the runner.
**Context:** tests live in tests/chains.
"""


def test_it_parses_a_full_handoff():
    got = h.parse_handoff(FULL)
    assert got is not None
    assert got.complete is False
    assert got.summary == "Wrote the parser and its tests for the handoff."
    assert got.remaining == "Wire the parser into the runner."
    assert got.context == "tests live in tests/chains."
    assert got.raw.startswith("## HANDOFF")
    assert h.validate_handoff(got) == []


def test_it_reads_complete_case_insensitively():
    got = h.parse_handoff("x\n## handoff: complete\n**Accomplished:** everything is done now, really.\n")
    assert got.complete is True
    assert got.remaining == ""
    assert h.validate_handoff(got) == []


def test_it_returns_none_without_a_heading():
    assert h.parse_handoff("I did some work.\nHANDOFF is not a heading here") is None
    assert h.parse_handoff("") is None


def test_it_takes_the_last_heading():
    text = "Quoting: ## HANDOFF\n## HANDOFF\n**Accomplished:** first one, long enough text\n" \
           "more\n## HANDOFF: COMPLETE\n**Accomplished:** the second and final handoff text.\n"
    got = h.parse_handoff(text)
    assert got.complete is True
    assert got.summary == "the second and final handoff text."


def test_it_accepts_multiline_parts_and_variants():
    text = ("### HANDOFF\n**Accomplished**: line one of the work\nline two of the work\n\n"
            "- **Remaining:** a\n  b\n**Context:**\nnone\n")
    got = h.parse_handoff(text)
    assert got.summary == "line one of the work\nline two of the work"
    assert got.remaining == "a\n  b"
    assert got.context == "none"


def test_it_reports_a_short_summary():
    got = h.parse_handoff("## HANDOFF: COMPLETE\n**Accomplished:** done\n")
    assert h.validate_handoff(got) == ["accomplished summary shorter than 20 characters"]


def test_it_reports_missing_remaining_when_not_complete():
    got = h.parse_handoff("## HANDOFF\n**Accomplished:** a long enough summary of work\n**Remaining:**\n")
    assert any("remaining" in p for p in h.validate_handoff(got))


def test_it_reports_an_oversized_handoff():
    got = h.parse_handoff("## HANDOFF: COMPLETE\n**Accomplished:** " + "x" * 10_001)
    assert any("10,000" in p for p in h.validate_handoff(got))


def test_it_handles_a_heading_without_parts():
    got = h.parse_handoff("## HANDOFF")
    assert got is not None and got.summary == "" and got.remaining == ""
    assert len(h.validate_handoff(got)) == 2


def test_it_builds_the_first_prompt():
    p = h.build_prompt("Fix the bug", session_index=0, project_dir="/srv/app")
    assert "session 1 of an automated chain" in p
    assert "# Task\nFix the bug" in p
    assert "/srv/app" in p
    assert "## HANDOFF: COMPLETE" in p
    assert "previous session" not in p


def test_it_builds_a_continuation_prompt():
    p = h.build_prompt("Fix the bug", session_index=2, previous_handoff=FULL.split("output.\n")[1])
    assert "session 3" in p
    assert "Wire the parser into the runner." in p
    assert "Do not redo work" in p
    assert "Working directory" not in p


def test_it_builds_a_crash_handoff_with_the_output_tail():
    out = "a" * 5000 + "THE END"
    text = h.crash_handoff(1, "exited with code 1", out)
    assert "Session 2 CRASHED" in text
    assert "exited with code 1" in text
    assert "git status" in text
    assert "THE END" in text
    assert "a" * 3001 not in text
    parsed = h.parse_handoff(text)
    assert parsed is not None and not parsed.complete


def test_it_builds_the_followup_prompt():
    p = h.followup_prompt("Fix it", "b" * 3000 + "LAST")
    assert h.FOLLOWUP_MARKER in p
    assert "LAST" in p and "b" * 2001 not in p
    assert "## HANDOFF" in p


def test_it_summarises_for_a_commit():
    got = h.parse_handoff(FULL)
    assert h.commit_summary(got, "x") == "Wrote the parser and its tests for the handoff."
    assert h.commit_summary(None, "session 2") == "session 2"
    long = h.commit_summary(None, "word " * 40)
    assert len(long) == 72 and long.endswith("…")


def test_it_builds_the_output_handoff():
    text = h.output_handoff("z" * 4000 + "TAIL")
    assert "TAIL" in text and h.parse_handoff(text) is not None
