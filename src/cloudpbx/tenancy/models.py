from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from cloudpbx.core.models import BaseModel
from cloudpbx.numbering.rules import SUPPORTED_COUNTRIES


class Tenant(BaseModel):
    """A customer's PBX."""

    name = models.CharField(
        verbose_name=_("name"),
        max_length=100,
        unique=True,
        error_messages={"unique": _("A customer with this name already exists.")},
    )
    country = models.CharField(
        verbose_name=_("country"),
        max_length=2,
        choices=SUPPORTED_COUNTRIES,
        default="DE",
        help_text=_("Drives number formats, emergency numbers and caller-ID rules."),
    )
    language = models.CharField(
        verbose_name=_("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        default="de",
    )
    timezone = models.CharField(
        verbose_name=_("time zone"),
        max_length=64,
        default="Europe/Berlin",
    )
    created = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.timezone not in zoneinfo.available_timezones():
            raise ValidationError(
                {"timezone": _("Choose a time zone such as Europe/Berlin or Europe/Paris.")}
            )


class Membership(BaseModel):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        VIEWER = "viewer", _("Read only")

    user = models.ForeignKey(
        "accounts.User",
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    role = models.CharField(
        verbose_name=_("role"),
        max_length=16,
        choices=Role.choices,
        default=Role.ADMIN,
    )

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tenant"],
                name="membership_unique_user_tenant",
                violation_error_message=_("This user is already a member of this customer."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"
