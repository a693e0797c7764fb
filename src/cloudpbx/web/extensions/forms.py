"""Portal form for extensions; the rules (digits, reserved short numbers, uniqueness) are the
model's, reported by :mod:`cloudpbx.extensions.services`."""

from __future__ import annotations

from django import forms
from django.utils.text import capfirst

from cloudpbx.extensions.models import Extension


def _field(name: str) -> object:
    return Extension._meta.get_field(name)


class ExtensionForm(forms.Form):
    number = forms.CharField(
        label=capfirst(_field("number").verbose_name),
        required=False,
        help_text=_field("number").help_text,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    name = forms.CharField(
        label=capfirst(_field("name").verbose_name), required=False, max_length=100
    )
