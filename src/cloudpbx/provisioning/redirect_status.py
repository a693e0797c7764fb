"""The manufacturers' redirect services as the portal and the API see them: which service a
manufacturer uses (the operator's settings), the URL it hands a factory-new phone, whether it
carries the phone's credentials, and each phone's registration status. Read only: every write
(settings, registrations, their jobs) is in
:mod:`cloudpbx.provisioning.services.redirect_registrations`.

Nothing happens for a manufacturer the operator has not configured (the status says so); a
vendor without an API (Htek) gets instructions for its portal instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from cloudpbx.provisioning import build, claims
from cloudpbx.provisioning.models import (
    ProvisioningDevice,
    RedirectRegistration,
    RedirectSettings,
    enabled_redirect_settings,
)
from cloudpbx.provisioning.redirect_clients import RedirectService
from cloudpbx.provisioning.redirect_clients.gigaset import GigasetRedirect
from cloudpbx.provisioning.redirect_clients.sraps import Sraps
from cloudpbx.provisioning.redirect_clients.yealink_rps import YealinkRps
from cloudpbx.provisioning.redirect_clients.ymcs import Ymcs
from cloudpbx.provisioning.vendors import VENDORS

Service = RedirectSettings.Service


def provisioning_url(manufacturer: str, model: str) -> str:
    """The URL a redirect service hands a factory-new phone (see docs/provisioning.md)."""
    vendor = VENDORS.get(manufacturer)
    path = vendor.redirect_path.replace("{model}", model) if vendor is not None else ""
    return f"{build.base_url()}/{path}"


def configured(manufacturer: str) -> RedirectSettings | None:
    # Cached per process in models.py (ProvisioningDevice.clean() asks it too).
    return enabled_redirect_settings().get(manufacturer)


def is_configured(manufacturer: str) -> bool:
    return configured(manufacturer) is not None


# Each service's client: what it can carry is asked of the class (no secret decrypted), the
# services connect it with the operator's settings (redirect_registrations.adapter).
CLIENTS: dict[str, type[RedirectService]] = {
    Service.YMCS: Ymcs,
    Service.YEALINK_RPS: YealinkRps,
    Service.SRAPS: Sraps,
    Service.GIGASET: GigasetRedirect,
}


def carries_credentials(settings: RedirectSettings, device: ProvisioningDevice) -> bool:
    """Whether the service hands this phone its credentials (HTTP-credentials mode only)."""
    client = CLIENTS.get(settings.service)
    return (
        device.auth_mode == ProvisioningDevice.AuthMode.CREDENTIALS
        and bool(device.acs_username)
        and client is not None
        and client.carries_credentials(device.model)
    )


def credentials(settings: RedirectSettings, device: ProvisioningDevice) -> tuple[str, str] | None:
    """The (username, decrypted password) to send with the URL, or None: a trusted-IP phone,
    or a service that cannot carry them for this model."""
    if not carries_credentials(settings, device):
        return None
    return str(device.acs_username), device.acs_password


def service_name(settings: RedirectSettings) -> str:
    """The service as statuses and logs name it (a brand name, never translated)."""
    return CLIENTS[settings.service].name


@dataclass(frozen=True)
class RedirectStatus:
    """Per phone: ``state`` ∈ not_needed (no API: ``instructions``), not_configured,
    not_registered (configured later: use retry), pending, done, failed (``detail``).

    ``credentials`` (HTTP-credentials phones only): ``sent`` when the service hands the phone
    its provisioning username and password with the URL, ``not_carried`` when someone has to
    enter them on the phone; empty for a trusted-IP phone."""

    state: str
    service: str = ""
    detail: str = ""
    attempts: int = 0
    updated: datetime | None = None
    instructions: str = ""
    url: str = ""
    credentials: str = ""

    @property
    def can_retry(self) -> bool:
        return self.state in ("not_registered", "failed", "pending", "done")


def status(device: ProvisioningDevice) -> RedirectStatus:
    vendor = VENDORS.get(device.manufacturer)
    url = provisioning_url(device.manufacturer, device.model)
    typed = "not_carried" if device.auth_mode == ProvisioningDevice.AuthMode.CREDENTIALS else ""
    if vendor is None or not vendor.has_redirect_api:
        return RedirectStatus(
            state="not_needed", instructions=instructions(device), url=url, credentials=typed
        )
    settings = configured(device.manufacturer)
    if settings is None:
        return RedirectStatus(state="not_configured", url=url, credentials=typed)
    carried = "sent" if carries_credentials(settings, device) else typed
    try:
        record: RedirectRegistration | None = device.redirect_registration
    except RedirectRegistration.DoesNotExist:
        record = None
    if (
        record is None
        or record.action != RedirectRegistration.Action.REGISTER
        or (record.manufacturer, record.mac) != (device.manufacturer, device.mac)
    ):
        if claims.state(device) in (claims.CONFLICT, claims.BOUND_ELSEWHERE):
            # Another customer's phone has (or may have) the MAC: this one waits for the
            # operator, and reads like any registration waiting its turn, so that it tells
            # nothing about the other customer.
            return RedirectStatus(
                state="pending", service=service_name(settings), url=url, credentials=carried
            )
        return RedirectStatus(
            state="not_registered", service=service_name(settings), url=url, credentials=carried
        )
    return RedirectStatus(
        state=record.status,
        service=record.service,
        detail=record.detail,
        attempts=record.attempts,
        updated=record.updated,
        url=record.url or url,
        credentials=carried,
    )


def instructions(device: ProvisioningDevice) -> str:
    """What the customer enters in the manufacturer's portal when there is no API (Htek)."""
    vendor = VENDORS.get(device.manufacturer)
    if vendor is None:
        return ""
    mac = ":".join(device.mac[i : i + 2] for i in range(0, 12, 2))
    return _(
        "%(vendor)s has no redirect API. Sign in to %(vendor)s's redirect portal (%(portal)s) "
        "with your %(vendor)s account, add the MAC address %(mac)s and enter %(url)s as its "
        "provisioning server. The phone then finds our server at its next factory start."
    ) % {
        "vendor": vendor.name,
        "portal": vendor.redirect_portal,
        "mac": mac,
        "url": provisioning_url(device.manufacturer, device.model),
    }


def status_dict(device: ProvisioningDevice) -> dict[str, Any]:
    """The API's ``provisioning.redirect`` object."""
    found = status(device)
    return {
        "state": found.state,
        "service": found.service or None,
        "detail": found.detail or None,
        "attempts": found.attempts,
        "updated": found.updated,
        "url": found.url,
        "instructions": found.instructions or None,
        "credentials": found.credentials or None,
    }
