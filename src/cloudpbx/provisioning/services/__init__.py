"""Provisioning's services: the only write path for its data (the portal, the API, the admin,
the CLI and the jobs all call these; nothing else saves a provisioning model).

- :mod:`.devices`: a phone's device (saved with its terminal), its DECT handsets, its ACS
  password;
- :mod:`.redirect_registrations`: the operator's redirect-service settings and what is
  registered at each manufacturer's service;
- :mod:`.resync`: the NOTIFY that makes a registered phone fetch its configuration now;
- :mod:`.app_links`: the one-time links that set up an app.

One write stays outside, on purpose: the provisioning server records each fetch (status, replay
guard, the first binding of a MAC) in one UPDATE written in SQL (:func:`..queries.record_fetch`),
because it runs on every request of every phone.

Reads that the portal and the API show live beside them: :mod:`..redirect_status`,
:mod:`..queries` (the provisioning server's hot path), :mod:`..claims`.
"""

from cloudpbx.provisioning.services.devices import (
    ACS_USERNAME_PREFIX,
    Devices,
    bind,
    bind_by_mac_id,
    handset_pin,
    handset_registration_minutes,
    open_handset_registration,
    set_acs_password,
)

__all__ = [
    "ACS_USERNAME_PREFIX",
    "Devices",
    "bind",
    "bind_by_mac_id",
    "handset_pin",
    "handset_registration_minutes",
    "open_handset_registration",
    "set_acs_password",
]
