"""Pure payload formatters: shapes, and truncation with "…" at every platform limit."""

from __future__ import annotations

import pytest

from settings_ui import webhook_formats as wf


def render(name, ctx):
    """A stand-in for the template renderer: the message parts from the context."""
    return {
        "slack_section": f"*{ctx['label']}*\n`{ctx['event']}` {ctx['data'].get('message', '')}",
        "slack_text": f"{ctx['label']} ({ctx['event']})",
        "discord_content": f"**{ctx['label']}** {ctx['data'].get('content', '')}",
        "discord_title": ctx["label"] + ctx["data"].get("title", ""),
        "discord_description": f"`{ctx['event']}` {ctx['data'].get('message', '')}",
    }[name]


def env(event="chain.failed", **data):
    return {"id": "msg_1", "event": event, "timestamp": "2026-01-01T00:00:00+00:00", "data": data}


def test_generic_is_the_envelope():
    payload, warnings = wf.build("generic", env(x=1), render)
    assert payload == {"id": "msg_1", "event": "chain.failed",
                       "timestamp": "2026-01-01T00:00:00+00:00", "data": {"x": 1}}
    assert warnings == []


def test_unknown_formats_fall_back_to_generic():
    assert wf.build("teams", env(), render)[0]["event"] == "chain.failed"


@pytest.mark.parametrize("event,sev", [
    ("chain.failed", "error"), ("budget.exceeded", "error"), ("budget.warning", "warning"),
    ("chain.created", "success"), ("chain.updated", "info"), ("webhook.disabled", "error"),
])
def test_severity_by_event_name(event, sev):
    assert wf.severity(event) == sev


def test_slack_has_blocks_a_text_fallback_and_a_colour():
    payload, warnings = wf.build("slack", env(chain="c1", cost=1.5), render)
    assert payload["text"] == "Chain failed (chain.failed)"
    att = payload["attachments"][0]
    assert att["color"] == "#ef4444"
    assert att["blocks"][0]["type"] == "section"
    assert att["blocks"][1]["fields"][0]["text"] == "*chain*\nc1"
    assert att["blocks"][-1]["type"] == "context"
    assert warnings == []


def test_slack_section_text_stays_under_3000():
    payload, warnings = wf.build("slack", env(message="m" * 5000), render)
    text = payload["attachments"][0]["blocks"][0]["text"]["text"]
    assert len(text) == 2999 and text.endswith("…")
    assert any("section text" in w for w in warnings)


def test_slack_keeps_at_most_10_fields():
    payload, warnings = wf.build("slack", env(**{f"k{i}": i for i in range(15)}), render)
    fields = payload["attachments"][0]["blocks"][1]["fields"]
    assert len(fields) == 10
    assert fields[-1]["text"] == "*…*\n6 more fields"
    assert any("fields" in w for w in warnings)


def test_slack_field_text_is_truncated():
    payload, warnings = wf.build("slack", env(big="v" * 3000), render)
    text = payload["attachments"][0]["blocks"][1]["fields"][0]["text"]
    assert len(text) == 2000 and text.endswith("…")
    assert warnings


def test_discord_embed_shape():
    payload, warnings = wf.build("discord", env("chain.created", chain="c1"), render)
    embed = payload["embeds"][0]
    assert embed["color"] == 0x10B981 and embed["title"] == "Chain created"
    assert embed["fields"] == [{"name": "chain", "value": "c1", "inline": True}]
    assert embed["footer"] == {"text": "Operator"}
    assert warnings == []


def test_discord_content_is_at_most_2000():
    payload, warnings = wf.build("discord", env(content="c" * 2500), render)
    assert len(payload["content"]) == 2000 and payload["content"].endswith("…")
    assert any("content" in w for w in warnings)


def test_discord_title_is_at_most_256():
    payload, _ = wf.build("discord", env(title="t" * 300), render)
    assert len(payload["embeds"][0]["title"]) == 256
    assert payload["embeds"][0]["title"].endswith("…")


def test_discord_description_is_at_most_4096():
    payload, _ = wf.build("discord", env(message="d" * 5000), render)
    d = payload["embeds"][0]["description"]
    assert len(d) <= 4096 and d.endswith("…")


def test_discord_has_at_most_25_fields_and_1024_per_value():
    payload, warnings = wf.build("discord", env(**{f"k{i}": "v" * 1100 for i in range(30)}), render)
    fields = payload["embeds"][0]["fields"]
    assert len(fields) <= 25
    assert all(len(f["value"]) <= 1024 and len(f["name"]) <= 256 for f in fields)
    assert any("25" in w for w in warnings)


def test_discord_field_names_are_at_most_256():
    payload, _ = wf.build("discord", env(**{"n" * 300: "v"}), render)
    assert len(payload["embeds"][0]["fields"][0]["name"]) == 256


def test_discord_embeds_total_at_most_6000_with_a_visible_ellipsis():
    payload, warnings = wf.build(
        "discord", env(message="d" * 4000, **{f"k{i}": "v" * 1000 for i in range(10)}), render
    )
    embed = payload["embeds"][0]
    assert wf._embed_size(embed) <= 6000
    assert "…" in embed["description"] + "".join(f["value"] for f in embed["fields"])
    assert any("6000" in w for w in warnings)


def test_clip_marks_truncation():
    assert wf.clip("abcdef", 4) == "abc…"
    assert wf.clip("abc", 4) == "abc"
