from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from cloudpbx import numbering_rules as rules
from cloudpbx.core.models import TenantScopedModel
from cloudpbx.core.validators import no_control_characters

if TYPE_CHECKING:
    from cloudpbx.tenancy.models import Tenant

EXTENSION_PATTERN = re.compile(r"[1-9][0-9]{1,5}")


class Extension(TenantScopedModel):
    """A short internal number. Linked to several terminals it is a call group: all ring."""

    number = models.CharField(
        verbose_name=_("extension"),
        max_length=6,
        help_text=_("2 to 6 digits, not starting with 0."),
    )
    name = models.CharField(
        verbose_name=_("name"),
        max_length=100,
        blank=True,
        validators=[no_control_characters],
    )

    constraint_fields = {"extension_unique_number_per_tenant": "number"}

    class Meta:
        verbose_name = _("extension")
        verbose_name_plural = _("extensions")
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "number"],
                name="extension_unique_number_per_tenant",
                violation_error_message=_("This extension already exists."),
            ),
            models.CheckConstraint(
                condition=models.Q(number__regex=r"^[1-9][0-9]{1,5}$"),
                name="extension_number_digits",
                violation_error_message=_(
                    "An extension has 2 to 6 digits and does not start with 0."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}".strip()

    def clean(self) -> None:
        number = (self.number or "").strip()
        self.number = number
        if not EXTENSION_PATTERN.fullmatch(number):
            # 0 is the trunk prefix: an extension starting with it would shadow national dialling.
            raise ValidationError(
                {"number": _("An extension has 2 to 6 digits and does not start with 0.")}
            )
        if self.tenant_id:
            reason = rules.reserved_short_number_reason(self.tenant.country, number)
            if reason:
                raise ValidationError({"number": reason})


def extensions_clashing_with_country(tenant: Tenant) -> list[ValidationError]:
    """The tenant's extensions its new country's network would take as short numbers (one of
    tenancy's COUNTRY_CHANGE_CHECKS, registered in ExtensionsConfig.ready())."""
    numbers = Extension.objects.for_tenant(tenant).values_list("number", flat=True)
    clashes = []
    for number in numbers.order_by("number"):
        reason = rules.reserved_short_number_reason(tenant.country, number)
        if reason:
            clashes.append(
                ValidationError(
                    _(
                        "Extension %(extension)s clashes with the new country: %(reason)s "
                        "Renumber or delete the extension first."
                    ),
                    code="extension_is_short_number",
                    params={"extension": number, "reason": reason},
                )
            )
    return clashes
