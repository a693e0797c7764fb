from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cloudpbx import numbering_rules as rules
from cloudpbx.core import crypto
from cloudpbx.core.models import TenantScopedModel
from cloudpbx.core.validators import no_control_characters
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.tenancy.models import MediaEncryption

if TYPE_CHECKING:
    from cloudpbx.provisioning.models import ProvisioningDevice


class Terminal(TenantScopedModel):
    """A SIP identity (IP phone or app) or an external phone that rings for incoming calls."""

    class Type(models.TextChoices):
        IP_PHONE = "ip_phone", _("IP phone")
        APP = "app", _("App")
        EXTERNAL = "external", _("External phone")

    class CallerIdMode(models.TextChoices):
        ANONYMOUS = "anonymous", _("Anonymous")
        CUSTOM = "custom", _("Custom number")
        PBX_NUMBER = "pbx_number", _("A number of the PBX")

    class ConfigMode(models.TextChoices):
        MANUAL = "manual", _("Manual")
        AUTOMATIC = "automatic", _("Automatic")

    name = models.CharField(
        verbose_name=_("name"),
        max_length=100,
        validators=[no_control_characters],
    )
    type = models.CharField(
        verbose_name=_("terminal type"),
        max_length=16,
        choices=Type.choices,
        default=Type.IP_PHONE,
    )

    # Outbound (ip_phone, app)
    external_calls_enabled = models.BooleanField(
        verbose_name=_("external calls enabled"),
        default=True,
        help_text=_("Off: internal calls only. Emergency calls always go out."),
    )
    identification_number = models.ForeignKey(
        "numbering.PhoneNumber",
        verbose_name=_("identification number"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="identified_terminals",
        help_text=_("Sent to the network for billing and emergency calls."),
    )
    internal_display_name = models.CharField(
        verbose_name=_("name shown on internal calls"),
        max_length=100,
        blank=True,
        validators=[no_control_characters],
    )
    internal_extension = models.ForeignKey(
        "extensions.Extension",
        verbose_name=_("extension shown on internal calls"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shown_by_terminals",
    )
    caller_id_mode = models.CharField(
        verbose_name=_("number shown on external calls"),
        max_length=16,
        choices=CallerIdMode.choices,
        default=CallerIdMode.PBX_NUMBER,
    )
    caller_id_custom = models.CharField(
        verbose_name=_("custom number"),
        max_length=16,
        blank=True,
    )
    caller_id_number = models.ForeignKey(
        "numbering.PhoneNumber",
        verbose_name=_("PBX number shown"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shown_by_terminals",
    )

    media_encryption = models.CharField(
        verbose_name=_("media encryption"),
        max_length=8,
        choices=[("", _("As set for the PBX")), *MediaEncryption.choices],
        blank=True,
        default="",
    )

    # External phone
    external_number = models.CharField(
        verbose_name=_("phone number to ring"),
        max_length=16,
        blank=True,
    )

    # Inbound
    ringing_extensions = models.ManyToManyField(
        "extensions.Extension",
        verbose_name=_("extensions that ring this terminal"),
        related_name="terminals",
        blank=True,
    )

    # Configuration and SIP credentials (ip_phone, app)
    config_mode = models.CharField(
        verbose_name=_("configuration"),
        max_length=16,
        choices=ConfigMode.choices,
        default=ConfigMode.MANUAL,
    )
    sip_username = models.CharField(
        verbose_name=_("SIP username"),
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        error_messages={"unique": _("This SIP username is taken.")},
    )
    # A handset of a DECT base: configured by the base's file (the base's own terminal is its
    # handset 1), so it has no provisioning device of its own. Never changes once set.
    base = models.ForeignKey(
        "provisioning.ProvisioningDevice",
        verbose_name=_("DECT base"),
        on_delete=models.PROTECT,  # a base with handsets is not removed under them
        null=True,
        blank=True,
        related_name="handsets",
    )
    # Where the base files the handset (2, 3, …): kept while it exists, so removing one never
    # hands its account to another handset.
    handset_number = models.PositiveSmallIntegerField(
        verbose_name=_("handset number"), null=True, blank=True, editable=False
    )
    sip_password_encrypted = models.TextField(blank=True, editable=False)
    sip_ha1 = models.CharField(max_length=32, blank=True, editable=False)
    sip_ha1_sha256 = models.CharField(max_length=64, blank=True, editable=False)

    created = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    updated = models.DateTimeField(verbose_name=_("updated"), auto_now=True)

    constraint_fields = {
        "terminal_unique_name_per_tenant": "name",
        "terminal_external_has_number": "external_number",
        "terminal_custom_caller_id_has_number": "caller_id_custom",
    }

    class Meta:
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="terminal_unique_name_per_tenant",
                violation_error_message=_("Another terminal already has this name."),
            ),
            models.CheckConstraint(
                condition=~Q(type="external") | ~Q(external_number=""),
                name="terminal_external_has_number",
                violation_error_message=_("Enter the phone number to ring."),
            ),
            models.CheckConstraint(
                condition=~Q(type="external") | Q(sip_username__isnull=True),
                name="terminal_external_has_no_sip_account",
                violation_error_message=_("External phones have no SIP account."),
            ),
            models.CheckConstraint(
                condition=Q(config_mode="manual") | Q(type="ip_phone"),
                name="terminal_automatic_only_for_ip_phones",
                violation_error_message=_("Only IP phones can be configured automatically."),
            ),
            models.CheckConstraint(
                condition=Q(base__isnull=True) | Q(type="ip_phone", config_mode="automatic"),
                name="terminal_handset_is_automatic_ip_phone",
                violation_error_message=_("A handset of a DECT base is configured by the base."),
            ),
            models.CheckConstraint(
                condition=Q(base__isnull=True, handset_number__isnull=True)
                | Q(base__isnull=False, handset_number__gte=2),
                name="terminal_handset_has_number",
                violation_error_message=_("A handset of a DECT base has a handset number."),
            ),
            models.UniqueConstraint(
                fields=["base", "handset_number"],
                name="terminal_handset_number_unique_per_base",
                violation_error_message=_("Another handset of this base has this number."),
            ),
            models.CheckConstraint(
                condition=~Q(caller_id_mode="custom") | ~Q(caller_id_custom=""),
                name="terminal_custom_caller_id_has_number",
                violation_error_message=_("Enter the number to show."),
            ),
        ]
        indexes = [models.Index(fields=["tenant", "type"], name="terminal_tenant_type")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_sip_account(self) -> bool:
        return self.type in (self.Type.IP_PHONE, self.Type.APP)

    @property
    def effective_media_encryption(self) -> str:
        """The terminal's own setting, or its PBX's."""
        return self.media_encryption or self.tenant.media_encryption

    @property
    def sip_password(self) -> str:
        return crypto.decrypt(self.sip_password_encrypted) if self.sip_password_encrypted else ""

    @property
    def is_handset(self) -> bool:
        """A further handset of a DECT base (the base's own terminal is not one)."""
        return self.base_id is not None

    @property
    def device(self) -> ProvisioningDevice | None:
        try:
            return self.provisioning_device
        except models.ObjectDoesNotExist:
            return None

    def drop_inapplicable_settings(self) -> None:
        """Clear what the current type does not use (called when the type changes)."""
        if self.type == self.Type.EXTERNAL:
            self.external_calls_enabled = True
            self.identification_number = None
            self.internal_display_name = ""
            self.internal_extension = None
            self.caller_id_mode = self.CallerIdMode.PBX_NUMBER
            self.caller_id_custom = ""
            self.caller_id_number = None
            self.sip_username = None
            self.sip_password_encrypted = self.sip_ha1 = self.sip_ha1_sha256 = ""
        else:
            self.external_number = ""
        if self.type != self.Type.IP_PHONE:
            self.config_mode = self.ConfigMode.MANUAL
        if self.caller_id_mode != self.CallerIdMode.CUSTOM:
            self.caller_id_custom = ""
        if self.caller_id_mode != self.CallerIdMode.PBX_NUMBER:
            self.caller_id_number = None

    def normalise_fields(self) -> dict[str, ValidationError]:
        errors: dict[str, ValidationError] = {}
        self.name = (self.name or "").strip()
        if not self.tenant_id:
            return errors
        country, allowed = self.tenant.country, self.tenant.allowed_destination_countries
        checks: dict[str, Callable[[str], str]] = {
            "external_number": lambda raw: rules.check_external_destination(country, raw, allowed),
            "caller_id_custom": lambda raw: rules.check_caller_id(country, raw),
        }
        for field, check in checks.items():
            if getattr(self, field):
                try:
                    setattr(self, field, check(getattr(self, field)))
                except ValidationError as error:
                    errors[field] = error
        return errors

    def _custom_number_of_another_customer(self) -> bool:
        # Numbers the platform assigned are the ones it can vouch for: a customer may show its
        # own (or one it holds elsewhere), never one routed to another customer here.
        return (
            PhoneNumber.objects.filter(e164=self.caller_id_custom)
            .exclude(tenant_id=self.tenant_id)
            .exists()
        )

    def clean(self) -> None:
        if not self.has_sip_account:
            return
        errors: dict[str, object] = {}
        if self.base is not None and self.base.tenant_id != self.tenant_id:
            errors["base"] = _("Choose a DECT base of this customer.")
        foreign = {
            "identification_number": _("Choose one of this customer's numbers."),
            "internal_extension": _("Choose one of this customer's extensions."),
            "caller_id_number": _("Choose one of this customer's numbers."),
        }
        for field, message in foreign.items():
            related = getattr(self, field)
            if related is not None and related.tenant_id != self.tenant_id:
                errors[field] = message
        if self.caller_id_mode == self.CallerIdMode.PBX_NUMBER and not self.caller_id_number:
            errors["caller_id_number"] = _("Choose the PBX number to show.")
        if self.caller_id_custom and self._custom_number_of_another_customer():
            errors["caller_id_custom"] = _(
                "This number belongs to another customer of this platform and cannot be shown."
            )
        if errors:
            raise ValidationError(errors)
