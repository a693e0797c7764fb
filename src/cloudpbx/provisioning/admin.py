"""Operator settings of the manufacturers' redirect services, and what was registered where.

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

from cloudpbx.provisioning import redirects
from cloudpbx.provisioning.models import RedirectRegistration, RedirectSettings


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
            settings.save()
        return settings


@admin.register(RedirectSettings)
class RedirectSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = RedirectSettingsForm
    list_display = ["manufacturer", "service", "enabled", "account", "base_url", "updated"]
    actions = ["register_all"]

    @admin.action(description=_("Register all phones of these manufacturers now"))
    def register_all(self, request: HttpRequest, queryset: QuerySet[RedirectSettings]) -> None:
        count = sum(redirects.register_all(settings.manufacturer) for settings in queryset)
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
