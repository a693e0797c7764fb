"""The typed configuration of one phone: what every vendor template renders. Django-free.

Built from the database by :mod:`cloudpbx.provisioning.build` (the only place that reads rows);
rendered by :mod:`cloudpbx.provisioning.render`. Holds secrets: never log one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

MEDIA_ENCRYPTIONS = ("off", "optional", "required")


def printable(text: str) -> str:
    """One line of text as it may appear in any vendor format (no newline injection)."""
    return _CONTROL.sub(" ", text).strip()


@dataclass(frozen=True)
class SipAccount:
    username: str
    auth_name: str
    password: str
    domain: str
    registrar: str
    port: int
    transport: str  # "udp" | "tcp" | "tls"
    display_name: str  # shown to the called party on internal calls
    extension: str  # the internal extension shown, "" if none
    label: str  # shown on the phone's display next to the line key
    # SRTP (SDES, RTP/SAVP): "off" plain RTP, "optional" SRTP when the other side can,
    # "required" SRTP only. Meaningful over TLS (SDES keys travel in the SDP).
    media_encryption: str = "off"


@dataclass(frozen=True)
class ProvisioningAccess:
    """Where and how the phone fetches its configuration again (so changes reach it)."""

    base_url: str  # e.g. "https://pbx.example.net/prov", no trailing slash
    username: str | None  # ACS credentials; None in trusted-IP mode
    password: str | None
    resync_seconds: int


@dataclass(frozen=True)
class Handset:
    """One further handset of a DECT base: the number the base files it under (stable while
    the handset exists, so a removal never hands one handset's account to another) and its
    own SIP account."""

    number: int  # 2, 3, …: the base's own terminal is handset 1
    account: SipAccount


@dataclass(frozen=True)
class RegistrationWindow:
    """When a DECT base lets new handsets register (opened when one is added)."""

    start: int  # Unix time
    seconds: int


@dataclass(frozen=True)
class PhoneConfig:
    vendor: str  # vendor key, e.g. "yealink"
    model: str  # model key as configured in the portal, e.g. "T54W"
    mac: str  # 12 lowercase hex digits
    account: SipAccount
    provisioning: ProvisioningAccess
    language: str  # "de" | "fr" | "en"
    country: str  # ISO 3166 alpha-2, drives tone schemes
    timezone: str  # IANA name, e.g. "Europe/Berlin"
    ntp_servers: tuple[str, ...] = field(default=("pool.ntp.org",))
    # The PEM of the private CA that signed the server certificate, for phones to add to
    # their trusted list; None when the certificate chains to a public CA.
    trusted_ca_url: str | None = None
    # A DECT base: its further handsets, by number, and the registration window while open.
    handsets: tuple[Handset, ...] = ()
    registration_window: RegistrationWindow | None = None

    @property
    def every_handset(self) -> tuple[Handset, ...]:
        """Handset 1 (the device's own terminal, ``account``) and the further ones."""
        return (Handset(number=1, account=self.account), *self.handsets)


@dataclass(frozen=True)
class SipCredentials:
    """What a rendered file tells the phone to register with (read back by the vendor parser)."""

    username: str
    auth_name: str
    password: str
    registrar: str
    port: int
    transport: str
    media_encryption: str = "off"  # as in SipAccount: "off" | "optional" | "required"
