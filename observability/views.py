from __future__ import annotations

from django.apps import apps
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from operator_site.lib.views import staff_required

from . import health, links
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


@staff_required
def timeline(request: HttpRequest) -> HttpResponse:
    events = annotate_links(AuditEvent.objects.all()[:100])
    return render(request, "observability/timeline.html", {"events": events})


@staff_required
def performance(request: HttpRequest) -> HttpResponse:
    return render(request, "observability/performance.html", {})
