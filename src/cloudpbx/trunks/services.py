"""Trunks: the only write path (admin and tests), so that Kamailio learns of every change."""

from __future__ import annotations

from django.db import transaction

from cloudpbx.core import events
from cloudpbx.trunks.models import Trunk


def save_trunk(trunk: Trunk, *, password: str | None = None) -> Trunk:
    """Validate and save; ``password`` (if given) replaces the stored, encrypted one."""
    if password is not None:
        trunk.set_auth_password(password)
    trunk.full_clean()
    with transaction.atomic():
        trunk.save()
        events.publish("trunk.changed", trunk_id=trunk.pk)
    return trunk


def delete_trunk(trunk: Trunk) -> None:
    with transaction.atomic():
        payload = {"trunk_id": trunk.pk}
        trunk.delete()
        events.publish("trunk.changed", **payload)
