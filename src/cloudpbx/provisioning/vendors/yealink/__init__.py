"""Yealink T4x/T5x desk phones (firmware ≥ x.85), provisioned with ``<mac>.cfg``.

Files: ``<mac>.cfg`` (everything, authenticated); ``y0000000000XX.cfg`` (the model's common
file: served without any secret so the phone does not retry three times); the boot files
``y000000000000.boot`` / ``<mac>.boot`` answer 404, so the phone falls back to common + MAC file.
Format: ``#!version:1.0.0.1`` then ``key = value`` lines.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudpbx.provisioning import timezones
from cloudpbx.provisioning.phoneconfig import PhoneConfig, SipCredentials
from cloudpbx.provisioning.vendors import tables
from cloudpbx.provisioning.vendors.base import (
    FileRule,
    PhoneModel,
    UserAgentRule,
    Vendor,
    media_encryption,
    trusted_ca_url,
)

# account.1.sip_server.1.transport_type: 0 UDP, 1 TCP, 2 TLS (wazo-platform/wazo-provd-plugins
# plugins/wazo_yealink/v87/common.py _SIP_TRANSPORT; nethesis/tancredi
# data/templates/yealink.tmpl writes 2 with the TLS port).
TRANSPORTS = {"udp": "0", "tcp": "1", "tls": "2"}
TRANSPORT_NAMES = {code: name for name, code in TRANSPORTS.items()}
# account.1.srtp_encryption: "0=Disabled, 1=Optional, 2=Mandatory" (fusionpbx/fusionpbx
# app/yealink/app_config.php, setting yealink_srtp_encryption; the key per line in the Yealink
# Administrator's Guide T2/T4, "SRTP", https://www.easymanua.ls/yealink/sip-t2-series/manual?p=910;
# Wazo's v86 base.tpl and Tancredi's yealink.tmpl write 2 over TLS). "off" writes nothing: the
# phone's default is 0 and files without SRTP stay as they were.
SRTP_ENCRYPTION = {"optional": "1", "required": "2"}
SRTP_NAMES = {code: name for name, code in SRTP_ENCRYPTION.items()} | {"0": "off"}
# lang.gui / lang.wui (wazo-platform/wazo-provd-plugins plugins/wazo_yealink/v87/common.py
# _LOCALE; the Yealink web UI's list as mapped by nethesis/nethvoice-wizard-ui, see
# tests/vendor_values/yealink.tsv).
LANGUAGES = {"de": "German", "fr": "French", "en": "English"}


def _model(key: str, code: str) -> PhoneModel:
    return PhoneModel(key=key, label=key, code=code)


# Model codes of the common files y0000000000XX.cfg, as in the vendor's boot files.
MODELS = (
    _model("T41S", "68"),
    _model("T42S", "67"),
    _model("T46S", "66"),
    _model("T48S", "65"),
    _model("T42U", "116"),
    _model("T43U", "107"),
    _model("T46U", "108"),
    _model("T48U", "109"),
    _model("T53", "95"),
    _model("T53W", "95"),
    _model("T54W", "96"),
    _model("T57W", "97"),
)

FILES = (
    FileRule(
        kind="device",
        pattern=r"(?P<mac>[0-9a-f]{12})\.cfg",
        template="device.cfg.j2",
        samples=("805ec0123456.cfg", "001565F429A4.cfg"),
    ),
    FileRule(
        kind="common",
        pattern=r"y(?!0{12})(?P<code>\d{12})\.cfg",
        template="common.cfg.j2",
        samples=("y000000000096.cfg", "y000000000108.cfg"),
    ),
    FileRule(
        kind="absent",
        pattern=r"(?:y000000000000|[0-9a-f]{12})\.boot",
        template="",
        samples=("y000000000000.boot", "805ec0123456.boot"),
    ),
)

USER_AGENTS = (
    UserAgentRule(
        pattern=r"^[Yy]ealink[\s-]+(?:SIP(?: VP)?-)?(?P<model>\w+)\s+(?P<firmware>\d+(?:\.\d+){3})"
        r"\s+(?P<mac>(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{12})$",
        samples=(
            "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37",
            "Yealink SIP-T38G  38.70.0.125 00:15:65:2f:c3:5e",
            "Yealink SIP VP-T49G 51.80.0.10 00:15:65:4a:a9:38",
            "Yealink SIP-T19P_E2 53.80.0.3 00:15:65:4a:a9:39",
            "Yealink SIP-T77U 185.87.0.10 44:db:d2:bd:b5:69",
            "Yealink W90DM 130.87.0.10 80:5e:c0:d9:c7:44",
            "Yealink SIP-T56A  58.80.0.25 001565f429a4",
        ),
    ),
    # Older firmware (or user_agent_mac.enable = 0) sends no MAC.
    UserAgentRule(
        pattern=r"^[Yy]ealink[\s-]+(?:SIP(?: VP)?-)?(?P<model>\w+)"
        r"\s+(?P<firmware>\d+(?:\.\d+){3})\b",
        samples=("Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0",),
    ),
)


def context(config: PhoneConfig) -> Mapping[str, object]:
    offset = timezones.standard_offset_minutes(config.timezone)
    return {
        "transport": TRANSPORTS[config.account.transport],
        "language": LANGUAGES.get(config.language, "English"),
        "time_zone": timezones.hours_text(offset),
        # The place whose daylight-saving rules the phone applies (see tables.py).
        "time_zone_name": tables.zone_value(config.timezone, "yealink"),
        # local_time.summer_time "0-Disabled, 1-Enabled, 2-Automatic" (Yealink T2/T19/T4/CP860
        # administrator's guide, "Daylight Saving Time", https://manualzz.com/doc/o/1v9o8y/
        # yealink-sip-t27p--sip-t29g--sip-t40p-administrator-s-manual-daylight-saving-time):
        # automatic where the zone has daylight saving, off where it has none.
        "summer_time": 2 if timezones.observes_dst(config.timezone) else 0,
        "resync_minutes": max(1, config.provisioning.resync_seconds // 60),
        "srtp_encryption": SRTP_ENCRYPTION.get(media_encryption(config), ""),
        # With a private CA (see the template): static.trusted_certificates.url, the phone's
        # download of up to 10 custom trusted certificates (PEM/CER/CRT/DER); then
        # static.security.trust_certificates = 1, accept only certificates from the trusted
        # list, and static.security.ca_cert = 2, that list being the built-in and the custom
        # ones ("0-Default certificates, 1-Custom certificates, 2-All certificates"). Keys and
        # values from Yealink's own template comments in fusionpbx/fusionpbx
        # resources/templates/provision/yealink/vp59/y000000000091.cfg and .../w80/
        # y000000000175.cfg; nethesis/tancredi data/templates/yealink.tmpl sets the same two
        # (1 and 2); the 10 custom certificates: Yealink SIP-T48G Administrator's Guide,
        # "Configuring Security Features", https://manualarchiveguide.com/manuals/
        # Yealink-SIP-T48G-Administrator-s-Manual-4782213?page=229.
        "trusted_ca_url": trusted_ca_url(config) or "",
    }


def parse_settings(body: bytes) -> dict[str, str]:
    """``key = value`` lines after the mandatory version header; raises ValueError otherwise."""
    text = body.decode("utf-8")
    lines = text.split("\n")
    if lines[0] != "#!version:1.0.0.1":
        raise ValueError("a Yealink file starts with #!version:1.0.0.1")
    settings: dict[str, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, separator, value = line.partition("=")
        key = key.strip()
        if not separator or not key or " " in key:
            raise ValueError(f"line {number} is not 'key = value': {line!r}")
        if key in settings:
            raise ValueError(f"line {number} repeats {key}")
        settings[key] = value.strip()
    return settings


def read_account(body: bytes) -> SipCredentials:
    settings = parse_settings(body)
    return SipCredentials(
        username=settings["account.1.user_name"],
        auth_name=settings["account.1.auth_name"],
        password=settings["account.1.password"],
        registrar=settings["account.1.sip_server.1.address"],
        port=int(settings["account.1.sip_server.1.port"]),
        transport=TRANSPORT_NAMES[settings["account.1.sip_server.1.transport_type"]],
        media_encryption=SRTP_NAMES[settings.get("account.1.srtp_encryption", "0")],
    )


VENDOR = Vendor(
    key="yealink",
    name="Yealink",
    models=MODELS,
    has_redirect_api=True,
    files=FILES,
    user_agents=USER_AGENTS,
    mac_case="lower",
    # The NOTIFY sent after every saved change (resync.py). With sip.notify_reboot_enable = 0
    # (device.cfg.j2) the phone re-fetches its files on "Event: check-sync" and reboots only
    # if the event adds reboot=true (Yealink SIP-T2 Series user guide, "Configuring the Update
    # Mode", http://38.142.81.21:8001/manual/yealink/sip-t2-series/user-guide-english/
    # page-51.html; "0-Disabled, 1-Enabled (default)" in Yealink's template comments,
    # fusionpbx/fusionpbx resources/templates/provision/yealink/t19p/y000000000053.cfg;
    # wazo-platform/wazo-provd-plugins plugins/wazo_yealink/v83/templates/base.tpl sets 0).
    # The event is FusionPBX's for a Yealink check_sync (fusionpbx/fusionpbx
    # app/switch/resources/scripts/app/event_notify/index.lua).
    check_sync_event="check-sync;reboot=false",
    installs_private_ca=True,
    context=context,
    read_account=read_account,
)
