"""What every redirect-service adapter offers, and the one error type they raise. Django-free."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

_HEX12 = re.compile(r"^[0-9a-f]{12}$")


class RedirectError(Exception):
    """A refused or failed call. ``reason`` is shown to operators and customers (the service's
    own message where it gave one; never a secret). ``permanent``: retrying cannot help (bad
    credentials, a MAC owned by another provider…) until someone changes something."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.permanent = permanent


@dataclass(frozen=True)
class Target:
    """A phone to register: ``mac`` as 12 lowercase hex digits, the provisioning ``url`` the
    service hands the phone, and (Gigaset only) the 4-character check code of its MAC-ID."""

    mac: str
    url: str
    mac_id_crc: str = ""

    def __post_init__(self) -> None:
        if not _HEX12.match(self.mac):
            raise ValueError("mac must be 12 lowercase hex digits")


class RedirectService(Protocol):
    """Register and deregister are idempotent: registering a registered MAC (same URL) and
    deregistering an unknown one succeed. Both raise :class:`RedirectError` on failure."""

    name: str  # e.g. "Yealink YMCS", for statuses and logs

    def register(self, target: Target) -> None: ...

    def deregister(self, mac: str) -> None: ...


def mac_separated(mac: str, separator: str) -> str:
    """``001565123456`` → ``00-15-65-12-34-56`` (uppercase)."""
    upper = mac.upper()
    return separator.join(upper[i : i + 2] for i in range(0, 12, 2))


def classify_status(status: int) -> bool:
    """Whether an HTTP error status is permanent: client errors are, except timeouts and rate
    limits; server errors are not."""
    return 400 <= status < 500 and status not in (408, 425, 429)
