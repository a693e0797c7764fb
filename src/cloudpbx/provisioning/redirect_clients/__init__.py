"""Manufacturer redirect services: where a factory-new phone asks for its provisioning server.

One Django-free module per service, each a :class:`~.base.RedirectService` (register a MAC with
a URL, deregister it), speaking the service's documented protocol over :mod:`.http`:

- :mod:`.ymcs`: Yealink YMCS (REST, OAuth2 client credentials);
- :mod:`.yealink_rps`: Yealink's legacy RPS (XML-RPC, HTTP Basic);
- :mod:`.sraps`: Snom SRAPS (REST, Hawk request signing, :mod:`.hawk`);
- :mod:`.gigaset`: the Gigaset redirect server (XML-RPC, HTTP Basic, MAC-ID check code).

Htek has no API: the customer registers the MAC in Htek's portal (see docs/redirect-services.md).
Django's side: the operator's settings and the jobs in
:mod:`cloudpbx.provisioning.services.redirect_registrations`, the statuses in
:mod:`cloudpbx.provisioning.redirect_status`.
"""

from cloudpbx.provisioning.redirect_clients.base import RedirectError, RedirectService, Target

__all__ = ["RedirectError", "RedirectService", "Target"]
