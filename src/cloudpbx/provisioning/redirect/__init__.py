"""Manufacturer redirect services: where a factory-new phone asks for its provisioning server.

One Django-free module per service, each a :class:`~.base.RedirectService` (register a MAC with
a URL, deregister it), speaking the service's documented protocol over :mod:`.http`:

- :mod:`.ymcs`: Yealink YMCS (REST, OAuth2 client credentials);
- :mod:`.yealink_rps`: Yealink's legacy RPS (XML-RPC, HTTP Basic);
- :mod:`.sraps`: Snom SRAPS (REST, Hawk request signing, :mod:`.hawk`);
- :mod:`.gigaset`: the Gigaset redirect server (XML-RPC, HTTP Basic, MAC-ID check code).

Htek has no API: the customer registers the MAC in Htek's portal (see docs/redirect-services.md).
Operator settings, jobs and statuses are Django's side: :mod:`cloudpbx.provisioning.redirects`.
"""

from cloudpbx.provisioning.redirect.base import RedirectError, RedirectService, Target

__all__ = ["RedirectError", "RedirectService", "Target"]
