"""What granian runs: the client and scheme decided once (the first middleware), the plain-HTTP
port redirecting."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.test.client import RequestFactory

from cloudpbx import wsgi
from cloudpbx.middleware import ClientAddressMiddleware


def call(
    app: Any, path: str, method: str = "GET", path_info: str | None = None, **environ: str
) -> tuple[str, dict[str, str]]:
    request = RequestFactory().generic(method, path, **environ)
    if path_info is not None:
        request.environ["PATH_INFO"] = path_info
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> None:
        seen.update(status=status, headers=dict(headers))

    b"".join(app(request.environ, start_response))
    return seen["status"], seen["headers"]


@pytest.fixture
def config(settings: Any) -> Any:
    def use(**changes: Any) -> None:
        settings.CONFIG = dataclasses.replace(settings.CONFIG, **changes)

    return use


@pytest.fixture
def portal(monkeypatch: Any) -> dict[str, Any]:
    """The portal's WSGI application as far as the client middleware, then a recorder of
    what reaches the views (instead of them)."""
    seen: dict[str, Any] = {}

    def view(request: Any) -> HttpResponse:
        seen.update(request.META)
        return HttpResponse("")

    middleware = ClientAddressMiddleware(view)

    def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        response = middleware(WSGIRequest(environ))
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return [response.content]

    monkeypatch.setattr(wsgi, "application", application)
    return seen


@pytest.mark.parametrize(
    ("proxies", "remote", "secure"),
    [
        ([], "198.51.100.7", False),  # nobody is trusted: the header is a client's claim
        (["10.0.0.1"], "198.51.100.7", False),  # not from the proxy
        (["10.0.0.1"], "10.0.0.1", True),  # the proxy terminated TLS
    ],
)
def test_x_forwarded_proto_counts_only_from_a_trusted_proxy(
    config, portal, proxies, remote, secure
):
    config(trusted_proxies=proxies)
    call(wsgi.application, "/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_PROTO="https")
    assert (portal["wsgi.url_scheme"] == "https") is secure
    assert "HTTP_X_FORWARDED_PROTO" not in portal  # nobody downstream reads it again


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "client"),
    [
        ([], "198.51.100.7", "203.0.113.5", "198.51.100.7"),  # a client's claim: ignored
        (["10.0.0.1"], "10.0.0.1", "203.0.113.5", "203.0.113.5"),  # the proxy's word counts
        (["10.0.0.1"], "10.0.0.1", "192.0.2.9, 203.0.113.5", "203.0.113.5"),  # right-most hop
        (["10.0.0.1"], "198.51.100.7", "203.0.113.5", "198.51.100.7"),  # not the proxy
    ],
)
def test_the_client_address_is_decided_once_for_everything(
    config, portal, proxies, remote, forwarded, client
):
    """The login throttle, the API and /prov/ all read REMOTE_ADDR: behind a trusted proxy it
    is the client's, so five failures of one client do not lock out everyone behind it."""
    config(trusted_proxies=proxies)
    call(wsgi.application, "/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert portal["REMOTE_ADDR"] == client
    assert "HTTP_X_FORWARDED_FOR" not in portal


def test_a_trusted_proxy_forwarding_no_address_is_refused(config, portal):
    config(trusted_proxies=["10.0.0.1"])
    status, _ = call(wsgi.application, "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="bogus")
    assert status.startswith("400") and not portal


def test_the_plain_port_redirects_to_the_public_https_url_never_the_host_header(config, portal):
    config(public_web_url="https://pbx.example.com")
    status, headers = call(
        wsgi.plain_http, "/terminals/?x=1", HTTP_HOST="evil.example", SERVER_NAME="evil",
        path_info="/terminals/\xc3\xa9",  # PEP 3333: the path's bytes (UTF-8 é) as latin-1
    )  # fmt: skip
    assert status == "301 Moved Permanently"
    assert headers["Location"] == "https://pbx.example.com/terminals/%C3%A9?x=1"
    status, headers = call(wsgi.plain_http, "/login/", method="POST")
    assert status.startswith("308") and headers["Location"] == "https://pbx.example.com/login/"
    assert not portal  # nothing reached the portal over plain HTTP


def test_the_plain_port_serves_prov_only_where_the_operator_allows(config, portal):
    config(prov_plain_http=True)
    assert call(wsgi.plain_http, "/prov/805ec0123456.cfg")[0] == "200 OK"
    assert portal["PATH_INFO"] == "/prov/805ec0123456.cfg"
    assert call(wsgi.plain_http, "/healthz")[0] == "200 OK"
    config(prov_plain_http=False)
    status, headers = call(wsgi.plain_http, "/prov/805ec0123456.cfg")
    assert status == "301 Moved Permanently"
    assert headers["Location"].endswith("/prov/805ec0123456.cfg")
    assert call(wsgi.plain_http, "/healthz")[0] == "200 OK"  # monitors may ask either port
