"""Yealink's legacy RPS XML-RPC API (``https://api-dm.yealink.com:8443/xmlrpc``, HTTP Basic).

- register: ``redirect.registerDeviceWithUniqueUrl(mac, serverName, url, "1")``; the last
  argument overrides an earlier registration of the MAC (ours or by another provider).
- deregister: ``redirect.deRegisterDevice(mac)``.

MACs are written ``00-15-65-12-34-56``; answers are ``[boolean, message]``. No documented
call takes credentials for the phone (unlike YMCS): a phone with HTTP credentials gets only
the URL, and its credentials have to be typed on it (docs/redirect-services.md).
Sources: Yealink "XML API for RPS"; nethesis/falconieri providers/yealink.go;
sipwise/ngcp-panel DeviceBootstrap/Yealink.pm (read, not copied).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudpbx.provisioning.redirect_clients import xmlrpc
from cloudpbx.provisioning.redirect_clients.base import RedirectError, Target, mac_separated

DEFAULT_URL = "https://api-dm.yealink.com:8443/xmlrpc"
# Answers to deregistering a MAC the account does not hold: already done.
_NOT_REGISTERED = re.compile(r"not (?:been )?regist|unregistered|not exist|not found", re.I)


@dataclass
class YealinkRps:
    username: str
    password: str
    server_name: str = "cloudpbx"
    url: str = DEFAULT_URL
    name: str = "Yealink RPS"

    @classmethod
    def connect(cls, account: str, secret: str, server_name: str, url: str) -> YealinkRps:
        return cls(account, secret, server_name, url or DEFAULT_URL)

    @staticmethod
    def carries_credentials(model: str) -> bool:
        return False

    def register(self, target: Target) -> None:
        method = "redirect.registerDeviceWithUniqueUrl"
        mac = mac_separated(target.mac, "-")
        answer = xmlrpc.call(
            self.url, self.username, self.password, method, mac, self.server_name, target.url, "1"
        )
        ok, message = xmlrpc.result_pair(method, answer)
        if not ok:
            raise RedirectError(f"Yealink RPS: {message or 'refused'}", permanent=True)

    def deregister(self, mac: str) -> None:
        method = "redirect.deRegisterDevice"
        answer = xmlrpc.call(
            self.url, self.username, self.password, method, mac_separated(mac, "-")
        )
        ok, message = xmlrpc.result_pair(method, answer)
        if not ok and not _NOT_REGISTERED.search(message):
            raise RedirectError(f"Yealink RPS: {message or 'refused'}", permanent=True)
