"""Re-sync: a SIP NOTIFY ``check-sync`` makes a registered phone fetch its configuration now.

This module decides what to re-sync: which phone, which of its SIP accounts and registered
contacts, and the ``Event`` its vendor expects. The SIP edge reads the registrations and sends
each NOTIFY through Kamailio: :class:`CheckSyncSender` is what this module needs from it, and
``sip/`` plugs its implementation in (:func:`use_sender`, from ``SipConfig.ready()``), so
provisioning imports nothing from ``sip/`` (docs/architecture.md, "Layers").

Called by the "re-provision now" action (at once, so the customer sees the result) and, through
a job, after every saved change of an automatically configured terminal (for a handset of a
DECT base, of its base; also when a handset is added or removed). The provisioning
server records the next fetch (``last_fetch_at``), so the portal shows whether it worked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.vendors import VENDORS

logger = logging.getLogger(__name__)


class ResyncUnavailable(Exception):
    """Kamailio cannot be asked (or refused every attempt): nothing was sent."""


class Registered(Protocol):
    """One SIP account's registration: its contacts, each passed back to ``send`` as is."""

    @property
    def contacts(self) -> Sequence[object]: ...


class CheckSyncSender(Protocol):
    """The SIP side of a re-sync (``cloudpbx.sip.check_sync.KamailioCheckSync``)."""

    def registrations(self, usernames: list[str]) -> Mapping[str, Registered] | None:
        """Each username's registration, or None when they cannot be read."""

    def send(self, contact: object, username: str, domain: str, event: str) -> bool:
        """One check-sync NOTIFY to ``contact``; True when Kamailio accepted it."""


_sender: CheckSyncSender | None = None


def use_sender(sender: CheckSyncSender) -> None:
    global _sender
    _sender = sender


def _the_sender() -> CheckSyncSender:
    if _sender is None:
        raise ResyncUnavailable("no SIP service installed (cloudpbx.sip)")
    return _sender


@dataclass(frozen=True)
class ResyncResult:
    contacts: int  # registered contacts found
    sent: int  # NOTIFYs Kamailio accepted
    sent_at: datetime | None  # when, if any was sent


def check_sync_event(device: ProvisioningDevice) -> str:
    """The NOTIFY ``Event`` that makes this vendor's phones fetch again without rebooting."""
    vendor = VENDORS.get(device.manufacturer)
    return vendor.check_sync_event if vendor else "check-sync;reboot=false"


def accounts(device: ProvisioningDevice) -> list[str]:
    """The SIP usernames the phone registers: its terminal's, then a DECT base's handsets'."""
    found = [device.terminal.sip_username]
    if device.is_dect_base:
        handsets = device.handsets.order_by("handset_number")
        found += handsets.values_list("sip_username", flat=True)
    return [username for username in found if username]


def send(device: ProvisioningDevice) -> ResyncResult:
    """Send check-sync to every registered contact of the phone's first registered account.

    One account is enough: a DECT base registers all its handsets' accounts and fetches one
    file for all of them, so a NOTIFY to each would make it fetch once per handset (and the
    base's own account may not be registered while handset 1 is not paired yet).

    Raises :class:`ResyncUnavailable` when the registrations cannot be read or Kamailio
    accepted none of the NOTIFYs. Records ``resync_sent_at`` when at least one went out.
    """
    usernames = accounts(device)
    if not usernames:
        return ResyncResult(contacts=0, sent=0, sent_at=None)
    sender = _the_sender()
    try:
        with transaction.atomic():  # a failed query must not spoil the caller's transaction
            found = sender.registrations(usernames)
    except DatabaseError as error:  # PostgreSQL before Kamailio created its location table
        raise ResyncUnavailable(f"registrations unavailable: {error}") from error
    if found is None:
        raise ResyncUnavailable("registrations unavailable")
    username = next((name for name in usernames if found[name].contacts), usernames[0])
    contacts = found[username].contacts
    domain, event = settings.CLOUDPBX_SIP_DOMAIN, check_sync_event(device)
    sent = sum(sender.send(contact, username, domain, event) for contact in contacts)
    if contacts and not sent:
        raise ResyncUnavailable("Kamailio sent no NOTIFY")
    sent_at = timezone.now() if sent else None
    if sent_at is not None:
        ProvisioningDevice.objects.filter(pk=device.pk).update(resync_sent_at=sent_at)
        device.resync_sent_at = sent_at
    logger.info(
        "re-sync of terminal %s: %d of %d contacts notified",
        device.terminal_id,
        sent,
        len(contacts),
    )
    return ResyncResult(contacts=len(contacts), sent=sent, sent_at=sent_at)
