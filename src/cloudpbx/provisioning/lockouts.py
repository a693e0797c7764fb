"""Lockouts after repeated failures, per (MAC, client address) and per client address, shared
by all workers; a count per MAC from every address, for alerting only.

A MAC is no secret (it is printed on the box and sent in the clear by the phone), so a lock on
the MAC alone would let a stranger lock the real phone out by failing against it: a MAC is
locked only for the address that failed. The count per MAC never locks anything; it logs a
warning when it reaches ``prov_alert_mac_failures`` within the window (see
:func:`record_failure`).

The fetch path only *reads* the locks, as two indexed sub-queries of the device lookup
(:mod:`queries`); failures write them (:func:`record_failure`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from cloudpbx.provisioning.models import ProvisioningLockout


def mac_key(mac: str) -> str:
    """The alert-only count of a MAC's failures from every address."""
    return f"mac:{mac}"


def pair_key(mac: str, address: str) -> str:
    """The lock of one MAC for one client address (at most 64 characters: 5 + 12 + 1 + 45)."""
    return f"pair:{mac}/{address}"


def ip_key(address: str) -> str:
    return f"ip:{address}"


@dataclass(frozen=True)
class Counted:
    """What one failure changed."""

    locked: list[str] = field(default_factory=list)  # keys that became locked by it
    mac_failures: int = 0  # the MAC's failures from every address in the window
    mac_alert: bool = False  # this failure brought them to the alert threshold


def record_failure(*, mac: str | None, address: str | None) -> Counted:
    """Count one failure for the MAC named by the request and the address.

    The view calls it with the MAC of the path whether or not a device has it, so an unknown
    MAC and a wrong password cost the same statements (the time of a refusal tells nothing).
    """
    config = settings.CONFIG
    now = timezone.now()
    # (key, failures before a lock, or None: counted for the alert only)
    counters: list[tuple[str, int | None]] = []
    if mac and address:
        counters.append((pair_key(mac, address), config.prov_lockout_mac_failures))
    if mac:
        counters.append((mac_key(mac), None))
    if address:
        counters.append((ip_key(address), config.prov_lockout_ip_failures))
    window_start = now - timedelta(seconds=config.prov_lockout_window_seconds)
    locked_until = now + timedelta(seconds=config.prov_lockout_seconds)
    newly_locked = []
    mac_failures = 0
    for key, limit in counters:
        with transaction.atomic():
            # A window that has passed, or a lock that has expired, starts counting afresh.
            ProvisioningLockout.objects.filter(key=key).filter(
                Q(window_started__lt=window_start, locked_until__isnull=True)
                | Q(locked_until__lte=now)
            ).update(failures=0, window_started=now, locked_until=None)
            if not ProvisioningLockout.objects.filter(key=key).update(failures=F("failures") + 1):
                try:
                    with transaction.atomic():
                        ProvisioningLockout.objects.create(key=key, failures=1, window_started=now)
                except IntegrityError:  # another worker created it meanwhile
                    ProvisioningLockout.objects.filter(key=key).update(failures=F("failures") + 1)
            if limit is None:
                counted = ProvisioningLockout.objects.filter(key=key).values_list(
                    "failures", flat=True
                )
                mac_failures = next(iter(counted), 0)
                continue
            locking = ProvisioningLockout.objects.filter(
                key=key, failures__gte=limit, locked_until__isnull=True
            ).update(locked_until=locked_until)
            if locking:
                newly_locked.append(key)
    if random.random() < 0.02:  # noqa: S311 - pruning schedule, not security
        prune(now)
    return Counted(
        locked=newly_locked,
        mac_failures=mac_failures,
        mac_alert=mac_failures == config.prov_alert_mac_failures,
    )


def is_locked(key: str, now: datetime) -> bool:
    return ProvisioningLockout.objects.filter(key=key, locked_until__gt=now).exists()


def clear(mac: str) -> None:
    """Lift a MAC's locks for every address and forget its count (an operator's action; a
    success does not reset the counters)."""
    ProvisioningLockout.objects.filter(
        Q(key=mac_key(mac)) | Q(key__startswith=pair_key(mac, ""))
    ).delete()


def prune(now: datetime) -> None:
    """Forget counters whose window and lock are over."""
    config = settings.CONFIG
    window_start = now - timedelta(seconds=config.prov_lockout_window_seconds)
    ProvisioningLockout.objects.filter(window_started__lt=window_start).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    ).delete()
