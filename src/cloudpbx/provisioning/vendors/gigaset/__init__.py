"""Gigaset DECT IP base stations (N670/N870 and Maxwell), provisioned with ``<mac>.xml``.

The Nx70 multicell systems and the Maxwell desk phones use two different parameter sets
(``families/nx70`` and ``families/maxwell`` templates). Gigaset authenticates with HTTP Digest
only; after a 401 the device first tries its built-in credentials (username = its MAC), then
the ones typed in its web UI ("Server Authentication"): no known parameter sets them from the
file, so the ACS credentials are typed once on the device.

A private CA cannot be handed over in the file either: Gigaset's wiki shows the certificate
lists (Server / CA certificates, "Accept all certificates") in the Nx70 web UI only
(https://teamwork.gigaset.com/gigawiki/pages/diffpages.action?pageId=1049428259&originalId=1011187883)
and no provisioning parameter for them was found for either family, so ``installs_private_ca``
is False and the operator uploads the CA in the web UI.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudpbx.provisioning import timezones
from cloudpbx.provisioning.phoneconfig import PhoneConfig, SipCredentials
from cloudpbx.provisioning.vendors import xmlread
from cloudpbx.provisioning.vendors.base import (
    FileRule,
    PhoneModel,
    UnsupportedSetting,
    UserAgentRule,
    Vendor,
    media_encryption,
)

XML = "application/xml; charset=utf-8"
# SipProvider.0.TransportProtocol 1 UDP, 2 TCP, 3 TLS (wazo-platform/wazo-provd-plugins
# plugins/wazo_gigaset/Nx70_83_v2_65_0/common.py _SIP_TRANSPORT).
NX70_TRANSPORTS = {"udp": "1", "tcp": "2", "tls": "3"}
NX70_TONE_SCHEMES = {"DE": "Germany", "FR": "France"}
# Maxwell SIP.TransportProtocol: 2 = TLS, 1 otherwise (nethesis/tancredi
# data/templates/gigaset-Maxwell.tmpl), so 1 = UDP. No public source gives the value for TCP
# (Tancredi never writes one; the Gigaset wiki's Maxwell examples leave the key out): TCP is
# refused (UnsupportedSetting) rather than written as UDP.
MAXWELL_TRANSPORTS = {"udp": "1", "tls": "2"}
MAXWELL_TRANSPORT_NAMES = {code: name for name, code in MAXWELL_TRANSPORTS.items()}
# SRTP, as (SRTP on, accept calls without SRTP); "off" writes nothing (the default, off).
# Nx70: SipProvider.0.SRTP_Enabled and SipProvider.0.AcceptNonSRTPCalls, 0/1
# (wazo-platform/wazo-provd-plugins plugins/wazo_gigaset/Nx70_83_v2_65_0/templates/base.tpl:
# SRTP_Enabled 1 over TLS, AcceptNonSRTPCalls 0).
# Maxwell: SIP.Security.SRTP and SIP.Security.AcceptNonSRTPCalls, 0/1 (nethesis/tancredi
# data/templates/gigaset-Maxwell.tmpl: 1 and 0 with encryption, 0 and 1 without).
# "optional" is SRTP with non-SRTP calls accepted, "required" refuses them.
SRTP = {"optional": ("1", "1"), "required": ("1", "0")}
SRTP_NAMES = {value: name for name, value in SRTP.items()}
# System.Provision.Period: how often the Maxwell fetches its file again
# (nethesis/tancredi data/templates/gigaset-Maxwell.tmpl writes 600 until provisioning is
# complete, then 0 for never). Its unit is not documented in the sources found: seconds is
# the reading that fits 600 as a "soon" value; should it be minutes, the phone fetches less
# often than configured, never more. The Nx70 has no known key for it: check-sync and reboots.

# PhoneUI.Settings.Language / WebUI.Language: the Maxwell web UI's list as mapped by
# nethesis/nethvoice-wizard-ui (tests/vendor_values/gigaset.tsv); nethesis/tancredi
# data/templates/gigaset.macros writes en-us and it-it.
MAXWELL_LANGUAGES = {"de": "de-de", "fr": "fr-fr", "en": "en-us"}

# Time zones, each a value of the vendor's list in order of preference: a customer's zone gets
# its own, else one with the same clock all year, else the same standard offset
# (timezones.closest_zone); none if the list has no zone at that offset.
# Nx70 DmGlobal.0.TimeZone: an IANA name the base accepts (wazo-platform/wazo-provd-plugins
# plugins/wazo_gigaset/Nx70_83_v2_65_0/common.py _VALID_TZ_GIGASET; "UTC" is not one).
NX70_ZONES = (
    "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
    "America/Chicago", "America/New_York", "America/Caracas", "America/Sao_Paulo", "Europe/Belfast",
    "Europe/Dublin", "Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey", "Europe/Lisbon",
    "Europe/London", "Greenwich", "Europe/Amsterdam", "Europe/Andorra", "Europe/Belgrade",
    "Europe/Berlin", "Europe/Bratislava", "Europe/Brussels", "Europe/Budapest", "Europe/Busingen",
    "Europe/Copenhagen", "Europe/Gibraltar", "Europe/Ljubljana", "Europe/Luxembourg",
    "Europe/Madrid", "Europe/Malta", "Europe/Monaco", "Europe/Oslo", "Europe/Paris",
    "Europe/Podgorica", "Europe/Prague", "Europe/Rome", "Europe/San_Marino", "Europe/Sarajevo",
    "Europe/Skopje", "Europe/Stockholm", "Europe/Tirane", "Europe/Vaduz", "Europe/Vatican",
    "Europe/Vienna", "Europe/Warsaw", "Europe/Zagreb", "Europe/Zurich", "Africa/Cairo",
    "Europe/Athens", "Europe/Bucharest", "Europe/Chisinau", "Europe/Helsinki", "Europe/Kaliningrad",
    "Europe/Kiev", "Europe/Mariehamn", "Europe/Nicosia", "Europe/Riga", "Europe/Sofia",
    "Europe/Tallinn", "Europe/Tiraspol", "Europe/Uzhgorod", "Europe/Vilnius", "Europe/Zaporozhye",
    "Europe/Istanbul", "Europe/Kirov", "Europe/Minsk", "Europe/Moscow", "Europe/Simferopol",
    "Europe/Volgograd", "Asia/Dubai", "Europe/Astrakhan", "Europe/Samara", "Europe/Ulyanovsk",
    "Asia/Karachi", "Asia/Dhaka", "Asia/Hong_Kong", "Asia/Tokyo", "Australia/Adelaide",
    "Australia/Darwin", "Australia/Brisbane", "Australia/Sydney", "Pacific/Noumea",
)  # fmt: skip
# Maxwell System.DateAndTime.TimeZone: "GMT<offset>.<IANA name>", the Maxwell web UI's list as
# mapped by nethesis/nethvoice-wizard-ui (tests/vendor_values/gigaset.tsv; nethesis/tancredi
# data/templates/gigaset.macros uses two of them). Amsterdam first: the UI labels it
# "+1 Germany(Berlin)" and Tancredi gives it for Rome. Left out: the values whose zone's offset
# is no longer the label's (Chihuahua, Godthab, Santiago, Casablanca, Windhoek, Amman, Almaty,
# Magadan) and "GMT+3.Africa/Nairob", no zone.
MAXWELL_ZONES = (
    "GMT-11.Pacific/Midway", "GMT-10.Pacific/Honolulu", "GMT-9.America/Anchorage",
    "GMT-8.America/Tijuana", "GMT-8.America/Los_Angeles", "GMT-7.America/Denver",
    "GMT-7.America/Phoenix", "GMT-6.America/Regina", "GMT-6.America/Costa_Rica",
    "GMT-6.America/Mexico_City", "GMT-6.America/Chicago", "GMT-5.America/Bogota",
    "GMT-5.America/New_York", "GMT-4.America/Halifax", "GMT-4.America/Manaus",
    "GMT-4.America/Barbados", "GMT-3.America/Argentina/Buenos_Aires", "GMT-3.America/Montevideo",
    "GMT-3.America/Sao_Paulo", "GMT-2.Atlantic/South_Georgia", "GMT-1.Atlantic/Azores",
    "GMT-1.Atlantic/Cape_Verde", "GMT.Europe/London", "GMT+1.Europe/Amsterdam",
    "GMT+1.Europe/Brussels", "GMT+1.Europe/Belgrade", "GMT+1.Europe/Sarajevo",
    "GMT+1.Africa/Brazzaville", "GMT+2.Europe/Athens", "GMT+2.Africa/Cairo", "GMT+2.Asia/Beirut",
    "GMT+2.Europe/Helsinki", "GMT+2.Asia/Jerusalem", "GMT+2.Africa/Harare", "GMT+3.Asia/Kuwait",
    "GMT+3.Asia/Baghdad", "GMT+3.Europe/Moscow", "GMT+3.Europe/Minsk", "GMT+4.Asia/Yerevan",
    "GMT+4.Asia/Baku", "GMT+4.Asia/Tbilisi", "GMT+4.Asia/Dubai", "GMT+5.Asia/Karachi",
    "GMT+5.Asia/Oral", "GMT+5.Asia/Yekaterinburg", "GMT+7.Asia/Krasnoyarsk", "GMT+7.Asia/Bangkok",
    "GMT+8.Asia/Shanghai", "GMT+8.Asia/Hong_Kong", "GMT+8.Asia/Taipei", "GMT+8.Asia/Kuala_Lumpur",
    "GMT+8.Asia/Irkutsk", "GMT+8.Australia/Perth", "GMT+9.Asia/Seoul", "GMT+9.Asia/Tokyo",
    "GMT+9.Asia/Yakutsk", "GMT+10.Pacific/Guam", "GMT+10.Australia/Sydney",
    "GMT+10.Australia/Brisbane", "GMT+10.Australia/Hobart", "GMT+10.Asia/Vladivostok",
    "Australia/Lord_Howe", "GMT+12.Pacific/Fiji", "GMT+12.Pacific/Auckland",
    "GMT+12.Pacific/Majuro", "GMT+13.Pacific/Tongatapu",
)  # fmt: skip
_MAXWELL_ZONE_OF = {
    value.partition(".")[2] if "." in value else value: value for value in MAXWELL_ZONES
}


# Handsets per DECT base (each its own SIP account and terminal). The N670 is a single-cell
# base: Gigaset recommends at most 20 handsets per DECT base (Gigaset wiki, N610/N670/N870
# system sizes, https://teamwork.gigaset.com/gigawiki/plugins/viewsource/
# viewpagesrc.action?pageId=826896322). The N870/N870E in the All-in-one role (integrator,
# DECT manager and base in one device, the role this server provisions: see
# docs/provisioning.md) manage up to 250 handsets per Gigaset's N870 IP PRO data sheet; that
# figure was not found in the sources stored here. The Maxwell desk phones are no base.
N670_HANDSETS = 20
N870_HANDSETS = 250
# How long a base accepts new handsets once one is added (update_dm RegDuration, seconds;
# wazo-platform/wazo-provd-plugins plugins/wazo-gigaset/Nx70-83.v2.49.1/templates/base.tpl
# opens 900 s from RegStart, a Unix time).
REGISTRATION_WINDOW_SECONDS = 900


def _nx70(key: str, handsets: int) -> PhoneModel:
    return PhoneModel(key=key, label=f"{key} IP PRO", family="nx70", handsets=handsets)


def _maxwell(key: str) -> PhoneModel:
    return PhoneModel(key=key, label=key, family="maxwell")


MODELS = (
    _nx70("N670", N670_HANDSETS),
    _nx70("N870", N870_HANDSETS),
    _nx70("N870E", N870_HANDSETS),
    _maxwell("Maxwell Basic"),
    _maxwell("Maxwell 2"),
    _maxwell("Maxwell 3"),
    _maxwell("Maxwell 4"),
)

# Nx70: Provisioning.global.ProvisioningServer is the server URL without a trailing slash
# (wazo-platform/wazo-provd-plugins plugins/wazo_gigaset/Nx70_83_v2_65_0/common.py
# _add_xx_vars, XX_server_url = http_base_url; its base.tpl appends "/<file>" to it). Given a
# server URL, the base asks for "<URL>/provisioning.xml" and, when that is missing (our 404),
# for "<URL>/<MAC>.xml" (Gigaset wiki, N870/N670 provisioning flow,
# https://teamwork.gigaset.com/gigawiki/pages/viewpage.action?pageId=1268679466).
# Maxwell: the URL names the file, "%MACD" standing for the MAC (Gigaset wiki, Maxwell
# provisioning URLs, https://teamwork.gigaset.com/gigawiki/plugins/viewsource/
# viewpagesrc.action?pageId=788006157).
FILES = (
    FileRule(
        kind="device",
        pattern=r"(?P<mac>[0-9a-f]{12})\.xml",
        template="device.xml.j2",
        samples=("7c2f80e0d605.xml", "589EC6123456.xml"),
        content_type=XML,
    ),
)

USER_AGENTS = (
    # Nx70 and N510 name themselves; the Maxwell User-Agent is not documented (no rule).
    UserAgentRule(
        pattern=r'^"?(?:Gigaset )?(?P<model>N\d{3}E?)(?:[ -]IP[ -]PRO|[ -]DM[ -]PRO)?/'
        r'(?P<firmware>[\w.+]+?)(?:;(?P<mac>[0-9A-Fa-f]{12}))?(?:;Handset=\d+)?"?$',
        samples=(
            "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605",
            "N510 IP PRO/42.245.00.000.000;7C2F804DF9A9",
            "Gigaset N720 DM PRO/70.108.00.000.000",
            "N720-DM-PRO/70.040.00.000.000",  # older firmware (wazo_gigaset/common/common.py)
        ),
    ),
)


def _family(model_key: str) -> str:
    return next((model.family for model in MODELS if model.key == model_key), "")


def context(config: PhoneConfig) -> Mapping[str, object]:
    account = config.account
    srtp = SRTP.get(media_encryption(config), ())
    if _family(config.model) == "maxwell":
        transport = MAXWELL_TRANSPORTS.get(account.transport)
        if transport is None:
            raise UnsupportedSetting(
                "Gigaset Maxwell",
                "transport",
                account.transport,
                "the value of SIP.TransportProtocol for it is not known",
            )
        zone = timezones.closest_zone(config.timezone, _MAXWELL_ZONE_OF)
        return {
            "maxwell_transport": transport,
            "maxwell_language": MAXWELL_LANGUAGES.get(config.language, "en-us"),
            "maxwell_zone": _MAXWELL_ZONE_OF[zone] if zone else "",
            "srtp": srtp,
        }
    for handset in config.handsets:
        # SRTP is a setting of the base's one SIP provider, shared by every handset.
        if handset.account.media_encryption != account.media_encryption:
            raise UnsupportedSetting(
                "Gigaset Nx70",
                f"handset {handset.number} media_encryption",
                handset.account.media_encryption,
                "all handsets of a base share its SRTP setting",
            )
    return {
        "nx70_transport": NX70_TRANSPORTS[account.transport],
        "nx70_tone_scheme": NX70_TONE_SCHEMES.get(config.country, ""),
        "nx70_zone": timezones.closest_zone(config.timezone, NX70_ZONES) or "",
        "handsets": [
            {"index": f"{handset.number:05d}", "pin": dect_pin(handset.account.extension)}
            | {"account": handset.account}
            for handset in config.every_handset
        ],
        "srtp": srtp,
    }


def dect_pin(extension: str) -> str:
    """A handset's registration PIN (DECT_AC): the last four digits of its extension, 0000
    without one (wazo-platform/wazo-provd-plugins plugins/wazo-gigaset/Nx70-83.v2.49.1/
    common.py _add_ac_code)."""
    digits = "".join(ch for ch in extension if ch.isdigit())
    return digits[-4:].rjust(4, "0") if digits else "0000"


def _srtp(values: dict[str, str], enabled: str, accept_plain: str) -> str:
    if values.get(enabled, "0") == "0":
        return "off"
    return SRTP_NAMES[(values[enabled], values[accept_plain])]


def read_handsets(body: bytes) -> dict[int, SipCredentials]:
    """Every handset's account in an Nx70 file (all on SIP provider 0), by handset number;
    a Maxwell's one account as handset 1."""
    values = xmlread.params(xmlread.parse(body))
    if "SipAccount.00001.UserName" not in values:
        return {1: read_account(body)}
    transports = {code: name for name, code in NX70_TRANSPORTS.items()}
    numbers = sorted(
        int(name.split(".")[1])
        for name in values
        if name.startswith("SipAccount.") and name.endswith(".UserName")
    )
    accounts = {}
    for number in numbers:
        key = f"SipAccount.{number:05d}"
        accounts[number] = SipCredentials(
            username=values[f"{key}.UserName"],
            auth_name=values[f"{key}.AuthName"],
            password=values[f"{key}.AuthPassword"],
            registrar=values["SipProvider.0.RegServerAddress"],
            port=int(values["SipProvider.0.RegServerPort"]),
            transport=transports[values["SipProvider.0.TransportProtocol"]],
            media_encryption=_srtp(
                values, "SipProvider.0.SRTP_Enabled", "SipProvider.0.AcceptNonSRTPCalls"
            ),
        )
    return accounts


def read_account(body: bytes) -> SipCredentials:
    values = xmlread.params(xmlread.parse(body))
    if "SipAccount.00001.UserName" in values:  # Nx70: handset 1, the base's own terminal
        return read_handsets(body)[1]
    return SipCredentials(  # Maxwell
        username=values["SIP.Account.0.Username"],
        auth_name=values["SIP.Account.0.AuthName"],
        password=values["SIP.Account.0.AuthPassword"],
        registrar=values["SIP.Account.0.RegistrationServer.Address"],
        port=int(values["SIP.Account.0.RegistrationServer.Port"]),
        transport=MAXWELL_TRANSPORT_NAMES[values["SIP.TransportProtocol"]],
        media_encryption=_srtp(values, "SIP.Security.SRTP", "SIP.Security.AcceptNonSRTPCalls"),
    )


VENDOR = Vendor(
    key="gigaset",
    name="Gigaset",
    models=MODELS,
    has_redirect_api=True,
    redirect_path="%MACD.xml",
    files=FILES,
    user_agents=USER_AGENTS,
    mac_case="lower",
    handset_registration_seconds=REGISTRATION_WINDOW_SECONDS,
    handset_pin=dect_pin,
    context=context,
    read_account=read_account,
    read_handsets=read_handsets,
)
