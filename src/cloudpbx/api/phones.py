"""REST actions on an automatically configured terminal's phone (mounted under /terminals).

- ``POST /terminals/{id}/redirect-retry``: register the phone's MAC with its manufacturer's
  redirect service again (202 with the new status);
- ``POST /terminals/{id}/resync``: send check-sync to the phone now (200: how many of its
  registered contacts were notified, and when).

Both are 404 for another customer's terminal, exactly like a missing one, and need the admin
role; 409 when the action does not apply to this terminal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from cloudpbx.accounts.api import get_scoped_or_404, require_admin
from cloudpbx.api.terminal_schemas import RedirectOut
from cloudpbx.core.api import responses
from cloudpbx.provisioning import redirect_status
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.services import redirect_registrations, resync
from cloudpbx.terminals.models import Terminal

router = Router(tags=["terminals"])


class ResyncResultOut(Schema):
    contacts: int
    sent: int
    sent_at: datetime | None


def _device(request: HttpRequest, terminal_id: int) -> ProvisioningDevice:
    """The phone the terminal's configuration comes from: its own, or its DECT base's (a
    handset is re-synced and redirected with its base)."""
    terminal: Terminal = get_scoped_or_404(
        Terminal.objects.select_related("provisioning_device", "base__terminal"),
        request,
        terminal_id,
    )
    require_admin(request)
    device = terminal.device or terminal.base
    if device is None:
        raise HttpError(409, _("This terminal is not configured automatically."))
    return device


@router.post("/{terminal_id}/redirect-retry", response=responses({202: RedirectOut}, 403, 404, 409))
def redirect_retry(request: HttpRequest, terminal_id: int) -> Any:
    """Register the phone with its manufacturer's redirect service again, in the background."""
    device = _device(request, terminal_id)
    current = redirect_status.status(device)
    if current.state == "not_needed":
        raise HttpError(409, _("This manufacturer has no redirect service API."))
    if current.state == "not_configured":
        raise HttpError(409, _("The operator has not set up this manufacturer's redirect service."))
    redirect_registrations.retry(device)
    device.refresh_from_db()  # the registration row changed
    return Status(202, redirect_status.status_dict(device))


@router.post(
    "/{terminal_id}/resync", response=responses({200: ResyncResultOut}, 403, 404, 409, 503)
)
def resync_now(request: HttpRequest, terminal_id: int) -> Any:
    """Send SIP NOTIFY check-sync to the phone's registered contacts now."""
    device = _device(request, terminal_id)
    try:
        result = resync.send(device)
    except resync.ResyncUnavailable as error:
        raise HttpError(503, _("The SIP server cannot be reached right now.")) from error
    if not result.contacts:
        raise HttpError(
            409,
            _(
                "The phone is not registered: it fetches its configuration when it starts or "
                "at its next periodic check."
            ),
        )
    return result
