import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from cloudpbx import numbering_rules as rules
from cloudpbx.core import events
from cloudpbx.extensions.models import Extension
from cloudpbx.extensions.services import create_extension
from cloudpbx.sip import notify
from cloudpbx.tenancy.models import Tenant
from cloudpbx.tenancy.services import create_tenant, update_tenant


@pytest.fixture(autouse=True)
def _english():
    # Messages are asserted in English, whatever an earlier test's request activated.
    with translation.override("en"):
        yield


def test_country_sets_language_and_time_zone_defaults(db):
    french = create_tenant(name="Exemple", country="FR")
    assert (french.language, french.timezone) == ("fr", "Europe/Paris")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "X", "country": "US"}, "country"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "X", "language": "it"}, "language"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_tenant_settings(db, values, field):
    with pytest.raises(ValidationError) as caught:
        create_tenant(**values)
    assert field in caught.value.message_dict


def test_names_are_unique(db):
    create_tenant(name="Same")
    with pytest.raises(ValidationError) as caught:
        create_tenant(name="Same")
    assert "name" in caught.value.message_dict


# --- destination policy --------------------------------------------------------------------


@pytest.mark.parametrize("country", ["DE", "FR"])
def test_new_customer_may_call_its_country_and_the_eu_eea(db, country):
    tenant = create_tenant(name="X", country=country)
    assert tenant.allowed_destination_countries == rules.default_destination_countries(country)
    assert Tenant.objects.get().allowed_destination_countries == sorted(rules.EU_EEA_COUNTRIES)
    assert tenant.max_outbound_calls == 10


def test_country_codes_are_stored_sorted_uppercase_once(db):
    tenant = create_tenant(name="X", allowed_destination_countries=["fr", " DE", "FR", "us"])
    assert tenant.allowed_destination_countries == ["DE", "FR", "US"]


@pytest.mark.parametrize(
    ("codes", "fragment"),
    [
        (["DE", "XX"], "Not a country code: XX."),
        (["DE", "001"], "Not a country code: 001."),  # non-geographic: no country
        (["EU"], "Not a country code: EU."),
        (["DEU"], "Not a country code: DEU."),
        ([], "Choose at least one country."),
        ("DE", "two-letter country codes"),
        ([49], "two-letter country codes"),
    ],
)
def test_invalid_destination_countries(db, codes, fragment):
    with pytest.raises(ValidationError) as caught:
        create_tenant(name="X", allowed_destination_countries=codes)
    assert list(caught.value.message_dict) == ["allowed_destination_countries"]
    assert fragment in caught.value.message_dict["allowed_destination_countries"][0]
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("calls", [0, 1001])
def test_outbound_call_cap_out_of_range(db, calls):
    with pytest.raises(ValidationError) as caught:
        create_tenant(name="X", max_outbound_calls=calls)
    assert caught.value.message_dict == {
        "max_outbound_calls": ["Allow between 1 and 1000 concurrent external calls."]
    }


@pytest.mark.parametrize("calls", [1, 1000])
def test_outbound_call_cap_in_range(db, calls):
    assert create_tenant(name="X", max_outbound_calls=calls).max_outbound_calls == calls


def test_outbound_call_cap_is_a_database_constraint(db):
    tenant = create_tenant(name="X")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(max_outbound_calls=0)


def test_policy_errors_are_translated(db):
    with translation.override("de"):
        with pytest.raises(ValidationError) as caught:
            create_tenant(name="X", allowed_destination_countries=["XX"], max_outbound_calls=0)
        errors = caught.value.message_dict
    assert "country code" not in errors["allowed_destination_countries"][0]
    assert "Allow between" not in errors["max_outbound_calls"][0]


# --- update_tenant -------------------------------------------------------------------------


def test_update_tenant_saves_and_flushes_kamailio(db, django_capture_on_commit_callbacks):
    tenant = create_tenant(name="X")
    seen = []

    def record(**payload):
        seen.append(payload)

    events.subscribe("tenant.changed", record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            update_tenant(tenant, allowed_destination_countries=["de", "ch"], max_outbound_calls=3)
    finally:
        events.unsubscribe("tenant.changed", record)
    stored = Tenant.objects.get()
    assert (stored.allowed_destination_countries, stored.max_outbound_calls) == (["CH", "DE"], 3)
    assert seen == [{"tenant_id": tenant.pk}]
    assert "tenant.changed" in notify.EVENTS  # Kamailio's directory caches drop the tenant


def test_invalid_update_saves_nothing(db):
    tenant = create_tenant(name="X")
    with pytest.raises(ValidationError) as caught:
        update_tenant(tenant, name="Y", max_outbound_calls=5000)
    assert list(caught.value.message_dict) == ["max_outbound_calls"]
    assert Tenant.objects.values_list("name", "max_outbound_calls").get() == ("X", 10)


def test_update_tenant_refuses_unknown_settings(db):
    with pytest.raises(TypeError, match="created"):
        update_tenant(create_tenant(name="X"), created=None)


@pytest.mark.parametrize(
    ("extension", "fragment"),
    [
        ("17", "Extension 17 clashes with the new country: 17 is an emergency number in France."),
        ("15", "15 is an emergency number in France"),
        ("3949", "3949 is a service number (3xxx) in France"),
        ("118218", "directory enquiry number"),
    ],
)
def test_country_change_refused_while_an_extension_is_a_short_number(db, extension, fragment):
    tenant = create_tenant(name="X", country="DE")
    create_extension(tenant, number=extension)
    with pytest.raises(ValidationError) as caught:
        update_tenant(tenant, country="FR")
    assert list(caught.value.message_dict) == ["country"]
    assert fragment in caught.value.message_dict["country"][0]
    assert Tenant.objects.values_list("country", flat=True).get() == "DE"


def test_country_change_names_every_clashing_extension(db):
    tenant = create_tenant(name="X", country="FR")
    for number in ("20", "110", "11833"):  # free in France; police and directory in Germany
        create_extension(tenant, number=number)
    with pytest.raises(ValidationError) as caught:
        update_tenant(tenant, country="DE")
    messages = caught.value.message_dict["country"]
    assert [message.split(":")[0] for message in messages] == [
        "Extension 110 clashes with the new country",
        "Extension 11833 clashes with the new country",
    ]


def test_country_change_allowed_without_clashes(db):
    tenant = create_tenant(name="X", country="DE")
    create_extension(tenant, number="20")
    create_extension(tenant, number="1100")  # short numbers match on their exact length
    update_tenant(tenant, country="FR")
    assert Tenant.objects.values_list("country", flat=True).get() == "FR"


def test_other_changes_do_not_recheck_extensions(db):
    tenant = create_tenant(name="X", country="FR")
    Extension.objects.create(tenant=tenant, number="17")  # older data, before the rule
    update_tenant(tenant, timezone="Europe/Berlin")
    assert Tenant.objects.values_list("timezone", flat=True).get() == "Europe/Berlin"


def test_name_refuses_line_breaks_and_control_characters(db):
    with pytest.raises(ValidationError) as caught:
        create_tenant(name="Muster\r\nGmbH")
    assert list(caught.value.message_dict) == ["name"]
    assert [error.code for error in caught.value.error_dict["name"]] == ["control_characters"]
    assert not Tenant.objects.exists()
