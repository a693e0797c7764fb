"""The values each vendor's file holds, checked against the vendor's own lists: every time
zone and language a customer may choose, and the User-Agents the vendor's phones send."""

from __future__ import annotations

import dataclasses
import json
import zoneinfo
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from cloudpbx.provisioning import identify, timezones
from cloudpbx.provisioning.tests.test_engine import config, render_phone
from cloudpbx.provisioning.vendors import VENDORS, tables, xmlread
from cloudpbx.provisioning.vendors.yealink import parse_settings

# --- values the vendor accepts: every time zone and language a customer may choose ----------

VALUES = Path(__file__).parent / "vendor_values"
# Tenant.clean accepts any zone of the IANA database; the portal's languages are LANGUAGES.
ZONES_OFFERED = sorted(zoneinfo.available_timezones())

# Per family: (values file, the keys of the time zone, the keys of the language).
CHECKED: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "yealink": (
        "yealink",
        ("local_time.time_zone", "local_time.time_zone_name", "local_time.summer_time"),
        ("lang.gui", "lang.wui"),
    ),
    "snom": ("snom", ("timezone",), ("language", "web_language")),
    "nx70": ("gigaset", ("DmGlobal.0.TimeZone",), ()),
    "maxwell": (
        "gigaset",
        ("System.DateAndTime.TimeZone",),
        ("PhoneUI.Settings.Language", "WebUI.Language"),
    ),
    "htek": ("htek", ("P64", "P75"), ("P2525", "P8621")),
}
FAMILY_MODELS = {
    "yealink": ("yealink", "T54W", "805ec0123456"),
    "snom": ("snom", "D785", "000413922d24"),
    "nx70": ("gigaset", "N870", "7c2f80e0d605"),
    "maxwell": ("gigaset", "Maxwell 3", "7c2f80e0d606"),
    "htek": ("htek", "UC926", "001fc110d3a9"),
}
# Keys whose values are IANA names: the offset a value stands for is its zone's.
IANA_VALUED = {"DmGlobal.0.TimeZone"}
# Keys whose values are "<label>.<IANA name>": a value stands for its label's offset only while
# it is still its zone's (zones change: Almaty left UTC+6 in 2024).
LABELLED_IANA = {"System.DateAndTime.TimeZone"}


@cache
def vendor_values(name: str) -> dict[str, dict[str, set[int]]]:
    """key -> {value: the standard UTC offsets (minutes) it stands for, none if it names no
    offset}, from vendor_values/<name>.tsv."""
    values: dict[str, dict[str, set[int]]] = {}
    for line in (VALUES / f"{name}.tsv").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, value, *offset = line.split("\t")
        offsets = values.setdefault(key, {}).setdefault(value, set())
        if offset:
            sign = -1 if offset[0].startswith("-") else 1
            hours, _, rest = offset[0][1:].partition(":")
            offsets.add(sign * (int(hours) * 60 + int(rest)))
    return values


def file_values(vendor: str, body: bytes) -> dict[str, str]:
    """Every key = value of a rendered file, in the vendor's format."""
    if vendor == "yealink":
        return parse_settings(body)
    root = xmlread.parse(body)
    if vendor == "snom":
        phone_settings = root.find("phone-settings")
        assert phone_settings is not None
        return {element.tag: element.text or "" for element in phone_settings}
    if vendor == "gigaset":
        return xmlread.params(root)
    config_element = root.find("config")
    assert config_element is not None
    return {element.tag: element.text or "" for element in config_element}


def _still_true(labelled_zone: str, offsets: set[int]) -> bool:
    """Whether a "<label>.<IANA name>" value's zone still has the offset of its label."""
    zone = labelled_zone.partition(".")[2] or labelled_zone
    return timezones.standard_offset_minutes(zone) in offsets


def value_problems(
    family: str, got: dict[str, str], keys: tuple[str, ...], zone: str | None = None
) -> list[str]:
    """What in ``got`` the vendor does not accept; a key may be left out only when the
    vendor has no value for the zone's standard offset."""
    values = vendor_values(CHECKED[family][0])
    standard = timezones.standard_offset_minutes(zone) if zone else None
    problems = []
    for key in keys:
        valid = values[key]
        if key in IANA_VALUED:
            valid = {value: {timezones.standard_offset_minutes(value)} for value in valid}
        if key in LABELLED_IANA:
            valid = {
                value: offsets for value, offsets in valid.items() if _still_true(value, offsets)
            }
        if key not in got:
            if zone is None or any(standard in offsets for offsets in valid.values()):
                problems.append(f"{zone}: no {key}")
            continue
        if got[key] not in valid:
            problems.append(f"{zone}: {key}={got[key]!r} is not a {family} value")
        elif zone is not None and valid[got[key]] and standard not in valid[got[key]]:
            problems.append(f"{zone}: {key}={got[key]!r} is not UTC{standard:+d} min")
    return problems


@pytest.mark.parametrize("family", sorted(CHECKED))
def test_every_time_zone_a_customer_may_choose_gets_a_value_the_vendor_accepts(
    family: str,
) -> None:
    vendor, model_key, mac = FAMILY_MODELS[family]
    base = config(vendor, model_key, mac)
    problems = []
    for zone in ZONES_OFFERED:
        got = file_values(vendor, render_phone(dataclasses.replace(base, timezone=zone)))
        problems += value_problems(family, got, CHECKED[family][1], zone)
    assert not problems, problems[:20]


@pytest.mark.parametrize("family", sorted(CHECKED))
def test_every_portal_language_gets_a_value_the_vendor_accepts(family: str) -> None:
    vendor, model_key, mac = FAMILY_MODELS[family]
    base = config(vendor, model_key, mac)
    for code, _name in settings.LANGUAGES:
        got = file_values(vendor, render_phone(dataclasses.replace(base, language=code)))
        assert not value_problems(family, got, CHECKED[family][2]), code


def test_the_zone_tables_name_real_zones_and_values_of_their_offset() -> None:
    for zone, names in tables.ZONES.items():
        assert zone in ZONES_OFFERED, zone
        standard = timezones.standard_offset_minutes(zone)
        for family, value in (("yealink", names.yealink), ("snom", names.snom)):
            key = "local_time.time_zone_name" if family == "yealink" else "timezone"
            if value:
                assert standard in vendor_values(family)[key].get(value, set()), (zone, value)


@pytest.mark.parametrize(
    ("zone", "yealink_offset", "yealink_name", "snom"),
    [
        ("Europe/London", "0", "United Kingdom(London)", "GBR-0"),
        ("Europe/Lisbon", "0", "Portugal(Lisboa,Porto,Funchal)", "PRT-0"),
        # Ireland's summer time is its standard time in the IANA data: winter is UTC+0.
        ("Europe/Dublin", "0", "Ireland(Dublin)", "IRL-0"),
        # Zones outside the tables: a listed zone with the same clock all year.
        ("Europe/Jersey", "0", "United Kingdom(London)", "GBR-0"),
        ("Europe/Ljubljana", "+1", "Germany(Berlin)", "GER+1"),
        ("America/Detroit", "-5", "United States-Eastern Time", "USA-5"),
        ("Africa/Abidjan", "0", "GMT", "GBR-0"),
        ("Asia/Kolkata", "+5:30", "India(Calcutta)", "IND+5.5"),
    ],
)
def test_yealink_and_snom_time_zones(
    zone: str, yealink_offset: str, yealink_name: str, snom: str
) -> None:
    yealink = parse_settings(
        render_phone(dataclasses.replace(config(*FAMILY_MODELS["yealink"]), timezone=zone))
    )
    assert (yealink["local_time.time_zone"], yealink["local_time.time_zone_name"]) == (
        yealink_offset,
        yealink_name,
    )
    snom_file = file_values(
        "snom", render_phone(dataclasses.replace(config(*FAMILY_MODELS["snom"]), timezone=zone))
    )
    assert snom_file["timezone"] == snom


@pytest.mark.parametrize(
    ("zone", "nx70", "maxwell"),
    [
        ("Europe/Berlin", "Europe/Berlin", "GMT+1.Europe/Amsterdam"),
        ("Europe/Brussels", "Europe/Brussels", "GMT+1.Europe/Brussels"),
        ("Europe/Paris", "Europe/Paris", "GMT+1.Europe/Amsterdam"),
        ("Europe/London", "Europe/London", "GMT.Europe/London"),
        # UTC is no zone of the Nx70's: Greenwich keeps its clock (no daylight saving).
        ("UTC", "Greenwich", "GMT.Europe/London"),
        ("America/Detroit", "America/New_York", "GMT-5.America/New_York"),
    ],
)
def test_gigaset_time_zones(zone: str, nx70: str, maxwell: str) -> None:
    for (_vendor, model_key, mac), key, expected in (
        (FAMILY_MODELS["nx70"], "DmGlobal.0.TimeZone", nx70),
        (FAMILY_MODELS["maxwell"], "System.DateAndTime.TimeZone", maxwell),
    ):
        body = render_phone(dataclasses.replace(config("gigaset", model_key, mac), timezone=zone))
        assert xmlread.params(xmlread.parse(body))[key] == expected


@pytest.mark.parametrize(
    ("zone", "time_zone", "daylight_saving"),
    [
        ("Europe/Berlin", "50", "2"),
        ("Europe/Paris", "50", "2"),  # Berlin's clock all year
        ("Europe/London", "39", "2"),
        ("UTC", "33", "0"),
        ("Africa/Lagos", "49", "0"),  # UTC+1 without daylight saving
        ("America/New_York", "18", "2"),
        ("Asia/Kathmandu", None, "0"),  # UTC+5:45: no code known, the phone keeps its own
    ],
)
def test_htek_time_zones_and_daylight_saving(
    zone: str, time_zone: str | None, daylight_saving: str
) -> None:
    body = render_phone(dataclasses.replace(config(*FAMILY_MODELS["htek"]), timezone=zone))
    got = file_values("htek", body)
    assert (got.get("P64"), got["P75"]) == (time_zone, daylight_saving)


def test_htek_languages_are_numeric_codes() -> None:
    for code, expected in (("en", "0"), ("fr", "1"), ("de", "2")):
        body = render_phone(dataclasses.replace(config(*FAMILY_MODELS["htek"]), language=code))
        got = file_values("htek", body)
        assert (got["P2525"], got["P8621"]) == (expected, expected)


# --- User-Agents ------------------------------------------------------------------------------

USER_AGENTS = json.loads((Path(__file__).parent / "user_agents.json").read_text("utf-8"))


@pytest.mark.parametrize(
    "entry", USER_AGENTS["user_agents"], ids=[e["user_agent"] for e in USER_AGENTS["user_agents"]]
)
def test_real_user_agents_are_read_by_their_vendor_only(entry: dict[str, Any]) -> None:
    user_agent = entry["user_agent"]
    found = identify.read_user_agent(user_agent)
    if entry["vendor"] is None:
        assert found is None, found
    else:
        assert found is not None
        vendor, agent = found
        assert (vendor.key, agent.model, agent.firmware, agent.mac) == (
            entry["vendor"],
            entry["model"],
            entry["firmware"],
            entry["mac"],
        )
    for other in VENDORS.values():
        if other.key != entry["vendor"]:
            assert other.parse_user_agent(user_agent) is None, (other.key, user_agent)


def test_the_user_agent_corpus_covers_every_vendor_that_names_itself() -> None:
    named = {entry["vendor"] for entry in USER_AGENTS["user_agents"]}
    assert {vendor.key for vendor in VENDORS.values() if vendor.user_agents} <= named
    assert all(entry["source"] for entry in USER_AGENTS["user_agents"])
