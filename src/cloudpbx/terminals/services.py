"""Terminals: the only write path (portal, API, admin and CLI all call these).

Each function validates everything first, saves in one transaction, then notifies through
:mod:`cloudpbx.core.events` once committed. Errors come as one ``ValidationError`` keyed by
model field; provisioning-device fields are keyed ``device.<field>``.

DECT bases: the terminal owning a base's provisioning device is its handset 1; further
handsets are terminals created with ``base=`` that device (:func:`create_terminal`): ordinary
IP phones in every other respect, of the base's customer, within the model's limit, with the
base's media encryption. Their events name the base's terminal (``base_terminal_id``), so a
change to any handset re-syncs the base. The device's part of a save (and the writes of a
device alone: handset registration, ACS password) is :mod:`cloudpbx.provisioning.services`,
reached through :class:`AutomaticConfiguration`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from cloudpbx.core import credentials, crypto, events
from cloudpbx.core.validators import no_control_characters
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal

if TYPE_CHECKING:
    from cloudpbx.provisioning.models import ProvisioningDevice

logger = logging.getLogger(__name__)

SIP_USERNAME_PREFIX = "t"
# The settings create_terminal/update_terminal take as values (the portal's form fills and
# reads exactly these; the API's table gives each its place in the body: api/terminal_fields.py).
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
    auth_mode: str = "credentials"  # ProvisioningDevice.AuthMode.CREDENTIALS
    trusted_networks: list[str] = field(default_factory=list)
    mac_id: str | None = None  # Gigaset's label MAC-ID; None keeps the stored one


class Unset:
    pass


UNSET: Any = Unset()


class AutomaticConfiguration(Protocol):
    """The phone's part of saving a terminal: its provisioning device and, for a DECT base,
    the handsets. :class:`cloudpbx.provisioning.services.Devices` implements it and
    ``ProvisioningConfig.ready()`` installs it (:func:`use_automatic_configuration`):
    provisioning builds phone configurations from terminals, so terminals never imports
    provisioning (docs/architecture.md, "Layers"). Called inside :func:`_save`'s validation
    and transaction, so a terminal and its device are saved together or not at all."""

    def prepare(
        self, terminal: Terminal, settings_: DeviceSettings | Unset | None, errors: dict[str, Any]
    ) -> ProvisioningDevice | None:
        """The device to keep (unsaved changes applied), or None; errors as ``device.<field>``."""

    def number_handset(self, terminal: Terminal) -> None:
        """A new handset's provisional number on its base, for validation."""

    def check(
        self, terminal: Terminal, device: ProvisioningDevice | None, errors: dict[str, Any]
    ) -> None:
        """The handset, DECT-base and media-encryption rules of the phone."""

    def file_new_handset(self, terminal: Terminal) -> None:
        """In the transaction: the new handset's number for good, its base's row locked."""

    def save(
        self, terminal: Terminal, device: ProvisioningDevice | None, previous_model: str | None
    ) -> None:
        """In the transaction, the terminal saved: save its device, or delete the old one."""


_automatic: AutomaticConfiguration | None = None


def use_automatic_configuration(implementation: AutomaticConfiguration) -> None:
    global _automatic
    _automatic = implementation


def _phones() -> AutomaticConfiguration:
    if _automatic is None:
        raise RuntimeError("cloudpbx.provisioning is not installed: no automatic configuration")
    return _automatic


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
    device_settings: DeviceSettings | Unset | None,
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
    phones = _phones()
    if is_new and terminal.base is not None:
        phones.number_handset(terminal)

    errors: dict[str, Any] = {}
    try:
        terminal.full_clean()
    except ValidationError as error:
        errors.update(error.message_dict)
    if ringing is not None and any(ext.tenant_id != terminal.tenant_id for ext in ringing):
        errors["ringing_extensions"] = [_("Choose extensions of this customer.")]
    device = phones.prepare(terminal, device_settings, errors)
    phones.check(terminal, device, errors)
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        if terminal.has_sip_account and not terminal.sip_username:
            if generate_credentials or device is not None or terminal.base is not None:
                _generate_sip_account(terminal)
        if terminal.base is not None and is_new:
            phones.file_new_handset(terminal)
        terminal.save()
        if ringing is not None:
            terminal.ringing_extensions.set(ringing)
        phones.save(terminal, device, previous_model)
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


def _generate_sip_account(terminal: Terminal) -> None:
    terminal.sip_username = unique_username(SIP_USERNAME_PREFIX, Terminal, "sip_username")
    _store_sip_password(terminal, credentials.generate_password())


def _store_sip_password(terminal: Terminal, password: str) -> None:
    realm = settings.CLOUDPBX_SIP_REALM
    username = terminal.sip_username or ""
    terminal.sip_password_encrypted = crypto.encrypt(password)
    terminal.sip_ha1 = credentials.ha1_md5(username, realm, password)
    terminal.sip_ha1_sha256 = credentials.ha1_sha256(username, realm, password)


def unique_username(prefix: str, model: type[Any], field_name: str) -> str:
    while True:
        candidate = credentials.generate_username(prefix, 11)
        if not model.objects.filter(**{field_name: candidate}).exists():
            return candidate
