"""Customers (tenants) and their members."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from cloudpbx import numbering_rules as rules
from cloudpbx.core import events
from cloudpbx.tenancy.models import MediaEncryption, Membership, Tenant

logger = logging.getLogger(__name__)

COUNTRY_DEFAULTS = {"DE": ("de", "Europe/Berlin"), "FR": ("fr", "Europe/Paris")}

# What update_tenant may change (the operator's settings of a customer), in form order.
TENANT_SETTINGS = (
    "name",
    "country",
    "language",
    "timezone",
    "allowed_destination_countries",
    "max_outbound_calls",
    "media_encryption",
)


def country_defaults(country: str) -> tuple[str, str]:
    """The language and time zone a new customer in ``country`` gets unless told otherwise."""
    return COUNTRY_DEFAULTS.get(country, ("en", "UTC"))


def create_tenant(
    *,
    name: str,
    country: str = "DE",
    language: str = "",
    timezone: str = "",
    allowed_destination_countries: list[str] | None = None,
    max_outbound_calls: int | None = None,
    media_encryption: str = MediaEncryption.OPTIONAL,
) -> Tenant:
    """A new customer; its destinations default to its country and the EU/EEA."""
    default_language, default_timezone = country_defaults(country)
    tenant = Tenant(
        name=name,
        country=country,
        language=language or default_language,
        timezone=timezone or default_timezone,
        allowed_destination_countries=(
            rules.default_destination_countries(country)
            if allowed_destination_countries is None
            else allowed_destination_countries
        ),
        media_encryption=media_encryption,
    )
    if max_outbound_calls is not None:
        tenant.max_outbound_calls = max_outbound_calls
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        events.publish("tenant.created", tenant_id=tenant.pk)
    return tenant


def update_tenant(tenant: Tenant, **changes: Any) -> Tenant:
    """Change settings of :data:`TENANT_SETTINGS`: validate, save, notify (Kamailio's caches).

    A country change is refused (``ValidationError`` on ``country``, nothing saved) while one
    of the customer's extensions is an emergency or reserved short number of the new country.
    """
    unknown = set(changes) - set(TENANT_SETTINGS)
    if unknown:
        raise TypeError(f"not a tenant setting: {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        setattr(tenant, field, value)
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        events.publish("tenant.changed", tenant_id=tenant.pk)
    return tenant


def delete_tenant(tenant: Tenant) -> None:
    """Delete the customer and everything it owns (its rows go with it). After the commit,
    ``tenant.deleted`` lets the others clean up what lives outside: Kamailio drops its
    caches, the manufacturers' redirect services forget the customer's phones."""
    tenant_id = tenant.pk
    with transaction.atomic():
        tenant.delete()
        events.publish("tenant.deleted", tenant_id=tenant_id)


def add_member(
    tenant: Tenant, user: AbstractBaseUser, role: str = Membership.Role.ADMIN
) -> Membership:
    return save_member(Membership(tenant=tenant, user=user, role=role))


def save_member(membership: Membership) -> Membership:
    """Add a user to a customer or change their role. Access follows at once: the portal and
    the API read the membership on every request."""
    membership.full_clean()
    membership.save()
    logger.info(
        "user %s is %s of tenant %s", membership.user_id, membership.role, membership.tenant_id
    )
    return membership


def remove_member(membership: Membership) -> None:
    """Take a user's access to a customer (their API tokens for it stop working with it)."""
    membership.delete()
    logger.info("user %s removed from tenant %s", membership.user_id, membership.tenant_id)
