"""Extensions: the only write path."""

from __future__ import annotations

from django.db import transaction

from cloudpbx.core import events
from cloudpbx.extensions.models import Extension
from cloudpbx.tenancy.models import Tenant


def create_extension(tenant: Tenant, *, number: str, name: str = "") -> Extension:
    extension = Extension(tenant=tenant, number=number, name=name)
    return _save(extension, "extension.created")


def update_extension(
    extension: Extension, *, number: str | None = None, name: str | None = None
) -> Extension:
    if number is not None:
        extension.number = number
    if name is not None:
        extension.name = name
    return _save(extension, "extension.changed")


def delete_extension(extension: Extension) -> None:
    """Terminals stop ringing for it and numbers lose it as destination (SET_NULL / M2M)."""
    payload = {"tenant_id": extension.tenant_id, "extension_id": extension.pk}
    with transaction.atomic():
        extension.delete()
        events.publish("extension.deleted", **payload)


def _save(extension: Extension, event: str) -> Extension:
    extension.full_clean()
    with transaction.atomic():
        extension.save()
        events.publish(event, tenant_id=extension.tenant_id, extension_id=extension.pk)
    return extension
