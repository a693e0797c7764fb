"""Terminals: the only write path (portal, API, admin and CLI all call these).

Each function validates everything first, saves in one transaction, then notifies through
:mod:`cloudpbx.core.events` once committed. Errors come as one ``ValidationError`` keyed by
model field; provisioning-device fields are keyed ``device.<field>``.

DECT bases: the terminal owning a base's provisioning device is its handset 1; further
handsets are terminals created with ``base=`` that device (:func:`create_terminal`): ordinary
IP phones in every other respect, of the base's customer, within the model's limit, with the
base's media encryption. Their events name the base's terminal (``base_terminal_id``), so a
change to any handset re-syncs the base.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cloudpbx.core import credentials, crypto, events
from cloudpbx.core.addresses import AddressError, parse_mac
from cloudpbx.core.validators import no_control_characters
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal

logger = logging.getLogger(__name__)

SIP_USERNAME_PREFIX = "t"
ACS_USERNAME_PREFIX = "p"
# The settings create_terminal/update_terminal take as values (the portal's form fills and
# reads exactly these; the API maps each to its place in the body, see terminals/api.py).
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
    base: ProvisioningDevice | None = None,
    generate_credentials: bool = False,
    **values: Any,
) -> Terminal:
    """``base``: the new terminal is a further handset of that DECT base (configured by the
    base's file, so no ``device`` of its own; SIP credentials are always generated)."""
    terminal = Terminal(tenant=tenant)
    if base is not None:
        terminal.base = base
        terminal.type = Terminal.Type.IP_PHONE
        terminal.config_mode = Terminal.ConfigMode.AUTOMATIC
        terminal.media_encryption = base.terminal.media_encryption
        device = None
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
    """Delete the terminal (a handset leaves its base's file); a DECT base keeps its handsets:
    they are removed first."""
    device = terminal.device
    if device is not None and device.handsets.exists():
        raise ValidationError(
            {"base": _("Remove the handsets of this DECT base first: they belong to it.")}
        )
    payload = {
        "tenant_id": terminal.tenant_id,
        "terminal_id": terminal.pk,
        "previous_device": device_ref(device),
        **_base_of(terminal),
    }
    with transaction.atomic():
        terminal.delete()
        events.publish("terminal.deleted", **payload)


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


def _base_of(terminal: Terminal) -> dict[str, int]:
    """What a handset's events add: the terminal whose phone (the base) must re-sync."""
    if terminal.base is None:
        return {}
    return {"base_terminal_id": terminal.base.terminal_id}


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
        events.publish(
            "terminal.changed",
            tenant_id=terminal.tenant_id,
            terminal_id=terminal.pk,
            **_base_of(terminal),
        )
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
    previous_model = terminal.device.model if not is_new and terminal.device else None
    for name, value in values.items():
        setattr(terminal, name, value)
    terminal.drop_inapplicable_settings()
    _apply_defaults(terminal, is_new)
    if is_new and terminal.base is not None:
        # Provisional, for validation; filed for good under the base's lock when saving.
        taken = set(terminal.base.handsets.values_list("handset_number", flat=True))
        terminal.handset_number = _free_handset_number(terminal.base, taken)

    errors: dict[str, Any] = {}
    try:
        terminal.full_clean()
    except ValidationError as error:
        errors.update(error.message_dict)
    if ringing is not None and any(ext.tenant_id != terminal.tenant_id for ext in ringing):
        errors["ringing_extensions"] = [_("Choose extensions of this customer.")]
    device = _prepare_device(terminal, device_settings, errors)
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
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        if terminal.has_sip_account and not terminal.sip_username:
            if generate_credentials or device is not None or terminal.base is not None:
                _generate_sip_account(terminal)
        if terminal.base is not None and is_new:
            _file_new_handset(terminal)
        terminal.save()
        if ringing is not None:
            terminal.ringing_extensions.set(ringing)
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
        events.publish(
            "terminal.created" if is_new else "terminal.changed",
            tenant_id=terminal.tenant_id,
            terminal_id=terminal.pk,
            previous_device=previous_device,
            device=device_ref(device),
            **_base_of(terminal),
        )
    logger.info(
        "terminal %s %s (tenant %s)",
        terminal.pk,
        "created" if is_new else "updated",
        terminal.tenant_id,
    )
    return terminal


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
    if not automatic or terminal.base is not None:  # a handset is configured by its base
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
