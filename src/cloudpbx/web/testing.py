"""Test helpers for portal views: a signed-in browser-like client and the generic
tenant-isolation test case every portal view of a tenant object inherits."""

from __future__ import annotations

from typing import Any, ClassVar

from django.test import Client

from cloudpbx.tenancy.models import Membership, Tenant
from cloudpbx.testing import make_tenant, make_user

MISSING_PK = 999_999_999


def portal_client(tenant: Tenant, role: str = Membership.Role.ADMIN, **kwargs: Any) -> Client:
    """A Django test client signed in as a new member of ``tenant`` (English pages)."""
    client = Client(HTTP_ACCEPT_LANGUAGE=kwargs.pop("language", "en"), **kwargs)
    client.user = make_user(tenant, role)  # type: ignore[attr-defined]
    client.force_login(client.user)  # type: ignore[attr-defined]
    return client


class PortalIsolationCases:
    """Tenant isolation for the portal views of one kind of object.

    A test class inherits this (and is named ``Test…``) and implements ``make_object(tenant)``
    and ``requests(obj)``: every ``(method, path, data)`` of the views that take the object's
    id. Another customer's object must answer 404 exactly like a missing one, change nothing,
    and never show up in the page.
    """

    missing_pk: ClassVar[int] = MISSING_PK

    def make_object(self, tenant: Tenant) -> Any:
        raise NotImplementedError

    def requests(self, obj: Any) -> list[tuple[str, str, dict[str, Any]]]:
        raise NotImplementedError

    def snapshot(self, obj: Any) -> Any:
        """What must not change; extend for related rows (links, devices)."""
        return type(obj).objects.filter(pk=obj.pk).values().get()

    def _send(self, client: Client, method: str, path: str, data: dict[str, Any]) -> Any:
        return getattr(client, method)(path, data)

    def test_views_of_another_customers_object_are_404_and_change_nothing(self, db: Any) -> None:
        mine, theirs = make_tenant(), make_tenant()
        client = portal_client(mine)
        foreign = self.make_object(theirs)
        self.make_object(mine)
        before = self.snapshot(foreign)
        for method, path, data in self.requests(foreign):
            response = self._send(client, method, path, data)
            assert response.status_code == 404, (method, path, response.status_code)
            missing = path.replace(f"/{foreign.pk}/", f"/{self.missing_pk}/")
            assert self._send(client, method, missing, data).status_code == 404, missing
        assert self.snapshot(foreign) == before

    def test_views_of_own_object_answer(self, db: Any) -> None:
        tenant = make_tenant()
        client = portal_client(tenant)
        for method, path, _data in self.requests(self.make_object(tenant)):
            if method == "get":
                assert client.get(path).status_code == 200, path

    def test_anonymous_is_sent_to_login(self, db: Any) -> None:
        obj = self.make_object(make_tenant())
        for method, path, data in self.requests(obj):
            response = self._send(Client(), method, path, data)
            assert response.status_code == 302, (method, path)
            assert response["Location"].startswith("/login/"), response["Location"]
