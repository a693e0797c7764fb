"""Check-sync: the SIP NOTIFY that makes a registered phone fetch its configuration now.

Kamailio sends it (``tm.t_uac_start`` over its JSON-RPC) from the socket the phone registered
on and, behind NAT, to the address its REGISTER came from (the contact's ``received``), where
the phone's NAT keeps a pinhole open. With several Kamailio nodes the first node that owns the
socket sends it.

This module knows how a NOTIFY is built and sent; which phone, which of its accounts and which
``Event`` its vendor expects are decided by :mod:`cloudpbx.provisioning.services.resync` and
arrive as plain values. Provisioning is a domain app below this edge, so it does not import this
module: :class:`KamailioCheckSync` is its ``CheckSyncSender``, installed by ``SipConfig.ready()``.
"""

from __future__ import annotations

import logging
import secrets
from typing import cast

from django.conf import settings

from cloudpbx.sip import rpc, status
from cloudpbx.sip.status import Contact, Registration

logger = logging.getLogger(__name__)

FROM_USER = "provisioning"


def notify_headers(username: str, domain: str, event: str) -> str:
    """The headers of one NOTIFY to ``username``'s phone with ``Event: <event>`` (Kamailio
    adds Via, Content-Length and its User-Agent). New tags and Call-ID on every call."""
    lines = (
        f"From: <sip:{FROM_USER}@{domain}>;tag={secrets.token_hex(8)}",
        # Gigaset acts only on a NOTIFY addressed to one of its SIP accounts.
        f"To: <sip:{username}@{domain}>",
        f"Call-ID: {secrets.token_hex(12)}@cloudpbx",
        "CSeq: 1 NOTIFY",
        f"Contact: <sip:{FROM_USER}@{domain}>",
        f"Event: {event}",
        "Subscription-State: terminated;reason=noresource",
        "Max-Forwards: 70",
    )
    return "\r\n".join(lines) + "\r\n"


def send(contact: Contact, username: str, domain: str, event: str) -> bool:
    """Ask Kamailio to send one NOTIFY to ``contact``, a registered contact of ``username``.

    Tries the contact's socket on every node in ``CLOUDPBX_KAMAILIO_RPC_URLS``, then any
    socket. True once a node accepted it (Kamailio sends it; the phone's answer is not
    awaited), False when none did; never raises for an RPC failure.
    """
    headers = notify_headers(username, domain, event)
    next_hop = contact.received or "."
    sockets = [contact.socket, "."] if contact.socket else ["."]
    for socket in sockets:
        for url in settings.CLOUDPBX_KAMAILIO_RPC_URLS:
            try:
                rpc.call(
                    url, "tm.t_uac_start", "NOTIFY", contact.uri, next_hop, socket, headers,
                    token=settings.CLOUDPBX_KAMAILIO_RPC_TOKEN,
                )  # fmt: skip
            except rpc.RpcError as error:
                # Another node's socket, or that node is down: try the next one.
                logger.info("check-sync via %s (socket %s) not sent: %s", url, socket, error)
                continue
            return True
    return False


class KamailioCheckSync:
    """The ``CheckSyncSender`` of :mod:`cloudpbx.provisioning.services.resync`: registrations
    from :mod:`cloudpbx.sip.status`, each NOTIFY from :func:`send`."""

    def registrations(self, usernames: list[str]) -> dict[str, Registration] | None:
        return status.registrations(usernames)

    def send(self, contact: object, username: str, domain: str, event: str) -> bool:
        return send(cast(Contact, contact), username, domain, event)  # registrations()' own
