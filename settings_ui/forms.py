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
