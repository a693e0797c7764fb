from __future__ import annotations

import zoneinfo
from collections.abc import Callable

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from cloudpbx import numbering_rules as rules
from cloudpbx.core.models import BaseModel
from cloudpbx.core.validators import no_control_characters

_OUTBOUND_CALLS_RANGE = _("Allow between 1 and 1000 concurrent external calls.")


class MediaEncryption(models.TextChoices):
    """SRTP (SDES keys in the SDP, so meant with SIP over TLS) between a phone and the relay."""

    OFF = "off", _("Off: plain RTP")
    OPTIONAL = "optional", _("Optional: SRTP with phones that offer or accept it")
    REQUIRED = "required", _("Required: SRTP only, other calls are refused")


class Tenant(BaseModel):
    """A customer's PBX."""

    name = models.CharField(
        verbose_name=_("name"),
        max_length=100,
        unique=True,
        validators=[no_control_characters],
        error_messages={"unique": _("A customer with this name already exists.")},
    )
    country = models.CharField(
        verbose_name=_("country"),
        max_length=2,
        choices=rules.SUPPORTED_COUNTRIES,
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
    # Set by the operator only; the customer sees them (toll-fraud limits of the trunk).
    allowed_destination_countries = models.JSONField(
        verbose_name=_("countries external calls may reach"),
        default=list,  # never left empty: create_tenant fills in the default
        help_text=_(
            "Two-letter country codes such as DE, FR or AT. New customers may call their "
            "own country and the EU/EEA."
        ),
        error_messages={"blank": _("Choose at least one country.")},
    )
    max_outbound_calls = models.PositiveSmallIntegerField(
        verbose_name=_("concurrent external calls"),
        default=10,
        validators=[
            MinValueValidator(1, message=_OUTBOUND_CALLS_RANGE),
            MaxValueValidator(1000, message=_OUTBOUND_CALLS_RANGE),
        ],
        help_text=_("How many external calls of this customer the trunk carries at once."),
    )
    media_encryption = models.CharField(
        verbose_name=_("media encryption"),
        max_length=8,
        choices=MediaEncryption.choices,
        default=MediaEncryption.OPTIONAL,
        help_text=_("For every phone and app of this customer; a terminal may set its own."),
    )
    created = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)

    constraint_fields = {"tenant_max_outbound_calls_range": "max_outbound_calls"}

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_outbound_calls__gte=1, max_outbound_calls__lte=1000),
                name="tenant_max_outbound_calls_range",
                violation_error_message=_OUTBOUND_CALLS_RANGE,
            )
        ]

    def __str__(self) -> str:
        return self.name

    def normalise_fields(self) -> dict[str, ValidationError]:
        codes = self.allowed_destination_countries
        if isinstance(codes, list) and all(isinstance(code, str) for code in codes):
            self.allowed_destination_countries = sorted({code.strip().upper() for code in codes})
        return {}

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.timezone not in zoneinfo.available_timezones():
            errors["timezone"] = _("Choose a time zone such as Europe/Berlin or Europe/Paris.")
        codes = self.allowed_destination_countries
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            errors["allowed_destination_countries"] = _(
                "Enter two-letter country codes such as DE, FR or AT."
            )
        else:
            unknown = [code for code in codes if code not in phonenumbers.SUPPORTED_REGIONS]
            if unknown:
                errors["allowed_destination_countries"] = ValidationError(
                    _("Not a country code: %(codes)s. Use two-letter codes such as DE, FR or AT."),
                    code="unknown_country",
                    params={"codes": ", ".join(unknown)},
                )
        refusals = self._country_change_refusals()
        if refusals:
            errors["country"] = refusals
        if errors:
            raise ValidationError(errors)

    def _country_change_refusals(self) -> list[ValidationError]:
        """On a country change: what the apps above tenancy refuse about the new country
        (extension 17 becomes the French police), from :data:`COUNTRY_CHANGE_CHECKS`.
        Extension.clean guards the other way."""
        if self.pk is None or self.country not in rules.COUNTRY_RULES:
            return []
        stored = Tenant.objects.filter(pk=self.pk).values_list("country", flat=True).first()
        if stored == self.country:
            return []
        return [error for check in COUNTRY_CHANGE_CHECKS for error in check(self)]


# Extensions build on tenancy, not the other way round: the extensions app adds its check of
# a tenant's new country here (ExtensionsConfig.ready()), so tenancy never imports it.
COUNTRY_CHANGE_CHECKS: list[Callable[[Tenant], list[ValidationError]]] = []


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
