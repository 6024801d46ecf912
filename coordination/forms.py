from __future__ import annotations

import re

from django import forms

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")


class TaskAddForm(forms.Form):
    """The board's add-task form; deps are ids separated by commas or spaces."""

    id = forms.SlugField(max_length=100, required=False, label="Id",
                         help_text="Optional; generated when blank")
    task = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=20_000)
    priority = forms.IntegerField(min_value=-1000, max_value=1000, initial=0, required=False)
    category = forms.CharField(max_length=40, required=False,
                               help_text="Detected from the text when blank")
    deps = forms.CharField(max_length=5000, required=False, label="Depends on",
                           help_text="Task ids, comma or space separated")

    def clean_deps(self) -> list[str]:
        ids = [d for d in re.split(r"[,\s]+", self.cleaned_data["deps"]) if d]
        bad = [d for d in ids if not SLUG_RE.match(d)]
        if bad:
            raise forms.ValidationError(f"Not a task id: {', '.join(bad)}")
        return list(dict.fromkeys(ids))

    def spec(self) -> dict:
        d = self.cleaned_data
        return {"id": d["id"] or None, "task": d["task"], "priority": d["priority"] or 0,
                "category": d["category"], "deps": d["deps"]}


class DismissForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
