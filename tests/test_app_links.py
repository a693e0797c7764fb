"""App terminals: one-time setup links, their Linphone configuration, and uniform refusals."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cloudpbx.provisioning.linphone import NAMESPACE, LinphoneAccount, render
from cloudpbx.provisioning.models import AppLink
from cloudpbx.provisioning.services import app_links
from cloudpbx.terminals.services import create_terminal
from cloudpbx.testing import TenantIsolationCases, api_client, errors_at

NS = {"lp": NAMESPACE}


def app(tenant, name="Softphone", **values):
    return create_terminal(tenant, name=name, type="app", generate_credentials=True, **values)


def path_of(url):
    return url[url.index(app_links.PATH) :]


def entries(body):
    root = ET.fromstring(body)
    return {
        (section.get("name"), entry.get("name")): entry.text
        for section in root.findall("lp:section", NS)
        for entry in section.findall("lp:entry", NS)
    }


def test_the_link_gives_the_linphone_configuration_once(tenant, settings):
    terminal = app(tenant, internal_display_name="Empfang")
    issued = app_links.issue(terminal)
    client = Client(HTTP_USER_AGENT="Linphone/5.1 (test)")
    first = client.get(path_of(issued.url))
    assert first.status_code == 200
    assert first["Content-Type"].startswith("application/xml")
    assert first["Cache-Control"] == "no-store"
    values = entries(first.content)
    assert values[("auth_info_0", "username")] == terminal.sip_username
    assert values[("auth_info_0", "ha1")] == terminal.sip_ha1
    assert values[("auth_info_0", "realm")] == settings.CLOUDPBX_SIP_REALM
    assert values[("proxy_0", "reg_identity")] == (
        f'"Empfang" <sip:{terminal.sip_username}@{settings.CLOUDPBX_SIP_DOMAIN}>'
    )
    assert terminal.sip_password.encode() not in first.content  # HA1, never the password
    link = AppLink.objects.get()
    assert link.used_at is not None
    assert link.used_ip == "127.0.0.1"
    assert link.used_user_agent == "Linphone/5.1 (test)"
    second = client.get(path_of(issued.url))
    assert (second.status_code, second.content) == (404, b"Not Found\n")


def test_only_a_hash_of_the_token_is_stored(tenant):
    issued = app_links.issue(app(tenant))
    token = issued.url.rsplit("/", 1)[1]
    assert len(token) >= 43  # ≥ 256 bits, URL-safe base64
    assert AppLink.objects.get().token_hash == app_links.token_hash(token)
    assert token not in str(AppLink.objects.values().get())


def test_a_new_link_spends_the_old_one(tenant):
    terminal = app(tenant)
    old = app_links.issue(terminal)
    new = app_links.issue(terminal)
    assert Client().get(path_of(old.url)).status_code == 404
    assert Client().get(path_of(new.url)).status_code == 200


def test_links_expire(tenant, settings):
    settings.CONFIG = settings.CONFIG.__class__(**{**settings.CONFIG.__dict__, "app_link_hours": 1})
    issued = app_links.issue(app(tenant))
    AppLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(path_of(issued.url)).status_code == 404


def test_unknown_spent_expired_and_locked_answers_are_identical(tenant, settings):
    terminal = app(tenant)
    spent = app_links.issue(terminal)
    Client().get(path_of(spent.url))
    expired = app_links.issue(app(tenant, name="Other"))
    AppLink.objects.filter(pk=expired.link.pk).update(expires_at=timezone.now())
    answers = {
        Client().get(path_of(url)).content for url in (spent.url, expired.url, "/app/" + "x" * 43)
    }
    assert answers == {b"Not Found\n"}


def test_guessing_locks_the_address_out(tenant, settings):
    issued = app_links.issue(app(tenant))
    guesser = Client(REMOTE_ADDR="198.51.100.7")
    for attempt in range(settings.CONFIG.prov_lockout_ip_failures):
        assert guesser.get(f"/app/guess{attempt}").status_code == 404
    # Locked: even the right token answers like a wrong one, and is not spent.
    assert guesser.get(path_of(issued.url)).status_code == 404
    assert AppLink.objects.get().used_at is None
    assert Client(REMOTE_ADDR="203.0.113.9").get(path_of(issued.url)).status_code == 200


def test_names_are_escaped_in_the_xml():
    body = render(
        LinphoneAccount(
            display_name='A&B <"Sales">', username="t1", ha1="0" * 32, realm="r&d",
            domain="pbx.example", proxy_host="pbx.example", proxy_port=5060, transport="udp",
        )
    )  # fmt: skip
    values = entries(body)
    assert values[("proxy_0", "reg_identity")] == '"A&B <Sales>" <sip:t1@pbx.example>'
    assert values[("auth_info_0", "realm")] == "r&d"
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<config')


def linphone_account(**changes):
    values = dict(
        display_name="Empfang", username="t1", ha1="0" * 32, realm="pbx.example",
        domain="pbx.example", proxy_host="pbx.example", proxy_port=5061, transport="tls",
    )  # fmt: skip
    return LinphoneAccount(**{**values, **changes})


@pytest.mark.parametrize(
    ("mode", "encryption", "mandatory"),
    [("off", None, None), ("optional", "srtp", "0"), ("required", "srtp", "1")],
)
def test_tls_and_the_srtp_mode_are_in_the_linphone_file(mode, encryption, mandatory):
    values = entries(render(linphone_account(media_encryption=mode)))
    assert values[("proxy_0", "reg_proxy")] == "<sip:pbx.example:5061;transport=tls>"
    assert values.get(("sip", "media_encryption")) == encryption
    assert values.get(("sip", "media_encryption_mandatory")) == mandatory
    assert values[("sip", "default_proxy")] == "0"


def test_srtp_off_adds_nothing_to_the_linphone_file():
    default = render(linphone_account())
    assert default == render(linphone_account(media_encryption="off"))
    assert b"media_encryption" not in default


@pytest.mark.parametrize("changes", [{"media_encryption": "mandatory"}, {"transport": "TLS"}])
def test_unknown_linphone_settings_are_refused(changes):
    with pytest.raises(ValueError):
        render(linphone_account(**changes))


def test_api_issues_a_link_with_its_qr_code(tenant, settings):
    terminal = app(tenant)
    response = api_client(tenant).post(f"/api/v1/terminals/{terminal.pk}/app-link")
    assert response.status_code == 201
    body = response.json_body
    assert body["url"].startswith(f"{settings.CLOUDPBX_PUBLIC_URL}/app/")
    assert body["qr_svg"].startswith("<svg")
    assert Client().get(path_of(body["url"])).status_code == 200


@pytest.mark.parametrize("kind", ["ip_phone", "external"])
def test_only_app_terminals_get_links(tenant, kind):
    values = {"external_number": "015123456789"} if kind == "external" else {}
    terminal = create_terminal(tenant, name="X", type=kind, generate_credentials=True, **values)
    response = api_client(tenant).post(f"/api/v1/terminals/{terminal.pk}/app-link")
    assert "type" in errors_at(response)
    assert not AppLink.objects.exists()


class TestAppLinkIsolation(TenantIsolationCases):
    endpoint = "/api/v1/terminals/"
    actions = ["app-link"]

    def make_object(self, tenant):
        return app(tenant, name="Theirs")

    def test_no_link_was_issued_for_the_other_tenant(self, db):
        client, foreign = self._setup()
        assert client.post(self._url(foreign, "app-link")).status_code == 404
        assert not AppLink.objects.filter(terminal=foreign).exists()


def test_portal_makes_a_qr_code_shown_once_then_its_status(tenant):
    from django.urls import reverse

    from cloudpbx.web.testing import portal_client

    terminal = app(tenant)
    client = portal_client(tenant)
    edit = reverse("terminals:edit", args=[terminal.pk])
    assert "No QR code yet" in client.get(edit).content.decode()
    made = client.post(reverse("terminals:app-link", args=[terminal.pk]), HTTP_HX_REQUEST="true")
    html = made.content.decode()
    assert made.status_code == 200 and "<svg" in html
    url = html.split('id="app-link-url">')[1].split("<")[0]
    assert url.startswith("http") and "/app/" in url
    page = client.get(edit).content.decode()
    assert url not in page and "waiting to be used" in page
    Client(HTTP_USER_AGENT="Linphone/5.1").get(path_of(url))
    assert "was used" in client.get(edit).content.decode()


def test_portal_qr_codes_are_only_for_own_terminals_and_editors(tenant):
    from django.urls import reverse

    from cloudpbx.tenancy.models import Membership
    from cloudpbx.testing import make_tenant
    from cloudpbx.web.testing import portal_client

    theirs = app(make_tenant(), name="Theirs")
    assert (
        portal_client(tenant).post(reverse("terminals:app-link", args=[theirs.pk])).status_code
        == 404
    )
    mine = app(tenant)
    viewer = portal_client(tenant, role=Membership.Role.VIEWER)
    assert viewer.post(reverse("terminals:app-link", args=[mine.pk])).status_code == 403
    assert not AppLink.objects.exists()
