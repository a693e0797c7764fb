"""Test helpers shared by every app: factories, an API client with a token, and the generic
tenant-isolation test case every multi-tenant endpoint inherits."""

from __future__ import annotations

import itertools
import json
from typing import Any, ClassVar

from django.test import Client

from cloudpbx.accounts.models import User
from cloudpbx.accounts.services import create_api_token
from cloudpbx.tenancy.models import Membership, Tenant
from cloudpbx.tenancy.services import add_member, create_tenant

_sequence = itertools.count(1)


def make_tenant(name: str = "", country: str = "DE") -> Tenant:
    return create_tenant(name=name or f"Customer {next(_sequence)}", country=country)


def make_user(
    tenant: Tenant | None = None, role: str = Membership.Role.ADMIN, **extra: Any
) -> User:
    user = User.objects.create_user(username=f"user{next(_sequence)}", **extra)
    if tenant is not None:
        add_member(tenant, user, role)
    return user


class ApiClient:
    """Django's test client speaking JSON with a bearer token of one user in one tenant."""

    def __init__(self, user: User, tenant: Tenant, language: str = "en") -> None:
        self.user, self.tenant = user, tenant
        _token, self.token = create_api_token(user, tenant, "test")
        self.client = Client(
            HTTP_AUTHORIZATION=f"Bearer {self.token}", HTTP_ACCEPT_LANGUAGE=language
        )

    def _send(self, method: str, path: str, data: Any = None) -> Any:
        body = json.dumps(data) if data is not None else None
        response = getattr(self.client, method)(path, data=body, content_type="application/json")
        response.json_body = response.json() if response.content else None
        return response

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params)
        response.json_body = response.json() if response.content else None
        return response

    def post(self, path: str, data: Any = None) -> Any:
        return self._send("post", path, data if data is not None else {})

    def patch(self, path: str, data: Any) -> Any:
        return self._send("patch", path, data)

    def delete(self, path: str) -> Any:
        return self._send("delete", path)


def api_client(tenant: Tenant, role: str = Membership.Role.ADMIN, **user: Any) -> ApiClient:
    return ApiClient(make_user(tenant, role, **user), tenant)


def errors_at(response: Any) -> dict[str, list[str]]:
    """The 422 body as {"outbound.custom_number": [messages]} for readable assertions."""
    assert response.status_code == 422, (response.status_code, response.content)
    found: dict[str, list[str]] = {}
    for item in response.json_body["detail"]:
        found.setdefault(".".join(str(p) for p in item["loc"][1:]), []).append(item["msg"])
    return found


class TenantIsolationCases:
    """Generic tenant-isolation tests for a REST resource.

    A test class inherits this (and is named ``Test…``), sets ``endpoint`` (collection URL) and
    implements ``make_object(tenant)``; ``patch_data``, ``actions`` (POST sub-paths of an
    object, e.g. ``sip-password``) and ``reads`` (GET sub-paths, e.g. ``status``) are optional.
    Every test proves that another tenant's object is a 404 that changes nothing, exactly as a
    missing one.
    """

    endpoint: ClassVar[str]
    patch_data: ClassVar[dict[str, Any]] = {}
    actions: ClassVar[list[str]] = []
    reads: ClassVar[list[str]] = []  # GET sub-paths of an object, e.g. ``status``

    def make_object(self, tenant: Tenant) -> Any:
        raise NotImplementedError

    def _setup(self) -> tuple[ApiClient, Any]:
        mine, theirs = make_tenant(), make_tenant()
        return api_client(mine), self.make_object(theirs)

    def _url(self, obj: Any, suffix: str = "") -> str:
        return f"{self.endpoint}{obj.pk}" + (f"/{suffix}" if suffix else "")

    def test_list_shows_only_own_objects(self, db: Any) -> None:
        client, foreign = self._setup()
        own = self.make_object(client.tenant)
        response = client.get(self.endpoint, limit=1000)
        assert response.status_code == 200
        ids = {item["id"] for item in response.json_body["items"]}
        assert own.pk in ids
        assert foreign.pk not in ids

    def test_get_of_other_tenant_is_404_like_missing(self, db: Any) -> None:
        client, foreign = self._setup()
        response = client.get(self._url(foreign))
        missing = client.get(f"{self.endpoint}999999999")
        assert response.status_code == missing.status_code == 404
        assert response.content == missing.content

    def test_patch_of_other_tenant_is_404_and_changes_nothing(self, db: Any) -> None:
        client, foreign = self._setup()
        before = type(foreign).objects.filter(pk=foreign.pk).values().get()
        response = client.patch(self._url(foreign), self.patch_data)
        assert response.status_code == 404
        assert type(foreign).objects.filter(pk=foreign.pk).values().get() == before

    def test_delete_of_other_tenant_is_404_and_keeps_it(self, db: Any) -> None:
        client, foreign = self._setup()
        assert client.delete(self._url(foreign)).status_code == 404
        assert type(foreign).objects.filter(pk=foreign.pk).exists()

    def test_reads_of_other_tenant_are_404_like_missing(self, db: Any) -> None:
        client, foreign = self._setup()
        for read in self.reads:
            response = client.get(self._url(foreign, read))
            missing = client.get(f"{self.endpoint}999999999/{read}")
            assert response.status_code == missing.status_code == 404, read
            assert response.content == missing.content, read

    def test_actions_on_other_tenant_are_404(self, db: Any) -> None:
        client, foreign = self._setup()
        before = type(foreign).objects.filter(pk=foreign.pk).values().get()
        for action in self.actions:
            assert client.post(self._url(foreign, action), {}).status_code == 404, action
        assert type(foreign).objects.filter(pk=foreign.pk).values().get() == before

    def test_without_token_is_401(self, db: Any) -> None:
        _client, foreign = self._setup()
        anonymous = Client()
        assert anonymous.get(self.endpoint).status_code == 401
        assert anonymous.get(self._url(foreign)).status_code == 401
        bogus = Client(HTTP_AUTHORIZATION="Bearer cpbx_000000000000_guess")
        assert bogus.get(self._url(foreign)).status_code == 401
