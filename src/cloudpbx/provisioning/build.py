"""Database rows → :class:`PhoneConfig`: the one place that reads them for rendering.

Callers pass a device loaded with ``terminal``, ``terminal__tenant`` and
``terminal__internal_extension`` (``select_related``), so building costs no query.
"""

from __future__ import annotations

from django.conf import settings

from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.phoneconfig import (
    PhoneConfig,
    ProvisioningAccess,
    SipAccount,
    printable,
)

RELATED = ("terminal__tenant", "terminal__internal_extension")


def base_url() -> str:
    """Where phones fetch their files: ``<public URL>/prov`` (no trailing slash)."""
    return f"{settings.CLOUDPBX_PUBLIC_URL}/prov"


def phone_config(device: ProvisioningDevice, acs_password: str | None = None) -> PhoneConfig:
    """``acs_password``: the device's, when the caller has decrypted it already."""
    terminal = device.terminal
    tenant = terminal.tenant
    config = settings.CONFIG
    extension = terminal.internal_extension.number if terminal.internal_extension else ""
    display_name = printable(terminal.internal_display_name or terminal.name)
    username = terminal.sip_username or ""
    credentials = device.auth_mode == ProvisioningDevice.AuthMode.CREDENTIALS
    return PhoneConfig(
        vendor=device.manufacturer,
        model=device.model,
        mac=device.mac,
        account=SipAccount(
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
        ),
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
    )
