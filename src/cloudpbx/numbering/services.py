"""Phone numbers: operators assign them; customers choose where each one rings."""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from cloudpbx import numbering_rules as rules
from cloudpbx.core import events
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.tenancy.models import Tenant


def add_number(
    tenant: Tenant,
    *,
    e164: str,
    is_main: bool = False,
    label: str = "",
    destination: Extension | None = None,
) -> PhoneNumber:
    number = PhoneNumber(
        tenant=tenant, e164=e164, is_main=is_main, label=label, destination=destination
    )
    return save_number(number, "number.created")


def add_number_block(tenant: Tenant, *, first: str, count: int) -> list[PhoneNumber]:
    """Assign ``count`` consecutive numbers starting at ``first`` (a DID block)."""
    if not 1 <= count <= 1000:
        raise ValidationError({"count": _("Assign between 1 and 1000 numbers at once.")})
    try:
        start = rules.normalise(tenant.country, first)
    except ValidationError as error:
        raise ValidationError({"e164": error.error_list}) from error
    digits = int(start[1:])
    with transaction.atomic():
        return [add_number(tenant, e164=f"+{digits + offset}") for offset in range(count)]


def update_number(
    number: PhoneNumber,
    *,
    is_main: bool | None = None,
    label: str | None = None,
    destination: Extension | bool | None = False,
) -> PhoneNumber:
    """``destination=False`` leaves it unchanged; ``None`` clears it."""
    if is_main is not None:
        number.is_main = is_main
    if label is not None:
        number.label = label
    if destination is not False:
        number.destination = destination  # type: ignore[assignment]
    return save_number(number, "number.changed")


def delete_number(number: PhoneNumber) -> None:
    payload = {"tenant_id": number.tenant_id, "number_id": number.pk}
    with transaction.atomic():
        number.delete()
        events.publish("number.deleted", **payload)


def save_number(number: PhoneNumber, event: str = "number.changed") -> PhoneNumber:
    """Validate and save; the admin calls this too."""
    with transaction.atomic():
        if number.is_main:
            # The main flag moves: the previous main number gives it up in the same transaction.
            PhoneNumber.objects.for_tenant(number.tenant).filter(is_main=True).exclude(
                pk=number.pk
            ).update(is_main=False)
        number.full_clean()
        _refuse_shown_elsewhere(number)
        number.save()
        events.publish(event, tenant_id=number.tenant_id, number_id=number.pk)
    return number


def _refuse_shown_elsewhere(number: PhoneNumber) -> None:
    """A number another customer's terminals already show as their custom caller ID is not
    assigned until they stop: it would keep appearing as theirs (only the operator sees this)."""
    terminals = apps.get_model("terminals", "Terminal")  # terminals builds on numbering
    showing = terminals.objects.filter(caller_id_custom=number.e164).exclude(
        tenant_id=number.tenant_id
    )
    names = [f"{t.tenant.name}: {t.name}" for t in showing.select_related("tenant")[:5]]
    if names:
        raise ValidationError(
            {
                "e164": _(
                    "Terminals of another customer show this number as their caller ID "
                    "(%(terminals)s): change them first."
                )
                % {"terminals": ", ".join(names)}
            }
        )
