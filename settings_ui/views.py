from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from operator_site.lib.views import htmx_partial, staff_required

from .backups import BackupError, RestoreRefused
from .filters import WebhookFilter
from .forms import (
    BackupCreateForm,
    BackupScheduleForm,
    GeneralSettingsForm,
    RestoreForm,
    RetentionForm,
    SecretForm,
    TokenForm,
    UploadForm,
    WebhookForm,
)
from .models import (
    ApiToken,
    Backup,
    OperatorSettings,
    RetentionPolicy,
    Secret,
    SweepRun,
    Webhook,
    WebhookDelivery,
)
from .retention import sweep


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
    if "backups" not in overrides:
        ctx.update(_backups_context())
    if "retention_form" not in overrides:
        ctx.update(_retention_context())
    ctx.update(overrides)
    return ctx


def _selected_webhook(request: HttpRequest) -> Webhook | None:
    """?webhook=<code> (timeline links): that row is highlighted and its log shown."""
    code = request.GET.get("webhook", "")
    try:
        return Webhook.objects.filter(code=code).first() if code else None
    except ValidationError:
        return None


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


# --- backups ------------------------------------------------------------------------------------


def _backups_context(**overrides) -> dict:
    from .tasks import auto_backup_status

    backups = list(Backup.objects.select_related("created_by")[:50])
    ctx = {
        "backups": backups,
        "backups_busy": any(b.status in ("pending", "running") for b in backups),
        "backup_form": BackupCreateForm(),
        "upload_form": UploadForm(),
        "schedule_form": BackupScheduleForm(instance=OperatorSettings.load()),
        "auto_status": auto_backup_status(),
        "restore_word": RestoreForm.WORD,
        "backup_msg": "", "backup_error": "", "preview": None, "preview_backup": None,
    }
    ctx.update(overrides)
    return ctx


def _backup_section(request: HttpRequest, msg: str = "", error: str = "", **ctx) -> HttpResponse:
    if not htmx_partial(request):
        if msg:
            messages.success(request, msg)
        if error:
            messages.error(request, error)
        if "preview" not in ctx and "schedule_form" not in ctx:
            return redirect("/settings/#backups")
    return _section(request, "settings_ui/_backups.html",
                    **_backups_context(backup_msg=msg, backup_error=error, **ctx))


@staff_required
def backups_section(request: HttpRequest) -> HttpResponse:
    return _section(request, "settings_ui/_backups.html", **_backups_context())


@staff_required
@require_POST
def backup_create(request: HttpRequest) -> HttpResponse:
    form = BackupCreateForm(request.POST)
    form.is_valid()  # two checkboxes: always valid
    backup = Backup.start(actor=request.user, **form.cleaned_data)
    return _backup_section(request, msg=f"Backup {backup.name} started.")


@staff_required
@require_GET
def backup_preview(request: HttpRequest, code) -> HttpResponse:
    backup = get_object_or_404(Backup, code=code)
    return _backup_section(request, preview=backup.preview(), preview_backup=backup)


@staff_required
@require_POST
def backup_restore(request: HttpRequest, code) -> HttpResponse:
    backup = get_object_or_404(Backup, code=code)
    form = RestoreForm(request.POST)
    if not form.is_valid():
        return _backup_section(request, error=form.errors["confirm_text"][0])
    if backup.status != "ok":
        return _backup_section(request, error="That backup is not finished.")
    try:
        result = backup.restore(actor=request.user)
    except (RestoreRefused, BackupError) as e:
        return _backup_section(request, error=f"Nothing was restored: {e}")
    rows = sum(result["counts"].values())
    return _backup_section(
        request, msg=f"Restored {rows:,} rows from {backup.name}. "
        f"The data before it is in {result['pre_restore']}."
    )


@staff_required
@require_POST
def backup_delete(request: HttpRequest, code) -> HttpResponse:
    backup = get_object_or_404(Backup, code=code)
    if backup.status in ("pending", "running"):
        return _backup_section(request, error="That backup is still being written.")
    backup.remove(actor=request.user)
    return _backup_section(request, msg=f"Deleted {backup.name}.")


@staff_required
@require_POST
def backup_upload(request: HttpRequest) -> HttpResponse:
    limit = OperatorSettings.load().backup_upload_max_mb * 1024 * 1024
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit + 64 * 1024:  # refused before the body is read; multipart framing allowed
        return _backup_section(
            request, error=f"Upload rejected: larger than the upload limit ({limit // (1024 * 1024)} MB)."
        )
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _backup_section(request, error="Choose a backup file to upload.")
    try:
        backup = Backup.from_upload(form.cleaned_data["file"], limit=limit, actor=request.user)
    except BackupError as e:
        return _backup_section(request, error=f"Upload rejected: {e}")
    return _backup_section(request, msg=f"Uploaded as {backup.name}.")


@staff_required
@require_POST
def backup_schedule(request: HttpRequest) -> HttpResponse:
    obj = OperatorSettings.load()
    form = BackupScheduleForm(request.POST, instance=OperatorSettings.load())
    if not form.is_valid():
        return _backup_section(request, schedule_form=form, error="Schedule not saved.")
    changes = obj.apply(form.cleaned_data, actor=request.user)
    return _backup_section(request, msg="Schedule saved." if changes else "No changes.")


# --- retention ----------------------------------------------------------------------------------


def _retention_context(**overrides) -> dict:
    ctx = {
        "retention_form": RetentionForm(policies=RetentionPolicy.load_all()),
        "sweeps": SweepRun.objects.all()[:10],
        "retention_msg": "", "retention_result": None,
    }
    ctx.update(overrides)
    return ctx


@staff_required
@require_http_methods(["GET", "POST"])
def retention_section(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = RetentionForm(request.POST, policies=RetentionPolicy.load_all())
        if not form.is_valid():
            return _section(request, "settings_ui/_retention.html",
                            **_retention_context(retention_form=form))
        changes = RetentionPolicy.store(form.values(), actor=request.user)
        msg = f"Saved ({sum(len(c) for c in changes.values())} changed)." if changes else "No changes."
        if not htmx_partial(request):
            messages.success(request, msg)
            return redirect("/settings/#retention")
        return _section(request, "settings_ui/_retention.html",
                        **_retention_context(retention_msg=msg))
    return _section(request, "settings_ui/_retention.html", **_retention_context())


@staff_required
@require_POST
def retention_run(request: HttpRequest) -> HttpResponse:
    dry_run = request.POST.get("dry_run") == "1"
    run = sweep(dry_run=dry_run, trigger="manual", actor=request.user)
    if not htmx_partial(request):
        messages.success(request, f"{'Dry run' if dry_run else 'Sweep'}: {run.total} rows.")
        return redirect("/settings/#retention")
    return _section(request, "settings_ui/_retention.html",
                    **_retention_context(retention_result=run))


# --- webhooks -------------------------------------------------------------------------------

WEBHOOKS = "settings_ui/_webhooks.html"


def _webhooks_done(request: HttpRequest, msg: str, **ctx) -> HttpResponse:
    if not htmx_partial(request):
        messages.success(request, msg)
        return redirect("/settings/#webhooks")
    return _section(request, WEBHOOKS, webhooks_saved=msg, **ctx)


@staff_required
@require_http_methods(["GET", "POST"])
def webhooks_section(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = WebhookForm(request.POST)
        if form.is_valid():
            hook = Webhook.create_from({**form.cleaned_data, "active": True}, actor=request.user)
            return _webhooks_done(request, f"Webhook {hook} added.")
        return _section(request, WEBHOOKS, webhook_form=form)
    return _section(request, WEBHOOKS)


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

SECRETS = "settings_ui/_secrets.html"


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
            return _section(request, SECRETS, secrets_saved=msg)
        return _section(request, SECRETS, secret_form=form)
    return _section(request, SECRETS)


@staff_required
@require_POST
def secret_delete(request: HttpRequest, name: str) -> HttpResponse:
    secret = get_object_or_404(Secret, name=name)
    secret.remove(actor=request.user)
    msg = f"Secret {name} deleted."
    if not htmx_partial(request):
        messages.success(request, msg)
        return redirect("/settings/#secrets")
    return _section(request, SECRETS, secrets_saved=msg)
