"""The terminals API: shapes, 422 errors, permissions, pagination, isolation and query counts."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cloudpbx.tenancy.models import Membership
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings
from cloudpbx.testing import TenantIsolationCases, api_client, errors_at, make_tenant

URL = "/api/v1/terminals/"

FULL_IP_PHONE = {
    "name": "Reception",
    "type": "ip_phone",
    "outbound": {
        "external_calls_enabled": False,
        "identification_number": "+493012345601",
        "internal_display_name": "Empfang",
        "internal_extension": "10",
        "caller_id_mode": "custom",
        "custom_number": "030 9876 5432",
    },
    "inbound": {"extensions": ["10", "20"]},
    "provisioning": {
        "mode": "automatic",
        "manufacturer": "yealink",
        "model": "T54W",
        "mac": "80:5E:C0:AA:BB:CC",
        "auth": "credentials",
    },
}


def test_create_ip_phone_with_every_setting(api, settings):
    response = api.post(URL, FULL_IP_PHONE)
    assert response.status_code == 201, response.json_body
    body = response.json_body
    assert body["name"] == "Reception"
    assert body["outbound"] == {
        "external_calls_enabled": False,
        "identification_number": "+493012345601",
        "internal_display_name": "Empfang",
        "internal_extension": "10",
        "caller_id_mode": "custom",
        "custom_number": "+493098765432",
        "pbx_number": None,
    }
    assert body["external"] is None
    assert sorted(body["inbound"]["extensions"]) == ["10", "20"]
    terminal = Terminal.objects.get(pk=body["id"])
    assert body["sip"] == {
        "username": terminal.sip_username,
        "domain": settings.CLOUDPBX_SIP_DOMAIN,
        "registrar": settings.CLOUDPBX_SIP_DOMAIN,
        "port": settings.CLOUDPBX_SIP_PORT,
        "transport": settings.CLOUDPBX_SIP_TRANSPORT,
    }
    provisioning = body["provisioning"]
    assert provisioning["mode"] == "automatic"
    assert provisioning["mac"] == "805ec0aabbcc"
    assert provisioning["acs_username"] == terminal.device.acs_username
    assert "acs_password" not in provisioning  # secrets: GET …/credentials only
    assert provisioning["trusted_networks"] == []
    assert provisioning["url"].endswith("/prov/")


def test_create_external_phone(api):
    response = api.post(
        URL,
        {
            "name": "Mobile",
            "type": "external",
            "external": {"number": "0151 2345 6789"},
            "inbound": {"extensions": ["20"]},
        },
    )
    assert response.status_code == 201, response.json_body
    body = response.json_body
    assert body["external"] == {"number": "+4915123456789"}
    assert body["outbound"] is body["sip"] is body["provisioning"] is None


def test_create_app_with_trusted_ip_ignored_and_defaults(api):
    response = api.post(URL, {"name": "Softphone", "type": "app"})
    assert response.status_code == 201
    body = response.json_body
    assert body["outbound"]["caller_id_mode"] == "pbx_number"
    assert body["outbound"]["pbx_number"] == "+493012345600"
    assert body["outbound"]["identification_number"] == "+493012345600"
    assert body["sip"]["username"]
    assert body["provisioning"] is None


def test_validation_errors_are_422_per_field_and_save_nothing(api):
    payload = {
        **FULL_IP_PHONE,
        "outbound": {**FULL_IP_PHONE["outbound"], "custom_number": "0900 1234567"},
        "provisioning": {**FULL_IP_PHONE["provisioning"], "mac": "ff:ff:ff:ff:ff:ff"},
    }
    response = api.post(URL, payload)
    errors = errors_at(response)
    assert set(errors) == {"outbound.custom_number", "provisioning.mac"}
    assert "premium" in errors["outbound.custom_number"][0].lower()
    item = response.json_body["detail"][0]
    assert set(item) == {"loc", "msg", "type"}
    assert item["loc"][0] == "body"
    assert not Terminal.objects.exists()


def test_unknown_numbers_and_extensions_are_field_errors(api):
    response = api.post(
        URL,
        {
            "name": "X",
            "type": "app",
            "outbound": {"identification_number": "+493099999999", "internal_extension": "77"},
            "inbound": {"extensions": ["10", "99"]},
        },
    )
    errors = errors_at(response)
    assert set(errors) == {
        "outbound.identification_number",
        "outbound.internal_extension",
        "inbound.extensions",
    }
    assert "99" in errors["inbound.extensions"][0]


def test_schema_errors_use_the_same_422_shape(api):
    response = api.post(URL, {"name": "X", "type": "fax"})
    assert response.status_code == 422
    assert (
        response.json_body["detail"][0]["loc"][:2] == ["body", "payload"]
        or "type" in response.json_body["detail"][0]["loc"]
    )


def test_duplicate_name_is_422_on_name(api):
    api.post(URL, {"name": "Desk", "type": "app"})
    assert errors_at(api.post(URL, {"name": "Desk", "type": "app"})) == {
        "name": ["Another terminal already has this name."]
    }


def test_a_mac_used_twice_in_one_pbx_is_422_on_the_mac_but_not_across_customers(api, tenant):
    assert api.post(URL, FULL_IP_PHONE).status_code == 201
    twice = api.post(URL, {**FULL_IP_PHONE, "name": "Second"})
    assert twice.status_code == 422
    assert errors_at(twice) == {
        "provisioning.mac": ["Another terminal of this PBX already uses this MAC address."]
    }
    minimal = {"name": "Theirs", "type": "ip_phone", "provisioning": FULL_IP_PHONE["provisioning"]}
    elsewhere = api_client(make_tenant()).post(URL, minimal)
    assert elsewhere.status_code == 201, errors_at(elsewhere)


def test_patch_changes_only_what_is_sent(api):
    created = api.post(URL, FULL_IP_PHONE).json_body
    response = api.patch(f"{URL}{created['id']}", {"outbound": {"external_calls_enabled": True}})
    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert body["outbound"]["external_calls_enabled"] is True
    assert body["outbound"]["custom_number"] == "+493098765432"
    assert body["provisioning"]["mac"] == "805ec0aabbcc"
    assert body["sip"] == created["sip"]


def test_patch_type_change_clears_settings(api):
    created = api.post(URL, FULL_IP_PHONE).json_body
    response = api.patch(
        f"{URL}{created['id']}", {"type": "external", "external": {"number": "015123456789"}}
    )
    body = response.json_body
    assert response.status_code == 200, body
    assert body["sip"] is body["outbound"] is body["provisioning"] is None


def test_invalid_patch_changes_nothing(api):
    created = api.post(URL, FULL_IP_PHONE).json_body
    before = Terminal.objects.filter(pk=created["id"]).values().get()
    # Blank after stripping: the model's rule, checked with the others (an empty string is
    # already refused by the schema, alone).
    response = api.patch(
        f"{URL}{created['id']}", {"name": "  ", "outbound": {"custom_number": "110"}}
    )
    assert set(errors_at(response)) == {"name", "outbound.custom_number"}
    assert Terminal.objects.filter(pk=created["id"]).values().get() == before


def test_delete(api):
    created = api.post(URL, {"name": "Gone", "type": "app"}).json_body
    assert api.delete(f"{URL}{created['id']}").status_code == 204
    assert not Terminal.objects.filter(pk=created["id"]).exists()


def test_rotate_and_set_sip_password(api):
    created = api.post(URL, {"name": "Desk", "type": "ip_phone"}).json_body
    before = api.get(f"{URL}{created['id']}/credentials").json_body["sip"]["password"]
    rotated = api.post(f"{URL}{created['id']}/sip-password")
    assert rotated.status_code == 200
    assert rotated.json_body["password"] != before
    assert rotated.json_body["username"] == created["sip"]["username"]
    chosen = api.post(f"{URL}{created['id']}/sip-password", {"password": "Tr4m-Gleis-Nord-7"})
    assert chosen.json_body["password"] == "Tr4m-Gleis-Nord-7"
    assert Terminal.objects.get(pk=created["id"]).sip_password == "Tr4m-Gleis-Nord-7"
    weak = api.post(f"{URL}{created['id']}/sip-password", {"password": "abc"})
    assert "password" in errors_at(weak)
    assert Terminal.objects.get(pk=created["id"]).sip_password == "Tr4m-Gleis-Nord-7"


def test_rotate_acs_password(api):
    created = api.post(URL, FULL_IP_PHONE).json_body
    before = api.get(f"{URL}{created['id']}/credentials").json_body["provisioning"]["password"]
    response = api.post(f"{URL}{created['id']}/acs-password")
    assert response.status_code == 200
    assert response.json_body["password"] != before
    manual = api.post(URL, {"name": "Manual", "type": "ip_phone"}).json_body
    assert "password" in errors_at(api.post(f"{URL}{manual['id']}/acs-password"))


def test_list_paginates_and_filters(api):
    for index in range(5):
        api.post(URL, {"name": f"App {index}", "type": "app", "inbound": {"extensions": ["11"]}})
    api.post(URL, {"name": "Mobile", "type": "external", "external": {"number": "015123456789"}})
    page = api.get(URL, limit=2, offset=0).json_body
    assert page["count"] == 6
    assert len(page["items"]) == 2
    assert api.get(URL, type="external").json_body["count"] == 1
    assert api.get(URL, q="app 3").json_body["items"][0]["name"] == "App 3"
    assert api.get(URL, extension="11").json_body["count"] == 5


def test_list_query_count_does_not_grow_with_terminals(api, tenant):
    def queries_for_list():
        api.get(URL)  # warm-up: the token's last-used stamp is written once a minute
        with CaptureQueriesContext(connection) as captured:
            assert api.get(URL, limit=100).status_code == 200
        return len(captured)

    services.create_terminal(
        tenant,
        name="Auto 0",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings("yealink", "T54W", "80:5e:c0:00:00:01"),
    )
    few = queries_for_list()
    for index in range(1, 15):
        services.create_terminal(
            tenant,
            name=f"Auto {index}",
            type="ip_phone",
            config_mode="automatic",
            device=DeviceSettings("yealink", "T54W", f"80:5e:c0:00:00:{index + 1:02x}"),
        )
    assert queries_for_list() == few


def test_viewer_role_reads_but_cannot_write(tenant):
    viewer = api_client(tenant, role=Membership.Role.VIEWER)
    assert viewer.get(URL).status_code == 200
    assert viewer.post(URL, {"name": "X", "type": "app"}).status_code == 403
    assert not Terminal.objects.exists()


def test_credentials_never_shown_to_another_tenant(api, tenant):
    created = api.post(URL, FULL_IP_PHONE).json_body
    from cloudpbx.testing import make_tenant

    stranger = api_client(make_tenant())
    secret = api.get(f"{URL}{created['id']}/credentials").json_body["sip"]["password"]
    for path in ("", "/credentials"):
        response = stranger.get(f"{URL}{created['id']}{path}")
        assert response.status_code == 404
        assert secret.encode() not in response.content


def test_secrets_only_for_admins_only_through_the_reveal_endpoint(api, tenant):
    """One policy with the portal: a viewer reads no password anywhere; an admin reads them
    only from GET …/credentials, which no cache keeps."""
    created = api.post(URL, FULL_IP_PHONE).json_body
    terminal = Terminal.objects.get(pk=created["id"])
    secrets = (terminal.sip_password, terminal.device.acs_password)
    viewer = api_client(tenant, role="viewer")
    for client in (api, viewer):
        for path in (URL, f"{URL}{created['id']}"):
            body = client.get(path).content
            assert not any(secret.encode() in body for secret in secrets), path
    assert all(secret.encode() not in json.dumps(created).encode() for secret in secrets)
    assert viewer.get(f"{URL}{created['id']}/credentials").status_code == 403
    revealed = api.get(f"{URL}{created['id']}/credentials")
    assert revealed.status_code == 200
    assert revealed["Cache-Control"] == "no-store"
    assert revealed.json_body == {
        "sip": {"username": terminal.sip_username, "password": secrets[0]},
        "provisioning": {"username": terminal.device.acs_username, "password": secrets[1]},
    }
    external = api.post(
        URL, {"name": "Mobile", "type": "external", "external": {"number": "015123456789"}}
    )
    assert api.get(f"{URL}{external.json_body['id']}/credentials").json_body == {
        "sip": None,
        "provisioning": None,
    }


@pytest.mark.parametrize("language", ["fr", "de"])
def test_errors_are_translated(tenant, language):
    from cloudpbx.testing import ApiClient, make_user

    client = ApiClient(make_user(tenant), tenant, language=language)
    english = "Another terminal already has this name."
    client.post(URL, {"name": "Desk", "type": "app"})
    message = errors_at(client.post(URL, {"name": "Desk", "type": "app"}))["name"][0]
    assert message != english


class TestTerminalIsolation(TenantIsolationCases):
    endpoint = URL
    patch_data = {"name": "Stolen", "outbound": {"external_calls_enabled": False}}
    actions = ["sip-password", "acs-password"]
    reads = ["status", "credentials"]

    def make_object(self, tenant):
        return services.create_terminal(
            tenant, name="Theirs", type="ip_phone", generate_credentials=True
        )


# --- header injection ----------------------------------------------------------------------

INJECTED = "Boss\r\nP-Asserted-Identity: <sip:+4990012345678@x>"
CONTROL_CHARACTERS = (
    "Use letters, digits, spaces and punctuation only; line breaks and control characters are "
    "not allowed."
)


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"name": INJECTED, "type": "app"}, "name"),
        (
            {"name": "Desk", "type": "app", "outbound": {"internal_display_name": INJECTED}},
            "outbound.internal_display_name",
        ),
        (
            {"name": "Desk", "type": "app", "outbound": {"internal_display_name": "A\u2028B"}},
            "outbound.internal_display_name",
        ),
    ],
)
def test_header_injection_on_create_is_422_and_saves_nothing(api, payload, loc):
    assert errors_at(api.post(URL, payload)) == {loc: [CONTROL_CHARACTERS]}
    assert not Terminal.objects.exists()


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"name": INJECTED}, "name"),
        ({"outbound": {"internal_display_name": INJECTED}}, "outbound.internal_display_name"),
    ],
)
def test_header_injection_on_patch_is_422_and_changes_nothing(api, patch, loc):
    created = api.post(URL, {"name": "Desk", "type": "app"}).json_body
    before = Terminal.objects.filter(pk=created["id"]).values().get()
    assert errors_at(api.patch(f"{URL}{created['id']}", patch)) == {loc: [CONTROL_CHARACTERS]}
    assert Terminal.objects.filter(pk=created["id"]).values().get() == before
