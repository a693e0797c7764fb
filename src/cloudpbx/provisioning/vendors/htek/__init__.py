"""Htek UC9xx desk phones, provisioned with ``cfg<mac>.xml``. Htek has no redirect API.

The phone asks for ``cfg<DeviceCode>.xml``, then ``cfg<mac>`` (an encrypted backup format),
then ``cfg<mac>.xml``. Some firmware stops at the first file it gets, so the model file and
the encrypted one answer 404: everything, secrets included, is in ``cfg<mac>.xml`` only.
MACs are lowercase in Htek file names (the phone requires it); input in any case is accepted.

SRTP is refused (:class:`UnsupportedSetting`): the key is known, ``<P183
para="Profile1_SRtpMode">`` (wazo-platform/wazo-provd-plugins plugins/wazo_htek/v2_0_4_6_41/
templates/base.tpl; fusionpbx/fusionpbx resources/templates/provision/htek/uc926/{$mac}.cfg),
but only its value 0 (off) appears in public sources; what 1 and 2 mean on an Htek was not
found, so no value is guessed. A private CA cannot be handed over either: no trusted-certificate
parameter was found (``installs_private_ca`` is False; the operator uploads it in the web UI).
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
# P130 "0-UDP (default), 1-TCP, 2-TLS, 3-DNS SRV" (fusionpbx/fusionpbx
# resources/templates/provision/htek/uc926/{$mac}.cfg; wazo_htek/common/common.py alike).
TRANSPORTS = {"udp": "0", "tcp": "1", "tls": "2"}
# P2525 (web) and P8621 (display) language: numeric codes, 0 English, 1 French, 2 German
# (nethesis/tancredi data/templates/sangoma.macros `language`, for the Htek-made Sangoma
# phones with the same P-codes; 0 in fusionpbx/fusionpbx resources/templates/provision/htek/
# uc926/{$mac}.cfg). Htek's own list was not found: see docs/provisioning.md, Known limits.
LANGUAGES = {"en": "0", "fr": "1", "de": "2"}
# P64 time zone: a numbered list of places. Codes known for a place, which carries its
# daylight-saving rules (nethesis/tancredi data/templates/sangoma.macros `timezone`), for the
# zones with the same clock all year...
CITY_TIME_ZONES = {
    "UTC": "33", "Europe/London": "39", "Europe/Berlin": "50", "Europe/Rome": "52",
    "America/Mexico_City": "13",
}  # fmt: skip
# ...else a code by standard UTC offset in minutes (wazo-platform/wazo-provd-plugins
# plugins/wazo_htek/common/common.py _TZ_INFO; 6, 10, 14, 18 are PST, MST, CST, EST in
# fusionpbx/fusionpbx app/htek/app_config.php htek_time_zone). None for another offset: the
# phone keeps its own.
TIME_ZONES = {
    -660: "105", -600: "2", -540: "3", -480: "6", -420: "10", -360: "14", -300: "18",
    -270: "19", -240: "20", -210: "26", -180: "30", -120: "31", -60: "32", 0: "33", 60: "49",
    120: "57", 180: "73", 210: "74", 240: "77", 300: "83", 330: "84", 360: "85", 420: "88",
    480: "89", 540: "93", 570: "94", 600: "96", 630: "100", 660: "101", 720: "102",
}  # fmt: skip


# Periodic re-fetch: P194 "FirmwareUpGrade.AutoUpgrade" 1 = check every P193 minutes,
# P193 "FirmwareUpGrade.CheckUpgradeTimes" the interval in minutes (fusionpbx/fusionpbx
# resources/templates/provision/htek/uc926/{$mac}.cfg: 1 and 10080, a week; nethesis/tancredi
# data/templates/sangoma.tmpl for the Htek-made Sangoma phones, same P-codes: P194 1 and P193
# from sangoma.macros upgrade_wait_minutes, in minutes). The scheme is Grandstream's:
# "Automatic Upgrade: Yes, every N minutes", P193 "Auto Check Interval" (Grandstream DP715/
# DP710 user manual, p. 50, http://38.142.81.21:8001/manual/grandstream-networks/
# ip-phone-dp710/user-manual-english/page-50.html).


def _model(key: str, code: str) -> PhoneModel:
    return PhoneModel(key=key, label=key, code=code)


MODELS = (
    _model("UC902", "17"),
    _model("UC903", "16"),
    _model("UC912", "19"),
    _model("UC912E", "19"),
    _model("UC912G", "19"),
    _model("UC923", "13"),
    _model("UC924", "12"),
    _model("UC926", "10"),
)

FILES = (
    FileRule(
        kind="device",
        pattern=r"cfg(?P<mac>[0-9a-f]{12})\.xml",
        template="device.xml.j2",
        samples=("cfg001fc110d3a9.xml", "cfg001FC110D3A9.xml"),
        content_type=XML,
    ),
    FileRule(
        kind="absent",
        pattern=r"cfg(?:\d{4}\.xml|[0-9a-f]{12})",
        template="",
        samples=("cfg0010.xml", "cfg001fc110d3a9"),
    ),
)

USER_AGENTS = (
    UserAgentRule(
        pattern=r"^Htek (?P<model>\S+) (?P<firmware>\S+) "
        r"(?P<mac>(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})$",
        samples=("Htek UC926 2.0.4.2 00:1f:c1:00:00:00", "Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9"),
    ),
)


def _time_zone(zone: str) -> str:
    city = timezones.closest_zone(zone, CITY_TIME_ZONES)
    if city is not None and timezones.same_clock(city, zone):
        return CITY_TIME_ZONES[city]
    return TIME_ZONES.get(timezones.standard_offset_minutes(zone), "")


def context(config: PhoneConfig) -> Mapping[str, object]:
    mode = media_encryption(config)
    # "optional" holds without a key: the relay offers SRTP opportunistically and accepts the
    # phone's plain answer. Only "required" needs the phone set, which cannot be said here.
    if mode == "required":
        raise UnsupportedSetting(
            "Htek", "media_encryption", mode, "the values of P183 (SRTP mode) are not verified"
        )
    base_url = config.provisioning.base_url
    return {
        "transport": TRANSPORTS[config.account.transport],
        "language": LANGUAGES.get(config.language, LANGUAGES["en"]),
        "time_zone": _time_zone(config.timezone),
        # P75 daylight saving "off=0 on=1 auto=2" (fusionpbx/fusionpbx app/htek/app_config.php
        # htek_dst; wazo_htek/v2_0_4_6_41/templates/base.tpl writes 2): automatic where the
        # zone has daylight saving (P64's place's rules), off where it has none.
        "daylight_saving": "2" if timezones.observes_dst(config.timezone) else "0",
        "resync_minutes": max(1, config.provisioning.resync_seconds // 60),
        # P212 as in working configurations: 3 with an https:// server, 1 with http://.
        "upgrade_mode": "3" if base_url.startswith("https://") else "1",
    }


def read_account(body: bytes) -> SipCredentials:
    config = xmlread.parse(body).find("config")
    if config is None:
        raise ValueError("no <config>")
    values = {element.tag: element.text or "" for element in config}
    host, _, port = values["P47"].rpartition(":")
    transports = {code: name for name, code in TRANSPORTS.items()}
    return SipCredentials(
        username=values["P35"],
        auth_name=values["P36"],
        password=values["P34"],
        registrar=host,
        port=int(port),
        transport=transports[values["P130"]],
        media_encryption="off" if values.get("P183", "0") == "0" else "unknown",
    )


VENDOR = Vendor(
    key="htek",
    name="Htek",
    models=MODELS,
    has_redirect_api=False,
    redirect_portal="RPS",
    files=FILES,
    user_agents=USER_AGENTS,
    mac_case="lower",
    requires_srtp=False,  # P183's values are not verified (see context)
    context=context,
    read_account=read_account,
)
