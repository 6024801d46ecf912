"""How an audit event reads on the timeline: its category, icon and one-line summary.

Pure Python (no Django import): the page, the API summary and the export share these rules,
and tests exercise them without a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Category = the action's area (the part before the dot). Anything else is "system".
# Icons are plain symbols the DejaVu fonts carry (no emoji font needed on a server desktop).
CATEGORIES: dict[str, tuple[str, str]] = {
    # area: (label, icon)
    "chain": ("Chain", "∞"),
    "session": ("Session", "▶"),
    "task": ("Task", "☑"),
    "dlq": ("Dead letter", "☠"),
    "budget": ("Budget", "$"),
    "rate": ("Rate limit", "⚡"),
    "coordinator": ("Coordinator", "⚙"),
    "terminal": ("Terminal", "⌨"),
    "webhook": ("Webhook", "↗"),
    "secret": ("Secret", "⚷"),
    "backup": ("Backup", "⛁"),
    "retention": ("Retention", "♻"),
    "settings": ("Settings", "☰"),
    "token": ("API token", "⌘"),
    "system": ("System", "●"),
}
SYSTEM = "system"
# Areas whose events mean something went wrong get the ✗ icon whatever their category.
_BAD_VERBS = {"failed", "exceeded", "aborted", "exited", "disabled"}

# Verbs that do not read well as "<Noun> <id> <verb>".
_PHRASES: dict[str, str] = {
    "budget.warning": "Budget warning{for_target}",
    "budget.exceeded": "Budget exceeded{for_target}",
    "rate.adjusted": "Rate limit adjusted{for_target}",
    "coordinator.started": "Coordinator started",
    "coordinator.draining": "Coordinator draining",
    "coordinator.stopped": "Coordinator stopped",
    "dlq.added": "Dead letter queued{colon_target}",
    "dlq.retried": "Dead letter retried{colon_target}",
    "dlq.dismissed": "Dead letter dismissed{colon_target}",
    "retention.swept": "Retention sweep ran",
    "settings.changed": "Settings changed{fields}",
    "settings.reset": "Settings reset to defaults",
    "session.recorded": "Session recorded{for_target}",
}


def category_of(action: str) -> str:
    area = action.split(".", 1)[0] if "." in action else ""
    return area if area in CATEGORIES else SYSTEM


def known_areas() -> list[str]:
    """Categories that are an action prefix (all but "system", which is the rest)."""
    return [c for c in CATEGORIES if c != SYSTEM]


def icon_of(action: str) -> str:
    verb = action.rsplit(".", 1)[-1]
    if verb in _BAD_VERBS:
        return "✗"
    return CATEGORIES[category_of(action)][1]


def is_bad(action: str) -> bool:
    return action.rsplit(".", 1)[-1] in _BAD_VERBS


def short_id(ident: str, width: int = 12) -> str:
    return ident if len(ident) <= width else ident[: width - 1] + "…"


def summary(action: str, target_type: str = "", target_id: str = "", data: Mapping | None = None) -> str:
    """One line such as "Chain 3f2a1b… aborted"; unknown actions read "<action> occurred"."""
    ident = short_id(target_id) if target_id else ""
    if action in _PHRASES:
        fields = ""
        changes = (data or {}).get("changes") if isinstance(data, Mapping) else None
        if isinstance(changes, Mapping) and changes:
            fields = f" ({', '.join(sorted(map(str, changes)))})"
        return _PHRASES[action].format(
            for_target=f" for {target_type} {ident}" if ident else "",
            colon_target=f": {ident}" if ident else "",
            fields=fields,
        )
    area, _, verb = action.partition(".")
    if area not in CATEGORIES or area == SYSTEM or not verb:
        return f"{action} occurred"
    noun = CATEGORIES[area][0]
    return f"{noun} {ident} {verb}" if ident else f"{noun} {verb}"


def highlight(text: str, term: str) -> list[tuple[str, bool]]:
    """Split text into (piece, is_match) for a case-insensitive term; [(text, False)] if none."""
    term = term.strip()
    if not term:
        return [(text, False)]
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in re.finditer(re.escape(term), text, flags=re.IGNORECASE):
        if m.start() > pos:
            out.append((text[pos : m.start()], False))
        out.append((m.group(0), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out or [(text, False)]


def fold_counts(action_counts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """{category: count} for every category (zeros included) from (action, count) pairs."""
    out = dict.fromkeys(CATEGORIES, 0)
    for action, n in action_counts:
        out[category_of(action)] += n
    return out
