"""Small lookup tables shared by the vendor plugins. Django-free.

Yealink (``local_time.time_zone_name``) and Snom (``<timezone>``) name a time zone by a place
from a fixed list, which also decides the daylight-saving rules the phone applies. The values
are the options of each vendor's web interface as mapped by nethesis/nethvoice-wizard-ui
(wizard/app/scripts/services/provisioning/models/yealinkservice.js @037ebec1, variable
``timezone_yealink``; .../snomservice.js @01bbba04, variable ``timezone_snom``; the same
Snom codes in nethesis/tancredi data/templates/snom.macros); the list with the standard offset
of each value is tests/vendor_values/. Pairing a place with an IANA zone below is ours (the
place is in the name), kept only where the zone's standard offset today is the value's;
"" where the vendor's list has no place of that zone.

Any other zone gets the value of a listed zone with the same clock all year (same offsets,
so the same daylight-saving dates), else of the first listed zone with its standard offset
(:func:`zone_value`); a zone whose standard offset no value has gets none.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from cloudpbx.provisioning import timezones


class ZoneNames(NamedTuple):
    yealink: str  # local_time.time_zone_name
    snom: str  # <timezone>, country code + standard offset


# In order of preference: for an unlisted zone, the first one with its clock (or offset) wins.
ZONES: dict[str, ZoneNames] = {
    # UTC+0
    "UTC": ZoneNames("GMT", ""),
    "Europe/London": ZoneNames("United Kingdom(London)", "GBR-0"),
    "Europe/Dublin": ZoneNames("Ireland(Dublin)", "IRL-0"),
    "Europe/Lisbon": ZoneNames("Portugal(Lisboa,Porto,Funchal)", "PRT-0"),
    "Atlantic/Canary": ZoneNames("Spain-Canary Islands(Las Palmas)", "ESP-0"),
    "Atlantic/Faroe": ZoneNames("Denmark-Faroe Islands(Torshavn)", "FRO-0"),
    # UTC+1
    "Europe/Berlin": ZoneNames("Germany(Berlin)", "GER+1"),
    "Europe/Amsterdam": ZoneNames("Netherlands(Amsterdam)", "NLD+1"),
    "Europe/Brussels": ZoneNames("Belgium(Brussels)", "BEL+1"),
    "Europe/Budapest": ZoneNames("Hungary(Budapest)", "HUN+1"),
    "Europe/Copenhagen": ZoneNames("Denmark(Kopenhagen)", "DNK+1"),
    "Europe/Luxembourg": ZoneNames("Luxembourg(Luxembourg)", "LUX+1"),
    "Europe/Madrid": ZoneNames("Spain(Madrid)", "ESP+1"),
    "Europe/Paris": ZoneNames("France(Paris)", "FRA+1"),
    "Europe/Prague": ZoneNames("Czech Republic(Prague)", "CZE+1"),
    "Europe/Rome": ZoneNames("Italy(Rome)", "ITA+1"),
    "Europe/Skopje": ZoneNames("Macedonia(Skopje)", "MAK+1"),
    "Europe/Tirane": ZoneNames("Albania(Tirane)", "ALB+1"),
    "Europe/Vienna": ZoneNames("Austria(Vienna)", "AUT+1"),
    "Europe/Zagreb": ZoneNames("Croatia(Zagreb)", "HRV+1"),
    "Europe/Oslo": ZoneNames("", "NOR+1"),
    "Europe/Stockholm": ZoneNames("", "SWE+1"),
    "Europe/Warsaw": ZoneNames("", "POL+1"),
    "Europe/Zurich": ZoneNames("", "CHE+1"),
    "Europe/Bratislava": ZoneNames("", "SVK+1"),
    "Europe/Belgrade": ZoneNames("", "YUG+1"),
    "Europe/Gibraltar": ZoneNames("", "GIB+1"),
    "Africa/Lagos": ZoneNames("Chad", "WAT+1"),
    # UTC+2
    "Europe/Athens": ZoneNames("Greece(Athens)", "GRC+2"),
    "Europe/Helsinki": ZoneNames("Finland(Helsinki)", "FIN+2"),
    "Europe/Tallinn": ZoneNames("Estonia(Tallinn)", "EST+2"),
    "Europe/Riga": ZoneNames("Latvia(Riga)", "LVA+2"),
    "Europe/Vilnius": ZoneNames("", "LTU+2"),
    "Europe/Bucharest": ZoneNames("Romania(Bucharest)", "ROU+2"),
    "Europe/Sofia": ZoneNames("", "BGR+2"),
    "Europe/Kyiv": ZoneNames("Ukraine(Kyiv, Odessa)", "UKR+2"),
    "Europe/Chisinau": ZoneNames("Moldova(Kishinev)", "MDA+2"),
    "Asia/Nicosia": ZoneNames("", "CYP+2"),
    "Europe/Kaliningrad": ZoneNames("Russia(Kaliningrad)", "RUS+2"),
    "Asia/Beirut": ZoneNames("Lebanon(Beirut)", "LBN+2"),
    "Asia/Jerusalem": ZoneNames("Israel(Tel Aviv)", "ISR+2"),
    "Asia/Gaza": ZoneNames("Gaza Strip(Gaza)", "GAZ+2"),
    "Africa/Cairo": ZoneNames("", "EGY+2"),
    "Africa/Maputo": ZoneNames("", "CAT+2"),
    # UTC+3 and east
    "Europe/Moscow": ZoneNames("Russia(Moscow)", "RUS+3"),
    "Asia/Baghdad": ZoneNames("Iraq(Baghdad)", "IRQ+3"),
    "Africa/Nairobi": ZoneNames("East Africa Time", "EAT+3"),
    "Asia/Tehran": ZoneNames("Iran(Teheran)", "IRN+3.5"),
    "Asia/Dubai": ZoneNames("", "UAE+4"),
    "Asia/Yerevan": ZoneNames("Armenia(Yerevan)", "ARM+4"),
    "Asia/Baku": ZoneNames("Azerbaijan(Baku)", "AZE+4"),
    "Asia/Tbilisi": ZoneNames("Georgia(Tbilisi)", "GEO+4"),
    "Europe/Samara": ZoneNames("Russia(Samara)", "RUS+4"),
    "Asia/Kabul": ZoneNames("Afghanistan(Kabul)", ""),
    "Asia/Karachi": ZoneNames("Pakistan(Islamabad)", "PAK+5"),
    "Asia/Yekaterinburg": ZoneNames("Russia(Chelyabinsk)", "RUS+5"),
    "Asia/Kolkata": ZoneNames("India(Calcutta)", "IND+5.5"),
    "Asia/Kathmandu": ZoneNames("Nepal(Katmandu)", ""),
    "Asia/Omsk": ZoneNames("Russia(Novosibirsk,Omsk)", "RUS+6"),
    "Asia/Yangon": ZoneNames("Myanmar(Naypyitaw)", ""),
    "Asia/Bangkok": ZoneNames("Thailand(Bangkok)", "THA+7"),
    "Asia/Krasnoyarsk": ZoneNames("Russia(Krasnoyarsk)", "RUS+7"),
    "Asia/Shanghai": ZoneNames("China(Beijing)", "CHN+8"),
    "Asia/Singapore": ZoneNames("Singapore(Singapore)", "SGP+8"),
    "Australia/Perth": ZoneNames("Australia(Perth)", "AUS+8"),
    "Asia/Irkutsk": ZoneNames("Russia(Irkutsk, Ulan-Ude)", ""),
    "Australia/Eucla": ZoneNames("Eucla", ""),
    "Asia/Tokyo": ZoneNames("Japan(Tokyo)", "JPN+9"),
    "Asia/Seoul": ZoneNames("Korea(Seoul)", "KOR+9"),
    "Asia/Yakutsk": ZoneNames("Russia(Yakutsk,Chita)", ""),
    "Australia/Adelaide": ZoneNames("Australia(Adelaide)", "AUS+9.5"),
    "Australia/Darwin": ZoneNames("Australia(Darwin)", "AUS2+9.5"),
    "Australia/Sydney": ZoneNames("Australia(Sydney,Melboume,Canberra)", "AUS+10"),
    "Australia/Brisbane": ZoneNames("Australia(Brisbane)", "AUS2+10"),
    "Australia/Hobart": ZoneNames("Australia(Hobart)", "AUS3+10"),
    "Asia/Vladivostok": ZoneNames("Russia(Vladivostok)", "RUS+10"),
    "Australia/Lord_Howe": ZoneNames("Australia(Lord Howe Islands)", "AUS+10.5"),
    "Pacific/Noumea": ZoneNames("New Caledonia(Noumea)", "NCL+11"),
    "Pacific/Auckland": ZoneNames("New Zealand(Wellington,Auckland)", "NZL+12"),
    "Asia/Kamchatka": ZoneNames("Russia(Kamchatka Time)", "RUS+12"),
    "Pacific/Chatham": ZoneNames("New Zealand(Chatham Islands)", "NZL+12.75"),
    "Pacific/Tongatapu": ZoneNames("Tonga(Nukualofa)", "TON+13"),
    "Pacific/Kiritimati": ZoneNames("Kiribati", ""),
    # UTC-1 and west
    "Atlantic/Azores": ZoneNames("Portugal(Azores)", "PRT-1"),
    "America/Noronha": ZoneNames("Brazil(no DST)", "BRA-2"),
    "America/Sao_Paulo": ZoneNames("Brazil(no DST)", "BRA2-3"),
    "America/Argentina/Buenos_Aires": ZoneNames("Argentina(Buenos Aires)", "ARG-3"),
    "America/St_Johns": ZoneNames("Canada-New Foundland(St.Johns)", "CAN-3.5"),
    "America/Halifax": ZoneNames("Canada(Halifax,Saint John)", "CAN-4"),
    "America/Santiago": ZoneNames("Chile(Santiago)", "CHL-4"),
    "America/Port_of_Spain": ZoneNames("Trinidad&Tobago", "TTB-4"),
    "America/New_York": ZoneNames("United States-Eastern Time", "USA-5"),
    "America/Toronto": ZoneNames("Canada(Montreal,Ottawa,Quebec)", "CAN-5"),
    "America/Nassau": ZoneNames("Bahamas(Nassau)", "BHS-5"),
    "America/Havana": ZoneNames("Cuba(Havana)", "CUB-5"),
    "America/Bogota": ZoneNames("", "COL-5"),
    "America/Chicago": ZoneNames("United States-Central Time", "USA-6"),
    "America/Winnipeg": ZoneNames("Canada-Manitoba(Winnipeg)", "CAN-6"),
    "America/Mexico_City": ZoneNames("Mexico(Mexico City,Acapulco)", "MEX-6"),
    "America/Denver": ZoneNames("United States-Mountain Time", "USA-7"),
    "America/Edmonton": ZoneNames("Canada(Edmonton,Calgary)", "CAN-7"),
    "America/Phoenix": ZoneNames("United States-MST no DST", "USA2-7"),
    "America/Mazatlan": ZoneNames("Mexico(Mazatlan,Chihuahua)", "MEX-7"),
    "America/Los_Angeles": ZoneNames("United States-Pacific Time", "USA-8"),
    "America/Vancouver": ZoneNames("Canada(Vancouver,Whitehorse)", "CAN-8"),
    "America/Tijuana": ZoneNames("Mexico(Tijuana,Mexicali)", "MEX-8"),
    "America/Anchorage": ZoneNames("United States-Alaska Time", "USA-9"),
    "Pacific/Marquesas": ZoneNames("French Polynesia", ""),
    "Pacific/Honolulu": ZoneNames("United States-Hawaii-Aleutian", "USA-10"),
    "Pacific/Pago_Pago": ZoneNames("Samoa", ""),
}

Vendor = Literal["yealink", "snom"]


def zone_value(zone: str, vendor: Vendor) -> str:
    """The vendor's name for ``zone`` (an IANA name): its own, a listed zone's with the same
    clock, else one with the same standard offset; "" when the vendor's list has none."""
    named = {listed: getattr(names, vendor) for listed, names in ZONES.items()}
    closest = timezones.closest_zone(zone, [listed for listed, name in named.items() if name])
    return named[closest] if closest is not None else ""
