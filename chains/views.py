from __future__ import annotations

import json
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from operator_site.lib.views import htmx_partial, staff_required

from . import runner
from .filters import ChainFilter
from .forms import ChainEditForm
from .models import BULK_MAX, Chain, ChainRun, OutputChunk

PAGE_SIZE = 25
ORDER_CHOICES = [
    ("", "Recently updated"), ("updated_at", "Least recently updated"),
    ("-created_at", "Newest"), ("created_at", "Oldest"), ("-cost_usd", "Cost ↓"),
    ("cost_usd", "Cost ↑"), ("-sessions", "Sessions ↓"), ("status", "Status"),
]
FILTER_KEYS = ("q", "status", "project", "model", "ordering", "page")


def _results_context(params: QueryDict) -> dict:
    """The list fragment's context for the given filter params (GET, or a bulk POST's)."""
    filterset = ChainFilter(params, queryset=Chain.objects.all())
    qs = filterset.qs if filterset.is_valid() else Chain.objects.none()
    costs = qs.cost_summary() if filterset.is_valid() else None
    paginator = Paginator(qs, PAGE_SIZE)
    if costs is not None:
        # The cost cards already counted the filtered set exactly; don't scan it again.
        paginator.count = costs["total_chains"]
    page = paginator.get_page(params.get("page"))
    keep = QueryDict(mutable=True)
    for key in FILTER_KEYS[:-1]:
        if params.get(key):
            keep[key] = params[key]
    return {
        "filterset": filterset,
        "page": page,
        "chains": page.object_list,
        "querystring": keep.urlencode(),
        "costs": costs,
        "params": {k: params.get(k, "") for k in FILTER_KEYS},
    }


@staff_required
def chain_list(request: HttpRequest) -> HttpResponse:
    ctx = _results_context(request.GET)
    if htmx_partial(request):
        return render(request, "chains/_results.html", ctx)
    ctx.update(
        statuses=Chain.Status.choices,
        models=Chain.Model.choices,
        projects=Chain.objects.exclude(project_dir="").order_by("project_dir")
        .values_list("project_dir", flat=True).distinct()[:200],
        order_choices=ORDER_CHOICES,
    )
    return render(request, "chains/chain_list.html", ctx)


def _bulk(request: HttpRequest, op: str) -> HttpResponse:
    ids, bad = [], []
    for raw in dict.fromkeys(request.POST.getlist("ids")):
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            bad.append(raw)
    if bad or not ids or len(ids) > BULK_MAX:
        msg = (
            "Select at least one chain." if not ids and not bad
            else f"Select at most {BULK_MAX} chains." if len(ids) > BULK_MAX
            else "Unknown chain id in the selection."
        )
        level = messages.ERROR
    else:
        fn = Chain.objects.bulk_archive if op == "archive" else Chain.objects.bulk_delete
        out = fn(ids, actor=request.user)
        verb = "Archived" if op == "archive" else "Deleted"
        msg = f"{verb} {out['succeeded']} of {out['total']}."
        failures = [r for r in out["results"] if not r["success"]]
        if failures:
            msg += " Not changed: " + "; ".join(
                f"{r['id'][:8]} ({r['error']})" for r in failures[:10]
            ) + "."
        level = messages.SUCCESS if not failures else messages.WARNING
    if not htmx_partial(request):
        messages.add_message(request, level, msg)
        return redirect("/chains/")
    ctx = _results_context(request.POST)
    ctx["bulk_message"] = msg
    ctx["bulk_ok"] = level == messages.SUCCESS
    return render(request, "chains/_results.html", ctx)


@staff_required
@require_POST
def bulk_archive(request: HttpRequest) -> HttpResponse:
    return _bulk(request, "archive")


@staff_required
@require_POST
def bulk_delete(request: HttpRequest) -> HttpResponse:
    return _bulk(request, "delete")


def _cost_chart(sessions, width=600, height=140) -> dict:
    """Bar geometry for the per-session cost chart (inline SVG, no JS)."""
    costs = [float(s.cost_usd) for s in sessions]
    top = max(costs, default=0) or 1.0
    n = max(len(costs), 1)
    slot = (width - 40) / n
    bar = max(min(slot * 0.7, 60), 2)
    plot = height - 30
    bars = []
    for i, (s, c) in enumerate(zip(sessions, costs, strict=True)):
        h = round(c / top * plot, 1)
        bars.append({
            "x": round(40 + i * slot + (slot - bar) / 2, 1), "y": round(10 + plot - h, 1),
            "w": round(bar, 1), "h": h, "label": s.index + 1, "cost": c,
            "error": s.status == "error", "lx": round(40 + i * slot + slot / 2, 1),
        })
    return {"bars": bars, "width": width, "height": height, "top": top,
            "base": 10 + plot, "label_y": height - 6}


def _detail_context(chain: Chain, **extra) -> dict:
    sessions = list(chain.sessions.all())
    ctx = {
        "chain": chain,
        "sessions": sessions,
        "chart": _cost_chart(sessions),
        "restarts": list(chain.restarts.order_by("created_at").only("id", "status", "created_at")),
    }
    ctx.update(_output_context(chain))
    ctx.update(extra)
    return ctx


OUTPUT_TAIL_CHUNKS = 200
OUTPUT_TAIL_CHARS = 20_000


def _output_context(chain: Chain) -> dict:
    """The runner panel: the run (None if never started here), the newest session's output tail
    and the live figures (elapsed time of the session in flight, turns and cost so far)."""
    run = ChainRun.objects.filter(pk=chain.pk).first()
    if run is None:
        return {"run": None, "can_start": chain.is_running}
    latest = OutputChunk.objects.filter(chain=chain).order_by("-id").values_list(
        "session_index", flat=True).first()
    chunks = []
    if latest is not None:
        chunks = list(OutputChunk.objects.filter(chain=chain, session_index=latest)
                      .order_by("-id").values_list("text", flat=True)[:OUTPUT_TAIL_CHUNKS])
    text = "".join(reversed(chunks))
    if len(text) > OUTPUT_TAIL_CHARS:
        text = "…" + text[-OUTPUT_TAIL_CHARS:]
    elapsed = None
    if run.session_started_at and run.finished_at is None:
        secs = int((timezone.now() - run.session_started_at).total_seconds())
        elapsed = f"{secs // 60}:{secs % 60:02d}"
    live = run.finished_at is None and (chain.is_running or bool(run.claim))
    silent = bool(live and run.heartbeat_at and (timezone.now() - run.heartbeat_at).total_seconds()
                  > runner.stale_seconds())
    return {
        "run": run, "can_start": False, "output_text": text,
        "waiting": live and not run.claim, "silent": silent,
        "output_session": None if latest is None else latest + 1,
        # An aborted chain keeps polling until its runner has stopped the agent and said so.
        "elapsed": elapsed, "live": live,
    }


def _edit_form(chain: Chain) -> ChainEditForm:
    return ChainEditForm(initial={
        "task": chain.task,
        "metadata": json.dumps(chain.metadata, indent=2) if chain.metadata is not None else "",
        "version": chain.etag,
    })


@staff_required
def chain_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    chain = get_object_or_404(Chain.objects.select_related("restarted_from"), pk=pk)
    if htmx_partial(request):
        return render(request, "chains/_live.html", _detail_context(chain))
    return render(request, "chains/chain_detail.html",
                  _detail_context(chain, form=_edit_form(chain)))


@staff_required
@require_POST
def chain_edit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    chain = get_object_or_404(Chain, pk=pk)
    form = ChainEditForm(request.POST)
    saved = None
    if form.is_valid():
        version = form.cleaned_data["version"]
        if version and version != chain.etag:
            form.add_error(None, "Someone changed this chain since you opened it: reload to "
                                 "see their version (nothing was saved).")
        else:
            chain.edit({"task": form.cleaned_data["task"], "metadata": form.cleaned_data["metadata"]},
                       actor=request.user)
            if not htmx_partial(request):
                messages.success(request, "Saved.")
                return redirect(chain.get_absolute_url())
            form, saved = _edit_form(chain), "Saved."
    if not htmx_partial(request):
        return render(request, "chains/chain_detail.html", _detail_context(chain, form=form))
    return render(request, "chains/_edit.html", {"chain": chain, "form": form, "saved": saved})


def _after_action(request: HttpRequest, url: str, msg: str, ok: bool = True) -> HttpResponse:
    messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, msg)
    if htmx_partial(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


@staff_required
@require_POST
def chain_abort(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    chain = get_object_or_404(Chain, pk=pk)
    ok = chain.abort(actor=request.user)
    msg = "Chain aborted." if ok else f"Not aborted: the chain is {chain.status}."
    return _after_action(request, chain.get_absolute_url(), msg, ok)


@staff_required
@require_POST
def chain_restart(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    chain = get_object_or_404(Chain, pk=pk)
    if chain.is_running:
        return _after_action(request, chain.get_absolute_url(),
                             "Not restarted: the chain is running.", False)
    new = chain.restart(actor=request.user)
    return _after_action(request, new.get_absolute_url(), "Restarted as a new chain.")


@staff_required
@require_POST
def chain_archive(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    chain = get_object_or_404(Chain, pk=pk)
    out = Chain.objects.bulk_archive([chain.pk], actor=request.user)["results"][0]
    msg = "Chain archived." if out["success"] else f"Not archived: {out['error']}."
    return _after_action(request, chain.get_absolute_url(), msg, out["success"])


@staff_required
@require_POST
def chain_delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    chain = get_object_or_404(Chain, pk=pk)
    if not chain.delete_chain(actor=request.user):
        return _after_action(request, chain.get_absolute_url(),
                             "Not deleted: the chain is running — abort it first.", False)
    return _after_action(request, "/chains/", "Chain deleted.")


@staff_required
@require_POST
def chain_start(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    chain = get_object_or_404(Chain, pk=pk)
    try:
        runner.start_chain(chain, actor=request.user)
    except runner.StartRefused as e:
        return _after_action(request, chain.get_absolute_url(), f"Not started: {e.message}", False)
    return _after_action(request, chain.get_absolute_url(), "Chain started.")


@staff_required
def chain_output(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The runner panel fragment, polled every second while the chain runs."""
    chain = get_object_or_404(Chain, pk=pk)
    return render(request, "chains/_output.html", {"chain": chain, **_output_context(chain)})
