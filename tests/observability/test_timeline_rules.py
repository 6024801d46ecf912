"""The pure timeline rules: categories, icons, summaries, highlighting."""

from __future__ import annotations

import pytest

from observability import timeline


@pytest.mark.parametrize("action,category", [
    ("chain.created", "chain"), ("dlq.added", "dlq"), ("settings.changed", "settings"),
    ("token.created", "token"), ("swarm.start", "system"), ("nodot", "system"), ("", "system"),
    ("system.boot", "system"),
])
def test_it_maps_actions_to_categories(action, category):
    assert timeline.category_of(action) == category


def test_it_marks_failures_with_a_cross():
    assert timeline.icon_of("chain.failed") == "✗"
    assert timeline.icon_of("chain.created") == timeline.CATEGORIES["chain"][1]
    assert timeline.is_bad("budget.exceeded") and not timeline.is_bad("budget.warning")


@pytest.mark.parametrize("args,text", [
    (("chain.aborted", "chain", "abc"), "Chain abc aborted"),
    (("task.created", "task", "build-the-whole-thing"), "Task build-the-w… created"),
    (("coordinator.draining", "", ""), "Coordinator draining"),
    (("dlq.added", "deadletter", "7"), "Dead letter queued: 7"),
    (("budget.warning", "", ""), "Budget warning"),
    (("webhook.created", "", ""), "Webhook created"),
    (("swarm.start", "", ""), "swarm.start occurred"),
])
def test_it_summarises_in_one_line(args, text):
    assert timeline.summary(*args) == text


def test_it_names_changed_settings():
    line = timeline.summary("settings.changed", "operatorsettings", "1", {"changes": {"max_turns": {}, "a": {}}})
    assert line == "Settings changed (a, max_turns)"


def test_it_highlights_case_insensitively():
    assert timeline.highlight("Chain ABC abc", "abc") == [
        ("Chain ", False), ("ABC", True), (" ", False), ("abc", True)]
    assert timeline.highlight("x", "  ") == [("x", False)]
    assert timeline.highlight("a.b", ".") == [("a", False), (".", True), ("b", False)]


def test_it_folds_action_counts_into_every_category():
    out = timeline.fold_counts([("chain.created", 2), ("chain.failed", 1), ("weird", 4)])
    assert out["chain"] == 3 and out["system"] == 4 and out["task"] == 0
    assert set(out) == set(timeline.CATEGORIES)
