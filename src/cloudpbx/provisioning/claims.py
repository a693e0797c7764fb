"""One MAC, several customers: who may have the phone, and the operator's resolution.

Any customer may enter any MAC (unique per customer only) and is never told whether another
did too. A MAC is *bound* to one device by proof that the phone is that customer's: its first
successful fetch (the SQL of :func:`cloudpbx.provisioning.queries.record_fetch`), Gigaset's
redirect service accepting the device's MAC-ID from the label (``services.bind_by_mac_id``),
or the operator (``services.bind``, the admin's action); the services write the binding, this
module only reads it. Only a bound device, or the sole claimant of an
unbound MAC, is ever served or registered with a redirect service.

The states, per device (operators only: customers never see them):

- ``bound``: this device has the MAC.
- ``sole``: unbound, and no other customer entered the MAC.
- ``conflict``: unbound, other customers entered it too, none is bound.
- ``bound_elsewhere``: another customer's device has the MAC; this one is never served.
"""

from __future__ import annotations

import logging

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _

from cloudpbx.provisioning.models import ProvisioningDevice

logger = logging.getLogger(__name__)

Binding = ProvisioningDevice.Binding

BOUND, SOLE, CONFLICT, BOUND_ELSEWHERE = "bound", "sole", "conflict", "bound_elsewhere"


def claimants(mac: str) -> QuerySet[ProvisioningDevice]:
    """Every customer's device with this MAC, oldest first."""
    return ProvisioningDevice.objects.filter(mac=mac).order_by("pk")


LABELS = {
    BOUND: _("bound"),
    SOLE: _("sole claimant"),
    CONFLICT: _("conflict: several customers, none bound"),
    BOUND_ELSEWHERE: _("bound to another customer's device"),
}


def state_of(*, bound: bool, other_claims: bool, other_bound: bool) -> str:
    if bound:
        return BOUND
    if other_bound:
        return BOUND_ELSEWHERE
    return CONFLICT if other_claims else SOLE


def state(device: ProvisioningDevice) -> str:
    if device.bound_at is not None:
        return BOUND
    # One query (a terminal list asks this per device): the others' bindings.
    others = list(claimants(device.mac).exclude(pk=device.pk).values_list("bound_at", flat=True))
    return state_of(
        bound=False,
        other_claims=bool(others),
        other_bound=any(bound_at is not None for bound_at in others),
    )


def with_states(devices: QuerySet[ProvisioningDevice]) -> QuerySet[ProvisioningDevice]:
    """Annotated with ``other_claims`` and ``other_bound`` (for :func:`state_of`), in the
    query itself."""
    same_mac = ProvisioningDevice.objects.filter(mac=OuterRef("mac")).exclude(pk=OuterRef("pk"))
    return devices.annotate(
        other_claims=Exists(same_mac), other_bound=Exists(same_mac.filter(bound_at__isnull=False))
    )


def owner(mac: str) -> ProvisioningDevice | None:
    """The device that may have the phone: the bound one, else the sole claimant; None while
    several customers claim the MAC and none is bound."""
    devices = list(claimants(mac).select_related("terminal"))
    bound = [d for d in devices if d.bound_at is not None]
    if bound:
        return bound[0]
    return devices[0] if len(devices) == 1 else None
