"""The operator edits customers in the Django admin, through the tenancy services."""

import pytest

from cloudpbx.accounts.models import User
from cloudpbx.core import events
from cloudpbx.core.testing import make_tenant
from cloudpbx.extensions.services import create_extension
from cloudpbx.numbering import rules
from cloudpbx.tenancy.models import Tenant

ADD = "/admin/tenancy/tenant/add/"
INLINE = {
    "memberships-TOTAL_FORMS": "0",
    "memberships-INITIAL_FORMS": "0",
    "memberships-MIN_NUM_FORMS": "0",
    "memberships-MAX_NUM_FORMS": "1000",
}


@pytest.fixture
def operator(db, client):
    user = User.objects.create_superuser(username="operator", password="x" * 20)
    client.force_login(user)
    return client


@pytest.fixture
def published():
    seen = []

    def record(**payload):
        seen.append(payload)

    for event in ("tenant.created", "tenant.changed"):
        events.subscribe(event, record)
    yield seen
    for event in ("tenant.created", "tenant.changed"):
        events.unsubscribe(event, record)


def change_url(tenant):
    return f"/admin/tenancy/tenant/{tenant.pk}/change/"


def form_data(tenant, **changes):
    data = {
        "name": tenant.name,
        "country": tenant.country,
        "language": tenant.language,
        "timezone": tenant.timezone,
        "allowed_destination_countries": ", ".join(tenant.allowed_destination_countries),
        "max_outbound_calls": str(tenant.max_outbound_calls),
        "media_encryption": tenant.media_encryption,
        **INLINE,
    }
    return {**data, **changes}


def test_added_customer_gets_the_default_destinations(
    operator, published, django_capture_on_commit_callbacks
):
    page = operator.get(ADD).content.decode()
    assert 'name="allowed_destination_countries"' not in page  # the country decides
    data = {"name": "Exemple", "country": "FR", "language": "fr", "timezone": "Europe/Paris"}
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            ADD, {**data, "max_outbound_calls": "4", "media_encryption": "required", **INLINE}
        )
    assert response.status_code == 302, response.content.decode()
    tenant = Tenant.objects.get()
    assert tenant.allowed_destination_countries == rules.default_destination_countries("FR")
    assert tenant.max_outbound_calls == 4
    assert tenant.media_encryption == "required"
    assert published == [{"tenant_id": tenant.pk}]


def test_operator_changes_the_destination_policy(
    operator, published, django_capture_on_commit_callbacks
):
    tenant = make_tenant()
    page = operator.get(change_url(tenant)).content.decode()
    assert "AT, BE, BG" in page
    data = form_data(tenant, allowed_destination_countries="de, ch  US", max_outbound_calls="25")
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(change_url(tenant), data)
    assert response.status_code == 302, response.content.decode()
    tenant.refresh_from_db()
    assert tenant.allowed_destination_countries == ["CH", "DE", "US"]
    assert tenant.max_outbound_calls == 25
    assert published == [{"tenant_id": tenant.pk}]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"allowed_destination_countries": "DE, XX"}, "Not a country code: XX."),
        ({"allowed_destination_countries": ""}, "This field is required."),
        ({"max_outbound_calls": "0"}, "Allow between 1 and 1000 concurrent external calls."),
        ({"max_outbound_calls": "1001"}, "Allow between 1 and 1000 concurrent external calls."),
    ],
)
def test_invalid_policy_is_a_field_error_and_saves_nothing(operator, changes, message):
    tenant = make_tenant()
    before = Tenant.objects.filter(pk=tenant.pk).values().get()
    response = operator.post(change_url(tenant), form_data(tenant, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Tenant.objects.filter(pk=tenant.pk).values().get() == before


def test_country_change_that_shadows_an_emergency_number_is_refused(operator):
    tenant = make_tenant(country="DE")
    create_extension(tenant, number="17")
    response = operator.post(change_url(tenant), form_data(tenant, country="FR"))
    assert response.status_code == 200
    assert "Extension 17 clashes with the new country" in response.content.decode()
    assert Tenant.objects.get(pk=tenant.pk).country == "DE"
