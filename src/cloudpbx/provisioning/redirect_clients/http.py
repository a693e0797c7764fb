"""The HTTP client every adapter uses: stdlib only, a timeout, no redirects, errors as data.

Redirects are not followed: a service answering 3xx must not be able to send our credentials
to another host. Transport failures become transient :class:`RedirectError` (retried).
``before_send`` is a hook for the tests, which refuse any host that is not the loopback fake.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message

from cloudpbx.provisioning.redirect_clients.base import RedirectError

TIMEOUT_SECONDS = 15.0
USER_AGENT = "cloudpbx-redirect/1"

before_send: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def send(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Response:
    if not url.startswith(("https://", "http://")):
        raise RedirectError(f"not an HTTP URL: {url}", permanent=True)
    if before_send is not None:
        before_send(url)
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (checked above)
    request.add_header("User-Agent", USER_AGENT)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, error.headers, error.read())
    except (OSError, ValueError) as error:
        # Never the URL with its query or the headers: only what went wrong and where.
        reason = getattr(error, "reason", error)
        raise RedirectError(f"{method} {_origin(url)}: {reason}") from None


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}"
