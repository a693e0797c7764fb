"""Registration status of terminals, read from Kamailio's location table over RPC."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from cloudpbx.sip import rpc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Contact:
    uri: str
    user_agent: str
    source: str  # the address the REGISTER came from (behind NAT: the public one)
    expires: int  # seconds left


@dataclass(frozen=True)
class Registration:
    contacts: tuple[Contact, ...]

    @property
    def online(self) -> bool:
        return bool(self.contacts)


OFFLINE = Registration(contacts=())


def _contacts(aor: dict[str, Any]) -> tuple[Contact, ...]:
    contacts = []
    for item in aor.get("Contacts", []):
        contact = item.get("Contact", item)
        received = contact.get("Received") or ""
        source = received.removeprefix("sip:") if received and received != "[not set]" else ""
        expires = contact.get("Expires")
        contacts.append(
            Contact(
                uri=str(contact.get("Address", "")),
                user_agent=str(contact.get("User-Agent", "")),
                source=source or str(contact.get("Socket", "")),
                expires=int(expires)
                if isinstance(expires, int | str) and str(expires).isdigit()
                else 0,
            )
        )
    return tuple(contacts)


def registrations(usernames: Iterable[str]) -> dict[str, Registration] | None:
    """Status per SIP username; None when Kamailio cannot be asked (shown as unknown)."""
    wanted = set(usernames)
    found: dict[str, Registration] = {name: OFFLINE for name in wanted}
    if not wanted:
        return found
    try:
        for url in settings.CLOUDPBX_KAMAILIO_RPC_URLS:
            dump = rpc.call(url, "ul.dump")
            for domain in dump.get("Domains", []):
                for entry in domain.get("Domain", {}).get("AoRs", []):
                    aor = entry.get("Info", entry)
                    name = str(aor.get("AoR", "")).split("@")[0]
                    if name in wanted:
                        merged = found[name].contacts + _contacts(aor)
                        found[name] = Registration(contacts=merged)
    except rpc.RpcError as error:
        logger.warning("registration status unavailable: %s", error)
        return None
    return found
