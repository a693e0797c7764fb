"""Customers (tenants) and their members."""

from __future__ import annotations

from django.db import transaction

from cloudpbx.accounts.models import User
from cloudpbx.core import events
from cloudpbx.tenancy.models import Membership, Tenant

COUNTRY_DEFAULTS = {"DE": ("de", "Europe/Berlin"), "FR": ("fr", "Europe/Paris")}


def create_tenant(
    *, name: str, country: str = "DE", language: str = "", timezone: str = ""
) -> Tenant:
    default_language, default_timezone = COUNTRY_DEFAULTS.get(country, ("en", "UTC"))
    tenant = Tenant(
        name=name,
        country=country,
        language=language or default_language,
        timezone=timezone or default_timezone,
    )
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        events.publish("tenant.created", tenant_id=tenant.pk)
    return tenant


def add_member(tenant: Tenant, user: User, role: str = Membership.Role.ADMIN) -> Membership:
    membership = Membership(tenant=tenant, user=user, role=role)
    membership.full_clean()
    membership.save()
    return membership
