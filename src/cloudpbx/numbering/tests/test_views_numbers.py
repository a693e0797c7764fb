"""Portal page for numbers: list and destination."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.numbering.services import add_number
from cloudpbx.tenancy.models import Membership
from cloudpbx.testing import make_tenant
from cloudpbx.web.testing import PortalIsolationCases, portal_client

LIST = reverse("numbers:list")


def destination_url(number: PhoneNumber) -> str:
    return reverse("numbers:destination", args=[number.pk])


def test_list_shows_numbers_main_first_with_destinations(tenant: Any) -> None:
    html = portal_client(tenant).get(LIST).content.decode()
    assert html.index("+49 30 12345600") < html.index("+49 30 12345601")
    assert "Main number" in html and "10 · Ext 10" in html


def test_set_and_clear_the_destination(tenant: Any) -> None:
    client = portal_client(tenant)
    number = PhoneNumber.objects.get(e164="+493012345602")
    extension = Extension.objects.for_tenant(tenant).get(number="20")
    field = f"n{number.pk}-destination"
    response = client.post(destination_url(number), {field: extension.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="number-{number.pk}">') and "Saved" in html
    number.refresh_from_db()
    assert number.destination == extension
    assert client.post(destination_url(number), {field: ""})["Location"] == LIST
    number.refresh_from_db()
    assert number.destination is None


def test_another_customers_extension_is_refused(tenant: Any) -> None:
    client = portal_client(tenant)
    number = PhoneNumber.objects.get(e164="+493012345602")
    foreign = Extension.objects.create(tenant=make_tenant(), number="77")
    response = client.post(
        destination_url(number), {f"n{number.pk}-destination": foreign.pk}, HTTP_HX_REQUEST="true"
    )
    assert "Select a valid choice" in response.content.decode()
    number.refresh_from_db()
    assert number.destination is None


def test_read_only_member_cannot_route(tenant: Any) -> None:
    client = portal_client(tenant, role=Membership.Role.VIEWER)
    number = PhoneNumber.objects.get(e164="+493012345602")
    html = client.get(LIST).content.decode()
    assert "<select" not in html
    assert client.post(destination_url(number), {}).status_code == 403


class TestNumberViewsIsolation(PortalIsolationCases):
    _count = 0

    def make_object(self, tenant: Any) -> PhoneNumber:
        TestNumberViewsIsolation._count += 1
        return add_number(tenant, e164=f"+4930555000{TestNumberViewsIsolation._count:02}")

    def requests(self, obj: PhoneNumber) -> list[tuple[str, str, dict[str, Any]]]:
        return [("post", destination_url(obj), {f"n{obj.pk}-destination": ""})]

    def test_list_shows_only_own_numbers(self, db: Any) -> None:
        mine, theirs = make_tenant(), make_tenant()
        foreign = self.make_object(theirs)
        own = self.make_object(mine)
        html = portal_client(mine).get(LIST).content.decode()
        assert own.e164[-4:] in html and foreign.e164[-4:] not in html
