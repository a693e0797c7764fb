"""Lockouts after repeated failures, per MAC and per client address, shared by all workers.

The fetch path only *reads* them, as two indexed sub-queries of the device lookup
(:mod:`queries`); failures write them (:func:`record_failure`).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from cloudpbx.provisioning.models import ProvisioningLockout


def mac_key(mac: str) -> str:
    return f"mac:{mac}"


def ip_key(address: str) -> str:
    return f"ip:{address}"


def record_failure(*, mac: str | None, address: str | None) -> list[str]:
    """Count one failure for the device's MAC (if known) and the address; return the keys that
    became locked by it."""
    config = settings.CONFIG
    now = timezone.now()
    limits = []
    if mac:
        limits.append((mac_key(mac), config.prov_lockout_mac_failures))
    if address:
        limits.append((ip_key(address), config.prov_lockout_ip_failures))
    window_start = now - timedelta(seconds=config.prov_lockout_window_seconds)
    locked_until = now + timedelta(seconds=config.prov_lockout_seconds)
    newly_locked = []
    for key, limit in limits:
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
            locking = ProvisioningLockout.objects.filter(
                key=key, failures__gte=limit, locked_until__isnull=True
            ).update(locked_until=locked_until)
            if locking:
                newly_locked.append(key)
    if random.random() < 0.02:  # noqa: S311 - pruning schedule, not security
        prune(now)
    return newly_locked


def is_locked(key: str, now: datetime) -> bool:
    return ProvisioningLockout.objects.filter(key=key, locked_until__gt=now).exists()


def clear(mac: str) -> None:
    """Lift a MAC's lock (an operator's action; a success does not reset the counter)."""
    ProvisioningLockout.objects.filter(key=mac_key(mac)).delete()


def prune(now: datetime) -> None:
    """Forget counters whose window and lock are over."""
    config = settings.CONFIG
    window_start = now - timedelta(seconds=config.prov_lockout_window_seconds)
    ProvisioningLockout.objects.filter(window_started__lt=window_start).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    ).delete()
