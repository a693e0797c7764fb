"""Portal form for a number's destination (customers route numbers; operators assign them)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.tenancy.models import Tenant


class ExtensionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Extension) -> str:
        return f"{obj.number} · {obj.name}" if obj.name else obj.number


class DestinationForm(forms.Form):
    destination = ExtensionChoiceField(
        label=capfirst(PhoneNumber._meta.get_field("destination").verbose_name),
        queryset=Extension.objects.none(),
        required=False,
        empty_label=_("No destination"),
    )

    def __init__(self, tenant: Tenant, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["destination"].queryset = Extension.objects.for_tenant(tenant)
