from django.contrib import admin

from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    """Operators look; customers change terminals in the portal and the API. No secrets here."""

    list_display = ["name", "type", "tenant", "sip_username", "config_mode", "updated"]
    list_filter = ["type", "config_mode", "tenant"]
    search_fields = ["name", "sip_username"]
    list_select_related = ["tenant"]
    exclude = ["sip_password_encrypted", "sip_ha1", "sip_ha1_sha256"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        services.delete_terminal(obj)
