"""The browser softphone's SIP credential: short-lived, for one app terminal, derived instead of
stored. Pure: no I/O, no Kamailio.

The portal's softphone page never sees the terminal's SIP password (which may also be in a
mobile app). It gets a credential of its own: the authentication username
``<sip username>~<expiry>`` and a password that is an HMAC of that username and the terminal's
current HA1 under a key derived from the server key. The portal computes it for a logged-in
user allowed to use the terminal; Kamailio recomputes it to check a digest answer, so nothing is
stored and nothing has to be revoked: the credential dies at its expiry, when the terminal's SIP
password is regenerated (its HA1 changes) or when the terminal is deleted. It works over secure
WebSockets only, so it cannot be used by a phone on UDP or TLS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from cloudpbx.config import derived_key
from cloudpbx.core.credentials import ha1_md5

SEPARATOR = "~"  # unreserved in SIP URIs; never in a generated SIP username
LIFETIME_SECONDS = 3600  # the page fetches a new one before (softphone.js)
TRANSPORTS = frozenset({"wss"})  # where the credential is accepted


@dataclass(frozen=True)
class Credential:
    username: str  # the digest username; the AOR stays the terminal's SIP username
    password: str
    expires: int  # Unix time


def key(secret_key: str) -> bytes:
    return derived_key(secret_key, "cloudpbx browser softphone")


def password(key: bytes, username: str, ha1: str) -> str:
    digest = hmac.new(key, f"{username}:{ha1}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()  # 144 bits, 24 characters


def issue(key: bytes, sip_username: str, ha1: str, now: float) -> Credential:
    username = f"{sip_username}{SEPARATOR}{int(now) + LIFETIME_SECONDS}"
    return Credential(username, password(key, username, ha1), int(now) + LIFETIME_SECONDS)


def account_of(username: str, now: float) -> str | None:
    """The SIP username a browser credential is for, if ``username`` is one that has not
    expired (and not further ahead than a credential is issued for)."""
    sip_username, separator, expiry = username.rpartition(SEPARATOR)
    if not separator or not sip_username or not expiry.isdigit():
        return None
    if not now < int(expiry) <= now + LIFETIME_SECONDS + 60:
        return None
    return sip_username


def ha1(key: bytes, username: str, realm: str, terminal_ha1: str) -> str:
    """The digest HA1 of the browser credential ``username`` of a terminal whose own HA1 is
    ``terminal_ha1``: what Kamailio checks the browser's answer against."""
    return ha1_md5(username, realm, password(key, username, terminal_ha1))
