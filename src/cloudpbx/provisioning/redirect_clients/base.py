"""What every redirect-service adapter offers, and the one error type they raise. Django-free."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

_HEX12 = re.compile(r"^[0-9a-f]{12}$")


class RedirectError(Exception):
    """A refused or failed call. ``reason`` is shown to operators and customers (the service's
    own message where it gave one; never a secret). ``permanent``: retrying cannot help (bad
    credentials, a MAC owned by another provider…) until someone changes something."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.permanent = permanent

    def redacted(self, *secrets: str) -> RedirectError:
        """The same error with every secret in its reason replaced (see :func:`redact`)."""
        return RedirectError(redact(self.reason, *secrets), permanent=self.permanent)


@dataclass(frozen=True)
class Target:
    """A phone to register: ``mac`` as 12 lowercase hex digits, the provisioning ``url`` the
    service hands the phone, (Gigaset only) the 4-character check code of its MAC-ID, its
    ``model`` (our key, e.g. ``N870``), and the credentials the phone needs at our server
    (``auth_name``/``auth_password``; both empty for a trusted-IP phone).

    The service hands the credentials to the phone only where it can
    (:meth:`RedirectService.carries_credentials`); the password is never part of ``repr``,
    a reason or a log line.
    """

    mac: str
    url: str
    mac_id_crc: str = ""
    model: str = ""
    auth_name: str = ""
    auth_password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not _HEX12.match(self.mac):
            raise ValueError("mac must be 12 lowercase hex digits")
        if bool(self.auth_name) != bool(self.auth_password):
            raise ValueError("auth_name and auth_password go together")


class RedirectService(Protocol):
    """Register and deregister are idempotent: registering a registered MAC (same URL) and
    deregistering an unknown one succeed. Both raise :class:`RedirectError` on failure."""

    name: str  # e.g. "Yealink YMCS", for statuses and logs

    @classmethod
    def connect(cls, account: str, secret: str, server_name: str, url: str) -> RedirectService:
        """The client for the operator's settings: ``url`` "" means the service's own,
        ``server_name`` is what the services that ask for one show (others ignore it)."""
        ...

    @staticmethod
    def carries_credentials(model: str) -> bool:
        """Whether the service can hand a phone of this model its credentials for our server
        (a pure function of the service and the model: no call)."""
        ...

    def register(self, target: Target) -> None: ...

    def deregister(self, mac: str) -> None: ...


def redact(text: str, *secrets: str) -> str:
    """``text`` with every non-empty secret, as typed and URL-encoded, replaced by ``***``
    (a service may echo what it was sent, e.g. a URL with ``user:password@``)."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text


def mac_separated(mac: str, separator: str) -> str:
    """``001565123456`` → ``00-15-65-12-34-56`` (uppercase)."""
    upper = mac.upper()
    return separator.join(upper[i : i + 2] for i in range(0, 12, 2))


def classify_status(status: int) -> bool:
    """Whether an HTTP error status is permanent: client errors are, except timeouts and rate
    limits; server errors are not."""
    return 400 <= status < 500 and status not in (408, 425, 429)
