"""The operator edits customers in the Django admin, through the tenancy services."""

import pytest

from cloudpbx import numbering_rules as rules
from cloudpbx.accounts.models import User
from cloudpbx.core import events
from cloudpbx.extensions.services import create_extension
from cloudpbx.tenancy.models import Membership, Tenant
from cloudpbx.testing import make_tenant

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

    for event in ("tenant.created", "tenant.changed", "tenant.deleted"):
        events.subscribe(event, record)
    yield seen
    for event in ("tenant.created", "tenant.changed", "tenant.deleted"):
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


@pytest.mark.parametrize("omitted", [False, True], ids=["left empty", "not sent"])
def test_a_customer_added_without_language_and_time_zone_gets_its_countrys(operator, omitted):
    page = operator.get(ADD).content.decode()
    assert '<option value="" selected>The country&#x27;s language</option>' in page
    data = {"name": "Exemple", "country": "FR", "max_outbound_calls": "4", **INLINE}
    data |= {} if omitted else {"language": "", "timezone": ""}
    response = operator.post(ADD, {**data, "media_encryption": "optional"})
    assert response.status_code == 302, response.content.decode()
    tenant = Tenant.objects.get()
    assert (tenant.language, tenant.timezone) == ("fr", "Europe/Paris")


def test_members_are_added_changed_and_removed_through_the_services(operator, caplog):
    tenant = make_tenant()
    anna = User.objects.create_user("anna", password="x" * 20)
    ben = User.objects.create_user("ben", password="x" * 20)
    ben_membership = Membership.objects.create(tenant=tenant, user=ben, role="admin")
    data = form_data(
        tenant,
        **{
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": str(ben_membership.pk),
            "memberships-0-tenant": str(tenant.pk),
            "memberships-0-user": str(ben.pk),
            "memberships-0-role": "admin",
            "memberships-0-DELETE": "on",
            "memberships-1-tenant": str(tenant.pk),
            "memberships-1-user": str(anna.pk),
            "memberships-1-role": "viewer",
        },
    )
    with caplog.at_level("INFO", logger="cloudpbx.tenancy.services"):
        response = operator.post(change_url(tenant), data)
    assert response.status_code == 302, response.content.decode()
    assert list(tenant.memberships.values_list("user__username", "role")) == [("anna", "viewer")]
    assert f"user {anna.pk} is viewer of tenant {tenant.pk}" in caplog.text
    assert f"user {ben.pk} removed from tenant {tenant.pk}" in caplog.text


def test_a_customer_deleted_in_the_admin_goes_through_the_service(
    operator, published, django_capture_on_commit_callbacks
):
    tenant = make_tenant()
    create_extension(tenant, number="21")
    page = operator.get(f"/admin/tenancy/tenant/{tenant.pk}/delete/").content.decode()
    assert "Extension" in page and "21" in page  # what goes with it is listed
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"/admin/tenancy/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert published == [{"tenant_id": tenant.pk}]
