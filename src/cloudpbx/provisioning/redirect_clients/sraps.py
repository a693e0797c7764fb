"""Snom SRAPS (Secure Redirection and Provisioning Service) REST API, Hawk-signed requests.

- ``GET {base}settings/`` (paged with ``Link: <…>; rel="next"``) → the UUIDs of the settings
  whose ``param_name`` is ``setting_server`` and, for a phone with credentials,
  ``http_client_user`` and ``http_client_pass``;
- ``GET {base}tokens/{key id}`` → ``links.company``; ``GET`` that → ``links.endpoints``;
- register: ``PUT {endpoints}{mac}`` with ``{"mac", "autoprovisioning_enabled": true,
  "settings_manager": {<uuid>: {"value": <url>, "attrs": {"perm": "RW"}}, …}}``: the
  provisioning URL, plus the phone's HTTP credentials for our server when it has some (the
  same Snom settings our provisioning file writes; the phone uses them for its first fetch);
- deregister: ``DELETE {endpoints}{mac}`` (404: not there, done).

MACs are 12 lowercase hex digits. Links are followed only on the configured host. Errors are
JSON with ``message``, ``detail`` or ``error``. Base: ``https://api.sraps.snom.com/api/v1/``.
Sources: Snom SRAPS API documentation; nethesis/falconieri libs/grape + libs/sraps (read, not
copied). Gigaset GRAPE is the same protocol with the setting ``ProvisioningServer``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from cloudpbx.provisioning.redirect_clients import hawk, http
from cloudpbx.provisioning.redirect_clients.base import RedirectError, Target, classify_status

DEFAULT_URL = "https://api.sraps.snom.com/api/v1/"
SETTING = "setting_server"
USER_SETTING = "http_client_user"
PASSWORD_SETTING = "http_client_pass"  # noqa: S105 (a setting name)
JSON = "application/json"
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
MAX_PAGES = 20


@dataclass
class Sraps:
    key_id: str
    key: str
    base_url: str = DEFAULT_URL
    name: str = "Snom SRAPS"
    setting: str = SETTING
    _setting_uuids: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _endpoints: str = field(default="", init=False, repr=False)

    @classmethod
    def connect(cls, account: str, secret: str, server_name: str, url: str) -> Sraps:
        return cls(account, secret, url or DEFAULT_URL)

    @staticmethod
    def carries_credentials(model: str) -> bool:
        return True

    def register(self, target: Target) -> None:
        values = {self.setting: target.url}
        if target.auth_name:
            values |= {USER_SETTING: target.auth_name, PASSWORD_SETTING: target.auth_password}
        try:
            uuids = self._setting_ids(tuple(values))
            payload = {
                "mac": target.mac,
                "autoprovisioning_enabled": True,
                "settings_manager": {
                    uuids[name]: {"value": value, "attrs": {"perm": "RW"}}
                    for name, value in values.items()
                },
            }
            self._send("PUT", self._endpoints_url() + target.mac, payload)
        except RedirectError as error:
            raise error.redacted(target.auth_password) from None

    def deregister(self, mac: str) -> None:
        self._send("DELETE", self._endpoints_url() + mac, None, missing_ok=True)

    def _base(self) -> str:
        return self.base_url if self.base_url.endswith("/") else self.base_url + "/"

    def _setting_ids(self, names: tuple[str, ...]) -> dict[str, str]:
        """The UUID of each setting named (``param_name``), read once per adapter."""
        wanted = {self.setting, USER_SETTING, PASSWORD_SETTING}
        url: str | None = self._base() + "settings/"
        for _ in range(MAX_PAGES):
            if url is None or all(name in self._setting_uuids for name in names):
                break
            answer = self._send("GET", url, None)
            for item in _json(answer.body) or []:
                if isinstance(item, dict) and item.get("param_name") in wanted and item.get("uuid"):
                    self._setting_uuids.setdefault(str(item["param_name"]), str(item["uuid"]))
            url = self._next_page(answer)
        missing = [name for name in names if name not in self._setting_uuids]
        if missing:
            raise RedirectError(
                f"Snom SRAPS: no {', '.join(missing)} setting in the account", permanent=True
            )
        return {name: self._setting_uuids[name] for name in names}

    def _next_page(self, answer: http.Response) -> str | None:
        found = _NEXT.search(answer.headers.get("Link") or "")
        return self._same_host(urljoin(self._base(), found.group(1))) if found else None

    def _endpoints_url(self) -> str:
        if not self._endpoints:
            token = _json(self._send("GET", f"{self._base()}tokens/{self.key_id}", None).body)
            company = self._same_host(_link(token, "company"))
            endpoints = self._same_host(
                _link(_json(self._send("GET", company, None).body), "endpoints")
            )
            self._endpoints = endpoints if endpoints.endswith("/") else endpoints + "/"
        return self._endpoints

    def _same_host(self, url: str) -> str:
        if urlsplit(url).netloc != urlsplit(self._base()).netloc:
            raise RedirectError("Snom SRAPS: a link points to another host", permanent=True)
        return url

    def _send(
        self, method: str, url: str, payload: Any, *, missing_ok: bool = False
    ) -> http.Response:
        body = json.dumps(payload).encode() if payload is not None else b""
        content_type = JSON if payload is not None else ""
        headers = {
            "Accept": JSON,
            "Authorization": hawk.header(
                self.key_id, self.key, method, url, content_type=content_type, body=body
            ),
        }
        if content_type:
            headers["Content-Type"] = content_type
        answer = http.send(method, url, body=body if payload is not None else None, headers=headers)
        if answer.status == 404 and missing_ok:
            return answer
        if answer.status >= 300:
            raise _error(method, answer)
        return answer


def _link(data: Any, name: str) -> str:
    links = data.get("links") if isinstance(data, dict) else None
    value = links.get(name) if isinstance(links, dict) else None
    if not value:
        raise RedirectError(f"Snom SRAPS: the answer has no {name} link", permanent=True)
    return str(value)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise RedirectError("Snom SRAPS: the answer is not JSON") from None


def _error(method: str, answer: http.Response) -> RedirectError:
    message = ""
    try:
        data = json.loads(answer.body or b"null")
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("message") or data.get("detail") or data.get("error") or "")
    if answer.status in (401, 403) and not message:
        message = "key ID or key refused"
    return RedirectError(
        f"Snom SRAPS: {message or 'failed'} (HTTP {answer.status} on {method})",
        permanent=classify_status(answer.status),
    )
