import pytest
from django.core.exceptions import ValidationError

from cloudpbx.extensions.models import Extension
from cloudpbx.numbering import services
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.terminals.services import create_terminal
from cloudpbx.testing import TenantIsolationCases, api_client, errors_at, make_tenant

URL = "/api/v1/numbers/"


def test_numbers_are_normalised_and_unique_across_tenants(tenant):
    number = services.add_number(make_tenant(), e164="089 1234 5678")
    assert number.e164 == "+498912345678"
    with pytest.raises(ValidationError) as caught:
        services.add_number(tenant, e164="+49 89 12345678")
    assert caught.value.message_dict == {"e164": ["This number is already assigned."]}


def test_invalid_number_is_refused(tenant):
    with pytest.raises(ValidationError) as caught:
        services.add_number(tenant, e164="12345")
    assert list(caught.value.message_dict) == ["e164"]


def test_a_number_another_customer_shows_as_caller_id_is_not_assigned(tenant):
    shown = "+493098765432"
    create_terminal(
        tenant,
        name="Desk",
        type="ip_phone",
        generate_credentials=True,
        caller_id_mode="custom",
        caller_id_custom=shown,
    )
    other = make_tenant(name="Other")
    with pytest.raises(ValidationError) as caught:
        services.add_number(other, e164=shown)
    assert caught.value.message_dict == {
        "e164": [
            f"Terminals of another customer show this number as their caller ID "
            f"({tenant.name}: Desk): change them first."
        ]
    }
    assert not PhoneNumber.objects.filter(e164=shown).exists()
    assert services.add_number(tenant, e164=shown).tenant == tenant  # its own: fine


def test_the_main_flag_moves(tenant):
    old_main = PhoneNumber.objects.get(tenant=tenant, is_main=True)
    new_main = PhoneNumber.objects.get(tenant=tenant, e164="+493012345601")
    services.update_number(new_main, is_main=True)
    assert list(PhoneNumber.objects.filter(tenant=tenant, is_main=True)) == [new_main]
    old_main.refresh_from_db()
    assert not old_main.is_main


def test_destination_must_be_an_extension_of_the_tenant(tenant):
    foreign = Extension.objects.create(tenant=make_tenant(), number="10")
    number = PhoneNumber.objects.get(tenant=tenant, is_main=True)
    with pytest.raises(ValidationError) as caught:
        services.update_number(number, destination=foreign)
    assert list(caught.value.message_dict) == ["destination"]


def test_number_block(db):
    numbers = services.add_number_block(make_tenant(), first="+493055500010", count=3)
    assert [n.e164 for n in numbers] == ["+493055500010", "+493055500011", "+493055500012"]


def test_customers_read_and_route_but_operators_assign(api, tenant):
    listed = api.get(URL).json_body
    assert [n["e164"] for n in listed["items"]] == [
        "+493012345600",
        "+493012345601",
        "+493012345602",
    ]
    main_id = listed["items"][0]["id"]
    assert api.post(URL, {"e164": "+493012345699"}).status_code == 403
    assert api.patch(f"{URL}{main_id}", {"is_main": False}).status_code == 403
    assert api.delete(f"{URL}{main_id}").status_code == 403
    routed = api.patch(f"{URL}{main_id}", {"destination": "20"})
    assert routed.status_code == 200
    assert routed.json_body["destination"] == "20"
    assert "destination" in errors_at(api.patch(f"{URL}{main_id}", {"destination": "99"}))


def test_operator_assigns_numbers(tenant):
    operator = api_client(tenant, is_staff=True)
    created = operator.post(URL, {"e164": "030 12345699", "label": "Fax", "destination": "10"})
    assert created.status_code == 201, created.json_body
    assert created.json_body["e164"] == "+493012345699"
    assert errors_at(operator.post(URL, {"e164": "+493012345699"})) == {
        "e164": ["This number is already assigned."]
    }
    assert operator.delete(f"{URL}{created.json_body['id']}").status_code == 204


class TestNumberIsolation(TenantIsolationCases):
    endpoint = URL
    patch_data = {"destination": None}

    def make_object(self, tenant):
        extension = Extension.objects.create(tenant=tenant, number="10")
        e164 = f"+4989123456{PhoneNumber.objects.count():02d}"
        return services.add_number(tenant, e164=e164, destination=extension)


def test_label_refuses_line_breaks_and_control_characters(tenant):
    with pytest.raises(ValidationError) as caught:
        services.add_number(tenant, e164="+493099990000", label="Sales\r\nX-Auto-Answer: 1")
    assert list(caught.value.message_dict) == ["label"]
    assert [error.code for error in caught.value.error_dict["label"]] == ["control_characters"]
    assert not PhoneNumber.objects.filter(e164="+493099990000").exists()
    number = PhoneNumber.objects.get(tenant=tenant, is_main=True)
    with pytest.raises(ValidationError):
        services.update_number(number, label="Sales\u2028Hotline")
    assert PhoneNumber.objects.get(pk=number.pk).label == ""
