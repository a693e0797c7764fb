"""Time-zone facts the vendor formats need, derived from the IANA database. Django-free.

Phones want a *standard* UTC offset plus "daylight saving: automatic", or a zone from the
vendor's own list. Both are derived from one fixed year (not from today), so the same
settings always render the same bytes.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import cache

# Noon UTC on every day of one year: the offsets a zone's clock shows through it.
_YEAR = tuple(datetime(2025, 1, 1, 12, tzinfo=UTC) + timedelta(days=day) for day in range(365))
_JANUARY_15, _JULY_15 = 14, 195  # days of _YEAR: winter in one hemisphere, summer in the other


@cache
def offsets_through_the_year(zone: str) -> tuple[int, ...]:
    """The zone's UTC offset in minutes on each day of the reference year; () if unknown."""
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return ()
    offsets = []
    for instant in _YEAR:
        offset = instant.astimezone(tz).utcoffset()
        offsets.append(int(offset.total_seconds()) // 60 if offset is not None else 0)
    return tuple(offsets)


def _seasons(zone: str) -> tuple[int, int]:
    year = offsets_through_the_year(zone)
    return (year[_JANUARY_15], year[_JULY_15]) if year else (0, 0)


def standard_offset_minutes(zone: str) -> int:
    """UTC offset without daylight saving, in minutes; 0 for an unknown zone.

    Daylight saving as phones know it moves clocks forward in summer: the smaller of the
    mid-January and mid-July offsets, also where the database calls the summer time standard
    (Europe/Dublin's winter is a negative DST there). A change outside summer (Morocco's
    during Ramadan) is no daylight saving to a phone."""
    return min(_seasons(zone))


def observes_dst(zone: str) -> bool:
    winter, summer = _seasons(zone)
    return winter != summer


def same_clock(zone: str, other: str) -> bool:
    """Whether both zones show the same time all year (same offsets and DST dates)."""
    year = offsets_through_the_year(zone)
    return bool(year) and year == offsets_through_the_year(other)


def closest_zone(zone: str, candidates: Iterable[str]) -> str | None:
    """Of ``candidates`` (in order of preference), the one a phone should be given for ``zone``.

    ``zone`` itself if listed, else the first whose clock shows the same time all year (same
    offsets, so the same daylight-saving dates), else the first with the same standard offset
    and, if possible, daylight saving or none like ``zone`` (its dates may differ); None when
    no candidate has that standard offset.
    """
    listed = list(candidates)
    if zone in listed:
        return zone
    standard, dst = standard_offset_minutes(zone), observes_dst(zone)
    preferences: tuple[Callable[[str], bool], ...] = (
        lambda c: same_clock(zone, c),
        lambda c: standard_offset_minutes(c) == standard and observes_dst(c) == dst,
        lambda c: standard_offset_minutes(c) == standard,
    )
    for matches in preferences:
        found = next((c for c in listed if matches(c)), None)
        if found is not None:
            return found
    return None


def hours_text(minutes: int, *, zero: str = "0") -> str:
    """``+1``, ``-5``, ``+5:30``, ``0``: the offset notation of Yealink and Snom."""
    if minutes == 0:
        return zero
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}" + (f":{rest:02d}" if rest else "")
