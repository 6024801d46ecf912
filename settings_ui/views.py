from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from operator_site.lib.views import htmx_partial, staff_required

from .filters import WebhookFilter
from .forms import GeneralSettingsForm, SecretForm, TokenForm, WebhookForm
from .models import ApiToken, OperatorSettings, Secret, Webhook, WebhookDelivery


def _page_context(request: HttpRequest, **overrides) -> dict:
    """Context for the whole settings page: every section's default state."""
    ctx = {
        "general_form": GeneralSettingsForm(instance=OperatorSettings.load()),
        "tokens": ApiToken.objects.filter(user=request.user),
        "token_form": TokenForm(),
        "new_token": None,
        "webhooks": WebhookFilter(request.GET, Webhook.objects.all()).qs,
        "webhook_form": WebhookForm(),
        "selected_webhook": _selected_webhook(request),
        "secrets": Secret.objects.all(),
        "secret_form": SecretForm(),
    }
    ctx.update(overrides)
    return ctx


def _selected_webhook(request: HttpRequest) -> Webhook | None:
    """?webhook=<code> (timeline links): that row is highlighted and its log shown."""
    code = request.GET.get("webhook", "")
    try:
        return Webhook.objects.filter(code=code).first() if code else None
    except ValidationError:
        return None


def _section(request: HttpRequest, fragment: str, anchor: str, **ctx) -> HttpResponse:
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
                request, "settings_ui/_general.html", "general",
                general_form=GeneralSettingsForm(instance=obj), general_saved=msg,
            )
        return _section(request, "settings_ui/_general.html", "general", general_form=form)
    return _section(request, "settings_ui/_general.html", "general")


@staff_required
@require_POST
def general_reset(request: HttpRequest) -> HttpResponse:
    obj = OperatorSettings.load()
    obj.reset(actor=request.user)
    if not htmx_partial(request):
        messages.success(request, "Settings reset to defaults.")
        return redirect("/settings/#general")
    return _section(
        request, "settings_ui/_general.html", "general",
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
            return _section(request, "settings_ui/_tokens.html", "tokens", new_token=raw)
        return _section(request, "settings_ui/_tokens.html", "tokens", token_form=form)
    return _section(request, "settings_ui/_tokens.html", "tokens")


@staff_required
@require_POST
def token_revoke(request: HttpRequest, code) -> HttpResponse:
    token = get_object_or_404(ApiToken, code=code, user=request.user)
    token.revoke(actor=request.user)
    if not htmx_partial(request):
        messages.success(request, "Token revoked.")
        return redirect("/settings/#tokens")
    return _section(request, "settings_ui/_tokens.html", "tokens")


# --- webhooks -------------------------------------------------------------------------------

WEBHOOKS = ("settings_ui/_webhooks.html", "webhooks")


def _webhooks_done(request: HttpRequest, msg: str, **ctx) -> HttpResponse:
    if not htmx_partial(request):
        messages.success(request, msg)
        return redirect("/settings/#webhooks")
    return _section(request, *WEBHOOKS, webhooks_saved=msg, **ctx)


@staff_required
@require_http_methods(["GET", "POST"])
def webhooks_section(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = WebhookForm(request.POST)
        if form.is_valid():
            hook = Webhook.create_from({**form.cleaned_data, "active": True}, actor=request.user)
            return _webhooks_done(request, f"Webhook {hook} added.")
        return _section(request, *WEBHOOKS, webhook_form=form)
    return _section(request, *WEBHOOKS)


@staff_required
@require_POST
def webhook_toggle(request: HttpRequest, code) -> HttpResponse:
    hook = get_object_or_404(Webhook, code=code)
    if hook.active:
        hook.disable(actor=request.user)
        return _webhooks_done(request, f"Webhook {hook} disabled.")
    hook.enable(actor=request.user)
    return _webhooks_done(request, f"Webhook {hook} enabled.")


@staff_required
@require_POST
def webhook_delete(request: HttpRequest, code) -> HttpResponse:
    hook = get_object_or_404(Webhook, code=code)
    name = str(hook)
    hook.remove(actor=request.user)
    return _webhooks_done(request, f"Webhook {name} deleted.")


@staff_required
@require_POST
def webhook_test(request: HttpRequest, code) -> HttpResponse:
    """One synchronous test delivery; the result is shown inline in the webhook's row."""
    hook = get_object_or_404(Webhook, code=code)
    delivery = hook.send_test(actor=request.user)
    if not htmx_partial(request):
        level = messages.success if delivery.status == "succeeded" else messages.error
        level(request, f"Test of {hook}: {delivery.error or delivery.response_status}")
        return redirect(f"/settings/?webhook={hook.code}#webhooks")
    return render(request, "settings_ui/_webhook_test_result.html", {"delivery": delivery})


@staff_required
def webhook_deliveries(request: HttpRequest, code) -> HttpResponse:
    hook = get_object_or_404(Webhook, code=code)
    if not htmx_partial(request):
        return redirect(f"/settings/?webhook={hook.code}#webhooks")
    return render(request, "settings_ui/_webhook_deliveries.html", {"hook": hook})


@staff_required
@require_POST
def webhook_redeliver(request: HttpRequest, code, delivery) -> HttpResponse:
    hook = get_object_or_404(Webhook, code=code)
    original = get_object_or_404(WebhookDelivery, webhook=hook, code=delivery)
    original.redeliver()
    if not htmx_partial(request):
        messages.success(request, "Redelivery queued.")
        return redirect(f"/settings/?webhook={hook.code}#webhooks")
    return render(request, "settings_ui/_webhook_deliveries.html",
                  {"hook": hook, "redelivered": True})


@staff_required
def webhook_preview(request: HttpRequest, code) -> HttpResponse:
    """The exact payload this webhook's format sends for a sample chain.failed event."""
    import json

    from .api import webhook_preview as preview

    hook = get_object_or_404(Webhook, code=code)
    result = preview(hook, "chain.failed")
    ctx = {"hook": hook, "preview": result,
           "payload_json": json.dumps(result["payload"], indent=2, ensure_ascii=False)}
    if not htmx_partial(request):
        return redirect(f"/settings/?webhook={hook.code}#webhooks")
    return render(request, "settings_ui/_webhook_preview.html", ctx)


# --- secrets --------------------------------------------------------------------------------

SECRETS = ("settings_ui/_secrets.html", "secrets")


@staff_required
@require_http_methods(["GET", "POST"])
def secrets_section(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SecretForm(request.POST)
        if form.is_valid():
            Secret.put(**form.cleaned_data, actor=request.user)
            msg = f"Secret {form.cleaned_data['name']} stored."
            if not htmx_partial(request):
                messages.success(request, msg)
                return redirect("/settings/#secrets")
            return _section(request, *SECRETS, secrets_saved=msg)
        return _section(request, *SECRETS, secret_form=form)
    return _section(request, *SECRETS)


@staff_required
@require_POST
def secret_delete(request: HttpRequest, name: str) -> HttpResponse:
    secret = get_object_or_404(Secret, name=name)
    secret.remove(actor=request.user)
    msg = f"Secret {name} deleted."
    if not htmx_partial(request):
        messages.success(request, msg)
        return redirect("/settings/#secrets")
    return _section(request, *SECRETS, secrets_saved=msg)
