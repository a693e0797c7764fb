from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from cloudpbx.trunks import services
from cloudpbx.trunks.models import Trunk


class TrunkForm(forms.ModelForm):
    auth_password = forms.CharField(
        label=_("password"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the current password."),
    )

    class Meta:
        model = Trunk
        fields = [
            "name",
            "gateway",
            "port",
            "transport",
            "auth_username",
            "source_networks",
            "header_style",
            "trust_media_address",
            "is_default",
        ]


@admin.register(Trunk)
class TrunkAdmin(admin.ModelAdmin):
    form = TrunkForm
    list_display = ["name", "gateway", "port", "transport", "header_style", "is_default"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        services.save_trunk(obj, password=form.cleaned_data.get("auth_password") or None)

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        services.delete_trunk(obj)
