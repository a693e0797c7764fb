"""The Gigaset redirect server's XML-RPC API (``https://prov.gigaset.net/apxml/rpc.do``, Basic).

- register: ``autoprov.deregisterDevice(mac)`` (its answer ignored: the MAC may be free), then
  ``autoprov.registerDevice(mac-id, url, provider)`` where the MAC-ID is the MAC and the
  4-character check code printed on the device label, ``7C2F80E0D605-AB12``;
- deregister: ``autoprov.deregisterDevice(mac)``.

The URL carries Gigaset's ``%MACD`` placeholder, which the phone replaces with its MAC.
Answers are ``[boolean, message]``. Sources: Gigaset wiki "Gigaset Redirect server";
nethesis/falconieri providers/gigaset.go (read, not copied).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudpbx.provisioning.redirect import xmlrpc
from cloudpbx.provisioning.redirect.base import RedirectError, Target

DEFAULT_URL = "https://prov.gigaset.net/apxml/rpc.do"
CRC = re.compile(r"^[0-9A-Z]{4}$")
_NOT_REGISTERED = re.compile(r"not (?:been )?regist|unregistered|not exist|not found|unknown", re.I)


@dataclass
class GigasetRedirect:
    username: str
    password: str
    provider: str = "cloudpbx"
    url: str = DEFAULT_URL
    name: str = "Gigaset redirect server"

    def register(self, target: Target) -> None:
        if not CRC.match(target.mac_id_crc):
            raise RedirectError(
                "Gigaset needs the MAC-ID printed on the device label.", permanent=True
            )
        mac = target.mac.upper()
        # Frees the MAC from an earlier registration (ours or a stale one); "not registered"
        # is the usual answer and not an error.
        xmlrpc.call(self.url, self.username, self.password, "autoprov.deregisterDevice", mac)
        method = "autoprov.registerDevice"
        mac_id = f"{mac}-{target.mac_id_crc}"
        answer = xmlrpc.call(
            self.url, self.username, self.password, method, mac_id, target.url, self.provider
        )
        ok, message = xmlrpc.result_pair(method, answer)
        if not ok:
            raise RedirectError(f"Gigaset: {message or 'refused'}", permanent=True)

    def deregister(self, mac: str) -> None:
        method = "autoprov.deregisterDevice"
        answer = xmlrpc.call(self.url, self.username, self.password, method, mac.upper())
        ok, message = xmlrpc.result_pair(method, answer)
        if not ok and not _NOT_REGISTERED.search(message):
            raise RedirectError(f"Gigaset: {message or 'refused'}", permanent=True)
