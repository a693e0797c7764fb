"""The WSGI applications the web server (granian) runs.

- :data:`application`: the portal, the API, ``/prov/`` and app links. Served over HTTPS by
  ``cloudpbx run`` itself, or over plain HTTP to a TLS reverse proxy (``CLOUDPBX_HTTPS_PORT=0``;
  who the client is and whether it came over HTTPS: :mod:`cloudpbx.middleware`).
- :data:`plain_http`: the plain-HTTP port beside HTTPS. It only redirects to the public HTTPS
  URL, except ``/healthz``, ``/healthz/live``, ``/metrics`` (to this machine only: a token never
  travels in clear) and, where the operator allows it
  (``CLOUDPBX_PROV_PLAIN_HTTP``), ``/prov/`` for phones that cannot fetch over HTTPS yet.
"""

import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpbx.settings")
application = get_wsgi_application()

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

# Characters of a path that pass a redirect unchanged (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def served_over_plain_http(path: str) -> bool:
    return path in {"/healthz", "/healthz/live", "/metrics"} or (
        settings.CONFIG.prov_plain_http and path.startswith("/prov/")
    )


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
