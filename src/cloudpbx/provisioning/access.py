"""Who may fetch a device file: the authentication decision as a pure function. Django-free.

Every path does the same work (one HA1 and one response computation, one constant-time
comparison), whether the MAC is known, the password wrong or the address untrusted, so
neither the answer nor its timing tells them apart. The view applies the :class:`Decision`.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cloudpbx.provisioning import clients, digest

# Stands in for the password of an unknown device: same work, never a match.
_DUMMY_PASSWORD = "cloudpbx-no-such-device-7f3a9c"  # noqa: S105 - not a credential


@dataclass(frozen=True)
class Policy:
    realm: str
    nonce_lifetime_ns: int
    production: bool


@dataclass(frozen=True)
class DeviceAccess:
    """What the database says about the device named by the path."""

    mode: str  # "credentials" | "trusted_ip"
    username: str | None
    password: str | None
    networks: tuple[str, ...]
    pair_locked: bool  # too many failures for this MAC from this client address
    ip_locked: bool  # too many failures from this client address


@dataclass(frozen=True)
class Attempt:
    mac: str
    method: str
    uri: str  # the request's path and query, as sent
    authorization: str  # "" when absent
    client: clients.Client
    now_ns: int


@dataclass(frozen=True)
class Decision:
    accepted: bool
    # accepted: "credentials" | "trusted_ip"; refused: see REFUSALS
    reason: str
    counts: bool = False  # counts towards the lockouts of this MAC and address
    stale: bool = False  # the right password on an expired nonce: ask again, stale=true
    nonce: str = ""  # accepted Digest: the nonce and count the replay guard must record
    nonce_issued_ns: int = 0
    nc: int = 0


REFUSALS = {
    "challenge": "no credentials yet: the normal first step of Digest",
    "unknown_mac": "no automatically configured phone of this vendor has this MAC",
    "bad_credentials": "wrong username or password",
    "malformed_authorization": "an Authorization header we cannot use",
    "invalid_nonce": "a nonce we did not issue for this MAC",
    "stale_nonce": "the right password on an expired nonce (stale=true)",
    "replayed_nonce": "a nonce and count already used",
    "vendor_probe": "the phone's built-in first try (username = its MAC)",
    "basic_not_allowed": "Basic from a vendor that does Digest, or over plain HTTP",
    "untrusted_address": "trusted-IP device, client outside its networks",
    "locked": "too many failures from this address, or for this MAC from this address",
    "user_agent_vendor": "the User-Agent names another vendor than the file's",
    "user_agent_mac": "the MAC in the User-Agent is not the one in the path",
    "bound_elsewhere": "this MAC is bound to another customer's phone",
    "ambiguous_mac": "several customers' phones have this MAC and the request fits more than one",
}


@dataclass(frozen=True)
class Claimant:
    """One customer's device with the MAC of the path (several customers may enter one MAC)."""

    manufacturer: str
    mode: str  # "credentials" | "trusted_ip"
    username: str | None
    networks: tuple[str, ...]
    bound: bool  # the MAC is bound to this device (at most one is)


@dataclass(frozen=True)
class Choice:
    """Whose file the request is about: ``index`` into the claimants, or None (an unknown MAC
    to :func:`decide`)."""

    index: int | None
    ambiguous: bool = False  # the request fits several claimants: serve none (the operator's)
    bound_elsewhere: bool = False  # claimants of this vendor exist, but another one is bound


def choose(
    claimants: list[Claimant], vendors: list[str], authorization: str, address: str | None
) -> Choice:
    """Pick the claimant a request is for, without decrypting anything.

    Once one device is bound, it is the only claimant. Otherwise, among several: the one whose
    provisioning username the request offers, or the trusted-IP one whose networks hold the
    client. None fitting: the first, so that :func:`decide` refuses it like any failure. More
    than one fitting (overlapping trusted networks, say): ``ambiguous``; the caller still
    decides for the first (the same work) and then refuses.
    """
    bound = [i for i, c in enumerate(claimants) if c.bound]
    pool = bound or list(range(len(claimants)))
    candidates = [i for i in pool if claimants[i].manufacturer in vendors]
    if not candidates:
        excluded = any(c.manufacturer in vendors and not c.bound for c in claimants)
        return Choice(None, bound_elsewhere=bool(bound) and excluded)
    if len(candidates) == 1:
        return Choice(candidates[0])
    offered = _offered_username(authorization)
    fitting = [i for i in candidates if _fits(claimants[i], offered, address)]
    if not fitting:
        return Choice(candidates[0])
    return Choice(fitting[0], ambiguous=len(fitting) > 1)


def _offered_username(authorization: str) -> str:
    if not authorization:
        return ""
    sent = digest.parse_digest(authorization)
    if sent is not None:
        return sent.username
    basic = digest.parse_basic(authorization)
    return basic[0] if basic else ""


def _fits(claimant: Claimant, offered: str, address: str | None) -> bool:
    if claimant.mode == "trusted_ip":
        return clients.inside(address, clients.networks(claimant.networks))
    username = claimant.username or ""
    return bool(username) and hmac.compare_digest(offered.encode(), username.encode())


def _uri_matches(sent: str, requested: str) -> bool:
    if hmac.compare_digest(sent.encode(), requested.encode()):
        return True
    parts = urlsplit(sent)  # some clients send the absolute URI
    return bool(parts.scheme) and (parts.path + (f"?{parts.query}" if parts.query else "")) == (
        requested
    )


def decide(
    attempt: Attempt,
    device: DeviceAccess | None,
    policy: Policy,
    signer: digest.NonceSigner,
    *,
    basic_allowed: bool,
) -> Decision:
    credentials_mode = device is not None and device.mode == "credentials"
    header = attempt.authorization
    digest_sent = digest.parse_digest(header) if header else None
    basic_sent = digest.parse_basic(header) if header and digest_sent is None else None

    # The same computation on every path, known device or not.
    username = device.username if credentials_mode and device and device.username else ""
    password = device.password if credentials_mode and device and device.password else ""
    if not password:
        password = _DUMMY_PASSWORD
    offered_user = digest_sent.username if digest_sent else basic_sent[0] if basic_sent else ""
    if digest_sent is not None:
        expected = digest.response(
            digest.ha1(offered_user, policy.realm, password), attempt.method, digest_sent
        )
        secret_ok = hmac.compare_digest(expected, digest_sent.response)
    else:
        offered = basic_sent[1] if basic_sent else ""
        secret_ok = hmac.compare_digest(
            digest.ha1(offered_user, policy.realm, offered),
            digest.ha1(offered_user, policy.realm, password),
        )
    user_ok = hmac.compare_digest(offered_user.encode(), username.encode())
    authenticated = credentials_mode and secret_ok and user_ok and bool(username)

    if device is not None and device.mode == "trusted_ip":
        networks = clients.networks(device.networks)
        if clients.inside(attempt.client.address, networks):
            # The customer declared this network the phone's: its address is the credential,
            # and lockouts (possibly caused by others behind the same NAT) do not apply.
            return Decision(accepted=True, reason="trusted_ip")
        return Decision(accepted=False, reason="untrusted_address", counts=True)

    if not header:
        return Decision(accepted=False, reason="challenge" if device else "unknown_mac")
    if device is None:
        return Decision(accepted=False, reason="unknown_mac", counts=True)
    if re.sub(r"[^0-9a-f]", "", offered_user.lower()) == attempt.mac:
        return Decision(accepted=False, reason="vendor_probe")

    if basic_sent is not None:
        if not basic_allowed or not attempt.client.secure:
            return Decision(accepted=False, reason="basic_not_allowed", counts=True)
        if not authenticated:
            return Decision(accepted=False, reason="bad_credentials", counts=True)
        if device.pair_locked or device.ip_locked:
            return Decision(accepted=False, reason="locked")
        return Decision(accepted=True, reason="credentials")

    if digest_sent is None or (
        digest_sent.realm != policy.realm
        or digest_sent.qop != "auth"
        or digest_sent.algorithm.upper() != "MD5"
        or not _uri_matches(digest_sent.uri, attempt.uri)
    ):
        return Decision(accepted=False, reason="malformed_authorization", counts=True)
    issued = signer.issued_at(digest_sent.nonce, attempt.mac)
    if issued is None:
        return Decision(accepted=False, reason="invalid_nonce", counts=True)
    if not authenticated:
        return Decision(accepted=False, reason="bad_credentials", counts=True)
    if device.pair_locked or device.ip_locked:
        return Decision(accepted=False, reason="locked")
    if not 0 <= attempt.now_ns - issued <= policy.nonce_lifetime_ns:
        return Decision(accepted=False, reason="stale_nonce", stale=True)
    return Decision(
        accepted=True,
        reason="credentials",
        nonce=digest_sent.nonce,
        nonce_issued_ns=issued,
        nc=digest_sent.nc,
    )
