"""The HTTP surface outside the JSON endpoints: OpenAPI, docs, admin, headers."""

import re

import pytest
from django.test import Client

from cloudpbx.accounts.models import User
from cloudpbx.testing import api_client


def test_openapi_31_document_lists_every_resource(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    for path in (
        "/api/v1/terminals/",
        "/api/v1/terminals/{terminal_id}",
        "/api/v1/terminals/{terminal_id}/sip-password",
        "/api/v1/terminals/{terminal_id}/acs-password",
        "/api/v1/extensions/",
        "/api/v1/numbers/",
    ):
        assert path in schema["paths"], path
    assert (
        "BearerAuth" in str(schema["components"]["securitySchemes"])
        or schema["components"]["securitySchemes"]
    )


def test_api_docs_are_served_without_any_cdn(db):
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    external = [url for url in re.findall(r'(?:src|href)="([^"]+)"', html) if "//" in url]
    assert external == []


def test_security_headers_on_pages(db):
    response = Client().get("/login/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_admin_requires_staff_login(db):
    assert Client().get("/admin/").status_code == 302
    operator = User.objects.create_superuser("operator", "op@example.invalid", "Op-Secret-12345")
    client = Client()
    client.force_login(operator)
    assert client.get("/admin/terminals/terminal/").status_code == 200
    assert client.get("/admin/numbering/phonenumber/").status_code == 200


def test_admin_login_locks_out_after_repeated_failures(db):
    User.objects.create_superuser("operator", "op@example.invalid", "Op-Secret-12345")
    client = Client()
    for _ in range(5):
        client.post("/admin/login/", {"username": "operator", "password": "wrong"})
    locked = client.post(
        "/admin/login/?next=/admin/", {"username": "operator", "password": "Op-Secret-12345"}
    )
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_behind_a_proxy_one_clients_failed_logins_lock_only_that_client(transactional_db, tmp_path):
    """The login throttle counts addresses: behind a TLS proxy (granian on plain HTTP, as
    `cloudpbx run` serves with CLOUDPBX_HTTPS_PORT=0) each client is its own address, so a
    guesser at one address does not lock out the colleagues behind the same proxy."""
    import dataclasses
    import http.cookiejar
    import re
    import socket
    import urllib.error
    import urllib.parse
    import urllib.request

    from django.conf import settings

    from cloudpbx.testing import make_tenant, make_user

    from .processes import database_url, web_servers

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = dataclasses.replace(
        settings.CONFIG, data_dir=tmp_path, database_url=database_url(), https_port=0,
        http_port=port, http_workers=1, trusted_proxies=["127.0.0.1"],
        public_web_url=f"http://127.0.0.1:{port}",
    )  # fmt: skip
    tenant = make_tenant()
    colleague = make_user(tenant, password="Colleague-Secret-2024")

    def log_in(username: str, password: str, client: str) -> str:
        """What a browser behind the proxy does (the proxy says who the client is): "in",
        "refused" (the form again) or "locked"."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.addheaders = [("X-Forwarded-For", client)]
        page = opener.open(f"http://127.0.0.1:{port}/login/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/login/", data=urllib.parse.urlencode(form).encode()
        )
        try:
            with opener.open(request, timeout=10) as response:
                landed = urllib.parse.urlsplit(response.url).path
                return "refused" if landed == "/login/" else "in"
        except urllib.error.HTTPError as error:
            assert error.code == 429, error.code
            return "locked"

    with web_servers(config):
        limit = settings.AXES_FAILURE_LIMIT
        guesses = [log_in("guessed", "Wrong-Password-1", "203.0.113.5") for _ in range(limit)]
        assert guesses == ["refused"] * (limit - 1) + ["locked"]
        assert log_in(colleague.username, "Colleague-Secret-2024", "203.0.113.5") == "locked"
        # The colleague behind the same proxy, at another address, is not locked out.
        assert log_in(colleague.username, "Colleague-Secret-2024", "203.0.113.6") == "in"


@pytest.mark.parametrize("resource", ["terminals", "extensions", "numbers"])
@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=530692627&offset=0", "limit"), ("limit=10&offset=31105965445007859712", "offset")],
)
def test_pagination_out_of_range_is_a_422_naming_the_parameter(tenant, resource, query, field):
    """Found by schemathesis: a huge offset overflowed the database (500)."""
    response = api_client(tenant).get(f"/api/v1/{resource}/?{query}")
    assert response.status_code == 422
    assert field in response.content.decode()
