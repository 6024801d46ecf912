from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from operator_site.lib.views import htmx_partial, staff_required

from .forms import GeneralSettingsForm, TokenForm
from .models import ApiToken, OperatorSettings


def _page_context(request: HttpRequest, **overrides) -> dict:
    """Context for the whole settings page: every section's default state."""
    ctx = {
        "general_form": GeneralSettingsForm(instance=OperatorSettings.load()),
        "tokens": ApiToken.objects.filter(user=request.user),
        "token_form": TokenForm(),
        "new_token": None,
    }
    ctx.update(overrides)
    return ctx


def _section(request: HttpRequest, fragment: str, **ctx) -> HttpResponse:
    """The fragment for HTMX, else the whole page (no-JS form posts land on their section)."""
    if htmx_partial(request):
        return render(request, fragment, _page_context(request, **ctx))
    return render(request, "settings_ui/settings.html", _page_context(request, **ctx))


@staff_required
def settings_page(request: HttpRequest) -> HttpResponse:
    return render(request, "settings_ui/settings.html", _page_context(request))


@staff_required
@require_http_methods(["GET", "POST"])
def general_section(request: HttpRequest) -> HttpResponse:
    obj = OperatorSettings.load()
    if request.method == "POST":
        form = GeneralSettingsForm(request.POST, instance=OperatorSettings.load())
        if form.is_valid():
            changes = obj.apply(
                {k: form.cleaned_data[k] for k in OperatorSettings.editable_fields()},
                actor=request.user,
            )
            msg = f"Saved ({len(changes)} changed)." if changes else "No changes."
            if not htmx_partial(request):
                messages.success(request, msg)
                return redirect("/settings/#general")
            return _section(
                request, "settings_ui/_general.html",
                general_form=GeneralSettingsForm(instance=obj), general_saved=msg,
            )
        return _section(request, "settings_ui/_general.html", general_form=form)
    return _section(request, "settings_ui/_general.html")


@staff_required
@require_POST
def general_reset(request: HttpRequest) -> HttpResponse:
    obj = OperatorSettings.load()
    obj.reset(actor=request.user)
    if not htmx_partial(request):
        messages.success(request, "Settings reset to defaults.")
        return redirect("/settings/#general")
    return _section(
        request, "settings_ui/_general.html",
        general_form=GeneralSettingsForm(instance=obj), general_saved="Reset to defaults.",
    )


@staff_required
@require_http_methods(["GET", "POST"])
def tokens_section(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            _, raw = ApiToken.issue(request.user, form.cleaned_data["label"])
            # Shown once, in this response only; never stored or put in a redirect.
            return _section(request, "settings_ui/_tokens.html", new_token=raw)
        return _section(request, "settings_ui/_tokens.html", token_form=form)
    return _section(request, "settings_ui/_tokens.html")


@staff_required
@require_POST
def token_revoke(request: HttpRequest, code) -> HttpResponse:
    token = get_object_or_404(ApiToken, code=code, user=request.user)
    token.revoke(actor=request.user)
    if not htmx_partial(request):
        messages.success(request, "Token revoked.")
        return redirect("/settings/#tokens")
    return _section(request, "settings_ui/_tokens.html")
