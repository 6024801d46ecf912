from __future__ import annotations

from django import forms

from .models import OperatorSettings


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
