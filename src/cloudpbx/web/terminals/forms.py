"""Portal forms for terminals. They only read what the customer typed; every rule is checked by
:mod:`cloudpbx.terminals.services` (the model), whose errors land next to these fields."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.vendors import MANUFACTURER_CHOICES, VENDORS
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import EDITABLE_FIELDS, DeviceSettings
from cloudpbx.web.templatetags.portal import phone

# Service error keys that differ from the form's field names.
ERROR_FIELDS = {
    "device": "manufacturer",
    "device.manufacturer": "manufacturer",
    "device.model": "model",
    "device.mac": "mac",
    "device.mac_id_crc": "mac_id",
    "device.auth_mode": "auth_mode",
    "device.trusted_networks": "trusted_networks",
}
# One line under each choice of the radio-card fields.
CHOICE_HINTS = {
    "type": {
        Terminal.Type.IP_PHONE: _("A desk phone that registers with a SIP account."),
        Terminal.Type.APP: _("A softphone app on a smartphone or computer."),
        Terminal.Type.EXTERNAL: _(
            "Any phone number, e.g. a mobile, that rings for incoming calls."
        ),
    },
    "config_mode": {
        Terminal.ConfigMode.MANUAL: _("You enter the SIP credentials in the phone yourself."),
        Terminal.ConfigMode.AUTOMATIC: _(
            "Our provisioning server configures the phone completely."
        ),
    },
    "auth_mode": {
        ProvisioningDevice.AuthMode.CREDENTIALS: _(
            "The phone logs in to the provisioning server with a username and password."
        ),
        ProvisioningDevice.AuthMode.TRUSTED_IP: _(
            "The phone is recognised by the address of your office's internet connection."
        ),
    },
}
_NETWORK_SEPARATORS = re.compile(r"[\s,;]+")


def _label(field: str, model: Any = Terminal) -> str:
    return capfirst(model._meta.get_field(field).verbose_name)


class NumberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PhoneNumber) -> str:
        text = phone(obj.e164)
        if obj.is_main:
            return f"{text} ({_('main number')})"
        return f"{text} ({obj.label})" if obj.label else text


class ExtensionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Extension) -> str:
        return f"{obj.number} · {obj.name}" if obj.name else obj.number


class ExtensionsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Extension) -> str:
        return f"{obj.number} · {obj.name}" if obj.name else obj.number


def parse_networks(raw: str) -> list[str]:
    """One address or range per line (commas and spaces separate too)."""
    return [item for item in _NETWORK_SEPARATORS.split(raw or "") if item]


def model_choices(manufacturer: str) -> list[tuple[str, str]]:
    vendor = VENDORS.get(manufacturer)
    if vendor is None:
        return [("", _("Choose the manufacturer first"))]
    return [("", _("Choose…"))] + [(m.key, m.label) for m in vendor.models]


class TerminalForm(forms.Form):
    """Add and edit. Fields are optional here on purpose: the model says what is missing, in
    the same words as the API, and reports every problem at once."""

    name = forms.CharField(label=_label("name"), required=False, max_length=100)
    type = forms.ChoiceField(
        label=_label("type"),
        choices=Terminal.Type.choices,
        widget=forms.RadioSelect,
        initial=Terminal.Type.IP_PHONE,
    )
    external_calls_enabled = forms.BooleanField(
        label=_("Enable external telephony"),
        required=False,
        initial=True,
        help_text=Terminal._meta.get_field("external_calls_enabled").help_text,
    )
    identification_number = NumberChoiceField(
        label=_label("identification_number"),
        queryset=PhoneNumber.objects.none(),
        required=False,
        empty_label=_("Main number"),
        help_text=Terminal._meta.get_field("identification_number").help_text,
    )
    internal_display_name = forms.CharField(
        label=_label("internal_display_name"), required=False, max_length=100
    )
    internal_extension = ExtensionChoiceField(
        label=_label("internal_extension"),
        queryset=Extension.objects.none(),
        required=False,
        empty_label=_("None"),
    )
    caller_id_mode = forms.ChoiceField(
        label=_label("caller_id_mode"),
        choices=Terminal.CallerIdMode.choices,
        widget=forms.RadioSelect,
        initial=Terminal.CallerIdMode.PBX_NUMBER,
    )
    media_encryption = forms.ChoiceField(
        label=_label("media_encryption"),
        choices=Terminal._meta.get_field("media_encryption").choices,
        required=False,
        help_text=_("SRTP between the phone and the PBX. Set the phone to SIP over TLS."),
    )
    caller_id_custom = forms.CharField(
        label=_label("caller_id_custom"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    caller_id_number = NumberChoiceField(
        label=_label("caller_id_number"),
        queryset=PhoneNumber.objects.none(),
        required=False,
        empty_label=_("Main number"),
    )
    external_number = forms.CharField(
        label=_label("external_number"),
        required=False,
        max_length=32,
        help_text=_("A mobile or landline number, e.g. +49 1512 3456789."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    ringing_extensions = ExtensionsField(
        label=_label("ringing_extensions"),
        queryset=Extension.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    config_mode = forms.ChoiceField(
        label=_label("config_mode"),
        choices=Terminal.ConfigMode.choices,
        widget=forms.RadioSelect,
        initial=Terminal.ConfigMode.MANUAL,
    )
    manufacturer = forms.ChoiceField(
        label=_label("manufacturer", ProvisioningDevice),
        choices=[("", _("Choose…")), *MANUFACTURER_CHOICES],
        required=False,
    )
    # A text field with a select widget: an unsupported model gets the model's own message,
    # which lists the supported ones.
    model = forms.CharField(
        label=_label("model", ProvisioningDevice),
        required=False,
        widget=forms.Select,
        help_text=_(
            "Model not listed? We only offer phones we have tested; configure others manually."
        ),
    )
    mac = forms.CharField(
        label=_label("mac", ProvisioningDevice),
        required=False,
        max_length=32,
        help_text=_("On the label under the phone, e.g. 80:5E:C0:12:34:56."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )
    mac_id = forms.CharField(
        label=_label("mac_id_crc", ProvisioningDevice),
        required=False,
        max_length=32,
        help_text=_("Gigaset only: the MAC-ID on the label, e.g. 7C2F80E0D605-AB12."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )
    auth_mode = forms.ChoiceField(
        label=_("Authentication of the phone"),
        choices=ProvisioningDevice.AuthMode.choices,
        widget=forms.RadioSelect,
        initial=ProvisioningDevice.AuthMode.CREDENTIALS,
    )
    trusted_networks = forms.CharField(
        label=_label("trusted_networks", ProvisioningDevice),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=_("One address or range per line, e.g. 203.0.113.10 or 198.51.100.0/24."),
    )

    def __init__(
        self, tenant: Tenant, *args: Any, base: ProvisioningDevice | None = None, **kwargs: Any
    ) -> None:
        """``base``: the form of a handset of that DECT base (new or existing), which is an IP
        phone configured by the base: no type, configuration mode or device to choose."""
        super().__init__(*args, **kwargs)
        self.base = base
        if base is not None:
            self.fields["auth_mode"].required = False  # the base's, not asked
            # The base's one SIP provider sets SRTP for all its handsets.
            self.fields["media_encryption"].disabled = True
            self.fields["media_encryption"].help_text = _(
                "A handset uses the media encryption of its DECT base: change it on the base."
            )
        numbers = PhoneNumber.objects.for_tenant(tenant).order_by("-is_main", "e164")
        extensions = Extension.objects.for_tenant(tenant)
        self.fields["identification_number"].queryset = numbers
        self.fields["caller_id_number"].queryset = numbers
        self.fields["internal_extension"].queryset = extensions
        self.fields["ringing_extensions"].queryset = extensions
        self.fields["model"].widget.choices = model_choices(self["manufacturer"].value() or "")

    @classmethod
    def initial_for(cls, terminal: Terminal) -> dict[str, Any]:
        # The service's settings, as stored (a foreign key as its id).
        initial: dict[str, Any] = {
            name: getattr(terminal, Terminal._meta.get_field(name).attname)
            for name in EDITABLE_FIELDS
        }
        initial["ringing_extensions"] = [e.pk for e in terminal.ringing_extensions.all()]
        device = terminal.device
        if device is not None:
            initial.update(
                manufacturer=device.manufacturer,
                model=device.model,
                mac=_mac_text(device.mac),
                mac_id=device.mac_id_crc,
                auth_mode=device.auth_mode,
                trusted_networks="\n".join(device.trusted_networks),
            )
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.base is not None:
            data["type"] = Terminal.Type.IP_PHONE
            data["config_mode"] = Terminal.ConfigMode.AUTOMATIC
        if data.get("type") != Terminal.Type.IP_PHONE:
            data["config_mode"] = Terminal.ConfigMode.MANUAL
        return data

    def service_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``create_terminal`` / ``update_terminal`` (a handset's: none
        for its device, it has none; its base is the caller's to pass)."""
        data = self.cleaned_data
        arguments = {name: data[name] for name in EDITABLE_FIELDS}
        arguments["ringing_extensions"] = list(data["ringing_extensions"])
        if self.base is not None:
            return arguments
        automatic = (
            data["type"] == Terminal.Type.IP_PHONE
            and data["config_mode"] == Terminal.ConfigMode.AUTOMATIC
        )
        arguments["device"] = (
            DeviceSettings(
                manufacturer=data["manufacturer"],
                model=data["model"],
                mac=data["mac"],
                mac_id=data["mac_id"] if data["manufacturer"] == "gigaset" else None,
                auth_mode=data["auth_mode"],
                trusted_networks=parse_networks(data["trusted_networks"]),
            )
            if automatic
            else None
        )
        return arguments


def _mac_text(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, len(mac), 2)).upper()


class PasswordForm(forms.Form):
    """Set a chosen SIP or provisioning password (the strength rule is the service's)."""

    password = forms.CharField(
        label=_("New password"),
        required=False,
        strip=False,
        widget=forms.TextInput(
            attrs={"autocomplete": "new-password", "spellcheck": "false", "autocapitalize": "none"}
        ),
    )
