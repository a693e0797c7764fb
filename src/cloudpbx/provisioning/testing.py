"""Fetching a phone's file the way the phone does, for tests and the end-to-end check.

Django-free, so it serves the in-process test client and a live server alike::

    request = phone_request("yealink", "T54W", "805ec0123456")
    # GET request.path with request.headers → 401 with a Digest challenge, then:
    headers = {**request.headers, "Authorization": digest_authorization(
        challenge, acs_username, acs_password, "GET", request.path)}
    # GET again → 200; the SIP account the phone will register with:
    account = read_account("yealink", body)   # username, password, registrar, port, transport

or all at once against a live server (the end-to-end registration check)::

    body = fetch_config(urllib_getter("http://127.0.0.1:8000"), phone_request_for(terminal),
                        device.acs_username, device.acs_password)
"""

from __future__ import annotations

import hashlib
import re
import secrets
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudpbx.provisioning.phoneconfig import SipCredentials
from cloudpbx.provisioning.vendors import VENDORS

PREFIX = "/prov/"


@dataclass(frozen=True)
class PhoneRequest:
    path: str
    headers: dict[str, str]


def _colons(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


def phone_request(vendor: str, model: str, mac: str) -> PhoneRequest:
    """Path and headers of the device-file request of this vendor's phone (MAC: 12 hex)."""
    mac = mac.lower()
    if vendor == "yealink":
        path, agent = f"{mac}.cfg", f"Yealink SIP-{model} 96.86.0.100 {_colons(mac)}"
    elif vendor == "snom":
        path = f"snom{model}-{mac.upper()}.htm"
        agent = (
            f"Mozilla/4.0 (compatible; snom{model}-SIP 10.1.54.13 "
            f"2010.12-00004-g9ba52f5 {mac.upper()} SXM:0 UXM:0)"
        )
    elif vendor == "gigaset":
        path = f"{mac}.xml"
        nx70 = model.startswith("N")
        agent = f"Gigaset {model} IP PRO/83.V2.11.0+build.a546b91;{mac.upper()}" if nx70 else ""
    elif vendor == "htek":
        path, agent = f"cfg{mac}.xml", f"Htek {model} 2.0.4.6.41 {_colons(mac)}"
    else:
        raise ValueError(f"unknown vendor {vendor!r}")
    return PhoneRequest(path=PREFIX + path, headers={"User-Agent": agent} if agent else {})


def challenge_params(header: str) -> dict[str, str]:
    """The parameters of a ``WWW-Authenticate: Digest …`` header."""
    return {k.lower(): v for k, v in re.findall(r'(\w+)="?([^",]*)"?', header.partition(" ")[2])}


def digest_authorization(
    challenge: str,
    username: str,
    password: str,
    method: str,
    uri: str,
    *,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The ``Authorization`` header answering a Digest challenge (MD5, qop=auth)."""
    params = challenge_params(challenge)
    realm, nonce = params["realm"], params["nonce"]
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the Digest algorithm

    # Computed here from RFC 2617, not with the server's digest module: a shared mistake
    # would pass both sides.
    ha1 = md5(f"{username}:{realm}:{password}")
    response = md5(f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{md5(f'{method}:{uri}')}")
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'algorithm=MD5, qop=auth, nc={nc_text}, cnonce="{cnonce}", response="{response}"'
    )


def read_account(vendor: str, body: bytes) -> SipCredentials:
    """The SIP account a rendered device file gives the phone."""
    return VENDORS[vendor].read_account(body)


def phone_request_for(terminal: Any) -> PhoneRequest:
    """:func:`phone_request` for a terminal with an automatic configuration (duck-typed, so
    this module stays Django-free)."""
    device = terminal.device
    return phone_request(device.manufacturer, device.model, device.mac)


# (path, headers) → (status, response headers, body)
Getter = Callable[[str, dict[str, str]], tuple[int, Mapping[str, str], bytes]]


def urllib_getter(base_url: str, cafile: str | None = None) -> Getter:
    """A :data:`Getter` for a live server, e.g. ``https://127.0.0.1:8443`` whose certificate
    ``cafile`` (the embedded CA) signed."""
    context = ssl.create_default_context(cafile=cafile) if cafile else None

    def get(path: str, headers: dict[str, str]) -> tuple[int, Mapping[str, str], bytes]:
        # Test helper for our own server on loopback, never a user-given URL.
        request = urllib.request.Request(base_url.rstrip("/") + path, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    return get


def fetch_config(get: Getter, request: PhoneRequest, username: str, password: str) -> bytes:
    """What the phone does: ask, answer the Digest challenge, return the file's bytes."""
    status, headers, body = get(request.path, dict(request.headers))
    if status == 200:  # a trusted-IP device
        return body
    if status != 401:
        raise RuntimeError(f"expected a Digest challenge, got {status}")
    challenge = next(v for k, v in headers.items() if k.lower() == "www-authenticate")
    answer = digest_authorization(challenge, username, password, "GET", request.path)
    status, _headers, body = get(request.path, {**request.headers, "Authorization": answer})
    if status != 200:
        raise RuntimeError(f"provisioning refused the phone's answer: {status}")
    return body
