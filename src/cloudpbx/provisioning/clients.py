"""The client's address and scheme behind trusted reverse proxies. Django-free.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are honoured only when the direct peer is one of
the configured proxies (``CLOUDPBX_TRUSTED_PROXIES``); the client is then the right-most
forwarded address that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    parsed: list[Network] = []
    for entry in entries:
        try:
            parsed.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue  # settings validate these; a bad entry trusts nothing
    return tuple(parsed)


def parse_address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(raw.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def inside(address: str | None, ranges: Iterable[Network]) -> bool:
    parsed = parse_address(address) if address else None
    return parsed is not None and any(parsed in network for network in ranges)


@dataclass(frozen=True)
class Client:
    address: str | None  # None: a trusted proxy forwarded something unreadable
    secure: bool  # reached us over HTTPS (directly or through a trusted proxy)
    proxied: bool = False  # came through a trusted proxy (the address is what it forwarded)

    @property
    def on_this_host(self) -> bool:
        """Asked from this machine itself, not through a proxy that runs here."""
        parsed = parse_address(self.address) if self.address and not self.proxied else None
        return parsed is not None and parsed.is_loopback


def client_of(
    remote_addr: str,
    forwarded_for: str,
    forwarded_proto: str,
    direct_https: bool,
    trusted_proxies: tuple[str, ...],
) -> Client:
    proxies = networks(trusted_proxies)
    peer = parse_address(remote_addr)
    if peer is None or not proxies or not any(peer in net for net in proxies):
        return Client(address=str(peer) if peer else None, secure=direct_https)
    secure = direct_https or forwarded_proto.strip().lower() == "https"
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return Client(address=None, secure=secure, proxied=True)
        if not any(address in net for net in proxies):
            return Client(address=str(address), secure=secure, proxied=True)
    # Only proxies: the last one is the client.
    return Client(address=str(peer), secure=secure, proxied=True)
