"""Provisioning devices: the only write path (portal, API, admin and CLI all call these).

A device is saved with its terminal: :func:`cloudpbx.terminals.services.create_terminal` and
``update_terminal`` call :class:`Devices` (installed from ``ProvisioningConfig.ready()``) for
the phone's part, inside their validation and their transaction. Provisioning builds phone
configurations from terminals, so it imports terminals and never the other way round
(docs/architecture.md, "Layers"). The functions below change a device on its own (DECT
handset registration, the ACS password); like the terminal service they validate first, save
in one transaction and publish ``terminal.changed``, on which re-sync and the redirect
services act.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cloudpbx.core import credentials, crypto, events
from cloudpbx.core.addresses import AddressError, parse_mac
from cloudpbx.provisioning import claims
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings, Unset, device_ref, unique_username

logger = logging.getLogger(__name__)

ACS_USERNAME_PREFIX = "p"


class Devices:
    """The terminal service's ``AutomaticConfiguration``: a terminal's provisioning device
    and, for a DECT base, its handsets (keyed ``device.<field>``, ``base``, … in errors)."""

    def prepare(
        self,
        terminal: Terminal,
        settings_: DeviceSettings | Unset | None,
        errors: dict[str, Any],
    ) -> ProvisioningDevice | None:
        return _prepare_device(terminal, settings_, errors)

    def number_handset(self, terminal: Terminal) -> None:
        # Provisional, for validation; filed for good under the base's lock when saving.
        assert terminal.base is not None
        taken = set(terminal.base.handsets.values_list("handset_number", flat=True))
        terminal.handset_number = _free_handset_number(terminal.base, taken)

    def check(
        self, terminal: Terminal, device: ProvisioningDevice | None, errors: dict[str, Any]
    ) -> None:
        if terminal.base is not None:
            _check_handset(terminal, errors)
        elif terminal.pk is not None:
            _check_base_keeps_its_handsets(terminal, device, errors)
        if device is not None and terminal.effective_media_encryption == "required":
            vendor = VENDORS.get(device.manufacturer)
            if vendor is not None and not vendor.requires_srtp:
                errors["media_encryption"] = [
                    _(
                        "%(vendor)s phones cannot be set to require encrypted media here: "
                        "choose optional or off."
                    )
                    % {"vendor": vendor.name}
                ]

    def file_new_handset(self, terminal: Terminal) -> None:
        _file_new_handset(terminal)

    def save(
        self, terminal: Terminal, device: ProvisioningDevice | None, previous_model: str | None
    ) -> None:
        existing = terminal.device
        if device is None and existing is not None:
            existing.delete()
        elif device is not None:
            if device.is_dect_base and (existing is None or previous_model != device.model):
                # A new base: its handset 1 (this terminal) registers now.
                device.handset_registration_from = timezone.now()
            device.terminal = terminal
            device.save()
            # The handsets share the base's one SIP provider, SRTP included.
            device.handsets.exclude(media_encryption=terminal.media_encryption).update(
                media_encryption=terminal.media_encryption
            )


def open_handset_registration(device: ProvisioningDevice) -> None:
    """Let new handsets register with this DECT base for the vendor's window, from now (the
    base is re-synced, so its file opens the window at once)."""
    if not device.is_dect_base:
        raise ValidationError({"base": _("This phone is not a DECT base.")})
    with transaction.atomic():
        device.handset_registration_from = timezone.now()
        device.save(update_fields=["handset_registration_from"])
        events.publish(
            "terminal.changed",
            tenant_id=device.tenant_id,
            terminal_id=device.terminal_id,
            previous_device=device_ref(device),
            device=device_ref(device),
        )


def handset_pin(terminal: Terminal) -> str:
    """The PIN the terminal's handset registers with at its DECT base ("" if none)."""
    device = terminal.base or terminal.device
    vendor = VENDORS.get(device.manufacturer) if device is not None else None
    if vendor is None or vendor.handset_pin is None:
        return ""
    extension = terminal.internal_extension.number if terminal.internal_extension else ""
    return vendor.handset_pin(extension)


def handset_registration_minutes(device: ProvisioningDevice) -> int:
    """How long the base lets new handsets register once one is added."""
    vendor = VENDORS.get(device.manufacturer)
    return vendor.handset_registration_seconds // 60 if vendor else 0


def _acs_password_limit(device: ProvisioningDevice) -> int:
    vendor = VENDORS.get(device.manufacturer)
    return vendor.acs_password_max_length if vendor else credentials.MAX_PASSWORD_LENGTH


def _generate_acs_password(device: ProvisioningDevice) -> str:
    """As long as the phone takes (Snom: 20 characters, still about 2^116)."""
    length = min(credentials.GENERATED_PASSWORD_LENGTH, _acs_password_limit(device))
    return credentials.generate_password(length)


def set_acs_password(device: ProvisioningDevice, password: str | None = None) -> str:
    """Rotate or set the provisioning (ACS) password of an automatically configured phone.

    The event names the device, so its redirect registration is sent again with the new
    password (where the service carries credentials) and the phone is re-synced.
    """
    if device.auth_mode != ProvisioningDevice.AuthMode.CREDENTIALS or not device.acs_username:
        raise ValidationError(
            {"password": _("This phone authenticates by trusted IP, not with credentials.")}
        )
    limit = _acs_password_limit(device)
    if password is None:
        password = _generate_acs_password(device)
    else:
        try:
            credentials.validate_chosen_password(password, device.acs_username)
        except ValidationError as error:
            raise ValidationError({"password": error.error_list}) from error
        if len(password) > limit:
            raise ValidationError(
                {
                    "password": _(
                        "%(vendor)s phones take provisioning passwords of at most "
                        "%(limit)d characters."
                    )
                    % {"vendor": VENDORS[device.manufacturer].name, "limit": limit}
                }
            )
    with transaction.atomic():
        device.acs_password_encrypted = crypto.encrypt(password)
        device.save(update_fields=["acs_password_encrypted"])
        events.publish(
            "terminal.changed",
            tenant_id=device.terminal.tenant_id,
            terminal_id=device.terminal_id,
            previous_device=device_ref(device),
            device=device_ref(device),
        )
    return password


def _check_handset(terminal: Terminal, errors: dict[str, Any]) -> None:
    """A handset: of a DECT base of its own customer, within the model's limit, configured by
    the base (an IP phone, automatic), with the base's media encryption."""
    base = terminal.base
    assert base is not None
    if base.tenant_id != terminal.tenant_id:
        return  # refused by Terminal.clean; nothing of another customer's base is told
    limit = base.handset_limit
    if limit <= 1:
        errors["base"] = [
            _("%(model)s is not a DECT base: it takes no further handsets.")
            % {"model": base.model_name}
        ]
        return
    if terminal.pk is None and base.handsets.count() + 1 >= limit:
        errors["base"] = [_handset_limit_message(base)]
    if terminal.type != Terminal.Type.IP_PHONE:
        errors["type"] = [_("A handset of a DECT base is an IP phone.")]
    elif terminal.config_mode != Terminal.ConfigMode.AUTOMATIC:
        errors["config_mode"] = [_("A handset of a DECT base is configured by the base.")]
    if terminal.media_encryption != base.terminal.media_encryption:
        errors["media_encryption"] = [
            _("A handset uses the media encryption of its DECT base: change it on the base.")
        ]


def _handset_limit_message(device: ProvisioningDevice) -> str:
    return _("A %(model)s base takes at most %(limit)d handsets, its own terminal included.") % {
        "model": device.model_name,
        "limit": device.handset_limit,
    }


def _check_base_keeps_its_handsets(
    terminal: Terminal, device: ProvisioningDevice | None, errors: dict[str, Any]
) -> None:
    """A base with handsets stays a base big enough for them (they are removed first)."""
    existing = terminal.device
    count = existing.handsets.count() if existing is not None else 0
    if not count:
        return
    if device is None:
        errors["config_mode"] = [
            _("Remove the handsets of this DECT base first: they belong to it.")
        ]
    elif count + 1 > device.handset_limit:
        errors["device.model"] = [_handset_limit_message(device)]


def _file_new_handset(terminal: Terminal) -> None:
    """Give a new handset its number on the base (:func:`_free_handset_number`) and open the
    base's registration window. Called in the saving transaction with the base's row locked, so two
    handsets added at once neither share a number nor pass the limit together."""
    base = terminal.base
    assert base is not None
    locked = ProvisioningDevice.objects.select_for_update().get(pk=base.pk)
    taken = set(locked.handsets.values_list("handset_number", flat=True))
    if len(taken) + 1 >= locked.handset_limit:
        raise ValidationError({"base": [_handset_limit_message(locked)]})
    terminal.handset_number = _free_handset_number(locked, taken)
    base.handset_registration_from = timezone.now()
    base.last_handset_number = max(locked.last_handset_number, terminal.handset_number)
    base.save(update_fields=["handset_registration_from", "last_handset_number"])


def _free_handset_number(base: ProvisioningDevice, taken: set[int | None]) -> int:
    """The number after the last one given while the model's range allows: a number freed a
    moment ago may still be the removed handset's on a base that has not fetched its file
    since, and would hand it the new handset's account. Then the lowest free one."""
    limit = base.handset_limit
    following = base.last_handset_number + 1
    if following <= limit:
        return following
    # None free: the base is full, which the callers refuse.
    return next((number for number in range(2, limit + 1) if number not in taken), following)


def _prepare_device(
    terminal: Terminal,
    settings_: DeviceSettings | Unset | None,
    errors: dict[str, Any],
) -> ProvisioningDevice | None:
    """Return the device to keep (unsaved changes applied), or None to have none."""
    automatic = (
        terminal.type == Terminal.Type.IP_PHONE
        and terminal.config_mode == Terminal.ConfigMode.AUTOMATIC
    )
    existing = terminal.device if terminal.pk else None
    if not automatic or terminal.base is not None:  # a handset is configured by its base
        return None
    if isinstance(settings_, Unset):
        if existing is None:
            errors["device"] = [_("Choose the manufacturer, model and MAC address.")]
        return existing
    if settings_ is None:
        errors["device"] = [_("Choose the manufacturer, model and MAC address.")]
        return None

    device = existing or ProvisioningDevice()
    device.tenant = terminal.tenant
    if device.bound_at is not None and _normalised_mac(settings_.mac) != device.mac:
        # The binding was the old MAC's: the new one has proven nothing yet.
        device.bound_at, device.bound_by = None, ""
    device.manufacturer = settings_.manufacturer
    device.model = settings_.model
    device.mac = settings_.mac
    device.auth_mode = settings_.auth_mode
    device.trusted_networks = list(settings_.trusted_networks)
    if settings_.mac_id is not None:
        device.mac_id_crc = settings_.mac_id
    if device.auth_mode == ProvisioningDevice.AuthMode.CREDENTIALS:
        if not device.acs_username:
            device.acs_username = unique_username(
                ACS_USERNAME_PREFIX, ProvisioningDevice, "acs_username"
            )
            device.acs_password_encrypted = crypto.encrypt(_generate_acs_password(device))
    else:
        device.acs_username = None
        device.acs_password_encrypted = ""
    try:
        device.full_clean(exclude=["terminal"])
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            errors[f"device.{name}"] = messages
    return device


def _normalised_mac(typed: str) -> str:
    try:
        return parse_mac(typed)
    except AddressError:
        return typed  # reported by the device's validation


# --- who has a MAC (claims.py reads it) -------------------------------------------------------


def bind(device: ProvisioningDevice, *, by: str = ProvisioningDevice.Binding.OPERATOR) -> None:
    """Bind the device's MAC to it; every other customer's device with the MAC is unbound
    (never served from now on). The redirect services are brought in line once committed."""
    with transaction.atomic():
        others = claims.claimants(device.mac).exclude(pk=device.pk)
        affected = {(device.manufacturer, device.mac)}
        affected |= set(others.values_list("manufacturer", "mac"))
        others.update(bound_at=None, bound_by="")
        device.bound_at, device.bound_by = timezone.now(), by
        device.save(update_fields=["bound_at", "bound_by"])
        for manufacturer, mac in sorted(affected):
            # redirect_registrations subscribes: it syncs the services once committed.
            events.publish("mac.bound", manufacturer=manufacturer, mac=mac)
    logger.info(
        "provisioning MAC %s bound to device %s (tenant %s) by %s",
        device.mac,
        device.pk,
        device.tenant_id,
        by,
    )


def bind_by_mac_id(device: ProvisioningDevice) -> bool:
    """Gigaset's service accepted the device's MAC-ID (MAC plus the check code on the label):
    proof enough, unless another device is bound already. True: bound now."""
    if device.bound_at is not None or not device.mac_id_crc:
        return False
    if claims.claimants(device.mac).filter(bound_at__isnull=False).exists():
        return False
    now = timezone.now()
    try:
        with transaction.atomic():
            bound = ProvisioningDevice.objects.filter(pk=device.pk, bound_at__isnull=True).update(
                bound_at=now, bound_by=ProvisioningDevice.Binding.MAC_ID
            )
    except IntegrityError:  # another customer's phone fetched its file an instant before
        return False
    if bound:
        device.bound_at, device.bound_by = now, ProvisioningDevice.Binding.MAC_ID
        logger.info("provisioning MAC %s bound to device %s by its MAC-ID", device.mac, device.pk)
    return bool(bound)
