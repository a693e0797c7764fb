"""Terminals: the only write path (portal, API, admin and CLI all call these).

Each function validates everything first, saves in one transaction, then notifies through
:mod:`cloudpbx.core.events` once committed. Errors come as one ``ValidationError`` keyed by
model field; provisioning-device fields are keyed ``device.<field>``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from cloudpbx.core import credentials, crypto, events
from cloudpbx.core.validators import no_control_characters
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.provisioning.addresses import AddressError, parse_mac
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal

logger = logging.getLogger(__name__)

SIP_USERNAME_PREFIX = "t"
ACS_USERNAME_PREFIX = "p"
EDITABLE_FIELDS = frozenset(
    {
        "name",
        "type",
        "external_calls_enabled",
        "identification_number",
        "internal_display_name",
        "internal_extension",
        "caller_id_mode",
        "caller_id_custom",
        "caller_id_number",
        "media_encryption",
        "external_number",
        "config_mode",
    }
)


@dataclass
class DeviceSettings:
    """What the customer sets for automatic configuration."""

    manufacturer: str
    model: str
    mac: str
    auth_mode: str = ProvisioningDevice.AuthMode.CREDENTIALS
    trusted_networks: list[str] = field(default_factory=list)
    mac_id: str | None = None  # Gigaset's label MAC-ID; None keeps the stored one


class _Unset:
    pass


UNSET: Any = _Unset()


def create_terminal(
    tenant: Tenant,
    *,
    ringing_extensions: Iterable[Extension] = (),
    device: DeviceSettings | None = None,
    generate_credentials: bool = False,
    **values: Any,
) -> Terminal:
    terminal = Terminal(tenant=tenant)
    return _save(terminal, values, list(ringing_extensions), device, generate_credentials)


def update_terminal(
    terminal: Terminal,
    *,
    ringing_extensions: Iterable[Extension] | None = None,
    device: DeviceSettings | None = UNSET,
    generate_credentials: bool = False,
    **values: Any,
) -> Terminal:
    ringing = list(ringing_extensions) if ringing_extensions is not None else None
    return _save(terminal, values, ringing, device, generate_credentials)


def delete_terminal(terminal: Terminal) -> None:
    payload = {
        "tenant_id": terminal.tenant_id,
        "terminal_id": terminal.pk,
        "previous_device": device_ref(terminal.device),
    }
    with transaction.atomic():
        terminal.delete()
        events.publish("terminal.deleted", **payload)


def set_sip_password(terminal: Terminal, password: str | None = None) -> str:
    """Rotate (``password=None``: generate) or set the SIP password; return the new one."""
    if not terminal.has_sip_account or not terminal.sip_username:
        raise ValidationError({"password": _("This terminal has no SIP account.")})
    if password is None:
        password = credentials.generate_password()
    else:
        try:
            credentials.validate_chosen_password(password, terminal.sip_username)
        except ValidationError as error:
            raise ValidationError({"password": error.error_list}) from error
    with transaction.atomic():
        _store_sip_password(terminal, password)
        terminal.save(
            update_fields=["sip_password_encrypted", "sip_ha1", "sip_ha1_sha256", "updated"]
        )
        events.publish("terminal.changed", tenant_id=terminal.tenant_id, terminal_id=terminal.pk)
    return password


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


def device_ref(device: ProvisioningDevice | None) -> dict[str, str] | None:
    """What events say about a phone (its redirect registration is keyed by it): no secret."""
    if device is None or not device.mac:
        return None
    return {"manufacturer": device.manufacturer, "mac": device.mac}


def default_number(tenant: Tenant) -> PhoneNumber | None:
    return PhoneNumber.objects.for_tenant(tenant).filter(is_main=True).first()


def _save(
    terminal: Terminal,
    values: dict[str, Any],
    ringing: list[Extension] | None,
    device_settings: DeviceSettings | _Unset | None,
    generate_credentials: bool,
) -> Terminal:
    unknown = set(values) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    is_new = terminal.pk is None
    previous_device = None if is_new else device_ref(terminal.device)
    for name, value in values.items():
        setattr(terminal, name, value)
    terminal.drop_inapplicable_settings()
    _apply_defaults(terminal, is_new)

    errors: dict[str, Any] = {}
    try:
        terminal.full_clean()
    except ValidationError as error:
        errors.update(error.message_dict)
    if ringing is not None and any(ext.tenant_id != terminal.tenant_id for ext in ringing):
        errors["ringing_extensions"] = [_("Choose extensions of this customer.")]
    device = _prepare_device(terminal, device_settings, errors)
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
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        if terminal.has_sip_account and not terminal.sip_username:
            if generate_credentials or device is not None:
                _generate_sip_account(terminal)
        terminal.save()
        if ringing is not None:
            terminal.ringing_extensions.set(ringing)
        existing = terminal.device
        if device is None and existing is not None:
            existing.delete()
        elif device is not None:
            device.terminal = terminal
            device.save()
        events.publish(
            "terminal.created" if is_new else "terminal.changed",
            tenant_id=terminal.tenant_id,
            terminal_id=terminal.pk,
            previous_device=previous_device,
            device=device_ref(device),
        )
    logger.info(
        "terminal %s %s (tenant %s)",
        terminal.pk,
        "created" if is_new else "updated",
        terminal.tenant_id,
    )
    return terminal


def _apply_defaults(terminal: Terminal, is_new: bool) -> None:
    if not terminal.has_sip_account:
        return
    main = None
    if terminal.identification_number is None or (
        terminal.caller_id_mode == Terminal.CallerIdMode.PBX_NUMBER
        and terminal.caller_id_number is None
    ):
        main = default_number(terminal.tenant)
    if terminal.identification_number is None:
        terminal.identification_number = main
    if terminal.caller_id_mode == Terminal.CallerIdMode.PBX_NUMBER:
        if terminal.caller_id_number is None:
            terminal.caller_id_number = main
        if main is None and terminal.caller_id_number is None and is_new:
            # A customer without numbers yet can only call anonymously.
            terminal.caller_id_mode = Terminal.CallerIdMode.ANONYMOUS
    if not terminal.internal_display_name:
        name = (terminal.name or "").strip()
        try:
            no_control_characters(name)
        except ValidationError:
            return  # reported on the name; not again on a field the customer left empty
        terminal.internal_display_name = name


def _prepare_device(
    terminal: Terminal,
    settings_: DeviceSettings | _Unset | None,
    errors: dict[str, Any],
) -> ProvisioningDevice | None:
    """Return the device to keep (unsaved changes applied), or None to have none."""
    automatic = (
        terminal.type == Terminal.Type.IP_PHONE
        and terminal.config_mode == Terminal.ConfigMode.AUTOMATIC
    )
    existing = terminal.device if terminal.pk else None
    if not automatic:
        return None
    if isinstance(settings_, _Unset):
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
            device.acs_username = _unique_username(
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


def _generate_sip_account(terminal: Terminal) -> None:
    terminal.sip_username = _unique_username(SIP_USERNAME_PREFIX, Terminal, "sip_username")
    _store_sip_password(terminal, credentials.generate_password())


def _store_sip_password(terminal: Terminal, password: str) -> None:
    realm = settings.CLOUDPBX_SIP_REALM
    username = terminal.sip_username or ""
    terminal.sip_password_encrypted = crypto.encrypt(password)
    terminal.sip_ha1 = credentials.ha1_md5(username, realm, password)
    terminal.sip_ha1_sha256 = credentials.ha1_sha256(username, realm, password)


def _unique_username(prefix: str, model: type[Any], field_name: str) -> str:
    while True:
        candidate = credentials.generate_username(prefix, 11)
        if not model.objects.filter(**{field_name: candidate}).exists():
            return candidate
