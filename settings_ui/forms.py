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
