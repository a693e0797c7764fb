from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cloudpbx.core import crypto
from cloudpbx.core.models import BaseModel, TenantQuerySet
from cloudpbx.provisioning.addresses import (
    MAX_TRUSTED_NETWORKS,
    AddressError,
    parse_mac,
    parse_network,
)
from cloudpbx.provisioning.vendors import MANUFACTURER_CHOICES, VENDORS

MAC_ERRORS = {
    "invalid": _("Enter a MAC address of 12 hexadecimal digits, e.g. 00:15:65:12:34:56."),
    "zero": _("00:00:00:00:00:00 is not a device address."),
    "broadcast": _("The broadcast address is not a device address."),
    "multicast": _("This is a multicast address, not a device address."),
}
NETWORK_ERRORS = {
    "invalid": _("%(value)s is not an IP address or range."),
    "too_wide": _("%(value)s is too wide: use at most a /16 (IPv4) or a /48 (IPv6)."),
}


class DeviceQuerySet(TenantQuerySet):
    tenant_path = "terminal__tenant"


class ProvisioningDevice(BaseModel):
    """Automatic configuration of an IP phone terminal by our provisioning server (ACS)."""

    class AuthMode(models.TextChoices):
        CREDENTIALS = "credentials", _("HTTP credentials")
        TRUSTED_IP = "trusted_ip", _("Trusted IP addresses")

    terminal = models.OneToOneField(
        "terminals.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.CASCADE,
        related_name="provisioning_device",
    )
    manufacturer = models.CharField(
        verbose_name=_("manufacturer"),
        max_length=16,
        choices=MANUFACTURER_CHOICES,
    )
    model = models.CharField(verbose_name=_("model"), max_length=32)
    mac = models.CharField(
        verbose_name=_("MAC address"),
        max_length=12,
        unique=True,
        error_messages={"unique": _("This MAC address is already in use.")},
    )
    auth_mode = models.CharField(
        verbose_name=_("authentication"),
        max_length=16,
        choices=AuthMode.choices,
        default=AuthMode.CREDENTIALS,
    )
    acs_username = models.CharField(
        verbose_name=_("provisioning username"),
        max_length=64,
        unique=True,
        null=True,
        blank=True,
    )
    acs_password_encrypted = models.TextField(blank=True, editable=False)
    trusted_networks = models.JSONField(
        verbose_name=_("trusted networks"),
        default=list,
        blank=True,
    )

    # Written by the provisioning server on each successful fetch.
    last_fetch_at = models.DateTimeField(verbose_name=_("last fetch"), null=True, blank=True)
    last_fetch_ip = models.GenericIPAddressField(
        verbose_name=_("last fetch from"), null=True, blank=True
    )
    last_user_agent = models.CharField(verbose_name=_("User-Agent"), max_length=255, blank=True)
    last_firmware = models.CharField(verbose_name=_("firmware"), max_length=64, blank=True)
    last_reported_model = models.CharField(
        verbose_name=_("reported model"), max_length=32, blank=True
    )
    # Digest replay guard, written in the same UPDATE as the status above: a request is
    # accepted only with a newer nonce than the last one used, or the same nonce with a
    # higher nonce count.
    digest_nonce = models.CharField(max_length=64, blank=True, editable=False)
    digest_nonce_issued_ns = models.BigIntegerField(default=0, editable=False)
    digest_nc = models.BigIntegerField(default=0, editable=False)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        verbose_name = _("provisioning device")
        verbose_name_plural = _("provisioning devices")
        constraints = [
            models.CheckConstraint(
                condition=Q(mac__regex=r"^[0-9a-f]{12}$"),
                name="device_mac_normalised",
                violation_error_message=_("Store MAC addresses as 12 lowercase hex digits."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_manufacturer_display()} {self.model} {self.mac}"

    @property
    def acs_password(self) -> str:
        return crypto.decrypt(self.acs_password_encrypted) if self.acs_password_encrypted else ""

    def normalise_fields(self) -> dict[str, ValidationError]:
        try:
            self.mac = parse_mac(self.mac or "")
        except AddressError as error:
            return {"mac": ValidationError(MAC_ERRORS[error.code], code=f"mac_{error.code}")}
        return {}

    def clean(self) -> None:
        errors: dict[str, object] = {}
        vendor = VENDORS.get(self.manufacturer)
        if vendor and vendor.model(self.model) is None:
            errors["model"] = ValidationError(
                _("%(vendor)s %(model)s is not supported. Supported models: %(models)s."),
                params={
                    "vendor": vendor.name,
                    "model": self.model or "—",
                    "models": ", ".join(m.label for m in vendor.models),
                },
            )
        if self.auth_mode == self.AuthMode.TRUSTED_IP:
            network_errors, networks = [], []
            for raw in self.trusted_networks or []:
                try:
                    networks.append(parse_network(str(raw)))
                except AddressError as error:
                    network_errors.append(
                        ValidationError(
                            NETWORK_ERRORS[error.code],
                            code=f"network_{error.code}",
                            params={"value": raw},
                        )
                    )
            if not self.trusted_networks:
                network_errors.append(ValidationError(_("Add at least one address or range.")))
            if len(self.trusted_networks or []) > MAX_TRUSTED_NETWORKS:
                network_errors.append(
                    ValidationError(
                        _("Use at most %(max)d addresses or ranges."),
                        params={"max": MAX_TRUSTED_NETWORKS},
                    )
                )
            if network_errors:
                errors["trusted_networks"] = network_errors
            else:
                self.trusted_networks = sorted(set(networks))
        else:
            self.trusted_networks = []
        if errors:
            raise ValidationError(errors)


class ProvisioningLockout(models.Model):
    """Failed provisioning attempts per key (``mac:<12 hex>`` or ``ip:<address>``).

    Written only on failures; read on every fetch through two indexed sub-queries of the
    device lookup. Rows whose window and lock have passed are pruned on later failures.
    """

    key = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("provisioning lockout")
        verbose_name_plural = _("provisioning lockouts")
        indexes = [models.Index(fields=["window_started"], name="prov_lockout_window")]

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"


class AppLink(models.Model):
    """A one-time link that sets up a softphone app (scanned from a QR code).

    Only a hash of the token is stored: the link cannot be rebuilt from the database.
    """

    terminal = models.ForeignKey(
        "terminals.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.CASCADE,
        related_name="app_links",
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(verbose_name=_("expires"))
    revoked = models.BooleanField(verbose_name=_("replaced"), default=False)
    used_at = models.DateTimeField(verbose_name=_("used"), null=True, blank=True)
    used_ip = models.GenericIPAddressField(verbose_name=_("used from"), null=True, blank=True)
    used_user_agent = models.CharField(
        verbose_name=_("app (User-Agent)"), max_length=255, blank=True
    )

    objects = DeviceQuerySet.as_manager()

    class Meta:
        verbose_name = _("app link")
        verbose_name_plural = _("app links")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"app link of terminal {self.terminal_id}"
