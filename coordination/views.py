from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from operator_site.lib.views import htmx_partial, staff_required
from settings_ui.models import OperatorSettings

from . import dag
from . import models as m
from .filters import TaskFilter
from .forms import DismissForm, TaskAddForm

COLUMNS = ["pending", "assigned", "running", "complete", "failed", "cancelled"]
SVG_MAX_NODES = 300
NODE_W, NODE_H, GAP_X, GAP_Y = 130, 26, 40, 10


def _svg_layout(graph: dict[str, list[str]], statuses: dict[str, str]) -> dict | None:
    """Positions for the dependency view: one column per graph level."""
    if not graph or len(graph) > SVG_MAX_NODES:
        return None
    try:
        levels = dag.levels(graph)
    except ValueError:
        return None
    pos, nodes = {}, []
    for li, level in enumerate(levels):
        for ni, code in enumerate(level):
            x, y = 10 + li * (NODE_W + GAP_X), 10 + ni * (NODE_H + GAP_Y)
            pos[code] = (x, y)
            nodes.append({"code": code, "x": x, "y": y, "tx": x + 8, "ty": y + 17,
                          "status": statuses.get(code, ""), "label": code[:16]})
    edges = [
        {"x1": pos[d][0] + NODE_W, "y1": pos[d][1] + NODE_H // 2,
         "x2": pos[c][0], "y2": pos[c][1] + NODE_H // 2}
        for c, ds in graph.items() for d in ds if d in pos
    ]
    height = 20 + max(len(level) for level in levels) * (NODE_H + GAP_Y)
    width = 20 + len(levels) * (NODE_W + GAP_X)
    return {"nodes": nodes, "edges": edges, "width": width, "height": height,
            "node_w": NODE_W, "node_h": NODE_H, "levels": len(levels)}


def _board_context(request: HttpRequest, **extra) -> dict:
    flt = TaskFilter(request.GET, queryset=m.Task.objects.select_related("worker"))
    tasks = list(flt.qs[:500])
    ctx_explain = m.explain_context(tasks)
    for t in tasks:
        t.why = "; ".join(t.why_not_running(ctx_explain))
        t.dep_codes = [c for c, _ in ctx_explain["deps"].get(t.pk, [])]
    columns = [(s, [t for t in tasks if t.status == s]) for s in COLUMNS]
    selected = request.GET.get("task", "")
    settings = OperatorSettings.load()
    state = m.CoordinatorState.load()
    rate = m.RateLimitState.peek()
    graph = m.Task.dependency_graph()
    statuses = dict(m.Task.objects.values_list("code", "status"))
    ctx = {
        "filter": flt,
        "columns": columns,
        "selected": selected,
        "selected_missing": bool(selected) and selected not in statuses,
        "progress": m.progress(),
        "coordinator": state,
        "settings": settings,
        "rate": rate,
        "workers": m.Worker.objects.all()[:50],
        "live_workers": ctx_explain["live_workers"],
        "dead_letters": m.DeadLetter.objects.filter(status="pending").select_related("task")[:50],
        "svg": _svg_layout(graph, statuses),
        "graph_size": len(graph),
        "add_form": TaskAddForm(),
        "query": request.GET.urlencode(),
    }
    ctx.update(extra)
    return ctx


def _board(request: HttpRequest, status: int = 200, **extra) -> HttpResponse:
    """The board fragment for HTMX, else the whole page (which includes the same fragment)."""
    ctx = _board_context(request, **extra)
    template = "coordination/_board.html" if htmx_partial(request) else "coordination/task_board.html"
    return render(request, template, ctx, status=status)


@staff_required
def task_board(request: HttpRequest) -> HttpResponse:
    return _board(request)


@staff_required
@require_POST
def task_add(request: HttpRequest) -> HttpResponse:
    form = TaskAddForm(request.POST)
    if form.is_valid():
        try:
            [task] = m.Task.create_many([form.spec()], actor=request.user)
        except m.Invalid as e:
            form.add_error(e.field if e.field in form.fields else None, e.message)
        else:
            messages.success(request, f"Task {task.code} added.")
            return redirect(f"/tasks/?task={task.code}")
    # 200 like any re-rendered form page: the errors are shown inline next to the fields.
    return render(request, "coordination/task_board.html", _board_context(request, add_form=form))


def _after_action(request: HttpRequest, notice: str, ok: bool = True) -> HttpResponse:
    if htmx_partial(request):
        return _board(request, notice=notice, notice_ok=ok)
    (messages.success if ok else messages.error)(request, notice)
    return redirect("/tasks/")


@staff_required
@require_POST
def task_action(request: HttpRequest, code: str, verb: str) -> HttpResponse:
    task = get_object_or_404(m.Task, code=code)
    try:
        if verb == "cancel":
            done = task.cancel("cancelled by operator", actor=request.user)
            notice = f"Cancelled {', '.join(done)}." if done else f"{code} was already finished."
        elif verb == "retry":
            restored = task.retry(actor=request.user)
            notice = f"{code} re-queued" + (f" with {', '.join(restored)}." if restored else ".")
        else:
            task.remove(actor=request.user)
            notice = f"{code} deleted."
    except m.StateConflict as e:
        return _after_action(request, str(e), ok=False)
    return _after_action(request, notice)


@staff_required
@require_POST
def coordinator_action(request: HttpRequest, verb: str) -> HttpResponse:
    state = m.CoordinatorState.load()
    try:
        getattr(state, verb)(actor=request.user)
    except m.StateConflict as e:
        return _after_action(request, str(e), ok=False)
    return _after_action(request, f"Coordinator {state.status}.")


@staff_required
@require_POST
def dead_letter_action(request: HttpRequest, code, verb: str) -> HttpResponse:
    letter = get_object_or_404(m.DeadLetter, code=code)
    try:
        if verb == "retry":
            letter.retry(actor=request.user)
            notice = f"{letter.task.code} re-queued from the dead letters."
        else:
            form = DismissForm(request.POST)
            reason = form.cleaned_data["reason"] if form.is_valid() else ""
            letter.dismiss(reason, actor=request.user)
            notice = f"Dead letter for {letter.task.code} dismissed."
    except m.StateConflict as e:
        return _after_action(request, str(e), ok=False)
    return _after_action(request, notice)


# --- terminals ------------------------------------------------------------------------------


@staff_required
def terminals(request: HttpRequest) -> HttpResponse:
    terms = list(m.Terminal.objects.select_related("worker", "task"))
    wanted = request.GET.get("tab", "")
    codes = [t.code for t in terms]
    active = wanted if wanted in codes else (codes[0] if codes else "")
    return render(request, "coordination/terminals.html", {
        "terminals": terms,
        "active": active,
        "unknown_tab": wanted if wanted and wanted not in codes else "",
    })


@staff_required
def terminal_panel(request: HttpRequest, code: str) -> HttpResponse:
    """One terminal's live part (status, output tail, messages); polled by the page."""
    term = get_object_or_404(m.Terminal.objects.select_related("worker", "task"), code=code)
    return render(request, "coordination/_terminal_panel.html", {"t": term})
