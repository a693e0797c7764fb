from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cloudpbx import numbering_rules as rules
from cloudpbx.core.models import TenantScopedModel
from cloudpbx.core.validators import no_control_characters


class PhoneNumber(TenantScopedModel):
    """A DID the operator assigned to a customer, in E.164."""

    e164 = models.CharField(
        verbose_name=_("number"),
        max_length=16,
        unique=True,
        error_messages={"unique": _("This number is already assigned.")},
    )
    is_main = models.BooleanField(verbose_name=_("main number"), default=False)
    label = models.CharField(
        verbose_name=_("label"),
        max_length=100,
        blank=True,
        validators=[no_control_characters],
    )
    destination = models.ForeignKey(
        "extensions.Extension",
        verbose_name=_("destination extension"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="phone_numbers",
        help_text=_("Incoming calls to this number ring this extension."),
    )

    constraint_fields = {"phonenumber_one_main_per_tenant": "is_main"}

    class Meta:
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")
        ordering = ["e164"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(is_main=True),
                name="phonenumber_one_main_per_tenant",
                violation_error_message=_("This customer already has a main number."),
            ),
            models.CheckConstraint(
                condition=Q(e164__regex=r"^\+[1-9][0-9]{6,14}$"),
                name="phonenumber_e164",
                violation_error_message=_("Store numbers in E.164 format."),
            ),
        ]

    def __str__(self) -> str:
        return self.e164

    def normalise_fields(self) -> dict[str, ValidationError]:
        if self.e164 and self.tenant_id:
            try:
                self.e164 = rules.normalise(self.tenant.country, self.e164)
            except ValidationError as error:
                return {"e164": error}
        return {}

    def clean(self) -> None:
        if self.destination_id and self.destination.tenant_id != self.tenant_id:
            raise ValidationError({"destination": _("Choose one of this customer's extensions.")})
