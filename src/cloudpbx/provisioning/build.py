"""Database rows → :class:`PhoneConfig`: the one place that reads them for rendering.

Callers pass a device loaded with ``terminal``, ``terminal__tenant`` and
``terminal__internal_extension`` (``select_related``), and a DECT base's handsets from
:func:`handsets_of`, so building costs no query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.phoneconfig import (
    Handset,
    PhoneConfig,
    ProvisioningAccess,
    RegistrationWindow,
    SipAccount,
    printable,
)
from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.terminals.models import Terminal

RELATED = ("terminal__tenant", "terminal__internal_extension")
CA_FILE = "ca.pem"  # the embedded CA, public: served to anyone under /prov/
CA_PATH = f"/prov/{CA_FILE}"


def base_url() -> str:
    """Where phones fetch their files: ``<public URL>/prov`` (no trailing slash)."""
    return f"{settings.CLOUDPBX_PUBLIC_URL}/prov"


def trusted_ca_url() -> str | None:
    """Where phones download the embedded CA to trust it (None: the operator's certificate
    chains to a public CA phones already trust). Over plain HTTP when the operator allows
    it: a phone that trusts only its built-in CAs cannot fetch it over HTTPS."""
    config = settings.CONFIG
    if config.tls_certificate:
        return None
    if config.https_port and config.prov_plain_http:
        host = urlsplit(config.public_web_url).hostname or config.http_host
        host = f"[{host}]" if ":" in host else host
        port = "" if config.http_port == 80 else f":{config.http_port}"
        return f"http://{host}{port}{CA_PATH}"
    return f"{base_url()}/{CA_FILE}"


def handsets_of(device: ProvisioningDevice) -> list[Terminal]:
    """A DECT base's further handsets in handset order, ready for :func:`phone_config` (one
    query; none for other phones)."""
    if not device.is_dect_base:
        return []
    found = (
        Terminal.objects.filter(base=device)
        .select_related("internal_extension")
        .order_by("handset_number")
    )
    handsets = list(found)
    for handset in handsets:
        handset.tenant = device.terminal.tenant  # the same customer (services/devices.py)
    return handsets


def registration_window(
    device: ProvisioningDevice, now: datetime | None = None
) -> RegistrationWindow | None:
    """The window in which the base lets new handsets register, while it is open."""
    opened = device.handset_registration_from
    vendor = VENDORS.get(device.manufacturer)
    seconds = vendor.handset_registration_seconds if vendor else 0
    if opened is None or not seconds or not device.is_dect_base:
        return None
    if (now or timezone.now()) >= opened + timedelta(seconds=seconds):
        return None
    return RegistrationWindow(start=int(opened.timestamp()), seconds=seconds)


def sip_account(terminal: Terminal) -> SipAccount:
    """The SIP account a phone registers with for this terminal."""
    extension = terminal.internal_extension.number if terminal.internal_extension else ""
    display_name = printable(terminal.internal_display_name or terminal.name)
    username = terminal.sip_username or ""
    return SipAccount(
        username=username,
        auth_name=username,
        password=terminal.sip_password,
        domain=settings.CLOUDPBX_SIP_DOMAIN,
        registrar=settings.CLOUDPBX_SIP_DOMAIN,
        port=settings.CLOUDPBX_SIP_PORT,
        transport=settings.CLOUDPBX_SIP_TRANSPORT,
        display_name=display_name,
        extension=extension,
        label=f"{extension} {display_name}".strip(),
        media_encryption=terminal.effective_media_encryption,
    )


def phone_config(
    device: ProvisioningDevice,
    acs_password: str | None = None,
    handsets: Sequence[Terminal] = (),
    now: datetime | None = None,
) -> PhoneConfig:
    """``acs_password``: the device's, when the caller has decrypted it already; ``handsets``:
    a DECT base's (:func:`handsets_of`)."""
    terminal = device.terminal
    tenant = terminal.tenant
    config = settings.CONFIG
    credentials = device.auth_mode == ProvisioningDevice.AuthMode.CREDENTIALS
    return PhoneConfig(
        vendor=device.manufacturer,
        model=device.model,
        mac=device.mac,
        account=sip_account(terminal),
        handsets=tuple(
            Handset(number=handset.handset_number or 0, account=sip_account(handset))
            for handset in handsets
        ),
        registration_window=registration_window(device, now),
        provisioning=ProvisioningAccess(
            base_url=base_url(),
            username=device.acs_username if credentials else None,
            password=(acs_password or device.acs_password) if credentials else None,
            resync_seconds=config.prov_resync_seconds,
        ),
        language=tenant.language,
        country=tenant.country,
        timezone=tenant.timezone,
        ntp_servers=tuple(config.prov_ntp_servers),
        trusted_ca_url=trusted_ca_url(),
    )
