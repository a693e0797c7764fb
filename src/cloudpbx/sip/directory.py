"""What the SIP router needs to know, read with raw SQL and cached per Kamailio worker.

Hot path rules (see ../shared/reference/kamailio-kemi-notes.md): one indexed query per cache
miss, no ORM, no network. Each Kamailio worker is a forked process with its own connection
(opened lazily, after the fork) and its own cache. The portal invalidates every worker's cache
at once by bumping a generation number in a Kamailio shared-memory hash table (see
:mod:`cloudpbx.sip.notify`); a short TTL bounds staleness if that message is lost.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from cloudpbx.sip.edge import Endpoint, Hosts
from cloudpbx.sip.routing import Caller, ExtensionEntry, RingTarget

CACHE_TTL_SECONDS = 30.0
CACHE_MAX_ENTRIES = 20_000
T = TypeVar("T")

_CALLER_SQL = """
SELECT t.id, t.tenant_id, ten.country, t.sip_username, t.sip_ha1, t.external_calls_enabled,
       COALESCE(idn.e164, (SELECT m.e164 FROM numbering_phonenumber m
                           WHERE m.tenant_id = t.tenant_id AND m.is_main)),
       t.internal_display_name, ext.number, t.caller_id_mode, t.caller_id_custom, cid.e164,
       ten.allowed_destination_countries, ten.max_outbound_calls,
       COALESCE(NULLIF(t.media_encryption, ''), ten.media_encryption), t.type
FROM terminals_terminal t
JOIN tenancy_tenant ten ON ten.id = t.tenant_id
LEFT JOIN numbering_phonenumber idn ON idn.id = t.identification_number_id
LEFT JOIN extensions_extension ext ON ext.id = t.internal_extension_id
LEFT JOIN numbering_phonenumber cid ON cid.id = t.caller_id_number_id
WHERE t.sip_username = %s AND t.type IN ('ip_phone', 'app')
"""

_EXTENSION_SQL = """
SELECT e.tenant_id, e.number, t.id, t.type, t.sip_username, t.external_number,
       COALESCE(NULLIF(t.media_encryption, ''), ten.media_encryption)
FROM extensions_extension e
JOIN tenancy_tenant ten ON ten.id = e.tenant_id
LEFT JOIN terminals_terminal_ringing_extensions r ON r.extension_id = e.id
LEFT JOIN terminals_terminal t ON t.id = r.terminal_id
WHERE e.tenant_id = %s AND e.number = %s
ORDER BY t.id
"""

_DID_SQL = """
SELECT n.tenant_id, e.number
FROM numbering_phonenumber n
LEFT JOIN extensions_extension e ON e.id = n.destination_id
WHERE n.e164 = %s
"""

_TRUNKS_SQL = """
SELECT id, gateway, port, transport, header_style, source_networks, is_default,
       auth_username, auth_password_encrypted, trust_media_address
FROM trunks_trunk ORDER BY is_default DESC, id
"""


@dataclass(frozen=True)
class Account:
    """A SIP account that may authenticate: the HA1 and the caller it becomes."""

    ha1: str
    caller: Caller
    kind: str  # the terminal's type: "ip_phone" or "app"


@dataclass(frozen=True)
class Trunk:
    id: int
    gateway: str
    port: int
    transport: str
    header_style: str
    source_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    is_default: bool
    auth_username: str = ""
    auth_password: str = ""  # decrypted: only ever held in this worker's memory
    trust_media_address: bool = True

    def uri(self, user: str) -> str:
        return f"sip:{user}@{self.gateway}:{self.port};transport={self.transport}"


class Database:
    """A read-only DB-API connection to the portal's database, opened lazily per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: Any = None
        self._pid = 0

    def _connect(self) -> Any:
        parts = urlsplit(self.url)
        if parts.scheme == "sqlite":
            path = "/" + unquote(parts.path).lstrip("/")
            connection = sqlite3.connect(
                f"file:{quote(path)}?mode=ro", uri=True, check_same_thread=False, timeout=5
            )
            connection.execute("PRAGMA query_only = 1")
            return connection
        import psycopg  # only needed with PostgreSQL

        url = self.url.replace("postgres://", "postgresql://", 1)
        return psycopg.connect(url, autocommit=True)

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._connection is None or self._pid != os.getpid():
            # Kamailio forks its workers after loading the script: never share a connection.
            self._connection = self._connect()
            self._pid = os.getpid()
        if isinstance(self._connection, sqlite3.Connection):
            sql = sql.replace("%s", "?")
        try:
            cursor = self._connection.execute(sql, params)
            return list(cursor.fetchall())
        except Exception:
            self._connection = None  # reconnect on the next request (server restart, …)
            raise


class Directory:
    """Cached lookups for the router; implements :class:`cloudpbx.sip.routing.Directory`."""

    def __init__(
        self,
        database: Database,
        clock: Callable[[], float] = time.monotonic,
        decrypt: Callable[[str], str] = lambda secret: "",
    ) -> None:
        self.database = database
        self.clock = clock
        self.decrypt = decrypt
        self.generation: int | None = None
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def sync(self, generation: int | None) -> None:
        """Drop the cache when the portal has changed something since the last request."""
        if generation != self.generation:
            self._cache.clear()
            self.generation = generation

    def _cached(self, key: tuple[Any, ...], load: Callable[[], T]) -> T:
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]  # type: ignore[no-any-return]
        value = load()
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            # Lookups of attacker-chosen usernames must not grow a worker without bound: drop
            # the oldest entry (dicts keep insertion order).
            del self._cache[next(iter(self._cache))]
        self._cache[key] = (now + CACHE_TTL_SECONDS, value)
        return value

    def account(self, username: str) -> Account | None:
        return self._cached(("account", username), lambda: self._load_account(username))

    def extension(self, tenant_id: int, number: str) -> ExtensionEntry | None:
        return self._cached(
            ("extension", tenant_id, number), lambda: self._load_extension(tenant_id, number)
        )

    def did(self, e164: str) -> tuple[int, str | None] | None:
        return self._cached(("did", e164), lambda: self._load_did(e164))

    def trunks(self) -> tuple[Trunk, ...]:
        return self._cached(("trunks",), self._load_trunks)

    def trunk_for_source(self, address: str) -> Trunk | None:
        """The trunk whose source networks hold ``address`` (``$si``): asked for every request,
        so decided once per address and cache generation (parsing it costs ~1 µs)."""
        return self._cached(("source", address), lambda: self._trunk_for(address))

    def _trunk_for(self, address: str) -> Trunk | None:
        ip = ipaddress.ip_address(address)
        for trunk in self.trunks():
            if any(ip in network for network in trunk.source_networks):
                return trunk
        return None

    def hosts(self, own: frozenset[Endpoint]) -> Hosts:
        """The PBX's own endpoints and every trunk's gateway and networks (see :mod:`edge`)."""

        def load() -> Hosts:
            trunks = self.trunks()
            return Hosts(
                own=own,
                trunk_endpoints=frozenset((t.gateway.lower(), t.port) for t in trunks),
                trunk_networks=tuple(n for t in trunks for n in t.source_networks),
            )

        return self._cached(("hosts", own), load)

    def default_trunk(self) -> Trunk | None:
        trunks = self.trunks()
        return trunks[0] if trunks else None

    def _load_account(self, username: str) -> Account | None:
        rows = self.database.rows(_CALLER_SQL, (username,))
        if not rows:
            return None
        (terminal_id, tenant_id, country, sip_username, ha1, external, identification, display,
         extension, mode, custom, shown, countries, max_calls, encryption,
         kind) = rows[0]  # fmt: skip
        caller = Caller(
            terminal_id=terminal_id,
            tenant_id=tenant_id,
            country=country,
            sip_username=sip_username,
            external_calls_enabled=bool(external),
            identification_number=identification,
            display_name=display or sip_username,
            extension=extension,
            caller_id_mode=mode,
            caller_id_custom=custom or "",
            caller_id_number=shown,
            allowed_countries=tuple(_json_list(countries)),
            max_outbound_calls=int(max_calls or 0),
            media_encryption=encryption or "off",
        )
        return Account(ha1=ha1, caller=caller, kind=kind)

    def _load_extension(self, tenant_id: int, number: str) -> ExtensionEntry | None:
        rows = self.database.rows(_EXTENSION_SQL, (tenant_id, number))
        if not rows:
            return None
        targets = []
        for _tenant, _number, terminal_id, kind, username, external, encryption in rows:
            if terminal_id is None:
                continue
            if kind == "external" and external:
                targets.append(RingTarget(terminal_id, "external", external))
            elif kind in ("ip_phone", "app") and username:
                targets.append(RingTarget(terminal_id, "sip", username, encryption or "off"))
        return ExtensionEntry(tenant_id=tenant_id, number=number, targets=tuple(targets))

    def _load_did(self, e164: str) -> tuple[int, str | None] | None:
        rows = self.database.rows(_DID_SQL, (e164,))
        return (rows[0][0], rows[0][1]) if rows else None

    def _load_trunks(self) -> tuple[Trunk, ...]:
        trunks = []
        rows = self.database.rows(_TRUNKS_SQL, ())
        for row in rows:
            trunk_id, gateway, port, transport, style, networks, default, user, secret, trust = row
            parsed = _json_list(networks)
            trunks.append(
                Trunk(
                    id=trunk_id,
                    gateway=gateway,
                    port=port,
                    transport=transport,
                    header_style=style,
                    source_networks=tuple(ipaddress.ip_network(n, strict=False) for n in parsed),
                    is_default=bool(default),
                    auth_username=user or "",
                    auth_password=self.decrypt(secret) if secret else "",
                    trust_media_address=bool(trust),
                )
            )
        return tuple(trunks)


def _json_list(value: Any) -> list[Any]:
    """A JSON list column: text with SQLite, already decoded with PostgreSQL."""
    parsed = json.loads(value) if isinstance(value, str) else value
    return list(parsed or ())
