"""Live status of terminals as the portal shows it.

Registration comes from the SIP core; this module is the one place the portal asks for it, and
``terminals/_registration_status.html`` the one template that renders it (overview column and
edit page). Provisioning status comes from the fields the provisioning server writes on each
fetch and is rendered by ``terminals/_provisioning_status.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudpbx.terminals.models import Terminal


def registration_statuses(terminals: Sequence[Terminal]) -> dict[int, Any]:
    """The registration of each terminal, by terminal id; a missing id renders as "—".

    Called once per page with that page's terminals. To be wired to the SIP core here, once:
    ``cloudpbx.sip.status.registrations([t.sip_username for t in terminals if t.sip_username])``
    returns ``{username: Registration}`` (or None when Kamailio cannot be asked); key it back
    by terminal id. The template already renders ``Registration.online`` and its contacts.
    Until then nothing is known.
    """
    return {}


def attach_registrations(terminals: Sequence[Terminal]) -> None:
    """Set ``terminal.registration`` (or None) on each terminal for the templates."""
    statuses = registration_statuses(terminals)
    for terminal in terminals:
        terminal.registration = statuses.get(terminal.pk)  # type: ignore[attr-defined]
