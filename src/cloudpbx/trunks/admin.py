from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

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
            "is_default",
        ]

    def save(self, commit=True):  # type: ignore[no-untyped-def]
        if self.cleaned_data.get("auth_password"):
            self.instance.set_auth_password(self.cleaned_data["auth_password"])
        return super().save(commit)


@admin.register(Trunk)
class TrunkAdmin(admin.ModelAdmin):
    form = TrunkForm
    list_display = ["name", "gateway", "port", "transport", "header_style", "is_default"]
