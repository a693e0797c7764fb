"""HTTP Digest (RFC 7616, MD5, qop=auth) and Basic, with stateless signed nonces. Django-free.

Nonces are HMAC-signed and carry their issue time and the MAC they were issued for, so any
worker process (or server) can check them without shared memory; the nonce-count replay guard
is the database's job (see ``views``: the device row keeps the last nonce and count used).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass

_PARAM = re.compile(r'\s*([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')
_HEX32 = re.compile(r"[0-9a-f]{32}")
_NC = re.compile(r"[0-9a-fA-F]{8}")
_NONCE_BYTES = 8 + 8 + 12  # issue time (ns), random, truncated HMAC


@dataclass(frozen=True)
class DigestCredentials:
    username: str
    realm: str
    nonce: str
    uri: str
    qop: str
    nc: int
    nc_text: str
    cnonce: str
    response: str
    algorithm: str


def parse_digest(header: str) -> DigestCredentials | None:
    """The ``Authorization: Digest …`` parameters, or None when malformed or incomplete."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        found = _PARAM.match(rest, position)
        if found is None or found.end() == position:
            return None
        quoted, bare = found.group(2), found.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[found.group(1).lower()] = value
        position = found.end()
    try:
        nc_text = params["nc"]
        if not _NC.fullmatch(nc_text) or not _HEX32.fullmatch(params["response"].lower()):
            return None
        return DigestCredentials(
            username=params["username"],
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            qop=params["qop"],
            nc=int(nc_text, 16),
            nc_text=nc_text,
            cnonce=params["cnonce"],
            response=params["response"].lower(),
            algorithm=params.get("algorithm", "MD5"),
        )
    except KeyError:
        return None


def parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, separator, password = decoded.partition(":")
    return (username, password) if separator else None


def _md5(text: str) -> str:
    # MD5 is what RFC 7616's MD5 algorithm prescribes; phones know no other.
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324


def ha1(username: str, realm: str, password: str) -> str:
    return _md5(f"{username}:{realm}:{password}")


def response(ha1_hex: str, method: str, credentials: DigestCredentials) -> str:
    ha2 = _md5(f"{method}:{credentials.uri}")
    c = credentials
    return _md5(f"{ha1_hex}:{c.nonce}:{c.nc_text}:{c.cnonce}:{c.qop}:{ha2}")


def challenge(realm: str, nonce: str, *, stale: bool = False) -> str:
    header = f'Digest realm="{realm}", qop="auth", algorithm=MD5, nonce="{nonce}"'
    return header + (", stale=true" if stale else "")


class NonceSigner:
    """Issues and checks nonces bound to one MAC: ``base64url(time_ns | random | HMAC)``."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"cloudpbx provisioning nonce v1|" + key).digest()

    def _mac(self, body: bytes, device_mac: str) -> bytes:
        return hmac.new(self._key, body + device_mac.encode(), hashlib.sha256).digest()[:12]

    def issue(self, device_mac: str, now_ns: int) -> str:
        body = struct.pack(">Q", now_ns) + secrets.token_bytes(8)
        raw = body + self._mac(body, device_mac)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def issued_at(self, nonce: str, device_mac: str) -> int | None:
        """The nonce's issue time (ns) if we issued it for this MAC, else None."""
        if len(nonce) != 38:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "==")
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _NONCE_BYTES:
            return None
        body, signature = raw[:16], raw[16:]
        if not hmac.compare_digest(signature, self._mac(body, device_mac)):
            return None
        issued: int = struct.unpack(">Q", body[:8])[0]
        return issued
