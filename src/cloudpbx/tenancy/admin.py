import re
from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

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

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        # On the add form both may be left empty: the chosen country's (see get_form).
        language, timezone = services.country_defaults(cleaned.get("country", ""))
        cleaned["language"] = cleaned.get("language") or language
        cleaned["timezone"] = cleaned.get("timezone") or timezone
        return cleaned


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

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:  # empty: create_tenant picks the chosen country's
            language, timezone = form.base_fields["language"], form.base_fields["timezone"]
            language.choices = [("", _("The country's language")), *language.choices]
            timezone.help_text = _("Leave empty for the country's time zone.")
            for field in (language, timezone):
                field.required, field.initial = False, ""
        return form

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

    def save_formset(self, request, form, formset, change):  # type: ignore[no-untyped-def]
        for membership in formset.save(commit=False):  # the member inline
            services.save_member(membership)
        for membership in formset.deleted_objects:
            services.remove_member(membership)

    def get_deleted_objects(self, objs, request):  # type: ignore[no-untyped-def]
        # What the customer owns goes with it through delete_tenant, also the rows the admin
        # shows read-only (phones for provisioning): listed, never a reason to refuse.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        services.delete_tenant(obj)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for tenant in queryset:
            services.delete_tenant(tenant)
