from django.contrib import admin

from cloudpbx.extensions import services
from cloudpbx.extensions.models import Extension


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    """Read-only for operators: customers manage extensions in the portal and the API."""

    list_display = ["number", "name", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["number", "name"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        services.delete_extension(obj)  # its event flushes Kamailio's caches
