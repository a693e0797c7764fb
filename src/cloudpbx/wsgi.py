"""The WSGI applications the web server (granian) runs.

- :data:`application`: the portal, the API, ``/prov/`` and app links. Served over HTTPS by
  ``cloudpbx run`` itself, or over plain HTTP to a TLS reverse proxy (``CLOUDPBX_HTTPS_PORT=0``).
- :data:`plain_http`: the plain-HTTP port beside HTTPS. It only redirects to the public HTTPS
  URL, except ``/healthz`` and, where the operator allows it (``CLOUDPBX_PROV_PLAIN_HTTP``),
  ``/prov/`` for phones that cannot fetch over HTTPS yet.
"""

import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from cloudpbx.provisioning import clients

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpbx.settings")
_django = get_wsgi_application()

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

# Characters of a path that pass a redirect unchanged (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def application(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Who is asking and over what is decided here, once, for the portal (its login throttle),
    the API and ``/prov/`` alike: ``X-Forwarded-For`` and ``-Proto`` count only from a trusted
    proxy (``CLOUDPBX_TRUSTED_PROXIES``, see :mod:`cloudpbx.provisioning.clients`) and are
    dropped from anyone else, so no client can pose as another address or as HTTPS. Behind
    the proxy, ``REMOTE_ADDR`` becomes the client's address."""
    client = clients.client_of(
        remote_addr=environ.get("REMOTE_ADDR", ""),
        forwarded_for=environ.pop("HTTP_X_FORWARDED_FOR", ""),
        forwarded_proto=environ.pop("HTTP_X_FORWARDED_PROTO", ""),
        direct_https=environ.get("wsgi.url_scheme") == "https",
        trusted_proxies=tuple(settings.CONFIG.trusted_proxies),
    )
    if client.address is not None:
        environ["REMOTE_ADDR"] = client.address
    elif clients.parse_address(environ.get("REMOTE_ADDR", "")) is not None:
        # A trusted proxy forwarded an address that is none: nobody to throttle or log.
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"Bad Request\n"]
    if client.secure:
        environ["wsgi.url_scheme"] = "https"
    return _django(environ, start_response)  # type: ignore[no-any-return]


def served_over_plain_http(path: str) -> bool:
    return path == "/healthz" or (settings.CONFIG.prov_plain_http and path.startswith("/prov/"))


def plain_http(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    if served_over_plain_http(path):
        return application(environ, start_response)
    # To the configured public URL, never to the request's Host (no open redirect).
    location = settings.CONFIG.public_web_url + quote(path.encode("latin-1"), safe=_PATH_SAFE)
    if environ.get("QUERY_STRING"):
        location += "?" + environ["QUERY_STRING"]
    keeps_method = environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD")
    start_response(
        "308 Permanent Redirect" if keeps_method else "301 Moved Permanently",
        [("Location", location), ("Content-Length", "0"), ("Content-Type", "text/plain")],
    )
    return [b""]
