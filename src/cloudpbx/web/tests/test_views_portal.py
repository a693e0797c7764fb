"""Portal shell: sign-in and throttling, customer choice, languages, security headers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from cloudpbx.accounts.models import User
from cloudpbx.tenancy.models import Membership
from cloudpbx.tenancy.services import add_member, update_tenant
from cloudpbx.testing import make_tenant, make_user
from cloudpbx.web.current_tenant import SESSION_KEY
from cloudpbx.web.testing import portal_client

PASSWORD = "Portal-Test-Secret-2024"
PBX = reverse("web:pbx")
LOGIN = reverse("web:login")


def member(tenant: Any, **extra: Any) -> User:
    user = make_user(tenant, **extra)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client: Client, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_home_sends_to_login_or_portal(tenant: Any) -> None:
    assert Client().get("/")["Location"] == LOGIN
    assert portal_client(tenant).get("/")["Location"] == PBX


def test_login_and_logout(tenant: Any) -> None:
    user = member(tenant)
    client = Client()
    page = client.get(LOGIN).content.decode()
    assert 'autocomplete="username"' in page and 'autocomplete="current-password"' in page
    response = log_in(client, user.username)
    assert response.status_code == 302 and response["Location"] == PBX
    page = client.get(PBX).content.decode()
    assert "Cloud PBX settings" in page and "Muster GmbH" in page
    assert client.get(reverse("web:logout")).status_code == 405  # logout is a POST (CSRF)
    assert client.post(reverse("web:logout"))["Location"] == LOGIN
    assert client.get(PBX)["Location"].startswith(f"{LOGIN}?next=")


def test_wrong_password_is_one_message_for_every_cause(tenant: Any) -> None:
    user = member(tenant)
    wrong = log_in(Client(), user.username, "nope").content.decode()
    unknown = log_in(Client(), "nobody", "nope").content.decode()
    assert "Wrong username or password." in wrong and "Wrong username or password." in unknown


def test_login_locks_a_user_out_after_repeated_failures(tenant: Any) -> None:
    user = member(tenant)
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(REMOTE_ADDR=f"198.51.100.{attempt}"), user.username, "wrong")
    # The right password from yet another address: still locked (per user).
    locked = log_in(Client(REMOTE_ADDR="203.0.113.99"), user.username)
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.content.decode()


def test_login_locks_an_address_out_after_repeated_failures(tenant: Any) -> None:
    user = member(tenant)
    client = Client(REMOTE_ADDR="198.51.100.7")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, f"guess{attempt}", "wrong")
    assert log_in(client, user.username).status_code == 429  # per address
    assert log_in(Client(REMOTE_ADDR="203.0.113.5"), user.username).status_code == 302


def test_session_and_csrf_cookie_flags(tenant: Any) -> None:
    user = member(tenant)
    client = Client()
    response = log_in(client, user.username)
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert client.get(PBX).status_code == 200


def test_language_follows_the_browser_then_the_choice(tenant: Any) -> None:
    client = portal_client(tenant, language="de")
    page = client.get(PBX).content.decode()
    assert '<html lang="de">' in page and "Einstellungen der Cloud-Telefonanlage" in page
    response = client.post(reverse("set_language"), {"language": "fr", "next": PBX})
    assert response["Location"] == PBX
    page = client.get(PBX).content.decode()
    assert '<html lang="fr">' in page and "Paramètres du Cloud PBX" in page


def test_saved_user_language_is_applied_at_login(tenant: Any) -> None:
    user = member(tenant, language="fr")
    client = Client(HTTP_ACCEPT_LANGUAGE="de")
    log_in(client, user.username)
    assert '<html lang="fr">' in client.get(PBX).content.decode()


def test_single_customer_is_chosen_automatically(tenant: Any) -> None:
    client = portal_client(tenant)
    assert client.get(PBX).status_code == 200
    assert client.session[SESSION_KEY] == tenant.pk


def test_member_of_several_customers_chooses_and_switches(tenant: Any) -> None:
    other = make_tenant("Zweite GmbH")
    client = portal_client(tenant)
    add_member(other, client.user, Membership.Role.VIEWER)
    response = client.get(reverse("terminals:list"))
    assert response["Location"] == f"{reverse('web:tenants')}?next=%2Fpbx%2Fterminals%2F"
    chooser = client.get(response["Location"]).content.decode()
    assert "Muster GmbH" in chooser and "Zweite GmbH" in chooser and "Read only" in chooser
    response = client.post(reverse("web:tenants"), {"tenant": other.pk, "next": "/pbx/terminals/"})
    assert response["Location"] == "/pbx/terminals/"
    page = client.get(PBX).content.decode()
    assert re.search(rf'<option value="{other.pk}" selected>Zweite GmbH</option>', page)
    # Back to the first one through the switcher in the header.
    client.post(reverse("web:tenants"), {"tenant": tenant.pk, "next": PBX})
    assert client.session[SESSION_KEY] == tenant.pk


def test_switching_to_a_customer_one_is_not_member_of_is_404(tenant: Any) -> None:
    client = portal_client(tenant)
    client.get(PBX)
    stranger = make_tenant()
    assert client.post(reverse("web:tenants"), {"tenant": stranger.pk}).status_code == 404
    assert client.post(reverse("web:tenants"), {"tenant": "x"}).status_code == 404
    assert client.session[SESSION_KEY] == tenant.pk


def test_open_redirects_are_refused(tenant: Any) -> None:
    client = portal_client(tenant)
    response = client.post(
        reverse("web:tenants"), {"tenant": tenant.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == PBX


def test_removed_membership_takes_effect_at_once(tenant: Any) -> None:
    client = portal_client(tenant)
    client.get(PBX)
    Membership.objects.filter(user=client.user).delete()
    response = client.get(PBX)
    assert response.status_code == 403
    assert "No Cloud PBX for this account" in response.content.decode()


@pytest.mark.django_db
def test_operator_without_membership_sees_no_customer_portal(tenant: Any) -> None:
    operator = User.objects.create_superuser("op", "op@example.invalid", PASSWORD)
    client = Client()
    client.force_login(operator)
    response = client.get(reverse("terminals:list"))
    assert response.status_code == 403
    assert "Operators manage customers in the administration." in response.content.decode()
    session = client.session
    session[SESSION_KEY] = tenant.pk  # a forged choice changes nothing
    session.save()
    assert client.get(reverse("terminals:list")).status_code == 403
    assert client.post(reverse("web:tenants"), {"tenant": tenant.pk}).status_code == 404


def test_portal_pages_need_login(db: Any) -> None:
    for name in (
        "web:pbx",
        "terminals:list",
        "terminals:add",
        "extensions:list",
        "extensions:add",
        "numbers:list",
        "terminals:models",
    ):
        response = Client().get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(LOGIN), name


def test_htmx_request_after_the_session_ended_redirects_the_page(db: Any) -> None:
    response = Client().get(
        reverse("terminals:list"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/pbx/terminals/?type=app",
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/?next=/pbx/terminals/%3Ftype%3Dapp"


PAGES = (
    "web:pbx",
    "terminals:list",
    "terminals:add",
    "extensions:list",
    "extensions:add",
    "numbers:list",
)


def test_pages_have_a_strict_csp_and_only_our_own_assets(tenant: Any) -> None:
    client = portal_client(tenant)
    for name in (*PAGES, "web:login"):
        response = client.get(reverse(name)) if name != "web:login" else Client().get(LOGIN)
        assert response.status_code == 200, name
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, name
        html = response.content.decode()
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], name
        assert " style=" not in html and "<style" not in html, name
        external = [u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if "//" in u]
        assert external == [], (name, external)
        assert response["X-Frame-Options"] == "DENY"


def test_every_input_has_a_label(tenant: Any) -> None:
    """Each visible input, select and textarea is named by a <label for> or aria-label."""
    client = portal_client(tenant)
    for name in PAGES:
        html = client.get(reverse(name)).content.decode()
        labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if re.search(r'type="(?:hidden|submit)"', tag) or "aria-label=" in tag:
                continue
            if 'type="radio"' in tag or 'type="checkbox"' in tag:
                if re.search(r"<label[^>]*>\s*" + re.escape(tag), html):
                    continue  # wrapped in its label
            found = re.search(r'\bid="([^"]+)"', tag)
            assert found and found.group(1) in labelled, (name, tag)


def test_no_access_page_for_a_user_without_customers(db: Any) -> None:
    user = make_user()
    client = Client()
    client.force_login(user)
    assert client.get(PBX).status_code == 403
    assert client.get(reverse("web:tenants")).status_code == 403


def test_pbx_overview_counts(tenant: Any) -> None:
    from cloudpbx.terminals.services import create_terminal

    create_terminal(tenant, name="A", type="app")
    create_terminal(tenant, name="M", type="external", external_number="+4915123456789")
    html = portal_client(tenant).get(PBX).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Terminals 2" in text and "Extensions 3" in text and "Numbers 3" in text
    assert "+49 30 12345600" in text


def test_pbx_overview_shows_the_destination_policy(tenant: Any) -> None:
    update_tenant(
        tenant, allowed_destination_countries=["DE", "AT", "CH", "JP"], max_outbound_calls=4
    )
    html = portal_client(tenant).get(PBX).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "External calls 4 External calls at the same time, at most." in text
    assert "Austria, Germany, JP, Switzerland" in text  # no name known for JP: the code
    assert "Your operator sets these limits" in text
    assert 'name="allowed_destination_countries"' not in html  # read-only for the customer


@pytest.mark.parametrize(
    ("language", "countries"),
    [
        ("de", "Deutschland, Frankreich, Österreich"),
        ("fr", "Allemagne, Autriche, France"),
    ],
)
def test_pbx_overview_names_countries_in_the_readers_language(
    tenant: Any, language: str, countries: str
) -> None:
    update_tenant(tenant, allowed_destination_countries=["AT", "DE", "FR"])
    html = portal_client(tenant, language=language).get(PBX).content.decode()
    assert countries in html
