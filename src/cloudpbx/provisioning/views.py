"""``/prov/<file>``: the HTTP adapter of the provisioning engine.

Identification (:mod:`identify`), the choice among customers' devices with the MAC and the
authentication decision (:mod:`access`) and rendering (:mod:`render`) are pure; this module
loads the devices (one query), applies the decision and records a successful fetch together
with the Digest replay guard and the MAC's binding (one conditional UPDATE).
Refusals are uniform: status, headers and body are the same whatever the reason (only the
nonce differs), and each is logged as one fail2ban-friendly line without secrets.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils import timezone

from cloudpbx.core import certificates, crypto, metrics
from cloudpbx.provisioning import (
    access,
    build,
    clients,
    digest,
    identify,
    lockouts,
    queries,
    render,
)
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.services import app_links
from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.provisioning.vendors.base import PhoneModel, UnsupportedSetting

logger = logging.getLogger("cloudpbx.provisioning")

REFUSAL_BODY = b"Unauthorized\n"
NOT_FOUND_BODY = b"Not found\n"
PLAIN = "text/plain; charset=utf-8"


@cache
def _signer(secret_key: str) -> digest.NonceSigner:
    return digest.NonceSigner(secret_key.encode())


@cache
def _dummy_secret(secret_key: str) -> str:
    # Decrypted for unknown and trusted-IP devices so every path pays the same decryption.
    return crypto.encrypt("x" * 24)


def index(request: HttpRequest) -> HttpResponse:
    """``/prov/`` itself lists nothing."""
    return _for_phones(_not_found())


def ca_certificate(request: HttpRequest) -> HttpResponse:
    """The embedded CA's certificate (public), for phones to add to their trusted list; 404
    when the operator's certificate is in use (it chains to a CA phones know)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    path = certificates.embedded_ca_path(settings.CONFIG)
    if path is None or not path.exists():
        return _not_found()
    body = path.read_bytes()
    return _for_phones(_file(request, body, "application/x-pem-file", cache_control="no-cache"))


def serve(request: HttpRequest, filename: str) -> HttpResponse:
    return _for_phones(_answer(request, filename))


def _for_phones(response: HttpResponse) -> HttpResponse:
    # Phones render no HTML: django-csp's policy header would be work and bytes for nothing.
    response._csp_exempt = True  # type: ignore[attr-defined]
    return response


def _answer(request: HttpRequest, filename: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    match = identify.match_file(filename)
    if match is None or match.kind == "absent":
        return _counted(_not_found(), UNKNOWN_VENDOR, "not_found")
    if match.kind == "common":
        vendor, rule = match.candidates[0]
        assert match.model is not None
        body = render.render_common(vendor, match.model, rule.template, build.base_url())
        served = _file(request, body, rule.content_type, cache_control="no-cache")
        return _counted(served, vendor.key, "common")
    assert match.mac is not None
    return _serve_device(request, match, filename)


def client_of(request: HttpRequest) -> clients.Client:
    """Who is asking, as decided for every request by :mod:`cloudpbx.middleware` (the
    X-Forwarded-* headers of trusted proxies only)."""
    client: clients.Client = request.client  # type: ignore[attr-defined]
    return client


def _serve_device(request: HttpRequest, match: identify.FileMatch, filename: str) -> HttpResponse:
    config = settings.CONFIG
    meta = request.META
    client = client_of(request)
    user_agent = meta.get("HTTP_USER_AGENT", "")
    mac = match.mac or ""
    identified = identify.identify(match, user_agent)
    now = timezone.now()
    authorization = meta.get("HTTP_AUTHORIZATION", "")
    loaded = queries.load_devices(mac, client.address, now)
    choice = access.choose(
        [_claimant(d) for d in loaded.devices],
        [v.key for v in identified.vendors],
        authorization,
        client.address,
    )
    device = loaded.devices[choice.index] if choice.index is not None else None

    password = ""
    if device is not None and device.auth_mode == ProvisioningDevice.AuthMode.CREDENTIALS:
        password = device.acs_password
    else:
        crypto.decrypt(_dummy_secret(settings.SECRET_KEY))
    vendor = VENDORS[device.manufacturer] if device is not None else None
    policy = access.Policy(
        realm=config.prov_realm,
        nonce_lifetime_ns=config.prov_nonce_seconds * 1_000_000_000,
        production=config.production,
    )
    decision = access.decide(
        access.Attempt(
            mac=mac,
            method=request.method or "GET",
            uri=request.get_full_path(),
            authorization=authorization,
            client=client,
            now_ns=time.time_ns(),
        ),
        _device_access(device, loaded, password),
        policy,
        _signer(settings.SECRET_KEY),
        basic_allowed=bool(vendor and vendor.basic_auth),
    )
    if identified.refusal:
        decision = access.Decision(accepted=False, reason=identified.refusal, counts=True)
    elif choice.ambiguous:
        # Two customers' phones fit (overlapping trusted networks, say): neither gets a file
        # until the operator binds the MAC to one; nobody's failure, so nothing is counted.
        decision = access.Decision(accepted=False, reason="ambiguous_mac")
    elif choice.bound_elsewhere and decision.reason == "unknown_mac":
        decision = dataclasses.replace(decision, reason="bound_elsewhere")
    if device is None or vendor is None or not decision.accepted:
        asked = device.manufacturer if device is not None else _vendor_key(identified)
        refused = _refuse(mac, decision, client, filename, known=device is not None)
        return _counted(refused, asked, decision.reason)
    agent = identified.user_agent
    fetch = queries.Fetch(
        at=now,
        address=client.address or meta.get("REMOTE_ADDR") or None,
        user_agent=user_agent,
        firmware=agent.firmware if agent else "",
        reported_model=agent.model if agent else "",
    )
    recorded = queries.record_fetch(
        device,
        fetch,
        bound_by=decision.reason,  # "credentials" or "trusted_ip": what the phone proved
        nonce=decision.nonce,
        nonce_issued_ns=decision.nonce_issued_ns,
        nc=decision.nc,
    )
    if not recorded:
        # The right answer, sent again with the same nonce and count: firmware that repeats
        # its last Authorization must be asked again (stale=true), never locked out; someone
        # replaying a captured header cannot answer the new challenge.
        replayed = access.Decision(accepted=False, reason="replayed_nonce", stale=True)
        refused = _refuse(mac, replayed, client, filename, known=True)
        return _counted(refused, vendor.key, replayed.reason)

    model = vendor.model(device.model) or PhoneModel(key=device.model, label=device.model)
    try:
        body = render.render_device(
            vendor,
            model,
            match.rule_of(vendor).template,
            build.phone_config(device, password, build.handsets_of(device)),
        )
    except UnsupportedSetting as error:
        # A setting changed for the whole PBX (e.g. SRTP required) that this phone's file
        # cannot say: the phone keeps its last file rather than a wrong one.
        logger.warning("provisioning refused mac=%s reason=%s", mac, error)
        unavailable = HttpResponse("Unavailable\n", status=503, content_type="text/plain")
        return _counted(unavailable, vendor.key, "unavailable")
    served = _file(
        request, body, match.rule_of(vendor).content_type, cache_control="private, no-cache"
    )
    return _counted(served, vendor.key, "served" if served.status_code == 200 else "not_modified")


UNKNOWN_VENDOR = "unknown"


def _vendor_key(identified: identify.Identification) -> str:
    """The vendor a refused request names (its file name and User-Agent), for the metrics."""
    return identified.vendors[0].key if len(identified.vendors) == 1 else UNKNOWN_VENDOR


def _counted(response: HttpResponse, vendor: str, result: str) -> HttpResponse:
    metrics.PROVISIONING_FETCHES.labels(vendor, result).inc()
    return response


def _claimant(device: ProvisioningDevice) -> access.Claimant:
    return access.Claimant(
        manufacturer=device.manufacturer,
        mode=device.auth_mode,
        username=device.acs_username,
        networks=tuple(device.trusted_networks or ()),
        bound=device.bound_at is not None,
    )


def _device_access(
    device: ProvisioningDevice | None, loaded: queries.LoadedDevices, password: str
) -> access.DeviceAccess | None:
    if device is None:
        return None
    return access.DeviceAccess(
        mode=device.auth_mode,
        username=device.acs_username,
        password=password or None,
        networks=tuple(device.trusted_networks or ()),
        pair_locked=loaded.pair_locked,
        ip_locked=loaded.ip_locked,
    )


def _refuse(
    mac: str, decision: access.Decision, client: clients.Client, filename: str, *, known: bool
) -> HttpResponse:
    config = settings.CONFIG
    nonce = _signer(settings.SECRET_KEY).issue(mac, time.time_ns())
    response = HttpResponse(REFUSAL_BODY, status=401, content_type=PLAIN)
    response["WWW-Authenticate"] = digest.challenge(config.prov_realm, nonce, stale=decision.stale)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # type: ignore[attr-defined]  # our own line below
    address = client.address or "-"
    if decision.reason == "challenge":
        logger.debug("cloudpbx-prov challenge ip=%s mac=%s file=%s", address, mac, filename)
        return response
    logger.warning(
        "cloudpbx-prov refused ip=%s mac=%s reason=%s file=%s",
        address,
        mac,
        decision.reason,
        filename,
    )
    if decision.counts:
        # Known or not, the same MAC is counted: the same statements, the same time.
        counted = lockouts.record_failure(mac=mac, address=client.address)
        for key in counted.locked:
            logger.warning("cloudpbx-prov locked %s for %ss", key, config.prov_lockout_seconds)
        if counted.mac_alert and known:
            logger.warning(
                "cloudpbx-prov alert mac=%s failures=%s within %ss (all addresses, not locked)",
                mac,
                counted.mac_failures,
                config.prov_lockout_window_seconds,
            )
    return response


def _not_found() -> HttpResponse:
    response = HttpResponse(NOT_FOUND_BODY, status=404, content_type=PLAIN)
    # Phones ask for files we do not serve all the time: not worth a warning each.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _file(
    request: HttpRequest, body: bytes, content_type: str, *, cache_control: str
) -> HttpResponse:
    tag = render.etag(body)
    wanted = request.META.get("HTTP_IF_NONE_MATCH", "")
    if wanted and (
        wanted.strip() == "*" or tag in (t.strip().removeprefix("W/") for t in wanted.split(","))
    ):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type=content_type)
    response["ETag"] = tag
    response["Cache-Control"] = cache_control
    return response


APP_REFUSAL = b"Not Found\n"


def app_config(request: HttpRequest, token: str) -> HttpResponse:
    """``/app/<token>``: the one-time Linphone configuration behind an app terminal's QR code.

    Unknown, spent, replaced and expired tokens, and locked addresses, all get the same 404;
    every miss counts towards the address's lockout (tokens have 256 bits: guessing is noise,
    but noise is locked out too).
    """
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    meta = request.META
    client = client_of(request)
    now = timezone.now()
    locked = client.address is not None and lockouts.is_locked(lockouts.ip_key(client.address), now)
    body = (
        None
        if locked
        else app_links.spend(token, client.address, meta.get("HTTP_USER_AGENT", ""), now)
    )
    if body is None:
        if not locked:
            lockouts.record_failure(mac=None, address=client.address)
        logger.warning(
            "cloudpbx-app refused ip=%s reason=%s", client.address, "locked" if locked else "token"
        )
        response = HttpResponse(APP_REFUSAL, status=404, content_type="text/plain")
    else:
        response = HttpResponse(body, content_type="application/xml; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
