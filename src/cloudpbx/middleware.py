"""Who is asking, and over what: decided once per request, first of all middleware, for the
portal (its login throttle), the API and ``/prov/`` alike.

``X-Forwarded-For`` and ``-Proto`` count only from a trusted proxy (``CLOUDPBX_TRUSTED_PROXIES``,
see :mod:`cloudpbx.provisioning.clients`) and are dropped from anyone else, so no client can
pose as another address or as HTTPS. Behind the proxy, ``REMOTE_ADDR`` becomes the client's
address and the request's scheme the client's; ``request.client`` holds the decision.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from cloudpbx.provisioning import clients


class ClientAddressMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        client = clients.client_of(
            remote_addr=meta.get("REMOTE_ADDR", ""),
            forwarded_for=meta.pop("HTTP_X_FORWARDED_FOR", ""),
            forwarded_proto=meta.pop("HTTP_X_FORWARDED_PROTO", ""),
            direct_https=meta.get("wsgi.url_scheme") == "https",
            trusted_proxies=tuple(settings.CONFIG.trusted_proxies),
        )
        if client.address is not None:
            meta["REMOTE_ADDR"] = client.address
        elif clients.parse_address(meta.get("REMOTE_ADDR", "")) is not None:
            # A trusted proxy forwarded an address that is none: nobody to throttle or log.
            return HttpResponseBadRequest("Bad Request\n", content_type="text/plain")
        if client.secure:
            meta["wsgi.url_scheme"] = "https"  # what request.scheme and is_secure() read
        request.client = client  # type: ignore[attr-defined]
        return self.get_response(request)
