"""Linphone's remote-provisioning file (lpconfig XML) for an app terminal. Django-free.

The app gets the HA1 with its realm, never the clear password (Linphone registers with an
``ha1`` when ``realm`` is next to it; see ../shared/reference/real-clients-notes.md).

SRTP (SDES) is a core setting in liblinphone, not an account one: ``[sip] media_encryption``
("none" | "srtp" | "zrtp" | "dtls") and ``[sip] media_encryption_mandatory`` (0/1), read by
``linphone_core_get_media_encryption`` and ``linphone_core_is_media_encryption_mandatory``
(BelledonneCommunications/liblinphone coreapi/linphonecore.c, alike at tag 5.1.73 and at 9896e6c).
A private CA cannot be handed over: ``[sip] root_ca`` is the path of a local file
(``certificates_config_read`` in the same file), and CA data is set through the API only
(``linphone_core_set_root_ca_data``), never from lpconfig. With a private CA the app cannot
verify the server until the CA is installed on the device (or ships in the app).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

NAMESPACE = "http://www.linphone.org/xsds/lpconfig.xsd"
TRANSPORTS = ("udp", "tcp", "tls")
# [sip] entries per SRTP mode; "off" writes none (the app's default is no media encryption).
MEDIA_ENCRYPTION = {
    "off": {},
    "optional": {"media_encryption": "srtp", "media_encryption_mandatory": "0"},
    "required": {"media_encryption": "srtp", "media_encryption_mandatory": "1"},
}


@dataclass(frozen=True)
class LinphoneAccount:
    display_name: str
    username: str
    ha1: str
    realm: str
    domain: str
    proxy_host: str
    proxy_port: int
    transport: str  # "udp" | "tcp" | "tls": reg_proxy is <sip:HOST:PORT;transport=…>
    expires: int = 3600
    media_encryption: str = "off"  # "off" | "optional" | "required" (SDES-SRTP)


def render(account: LinphoneAccount) -> bytes:
    """The lpconfig document; ElementTree escapes every value (names with <, &, quotes).

    Raises ValueError for a transport or SRTP mode it does not know (never written as plain).
    """
    if account.transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}, not {account.transport!r}")
    if account.media_encryption not in MEDIA_ENCRYPTION:
        raise ValueError(f"unknown media_encryption {account.media_encryption!r}")
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}config")

    def section(name: str, entries: dict[str, str]) -> None:
        element = ET.SubElement(root, f"{{{NAMESPACE}}}section", name=name)
        for key, value in entries.items():
            entry = ET.SubElement(element, f"{{{NAMESPACE}}}entry", name=key, overwrite="true")
            entry.text = value

    display = account.display_name.replace("\\", "").replace('"', "")
    identity = f'"{display}" <sip:{account.username}@{account.domain}>'
    section("sip", {"default_proxy": "0", **MEDIA_ENCRYPTION[account.media_encryption]})
    section(
        "auth_info_0",
        {
            "username": account.username,
            "userid": account.username,
            "ha1": account.ha1,
            "realm": account.realm,
            "domain": account.domain,
        },
    )
    section(
        "proxy_0",
        {
            "reg_proxy": (
                f"<sip:{account.proxy_host}:{account.proxy_port};transport={account.transport}>"
            ),
            "reg_identity": identity,
            "realm": account.realm,
            "reg_expires": str(account.expires),
            "reg_sendregister": "1",
        },
    )
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()
