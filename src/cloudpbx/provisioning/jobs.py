"""Background jobs of the provisioning app (worked by ``cloudpbx jobs``).

- :func:`redirect_job`: one attempt at registering or deregistering a MAC with its
  manufacturer's redirect service. Up to ``REDIRECT_RETRIES`` retries, waiting
  ``REDIRECT_RETRY_DELAY`` seconds and twice as long each time (30 s … 64 min, ~2 h in all);
  no retry for answers retrying cannot change (refused credentials, a MAC held by another
  provider). Every attempt is recorded on the registration row the portal shows.
- :func:`resync_job`: check-sync NOTIFY after a saved change (no retry: the phone fetches at
  its next periodic check anyway).

The jobs are queued by this module's event subscribers (:func:`connect`): ``redirect.scheduled``
(published by ``services/redirect_registrations.py`` once a request is recorded) and the terminal
events that need a re-sync. So the services the jobs run never import this module back.
"""

from __future__ import annotations

import logging
from typing import Any

from huey.exceptions import CancelExecution

from cloudpbx.core import events
from cloudpbx.core.jobs import db_task
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.redirect_clients import RedirectError
from cloudpbx.provisioning.services import redirect_registrations, resync

logger = logging.getLogger(__name__)

REDIRECT_RETRIES = 8
REDIRECT_RETRY_DELAY = 30
REDIRECT_RETRY_BACKOFF = 2


@db_task(
    retries=REDIRECT_RETRIES,
    retry_delay=REDIRECT_RETRY_DELAY,
    retry_backoff=REDIRECT_RETRY_BACKOFF,
    context=True,
)
def redirect_job(manufacturer: str, mac: str, generation: int, task: Any = None) -> None:
    last_attempt = task is None or not task.retries
    try:
        redirect_registrations.run(manufacturer, mac, generation, last_attempt=last_attempt)
    except RedirectError as error:
        if error.permanent:
            raise CancelExecution(retry=False) from None
        raise


@db_task()
def resync_job(terminal_id: int) -> None:
    device = (
        ProvisioningDevice.objects.filter(terminal_id=terminal_id)
        .select_related("terminal")
        .first()
    )
    if device is None:
        return
    try:
        resync.send(device)
    except resync.ResyncUnavailable as error:
        logger.warning("re-sync of terminal %s not sent: %s", terminal_id, error)


def on_redirect_scheduled(manufacturer: str, mac: str, generation: int) -> None:
    """Subscriber of redirect.scheduled: one registration or deregistration to send."""
    redirect_job(manufacturer, mac, generation)


_UNKNOWN = object()


def on_terminal_changed(
    terminal_id: int,
    device: object = _UNKNOWN,
    base_terminal_id: int | None = None,
    **payload: object,
) -> None:
    """Subscriber of terminal.changed: re-sync the phone in the background.

    A payload without ``device`` (a password rotation) may concern a provisioned phone too;
    ``device=None`` says the terminal has no automatic configuration of its own. A handset of
    a DECT base (``base_terminal_id``) is configured by the base's file: the base re-syncs.
    """
    if base_terminal_id is not None:
        resync_job(base_terminal_id)
    elif device is not None:
        resync_job(terminal_id)


def on_handset_added_or_removed(base_terminal_id: int | None = None, **payload: object) -> None:
    """Subscriber of terminal.created/deleted: the base's file gains or loses an account."""
    if base_terminal_id is not None:
        resync_job(base_terminal_id)


def connect() -> None:
    events.subscribe("redirect.scheduled", on_redirect_scheduled)
    events.subscribe("terminal.changed", on_terminal_changed)
    events.subscribe("terminal.created", on_handset_added_or_removed)
    events.subscribe("terminal.deleted", on_handset_added_or_removed)
