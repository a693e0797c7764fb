import re
from typing import Any

from django import forms
from django.contrib import admin

from cloudpbx.tenancy import services
from cloudpbx.tenancy.models import Membership, Tenant


class CountryCodesField(forms.CharField):
    """A list of country codes typed as "AT, BE, DE" (the model validates each code)."""

    def __init__(self, *, encoder: Any = None, decoder: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # encoder/decoder: JSONField.formfield passes them

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return [code for code in re.split(r"[\s,;]+", super().to_python(value)) if code]


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = list(services.TENANT_SETTINGS)
        field_classes = {"allowed_destination_countries": CountryCodesField}
        widgets = {"allowed_destination_countries": forms.Textarea(attrs={"rows": 3})}


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ["name", "country", "language", "max_outbound_calls", "created"]
    list_filter = ["country"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        fields = list(super().get_fields(request, obj))
        if obj is None:  # create_tenant fills in the default of the chosen country
            fields.remove("allowed_destination_countries")
        return fields

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            services.update_tenant(obj, **changes)
            return
        created = services.create_tenant(
            name=obj.name,
            country=obj.country,
            language=obj.language,
            timezone=obj.timezone,
            max_outbound_calls=obj.max_outbound_calls,
            media_encryption=obj.media_encryption,
        )
        # The admin saves the member inlines against ``obj``: make it the created row.
        vars(obj).update(vars(created))
