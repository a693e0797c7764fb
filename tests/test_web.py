"""The HTTP surface outside the JSON endpoints: OpenAPI, docs, admin, headers."""

import re

from django.test import Client

from cloudpbx.accounts.models import User


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


def test_healthz(db):
    assert Client().get("/healthz").json() == {"status": "ok"}


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
