"""Webhook payload formatters (generic, Slack, Discord) as plain Python (no Django import).

Message text comes from templates through the `render(name, context) -> str` callable the caller
passes (settings_ui.models renders settings_ui/webhooks/<name>.txt). Platform limits are
enforced by truncating with a visible "…", so a platform never answers 400 for length; every
truncation is reported as a warning (shown by the preview endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Render = Callable[[str, dict], str]
FORMATS = ("generic", "slack", "discord")
ELLIPSIS = "…"

SEVERITY_COLORS = {"success": 0x10B981, "warning": 0xF59E0B, "error": 0xEF4444, "info": 0x6366F1}

SLACK_SECTION_TEXT = 2999  # Slack: section text must be < 3000 characters
SLACK_FIELD_TEXT = 2000
SLACK_MAX_FIELDS = 10

DISCORD_CONTENT = 2000
DISCORD_MAX_EMBEDS = 10
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_MAX_FIELDS = 25
DISCORD_FIELD_NAME = 256
DISCORD_FIELD_VALUE = 1024
DISCORD_FOOTER = 2048
DISCORD_TOTAL = 6000


def clip(text: str, limit: int) -> str:
    """text, or its first limit-1 characters followed by "…" (so the result has ≤ limit)."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def severity(event: str) -> str:
    if any(w in event for w in ("failed", "unhealthy", "exceeded", "aborted", "disabled")):
        return "error"
    if any(w in event for w in ("degraded", "warning")):
        return "warning"
    if any(w in event for w in ("completed", "created", "restored")):
        return "success"
    return "info"


def label(event: str) -> str:
    """"chain.failed" → "Chain failed"."""
    return event.replace(".", " ").replace("_", " ").replace("-", " ").capitalize()


def _display(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _context(envelope: dict) -> dict:
    event = envelope["event"]
    data = envelope.get("data") or {}
    return {
        "id": envelope.get("id", ""),
        "event": event,
        "label": label(event),
        "severity": severity(event),
        "timestamp": envelope.get("timestamp", ""),
        "data": data,
        "fields": [(str(k), _display(v)) for k, v in data.items() if v is not None],
    }


def generic(envelope: dict, render: Render) -> tuple[dict, list[str]]:
    return {k: envelope.get(k) for k in ("id", "event", "timestamp", "data")}, []


def slack(envelope: dict, render: Render) -> tuple[dict, list[str]]:
    ctx = _context(envelope)
    warnings: list[str] = []
    section = render("slack_section", ctx).strip()
    if len(section) > SLACK_SECTION_TEXT:
        warnings.append(f"slack: section text truncated to {SLACK_SECTION_TEXT} characters")
        section = clip(section, SLACK_SECTION_TEXT)
    fields = ctx["fields"]
    if len(fields) > SLACK_MAX_FIELDS:
        warnings.append(
            f"slack: {len(fields)} fields, only {SLACK_MAX_FIELDS} allowed; the rest are summarised"
        )
        rest = len(fields) - (SLACK_MAX_FIELDS - 1)
        fields = [*fields[: SLACK_MAX_FIELDS - 1], (ELLIPSIS, f"{rest} more fields")]
    block_fields = []
    for name, value in fields:
        text = f"*{name}*\n{value}"
        if len(text) > SLACK_FIELD_TEXT:
            warnings.append(f"slack: field {name!r} truncated to {SLACK_FIELD_TEXT} characters")
            text = clip(text, SLACK_FIELD_TEXT)
        block_fields.append({"type": "mrkdwn", "text": text})
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": section}}]
    if block_fields:
        blocks.append({"type": "section", "fields": block_fields})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Operator · {ctx['timestamp']}"}]}
    )
    text = clip(render("slack_text", ctx).strip(), SLACK_SECTION_TEXT)
    color = "#{:06x}".format(SEVERITY_COLORS[ctx["severity"]])
    return {"text": text, "attachments": [{"color": color, "blocks": blocks}]}, warnings


def _embed_size(embed: dict) -> int:
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += len(embed.get("footer", {}).get("text", ""))
    size += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return size


def _fit_total(embeds: list[dict], warnings: list[str]) -> None:
    """Shrink descriptions, then field values, then fields, until all embeds fit 6000."""
    excess = sum(_embed_size(e) for e in embeds) - DISCORD_TOTAL
    if excess <= 0:
        return
    warnings.append(f"discord: embeds exceed {DISCORD_TOTAL} characters in total; truncated")
    for embed in reversed(embeds):
        desc = embed.get("description", "")
        if excess > 0 and len(desc) > 1:
            keep = max(len(desc) - excess, 1)
            embed["description"] = clip(desc, keep)
            excess -= len(desc) - len(embed["description"])
        fields = embed.get("fields", [])
        for f in reversed(fields):
            if excess <= 0:
                break
            if len(f["value"]) > 1:
                keep = max(len(f["value"]) - excess, 1)
                before = len(f["value"])
                f["value"] = clip(f["value"], keep)
                excess -= before - len(f["value"])
        while excess > 0 and fields:
            f = fields.pop()
            excess -= len(f["name"]) + len(f["value"])
        if excess > 0 and len(embed.get("title", "")) > 1:
            before = len(embed["title"])
            embed["title"] = clip(embed["title"], max(before - excess, 1))
            excess -= before - len(embed["title"])
        if excess <= 0:
            return


def discord(envelope: dict, render: Render) -> tuple[dict, list[str]]:
    ctx = _context(envelope)
    warnings: list[str] = []

    def limited(what: str, text: str, limit: int) -> str:
        if len(text) > limit:
            warnings.append(f"discord: {what} truncated to {limit} characters")
        return clip(text, limit)

    content = limited("content", render("discord_content", ctx).strip(), DISCORD_CONTENT)
    fields = ctx["fields"]
    if len(fields) > DISCORD_MAX_FIELDS:
        warnings.append(
            f"discord: {len(fields)} fields, only {DISCORD_MAX_FIELDS} allowed; the rest are summarised"
        )
        rest = len(fields) - (DISCORD_MAX_FIELDS - 1)
        fields = [*fields[: DISCORD_MAX_FIELDS - 1], (ELLIPSIS, f"{rest} more fields")]
    embed = {
        "title": limited("embed title", render("discord_title", ctx).strip(), DISCORD_TITLE),
        "description": limited(
            "embed description", render("discord_description", ctx).strip(), DISCORD_DESCRIPTION
        ),
        "color": SEVERITY_COLORS[ctx["severity"]],
        "fields": [
            {
                "name": limited(f"field name {n[:20]!r}", n, DISCORD_FIELD_NAME) or "-",
                "value": limited(f"field {n[:20]!r} value", v, DISCORD_FIELD_VALUE) or "-",
                "inline": len(v) < 40,
            }
            for n, v in fields
        ],
        "footer": {"text": "Operator"},
    }
    if ctx["timestamp"]:
        embed["timestamp"] = ctx["timestamp"]
    embeds = [embed]
    if len(embeds) > DISCORD_MAX_EMBEDS:  # one embed per event today; kept for safety
        warnings.append(f"discord: only {DISCORD_MAX_EMBEDS} embeds allowed")
        embeds = embeds[:DISCORD_MAX_EMBEDS]
    _fit_total(embeds, warnings)
    return {"content": content, "embeds": embeds}, warnings


FORMATTERS = {"generic": generic, "slack": slack, "discord": discord}


def build(fmt: str, envelope: dict, render: Render) -> tuple[dict, list[str]]:
    """(JSON payload, limit warnings) for envelope {id, event, timestamp, data} in format fmt."""
    return FORMATTERS.get(fmt, generic)(envelope, render)
