from django.contrib import admin

from cloudpbx.tenancy.models import Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "language", "created"]
    list_filter = ["country"]
    search_fields = ["name"]
    inlines = [MembershipInline]
