from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from observability import timeline

register = template.Library()


@register.filter
def highlight(text, term):
    """Escape text and wrap case-insensitive matches of term in <mark>."""
    pieces = timeline.highlight(str(text), str(term or ""))
    return mark_safe(
        "".join(f"<mark>{escape(p)}</mark>" if hit else escape(p) for p, hit in pieces)
    )
