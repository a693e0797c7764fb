"""The customer journeys of the portal, in a real browser (issue 3), one screenshot each."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings, create_terminal
from tests.e2e.conftest import log_in, screenshot

NEW_PASSWORD = "Sommer-Sonne-2025!"


def _add_page(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Cloud PBX settings").get_by_role(
        "link", name="Terminals"
    ).click()
    page.get_by_role("link", name="Add", exact=True).click()
    expect(page.get_by_role("heading", name="Add terminal")).to_be_visible()
    page.locator("#id_name").fill(name)


def _card(page: Any, title: str) -> Any:
    return page.locator("label.radio-card", has_text=title)


def _automatic_phone(page: Any, manufacturer: str, model_label: str, model: str, mac: str) -> None:
    """Automatic configuration of the phone on the terminal page being filled in."""
    _card(page, "Automatic").click()
    page.get_by_label("Manufacturer").select_option(label=manufacturer)
    models = page.locator("#id_model")
    expect(models.locator("option", has_text=model_label)).to_have_count(1)  # loaded by htmx
    models.select_option(model)
    page.get_by_label("MAC address").fill(mac)


def test_journey_1_manual_ip_phone_credentials_copy_and_new_password(
    page: Any, portal_user: Any
) -> None:
    log_in(page, portal_user)
    _add_page(page, "Reception")
    expect(_card(page, "IP phone").locator("input")).to_be_checked()
    expect(_card(page, "Manual").locator("input")).to_be_checked()
    page.get_by_role("button", name="Save and generate credentials").click()

    expect(page.get_by_text("Saved. The credentials are ready below.")).to_be_visible()
    terminal = Terminal.objects.get(name="Reception")
    assert terminal.type == Terminal.Type.IP_PHONE and terminal.sip_username
    expect(page.locator("#sip-username")).to_have_text(terminal.sip_username)
    secret = page.locator("#sip-secret")
    assert terminal.sip_password not in page.content()  # only on an explicit click

    page.get_by_role("button", name="Copy the password").click()
    expect(page.locator("#toast")).to_have_text("Copied to the clipboard")
    assert page.evaluate("navigator.clipboard.readText()") == terminal.sip_password

    page.get_by_role("button", name="Show the password").click()
    expect(secret).to_have_text(terminal.sip_password)

    page.get_by_role("button", name="Set a new password").click()
    editor = page.locator("#sip-editor")
    expect(editor).to_be_visible()
    editor.get_by_label("New password").fill("short")
    editor.get_by_role("button", name="Save password").click()
    expect(page.locator("#sip-credentials")).to_contain_text("Use between 12 and 64 characters.")
    terminal.refresh_from_db()
    assert terminal.sip_password != "short"

    page.locator("#sip-editor").get_by_label("New password").fill(NEW_PASSWORD)
    page.locator("#sip-editor").get_by_role("button", name="Save password").click()
    expect(page.get_by_text("New password saved.")).to_be_visible()
    terminal.refresh_from_db()
    assert terminal.sip_password == NEW_PASSWORD
    page.get_by_role("button", name="Show the password").click()
    expect(page.locator("#sip-secret")).to_have_text(NEW_PASSWORD)
    page.locator("#credentials").scroll_into_view_if_needed()
    screenshot(page, "journey-1-manual-credentials")


def test_journey_2_automatic_yealink_with_trusted_ip_ranges(page: Any, portal_user: Any) -> None:
    log_in(page, portal_user)
    _add_page(page, "Meeting room")
    _automatic_phone(page, "Yealink", "T54W", "T54W", "80:5e:c0:ab:cd:ef")
    _card(page, "Trusted IP addresses").click()
    page.locator("#provisioning").get_by_role("button", name="Edit").click()
    dialog = page.locator("#networks-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Trusted networks").fill("203.0.113.0/24\n198.51.100.0/25")
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#network-chips li")).to_have_text(["203.0.113.0/24", "198.51.100.0/25"])
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Terminal “Meeting room” added.")).to_be_visible()
    row = page.locator("#terminal-results tr", has_text="Meeting room")
    expect(row).to_contain_text("Automatic")
    expect(row).to_contain_text("Yealink T54W")
    row.get_by_role("link", name="Meeting room").click()
    page.reload()
    expect(page.locator("#network-chips li")).to_have_text(["198.51.100.0/25", "203.0.113.0/24"])
    expect(_card(page, "Trusted IP addresses").locator("input")).to_be_checked()
    expect(page.get_by_label("Manufacturer")).to_have_value("yealink")
    expect(page.locator("#id_model")).to_have_value("T54W")
    expect(page.get_by_label("MAC address")).to_have_value("80:5E:C0:AB:CD:EF")
    device = Terminal.objects.get(name="Meeting room").device
    assert device is not None and device.trusted_networks == ["198.51.100.0/25", "203.0.113.0/24"]
    page.locator("#provisioning").scroll_into_view_if_needed()
    screenshot(page, "journey-2-automatic-trusted-ip")


def test_journey_3_external_phone_with_two_extensions(page: Any, portal_user: Any) -> None:
    log_in(page, portal_user)
    _add_page(page, "Mobile Anna")
    _card(page, "External phone").click()
    expect(page.get_by_role("heading", name="Outbound telephony")).to_be_hidden()
    page.get_by_label("Phone number to ring").fill("0151 23456789")
    page.locator("#step-inbound").locator("..").get_by_role("button", name="Edit").click()
    dialog = page.locator("#extensions-dialog")
    expect(dialog).to_be_visible()
    search = dialog.get_by_placeholder("Search extensions")
    search.fill("20")
    expect(dialog.locator("#extension-options li:visible")).to_have_count(1)
    dialog.get_by_label("20 · Ext 20").check()
    search.fill("")
    dialog.get_by_label("10 · Ext 10").check()
    dialog.get_by_role("button", name="Done").click()
    expect(page.locator("#ringing-chips li")).to_have_text(["10 · Ext 10", "20 · Ext 20"])
    screenshot(page, "journey-3-external-phone")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Terminal “Mobile Anna” added.")).to_be_visible()
    row = page.locator("#terminal-results tr", has_text="Mobile Anna")
    expect(row).to_contain_text("External phone")
    expect(row).to_contain_text("+49 1512 3456789")
    terminal = Terminal.objects.get(name="Mobile Anna")
    assert terminal.type == Terminal.Type.EXTERNAL
    assert terminal.external_number == "+4915123456789"
    assert sorted(e.number for e in terminal.ringing_extensions.all()) == ["10", "20"]
    assert terminal.sip_username is None


def test_journey_4_premium_rate_caller_id_is_refused_in_french(page: Any, portal_user: Any) -> None:
    log_in(page, portal_user)
    page.get_by_role("button", name="Français").click()
    expect(page.get_by_role("heading", name="Paramètres du Cloud PBX")).to_be_visible()
    page.get_by_role("link", name="Terminaux").first.click()
    page.get_by_role("link", name="Ajouter", exact=True).click()
    page.locator("#id_name").fill("Accueil")
    page.locator("label.seg", has_text="Numéro personnalisé").click()
    custom = page.locator("#id_caller_id_custom")
    expect(custom).to_be_visible()
    custom.fill("0900 1234567")
    page.get_by_role("button", name="Enregistrer", exact=True).click()

    error = page.locator("#id_caller_id_custom_error")
    expect(error).to_have_text("+49 900 1 234567 est un numéro surtaxé (0900).")
    expect(custom).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("Rien n'a été enregistré.")
    expect(custom).to_have_value("0900 1234567")  # what the customer typed stays
    expect(page.locator("#id_name")).to_have_value("Accueil")
    expect(page.locator("#caller-id-hint")).to_contain_text("§ 120 Abs. 2 TKG")
    assert not Terminal.objects.filter(name="Accueil").exists()
    error.scroll_into_view_if_needed()
    screenshot(page, "journey-4-caller-id-refused-fr")


def test_journey_5_overview_lists_types_and_filters(
    page: Any, portal_user: Any, tenant: Any
) -> None:
    ext = {e.number: e for e in Extension.objects.for_tenant(tenant)}
    create_terminal(tenant, name="Empfang", type="ip_phone", ringing_extensions=[ext["10"]])
    create_terminal(
        tenant,
        name="Büro Yealink",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings(manufacturer="yealink", model="T54W", mac="805ec0123456"),
        ringing_extensions=[ext["11"]],
    )
    create_terminal(
        tenant, name="Softphone", type="app", generate_credentials=True, ringing_extensions=[]
    )
    create_terminal(
        tenant,
        name="Handy Chef",
        type="external",
        external_number="+4915123456789",
        ringing_extensions=[ext["10"], ext["20"]],
    )
    log_in(page, portal_user)
    page.goto("/pbx/terminals/")
    rows = page.locator("#terminal-results tbody tr")
    expect(rows).to_have_count(4)
    expected = {
        "Büro Yealink": "IP phone",
        "Empfang": "IP phone",
        "Handy Chef": "External phone",
        "Softphone": "App",
    }
    for name, kind in expected.items():
        row = rows.filter(has=page.get_by_role("link", name=name, exact=True))
        expect(row.locator(".badge")).to_have_text(kind)
    expect(rows.filter(has_text="Handy Chef")).to_contain_text("10")

    page.locator("label.pill", has_text="IP phone").click()
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"type=ip_phone"))
    expect(rows.locator(".badge")).to_have_text(["IP phone", "IP phone"])

    page.get_by_label("Search terminals").fill("yealink")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Büro Yealink")

    page.get_by_label("Search terminals").fill("")
    page.locator("label.pill", has_text="External phone").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Handy Chef")

    page.locator("label.pill", has_text="All").click()
    expect(rows).to_have_count(4)
    screenshot(page, "journey-5-overview")


def test_journey_extension_delete_lists_what_loses_it_and_number_routing(
    page: Any, portal_user: Any, tenant: Any
) -> None:
    ext = Extension.objects.for_tenant(tenant).get(number="20")
    create_terminal(tenant, name="Vertrieb Telefon", type="ip_phone", ringing_extensions=[ext])
    log_in(page, portal_user)

    page.goto("/pbx/numbers/")
    row = page.locator("tr", has_text="+49 30 12345601")
    row.get_by_label("Destination of +493012345601").select_option(label="20 · Ext 20")
    expect(page.locator("tr", has_text="+49 30 12345601")).to_contain_text("Saved")
    assert PhoneNumber.objects.get(e164="+493012345601").destination == ext

    page.goto("/pbx/extensions/")
    page.get_by_role("link", name="20", exact=True).click()
    page.get_by_role("button", name="Delete").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_contain_text("Vertrieb Telefon")
    expect(dialog).to_contain_text("+49 30 12345601")
    screenshot(page, "journey-6-extension-delete", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert Extension.objects.filter(pk=ext.pk).exists()
    page.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Extension 20 deleted.")).to_be_visible()
    assert not Extension.objects.filter(pk=ext.pk).exists()


def test_journey_phone_sized_screen(page: Any, portal_user: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, portal_user)
    page.goto("/pbx/terminals/add/")
    page.locator("#id_name").fill("Lager")
    _card(page, "App").click()
    expect(page.get_by_role("heading", name="Configuration")).to_be_visible()
    expect(_card(page, "Automatic")).to_be_hidden()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    assert not overflow, "the page scrolls sideways on a phone"
    screenshot(page, "journey-7-phone-add-app")
    page.get_by_role("button", name="Save and generate credentials").click()
    expect(page.locator("#sip-username")).to_be_visible()
    assert Terminal.objects.get(name="Lager").type == Terminal.Type.APP


def test_journey_app_qr_code_holds_exactly_the_link(page: Any, portal_user: Any) -> None:
    """Issue 6: the app's page shows a QR code and the same link; a camera reads the link."""
    import subprocess

    from cloudpbx.provisioning.models import AppLink

    tenant = portal_user.memberships.get().tenant
    terminal = create_terminal(tenant, name="Softphone", type="app", generate_credentials=True)
    log_in(page, portal_user)
    page.goto(f"/pbx/terminals/{terminal.pk}/")
    expect(page.get_by_text("No QR code yet")).to_be_visible()
    page.get_by_role("button", name="New QR code").click()
    qr = page.locator("#app-link figure.qr svg")
    expect(qr).to_be_visible()
    link = page.locator("#app-link-url").inner_text()
    assert "/app/" in link and AppLink.objects.filter(terminal=terminal).count() == 1
    page.locator("#app-setup").scroll_into_view_if_needed()
    picture = screenshot(page, "journey-8-app-qr-code", full_page=False)
    code = qr.screenshot(path=str(picture.with_name("journey-8-qr-only.png")))
    assert code
    decoded = subprocess.run(
        ["zbarimg", "--raw", "-q", str(picture.with_name("journey-8-qr-only.png"))],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert decoded == link


def test_journey_dect_base_with_two_handsets(page: Any, portal_user: Any, live_server: Any) -> None:
    """Issue 13: a Gigaset N870 base, two handsets added on its page, and the base's file (as
    the base fetches it) carrying the three SIP accounts."""
    from cloudpbx.provisioning import testing
    from cloudpbx.provisioning.vendors import VENDORS

    log_in(page, portal_user)
    _add_page(page, "DECT Basis")
    _automatic_phone(page, "Gigaset", "N870 IP PRO", "N870", "7c:2f:80:e0:d6:05")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Terminal “DECT Basis” added.")).to_be_visible()
    page.locator("#terminal-results").get_by_role("link", name="DECT Basis").click()

    for name, extension in (("Lager", "11 · Ext 11"), ("Werkstatt", "20 · Ext 20")):
        page.locator("#handsets").get_by_role("link", name="Add handset").click()
        expect(page.get_by_role("heading", name="Add handset")).to_be_visible()
        expect(page.get_by_label("Manufacturer")).to_have_count(0)  # the base configures it
        page.locator("#id_name").fill(name)
        page.get_by_label("Extension shown on internal calls").select_option(label=extension)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text(f"Handset “{name}” added.")).to_be_visible()

    rows = page.locator("#handset-list tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("DECT Basis")
    expect(rows.nth(1)).to_contain_text("Lager")
    expect(rows.nth(2)).to_contain_text("Werkstatt")
    page.locator("#handsets").scroll_into_view_if_needed()
    screenshot(page, "journey-9-dect-base-with-handsets")

    page.goto("/pbx/terminals/")
    expect(page.locator("#terminal-results tr", has_text="Lager")).to_contain_text(
        "of the DECT base DECT Basis"
    )

    base = Terminal.objects.get(name="DECT Basis")
    device = base.device
    assert device is not None and device.acs_username
    body = testing.fetch_config(
        testing.urllib_getter(live_server.url),
        testing.phone_request_for(base),
        device.acs_username,
        device.acs_password,
    )
    accounts = VENDORS["gigaset"].read_accounts(body)
    handsets = [base, *Terminal.objects.filter(base=device).order_by("handset_number")]
    assert [t.name for t in handsets] == ["DECT Basis", "Lager", "Werkstatt"]
    assert {number: (a.username, a.password) for number, a in accounts.items()} == {
        number: (t.sip_username, t.sip_password) for number, t in enumerate(handsets, start=1)
    }
    assert b'name="update_dm"' in body  # the new handsets may register now
