"""REST endpoints for terminals: thin translation between JSON and the service layer."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.pagination import paginate

from cloudpbx.accounts.api import get_scoped_or_404, require_admin, tenant_of
from cloudpbx.api.terminal_fields import LOCATIONS, Lookup, service_arguments
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
from cloudpbx.provisioning import services as device_services
from cloudpbx.provisioning.services import app_links
from cloudpbx.sip import status
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal

router = Router(tags=["terminals"])


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


def _service_arguments(request: HttpRequest, payload: TerminalIn | TerminalPatch) -> dict[str, Any]:
    lookup = Lookup(tenant_of(request))
    arguments = service_arguments(payload.model_dump(exclude_unset=True), lookup)
    arguments["generate_credentials"] = payload.generate_credentials
    lookup.raise_if_any()
    return arguments


def _call(function: Any, *args: Any, request: HttpRequest, payload: Any, **extra: Any) -> Terminal:
    try:
        return function(*args, **_service_arguments(request, payload), **extra)
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
