"""Snom D7xx/D8xx desk phones (firmware ≥ 10), provisioned with ``snom<MODEL>-<MAC>.htm``.

Handed a bare server URL (DHCP option 66), a Snom phone fetches ``snom<MODEL>.htm`` (answered
with a secret-free index) and then ``snom<MODEL>-<MAC>.htm``; ``setting_server`` set by us
points at the latter with Snom's ``{mac}`` placeholder. ``<MAC>.xml`` holds the same settings.
MACs are UPPERCASE in Snom file names; input in any case is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudpbx.provisioning.phoneconfig import PhoneConfig, SipCredentials
from cloudpbx.provisioning.vendors import tables, xmlread
from cloudpbx.provisioning.vendors.base import (
    FileRule,
    UserAgentRule,
    Vendor,
    media_encryption,
    models_of,
    trusted_ca_url,
)

XML = "application/xml; charset=utf-8"
# <language> / <web_language> (wazo-platform/wazo-provd-plugins plugins/wazo_snom/common/
# common.py _LOCALE; nethesis/tancredi data/templates/snom.macros; the Snom web UI's list as
# mapped by nethesis/nethvoice-wizard-ui, see tests/vendor_values/snom.tsv).
LANGUAGES = {"de": "Deutsch", "fr": "Français", "en": "English"}
TONE_SCHEMES = {"DE": "GER", "FR": "FRA", "AT": "AUT", "CH": "SWI", "GB": "GBR"}
# Per identity: <user_srtp idx="1"> on/off turns SRTP on, <user_savp idx="1"> says how it is
# offered: "mandatory" RTP/SAVP only, "optional" (also plain RTP/AVP). Wazo writes on +
# mandatory over TLS (wazo-platform/wazo-provd-plugins plugins/wazo_snom/common/templates/
# base.tpl); on + optional in circls/apps provisioner/DEVELOP/snom_template_xml.php; the same
# off/optional/mandatory list is used by other public Snom templates. Snom's own page for
# user_savp was not found in the stored copies. "off" writes nothing (the phone's default).
SAVP = {"optional": "optional", "required": "mandatory"}
SAVP_NAMES = {value: name for name, value in SAVP.items()}

FILES = (
    FileRule(
        kind="device",
        pattern=r"snom(?P<model>[a-z0-9]+)-(?P<mac>[0-9a-f]{12})\.htm",
        template="device.xml.j2",
        samples=("snomD785-000413922D24.htm", "snomD717-00041396d9b4.htm"),
        content_type=XML,
    ),
    FileRule(
        kind="device",
        pattern=r"(?P<mac>[0-9a-f]{12})\.xml",
        template="device.xml.j2",
        samples=("000413922D24.xml",),
        content_type=XML,
    ),
    FileRule(
        kind="common",
        pattern=r"snom(?P<model>[a-z0-9]+)\.htm",
        template="common.htm.j2",
        samples=("snomD785.htm", "snomD717.htm"),
        content_type=XML,
    ),
)

USER_AGENTS = (
    UserAgentRule(
        pattern=r"\bsnom(?P<model>\w+)-SIP\s+(?P<firmware>\d+(?:\.\d+)+)\b.*?"
        r"(?<![0-9A-Fa-f])(?P<mac>[0-9A-F]{12})(?=[\s)])",
        samples=(
            "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 "
            "000413922D24 SXM:0 UXM:0)",
            "Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12-00001-gd311851f1 "
            "(Feb 25 2019 - 14:19:43) 00041396D9B4 SXM:0 UXM:0 UXMC:0)",
            "Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35 1.1.5-IFX-05.01.12 000413741767)",
        ),
    ),
    # Older firmware sends no MAC.
    UserAgentRule(
        pattern=r"\bsnom(?P<model>\w+)-SIP\s+(?P<firmware>\d+(?:\.\d+)+)",
        samples=(
            "Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)",
            "Mozilla/4.0 (compatible; snom870-SIP 8.4.35 SPEAr300 SNOM 1.4)",
        ),
    ),
)


def context(config: PhoneConfig) -> Mapping[str, object]:
    account = config.account
    return {
        "language": LANGUAGES.get(config.language, "English"),
        "tone_scheme": TONE_SCHEMES.get(config.country, "GER"),
        # Country code + standard offset; it decides the daylight-saving rules too (tables.py).
        "timezone": tables.zone_value(config.timezone, "snom"),
        "outbound": f"{account.registrar}:{account.port};transport={account.transport}",
        "savp": SAVP.get(media_encryption(config), ""),
        # <certificates><certificate url="…"/></certificates> inside <settings>, after
        # <phone-settings>: the phone downloads it into its trusted list once all files are
        # processed (Snom, "Can I use self-signed certificates for secure provisioning",
        # https://service.snom.com/display/wiki/Can+I+use+self-signed+certificates+for+secure+provisioning;
        # Gigaset's wiki for the Snom-based P-series, https://teamwork.gigaset.com/gigawiki/
        # plugins/viewsource/viewpagesrc.action?pageId=1517322424). Their URL examples are DER
        # files (.DER, ca-root.der in circls/apps' template): that a PEM URL is taken is not
        # confirmed.
        "trusted_ca_url": trusted_ca_url(config) or "",
    }


def read_account(body: bytes) -> SipCredentials:
    settings = xmlread.parse(body).find("phone-settings")
    if settings is None:
        raise ValueError("no <phone-settings>")

    def line_1(tag: str, default: str | None = None) -> str:
        for element in settings.iter(tag):
            if element.attrib.get("idx") == "1":
                return element.text or ""
        if default is None:
            raise KeyError(tag)
        return default

    host_port, _, parameters = line_1("user_outbound").partition(";")
    _host, _, port = host_port.rpartition(":")
    return SipCredentials(
        username=line_1("user_name"),
        auth_name=line_1("user_pname"),
        password=line_1("user_pass"),
        registrar=line_1("user_host"),
        port=int(port),
        transport=parameters.removeprefix("transport="),
        media_encryption=(
            SAVP_NAMES[line_1("user_savp")] if line_1("user_srtp", "off") == "on" else "off"
        ),
    )


VENDOR = Vendor(
    key="snom",
    name="Snom",
    models=models_of("D713", "D715", "D717", "D735", "D785", "D862", "D865"),
    has_redirect_api=True,
    redirect_path="snom{model}-{mac}.htm",
    files=FILES,
    user_agents=USER_AGENTS,
    mac_case="upper",
    installs_private_ca=True,
    # Other provisioning servers cap Snom's HTTP password at 20 characters for the phones'
    # sake (the comparison behind issue 13); not confirmed in a Snom document.
    acs_password_max_length=20,
    context=context,
    read_account=read_account,
)
