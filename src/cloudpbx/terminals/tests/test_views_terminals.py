"""Portal pages for terminals: overview, add/edit/delete, credentials, isolation, queries."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.tenancy.models import Membership
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings, create_terminal
from cloudpbx.testing import make_tenant
from cloudpbx.web.terminals import views
from cloudpbx.web.testing import PortalIsolationCases, portal_client

LIST = reverse("terminals:list")
ADD = reverse("terminals:add")
_macs = itertools.count(0x805EC0100000)


def next_mac() -> str:
    return f"{next(_macs):012x}"


def edit_url(terminal: Terminal) -> str:
    return reverse("terminals:edit", args=[terminal.pk])


def password_url(terminal: Terminal, kind: str = "sip") -> str:
    return reverse("terminals:password", args=[terminal.pk, kind])


def form_data(tenant: Any, **overrides: Any) -> dict[str, Any]:
    """What the browser posts for the add/edit form (defaults of a new IP phone)."""
    main = PhoneNumber.objects.for_tenant(tenant).get(is_main=True)
    data: dict[str, Any] = {
        "name": "Reception",
        "type": "ip_phone",
        "external_calls_enabled": "on",
        "identification_number": main.pk,
        "internal_display_name": "",
        "internal_extension": "",
        "caller_id_mode": "pbx_number",
        "caller_id_custom": "",
        "caller_id_number": main.pk,
        "external_number": "",
        "ringing_extensions": [],
        "config_mode": "manual",
        "manufacturer": "",
        "model": "",
        "mac": "",
        "auth_mode": "credentials",
        "trusted_networks": "",
        "action": "save",
    }
    data.update(overrides)
    return data


def extension(tenant: Any, number: str) -> Extension:
    return Extension.objects.for_tenant(tenant).get(number=number)


def errors_of(response: Any, field: str) -> str:
    """The error block rendered next to a field (empty when there is none)."""
    html = response.content.decode()
    found = re.search(rf'id="id_{field}_error">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


@pytest.fixture
def client(tenant: Any) -> Client:
    return portal_client(tenant)


# ---------- overview ----------


def test_overview_shows_every_column(client: Client, tenant: Any) -> None:
    create_terminal(
        tenant,
        name="Desk",
        type="ip_phone",
        ringing_extensions=[extension(tenant, "10"), extension(tenant, "11")],
        generate_credentials=True,
    )
    auto = create_terminal(
        tenant,
        name="Yealink",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings(manufacturer="yealink", model="T54W", mac=next_mac()),
    )
    create_terminal(tenant, name="Mobile", type="external", external_number="+4915123456789")
    create_terminal(tenant, name="Soft", type="app")
    ProvisioningDevice.objects.filter(terminal=auto).update(
        last_fetch_at=timezone.now() - timedelta(hours=2),
        last_fetch_ip="192.0.2.10",
        last_firmware="96.86.0.70",
        last_reported_model="T46U",
    )
    html = client.get(LIST).content.decode()
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)[1:]
    text = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]
    assert [t.split()[0] for t in text] == ["Desk", "Mobile", "Soft", "Yealink"]
    desk, mobile, soft, yealink = text
    assert "IP phone" in desk and "10 11" in desk and "Manual" in desk
    assert "External phone" in mobile and "+49 1512 3456789" in mobile
    assert "App" in soft
    assert "Automatic Yealink T54W" in yealink
    assert "Provisioned 2 hours ago" in yealink and "192.0.2.10 · 96.86.0.70" in yealink
    assert "The phone reports model T46U, but T54W is configured." in yealink
    # Registration is not known yet: one dash per row from the one include.
    assert html.count('title="Not known yet">—</span>') == 4


def test_overview_search_and_type_filter(client: Client, tenant: Any) -> None:
    create_terminal(tenant, name="Empfang", type="ip_phone", ringing_extensions=[])
    create_terminal(
        tenant,
        name="Handy",
        type="external",
        external_number="+4915123456789",
        ringing_extensions=[extension(tenant, "20")],
    )
    create_terminal(tenant, name="Softphone", type="app")

    def names(**params: str) -> list[str]:
        html = client.get(LIST, params).content.decode()
        return re.findall(r'class="row-link" href="[^"]+">([^<]+)</a>', html)

    assert names() == ["Empfang", "Handy", "Softphone"]
    assert names(type="app") == ["Softphone"]
    assert names(type="external") == ["Handy"]
    assert names(q="soft") == ["Softphone"]
    assert names(q="0151 234") == ["Handy"]  # part of the number, as typed
    assert names(q="20") == ["Handy"]  # rings for extension 20
    assert names(q="soft", type="ip_phone") == []
    assert names(type="bogus") == ["Empfang", "Handy", "Softphone"]
    page = client.get(LIST, {"q": "zzz"}).content.decode()
    assert "No terminal matches" in page


def test_overview_htmx_returns_results_and_counts_only(client: Client, tenant: Any) -> None:
    create_terminal(tenant, name="Softphone", type="app")
    response = client.get(
        LIST, {"type": "app"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="terminal-results"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="terminal-results"')
    assert 'id="count-app" hx-swap-oob="true">1<' in html
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_overview_paginates(client: Client, tenant: Any) -> None:
    Terminal.objects.bulk_create(
        Terminal(tenant=tenant, name=f"Phone {i:03}", type="app") for i in range(60)
    )
    first = client.get(LIST).content.decode()
    assert "1\N{EN DASH}25 of 60" in first and "Phone 000" in first and "Phone 025" not in first
    third = client.get(LIST, {"page": 3}).content.decode()
    assert "51\N{EN DASH}60 of 60" in third and "Phone 059" in third
    assert "51\N{EN DASH}60 of 60" in client.get(LIST, {"page": 99}).content.decode()


def _populate(tenant: Any, count: int, start: int = 0) -> None:
    """Terminals of every kind with extensions and devices, created in bulk."""
    extensions = list(Extension.objects.for_tenant(tenant))
    kinds = ["ip_phone", "app", "external"]
    terminals = Terminal.objects.bulk_create(
        Terminal(
            tenant=tenant,
            name=f"T{start + i:05}",
            type=kinds[i % 3],
            external_number="+4915123456789" if i % 3 == 2 else "",
            config_mode="automatic" if i % 3 == 0 else "manual",
            sip_username=f"bulk{tenant.pk}x{start + i}" if i % 3 != 2 else None,
        )
        for i in range(count)
    )
    through = Terminal.ringing_extensions.through
    through.objects.bulk_create(
        through(terminal_id=t.pk, extension_id=extensions[i % len(extensions)].pk)
        for i, t in enumerate(terminals)
    )
    ProvisioningDevice.objects.bulk_create(
        ProvisioningDevice(
            terminal=t,
            tenant=t.tenant,
            manufacturer="yealink",
            model="T54W",
            mac=next_mac(),
            auth_mode="credentials",
        )
        for t in terminals
        if t.config_mode == "automatic"
    )


def _queries(client: Client, **params: str) -> int:
    client.get(LIST, params)  # the first page view of a session stores the chosen customer
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST, params)
    assert response.status_code == 200
    return len(queries)


def test_overview_query_count_does_not_grow_with_terminals(client: Client, tenant: Any) -> None:
    _populate(tenant, 3)
    few = _queries(client)
    _populate(tenant, 60, start=3)
    many = _queries(client)
    assert few == many
    # session, user, memberships, counts, page, extensions of the page: nothing per row
    assert many <= 7, many


@pytest.mark.django_db
def test_overview_with_ten_thousand_terminals(tenant: Any) -> None:
    """A customer with 10,000 terminals: the page renders with the same pinned queries."""
    client = portal_client(tenant)
    _populate(tenant, 3)
    baseline = _queries(client)
    _populate(tenant, 9_997, start=3)
    assert Terminal.objects.for_tenant(tenant).count() == 10_000
    assert _queries(client) == baseline
    assert _queries(client, type="ip_phone", page="40") == baseline
    assert _queries(client, q="T099") == baseline
    html = client.get(LIST, {"page": "400"}).content.decode()
    assert "9976\N{EN DASH}10000 of 10000" in html
    assert html.count('class="row-link"') == 25


# ---------- add ----------


def test_add_page_defaults(client: Client, tenant: Any) -> None:
    html = client.get(ADD).content.decode()
    main = PhoneNumber.objects.for_tenant(tenant).get(is_main=True)
    assert re.search(rf'<option value="{main.pk}" selected>\+49 30 12345600 \(main number\)', html)
    for heading in (
        "Basic settings",
        "Outbound telephony",
        "Phone to ring",
        "Inbound telephony",
        "Configuration",
    ):
        assert heading in html
    assert 'value="ip_phone"' in html and "checked" in html
    assert "Save and generate credentials" in html
    assert "§ 120 Abs. 2 TKG" in html  # the legal hint next to the caller ID
    # Sections that do not apply to an IP phone are hidden before any script runs.
    assert re.search(r'aria-labelledby="step-external" data-show-when="type=external" hidden', html)


def test_add_ip_phone_manual_save_goes_back_to_the_overview(client: Client, tenant: Any) -> None:
    data = form_data(tenant, name="Empfang", ringing_extensions=[extension(tenant, "10").pk])
    response = client.post(ADD, data)
    assert response.status_code == 302 and response["Location"] == LIST
    terminal = Terminal.objects.for_tenant(tenant).get(name="Empfang")
    assert terminal.sip_username is None  # credentials only when asked for
    assert [e.number for e in terminal.ringing_extensions.all()] == ["10"]
    page = client.get(LIST).content.decode()
    assert "Terminal “Empfang” added." in page and "Empfang" in page


def test_add_save_and_generate_credentials_shows_them(client: Client, tenant: Any) -> None:
    response = client.post(ADD, form_data(tenant, action="generate"))
    terminal = Terminal.objects.for_tenant(tenant).get(name="Reception")
    assert response["Location"] == f"{edit_url(terminal)}#credentials"
    assert terminal.sip_username and terminal.sip_password
    html = client.get(edit_url(terminal)).content.decode()
    assert terminal.sip_username in html
    assert terminal.sip_password not in html  # revealed only on an explicit click
    assert 'data-copy-url="/pbx/terminals/' in html and "Set a new password" in html
    assert "Registrar / domain" in html and "5060" in html and "UDP" in html


def test_add_external_phone_with_extensions(client: Client, tenant: Any) -> None:
    data = form_data(
        tenant,
        name="Handy",
        type="external",
        external_number="0151 23456789",
        ringing_extensions=[extension(tenant, "10").pk, extension(tenant, "20").pk],
    )
    assert client.post(ADD, data).status_code == 302
    terminal = Terminal.objects.for_tenant(tenant).get(name="Handy")
    assert terminal.external_number == "+4915123456789"
    assert terminal.identification_number is None and terminal.sip_username is None
    assert sorted(e.number for e in terminal.ringing_extensions.all()) == ["10", "20"]


def test_add_automatic_with_trusted_networks(client: Client, tenant: Any) -> None:
    data = form_data(
        tenant,
        name="Konferenz",
        config_mode="automatic",
        manufacturer="yealink",
        model="T54W",
        mac="80-5E-C0-AB-CD-EF",
        auth_mode="trusted_ip",
        trusted_networks="203.0.113.0/24\n198.51.100.7, ",
    )
    assert client.post(ADD, data).status_code == 302
    device = Terminal.objects.for_tenant(tenant).get(name="Konferenz").device
    assert device is not None and device.mac == "805ec0abcdef"
    assert device.trusted_networks == ["198.51.100.7/32", "203.0.113.0/24"]
    assert device.acs_username is None
    html = client.get(edit_url(device.terminal)).content.decode()
    assert "198.51.100.7/32" in html and "80:5E:C0:AB:CD:EF" in html


def test_add_automatic_with_credentials_generates_provisioning_login(
    client: Client, tenant: Any
) -> None:
    data = form_data(
        tenant,
        config_mode="automatic",
        manufacturer="snom",
        model="D785",
        mac=next_mac(),
        action="generate",
    )
    response = client.post(ADD, data)
    terminal = Terminal.objects.for_tenant(tenant).get(name="Reception")
    assert response["Location"] == f"{edit_url(terminal)}#provisioning"
    device = terminal.device
    assert device is not None and device.acs_username and device.acs_password
    html = client.get(edit_url(terminal)).content.decode()
    assert device.acs_username in html and device.acs_password not in html
    assert "first reboot" in html


def test_every_model_error_is_shown_next_to_its_field_and_nothing_is_saved(
    client: Client, tenant: Any
) -> None:
    data = form_data(
        tenant,
        name="",
        caller_id_mode="custom",
        caller_id_custom="0900 1234567",
        config_mode="automatic",
        manufacturer="yealink",
        model="T99",
        mac="00:00:00:00:00:00",
        auth_mode="trusted_ip",
        trusted_networks="10.0.0.0/8\nnot-an-ip",
    )
    response = client.post(ADD, data)
    assert response.status_code == 422
    assert errors_of(response, "name") == "This field cannot be blank."
    assert errors_of(response, "caller_id_custom") == (
        "+49 900 1 234567 is a premium-rate number (0900)."
    )
    assert errors_of(response, "model").startswith("Yealink T99 is not supported.")
    assert "T54W" in errors_of(response, "model")
    assert errors_of(response, "mac") == "00:00:00:00:00:00 is not a device address."
    networks = errors_of(response, "trusted_networks")
    assert "10.0.0.0/8 is too wide" in networks and "not-an-ip is not an IP address" in networks
    assert "Nothing was saved." in response.content.decode()
    assert not Terminal.objects.exists() and not ProvisioningDevice.objects.exists()
    # What the customer typed stays in the form.
    html = response.content.decode()
    assert 'value="0900 1234567"' in html and 'value="00:00:00:00:00:00"' in html
    assert "10.0.0.0/8\nnot-an-ip" in html


def test_errors_are_translated(tenant: Any) -> None:
    client = portal_client(tenant, language="fr")
    data = form_data(tenant, caller_id_mode="custom", caller_id_custom="0900 1234567")
    response = client.post(ADD, data)
    assert (
        errors_of(response, "caller_id_custom") == "+49 900 1 234567 est un numéro surtaxé (0900)."
    )
    client = portal_client(tenant, language="de")
    response = client.post(ADD, form_data(tenant, name=""))
    assert errors_of(response, "name") == "Dieses Feld darf nicht leer sein."


def test_mac_used_by_another_customer_is_saved_without_a_hint(client: Client, tenant: Any) -> None:
    other = make_tenant()
    create_terminal(
        other,
        name="Theirs",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings(manufacturer="yealink", model="T54W", mac="805ec0999999"),
    )
    data = form_data(
        tenant, config_mode="automatic", manufacturer="yealink", model="T54W", mac="805EC0999999"
    )
    response = client.post(ADD, data)
    assert response.status_code == 302
    mine = Terminal.objects.for_tenant(tenant).get(name="Reception")
    assert mine.device is not None and mine.device.mac == "805ec0999999"
    page = client.get(response["Location"]).content.decode()
    assert "Theirs" not in page
    for hint in ("already", "another customer", "conflict"):
        assert hint not in page.lower()


def test_mac_used_twice_by_the_same_customer_is_refused(client: Client, tenant: Any) -> None:
    create_terminal(
        tenant,
        name="Mine",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings(manufacturer="yealink", model="T54W", mac="805ec0999999"),
    )
    data = form_data(
        tenant, config_mode="automatic", manufacturer="yealink", model="T54W", mac="805EC0999999"
    )
    response = client.post(ADD, data)
    assert (
        errors_of(response, "mac") == "Another terminal of this PBX already uses this MAC address."
    )
    french = portal_client(tenant, language="fr").post(ADD, data)
    assert errors_of(french, "mac") == (
        "Un autre terminal de ce PBX utilise déjà cette adresse MAC."
    )


def test_tampered_choice_of_another_customer_is_refused(client: Client, tenant: Any) -> None:
    other = make_tenant()
    foreign = Extension.objects.create(tenant=other, number="55")
    response = client.post(ADD, form_data(tenant, ringing_extensions=[foreign.pk]))
    assert response.status_code == 422
    assert "Select a valid choice" in errors_of(response, "ringing_extensions")
    assert not Terminal.objects.exists()


# ---------- edit and delete ----------


def test_edit_shows_current_values_and_saves(client: Client, tenant: Any) -> None:
    terminal = create_terminal(
        tenant,
        name="Desk",
        type="ip_phone",
        ringing_extensions=[extension(tenant, "11")],
        caller_id_mode="anonymous",
        generate_credentials=True,
    )
    html = client.get(edit_url(terminal)).content.decode()
    assert 'value="Desk"' in html and 'value="anonymous"' in html
    assert re.search(r'value="anonymous"[^>]*checked', html)
    assert "11 · Ext 11" in html
    data = form_data(
        tenant,
        name="Desk 2",
        caller_id_mode="custom",
        caller_id_custom="030 9876543",
        ringing_extensions=[extension(tenant, "10").pk],
    )
    assert client.post(edit_url(terminal), data)["Location"] == LIST
    terminal.refresh_from_db()
    assert terminal.name == "Desk 2" and terminal.caller_id_custom == "+49309876543"
    assert [e.number for e in terminal.ringing_extensions.all()] == ["10"]


def test_failed_edit_changes_nothing_and_keeps_the_input(client: Client, tenant: Any) -> None:
    terminal = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    before = Terminal.objects.filter(pk=terminal.pk).values().get()
    data = form_data(tenant, name="Renamed", type="external", external_number="0900 123456")
    response = client.post(edit_url(terminal), data)
    assert response.status_code == 422
    assert "premium-rate" in errors_of(response, "external_number")
    assert Terminal.objects.filter(pk=terminal.pk).values().get() == before
    html = response.content.decode()
    assert 'value="Renamed"' in html and "<h1>Desk</h1>" in html


def test_switching_to_manual_removes_the_device(client: Client, tenant: Any) -> None:
    terminal = create_terminal(
        tenant,
        name="Auto",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings(manufacturer="yealink", model="T54W", mac=next_mac()),
    )
    client.post(edit_url(terminal), form_data(tenant, name="Auto"))
    terminal.refresh_from_db()
    assert terminal.config_mode == "manual" and terminal.device is None


def test_delete_asks_then_deletes(client: Client, tenant: Any) -> None:
    terminal = create_terminal(tenant, name="Old", type="app")
    delete = reverse("terminals:delete", args=[terminal.pk])
    assert "Delete “Old”?" in client.get(delete).content.decode()
    assert 'id="delete-dialog"' in client.get(edit_url(terminal)).content.decode()
    assert client.post(delete)["Location"] == LIST
    assert not Terminal.objects.filter(pk=terminal.pk).exists()


# ---------- credentials ----------


def test_password_is_revealed_only_on_request_and_not_cached(client: Client, tenant: Any) -> None:
    terminal = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    response = client.get(password_url(terminal))
    assert response.content.decode() == terminal.sip_password
    assert response["Content-Type"].startswith("text/plain")
    assert "no-store" in response["Cache-Control"]


def test_set_a_chosen_password_and_generate_one(client: Client, tenant: Any) -> None:
    terminal = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    url = password_url(terminal)
    response = client.post(url, {"sip-password": "Sommer-Sonne-2025!"}, HTTP_HX_REQUEST="true")
    assert "New password saved." in response.content.decode()
    assert 'id="sip-credentials"' in response.content.decode()
    terminal.refresh_from_db()
    assert terminal.sip_password == "Sommer-Sonne-2025!"
    response = client.post(url, {"generate": "1"})
    assert response["Location"] == f"{edit_url(terminal)}#credentials"
    terminal.refresh_from_db()
    assert terminal.sip_password != "Sommer-Sonne-2025!" and len(terminal.sip_password) == 24


def test_weak_password_is_refused_with_every_reason(client: Client, tenant: Any) -> None:
    terminal = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    before = terminal.sip_password
    response = client.post(password_url(terminal), {"sip-password": "aaaa"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Use between 12 and 64 characters." in html
    assert "Mix at least three of" in html
    assert 'id="sip-editor"' in html and 'id="sip-editor" hidden' not in html
    terminal.refresh_from_db()
    assert terminal.sip_password == before


def test_provisioning_password(client: Client, tenant: Any) -> None:
    terminal = create_terminal(
        tenant,
        name="Auto",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings(manufacturer="yealink", model="T54W", mac=next_mac()),
    )
    url = password_url(terminal, "acs")
    assert client.get(url).content.decode() == terminal.device.acs_password
    client.post(url, {"acs-password": "Herbst-Wind-2025!"})
    terminal.device.refresh_from_db()
    assert terminal.device.acs_password == "Herbst-Wind-2025!"


def test_secrets_of_terminals_without_them_are_404(client: Client, tenant: Any) -> None:
    external = create_terminal(
        tenant, name="Mobile", type="external", external_number="+4915123456789"
    )
    manual = create_terminal(tenant, name="Desk", type="ip_phone")
    assert client.get(password_url(external)).status_code == 404
    assert client.get(password_url(manual)).status_code == 404
    assert client.get(password_url(manual, "acs")).status_code == 404
    assert client.get(reverse("terminals:password", args=[manual.pk, "x"])).status_code == 404


def test_model_select_follows_the_manufacturer(client: Client) -> None:
    html = client.get(reverse("terminals:models"), {"manufacturer": "snom"}).content.decode()
    assert html.startswith('<div id="model-field">')
    assert '<option value="D785">D785</option>' in html and "T54W" not in html
    html = client.get(reverse("terminals:models"), {"manufacturer": "nope"}).content.decode()
    assert "Choose the manufacturer first" in html


# ---------- roles, CSRF, isolation ----------


def test_read_only_member_sees_but_cannot_change(tenant: Any) -> None:
    client = portal_client(tenant, role=Membership.Role.VIEWER)
    terminal = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    assert client.get(LIST).status_code == 200
    html = client.get(edit_url(terminal)).content.decode()
    assert "Save and generate credentials" not in html and 'value="save"' not in html
    assert "data-copy-url" not in html
    assert client.get(password_url(terminal)).status_code == 403
    assert client.post(ADD, form_data(tenant)).status_code == 403
    assert client.post(reverse("terminals:delete", args=[terminal.pk])).status_code == 403
    assert Terminal.objects.count() == 1


def test_every_form_needs_the_csrf_token(tenant: Any) -> None:
    client = portal_client(tenant, enforce_csrf_checks=True)
    terminal = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    before = Terminal.objects.filter(pk=terminal.pk).values().get()
    for url, data in (
        (ADD, form_data(tenant, name="New")),
        (edit_url(terminal), form_data(tenant, name="Changed")),
        (reverse("terminals:delete", args=[terminal.pk]), {}),
        (password_url(terminal), {"generate": "1"}),
    ):
        assert client.post(url, data).status_code == 403, url
    assert Terminal.objects.filter(pk=terminal.pk).values().get() == before
    assert Terminal.objects.count() == 1


class TestTerminalViewsIsolation(PortalIsolationCases):
    def make_object(self, tenant: Any) -> Terminal:
        return create_terminal(
            tenant,
            name="Their phone",
            type="ip_phone",
            config_mode="automatic",
            device=DeviceSettings(manufacturer="yealink", model="T54W", mac=next_mac()),
        )

    def requests(self, obj: Terminal) -> list[tuple[str, str, dict[str, Any]]]:
        edit = edit_url(obj)
        delete = reverse("terminals:delete", args=[obj.pk])
        return [
            ("get", edit, {}),
            (
                "post",
                edit,
                {
                    "name": "Hijacked",
                    "type": "app",
                    "caller_id_mode": "anonymous",
                    "config_mode": "manual",
                    "auth_mode": "credentials",
                },
            ),
            ("get", delete, {}),
            ("post", delete, {}),
            ("get", password_url(obj), {}),
            ("post", password_url(obj), {"generate": "1"}),
            ("get", password_url(obj, "acs"), {}),
            ("post", password_url(obj, "acs"), {"generate": "1"}),
        ]

    def snapshot(self, obj: Terminal) -> Any:
        device = ProvisioningDevice.objects.filter(terminal_id=obj.pk).values().get()
        return super().snapshot(obj), device

    def test_overview_lists_only_own_terminals(self, db: Any) -> None:
        mine, theirs = make_tenant(), make_tenant()
        self.make_object(theirs)
        create_terminal(mine, name="Mine", type="app")
        html = portal_client(mine).get(LIST).content.decode()
        assert "Mine" in html and "Their phone" not in html


def test_page_size_is_the_documented_one() -> None:
    assert views.PAGE_SIZE == 25


def test_registration_status_is_rendered_from_the_one_helper(
    client: Client, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cloudpbx.sip.status import OFFLINE, Contact, Registration
    from cloudpbx.web.terminals import status

    online = create_terminal(tenant, name="Online", type="app", generate_credentials=True)
    offline = create_terminal(tenant, name="Offline", type="app", generate_credentials=True)
    contact = Contact(
        uri="sip:x@203.0.113.5", user_agent="Linphone/5.1", source="203.0.113.5:5060", expires=300
    )
    natted = create_terminal(tenant, name="At home", type="app", generate_credentials=True)
    behind_nat = Contact(
        uri="sip:y@192.168.1.2:5060", user_agent="", source="198.51.100.1:1024", expires=300,
        received="sip:198.51.100.1:1024",
    )  # fmt: skip
    monkeypatch.setattr(
        status,
        "registration_statuses",
        lambda terminals: {
            online.pk: Registration(contacts=(contact,)),
            offline.pk: OFFLINE,
            natted.pk: Registration(contacts=(behind_nat,)),
        },
    )
    html = client.get(LIST).content.decode()
    assert "Registered" in html and "203.0.113.5:5060 · Linphone/5.1" in html
    assert "Not registered" in html
    assert "198.51.100.1:1024 · behind NAT (phone at 192.168.1.2:5060)" in html
    assert "behind NAT" not in html.split("203.0.113.5:5060")[1].split("</span>")[0]
    assert "Registered" in client.get(edit_url(online)).content.decode()


def test_gigaset_mac_id_is_asked_and_checked(client: Client, tenant: Any) -> None:
    data = form_data(
        tenant,
        name="DECT base",
        config_mode="automatic",
        manufacturer="gigaset",
        model="N870",
        mac="7C:2F:80:E0:D6:05",
        mac_id="7C2F80E0D606-AB12",  # the label of another base
    )
    response = client.post(ADD, data)
    assert response.status_code == 422
    assert "MAC" in errors_of(response, "mac_id")
    assert not Terminal.objects.for_tenant(tenant).filter(name="DECT base").exists()
    data["mac_id"] = "7C2F80E0D605-AB12"
    assert client.post(ADD, data).status_code == 302
    device = Terminal.objects.for_tenant(tenant).get(name="DECT base").device
    assert device is not None and device.mac_id_crc == "AB12"
    html = client.get(edit_url(device.terminal)).content.decode()
    assert 'value="AB12"' in html
    assert "Re-provision now" in html


# ---------- header injection ----------

INJECTED = "Boss\r\nP-Asserted-Identity: <sip:+4990012345678@x>"
CONTROL_CHARACTERS = (
    "Use letters, digits, spaces and punctuation only; line breaks and control characters are "
    "not allowed."
)


@pytest.mark.parametrize("field", ["name", "internal_display_name"])
def test_header_injection_is_refused_next_to_the_field(
    client: Client, tenant: Any, field: str
) -> None:
    response = client.post(ADD, form_data(tenant, **{field: INJECTED}))
    assert response.status_code == 422
    assert errors_of(response, field) == CONTROL_CHARACTERS
    (other,) = {"name", "internal_display_name"} - {field}
    assert errors_of(response, other) == ""  # the display name defaults to the name
    assert not Terminal.objects.exists()


@pytest.mark.parametrize("field", ["name", "internal_display_name"])
def test_header_injection_on_edit_changes_nothing(client: Client, tenant: Any, field: str) -> None:
    terminal = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    before = Terminal.objects.filter(pk=terminal.pk).values().get()
    response = client.post(
        edit_url(terminal), form_data(tenant, **{"name": "Desk", field: INJECTED})
    )
    assert response.status_code == 422
    assert errors_of(response, field) == CONTROL_CHARACTERS
    assert Terminal.objects.filter(pk=terminal.pk).values().get() == before


# ---------- the browser softphone ----------


def softphone_url(terminal: Terminal) -> str:
    return reverse("terminals:softphone", args=[terminal.pk])


def app_terminal(tenant: Any, name: str = "Browser") -> Terminal:
    return create_terminal(tenant, name=name, type="app", generate_credentials=True)


def test_the_softphone_page_gets_a_credential_of_its_own_not_the_sip_password(
    client: Client, tenant: Any, settings: Any
) -> None:
    import json
    import time

    from cloudpbx.sip import browser

    terminal = app_terminal(tenant)
    response = client.get(softphone_url(terminal))
    assert response.status_code == 200
    html = response.content.decode()
    assert terminal.sip_password not in html
    config = json.loads(re.search(r'id="softphone-config"[^>]*>(.*?)</script>', html).group(1))
    given = config["credential"]
    assert browser.account_of(given["username"], time.time()) == terminal.sip_username
    key = browser.key(settings.CONFIG.secret_key)
    assert given["password"] == browser.password(key, given["username"], terminal.sip_ha1)
    assert config["server"] == settings.CONFIG.softphone_url
    assert config["uri"] == f"sip:{terminal.sip_username}@{settings.CLOUDPBX_SIP_DOMAIN}"
    # Only this page may open the WebSocket to the SIP server; it is never cached.
    policy = response["Content-Security-Policy"]
    assert f"connect-src 'self' {settings.CONFIG.softphone_url.rsplit('/', 1)[0]}" in policy
    assert "no-store" in response["Cache-Control"]
    assert "connect-src" not in client.get(edit_url(terminal))["Content-Security-Policy"]


def test_a_fresh_softphone_credential_is_served_uncached(client: Client, tenant: Any) -> None:
    terminal = app_terminal(tenant)
    response = client.get(reverse("terminals:softphone-credential", args=[terminal.pk]))
    assert response.status_code == 200
    assert set(response.json()) == {"username", "password", "expires"}
    assert response.json()["username"].startswith(terminal.sip_username + "~")
    assert "no-store" in response["Cache-Control"]


def test_the_edit_page_of_an_app_offers_the_softphone(client: Client, tenant: Any) -> None:
    terminal = app_terminal(tenant)
    assert softphone_url(terminal) in client.get(edit_url(terminal)).content.decode()
    viewer = portal_client(tenant, role=Membership.Role.VIEWER)
    assert softphone_url(terminal) not in viewer.get(edit_url(terminal)).content.decode()


def test_a_read_only_member_gets_no_softphone(tenant: Any) -> None:
    terminal = app_terminal(tenant)
    viewer = portal_client(tenant, role=Membership.Role.VIEWER)
    assert viewer.get(softphone_url(terminal)).status_code == 403
    credential = reverse("terminals:softphone-credential", args=[terminal.pk])
    assert viewer.get(credential).status_code == 403


def test_only_app_terminals_have_a_softphone(client: Client, tenant: Any) -> None:
    desk = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    mobile = create_terminal(tenant, name="Mobile", type="external", external_number="01701234567")
    for terminal in (desk, mobile):
        assert client.get(softphone_url(terminal)).status_code == 404


def test_no_softphone_without_the_secure_websocket_port(
    client: Client, tenant: Any, settings: Any
) -> None:
    import dataclasses

    settings.CONFIG = dataclasses.replace(settings.CONFIG, sip_wss_port=0)
    terminal = app_terminal(tenant)
    assert client.get(softphone_url(terminal)).status_code == 404
    assert softphone_url(terminal) not in client.get(edit_url(terminal)).content.decode()


class TestSoftphoneIsolation(PortalIsolationCases):
    def make_object(self, tenant: Any) -> Terminal:
        return app_terminal(tenant, "Their app")

    def requests(self, obj: Terminal) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            ("get", softphone_url(obj), {}),
            ("get", reverse("terminals:softphone-credential", args=[obj.pk]), {}),
        ]


def test_the_softphone_page_runs_no_inline_script_and_labels_its_input(
    client: Client, tenant: Any
) -> None:
    response = client.get(softphone_url(app_terminal(tenant)))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    html = response.content.decode()
    # Settings and texts travel as JSON data blocks, which the browser does not execute.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline and all('type="application/json"' in attributes for attributes in inline)
    assert " style=" not in html and "<style" not in html
    assert '<label for="softphone-number">' in html and 'id="softphone-number"' in html
    assert not [u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if "//" in u]
