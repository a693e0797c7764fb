"""Linphone's remote-provisioning file (lpconfig XML) for an app terminal. Django-free.

The app gets the HA1 with its realm, never the clear password (Linphone registers with an
``ha1`` when ``realm`` is next to it; see ../shared/reference/real-clients-notes.md).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

NAMESPACE = "http://www.linphone.org/xsds/lpconfig.xsd"


@dataclass(frozen=True)
class LinphoneAccount:
    display_name: str
    username: str
    ha1: str
    realm: str
    domain: str
    proxy_host: str
    proxy_port: int
    transport: str
    expires: int = 3600


def render(account: LinphoneAccount) -> bytes:
    """The lpconfig document; ElementTree escapes every value (names with <, &, quotes)."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}config")

    def section(name: str, entries: dict[str, str]) -> None:
        element = ET.SubElement(root, f"{{{NAMESPACE}}}section", name=name)
        for key, value in entries.items():
            entry = ET.SubElement(element, f"{{{NAMESPACE}}}entry", name=key, overwrite="true")
            entry.text = value

    display = account.display_name.replace("\\", "").replace('"', "")
    identity = f'"{display}" <sip:{account.username}@{account.domain}>'
    section("sip", {"default_proxy": "0"})
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
