"""The two statements of a fetch, in SQL written once (the ORM compiles a query on every call,
which costs more than the rest of the request on the hot path).

:func:`load_devices`: the devices of every customer that entered the MAC named by the path,
each with its terminal, tenant and shown extension, and the lock states of the MAC from the
client's address and of that address; one SELECT. :func:`record_fetch`: the status fields,
the Digest replay guard and the binding of the MAC to the device; one conditional UPDATE.
Both hydrate/write the ordinary models, so everything else keeps speaking Django.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import IntegrityError, connection

from cloudpbx.extensions.models import Extension
from cloudpbx.provisioning import lockouts
from cloudpbx.provisioning.models import ProvisioningDevice, ProvisioningLockout
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal

# In each model's field order: Model.from_db maps a partial row by that order.
DEVICE_FIELDS = (
    "id",
    "terminal_id",
    "manufacturer",
    "model",
    "mac",
    "bound_at",
    "auth_mode",
    "acs_username",
    "acs_password_encrypted",
    "trusted_networks",
    "handset_registration_from",
)
TERMINAL_FIELDS = (
    "id",
    "tenant_id",
    "name",
    "internal_display_name",
    "internal_extension_id",
    "media_encryption",
    "sip_username",
    "sip_password_encrypted",
)
TENANT_FIELDS = ("id", "country", "language", "timezone", "media_encryption")
EXTENSION_FIELDS = ("id", "number")
# The device columns a raw cursor returns in another form than the ORM's (see _hydrate).
_NETWORKS_AT = DEVICE_FIELDS.index("trusted_networks")
_DATETIMES_AT = (DEVICE_FIELDS.index("bound_at"), DEVICE_FIELDS.index("handset_registration_from"))


@dataclass
class LoadedDevices:
    """Every automatic IP phone with the MAC, of whichever customer and manufacturer."""

    devices: list[ProvisioningDevice]  # .terminal, .terminal.tenant, .internal_extension set
    pair_locked: bool  # this MAC from this client address
    ip_locked: bool


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _columns(alias: str, model: Any, fields: tuple[str, ...]) -> list[str]:
    return [f"{alias}.{_q(model._meta.get_field(f).column)}" for f in fields]


@cache
def _select_sql(vendor: str) -> str:
    # ``vendor`` (the DB backend) is part of the cache key: quoting differs per backend.
    device, terminal = ProvisioningDevice._meta, Terminal._meta
    tenant, extension = Tenant._meta, Extension._meta
    lock = _q(ProvisioningLockout._meta.db_table)
    columns = (
        _columns("d", ProvisioningDevice, DEVICE_FIELDS)
        + _columns("t", Terminal, TERMINAL_FIELDS)
        + _columns("n", Tenant, TENANT_FIELDS)
        + _columns("e", Extension, EXTENSION_FIELDS)
    )
    # Identifiers come from model metadata, values are all parameters: nothing from a request.
    locked = f"SELECT 1 FROM {lock} l WHERE l.{_q('key')} = %s AND l.{_q('locked_until')} > %s"  # noqa: S608
    # Every manufacturer: a MAC bound to one customer's Yealink is not another's Snom.
    return (
        f"SELECT {', '.join(columns)}, EXISTS({locked}), EXISTS({locked}) "  # noqa: S608
        f"FROM {_q(device.db_table)} d "
        f"INNER JOIN {_q(terminal.db_table)} t ON t.{_q('id')} = d.{_q('terminal_id')} "
        f"INNER JOIN {_q(tenant.db_table)} n ON n.{_q('id')} = t.{_q('tenant_id')} "
        f"LEFT OUTER JOIN {_q(extension.db_table)} e "
        f"ON e.{_q('id')} = t.{_q('internal_extension_id')} "
        f"WHERE d.{_q('mac')} = %s AND t.{_q('type')} = %s AND t.{_q('config_mode')} = %s "
        f"ORDER BY d.{_q('id')}"
    )


def load_devices(mac: str, address: str | None, now: datetime) -> LoadedDevices:
    """The automatically configured IP phones with this MAC (one per customer at most)."""
    when = connection.ops.adapt_datetimefield_value(now)
    params = [
        lockouts.pair_key(mac, address or "-"),
        when,
        lockouts.ip_key(address or "-"),
        when,
        mac,
        Terminal.Type.IP_PHONE.value,
        Terminal.ConfigMode.AUTOMATIC.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_select_sql(connection.vendor), params)
        rows = cursor.fetchall()
    devices = [_hydrate(list(row)) for row in rows]
    pair_locked, ip_locked = rows[0][-2:] if rows else (False, False)
    return LoadedDevices(devices=devices, pair_locked=bool(pair_locked), ip_locked=bool(ip_locked))


def _hydrate(values: list[Any]) -> ProvisioningDevice:
    db = connection.alias

    def take(count: int) -> list[Any]:
        taken = values[:count]
        del values[:count]
        return taken

    device_values = take(len(DEVICE_FIELDS))
    if isinstance(device_values[_NETWORKS_AT], str):  # SQLite returns the JSON text
        device_values[_NETWORKS_AT] = json.loads(device_values[_NETWORKS_AT])
    for at in _DATETIMES_AT:
        device_values[at] = _datetime(device_values[at])
    device = ProvisioningDevice.from_db(db, DEVICE_FIELDS, device_values)
    terminal = Terminal.from_db(db, TERMINAL_FIELDS, take(len(TERMINAL_FIELDS)))
    tenant = Tenant.from_db(db, TENANT_FIELDS, take(len(TENANT_FIELDS)))
    extension_values = take(len(EXTENSION_FIELDS))
    extension = (
        Extension.from_db(db, EXTENSION_FIELDS, extension_values)
        if extension_values[0] is not None
        else None
    )
    terminal.tenant = tenant
    terminal.internal_extension = extension
    device.terminal = terminal
    return device


def _datetime(value: Any) -> datetime | None:
    """A raw cursor's timestamp as the ORM would give it (SQLite returns text)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@cache
def _update_sql(guarded: bool, vendor: str) -> str:
    table = _q(ProvisioningDevice._meta.db_table)
    assignments = [
        "last_fetch_at",
        "last_fetch_ip",
        "last_user_agent",
        "last_firmware",
        "last_reported_model",
    ]
    if guarded:
        assignments += ["digest_nonce", "digest_nonce_issued_ns", "digest_nc"]
    sets = [f"{_q(a)} = %s" for a in assignments]
    # The first success binds the MAC to this device (every SET sees the row as it was).
    bound_at, bound_by = _q("bound_at"), _q("bound_by")
    sets.append(f"{bound_at} = COALESCE({bound_at}, %s)")
    sets.append(f"{bound_by} = CASE WHEN {bound_at} IS NULL THEN %s ELSE {bound_by} END")
    sql = f"UPDATE {table} SET {', '.join(sets)} "  # noqa: S608
    sql += f"WHERE {_q('id')} = %s"
    if guarded:
        sql += (
            f" AND ({_q('digest_nonce_issued_ns')} < %s"
            f" OR ({_q('digest_nonce')} = %s AND {_q('digest_nc')} < %s))"
        )
    # Not if another customer's device was bound meanwhile (the partial unique index
    # device_mac_bound_once is the last guard).
    sql += (
        f" AND ({bound_at} IS NOT NULL OR NOT EXISTS (SELECT 1 FROM {table} o "  # noqa: S608
        f"WHERE o.{_q('mac')} = %s AND o.{bound_at} IS NOT NULL AND o.{_q('id')} <> %s))"
    )
    return sql


@dataclass(frozen=True)
class Fetch:
    at: datetime
    address: str | None
    user_agent: str
    firmware: str
    reported_model: str


def record_fetch(
    device: ProvisioningDevice,
    fetch: Fetch,
    *,
    bound_by: str,
    nonce: str = "",
    nonce_issued_ns: int = 0,
    nc: int = 0,
) -> bool:
    """Write the status and, on the first success, bind the MAC to the device (``bound_by``:
    how the phone proved it, a :class:`ProvisioningDevice.Binding`); with a nonce, only if it
    is newer than the last one used or the same with a higher count. False: nothing written (a
    replay, or another customer's device bound the MAC an instant before)."""
    ops = connection.ops
    when = ops.adapt_datetimefield_value(fetch.at)
    params: list[Any] = [
        when,
        ops.adapt_ipaddressfield_value(fetch.address),
        fetch.user_agent[:255],
        fetch.firmware[:64],
        fetch.reported_model[:32],
    ]
    guarded = bool(nonce)
    if guarded:
        params += [nonce, nonce_issued_ns, nc]
    params += [when, bound_by, device.pk]
    if guarded:
        params += [nonce_issued_ns, nonce, nc]
    params += [device.mac, device.pk]
    try:
        with connection.cursor() as cursor:
            cursor.execute(_update_sql(guarded, connection.vendor), params)
            return bool(cursor.rowcount == 1)
    except IntegrityError:  # two customers' first fetches at once: the other one won
        return False
