"""Redirect registrations: the only writes to the manufacturers' redirect services (the
operator's settings, one registration row per MAC, the jobs that carry them out).

The terminal service's events drive everything (:func:`connect`): a saved automatic terminal
registers its MAC with our provisioning URL at its manufacturer's service, a MAC or manufacturer
change deregisters the old one, a deleted terminal deregisters. Each request is a row of
:class:`RedirectRegistration` plus a job (:mod:`cloudpbx.provisioning.jobs`) that reconciles the
service with the database, so a job run twice, late or out of order does no harm.

A phone in HTTP-credentials mode gets its provisioning username and password with the URL
wherever the service can carry them (:func:`redirect_status.credentials`), so a factory-new
phone fetches its file without anyone typing them. The password is decrypted only to build the
request: the row keeps a keyed fingerprint (a rotation or a switch of authentication registers
again), and the reasons stored and logged are redacted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from cloudpbx.core import events
from cloudpbx.provisioning import claims, redirect_status
from cloudpbx.provisioning.models import (
    ProvisioningDevice,
    RedirectRegistration,
    RedirectSettings,
    forget_redirect_settings,
)
from cloudpbx.provisioning.redirect_clients import RedirectError, RedirectService, Target
from cloudpbx.provisioning.services import devices
from cloudpbx.provisioning.vendors import VENDORS

logger = logging.getLogger(__name__)


# --- operator settings -----------------------------------------------------------------------


def save_settings(settings: RedirectSettings) -> RedirectSettings:
    """Save the operator's settings of one manufacturer's service (a new secret already set
    on it, encrypted). This process uses them at once; the others within
    REDIRECT_CACHE_SECONDS."""
    settings.full_clean()
    settings.save()
    forget_redirect_settings()
    logger.info("redirect service %s of %s saved", settings.service, settings.manufacturer)
    return settings


def delete_settings(settings: RedirectSettings) -> None:
    """Disconnect a manufacturer's service: nothing more is sent to it (what it holds stays
    registered there)."""
    settings.delete()
    forget_redirect_settings()
    logger.info("redirect service %s of %s deleted", settings.service, settings.manufacturer)


def adapter(settings: RedirectSettings) -> RedirectService:
    """The adapter for an operator's settings (the secret decrypted here, kept in memory)."""
    client = redirect_status.CLIENTS[settings.service]
    secret = settings.secret
    return client.connect(settings.account, secret, settings.server_name, settings.base_url)


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
    def of(cls, record: RedirectRegistration) -> Request:
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
        kept = RedirectRegistration.objects.filter(
            manufacturer=manufacturer, mac=mac, action=RedirectRegistration.Action.REGISTER
        ).values_list("device_id", flat=True)
        device = claims.claimants(mac).filter(pk__in=kept).select_related("terminal").first()
    if device is None or device.manufacturer != manufacturer:
        return None
    return device


def sync(manufacturer: str, mac: str, *, force: bool = False) -> RedirectRegistration | None:
    """Bring the service in line with the database for one MAC; schedule a job if needed.

    ``force`` (the retry button) schedules even when nothing seems to have changed.
    Returns the registration row, or None when nothing applies (no API, not configured,
    nothing to undo).
    """
    vendor = VENDORS.get(manufacturer)
    if vendor is None or not vendor.has_redirect_api:
        return None
    settings = redirect_status.configured(manufacturer)
    if settings is None:
        return None
    device = _device(manufacturer, mac)
    record = RedirectRegistration.objects.filter(manufacturer=manufacturer, mac=mac).first()
    if device is not None:
        action, url = (
            RedirectRegistration.Action.REGISTER,
            redirect_status.provisioning_url(manufacturer, device.model),
        )
        sent = redirect_status.credentials(settings, device)
        request = Request(action, url, device.mac_id_crc, _fingerprint(sent))
    else:
        request = Request(RedirectRegistration.Action.DEREGISTER)
        if record is None:
            return None  # never registered by us: nothing to undo
    if (
        not force
        and record is not None
        and Request.of(record) == request
        and record.status != RedirectRegistration.Status.FAILED
    ):
        if device is not None and record.device_id != device.pk:
            _link(record, device)
        return record  # done already, or a job is on it
    return _schedule(manufacturer, mac, request, redirect_status.service_name(settings), device)


def _link(record: RedirectRegistration, device: ProvisioningDevice | None) -> None:
    """Make ``record`` the one registration the device's status shows (or none)."""
    if device is not None:
        RedirectRegistration.objects.filter(device=device).exclude(pk=record.pk).update(device=None)
    RedirectRegistration.objects.filter(pk=record.pk).update(device=device)
    record.device = device


def _schedule(
    manufacturer: str,
    mac: str,
    request: Request,
    service: str,
    device: ProvisioningDevice | None,
) -> RedirectRegistration:
    action = request.action
    with transaction.atomic():
        record, _created = RedirectRegistration.objects.select_for_update().get_or_create(
            manufacturer=manufacturer,
            mac=mac,
            defaults={"action": action, "status": RedirectRegistration.Status.PENDING},
        )
        record.action = action
        record.url = request.url
        record.mac_id_crc = request.mac_id_crc
        record.credentials_fingerprint = request.credentials_fingerprint
        record.service = service
        record.status = RedirectRegistration.Status.PENDING
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
    record = RedirectRegistration.objects.filter(manufacturer=manufacturer, mac=mac).first()
    if record is None or record.generation != generation:
        return  # overtaken: a newer job carries the current request
    settings = redirect_status.configured(manufacturer)
    if settings is None:
        # Reasons are stored, so they stay in English like the services' own messages.
        _finish(record, generation, RedirectRegistration.Status.FAILED, "Not configured any more.")
        return
    device = _device(manufacturer, mac)
    password = ""
    try:
        service = adapter(settings)
        if record.action == RedirectRegistration.Action.REGISTER:
            if device is None:
                raise RedirectError("The phone was removed.", permanent=True)
            sent = redirect_status.credentials(settings, device)
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
        status = (
            RedirectRegistration.Status.FAILED if final else RedirectRegistration.Status.PENDING
        )
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
    _finish(record, generation, RedirectRegistration.Status.DONE, "")
    logger.info("redirect %s of %s %s done", record.action, manufacturer, mac)
    if (
        record.action == RedirectRegistration.Action.REGISTER
        and settings.service == RedirectSettings.Service.GIGASET
    ):
        # Gigaset checked the MAC-ID's code against the MAC: whoever typed it has the label.
        assert device is not None
        devices.bind_by_mac_id(device)


def _finish(record: RedirectRegistration, generation: int, status: str, detail: str) -> None:
    now = timezone.now()
    RedirectRegistration.objects.filter(pk=record.pk, generation=generation).update(
        status=status,
        detail=detail[:500],
        attempts=F("attempts") + 1,
        done_at=now if status == RedirectRegistration.Status.DONE else None,
        updated=now,
    )


def register_all(manufacturer: str) -> int:
    """Schedule every automatic phone of a manufacturer (after the operator configured it)."""
    macs = ProvisioningDevice.objects.filter(manufacturer=manufacturer).values_list(
        "mac", flat=True
    )
    return sum(1 for mac in list(macs) if sync(manufacturer, mac) is not None)


def retry(device: ProvisioningDevice) -> RedirectRegistration | None:
    return sync(device.manufacturer, device.mac, force=True)


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
    orphans = RedirectRegistration.objects.filter(
        action=RedirectRegistration.Action.REGISTER, device=None
    )
    for manufacturer, mac in orphans.values_list("manufacturer", "mac").order_by("pk"):
        sync(manufacturer, mac)


def on_mac_bound(manufacturer: str, mac: str) -> None:
    """Subscriber of mac.bound (services.devices.bind): the services follow the MAC's new owner."""
    sync(manufacturer, mac)


def connect() -> None:
    events.subscribe("mac.bound", on_mac_bound)
    for event in ("terminal.created", "terminal.changed", "terminal.deleted"):
        events.subscribe(event, on_terminal_event)
    events.subscribe("tenant.deleted", on_tenant_deleted)
