"""Portal pages for extensions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cloudpbx.extensions.models import Extension
from cloudpbx.extensions.services import create_extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.numbering.services import update_number
from cloudpbx.terminals.services import create_terminal
from cloudpbx.web.testing import PortalIsolationCases, portal_client

LIST = reverse("extensions:list")
ADD = reverse("extensions:add")


@pytest.fixture
def client(tenant: Any) -> Client:
    return portal_client(tenant)


def ext(tenant: Any, number: str) -> Extension:
    return Extension.objects.for_tenant(tenant).get(number=number)


def test_list_shows_terminals_and_numbers_of_each_extension(client: Client, tenant: Any) -> None:
    create_terminal(tenant, name="Desk", type="ip_phone", ringing_extensions=[ext(tenant, "10")])
    create_terminal(tenant, name="Soft", type="app", ringing_extensions=[ext(tenant, "10")])
    update_number(PhoneNumber.objects.get(e164="+493012345600"), destination=ext(tenant, "10"))
    html = client.get(LIST).content.decode()
    row = re.search(r"<tr>\s*<th scope=\"row\".*?>10<.*?</tr>", html, re.S).group(0)
    assert "Desk" in row and "Soft" in row and "+49 30 12345600" in row
    assert "Call group: all ring together" in row
    assert "Ext 11" in html and "Ext 20" in html
    assert "Ext 11" not in client.get(LIST, {"q": "2"}).content.decode()


def test_list_query_count_is_constant(client: Client, tenant: Any) -> None:
    client.get(LIST)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    for number in range(30, 70):
        extension = create_extension(tenant, number=str(number))
        create_terminal(tenant, name=f"T{number}", type="app", ringing_extensions=[extension])
    with CaptureQueriesContext(connection) as many:
        client.get(LIST)
    assert len(few) == len(many)


def test_add_and_edit(client: Client, tenant: Any) -> None:
    response = client.post(ADD, {"number": "30", "name": "Support"})
    assert response["Location"] == LIST
    extension = ext(tenant, "30")
    assert extension.name == "Support"
    edit = reverse("extensions:edit", args=[extension.pk])
    assert 'value="Support"' in client.get(edit).content.decode()
    assert client.post(edit, {"number": "31", "name": "Hotline"})["Location"] == LIST
    extension.refresh_from_db()
    assert (extension.number, extension.name) == ("31", "Hotline")


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "An extension has 2 to 6 digits and does not start with 0."),
        ("012", "An extension has 2 to 6 digits and does not start with 0."),
        ("112", "112 is an emergency number in Germany."),
        ("10", "This extension already exists."),
    ],
)
def test_add_errors_next_to_the_field(
    client: Client, tenant: Any, number: str, message: str
) -> None:
    response = client.post(ADD, {"number": number, "name": "Kept"})
    assert response.status_code == 422
    html = response.content.decode()
    error = re.search(r'id="id_number_error">(.*?)</div>', html, re.S).group(1)
    assert message in error
    assert 'value="Kept"' in html
    assert Extension.objects.for_tenant(tenant).count() == 3


def test_failed_edit_changes_nothing(client: Client, tenant: Any) -> None:
    extension = ext(tenant, "11")
    response = client.post(reverse("extensions:edit", args=[extension.pk]), {"number": "10"})
    assert response.status_code == 422
    assert "<h1>Extension 11</h1>" in response.content.decode()
    extension.refresh_from_db()
    assert extension.number == "11"


def test_delete_lists_what_loses_it(client: Client, tenant: Any) -> None:
    extension = ext(tenant, "20")
    create_terminal(tenant, name="Sales desk", type="ip_phone", ringing_extensions=[extension])
    update_number(PhoneNumber.objects.get(e164="+493012345601"), destination=extension)
    delete = reverse("extensions:delete", args=[extension.pk])
    for page in (client.get(delete), client.get(reverse("extensions:edit", args=[extension.pk]))):
        html = page.content.decode()
        assert "Delete extension 20?" in html
        assert "These terminals stop ringing for it:" in html and "Sales desk" in html
        assert "These numbers lose their destination" in html and "+49 30 12345601" in html
    assert client.post(delete)["Location"] == LIST
    assert not Extension.objects.filter(pk=extension.pk).exists()
    assert PhoneNumber.objects.get(e164="+493012345601").destination is None


def test_csrf_is_required(tenant: Any) -> None:
    client = portal_client(tenant, enforce_csrf_checks=True)
    extension = ext(tenant, "10")
    assert client.post(ADD, {"number": "30"}).status_code == 403
    assert client.post(reverse("extensions:delete", args=[extension.pk])).status_code == 403
    assert Extension.objects.for_tenant(tenant).count() == 3


class TestExtensionViewsIsolation(PortalIsolationCases):
    def make_object(self, tenant: Any) -> Extension:
        extension = create_extension(tenant, number="44", name="Their extension")
        create_terminal(tenant, name="Their phone", type="app", ringing_extensions=[extension])
        return extension

    def requests(self, obj: Extension) -> list[tuple[str, str, dict[str, Any]]]:
        edit = reverse("extensions:edit", args=[obj.pk])
        delete = reverse("extensions:delete", args=[obj.pk])
        return [
            ("get", edit, {}),
            ("post", edit, {"number": "45", "name": "Hijacked"}),
            ("get", delete, {}),
            ("post", delete, {}),
        ]

    def test_list_shows_only_own_extensions(self, db: Any) -> None:
        from cloudpbx.testing import make_tenant

        mine, theirs = make_tenant(), make_tenant()
        self.make_object(theirs)
        create_extension(mine, number="33", name="Mine")
        html = portal_client(mine).get(LIST).content.decode()
        assert "Mine" in html and "Their extension" not in html and "Their phone" not in html
