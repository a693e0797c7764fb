"""Registration status and last call of terminals, read from Kamailio over RPC (and, with
PostgreSQL, registrations from the shared location table)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection

from cloudpbx.sip import edge, rpc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Contact:
    uri: str
    user_agent: str
    source: str  # the address the REGISTER came from (behind NAT: the public one)
    expires: int  # seconds left
    received: str = ""  # NAT: where requests to the contact must go (``sip:ip:port``), or ""
    socket: str = ""  # the Kamailio socket the phone registered on, e.g. ``udp:1.2.3.4:5060``

    @property
    def private_address(self) -> str:
        """Behind NAT, the address the phone believes it has (its Contact's ``host:port``,
        which the PBX never uses); "" when the phone is reached where its Contact says."""
        named, seen = edge.endpoint(self.uri), edge.endpoint(self.received)
        if named is None or seen is None or named == seen:
            return ""
        host, port = named
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def behind_nat(self) -> bool:
        return bool(self.private_address)

    @property
    def transport(self) -> str:
        """How the phone registered: ``udp``, ``tcp`` or ``tls`` (its socket's protocol)."""
        return self.socket.split(":", 1)[0] if ":" in self.socket else ""


@dataclass(frozen=True)
class LastCall:
    """The terminal's last call placed or answered (since Kamailio started, per node)."""

    at: datetime
    transport: str  # of its signalling: udp, tcp, tls
    encrypted: bool  # its media was SRTP between the phone and the relay


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
        if received == "[not set]":
            received = ""
        source = received.removeprefix("sip:")
        socket = str(contact.get("Socket", ""))
        socket = "" if socket == "[not set]" else socket
        expires = contact.get("Expires")
        contacts.append(
            Contact(
                uri=str(contact.get("Address", "")),
                user_agent=str(contact.get("User-Agent", "")),
                source=source or socket,
                expires=int(expires)
                if isinstance(expires, int | str) and str(expires).isdigit()
                else 0,
                received=received,
                socket=socket,
            )
        )
    return tuple(contacts)


def registrations(usernames: Iterable[str]) -> dict[str, Registration] | None:
    """Status per SIP username; None when Kamailio cannot be asked (shown as unknown).

    With PostgreSQL, Kamailio keeps registrations in the shared database only (every node
    sees them), so they are read there; with SQLite they live in Kamailio's memory, written
    back to its file now and then, so Kamailio is asked over RPC.
    """
    wanted = set(usernames)
    found: dict[str, Registration] = {name: OFFLINE for name in wanted}
    if not wanted:
        return found
    if connection.vendor == "postgresql":
        return _from_database(found)
    if not settings.CLOUDPBX_KAMAILIO_RPC_URLS:
        return None  # no Kamailio to ask
    try:
        for url in settings.CLOUDPBX_KAMAILIO_RPC_URLS:
            dump = rpc.call(url, "ul.dump", token=settings.CLOUDPBX_KAMAILIO_RPC_TOKEN)
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


def last_call(username: str) -> LastCall | None:
    """What Kamailio recorded (``lastcall`` table: ``<epoch> <transport> <srtp|rtp>``); the
    latest over all nodes; None when no call is known or no Kamailio answers."""
    found: LastCall | None = None
    for url in settings.CLOUDPBX_KAMAILIO_RPC_URLS:
        try:
            entry = rpc.call(
                url, "htable.get", "lastcall", username, token=settings.CLOUDPBX_KAMAILIO_RPC_TOKEN
            )
        except rpc.RpcError:
            continue  # unknown key (no call) or the node is down: nothing to show from it
        try:
            epoch, transport, media = str(entry["item"]["value"]).split()
            call = LastCall(datetime.fromtimestamp(int(epoch), UTC), transport, media == "srtp")
        except (KeyError, TypeError, ValueError):
            continue
        if found is None or call.at > found.at:
            found = call
    return found


def _from_database(found: dict[str, Registration]) -> dict[str, Registration] | None:
    # Kamailio writes ``expires`` as a time without zone, in UTC (its supervisor sets TZ=UTC).
    names = list(found)
    with connection.cursor() as cursor:
        if not _location_table(cursor):
            return None  # Kamailio has not created its table yet: nothing is known
        cursor.execute(
            "SELECT username, contact, user_agent, received, socket,"
            " EXTRACT(EPOCH FROM (expires - (now() AT TIME ZONE 'UTC')))::int"
            " FROM location WHERE username = ANY(%s) AND expires > (now() AT TIME ZONE 'UTC')"
            " ORDER BY username, id",
            [names],
        )
        for username, contact, user_agent, received, socket, left in cursor.fetchall():
            source = (received or "").removeprefix("sip:") or (socket or "")
            entry = Contact(
                uri=contact,
                user_agent=user_agent,
                source=source,
                expires=left,
                received=received or "",
                socket=socket or "",
            )
            found[username] = Registration(contacts=(*found[username].contacts, entry))
    return found


def registered_in_database() -> tuple[int, int] | None:
    """With PostgreSQL (where Kamailio keeps no count in memory): the SIP accounts with a live
    contact and the live contacts, over every node; None before Kamailio created its table."""
    with connection.cursor() as cursor:
        if not _location_table(cursor):
            return None
        cursor.execute(
            "SELECT count(DISTINCT username), count(*) FROM location"
            " WHERE expires > (now() AT TIME ZONE 'UTC')"
        )
        accounts, contacts = cursor.fetchone()
    return int(accounts), int(contacts)


def _location_table(cursor: Any) -> bool:
    """Whether Kamailio has created its ``location`` table in PostgreSQL yet."""
    cursor.execute("SELECT to_regclass('location') IS NOT NULL")
    return bool(cursor.fetchone()[0])
