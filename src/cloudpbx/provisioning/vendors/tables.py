"""Small lookup tables shared by the vendor plugins. Django-free.

Only zones whose vendor names are known from working configurations are listed; any other
IANA zone still gets its standard UTC offset with automatic daylight saving.
"""

from __future__ import annotations

from typing import NamedTuple


class ZoneNames(NamedTuple):
    yealink: str  # local_time.time_zone_name
    snom: str  # <timezone>, country code + standard offset


ZONES: dict[str, ZoneNames] = {
    "Europe/Amsterdam": ZoneNames("Netherlands(Amsterdam)", "NLD+1"),
    "Europe/Berlin": ZoneNames("Germany(Berlin)", "GER+1"),
    "Europe/Brussels": ZoneNames("Belgium(Brussels)", "BEL+1"),
    "Europe/Budapest": ZoneNames("Hungary(Budapest)", "HUN+1"),
    "Europe/Dublin": ZoneNames("Ireland(Dublin)", "IRL-0"),
    "Europe/Lisbon": ZoneNames("Portugal(Lisboa,Porto,Funchal)", "PRT+0"),
    "Europe/London": ZoneNames("United Kingdom(London)", "GBR+0"),
    "Europe/Paris": ZoneNames("France(Paris)", "FRA+1"),
    "Europe/Prague": ZoneNames("Czech Republic(Prague)", "CZE+1"),
    "Europe/Rome": ZoneNames("Italy(Rome)", "ITA+1"),
    "Europe/Vienna": ZoneNames("Austria(Vienna)", "AUT+1"),
    "Europe/Athens": ZoneNames("Greece(Athens)", "GRC+2"),
}
