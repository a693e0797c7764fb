"""What each vendor's file makes its phones do next, checked against what the phones do:
re-sync without reboot, the URL of the next fetch, the transport, periodic re-fetch, and the
shape of the vendor's format, for every model."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from cloudpbx.provisioning import identify, render
from cloudpbx.provisioning.services import resync
from cloudpbx.provisioning.tests.test_engine import DECT_BASE, config, render_phone, secure
from cloudpbx.provisioning.vendors import VENDORS, xmlread
from cloudpbx.provisioning.vendors.base import PhoneModel, UnsupportedSetting
from cloudpbx.provisioning.vendors.yealink import parse_settings
from cloudpbx.sip import check_sync

BASE_URL = "https://pbx.example.net/prov"  # the base URL of test_engine.config
OUI = {"yealink": "805ec0", "snom": "000413", "gigaset": "7c2f80", "htek": "001fc1"}
EVERY_MODEL = [
    (vendor.key, model.key, OUI[vendor.key] + f"{number:06x}")
    for vendor in VENDORS.values()
    for number, model in enumerate(vendor.models, start=0xA0B0C0)
]

# --- re-sync after a saved change ------------------------------------------------------------


def test_yealink_re_fetches_on_check_sync_without_rebooting() -> None:
    values = parse_settings(render_phone(config("yealink", "T54W", "805ec0123456")))
    assert values["sip.notify_reboot_enable"] == "0"
    assert VENDORS["yealink"].check_sync_event == "check-sync;reboot=false"
    device: Any = SimpleNamespace(manufacturer="yealink")
    event = resync.check_sync_event(device)
    headers = check_sync.notify_headers("tq3xk7m2pw9a", "pbx.example.net", event).split("\r\n")
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


# --- the shape of each vendor's format -------------------------------------------------------


def variants(vendor: str, model_key: str, mac: str) -> list[bytes]:
    """The file as configured by default, over TLS with SRTP and a private CA, and without
    provisioning credentials: every conditional block of the templates once."""
    base = config(vendor, model_key, mac)
    srtp = "optional" if vendor == "htek" else "required"
    trusted_ip = dataclasses.replace(base.provisioning, username=None, password=None)
    files = [
        render_phone(base),
        render_phone(dataclasses.replace(base, **secure(base, srtp))),  # type: ignore[arg-type]
        render_phone(dataclasses.replace(base, provisioning=trusted_ip, language="fr")),
    ]
    model = VENDORS[vendor].model(model_key)
    if model is not None and model.is_dect_base:  # with handsets and the registration window
        files.append(render_phone(dataclasses.replace(base, **DECT_BASE)))  # type: ignore[arg-type]
    return files


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
            # Each param once; an operation (a handset's add_hs, the registration window's
            # update_dm) once per value, its own params once each within it.
            nvm = root.find("nvm")
            assert nvm is not None
            names, operations = [], []
            for element in nvm:
                assert element.tag in {"param", "oper"}, element.tag
                if element.tag == "oper":
                    operations.append((element.attrib["name"], element.attrib.get("value")))
                    assert set(element.attrib) <= {"name", "value"}, element.attrib
                params = [element] if element.tag == "param" else list(element)
                for param in params:
                    assert param.tag == "param" and set(param.attrib) == {"name", "value"}
                inside = [param.attrib["name"] for param in element if element.tag == "oper"]
                assert len(inside) == len(set(inside)), inside
                if element.tag == "param":
                    names.append(element.attrib["name"])
            assert len(names) == len(set(names)), names
            assert len(operations) == len(set(operations)), operations
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
