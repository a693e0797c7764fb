"""Time-zone facts the vendor formats need, derived from the IANA database. Django-free.

Phones want a *standard* UTC offset plus "daylight saving: automatic"; we derive the offset
from fixed dates (not from today), so the same settings always render the same bytes.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import cache

_PROBES = (datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 7, 15, 12, tzinfo=UTC))


@cache
def standard_offset_minutes(zone: str) -> int:
    """UTC offset without daylight saving, in minutes; 0 for an unknown zone."""
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 0
    offsets = []
    for probe in _PROBES:
        local = probe.astimezone(tz)
        offset, dst = local.utcoffset(), local.dst()
        if offset is not None and dst is not None and not dst:
            offsets.append(int(offset.total_seconds()) // 60)
    if offsets:
        return offsets[0]
    local = _PROBES[0].astimezone(tz)
    offset = local.utcoffset()
    return int(offset.total_seconds()) // 60 if offset is not None else 0


@cache
def observes_dst(zone: str) -> bool:
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return any(probe.astimezone(tz).dst() for probe in _PROBES)


def hours_text(minutes: int, *, zero: str = "0") -> str:
    """``+1``, ``-5``, ``+5:30``, ``0``: the offset notation of Yealink and Snom."""
    if minutes == 0:
        return zero
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}" + (f":{rest:02d}" if rest else "")
