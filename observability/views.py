from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

from django.apps import apps
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone

from operator_site.lib.views import staff_required

from . import health, links
from . import timeline as tl
from .filters import AuditEventFilter, category_counts
from .models import AuditEvent

# Dashboard counters: (label, app, model, filter). Looked up through the app registry so the
# dashboard needs no import of other apps and shows a model as soon as it exists.
DASHBOARD_COUNTS = [
    ("Chains", "chains", "Chain", {}),
    ("Running chains", "chains", "Chain", {"status": "running"}),
    ("Tasks", "coordination", "Task", {}),
    ("Pending tasks", "coordination", "Task", {"status": "pending"}),
    ("Workers", "coordination", "Worker", {}),
    ("Webhooks", "settings_ui", "Webhook", {}),
    ("Secrets", "settings_ui", "Secret", {}),
    ("Backups", "settings_ui", "Backup", {}),
]


def _counts() -> list[dict]:
    out = []
    for label, app_label, model_name, flt in DASHBOARD_COUNTS:
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        out.append({"label": label, "value": model.objects.filter(**flt).count()})
    return out


def annotate_links(events) -> list:
    """Attach .link (url or None) and .gone to each event whose target type has a page."""
    events = list(events)
    found = links.resolve((e.target_type, e.target_id) for e in events)
    for e in events:
        key = (e.target_type, e.target_id)
        e.link = found.get(key)
        e.gone = key in found and found[key] is None
    return events


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    db_ok, _ = health.check_database()
    worker_ok, worker_detail = health.check_worker()
    ctx = {
        "counts": _counts(),
        "events": annotate_links(AuditEvent.objects.all()[:15]),
        "audit_total": AuditEvent.objects.count(),
        "worker_ok": worker_ok,
        "worker_detail": worker_detail,
    }
    return render(request, "observability/dashboard.html", ctx)


# --- timeline ---

TIMELINE_FILTERS = ("category", "action", "actor", "target_type", "target_id", "q", "since", "until")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
LIVE_SECONDS = 10


def _int_param(params: QueryDict, name: str, default: int, low: int, high: int, errors: dict) -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        errors[name] = ["Must be an integer."]
        return default
    if not low <= value <= high:
        errors[name] = [f"Must be between {low} and {high}."]
        return default
    return value


def _query(params: dict) -> str:
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


def _decorate(events: list) -> list:
    """Attach what the template shows: category, icon, summary, pretty JSON."""
    for e in events:
        e.category = tl.category_of(e.action)
        e.category_label = tl.CATEGORIES[e.category][0]
        e.icon = tl.icon_of(e.action)
        e.bad = tl.is_bad(e.action)
        e.summary = tl.summary(e.action, e.target_type, e.target_id, e.data)
        e.pretty = json.dumps(e.data, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return events


def _day_groups(events: list) -> list[dict]:
    today = timezone.localdate()
    groups: list[dict] = []
    for e in events:
        day = timezone.localtime(e.ts).date()
        if not groups or groups[-1]["day"] != day:
            if day == today:
                label = "Today"
            elif day == today - timedelta(days=1):
                label = "Yesterday"
            else:
                label = day.isoformat()
            groups.append({"day": day, "label": label, "events": []})
        groups[-1]["events"].append(e)
    return groups


def _timeline_context(request: HttpRequest, poll: bool = False) -> dict:
    """Everything the page and its fragment show for the filters in the query string.

    poll: a live refresh; when its `seen` signature still matches, stop early ("unchanged")."""
    params = request.GET
    errors: dict[str, list[str]] = {}
    limit = _int_param(params, "limit", DEFAULT_PAGE_SIZE, 1, 200, errors)
    offset = _int_param(params, "offset", 0, 0, 10**9, errors)
    live = params.get("live") != "0"
    fs = AuditEventFilter(params, queryset=AuditEvent.objects.all())
    if not fs.is_valid():
        errors.update({k: list(v) for k, v in fs.errors.items()})
    raw = {k: params.get(k, "") for k in TIMELINE_FILTERS}
    state = dict(raw, limit="" if limit == DEFAULT_PAGE_SIZE else limit,
                 offset=offset or "", live="" if live else "0")
    ctx = {
        "f": raw,
        "limit": limit,
        "offset": offset,
        "live": live,
        "live_seconds": LIVE_SECONDS,
        "page_sizes": sorted({*PAGE_SIZES, limit}),
        "errors": errors,
        "categories": [(c, label, icon) for c, (label, icon) in tl.CATEGORIES.items()],
        "filter_query": _query(raw),
        "state_query": _query(state),
        "groups": [],
        "total": 0,
        "counts": None,
    }
    if errors:
        return ctx
    for name in ("since", "until"):
        # datetime-local inputs only take "YYYY-MM-DDTHH:MM:SS": show a shared "…Z" value so.
        value = fs.form.cleaned_data.get(name)
        if value:
            ctx["f"] = dict(ctx["f"], **{name: timezone.localtime(value).strftime("%Y-%m-%dT%H:%M:%S")})
    qs = fs.qs
    total = qs.count()
    ctx["seen"] = f"{qs.values_list('pk', flat=True).first() or 0}-{total}"
    if poll and params.get("seen") == ctx["seen"]:
        ctx["unchanged"] = True  # a live poll with nothing new: skip the rest
        return ctx
    events = _decorate(annotate_links(qs[offset : offset + limit]))
    counts = category_counts(fs.without_category())
    ctx.update(
        groups=_day_groups(events),
        total=total,
        shown_from=offset + 1 if events else 0,
        shown_to=offset + len(events),
        newer_query=_query(dict(state, offset=max(offset - limit, 0) or "")) if offset else None,
        older_query=_query(dict(state, offset=offset + limit)) if offset + limit < total else None,
        counts=[
            {"category": c, "label": tl.CATEGORIES[c][0], "icon": tl.CATEGORIES[c][1], "n": n,
             "query": _query(dict(state, category=c, offset="")),
             "active": raw["category"] == c}
            for c, n in counts["categories"].items() if n or raw["category"] == c
        ],
        counts_total=counts["total"],
        all_query=_query(dict(state, category="", offset="")),
    )
    return ctx


@staff_required
def timeline(request: HttpRequest) -> HttpResponse:
    ctx = _timeline_context(request)
    ctx["actions"] = list(
        AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()[:300]
    )
    ctx["target_types"] = list(
        AuditEvent.objects.exclude(target_type="").order_by("target_type")
        .values_list("target_type", flat=True).distinct()[:100]
    )
    return render(request, "observability/timeline.html", ctx)


@staff_required
def timeline_entries(request: HttpRequest) -> HttpResponse:
    """The entries fragment the page includes. A live poll whose `seen` still matches → 204."""
    ctx = _timeline_context(request, poll=True)
    if ctx.get("unchanged"):
        return HttpResponse(status=204)
    response = render(request, "observability/_timeline_entries.html", ctx)
    # The page's address follows its filters, so the current view can be shared.
    response["HX-Replace-Url"] = "/timeline/" + (f"?{ctx['state_query']}" if ctx["state_query"] else "")
    return response

