from __future__ import annotations

import json

from django import forms


class ChainEditForm(forms.Form):
    """The detail page's edit form: task and metadata (a JSON object, blank clears it)."""

    task = forms.CharField(max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}))
    metadata = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text='A JSON object, e.g. {"ticket": "OPS-12"}. Leave blank to clear.',
    )
    version = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_metadata(self) -> dict | None:
        raw = self.cleaned_data["metadata"].strip()
        if not raw or raw == "null":
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object (or blank).")
        return value
