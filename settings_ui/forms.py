from __future__ import annotations

from django import forms

from .models import SECRET_NAME_RE, WEBHOOK_FORMATS, OperatorSettings, Secret
from .validators import validate_event_patterns, validate_signing_secret, validate_webhook_url


class GeneralSettingsForm(forms.ModelForm):
    """Plain CRUD over the settings row; ranges come from the model's validators."""

    class Meta:
        model = OperatorSettings
        fields = OperatorSettings.editable_fields()


class TokenForm(forms.Form):
    label = forms.CharField(max_length=100, required=False, strip=True)


class BackupCreateForm(forms.Form):
    exclude_secrets = forms.BooleanField(required=False, label="Exclude secrets")
    exclude_audit = forms.BooleanField(required=False, label="Exclude audit events")


class RestoreForm(forms.Form):
    WORD = "RESTORE"

    confirm_text = forms.CharField(max_length=20)

    def clean_confirm_text(self) -> bool:
        if self.cleaned_data["confirm_text"].strip() != self.WORD:
            raise forms.ValidationError(f"Type {self.WORD} to confirm.")
        return True


class UploadForm(forms.Form):
    file = forms.FileField()


class BackupScheduleForm(forms.ModelForm):
    """The auto-backup fields of the settings row; ranges come from the model's validators."""

    class Meta:
        model = OperatorSettings
        fields = ["backup_schedule", "backup_daily_hour", "backup_keep"]


class RetentionForm(forms.Form):
    """One enabled toggle, TTL (blank = forever) and, for tasks, max count per retention kind."""

    def __init__(self, *args, policies, **kwargs):
        from .retention import KINDS

        super().__init__(*args, **kwargs)
        self.rows = []
        for p in policies:
            kind = KINDS[p.kind]
            self.fields[f"{p.kind}-enabled"] = forms.BooleanField(
                required=False, initial=p.enabled, label=f"{kind.label} enabled"
            )
            self.fields[f"{p.kind}-ttl_days"] = forms.IntegerField(
                required=False, min_value=1, max_value=3650, initial=p.ttl_days,
                label=f"{kind.label} TTL (days)",
            )
            if kind.has_max_count:
                self.fields[f"{p.kind}-max_count"] = forms.IntegerField(
                    required=False, min_value=1, max_value=10_000_000, initial=p.max_count,
                    label=f"{kind.label} max kept",
                )
            self.rows.append({
                "kind": p.kind, "label": kind.label, "available": kind.get_model() is not None,
                "enabled": self[f"{p.kind}-enabled"], "ttl": self[f"{p.kind}-ttl_days"],
                "max_count": self[f"{p.kind}-max_count"] if kind.has_max_count else None,
            })

    def values(self) -> dict:
        """{kind: {enabled, ttl_days[, max_count]}} from cleaned data."""
        out = {}
        for row in self.rows:
            k = row["kind"]
            v = {"enabled": self.cleaned_data[f"{k}-enabled"],
                 "ttl_days": self.cleaned_data[f"{k}-ttl_days"]}
            if row["max_count"] is not None:
                v["max_count"] = self.cleaned_data[f"{k}-max_count"]
            out[k] = v
        return out
class WebhookForm(forms.Form):
    """The settings page's "add webhook" form; same rules as the API (400 ⇔ inline errors)."""

    url = forms.CharField(max_length=2000, label="URL",
                          widget=forms.URLInput(attrs={"placeholder": "https://hooks.slack.com/…"}))
    events = forms.CharField(max_length=2000, initial="*",
                             help_text="Comma-separated: *, chain.*, chain.failed")
    format = forms.ChoiceField(choices=WEBHOOK_FORMATS, initial="generic")
    label = forms.CharField(max_length=100, required=False)
    secret = forms.CharField(max_length=200, required=False, label="Signing secret",
                             help_text="whsec_… (Standard Webhooks). Leave empty for unsigned.")

    def clean_url(self) -> str:
        return validate_webhook_url(self.cleaned_data["url"])

    def clean_events(self) -> list[str]:
        parts = [p.strip() for p in self.cleaned_data["events"].split(",") if p.strip()]
        return validate_event_patterns(parts)

    def clean_secret(self) -> str | None:
        return validate_signing_secret(self.cleaned_data["secret"].strip())


class SecretForm(forms.Form):
    name = forms.RegexField(
        SECRET_NAME_RE, max_length=64,
        error_messages={"invalid": "1–64 letters, digits or underscores."},
    )
    value = forms.CharField(widget=forms.PasswordInput(render_value=False), strip=False,
                            max_length=65536)
    label = forms.CharField(max_length=200, required=False)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if Secret.objects.filter(name=name).exists():
            raise forms.ValidationError("A secret with this name exists; delete it first or use the API to replace it.")
        return name
