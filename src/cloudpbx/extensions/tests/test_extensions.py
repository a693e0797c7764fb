import pytest
from django.core.exceptions import ValidationError

from cloudpbx.extensions import services
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import create_terminal
from cloudpbx.testing import TenantIsolationCases, errors_at, make_tenant

URL = "/api/v1/extensions/"


def refusal(tenant, number):
    with pytest.raises(ValidationError) as caught:
        services.create_extension(tenant, number=number)
    return caught.value.message_dict


@pytest.mark.parametrize("number", ["1", "1234567", "12a", "", "0123", "01"])
def test_an_extension_has_two_to_six_digits_not_starting_with_zero(tenant, number):
    assert "number" in refusal(tenant, number)


@pytest.mark.parametrize("number", ["110", "112", "115", "116117", "11833", "11880"])
def test_german_emergency_and_service_numbers_are_reserved(tenant, number):
    errors = refusal(tenant, number)
    assert list(errors) == ["number"]
    assert number in errors["number"][0]


@pytest.mark.parametrize("number", ["15", "17", "18", "112", "114", "115", "119", "118218"])
def test_french_emergency_and_service_numbers_are_reserved(french_tenant, number):
    assert list(refusal(french_tenant, number)) == ["number"]


def test_french_numbers_are_free_in_germany_and_the_other_way(tenant, french_tenant):
    assert services.create_extension(tenant, number="15").number == "15"
    assert services.create_extension(french_tenant, number="110").number == "110"


def test_unique_within_tenant_only(tenant):
    assert refusal(tenant, "10") == {"number": ["This extension already exists."]}
    assert services.create_extension(make_tenant(), number="10").number == "10"


def test_update_and_delete_unlinks_terminals_and_numbers(tenant):
    extension = Extension.objects.get(tenant=tenant, number="10")
    terminal = create_terminal(
        tenant,
        name="Desk",
        type="app",
        ringing_extensions=[extension],
        internal_extension=extension,
    )
    number = PhoneNumber.objects.get(tenant=tenant, is_main=True)
    number.destination = extension
    number.save()
    services.update_extension(extension, number="100", name="Empfang")
    assert Extension.objects.get(pk=extension.pk).number == "100"
    services.delete_extension(extension)
    terminal = Terminal.objects.get(pk=terminal.pk)
    assert terminal.internal_extension is None
    assert not terminal.ringing_extensions.exists()
    assert PhoneNumber.objects.get(pk=number.pk).destination is None


def test_api_create_list_and_422(api):
    response = api.post(URL, {"number": "30", "name": "Support"})
    assert response.status_code == 201
    assert response.json_body == {
        "id": response.json_body["id"],
        "number": "30",
        "name": "Support",
        "terminals": [],
        "numbers": [],
    }
    assert errors_at(api.post(URL, {"number": "112"}))["number"]
    assert errors_at(api.post(URL, {"number": "30"})) == {
        "number": ["This extension already exists."]
    }
    listed = api.get(URL).json_body
    assert listed["count"] == 4
    assert [item["number"] for item in listed["items"]] == ["10", "11", "20", "30"]


def test_api_shows_terminals_and_numbers_of_an_extension(api, tenant):
    extension = Extension.objects.get(tenant=tenant, number="20")
    create_terminal(
        tenant,
        name="Mobile",
        type="external",
        external_number="015123456789",
        ringing_extensions=[extension],
    )
    PhoneNumber.objects.filter(tenant=tenant, is_main=True).update(destination=extension)
    body = api.get(f"{URL}{extension.pk}").json_body
    assert [t["name"] for t in body["terminals"]] == ["Mobile"]
    assert body["numbers"] == ["+493012345600"]


def test_api_patch_and_delete(api, tenant):
    extension = Extension.objects.get(tenant=tenant, number="11")
    assert api.patch(f"{URL}{extension.pk}", {"name": "Büro"}).json_body["name"] == "Büro"
    assert api.delete(f"{URL}{extension.pk}").status_code == 204
    assert not Extension.objects.filter(pk=extension.pk).exists()
    assert Terminal.objects.count() == 0


class TestExtensionIsolation(TenantIsolationCases):
    endpoint = URL
    patch_data = {"name": "Stolen"}

    def make_object(self, tenant):
        return services.create_extension(tenant, number="55", name="Theirs")


def test_name_refuses_line_breaks_and_control_characters(tenant):
    with pytest.raises(ValidationError) as caught:
        services.create_extension(tenant, number="30", name="Support\r\nAlert-Info: auto")
    assert list(caught.value.message_dict) == ["name"]
    assert [error.code for error in caught.value.error_dict["name"]] == ["control_characters"]
    assert not Extension.objects.filter(tenant=tenant, number="30").exists()
    extension = Extension.objects.get(tenant=tenant, number="10")
    with pytest.raises(ValidationError):
        services.update_extension(extension, name="Tab\there")
    assert Extension.objects.get(pk=extension.pk).name == "Ext 10"
