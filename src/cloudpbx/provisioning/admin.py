"""Operator settings of the manufacturers' redirect services, what was registered where, and
the MACs several customers entered (bound to one of them here: ``services.bind``).

The secret is write-only: the form never shows it (not even masked), an empty field keeps the
stored one, and it is stored encrypted. Nothing here logs it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cloudpbx.provisioning import claims, services
from cloudpbx.provisioning.models import (
    ProvisioningDevice,
    RedirectRegistration,
    RedirectSettings,
)
from cloudpbx.provisioning.services import redirect_registrations


class RedirectSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    secret = forms.CharField(
        label=_("secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "YMCS client secret, SRAPS access key, or the RPS / Gigaset password. Stored "
            "encrypted and never shown again; leave empty to keep the current one."
        ),
    )

    class Meta:
        model = RedirectSettings
        fields = ["manufacturer", "service", "enabled", "account", "base_url", "server_name"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not cleaned.get("secret") and not self.instance.secret_encrypted:
            self.add_error("secret", _("Enter the secret the manufacturer gave you."))
        return cleaned

    def save(self, commit: bool = True) -> RedirectSettings:
        settings: RedirectSettings = super().save(commit=False)
        if self.cleaned_data.get("secret"):
            settings.set_secret(self.cleaned_data["secret"])
        if commit:
            redirect_registrations.save_settings(settings)
        return settings


@admin.register(RedirectSettings)
class RedirectSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = RedirectSettingsForm
    list_display = ["manufacturer", "service", "enabled", "account", "base_url", "updated"]
    actions = ["register_all"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        redirect_registrations.save_settings(obj)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        redirect_registrations.delete_settings(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RedirectSettings]) -> None:
        for settings in queryset:
            redirect_registrations.delete_settings(settings)

    @admin.action(description=_("Register all phones of these manufacturers now"))
    def register_all(self, request: HttpRequest, queryset: QuerySet[RedirectSettings]) -> None:
        count = sum(
            redirect_registrations.register_all(settings.manufacturer) for settings in queryset
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d registration scheduled.", "%(count)d registrations scheduled.", count
            )
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(RedirectRegistration)
class RedirectRegistrationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: what each job did (the retry is in the portal, the API and ``sync``)."""

    list_display = ["mac", "manufacturer", "action", "status", "service", "attempts", "updated"]
    list_filter = ["status", "action", "manufacturer"]
    search_fields = ["mac"]
    readonly_fields = [
        "manufacturer",
        "mac",
        "action",
        "status",
        "service",
        "url",
        "mac_id_crc",
        "detail",
        "attempts",
        "done_at",
        "updated",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A row is how the jobs know what the service holds: deleting it would leave the MAC
        # registered there for good. The phone's Retry, or its deletion, goes through services.
        return False


DEVICE_FIELDS = (
    "tenant",
    "terminal",
    "manufacturer",
    "model",
    "mac",
    "mac_id_crc",
    "auth_mode",
    "trusted_networks",
    "bound_at",
    "bound_by",
    "last_fetch_at",
    "last_fetch_ip",
    "last_user_agent",
    "last_firmware",
    "last_reported_model",
)


class ContestedFilter(admin.SimpleListFilter):
    title = _("MAC claimed by")
    parameter_name = "claimed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("several", _("several customers"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "several":
            return queryset.filter(other_claims=True)
        return queryset


@admin.register(ProvisioningDevice)
class ProvisioningDeviceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only but for one action: bind a MAC several customers entered to one of them.

    Customers change devices in the portal and the API; no secret is shown here."""

    list_display = [
        "mac",
        "tenant",
        "terminal",
        "manufacturer",
        "model",
        "claim",
        "bound_at",
        "bound_by",
        "last_fetch_at",
        "last_fetch_ip",
    ]
    list_filter = [ContestedFilter, "bound_by", "manufacturer"]
    search_fields = ["mac"]
    ordering = ["mac", "pk"]
    actions = ["bind_mac"]
    fields = DEVICE_FIELDS
    readonly_fields = DEVICE_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProvisioningDevice]:
        devices = super().get_queryset(request).select_related("tenant", "terminal")
        return claims.with_states(devices)

    @admin.display(description=_("claim"))
    def claim(self, device: Any) -> str:
        found = claims.state_of(
            bound=device.bound_at is not None,
            other_claims=device.other_claims,
            other_bound=device.other_bound,
        )
        return str(claims.LABELS[found])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_bind_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)  # the operator, never a customer

    @admin.action(
        description=_("Bind the MAC to the selected device (others with it are not served)"),
        permissions=["bind"],
    )
    def bind_mac(self, request: HttpRequest, queryset: QuerySet[ProvisioningDevice]) -> None:
        devices = list(queryset)
        macs = [device.mac for device in devices]
        if len(set(macs)) != len(macs):
            self.message_user(
                request,
                _("Select one device per MAC address: nothing was bound."),
                messages.ERROR,
            )
            return
        for device in devices:
            services.bind(device, by=ProvisioningDevice.Binding.OPERATOR)
        self.message_user(
            request,
            ngettext("%(count)d MAC address bound.", "%(count)d MAC addresses bound.", len(devices))
            % {"count": len(devices)},
            messages.SUCCESS,
        )
