from django.contrib import admin

from cloudpbx.numbering import services
from cloudpbx.numbering.models import PhoneNumber


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ["e164", "tenant", "is_main", "label", "destination"]
    list_filter = ["is_main", "tenant"]
    search_fields = ["e164", "label"]
    list_select_related = ["tenant", "destination"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        services.save_number(obj, "number.changed" if change else "number.created")

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        services.delete_number(obj)
