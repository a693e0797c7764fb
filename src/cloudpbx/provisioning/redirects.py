"""Redirect services, Django's side: operator settings → adapters, jobs, per-phone status.

The terminal service's events drive everything (:func:`connect`): a saved automatic terminal
registers its MAC with our provisioning URL at its manufacturer's service, a MAC or manufacturer
change deregisters the old one, a deleted terminal deregisters. Each request is a row of
:class:`RedirectRegistration` plus a job (:mod:`cloudpbx.provisioning.jobs`) that reconciles the
service with the database, so a job run twice, late or out of order does no harm.

Nothing happens for a manufacturer the operator has not configured (the status says so); Htek
has no API (the status carries what to enter in Htek's portal instead).

A phone in HTTP-credentials mode gets its provisioning username and password with the URL
wherever the service can carry them (:func:`credentials`), so a factory-new phone fetches its
file without anyone typing them. The password is decrypted only to build the request: the row
keeps a keyed fingerprint (a rotation or a switch of authentication registers again), and the
reasons stored and logged are redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from cloudpbx.core import events
from cloudpbx.provisioning import build, claims
from cloudpbx.provisioning.models import (
    ProvisioningDevice,
    RedirectRegistration,
    RedirectSettings,
    enabled_redirect_settings,
    forget_redirect_settings,
)
from cloudpbx.provisioning.redirect import RedirectError, RedirectService, Target
from cloudpbx.provisioning.redirect.gigaset import GigasetRedirect
from cloudpbx.provisioning.redirect.sraps import Sraps
from cloudpbx.provisioning.redirect.yealink_rps import YealinkRps
from cloudpbx.provisioning.redirect.ymcs import Ymcs
from cloudpbx.provisioning.vendors import VENDORS

logger = logging.getLogger(__name__)

Registration = RedirectRegistration
Service = RedirectSettings.Service


def provisioning_url(manufacturer: str, model: str) -> str:
    """The URL a redirect service hands a factory-new phone (see docs/provisioning.md)."""
    base = build.base_url()
    if manufacturer == "snom":
        return f"{base}/snom{model}-{{mac}}.htm"  # the phone fills in {mac}
    if manufacturer == "gigaset":
        return f"{base}/%MACD.xml"  # the phone fills in %MACD
    return f"{base}/"


# --- operator settings -----------------------------------------------------------------------


# The enabled settings per manufacturer, cached per process: in models.py (beside
# RedirectSettings), because ProvisioningDevice.clean() asks it too.
forget_settings = forget_redirect_settings


def save_settings(settings: RedirectSettings) -> RedirectSettings:
    """Save the operator's settings of one manufacturer's service (a new secret already set
    on it, encrypted). This process uses them at once; the others within
    REDIRECT_CACHE_SECONDS."""
    settings.full_clean()
    settings.save()
    forget_settings()
    logger.info("redirect service %s of %s saved", settings.service, settings.manufacturer)
    return settings


def delete_settings(settings: RedirectSettings) -> None:
    """Disconnect a manufacturer's service: nothing more is sent to it (what it holds stays
    registered there)."""
    settings.delete()
    forget_settings()
    logger.info("redirect service %s of %s deleted", settings.service, settings.manufacturer)


def configured(manufacturer: str) -> RedirectSettings | None:
    return enabled_redirect_settings().get(manufacturer)


def is_configured(manufacturer: str) -> bool:
    return configured(manufacturer) is not None


def adapter(settings: RedirectSettings) -> RedirectService:
    """The adapter for an operator's settings (the secret decrypted here, kept in memory)."""
    secret = settings.secret
    url = settings.base_url
    if settings.service == Service.YMCS:
        return Ymcs(settings.account, secret, **({"base_url": url} if url else {}))
    if settings.service == Service.YEALINK_RPS:
        return YealinkRps(
            settings.account, secret, settings.server_name, **({"url": url} if url else {})
        )
    if settings.service == Service.SRAPS:
        return Sraps(settings.account, secret, **({"base_url": url} if url else {}))
    if settings.service == Service.GIGASET:
        return GigasetRedirect(
            settings.account, secret, settings.server_name, **({"url": url} if url else {})
        )
    raise ValueError(f"unknown redirect service {settings.service!r}")


# Which service can hand a phone of a given model its credentials (no secret decrypted to ask).
_CARRIES_CREDENTIALS: dict[str, Callable[[str], bool]] = {
    Service.YMCS: Ymcs.carries_credentials,
    Service.YEALINK_RPS: YealinkRps.carries_credentials,
    Service.SRAPS: Sraps.carries_credentials,
    Service.GIGASET: GigasetRedirect.carries_credentials,
}


def carries_credentials(settings: RedirectSettings, device: ProvisioningDevice) -> bool:
    """Whether the service hands this phone its credentials (HTTP-credentials mode only)."""
    carries = _CARRIES_CREDENTIALS.get(settings.service)
    return (
        device.auth_mode == ProvisioningDevice.AuthMode.CREDENTIALS
        and bool(device.acs_username)
        and carries is not None
        and carries(device.model)
    )


def credentials(settings: RedirectSettings, device: ProvisioningDevice) -> tuple[str, str] | None:
    """The (username, decrypted password) to send with the URL, or None: a trusted-IP phone,
    or a service that cannot carry them for this model."""
    if not carries_credentials(settings, device):
        return None
    return str(device.acs_username), device.acs_password


def _fingerprint(sent: tuple[str, str] | None) -> str:
    if sent is None:
        return ""
    value = "\0".join(sent)
    return salted_hmac("cloudpbx.redirect.credentials", value, algorithm="sha256").hexdigest()


# --- requests and jobs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What a registration row asks of the service; equal requests need no new job."""

    action: str
    url: str = ""
    mac_id_crc: str = ""
    credentials_fingerprint: str = ""

    @classmethod
    def of(cls, record: Registration) -> Request:
        return cls(record.action, record.url, record.mac_id_crc, record.credentials_fingerprint)


def _device(manufacturer: str, mac: str) -> ProvisioningDevice | None:
    """The automatic phone that wants this MAC registered now, if any.

    A MAC several customers entered is never pushed for a second one: only its owner (the
    bound device, or the sole claimant; :func:`claims.owner`) is registered. While claimants
    are unbound, the one registered before the others came keeps its registration (and its
    updates) until a fetch, its MAC-ID or the operator binds the MAC; a customer entering a
    MAC thus cannot take another's redirect away.
    """
    device = claims.owner(mac)
    if device is None:
        kept = Registration.objects.filter(
            manufacturer=manufacturer, mac=mac, action=Registration.Action.REGISTER
        ).values_list("device_id", flat=True)
        device = claims.claimants(mac).filter(pk__in=kept).select_related("terminal").first()
    if device is None or device.manufacturer != manufacturer:
        return None
    return device


def sync(manufacturer: str, mac: str, *, force: bool = False) -> Registration | None:
    """Bring the service in line with the database for one MAC; schedule a job if needed.

    ``force`` (the retry button) schedules even when nothing seems to have changed.
    Returns the registration row, or None when nothing applies (no API, not configured,
    nothing to undo).
    """
    vendor = VENDORS.get(manufacturer)
    if vendor is None or not vendor.has_redirect_api:
        return None
    settings = configured(manufacturer)
    if settings is None:
        return None
    device = _device(manufacturer, mac)
    record = Registration.objects.filter(manufacturer=manufacturer, mac=mac).first()
    if device is not None:
        action, url = Registration.Action.REGISTER, provisioning_url(manufacturer, device.model)
        request = Request(
            action, url, device.mac_id_crc, _fingerprint(credentials(settings, device))
        )
    else:
        request = Request(Registration.Action.DEREGISTER)
        if record is None:
            return None  # never registered by us: nothing to undo
    if (
        not force
        and record is not None
        and Request.of(record) == request
        and record.status != Registration.Status.FAILED
    ):
        if device is not None and record.device_id != device.pk:
            _link(record, device)
        return record  # done already, or a job is on it
    return _schedule(manufacturer, mac, request, adapter_name(settings), device)


def _link(record: Registration, device: ProvisioningDevice | None) -> None:
    """Make ``record`` the one registration the device's status shows (or none)."""
    if device is not None:
        Registration.objects.filter(device=device).exclude(pk=record.pk).update(device=None)
    Registration.objects.filter(pk=record.pk).update(device=device)
    record.device = device


def adapter_name(settings: RedirectSettings) -> str:
    return str(settings.get_service_display()).split(" (")[0]


def _schedule(
    manufacturer: str,
    mac: str,
    request: Request,
    service: str,
    device: ProvisioningDevice | None,
) -> Registration:
    action = request.action
    with transaction.atomic():
        record, _created = Registration.objects.select_for_update().get_or_create(
            manufacturer=manufacturer,
            mac=mac,
            defaults={"action": action, "status": Registration.Status.PENDING},
        )
        record.action = action
        record.url = request.url
        record.mac_id_crc = request.mac_id_crc
        record.credentials_fingerprint = request.credentials_fingerprint
        record.service = service
        record.status = Registration.Status.PENDING
        record.detail = ""
        record.attempts = 0
        record.done_at = None
        record.generation = F("generation") + 1
        record.save()
        _link(record, device)
        record.refresh_from_db()
        generation = record.generation
        # Queued on commit by jobs.py's subscriber (jobs.py imports this module, not back).
        events.publish(
            "redirect.scheduled", manufacturer=manufacturer, mac=mac, generation=generation
        )
    logger.info("redirect %s of %s %s scheduled (%s)", action, manufacturer, mac, service)
    return record


def run(manufacturer: str, mac: str, generation: int, *, last_attempt: bool) -> None:
    """One attempt of a scheduled request (called by the job).

    Returns when the request is settled (done, or overtaken by a newer one); raises the
    :class:`RedirectError` of a failed attempt after recording it (the job retries unless the
    error is ``permanent`` or this was the ``last_attempt``).
    """
    record = Registration.objects.filter(manufacturer=manufacturer, mac=mac).first()
    if record is None or record.generation != generation:
        return  # overtaken: a newer job carries the current request
    settings = configured(manufacturer)
    if settings is None:
        # Reasons are stored, so they stay in English like the services' own messages.
        _finish(record, generation, Registration.Status.FAILED, "Not configured any more.")
        return
    device = _device(manufacturer, mac)
    password = ""
    try:
        service = adapter(settings)
        if record.action == Registration.Action.REGISTER:
            if device is None:
                raise RedirectError("The phone was removed.", permanent=True)
            sent = credentials(settings, device)
            username, password = sent or ("", "")
            target = Target(
                mac=mac,
                url=record.url,
                mac_id_crc=device.mac_id_crc,
                model=device.model,
                auth_name=username,
                auth_password=password,
            )
            service.register(target)
        else:
            service.deregister(mac)
    except RedirectError as failure:
        # The adapters redact already; this is the last line before the database and the log.
        error = failure.redacted(password)
        final = error.permanent or last_attempt
        status = Registration.Status.FAILED if final else Registration.Status.PENDING
        _finish(record, generation, status, error.reason)
        logger.warning(
            "redirect %s of %s %s failed%s: %s",
            record.action,
            manufacturer,
            mac,
            "" if final else " (will retry)",
            error.reason,
        )
        raise error from None
    _finish(record, generation, Registration.Status.DONE, "")
    logger.info("redirect %s of %s %s done", record.action, manufacturer, mac)
    if record.action == Registration.Action.REGISTER and settings.service == Service.GIGASET:
        # Gigaset checked the MAC-ID's code against the MAC: whoever typed it has the label.
        assert device is not None
        claims.bind_by_mac_id(device)


def _finish(record: Registration, generation: int, status: str, detail: str) -> None:
    now = timezone.now()
    Registration.objects.filter(pk=record.pk, generation=generation).update(
        status=status,
        detail=detail[:500],
        attempts=F("attempts") + 1,
        done_at=now if status == Registration.Status.DONE else None,
        updated=now,
    )


def register_all(manufacturer: str) -> int:
    """Schedule every automatic phone of a manufacturer (after the operator configured it)."""
    macs = ProvisioningDevice.objects.filter(manufacturer=manufacturer).values_list(
        "mac", flat=True
    )
    return sum(1 for mac in list(macs) if sync(manufacturer, mac) is not None)


def retry(device: ProvisioningDevice) -> Registration | None:
    return sync(device.manufacturer, device.mac, force=True)


# --- status ------------------------------------------------------------------------------------


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
        record: Registration | None = device.redirect_registration
    except Registration.DoesNotExist:
        record = None
    if (
        record is None
        or record.action != Registration.Action.REGISTER
        or (record.manufacturer, record.mac) != (device.manufacturer, device.mac)
    ):
        if claims.state(device) in (claims.CONFLICT, claims.BOUND_ELSEWHERE):
            # Another customer's phone has (or may have) the MAC: this one waits for the
            # operator, and reads like any registration waiting its turn, so that it tells
            # nothing about the other customer.
            return RedirectStatus(
                state="pending", service=adapter_name(settings), url=url, credentials=carried
            )
        return RedirectStatus(
            state="not_registered", service=adapter_name(settings), url=url, credentials=carried
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
    mac = ":".join(device.mac[i : i + 2] for i in range(0, 12, 2))
    return _(
        "Htek has no redirect API. Sign in to Htek's redirect portal (RPS) with your Htek "
        "account, add the MAC address %(mac)s and enter %(url)s as its provisioning server. "
        "The phone then finds our server at its next factory start."
    ) % {"mac": mac, "url": provisioning_url(device.manufacturer, device.model)}


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


# --- events ------------------------------------------------------------------------------------


def on_terminal_event(
    previous_device: dict[str, str] | None = None,
    device: dict[str, str] | None = None,
    **payload: Any,
) -> None:
    """Subscriber of terminal.created/changed/deleted: sync the old and the new MAC."""
    refs = {(ref["manufacturer"], ref["mac"]) for ref in (previous_device, device) if ref}
    for manufacturer, mac in sorted(refs):
        sync(manufacturer, mac)


def on_tenant_deleted(**payload: Any) -> None:
    """Subscriber of tenant.deleted: the customer's phones went with it (without an event of
    their own), so every registration left without its phone is undone."""
    orphans = Registration.objects.filter(action=Registration.Action.REGISTER, device=None)
    for manufacturer, mac in orphans.values_list("manufacturer", "mac").order_by("pk"):
        sync(manufacturer, mac)


def on_mac_bound(manufacturer: str, mac: str) -> None:
    """Subscriber of mac.bound (claims.bind): the services follow the MAC's new owner."""
    sync(manufacturer, mac)


def connect() -> None:
    events.subscribe("mac.bound", on_mac_bound)
    for event in ("terminal.created", "terminal.changed", "terminal.deleted"):
        events.subscribe(event, on_terminal_event)
    events.subscribe("tenant.deleted", on_tenant_deleted)
