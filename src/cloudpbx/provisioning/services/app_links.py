"""One-time links that set up app terminals: issued by the portal/API, spent by the app."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import segno
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cloudpbx.provisioning import linphone
from cloudpbx.provisioning.models import AppLink
from cloudpbx.terminals.models import Terminal

PATH = "/app/"


@dataclass(frozen=True)
class IssuedLink:
    link: AppLink
    url: str

    @property
    def qr_svg(self) -> str:
        return qr_svg(self.url)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def qr_svg(url: str) -> str:
    return str(segno.make(url, error="m").svg_inline(scale=5, dark="#111827", border=2))


def issue(terminal: Terminal) -> IssuedLink:
    """A fresh link for an app terminal; every earlier link of the terminal is spent at once."""
    if terminal.type != Terminal.Type.APP or not terminal.sip_username:
        raise ValidationError({"type": _("QR codes are for app terminals with a SIP account.")})
    token = secrets.token_urlsafe(32)  # 256 bits
    expires = timezone.now() + timedelta(hours=settings.CONFIG.app_link_hours)
    with transaction.atomic():
        AppLink.objects.filter(terminal=terminal, used_at__isnull=True, revoked=False).update(
            revoked=True
        )
        link = AppLink.objects.create(
            terminal=terminal, token_hash=token_hash(token), expires_at=expires
        )
    return IssuedLink(link=link, url=f"{settings.CLOUDPBX_PUBLIC_URL}{PATH}{token}")


def spend(token: str, address: str | None, user_agent: str, now: datetime) -> bytes | None:
    """The Linphone configuration for a valid token, which is spent by this call; None for
    an unknown, spent, replaced or expired token (the caller answers them all alike)."""
    claimed = AppLink.objects.filter(
        token_hash=token_hash(token), used_at__isnull=True, revoked=False, expires_at__gt=now
    ).update(used_at=now, used_ip=address, used_user_agent=user_agent[:255])
    if claimed != 1:
        return None
    link = AppLink.objects.select_related("terminal__tenant").get(token_hash=token_hash(token))
    terminal = link.terminal
    if terminal.type != Terminal.Type.APP or not terminal.sip_username:
        return None
    return linphone.render(
        linphone.LinphoneAccount(
            display_name=terminal.internal_display_name or terminal.name,
            username=terminal.sip_username,
            ha1=terminal.sip_ha1,
            realm=settings.CLOUDPBX_SIP_REALM,
            domain=settings.CLOUDPBX_SIP_DOMAIN,
            proxy_host=settings.CLOUDPBX_SIP_DOMAIN,
            proxy_port=settings.CLOUDPBX_SIP_PORT,
            transport=settings.CLOUDPBX_SIP_TRANSPORT,
            media_encryption=terminal.effective_media_encryption,
        )
    )
