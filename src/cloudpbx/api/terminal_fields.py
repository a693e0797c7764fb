"""Where each terminal setting lives in the API's body: the one declaration (``PLACES``) that
the terminals API derives its error locations, its service arguments, its answer and the
group schemas from (docs/how-to-add-a-terminal-setting.md, section 4).

A plain setting (a bool, text or choice column of ``Terminal``) is one entry, its group and
key: its types come from the column (text with the column's ``max_length`` on input, the
choices as a ``Literal``), the body's value is the service's and the answer shows the column.
A setting whose body value is not the column's (a number given as text for a PhoneNumber, an
extension number for an Extension, ``"pbx"`` for ``""``) names its converters and types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import Schema
from pydantic import Field, create_model

from cloudpbx import numbering_rules as rules
from cloudpbx.core.api import BodySchema
from cloudpbx.extensions.models import EXTENSION_PATTERN, Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings

# An extension as the API names it: its number, as the model checks it.
EXTENSION_NUMBER = f"^{EXTENSION_PATTERN.pattern}$"
ExtensionNumber = Annotated[str, Field(pattern=EXTENSION_NUMBER)]
# "pbx": as set for the PBX (the customer's policy), stored as "".
MediaEncryptionSetting = Literal["pbx", "off", "optional", "required"]


class Lookup:
    """Turns the API's human keys (E.164 numbers, extension numbers) into this tenant's rows;
    what it cannot find is an error keyed by the setting, raised once every key is read."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.errors: dict[str, list[str]] = {}

    def number(self, field: str, raw: str | None) -> PhoneNumber | None:
        if raw is None or raw == "":
            return None
        try:
            e164 = rules.normalise(self.tenant.country, raw)
        except ValidationError:
            e164 = raw
        found = PhoneNumber.objects.for_tenant(self.tenant).filter(e164=e164).first()
        if found is None:
            self.errors[field] = [_("Choose one of this customer's numbers.")]
        return found

    def extensions(self, field: str, raws: list[str]) -> list[Extension]:
        wanted = {raw.strip() for raw in raws}
        found = list(Extension.objects.for_tenant(self.tenant).filter(number__in=wanted))
        missing = wanted - {e.number for e in found}
        if missing:
            self.errors[field] = [
                ngettext(
                    "Unknown extension: %(numbers)s.",
                    "Unknown extensions: %(numbers)s.",
                    len(missing),
                )
                % {"numbers": ", ".join(sorted(missing))}
            ]
        return found

    def extension(self, field: str, raw: str | None) -> Extension | None:
        found = self.extensions(field, [raw]) if raw else []
        return found[0] if found else None

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


# (lookup, the setting's name, the body's value) -> the service's value (Lookup's methods are
# such functions).
Read = Callable[[Lookup, str, Any], Any]
# (terminal, the setting's name) -> the answer's value.
Show = Callable[[Terminal, str], Any]


@dataclass(frozen=True)
class Place:
    """Where one setting is in the body, and how its value crosses when it is not plain."""

    group: str | None  # None: the top of the body
    key: str | None  # None: the whole group
    read: Read | None = None  # None: as sent, and null leaves it unchanged
    show: Show | None = None  # None: the terminal's attribute of the setting's name
    accepts: Any = None  # the input's type; None: the column's
    shows: Any = None  # the answer's type; None: the column's
    description: str | None = None  # of the input, in the OpenAPI document
    # The service's errors "<name>.<part>" and the group's keys they belong at.
    parts: Mapping[str, str] = field(default_factory=dict)
    read_only: bool = False  # in the answer only (a property of Terminal)


@dataclass(frozen=True)
class Group:
    """A group whose schemas and resolver are derived from its places."""

    shown: Callable[[Terminal], bool]  # whether the answer has it (else null)
    partial: bool  # True: each key may be left out (a PATCH of some); False: all are required


def _has_sip_account(terminal: Terminal) -> bool:
    return terminal.has_sip_account


def _is_external(terminal: Terminal) -> bool:
    return terminal.type == Terminal.Type.EXTERNAL


def _always(terminal: Terminal) -> bool:
    return True


# The top of the body (TerminalIn, TerminalPatch) and ``provisioning`` are written out in
# terminal_schemas.py: the name is required on create, and most of provisioning is the
# phone's ProvisioningDevice, whose answer reads the redirect service's status.
GROUPS: dict[str, Group] = {
    "outbound": Group(shown=_has_sip_account, partial=True),
    "media": Group(shown=_has_sip_account, partial=False),
    "external": Group(shown=_is_external, partial=False),
    "inbound": Group(shown=_always, partial=False),
}


def _e164(terminal: Terminal, name: str) -> str | None:
    number = getattr(terminal, name)
    return number.e164 if number else None


def _extension_number(terminal: Terminal, name: str) -> str | None:
    extension = getattr(terminal, name)
    return extension.number if extension else None


def _extension_numbers(terminal: Terminal, name: str) -> list[str]:
    return [e.number for e in getattr(terminal, name).all()]  # prefetched by the view


def _blank_for_null(lookup: Lookup, name: str, raw: str | None) -> str:
    return raw or ""


def _null_for_blank(terminal: Terminal, name: str) -> str | None:
    return getattr(terminal, name) or None


def _blank_for_pbx(lookup: Lookup, name: str, raw: str) -> str:
    return "" if raw == "pbx" else raw


def _pbx_for_blank(terminal: Terminal, name: str) -> str:
    return getattr(terminal, name) or "pbx"


def _device_settings(
    lookup: Lookup, name: str, provisioning: dict[str, Any]
) -> DeviceSettings | None:
    """Automatic configuration: the phone's settings; manual: none."""
    if provisioning["mode"] != Terminal.ConfigMode.AUTOMATIC:
        return None
    return DeviceSettings(
        manufacturer=provisioning.get("manufacturer") or "",
        model=provisioning.get("model") or "",
        mac=provisioning.get("mac") or "",
        auth_mode=provisioning.get("auth") or "credentials",
        trusted_networks=provisioning.get("trusted_networks") or [],
        mac_id=provisioning.get("mac_id"),
    )


# Keyed by the name create_terminal/update_terminal take (EDITABLE_FIELDS, ringing_extensions,
# device), or for a read-only key the Terminal property it shows; in body order, which is the
# schemas' order.
PLACES: dict[str, Place] = {
    "name": Place(None, "name"),
    "type": Place(None, "type"),
    "external_calls_enabled": Place("outbound", "external_calls_enabled"),
    "identification_number": Place(
        "outbound",
        "identification_number",
        read=Lookup.number,
        show=_e164,
        accepts=str,
        shows=str | None,
    ),
    "internal_display_name": Place("outbound", "internal_display_name"),
    "internal_extension": Place(
        "outbound",
        "internal_extension",
        read=Lookup.extension,
        show=_extension_number,
        accepts=ExtensionNumber,
        shows=str | None,
        description="null: none.",
    ),
    "caller_id_mode": Place("outbound", "caller_id_mode"),
    # A number as people write it, which the model normalises: not the column's max_length.
    "caller_id_custom": Place(
        "outbound",
        "custom_number",
        read=_blank_for_null,
        show=_null_for_blank,
        accepts=str,
        shows=str | None,
    ),
    "caller_id_number": Place(
        "outbound",
        "pbx_number",
        read=Lookup.number,
        show=_e164,
        accepts=str,
        shows=str | None,
    ),
    "media_encryption": Place(
        "media",
        "encryption",
        read=_blank_for_pbx,
        show=_pbx_for_blank,
        accepts=MediaEncryptionSetting,
        shows=MediaEncryptionSetting,
    ),
    "effective_media_encryption": Place(
        "media",
        "effective",
        read_only=True,
        shows=Annotated[
            Literal["off", "optional", "required"],
            Field(description="What applies: the terminal's own setting, or the PBX's."),
        ],
    ),
    # As people write it, as caller_id_custom.
    "external_number": Place("external", "number", accepts=Annotated[str, Field(min_length=1)]),
    "ringing_extensions": Place(
        "inbound",
        "extensions",
        read=Lookup.extensions,
        show=_extension_numbers,
        accepts=list[ExtensionNumber],
        shows=list[str],
    ),
    "config_mode": Place("provisioning", "mode"),
    "device": Place(
        "provisioning",
        None,
        read=_device_settings,
        parts={
            "manufacturer": "manufacturer",
            "model": "model",
            "mac": "mac",
            "auth_mode": "auth",
            "trusted_networks": "trusted_networks",
            "mac_id_crc": "mac_id",
        },
    ),
}


def _locations() -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for name, place in PLACES.items():
        if place.read_only:
            continue
        at = tuple(step for step in (place.group, place.key) if step is not None)
        found[name] = at
        for part, key in place.parts.items():
            found[f"{name}.{part}"] = (*at, key)
    return found


# Where each service error belongs in the body (an error of another name, e.g. ``base``, is
# at the top-level key of that name).
LOCATIONS = _locations()


def service_arguments(sent: Mapping[str, Any], lookup: Lookup) -> dict[str, Any]:
    """The keyword arguments for create_terminal/update_terminal from what the body sets
    (``model_dump(exclude_unset=True)``): a group or key left out changes nothing. Call
    ``lookup.raise_if_any()`` after."""
    arguments: dict[str, Any] = {}
    for name, place in PLACES.items():
        group = sent if place.group is None else sent.get(place.group)
        if place.read_only or not group:
            continue
        if place.key is None:
            value = group
        elif place.key in group:
            value = group[place.key]
        else:
            continue
        if place.read is not None:
            arguments[name] = place.read(lookup, name, value)
        elif value is not None:
            arguments[name] = value
    return arguments


def _places_of(group: str) -> Iterator[tuple[str, Place]]:
    for name, place in PLACES.items():
        if place.group == group:
            yield name, place


def _column_type(name: str, *, accepts: bool) -> Any:
    """A plain column's type, as django-ninja's ModelSchema derives it but with the choices as
    an enumeration, the max_length on input only (the answer shows what is stored) and no
    title or description from the column (the schemas' keys are the API's, not its names)."""
    column = Terminal._meta.get_field(name)
    if isinstance(column, models.BooleanField):
        return bool
    if isinstance(column, models.CharField) and column.choices:
        return Literal[tuple(value for value, _label in column.flatchoices)]
    if isinstance(column, models.CharField):
        return Annotated[str, Field(max_length=column.max_length)] if accepts else str
    raise TypeError(f"Terminal.{name} is not a plain column: declare its types and converters")


def body_schema(name: str, group: str) -> type[BodySchema]:
    """The input schema of a group in GROUPS (its settings, in PLACES order)."""
    partial = GROUPS[group].partial
    fields: dict[str, Any] = {}
    for setting, place in _places_of(group):
        if place.read_only:
            continue
        accepts = place.accepts or _column_type(setting, accepts=True)
        if partial:
            fields[str(place.key)] = (accepts | None, Field(None, description=place.description))
        else:
            fields[str(place.key)] = (accepts, Field(description=place.description))
    return create_model(name, __base__=BodySchema, __module__=__name__, **fields)


def answer_schema(name: str, group: str) -> type[Schema]:
    """The answer's schema of a group in GROUPS: every key, always present."""
    fields: dict[str, Any] = {
        str(place.key): (place.shows or _column_type(setting, accepts=False), ...)
        for setting, place in _places_of(group)
    }
    return create_model(name, __base__=Schema, __module__=__name__, **fields)


def shown(group: str) -> Callable[[Terminal], dict[str, Any] | None]:
    """TerminalOut's resolver of a group in GROUPS: its keys and values, or None where the
    terminal has no such group."""
    places = list(_places_of(group))
    applies = GROUPS[group].shown

    def resolve(terminal: Terminal) -> dict[str, Any] | None:
        if not applies(terminal):
            return None
        return {
            str(place.key): (place.show(terminal, name) if place.show else getattr(terminal, name))
            for name, place in places
        }

    return resolve
