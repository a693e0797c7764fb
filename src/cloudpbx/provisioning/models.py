from __future__ import annotations

import re
import time
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cloudpbx.core import crypto
from cloudpbx.core.addresses import (
    MAX_TRUSTED_NETWORKS,
    AddressError,
    parse_mac,
    parse_network,
)
from cloudpbx.core.models import BaseModel, TenantQuerySet
from cloudpbx.provisioning.vendors import MANUFACTURER_CHOICES, VENDORS

MAC_ERRORS = {
    "invalid": _("Enter a MAC address of 12 hexadecimal digits, e.g. 00:15:65:12:34:56."),
    "zero": _("00:00:00:00:00:00 is not a device address."),
    "broadcast": _("The broadcast address is not a device address."),
    "multicast": _("This is a multicast address, not a device address."),
}
MAC_ID_ERRORS = {
    "invalid": _(
        "Enter the MAC-ID from the device label, e.g. 7C2F80E0D605-AB12, or its last four "
        "characters."
    ),
    "other_mac": _("This MAC-ID belongs to MAC address %(mac)s, not to this device."),
    "required": _(
        "Enter the MAC-ID from the device label: Gigaset's redirect service needs it to send "
        "this phone to our server."
    ),
}
_MAC_ID = re.compile(r"^(?:(?P<mac>[0-9A-F]{12})-)?(?P<crc>[0-9A-Z]{4})$")
NETWORK_ERRORS = {
    "invalid": _("%(value)s is not an IP address or range."),
    "too_wide": _("%(value)s is too wide: use at most a /16 (IPv4) or a /48 (IPv6)."),
}


class DeviceQuerySet(TenantQuerySet):
    tenant_path = "terminal__tenant"


class ProvisioningDevice(BaseModel):
    """Automatic configuration of an IP phone terminal by our provisioning server (ACS).

    A MAC is unique per customer only: a customer may enter a MAC another customer entered too
    and is never told so. The MAC is *bound* to one customer's device by proof that the phone
    is theirs (:class:`Binding`, written by :mod:`cloudpbx.provisioning.claims` and the fetch);
    from then on only that device is served. See docs/provisioning.md, "One MAC, several
    customers".
    """

    class AuthMode(models.TextChoices):
        CREDENTIALS = "credentials", _("HTTP credentials")
        TRUSTED_IP = "trusted_ip", _("Trusted IP addresses")

    class Binding(models.TextChoices):
        CREDENTIALS = "credentials", _("first fetch with its HTTP credentials")
        TRUSTED_IP = "trusted_ip", _("first fetch from a trusted address")
        MAC_ID = "mac_id", _("MAC-ID accepted by Gigaset")
        OPERATOR = "operator", _("the operator")

    terminal = models.OneToOneField(
        "terminals.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.CASCADE,
        related_name="provisioning_device",
    )
    # The terminal's customer, repeated so that the database holds the MAC unique per customer
    # (a terminal never changes customer).
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    manufacturer = models.CharField(
        verbose_name=_("manufacturer"),
        max_length=16,
        choices=MANUFACTURER_CHOICES,
    )
    model = models.CharField(verbose_name=_("model"), max_length=32)
    mac = models.CharField(verbose_name=_("MAC address"), max_length=12)
    # Set once the phone proved it is this customer's (never by the customer's own input);
    # cleared when the MAC changes or the operator binds the MAC to another device.
    bound_at = models.DateTimeField(verbose_name=_("bound"), null=True, blank=True, editable=False)
    bound_by = models.CharField(
        verbose_name=_("bound by"),
        max_length=16,
        choices=Binding.choices,
        blank=True,
        editable=False,
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

    # Gigaset's redirect service identifies a phone by its MAC-ID, the MAC plus a check code
    # printed on the label; only the 4-character code is stored.
    mac_id_crc = models.CharField(
        verbose_name=_("MAC-ID"),
        max_length=4,
        blank=True,
        help_text=_("Gigaset: the MAC-ID printed on the device label, e.g. 7C2F80E0D605-AB12."),
    )
    # A DECT base: when it was last told to let new handsets register (a handset was added);
    # its file opens the registration window from then on, for the vendor's duration.
    handset_registration_from = models.DateTimeField(
        verbose_name=_("handset registration opened"), null=True, blank=True, editable=False
    )
    # A DECT base: the highest handset number it was given, never given again while the
    # model's range has higher ones (see provisioning/services/devices.py, _free_handset_number).
    last_handset_number = models.PositiveSmallIntegerField(default=1, editable=False)
    # When a SIP NOTIFY check-sync last went to the phone (re-provision now, or after a change).
    resync_sent_at = models.DateTimeField(verbose_name=_("re-sync sent"), null=True, blank=True)

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

    constraint_fields: ClassVar[dict[str, str]] = {"device_mac_unique_per_tenant": "mac"}

    class Meta:
        verbose_name = _("provisioning device")
        verbose_name_plural = _("provisioning devices")
        constraints = [
            models.CheckConstraint(
                condition=Q(mac__regex=r"^[0-9a-f]{12}$"),
                name="device_mac_normalised",
                violation_error_message=_("Store MAC addresses as 12 lowercase hex digits."),
            ),
            # Says nothing about other customers' devices: their MACs are no one else's
            # business.
            models.UniqueConstraint(
                fields=["tenant", "mac"],
                name="device_mac_unique_per_tenant",
                violation_error_message=_(
                    "Another terminal of this PBX already uses this MAC address."
                ),
            ),
            # The guard against two first fetches at once: a MAC is bound to one device.
            models.UniqueConstraint(
                fields=["mac"],
                condition=Q(bound_at__isnull=False),
                name="device_mac_bound_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_manufacturer_display()} {self.model} {self.mac}"

    @property
    def acs_password(self) -> str:
        return crypto.decrypt(self.acs_password_encrypted) if self.acs_password_encrypted else ""

    @property
    def model_name(self) -> str:
        """The phone as its user knows it: "Gigaset N870"."""
        vendor = VENDORS.get(self.manufacturer)
        return f"{vendor.name} {self.model}" if vendor else self.model

    @property
    def handset_limit(self) -> int:
        """How many handsets this phone serves, its own terminal included (its model's, from
        the vendor plugin); more than 1: a DECT base."""
        vendor = VENDORS.get(self.manufacturer)
        model = vendor.model(self.model) if vendor else None
        return model.handsets if model else 1

    @property
    def is_dect_base(self) -> bool:
        return self.handset_limit > 1

    def normalise_fields(self) -> dict[str, ValidationError]:
        try:
            self.mac = parse_mac(self.mac or "")
        except AddressError as error:
            return {"mac": ValidationError(MAC_ERRORS[error.code], code=f"mac_{error.code}")}
        return self._normalise_mac_id()

    def _normalise_mac_id(self) -> dict[str, ValidationError]:
        """``7C2F80E0D605-ab12`` or ``AB12`` → ``AB12``; only Gigaset phones keep one."""
        if self.manufacturer != "gigaset":
            self.mac_id_crc = ""
            return {}
        typed = re.sub(r"[\s:.]", "", self.mac_id_crc or "").upper()
        if not typed:
            self.mac_id_crc = ""
            return {}
        found = _MAC_ID.match(typed)
        if found is None:
            return {"mac_id_crc": ValidationError(MAC_ID_ERRORS["invalid"], code="mac_id_invalid")}
        if found["mac"] and found["mac"].lower() != self.mac:
            return {
                "mac_id_crc": ValidationError(
                    MAC_ID_ERRORS["other_mac"],
                    code="mac_id_other_mac",
                    params={"mac": ":".join(re.findall("..", found["mac"]))},
                )
            }
        self.mac_id_crc = found["crc"]
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
        if self.manufacturer == "gigaset" and not self.mac_id_crc:
            if "gigaset" in enabled_redirect_settings():
                errors["mac_id_crc"] = ValidationError(
                    MAC_ID_ERRORS["required"], code="mac_id_required"
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
    """Failed provisioning attempts per key: ``pair:<12 hex>/<address>`` and ``ip:<address>``
    (locks), ``mac:<12 hex>`` (counted for alerting, never locked); see :mod:`lockouts`.

    Written only on failures; the locks are read on every fetch through two indexed
    sub-queries of the device lookup. Rows whose window and lock have passed are pruned on
    later failures.
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

    @property
    def expired(self) -> bool:
        return timezone.now() >= self.expires_at


class RedirectSettings(models.Model):
    """The operator's account with one manufacturer's redirect service (admin only).

    Without an enabled row for a manufacturer, its phones are not registered anywhere and the
    portal says "not configured". The secret is stored encrypted (:mod:`cloudpbx.core.crypto`)
    and never shown again: the admin form only replaces it.
    """

    class Service(models.TextChoices):
        YMCS = "ymcs", _("Yealink YMCS (REST, OAuth2)")
        YEALINK_RPS = "yealink_rps", _("Yealink RPS (legacy XML-RPC)")
        SRAPS = "sraps", _("Snom SRAPS (REST, Hawk)")
        GIGASET = "gigaset", _("Gigaset redirect server (XML-RPC)")

    MANUFACTURER_SERVICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "yealink": (Service.YMCS, Service.YEALINK_RPS),
        "snom": (Service.SRAPS,),
        "gigaset": (Service.GIGASET,),
    }

    manufacturer = models.CharField(
        verbose_name=_("manufacturer"),
        max_length=16,
        unique=True,
        choices=[
            (key, label) for key, label in MANUFACTURER_CHOICES if VENDORS[key].has_redirect_api
        ],
        error_messages={"unique": _("This manufacturer's redirect service is set up already.")},
    )
    service = models.CharField(verbose_name=_("service"), max_length=16, choices=Service.choices)
    enabled = models.BooleanField(verbose_name=_("enabled"), default=True)
    base_url = models.CharField(
        verbose_name=_("service URL"),
        max_length=255,
        blank=True,
        help_text=_("Empty: the manufacturer's public service."),
    )
    account = models.CharField(
        verbose_name=_("account"),
        max_length=128,
        help_text=_("YMCS client ID, SRAPS access key ID, or the RPS / Gigaset user name."),
    )
    secret_encrypted = models.TextField(blank=True, editable=False)
    server_name = models.CharField(
        verbose_name=_("server or provider name"),
        max_length=64,
        default="cloudpbx",
        help_text=_("Yealink RPS: the server name; Gigaset: the provider name."),
    )
    updated = models.DateTimeField(verbose_name=_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("redirect service")
        verbose_name_plural = _("redirect services")

    def __str__(self) -> str:
        return f"{self.get_manufacturer_display()}: {self.get_service_display()}"

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret)

    def clean(self) -> None:
        errors: dict[str, ValidationError] = {}
        allowed = self.MANUFACTURER_SERVICES.get(self.manufacturer, ())
        if self.manufacturer and self.service and self.service not in allowed:
            errors["service"] = ValidationError(
                _("%(vendor)s phones use: %(services)s."),
                params={
                    "vendor": self.get_manufacturer_display(),
                    "services": ", ".join(str(self.Service(service).label) for service in allowed),
                },
            )
        if self.base_url and not _service_url_allowed(self.base_url):
            errors["base_url"] = ValidationError(
                _("Enter an https:// URL (http:// only for this machine, in tests).")
            )
        if errors:
            raise ValidationError(errors)


def _service_url_allowed(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


class RedirectRegistration(models.Model):
    """What we asked a redirect service to do for one MAC, and how it went.

    One row per manufacturer and MAC (not per device: a deleted device or an old MAC still has
    to be deregistered). ``generation`` grows with every new request, so a job overtaken by a
    newer one (a retry, a second change) stops quietly.
    """

    class Action(models.TextChoices):
        REGISTER = "register", _("register")
        DEREGISTER = "deregister", _("deregister")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    manufacturer = models.CharField(verbose_name=_("manufacturer"), max_length=16)
    mac = models.CharField(verbose_name=_("MAC address"), max_length=12)
    # The phone this registration is for while it asks to be registered (its status is read
    # with the device in one query); none once deregistered or when the phone is gone.
    device = models.OneToOneField(
        "provisioning.ProvisioningDevice",
        verbose_name=_("provisioning device"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="redirect_registration",
    )
    action = models.CharField(verbose_name=_("action"), max_length=16, choices=Action.choices)
    status = models.CharField(verbose_name=_("status"), max_length=16, choices=Status.choices)
    service = models.CharField(verbose_name=_("service"), max_length=64, blank=True)
    url = models.CharField(verbose_name=_("provisioning URL"), max_length=255, blank=True)
    mac_id_crc = models.CharField(verbose_name=_("MAC-ID"), max_length=4, blank=True)
    # A keyed fingerprint (HMAC with the server key, never the password) of the credentials
    # sent with the URL, so that a rotated password or a switch of authentication registers
    # again; empty when none were sent.
    credentials_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    detail = models.CharField(verbose_name=_("reason"), max_length=500, blank=True)
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    generation = models.PositiveIntegerField(default=0, editable=False)
    done_at = models.DateTimeField(verbose_name=_("done"), null=True, blank=True)
    updated = models.DateTimeField(verbose_name=_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("redirect registration")
        verbose_name_plural = _("redirect registrations")
        constraints = [
            models.UniqueConstraint(
                fields=["manufacturer", "mac"], name="redirect_registration_unique_mac"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.mac}: {self.action} {self.status}"


# The enabled settings per manufacturer, read once per REDIRECT_CACHE_SECONDS per process (the
# API's terminal list shows every phone's status without a query each); a save in this process
# clears it at once (the services' save_settings / delete_settings call forget_redirect_settings),
# other processes see it within the TTL.
REDIRECT_CACHE_SECONDS = 5.0
_redirect_cache: tuple[float, dict[str, RedirectSettings]] | None = None


def enabled_redirect_settings() -> dict[str, RedirectSettings]:
    global _redirect_cache
    now = time.monotonic()
    if _redirect_cache is None or _redirect_cache[0] < now:
        found = {
            row.manufacturer: row
            for row in RedirectSettings.objects.filter(enabled=True)
            if row.account and row.secret_encrypted
        }
        _redirect_cache = (now + REDIRECT_CACHE_SECONDS, found)
    return _redirect_cache[1]


def forget_redirect_settings() -> None:
    global _redirect_cache
    _redirect_cache = None
