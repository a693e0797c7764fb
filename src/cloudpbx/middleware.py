"""What every request passes first: who is asking and over what (:class:`ClientAddressMiddleware`),
its request id in the logs (:class:`RequestIdMiddleware`) and its count and duration in
``/metrics`` (:class:`MetricsMiddleware`).

Who is asking is decided once per request, first of all middleware, for the portal (its login
throttle), the API and ``/prov/`` alike.

``X-Forwarded-For`` and ``-Proto`` count only from a trusted proxy (``CLOUDPBX_TRUSTED_PROXIES``,
see :mod:`cloudpbx.provisioning.clients`) and are dropped from anyone else, so no client can
pose as another address or as HTTPS. Behind the proxy, ``REMOTE_ADDR`` becomes the client's
address and the request's scheme the client's; ``request.client`` holds the decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from cloudpbx import logs
from cloudpbx.core import metrics
from cloudpbx.provisioning import clients

GetResponse = Callable[[HttpRequest], HttpResponse]


class ClientAddressMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
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


class RequestIdMiddleware:
    """A new id per request, in every log line the request causes and in its answer's
    ``X-Request-ID`` (a customer or operator can quote it). Ours, never the client's: it
    lands in the logs."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = logs.new_request_id()
        logs.begin_request(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _end_request(**kwargs: object) -> None:
    logs.end_request()  # once Django logged the answer too


request_finished.connect(_end_request, dispatch_uid="cloudpbx.request_id")


class MetricsMiddleware:
    """Counts each answer by view, method and status, and times it by view."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = match.view_name if match is not None else metrics.UNMATCHED_VIEW
        # Any method string a client sends would be a new series: the standard ones only.
        method = request.method if request.method in _METHODS else "other"
        metrics.HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        metrics.HTTP_DURATION.labels(view).observe(time.perf_counter() - started)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
