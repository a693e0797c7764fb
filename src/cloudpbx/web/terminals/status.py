"""Live status of terminals as the portal shows it.

Registration comes from the SIP core; this module is the one place the portal asks for it, and
``terminals/_registration_status.html`` the one template that renders it (overview column and
edit page). Provisioning status comes from the fields the provisioning server writes on each
fetch and is rendered by ``terminals/_provisioning_status.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudpbx.sip import status
from cloudpbx.terminals.models import Terminal


def registration_statuses(terminals: Sequence[Terminal]) -> dict[int, Any]:
    """The registration of each terminal with a SIP account, by terminal id; a missing id
    (external phones, or Kamailio unreachable) renders as "—". One question to the SIP core
    per page."""
    accounts = {t.sip_username: t.pk for t in terminals if t.sip_username}
    found = status.registrations(accounts)
    if found is None:
        return {}
    return {accounts[username]: registration for username, registration in found.items()}


def attach_last_call(terminal: Terminal) -> None:
    """Set ``terminal.last_call`` (a :class:`cloudpbx.sip.status.LastCall` or None), rendered
    by ``terminals/_last_call.html``: its transport and whether its media was encrypted."""
    found = status.last_call(terminal.sip_username) if terminal.sip_username else None
    terminal.last_call = found  # type: ignore[attr-defined]


def attach_registrations(terminals: Sequence[Terminal]) -> None:
    """Set ``terminal.registration`` (or None) on each terminal for the templates."""
    statuses = registration_statuses(terminals)
    for terminal in terminals:
        terminal.registration = statuses.get(terminal.pk)  # type: ignore[attr-defined]
