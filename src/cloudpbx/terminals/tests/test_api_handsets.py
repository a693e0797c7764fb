"""The terminals API for DECT bases: a handset is a terminal created with ``base`` (the base's
terminal id), shown with ``base`` and ``handset_number``; another customer's base is a 404 and
creates nothing; a full base or a phone that is no base is a 422 at ``base``."""

from cloudpbx.terminals.models import Terminal
from cloudpbx.testing import api_client, errors_at, make_tenant

URL = "/api/v1/terminals/"


def create_base(api, model="N870", mac="7C:2F:80:E0:D6:05", name="Basis"):
    body = {
        "name": name,
        "type": "ip_phone",
        "provisioning": {
            "mode": "automatic",
            "manufacturer": "gigaset",
            "model": model,
            "mac": mac,
        },
    }
    response = api.post(URL, body)
    assert response.status_code == 201, response.json_body
    return response.json_body


def test_create_a_handset_of_a_base_and_see_base_in_responses(api):
    base = create_base(api)
    assert (base["base"], base["handset_number"]) == (None, 1)
    body = {
        "name": "Lager",
        "type": "ip_phone",
        "base": base["id"],
        "outbound": {"internal_extension": "20"},
        "inbound": {"extensions": ["20"]},
    }
    response = api.post(URL, body)
    assert response.status_code == 201, response.json_body
    handset = response.json_body
    assert handset["base"] == base["id"] and handset["handset_number"] == 2
    # Configured by the base's file: automatic, without a device of its own.
    assert handset["provisioning"]["mode"] == "automatic"
    assert handset["provisioning"]["mac"] is None
    assert handset["sip"]["username"] and handset["sip"]["username"] != base["sip"]["username"]
    assert handset["inbound"] == {"extensions": ["20"]}

    shown = api.get(f"{URL}{handset['id']}").json_body
    assert (shown["base"], shown["handset_number"]) == (base["id"], 2)
    listed = {item["name"]: item for item in api.get(URL).json_body["items"]}
    assert listed["Lager"]["base"] == base["id"]
    assert listed["Basis"]["base"] is None
    credentials = api.get(f"{URL}{handset['id']}/credentials").json_body
    assert credentials["sip"]["password"] and credentials["provisioning"] is None


def test_another_customers_base_is_404_and_creates_nothing(tenant):
    theirs = make_tenant("Andere AG")
    foreign = create_base(api_client(theirs))
    response = api_client(tenant).post(
        URL, {"name": "Fremd", "type": "ip_phone", "base": foreign["id"]}
    )
    assert response.status_code == 404
    assert response.json_body == {"detail": "Not Found"}
    assert not Terminal.objects.filter(name="Fremd").exists()
    assert not Terminal.objects.filter(base__isnull=False).exists()


def test_a_full_base_is_a_422_at_base_and_saves_nothing(api):
    base = create_base(api, model="N670")
    for number in range(2, 21):
        assert (
            api.post(
                URL, {"name": f"M{number}", "type": "ip_phone", "base": base["id"]}
            ).status_code
            == 201
        )
    response = api.post(URL, {"name": "Zu viel", "type": "ip_phone", "base": base["id"]})
    assert errors_at(response) == {
        "base": ["A Gigaset N670 base takes at most 20 handsets, its own terminal included."]
    }
    assert not Terminal.objects.filter(name="Zu viel").exists()


def test_a_terminal_that_is_no_dect_base_is_a_422_at_base(api):
    desk = api.post(URL, {"name": "Tisch", "type": "ip_phone"}).json_body
    errors = errors_at(api.post(URL, {"name": "A", "type": "ip_phone", "base": desk["id"]}))
    assert errors == {"base": ["This terminal's phone is not a DECT base."]}
    yealink = api.post(
        URL,
        {
            "name": "Yealink",
            "type": "ip_phone",
            "provisioning": {
                "mode": "automatic",
                "manufacturer": "yealink",
                "model": "T54W",
                "mac": "80:5E:C0:AA:BB:CC",
            },
        },
    ).json_body
    errors = errors_at(api.post(URL, {"name": "B", "type": "ip_phone", "base": yealink["id"]}))
    assert errors == {"base": ["Yealink T54W is not a DECT base: it takes no further handsets."]}
    assert not Terminal.objects.filter(name__in=["A", "B"]).exists()


def test_a_handset_is_an_ip_phone_configured_by_its_base(api):
    base = create_base(api)
    errors = errors_at(api.post(URL, {"name": "App", "type": "app", "base": base["id"]}))
    assert "type" in errors
    manual = {
        "name": "M",
        "type": "ip_phone",
        "base": base["id"],
        "provisioning": {"mode": "manual"},
    }
    assert "provisioning.mode" in errors_at(api.post(URL, manual))
    assert not Terminal.objects.filter(base__isnull=False).exists()


def test_deleting_a_base_with_handsets_is_refused_then_allowed(api):
    base = create_base(api)
    handset = api.post(URL, {"name": "Lager", "type": "ip_phone", "base": base["id"]}).json_body
    refused = api.delete(f"{URL}{base['id']}")
    assert errors_at(refused) == {
        "base": ["Remove the handsets of this DECT base first: they belong to it."]
    }
    assert api.delete(f"{URL}{handset['id']}").status_code == 204
    assert api.delete(f"{URL}{base['id']}").status_code == 204


def test_re_provisioning_a_handset_re_syncs_its_base(api):
    base = create_base(api)
    body = {"name": "Lager", "type": "ip_phone", "base": base["id"]}
    handset = api.post(URL, body).json_body
    answer = api.post(f"{URL}{handset['id']}/resync")
    # Acted on the base's device: no registered contact (PostgreSQL reads its table) or no
    # Kamailio to ask (SQLite); never "not configured automatically".
    not_registered = answer.status_code == 409 and "not registered" in answer.json_body["detail"]
    assert answer.status_code == 503 or not_registered, answer.json_body
