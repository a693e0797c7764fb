from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from cloudpbx.accounts.models import ApiToken, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (*DjangoUserAdmin.fieldsets, ("cloudpbx", {"fields": ["language"]}))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created with ``cloudpbx createapitoken`` (the value is shown once)."""

    list_display = ["name", "user", "tenant", "key_id", "created", "last_used"]
    readonly_fields = ["user", "tenant", "name", "key_id", "created", "last_used"]
    exclude = ["key_hash"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
