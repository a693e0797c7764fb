"""Portal: a DECT base's page lists its handsets and adds new ones ("Add handset"), a handset's
page names its base, the overview tells them apart; another customer's base is a 404."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from cloudpbx.extensions.models import Extension
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.tests.test_handsets import automatic_phone
from cloudpbx.terminals.tests.test_views_terminals import edit_url, form_data
from cloudpbx.testing import make_tenant
from cloudpbx.web.testing import PortalIsolationCases, portal_client


def make_base(tenant: Any, mac: str = "7c2f80e0d605", name: str = "Basis") -> Terminal:
    terminal: Terminal = automatic_phone(tenant, "gigaset", "N870", mac, name)
    return terminal


def add_url(base: Terminal) -> str:
    return reverse("terminals:add-handset", args=[base.pk])


def handset_form(tenant: Any, name: str, **overrides: Any) -> dict[str, Any]:
    """What the browser posts from the "Add handset" page (no type or device to choose)."""
    data = form_data(tenant, name=name, config_mode="automatic", **overrides)
    for field in ("manufacturer", "model", "mac", "auth_mode", "trusted_networks"):
        del data[field]
    return data


def test_add_handset_creates_a_terminal_of_the_base_with_its_own_account(tenant: Any) -> None:
    base = make_base(tenant)
    client = portal_client(tenant)
    page = client.get(add_url(base))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Add handset" in html and "Basis" in html
    assert 'value="Basis handset 2"' in html  # a name to start from
    assert 'name="manufacturer"' not in html  # the base configures it

    ext = Extension.objects.for_tenant(tenant).get(number="20")
    data = handset_form(tenant, "Lager", internal_extension=ext.pk, ringing_extensions=[ext.pk])
    response = client.post(add_url(base), data, follow=True)
    assert response.redirect_chain[-1][0].endswith(f"{edit_url(base)}#handsets")
    lager = Terminal.objects.get(name="Lager")
    assert lager.base == base.device and lager.handset_number == 2
    assert lager.sip_username and lager.sip_password
    assert lager.internal_extension == ext and list(lager.ringing_extensions.all()) == [ext]
    html = response.content.decode()
    assert "Handset “Lager” added." in html and "PIN 0020" in html
    # The base lists it, with a link to its page.
    assert f'href="{edit_url(lager)}">Lager</a>' in html
    assert "2 handsets of at most 250" in html


def test_a_handsets_page_names_its_base_and_saves_like_any_terminal(tenant: Any) -> None:
    base = make_base(tenant)
    lager = services.create_terminal(tenant, base=base.device, name="Lager", type="ip_phone")
    client = portal_client(tenant)
    html = client.get(edit_url(lager)).content.decode()
    assert "Handset 2 of the DECT base" in html and edit_url(base) in html
    assert 'name="mac"' not in html
    assert "change it on the base" in html  # media encryption is the base's
    response = client.post(edit_url(lager), handset_form(tenant, "Lager Nord"))
    assert response.status_code == 302
    lager.refresh_from_db()
    assert lager.name == "Lager Nord" and lager.base == base.device


def test_the_overview_shows_which_base_a_handset_belongs_to(tenant: Any) -> None:
    base = make_base(tenant)
    services.create_terminal(tenant, base=base.device, name="Lager", type="ip_phone")
    html = portal_client(tenant).get(reverse("terminals:list")).content.decode()
    assert "of the DECT base Basis" in html
    assert "DECT base, 2 handsets" in html


def test_a_full_base_refuses_the_next_handset_with_a_message(tenant: Any) -> None:
    base = automatic_phone(tenant, "gigaset", "N670", "7c2f80e0d606", "Klein")
    for number in range(2, 21):
        services.create_terminal(tenant, base=base.device, name=f"M{number}", type="ip_phone")
    client = portal_client(tenant)
    assert "Add handset" not in client.get(edit_url(base)).content.decode()
    response = client.post(add_url(base), handset_form(tenant, "Zu viel"))
    assert response.status_code == 422
    assert "takes at most 20 handsets" in response.content.decode()
    assert not Terminal.objects.filter(name="Zu viel").exists()


def test_no_add_handset_on_a_phone_that_is_no_base(tenant: Any) -> None:
    desk = automatic_phone(tenant, "yealink", "T54W", "805ec0123456", "Tisch")
    client = portal_client(tenant)
    assert "Add handset" not in client.get(edit_url(desk)).content.decode()
    assert client.get(add_url(desk)).status_code == 404
    assert client.post(add_url(desk), handset_form(tenant, "Nein")).status_code == 404


def test_deleting_a_base_with_handsets_says_why_not(tenant: Any) -> None:
    base = make_base(tenant)
    services.create_terminal(tenant, base=base.device, name="Lager", type="ip_phone")
    client = portal_client(tenant)
    response = client.post(reverse("terminals:delete", args=[base.pk]), follow=True)
    assert "Remove the handsets of this DECT base first" in response.content.decode()
    assert Terminal.objects.filter(pk=base.pk).exists()


def test_let_handsets_register_opens_the_window_again(tenant: Any) -> None:
    base = make_base(tenant)
    device = ProvisioningDevice.objects.get(terminal=base)
    before = device.handset_registration_from
    url = reverse("phones:handset-registration", args=[base.pk])
    response = portal_client(tenant).post(url, follow=True)
    assert "lets new handsets register for 15 minutes" in response.content.decode()
    device.refresh_from_db()
    assert device.handset_registration_from > before
    viewer = portal_client(tenant, role="viewer")
    assert viewer.post(url).status_code == 403


class TestHandsetViewsIsolation(PortalIsolationCases):
    def make_object(self, tenant: Any) -> Terminal:
        mac = f"7c2f80{ProvisioningDevice.objects.count() + 0xA00000:06x}"
        return make_base(tenant, mac=mac)

    def requests(self, obj: Terminal) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            ("get", add_url(obj), {}),
            ("post", add_url(obj), {"name": "Fremd", "type": "ip_phone"}),
            ("post", reverse("phones:handset-registration", args=[obj.pk]), {}),
        ]

    def snapshot(self, obj: Terminal) -> Any:
        device = ProvisioningDevice.objects.filter(terminal_id=obj.pk).values().get()
        return super().snapshot(obj), device, Terminal.objects.filter(name="Fremd").exists()

    def test_another_customers_base_gets_no_handset(self, db: Any) -> None:
        mine, theirs = make_tenant(), make_tenant()
        foreign = self.make_object(theirs)
        data = {"name": "Fremd", "type": "ip_phone", "caller_id_mode": "anonymous"}
        response = portal_client(mine).post(add_url(foreign), data)
        assert response.status_code == 404
        assert not Terminal.objects.filter(base__isnull=False).exists()
