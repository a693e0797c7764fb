"""What each vendor's file tells its phones, checked against what the phones do: re-sync
without reboot, the URL of the next fetch, periodic re-fetch, the values the vendor accepts,
the shape of its format and the User-Agents its phones send."""

from __future__ import annotations

import dataclasses
import json
import re
import zoneinfo
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from cloudpbx.provisioning import identify, render, resync, timezones
from cloudpbx.provisioning.tests.test_engine import config, render_phone, secure
from cloudpbx.provisioning.vendors import VENDORS, tables, xmlread
from cloudpbx.provisioning.vendors.base import PhoneModel, UnsupportedSetting
from cloudpbx.provisioning.vendors.yealink import parse_settings
from cloudpbx.sip.status import Contact

BASE_URL = "https://pbx.example.net/prov"  # the base URL of test_engine.config
OUI = {"yealink": "805ec0", "snom": "000413", "gigaset": "7c2f80", "htek": "001fc1"}
EVERY_MODEL = [
    (vendor.key, model.key, OUI[vendor.key] + f"{number:06x}")
    for vendor in VENDORS.values()
    for number, model in enumerate(vendor.models, start=0xA0B0C0)
]

# --- re-sync after a saved change ------------------------------------------------------------


def test_yealink_re_fetches_on_check_sync_without_rebooting() -> None:
    settings = parse_settings(render_phone(config("yealink", "T54W", "805ec0123456")))
    assert settings["sip.notify_reboot_enable"] == "0"
    assert VENDORS["yealink"].check_sync_event == "check-sync;reboot=false"
    device: Any = SimpleNamespace(manufacturer="yealink")
    contact = Contact(uri="sip:tq3xk7m2pw9a@192.0.2.10:5060", user_agent="", source="", expires=60)
    headers = resync.notify_headers(device, contact, "tq3xk7m2pw9a").split("\r\n")
    assert "Event: check-sync;reboot=false" in headers


# --- the next fetch: file -> the URL it names -> a file we serve -----------------------------


def served(url: str) -> identify.FileMatch | None:
    """What the server answers for a URL a phone requests: files live directly under /prov/."""
    assert url.startswith(BASE_URL + "/"), url
    name = urlsplit(url).path.removeprefix(urlsplit(BASE_URL).path + "/")
    return identify.match_file(name) if name and "/" not in name else None


def next_requests(vendor: str, model: PhoneModel, mac: str, body: bytes) -> list[tuple[str, str]]:
    """(URL, what the server must answer: a FileKind or "404") for each request the phone
    makes next, the URL taken from the file and expanded as that phone expands it."""
    if vendor == "yealink":
        # The server URL is a directory: boot file, the model's common file, then <mac>.cfg
        # (MAC in lower case), each appended to it.
        url = parse_settings(body)["static.auto_provision.server.url"]
        return [
            (url + "y000000000000.boot", "absent"),
            (url + f"y{int(model.code):012d}.cfg", "common"),
            (url + f"{mac.lower()}.cfg", "device"),
        ]
    if vendor == "snom":
        # setting_server names the file; the phone puts its MAC, upper case, for {mac}.
        element = xmlread.parse(body).find("phone-settings/setting_server")
        assert element is not None and element.text
        return [(element.text.replace("{mac}", mac.upper()), "device")]
    if vendor == "gigaset" and model.family == "nx70":
        # A server URL: provisioning.xml first, then <MAC>.xml, each after a "/".
        url = xmlread.params(xmlread.parse(body))["Provisioning.global.ProvisioningServer"]
        return [(url + "/provisioning.xml", "404"), (url + f"/{mac.upper()}.xml", "device")]
    if vendor == "gigaset":
        # The URL names the file, %MACD standing for the MAC.
        url = xmlread.params(xmlread.parse(body))["System.Provision.ProvisioningServer"]
        return [(url.replace("%MACD", mac.upper()), "device")]
    assert vendor == "htek"
    # P237 is a directory: cfg<DeviceCode>.xml, cfg<mac>, then cfg<mac>.xml appended to it.
    config_element = xmlread.parse(body).find("config")
    assert config_element is not None
    url = config_element.findtext("P237") or ""
    return [
        (url + f"cfg{int(model.code):04d}.xml", "absent"),
        (url + f"cfg{mac.lower()}", "absent"),
        (url + f"cfg{mac.lower()}.xml", "device"),
    ]


@pytest.mark.parametrize(("vendor", "model_key", "mac"), EVERY_MODEL)
def test_the_url_a_file_names_leads_back_to_the_same_device_file(
    vendor: str, model_key: str, mac: str
) -> None:
    model = VENDORS[vendor].model(model_key)
    assert model is not None
    body = render_phone(config(vendor, model_key, mac))
    for url, expected in next_requests(vendor, model, mac, body):
        match = served(url)
        if expected == "404":
            assert match is None, url
            continue
        assert match is not None, url
        assert match.kind == expected, url
        assert VENDORS[vendor] in match.vendors, url
        if expected == "device":
            assert match.mac == mac, url
        if expected == "common":
            assert match.model is not None and match.model.code == model.code, url


def test_the_snom_index_file_leads_to_the_device_file() -> None:
    vendor = VENDORS["snom"]
    model = vendor.model("D785")
    assert model is not None
    rule = next(rule for rule in vendor.files if rule.kind == "common")
    body = render.render_common(vendor, model, rule.template, BASE_URL)
    element = xmlread.parse(body).find("file")
    assert element is not None
    match = served(element.attrib["url"].replace("{mac}", "000413922D24"))
    assert match is not None and match.kind == "device" and match.mac == "000413922d24"
    assert match.rule_of(vendor).pattern.startswith("snom")


# --- transports ------------------------------------------------------------------------------

# A transport the vendor's file cannot say: refused (UnsupportedSetting), never written as
# another one.
TRANSPORT_REFUSED = {("Maxwell", "tcp")}


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
@pytest.mark.parametrize(("vendor", "model_key", "mac"), EVERY_MODEL)
def test_every_transport_is_read_back_or_refused(
    vendor: str, model_key: str, mac: str, transport: str
) -> None:
    base = config(vendor, model_key, mac)
    phone = dataclasses.replace(
        base, account=dataclasses.replace(base.account, transport=transport)
    )
    if (model_key.split()[0], transport) in TRANSPORT_REFUSED:
        with pytest.raises(UnsupportedSetting, match=r"Gigaset Maxwell: transport='tcp' is not"):
            render_phone(phone)
        return
    assert VENDORS[vendor].read_account(render_phone(phone)).transport == transport


# --- periodic re-fetch -------------------------------------------------------------------------

# Families without a known key for it: changes reach them by check-sync (resync.py) or reboot.
NO_PERIODIC_FETCH = {"nx70"}


def fetch_interval(vendor: str, model: PhoneModel, body: bytes) -> tuple[int, str] | None:
    """How often the file makes the phone fetch again, as (number, unit), None if it says not."""
    if vendor == "yealink":
        settings = parse_settings(body)
        assert settings["static.auto_provision.repeat.enable"] == "1"
        return int(settings["static.auto_provision.repeat.minutes"]), "minutes"
    if vendor == "snom":
        return int(xmlread.parse(body).findtext("phone-settings/settings_refresh_timer") or 0), "s"
    if vendor == "gigaset":
        period = xmlread.params(xmlread.parse(body)).get("System.Provision.Period")
        return None if period is None else (int(period), "s")
    config_element = xmlread.parse(body).find("config")
    assert config_element is not None
    if config_element.findtext("P194") != "1":  # Htek: 1 = check every P193 minutes
        return None
    return int(config_element.findtext("P193") or 0), "minutes"


@pytest.mark.parametrize(("vendor", "model_key", "mac"), EVERY_MODEL)
def test_every_phone_fetches_again_at_the_configured_interval(
    vendor: str, model_key: str, mac: str
) -> None:
    model = VENDORS[vendor].model(model_key)
    assert model is not None
    base = config(vendor, model_key, mac)
    every_6_hours = dataclasses.replace(base.provisioning, resync_seconds=6 * 3600)
    body = render_phone(dataclasses.replace(base, provisioning=every_6_hours))
    interval = fetch_interval(vendor, model, body)
    if model.family in NO_PERIODIC_FETCH:
        assert interval is None
        return
    assert interval in {(6 * 3600, "s"), (6 * 60, "minutes")}


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


# --- the shape of each vendor's format -------------------------------------------------------


def variants(vendor: str, model_key: str, mac: str) -> list[bytes]:
    """The file as configured by default, over TLS with SRTP and a private CA, and without
    provisioning credentials: every conditional block of the templates once."""
    base = config(vendor, model_key, mac)
    srtp = "optional" if vendor == "htek" else "required"
    trusted_ip = dataclasses.replace(base.provisioning, username=None, password=None)
    return [
        render_phone(base),
        render_phone(dataclasses.replace(base, **secure(base, srtp))),  # type: ignore[arg-type]
        render_phone(dataclasses.replace(base, provisioning=trusted_ip, language="fr")),
    ]


@pytest.mark.parametrize(("vendor", "model_key", "mac"), EVERY_MODEL)
def test_every_file_has_its_vendors_shape(vendor: str, model_key: str, mac: str) -> None:
    model = VENDORS[vendor].model(model_key)
    assert model is not None
    for body in variants(vendor, model_key, mac):
        if vendor == "yealink":
            assert body.startswith(b"#!version:1.0.0.1\n")
            parse_settings(body)  # key = value lines, each key once
            continue
        root = xmlread.parse(body)
        if vendor == "gigaset":
            # <provisioning version="1.1"> with one <nvm> of params (and the Nx70's handset
            # registration, an <oper> holding one): the Nx70's productID is "e2" (Gigaset wiki,
            # N610/N670/N870, https://teamwork.gigaset.com/gigawiki/plugins/viewsource/
            # viewpagesrc.action?pageId=1049428309; wazo-platform/wazo-provd-plugins
            # plugins/wazo_gigaset/Nx70_83_v2_65_0/templates/base.tpl). The Maxwell file names
            # none, as nethesis/tancredi data/templates/gigaset-Maxwell.tmpl for every model
            # (the Gigaset wiki's "mx3b" is one model's).
            assert root.tag == "provisioning" and root.attrib["version"] == "1.1"
            assert root.attrib.get("productID") == ("e2" if model.family == "nx70" else None)
            assert [child.tag for child in root] == ["nvm"]
            nvm = root.find("nvm")
            assert nvm is not None
            names = []
            for element in nvm:
                assert element.tag in {"param", "oper"}, element.tag
                params = [element] if element.tag == "param" else list(element)
                for param in params:
                    assert param.tag == "param" and set(param.attrib) == {"name", "value"}
                    names.append(param.attrib["name"])
            assert len(names) == len(set(names)), names
        elif vendor == "htek":
            # <hl_provision version="1"><config version="1"> holding P-codes only, each once.
            assert root.tag == "hl_provision" and root.attrib["version"] == "1"
            assert [child.tag for child in root] == ["config"]
            tags = [element.tag for element in root[0]]
            assert all(re.fullmatch(r"P\d+", tag) for tag in tags), tags
            assert len(tags) == len(set(tags)), tags
            assert all("para" in element.attrib for element in root[0])
        else:
            # <settings><phone-settings>, then the CA to trust if any; every setting, the
            # per-identity ones (idx=) above all, says who may change it (perm).
            assert root.tag == "settings"
            assert [child.tag for child in root][:1] == ["phone-settings"]
            assert {child.tag for child in root} <= {"phone-settings", "certificates"}
            settings_seen = set()
            for element in root[0]:
                assert "perm" in element.attrib, element.tag
                key = (element.tag, element.attrib.get("idx"))
                assert key not in settings_seen, key
                settings_seen.add(key)
            assert any("idx" in element.attrib for element in root[0])


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
