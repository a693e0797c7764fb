"""Yealink Management Cloud Service (YMCS) RPS API: REST with OAuth2 client credentials.

- token: ``POST {base}/v2/token`` with ``Authorization: Basic base64(client_id:secret)`` and
  ``{"grant_type": "client_credentials"}`` → ``{"access_token", "token_type", "expires_in"}``;
  kept until a minute before it expires;
- every call: ``Authorization: Bearer <token>`` plus ``timestamp`` (ms) and ``nonce`` headers;
- ``POST /v2/rps/listDevices`` ``{"skip", "limit", "autoCount", "filter": {"mac"}}`` →
  ``{"data": [{"id", "mac", "uniqueServerUrl", …}]}``;
- ``POST /v2/rps/addDevicesByMac`` ``[{"mac", "uniqueServerUrl", "authName"?, "password"?}]``
  → ``{"total", "successCount", "failureCount", "errors": [{"mac", "errorInfo"}]}``;
  ``authName``/``password`` are the optional credentials YMCS hands the phone with the URL
  (the phone's authentication at our server);
- ``POST /v2/rps/delDevices`` ``{"deviceIdType": "mac", "deviceIds": [mac]}`` → same counts.

There is no documented call to change a device's URL or credentials: a change deletes and
adds the device again. ``listDevices`` does not return the password, so a phone with
credentials is always re-added (registering runs only when something changed, or on retry);
a phone without is left alone when its URL is right and the entry shows no ``authName``.

Errors: HTTP ≠ 200 with ``{"code", "message", "error", "requestId"}``. Yealink enables
``addDevicesByMac`` per account on request. MACs are 12 lowercase hex digits.
Sources: Yealink YMCS API V4X; nethesis/falconieri libs/ymcs (types.go ``AddDeviceByMacRequest``
with ``authName``/``password``, API_MANUAL.md; read, not copied).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cloudpbx.provisioning.redirect_clients import http
from cloudpbx.provisioning.redirect_clients.base import RedirectError, Target, classify_status

DEFAULT_URL = "https://eu-api.ymcs.yealink.com"

# Known YMCS error codes worth a clearer reason than the service's message.
_CODES = {
    "800001": "invalid MAC address",
    "800004": "the device is managed by another organisation",
    "900401": "not signed in or token expired",
    "900403": "request forbidden (is addDevicesByMac enabled for this account?)",
    "900429": "too many requests",
}
_TRANSIENT_CODES = {"900408", "900429", "900500", "900502", "900503", "900504", "900511"}

# Tokens per (base URL, client id), shared by the worker's threads.
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


@dataclass
class Ymcs:
    client_id: str
    client_secret: str
    base_url: str = DEFAULT_URL
    name: str = "Yealink YMCS"

    @classmethod
    def connect(cls, account: str, secret: str, server_name: str, url: str) -> Ymcs:
        return cls(account, secret, url or DEFAULT_URL)

    @staticmethod
    def carries_credentials(model: str) -> bool:
        return True

    def register(self, target: Target) -> None:
        device: dict[str, str] = {"mac": target.mac, "uniqueServerUrl": target.url}
        if target.auth_name:
            device |= {"authName": target.auth_name, "password": target.auth_password}
        try:
            found = self._find(target.mac)
            if found is not None:
                unchanged = found.get("uniqueServerUrl") == target.url
                if unchanged and not target.auth_name and not found.get("authName"):
                    return
                self._delete(target.mac)
            self._check_counts(self._call("/v2/rps/addDevicesByMac", [device]))
        except RedirectError as error:
            raise error.redacted(target.auth_password) from None

    def deregister(self, mac: str) -> None:
        if self._find(mac) is not None:
            self._delete(mac)

    def _find(self, mac: str) -> dict[str, Any] | None:
        query = {"skip": 0, "limit": 1, "autoCount": False, "filter": {"mac": mac}}
        answer = self._call("/v2/rps/listDevices", query)
        for device in answer.get("data") or []:
            if str(device.get("mac", "")).lower().replace(":", "").replace("-", "") == mac:
                return dict(device)
        return None

    def _delete(self, mac: str) -> None:
        answer = self._call("/v2/rps/delDevices", {"deviceIdType": "mac", "deviceIds": [mac]})
        self._check_counts(answer)

    @staticmethod
    def _check_counts(answer: dict[str, Any]) -> None:
        if int(answer.get("failureCount") or 0) == 0:
            return
        errors = answer.get("errors") or [{}]
        first = errors[0]
        detail = first.get("errorInfo") or first.get("msg") or "refused"
        raise RedirectError(f"Yealink YMCS: {detail}", permanent=True)

    # --- transport -----------------------------------------------------------------------------

    def _base(self) -> str:
        return self.base_url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "timestamp": str(int(time.time() * 1000)),
            "nonce": secrets.token_hex(16),
        }

    def _token(self, renew: bool = False) -> str:
        key = (self._base(), self.client_id)
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached and not renew and cached[1] > time.monotonic():
                return cached[0]
        credentials = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
        headers = self._headers() | {"Authorization": f"Basic {credentials.decode()}"}
        body = json.dumps({"grant_type": "client_credentials"}).encode()
        answer = http.send("POST", f"{self._base()}/v2/token", body=body, headers=headers)
        if answer.status != 200:
            raise self._error("token", answer, credentials_refused=answer.status in (400, 401))
        data = _json(answer.body)
        token = str(data.get("access_token") or "")
        if not token:
            raise RedirectError("Yealink YMCS: the token answer has no access_token")
        lifetime = float(data.get("expires_in") or 300)
        with _tokens_lock:
            _tokens[key] = (token, time.monotonic() + max(lifetime - 60, 10))
        return token

    def _call(self, path: str, payload: Any) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        for attempt in (1, 2):
            headers = self._headers() | {"Authorization": f"Bearer {self._token(attempt == 2)}"}
            answer = http.send("POST", f"{self._base()}{path}", body=body, headers=headers)
            if answer.status == 401 and attempt == 1:
                continue  # the token expired early: get a new one once
            if answer.status != 200:
                raise self._error(path, answer)
            return _json(answer.body)
        raise AssertionError("unreachable")

    @staticmethod
    def _error(
        what: str, answer: http.Response, credentials_refused: bool = False
    ) -> RedirectError:
        data: dict[str, Any] = {}
        try:
            data = _json(answer.body)
        except RedirectError:
            pass
        code = str(data.get("code") or "")
        message = data.get("message") or _CODES.get(code) or data.get("error") or ""
        if credentials_refused:
            message = f"client ID or secret refused ({message or answer.status})"
        permanent = classify_status(answer.status) and code not in _TRANSIENT_CODES
        detail = f"HTTP {answer.status}" + (f", code {code}" if code else "")
        return RedirectError(
            f"Yealink YMCS {what}: {message or 'failed'} ({detail})", permanent=permanent
        )


def _json(body: bytes) -> dict[str, Any]:
    """A JSON object (a bare list, as ``listDevices`` may answer, becomes ``{"data": […]}``)."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise RedirectError("Yealink YMCS: the answer is not JSON") from None
    if isinstance(data, list):
        return {"data": data}
    return data if isinstance(data, dict) else {}
