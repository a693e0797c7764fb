"""REST endpoints for terminals: thin translation between JSON and the service layer."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import Query, Router, Status
from ninja.pagination import paginate

from cloudpbx import numbering_rules as rules
from cloudpbx.accounts.api import get_scoped_or_404, require_admin, tenant_of
from cloudpbx.api.terminal_schemas import (
    AppLinkOut,
    CredentialsOut,
    PasswordIn,
    PasswordOut,
    StatusOut,
    TerminalFilter,
    TerminalIn,
    TerminalOut,
    TerminalPatch,
)
from cloudpbx.core.api import ApiValidationError, Pagination, responses
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.provisioning import services as device_services
from cloudpbx.provisioning.services import app_links
from cloudpbx.sip import status
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal

router = Router(tags=["terminals"])

# Where each model/service error belongs in the request body.
LOCATIONS: dict[str, tuple[str, ...]] = {
    "external_calls_enabled": ("outbound", "external_calls_enabled"),
    "identification_number": ("outbound", "identification_number"),
    "internal_display_name": ("outbound", "internal_display_name"),
    "internal_extension": ("outbound", "internal_extension"),
    "caller_id_mode": ("outbound", "caller_id_mode"),
    "caller_id_custom": ("outbound", "custom_number"),
    "caller_id_number": ("outbound", "pbx_number"),
    "media_encryption": ("media", "encryption"),
    "external_number": ("external", "number"),
    "ringing_extensions": ("inbound", "extensions"),
    "config_mode": ("provisioning", "mode"),
    "device": ("provisioning",),
    "device.manufacturer": ("provisioning", "manufacturer"),
    "device.model": ("provisioning", "model"),
    "device.mac": ("provisioning", "mac"),
    "device.auth_mode": ("provisioning", "auth"),
    "device.trusted_networks": ("provisioning", "trusted_networks"),
    "device.mac_id_crc": ("provisioning", "mac_id"),
    "base": ("base",),
}


def terminals_of(request: HttpRequest) -> QuerySet[Terminal]:
    return (
        Terminal.objects.for_tenant(tenant_of(request))
        .select_related(
            "tenant",
            "identification_number",
            "internal_extension",
            "caller_id_number",
            "provisioning_device",
            "provisioning_device__redirect_registration",
            "base",
        )
        .prefetch_related("ringing_extensions")
    )


class _Resolver:
    """Turns the API's human keys (E.164 numbers, extension numbers) into this tenant's rows."""

    def __init__(self, request: HttpRequest) -> None:
        self.tenant = tenant_of(request)
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

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def _service_arguments(request: HttpRequest, payload: TerminalIn | TerminalPatch) -> dict[str, Any]:
    resolve = _Resolver(request)
    values: dict[str, Any] = {}
    arguments: dict[str, Any] = {"values": values}
    sent = payload.model_dump(exclude_unset=True)
    for field in ("name", "type"):
        if sent.get(field) is not None:
            values[field] = sent[field]
    outbound = sent.get("outbound") or {}
    for field in ("external_calls_enabled", "internal_display_name", "caller_id_mode"):
        if outbound.get(field) is not None:
            values[field] = outbound[field]
    media = sent.get("media")
    if media is not None:
        values["media_encryption"] = "" if media["encryption"] == "pbx" else media["encryption"]
    if "custom_number" in outbound:
        values["caller_id_custom"] = outbound["custom_number"] or ""
    if "identification_number" in outbound:
        values["identification_number"] = resolve.number(
            "identification_number", outbound["identification_number"]
        )
    if "pbx_number" in outbound:
        values["caller_id_number"] = resolve.number("caller_id_number", outbound["pbx_number"])
    if "internal_extension" in outbound:
        raw = outbound["internal_extension"]
        found = resolve.extensions("internal_extension", [raw]) if raw else [None]
        values["internal_extension"] = found[0] if found else None
    if sent.get("external"):
        values["external_number"] = sent["external"]["number"]
    if sent.get("inbound") is not None:
        arguments["ringing_extensions"] = resolve.extensions(
            "ringing_extensions", sent["inbound"]["extensions"]
        )
    provisioning = sent.get("provisioning")
    if provisioning:
        values["config_mode"] = provisioning["mode"]
        if provisioning["mode"] == Terminal.ConfigMode.AUTOMATIC:
            arguments["device"] = services.DeviceSettings(
                manufacturer=provisioning.get("manufacturer") or "",
                model=provisioning.get("model") or "",
                mac=provisioning.get("mac") or "",
                auth_mode=provisioning.get("auth") or "credentials",
                trusted_networks=provisioning.get("trusted_networks") or [],
                mac_id=provisioning.get("mac_id"),
            )
    arguments["generate_credentials"] = payload.generate_credentials
    resolve.raise_if_any()
    return arguments


def _call(function: Any, *args: Any, request: HttpRequest, payload: Any, **extra: Any) -> Terminal:
    try:
        arguments = _service_arguments(request, payload)
        values = arguments.pop("values")
        return function(*args, **arguments, **extra, **values)
    except ValidationError as error:
        raise ApiValidationError(error, LOCATIONS) from error


@router.get("/", response=responses({200: list[TerminalOut]}))
@paginate(Pagination)
def list_terminals(request: HttpRequest, filters: Query[TerminalFilter]) -> Any:
    terminals = terminals_of(request)
    if filters.type:
        terminals = terminals.filter(type=filters.type)
    if filters.q:
        terminals = terminals.filter(Q(name__icontains=filters.q) | Q(sip_username=filters.q))
    if filters.extension:
        terminals = terminals.filter(ringing_extensions__number=filters.extension)
    return terminals


@router.post("/", response=responses({201: TerminalOut}, 400, 403, 404))
def create_terminal(request: HttpRequest, payload: TerminalIn) -> Any:
    """With ``base``: a handset of that DECT base (404 if the base is not this customer's
    terminal; 422 if it is no DECT base or has all the handsets its model takes)."""
    require_admin(request)
    base = None
    if payload.base is not None:
        base_terminal = get_scoped_or_404(terminals_of(request), request, payload.base)
        base = base_terminal.device
        if base is None:
            error = ValidationError({"base": _("This terminal's phone is not a DECT base.")})
            raise ApiValidationError(error, LOCATIONS)
    terminal = _call(
        services.create_terminal, tenant_of(request), request=request, payload=payload, base=base
    )
    return Status(201, terminals_of(request).get(pk=terminal.pk))


@router.get("/{terminal_id}", response=responses({200: TerminalOut}, 404))
def get_terminal(request: HttpRequest, terminal_id: int) -> Any:
    return get_scoped_or_404(terminals_of(request), request, terminal_id)


@router.patch("/{terminal_id}", response=responses({200: TerminalOut}, 400, 403, 404))
def update_terminal(request: HttpRequest, terminal_id: int, payload: TerminalPatch) -> Any:
    terminal = get_scoped_or_404(terminals_of(request), request, terminal_id)
    require_admin(request)
    _call(services.update_terminal, terminal, request=request, payload=payload)
    return terminals_of(request).get(pk=terminal.pk)


@router.delete("/{terminal_id}", response=responses({204: None}, 403, 404))
def delete_terminal(request: HttpRequest, terminal_id: int) -> Any:
    """A DECT base with handsets is refused (422 at ``base``): remove its handsets first."""
    terminal = get_scoped_or_404(terminals_of(request), request, terminal_id)
    require_admin(request)
    try:
        services.delete_terminal(terminal)
    except ValidationError as error:
        raise ApiValidationError(error, LOCATIONS) from error
    return Status(204, None)


@router.post(
    "/{terminal_id}/sip-password",
    response=responses({200: PasswordOut}, 400, 403, 404),
)
def set_sip_password(request: HttpRequest, terminal_id: int, payload: PasswordIn) -> Any:
    """Rotate the SIP password (empty body) or set the one given (strength checked)."""
    terminal = get_scoped_or_404(terminals_of(request), request, terminal_id)
    require_admin(request)
    try:
        password = services.set_sip_password(terminal, payload.password)
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return {"username": terminal.sip_username, "password": password}


@router.post(
    "/{terminal_id}/acs-password",
    response=responses({200: PasswordOut}, 400, 403, 404),
)
def set_acs_password(request: HttpRequest, terminal_id: int, payload: PasswordIn) -> Any:
    """Rotate or set the provisioning password of an automatically configured phone."""
    terminal = get_scoped_or_404(terminals_of(request), request, terminal_id)
    require_admin(request)
    device = terminal.device
    if device is None:
        raise ApiValidationError(
            ValidationError({"password": _("This terminal is not configured automatically.")}),
            {},
        )
    try:
        password = device_services.set_acs_password(device, payload.password)
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return {"username": device.acs_username, "password": password}


@router.get("/{terminal_id}/credentials", response=responses({200: CredentialsOut}, 403, 404))
def reveal_credentials(request: HttpRequest, terminal_id: int, response: HttpResponse) -> Any:
    """The SIP and provisioning passwords: the one way to read them (admins only, as in the
    portal; no list or detail response carries them), with ``Cache-Control: no-store``."""
    terminal = get_scoped_or_404(terminals_of(request), request, terminal_id)
    require_admin(request)
    response["Cache-Control"] = "no-store"
    device = terminal.device
    provisioning = (
        {"username": device.acs_username, "password": device.acs_password}
        if device is not None and device.acs_username
        else None
    )
    sip = (
        {"username": terminal.sip_username, "password": terminal.sip_password}
        if terminal.sip_username
        else None
    )
    return {"sip": sip, "provisioning": provisioning}


@router.get("/{terminal_id}/status", response=responses({200: StatusOut}, 404, 503))
def registration_status(request: HttpRequest, terminal_id: int) -> Any:
    """Registration status read from Kamailio: online, and each contact's details."""
    terminal = get_scoped_or_404(terminals_of(request), request, terminal_id)
    if not terminal.sip_username:
        return {"online": False, "contacts": []}
    found = status.registrations([terminal.sip_username])
    if found is None:
        return Status(503, {"detail": _("The registration status is unavailable right now.")})
    registration = found[terminal.sip_username]
    return {
        "online": registration.online,
        "contacts": registration.contacts,
        "last_call": status.last_call(terminal.sip_username),
    }


@router.post("/{terminal_id}/app-link", response=responses({201: AppLinkOut}, 403, 404))
def new_app_link(request: HttpRequest, terminal_id: int) -> Any:
    """A fresh one-time setup link for an app terminal (and its QR code); earlier links die."""
    terminal = get_scoped_or_404(terminals_of(request), request, terminal_id)
    require_admin(request)
    try:
        issued = app_links.issue(terminal)
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return Status(
        201, {"url": issued.url, "expires_at": issued.link.expires_at, "qr_svg": issued.qr_svg}
    )
