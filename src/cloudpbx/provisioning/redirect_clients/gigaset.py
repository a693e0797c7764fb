"""The Gigaset redirect server's XML-RPC API (``https://prov.gigaset.net/apxml/rpc.do``, Basic).

- register: ``autoprov.deregisterDevice(mac)`` (its answer ignored: the MAC may be free), then
  ``autoprov.registerDevice(mac-id, url, provider)`` where the MAC-ID is the MAC and the
  4-character check code printed on the device label, ``7C2F80E0D605-AB12``;
- deregister: ``autoprov.deregisterDevice(mac)``.

The URL carries Gigaset's ``%MACD`` placeholder, which the phone replaces with its MAC.
Answers are ``[boolean, message]``.

Credentials: the redirect server hands the phone the URL as registered, and Gigaset documents
``http(s)://<username>:<password>@<host>/…`` for the HTTP Digest credentials of the
provisioning server, for N610/N670/N870/N870E (and the Integrators) from firmware 2.53; the
phone keeps them once its first fetch succeeded. Maxwell is not in that list: it gets the URL
without credentials. Both parts are percent-encoded (our generated passwords need none).

Sources: Gigaset wiki "Gigaset Redirect server" and "HTTP digest credentials via the Gigaset
Redirect server" (teamwork.gigaset.com gigawiki, pageId 1391168731); nethesis/falconieri
providers/gigaset.go (read, not copied).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from cloudpbx.provisioning.redirect_clients import xmlrpc
from cloudpbx.provisioning.redirect_clients.base import RedirectError, Target

DEFAULT_URL = "https://prov.gigaset.net/apxml/rpc.do"
CRC = re.compile(r"^[0-9A-Z]{4}$")
# The models Gigaset documents credentials in the redirect URL for (our model keys).
URL_CREDENTIALS_MODELS = frozenset({"N610", "N670", "N870", "N870E"})
_NOT_REGISTERED = re.compile(r"not (?:been )?regist|unregistered|not exist|not found|unknown", re.I)


@dataclass
class GigasetRedirect:
    username: str
    password: str
    provider: str = "cloudpbx"
    url: str = DEFAULT_URL
    name: str = "Gigaset redirect server"

    @classmethod
    def connect(cls, account: str, secret: str, server_name: str, url: str) -> GigasetRedirect:
        return cls(account, secret, server_name, url or DEFAULT_URL)

    @staticmethod
    def carries_credentials(model: str) -> bool:
        return model in URL_CREDENTIALS_MODELS

    def register(self, target: Target) -> None:
        if not CRC.match(target.mac_id_crc):
            raise RedirectError(
                "Gigaset needs the MAC-ID printed on the device label.", permanent=True
            )
        mac = target.mac.upper()
        url = target.url
        if target.auth_name and self.carries_credentials(target.model):
            url = with_credentials(url, target.auth_name, target.auth_password)
        try:
            # Frees the MAC from an earlier registration (ours or a stale one); "not
            # registered" is the usual answer and not an error.
            xmlrpc.call(self.url, self.username, self.password, "autoprov.deregisterDevice", mac)
            method = "autoprov.registerDevice"
            mac_id = f"{mac}-{target.mac_id_crc}"
            answer = xmlrpc.call(
                self.url, self.username, self.password, method, mac_id, url, self.provider
            )
            ok, message = xmlrpc.result_pair(method, answer)
            if not ok:
                raise RedirectError(f"Gigaset: {message or 'refused'}", permanent=True)
        except RedirectError as error:
            # The service may quote the URL it refused, credentials and all.
            raise error.redacted(target.auth_password) from None

    def deregister(self, mac: str) -> None:
        method = "autoprov.deregisterDevice"
        answer = xmlrpc.call(self.url, self.username, self.password, method, mac.upper())
        ok, message = xmlrpc.result_pair(method, answer)
        if not ok and not _NOT_REGISTERED.search(message):
            raise RedirectError(f"Gigaset: {message or 'refused'}", permanent=True)


def with_credentials(url: str, username: str, password: str) -> str:
    """``https://host/…`` → ``https://user:password@host/…`` (both parts percent-encoded)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError("not an absolute URL")
    return f"{scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{rest}"
