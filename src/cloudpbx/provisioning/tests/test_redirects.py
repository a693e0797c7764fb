"""Redirect registration driven by the terminal API: create, MAC change, delete, statuses,
retries with back-off up to the limit, the retry action, operator settings and MAC-IDs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from cloudpbx.accounts.models import User
from cloudpbx.core import crypto
from cloudpbx.core.jobs import huey
from cloudpbx.provisioning import jobs, redirect_status
from cloudpbx.provisioning.admin import RedirectSettingsForm
from cloudpbx.provisioning.models import (
    RedirectRegistration,
    RedirectSettings,
    forget_redirect_settings,
)
from cloudpbx.provisioning.redirect_clients import gigaset, ymcs
from cloudpbx.provisioning.services import redirect_registrations
from cloudpbx.tenancy.models import Membership
from cloudpbx.testing import api_client, errors_at, make_tenant
from cloudpbx.web.testing import portal_client

from . import fakes

URL = "/api/v1/terminals/"
PROV = f"{django_settings.CLOUDPBX_PUBLIC_URL}/prov"


@pytest.fixture(autouse=True)
def _whole_site(_provisioning_settings: Any, settings: Any) -> Iterator[None]:
    settings.ROOT_URLCONF = "cloudpbx.urls"
    ymcs._tokens.clear()
    forget_redirect_settings()
    yield
    forget_redirect_settings()  # the settings cache must not outlive the test's rows


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Events (and the jobs they schedule) run as they would after a real commit."""

    def run(action: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


def configure(
    manufacturer: str,
    service: str,
    url: str,
    secret: str = fakes.CLIENT_SECRET,
    account: str = fakes.CLIENT_ID,
) -> RedirectSettings:
    row = RedirectSettings(
        manufacturer=manufacturer, service=service, account=account, base_url=url
    )
    row.set_secret(secret)
    return redirect_registrations.save_settings(row)


def phone(
    api: Any,
    run: Any,
    mac: str,
    manufacturer: str = "yealink",
    model: str = "T54W",
    **provisioning: Any,
) -> dict[str, Any]:
    body = {
        "name": f"Phone {mac}",
        "type": "ip_phone",
        "provisioning": {
            "mode": "automatic",
            "manufacturer": manufacturer,
            "model": model,
            "mac": mac,
            **provisioning,
        },
    }
    response = run(lambda: api.post(URL, body))
    assert response.status_code == 201, response.json_body
    return shown(api, response.json_body["id"])


def shown(api: Any, terminal_id: int) -> dict[str, Any]:
    """The terminal as the API shows it once the events of the change have run."""
    response = api.get(f"{URL}{terminal_id}")
    assert response.status_code == 200
    return dict(response.json_body)


def record(manufacturer: str, mac: str) -> RedirectRegistration:
    return RedirectRegistration.objects.get(manufacturer=manufacturer, mac=mac)


def run_scheduled_jobs() -> list[float]:
    """Run every retry huey scheduled (as if its time had come); return their delays."""
    delays: list[float] = []
    while True:
        later = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
        due = [huey.deserialize_task(data) for data in huey.storage.read_schedule(later)]
        if not due:
            return delays
        for task in due:
            delays.append((task.eta - datetime.now(UTC).replace(tzinfo=None)).total_seconds())
            huey.execute(task, timestamp=later)


def test_create_mac_change_and_delete_register_and_deregister(
    tenant: Any, run_on_commit: Any
) -> None:
    api = api_client(tenant)
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        created = phone(api, run_on_commit, "80:5e:c0:11:22:33")
        assert fake.devices["805ec0112233"]["uniqueServerUrl"] == f"{PROV}/"
        assert created["provisioning"]["redirect"]["state"] == "done"
        assert created["provisioning"]["redirect"]["service"] == "Yealink YMCS"

        terminal = f"{URL}{created['id']}"
        moved = run_on_commit(
            lambda: api.patch(
                terminal,
                {
                    "provisioning": {
                        "mode": "automatic",
                        "manufacturer": "yealink",
                        "model": "T54W",
                        "mac": "80:5e:c0:44:55:66",
                    }
                },
            )
        )
        assert moved.status_code == 200
        assert set(fake.devices) == {"805ec0445566"}
        assert record("yealink", "805ec0112233").action == "deregister"
        assert record("yealink", "805ec0112233").status == "done"
        assert shown(api, created["id"])["provisioning"]["redirect"]["state"] == "done"

        calls_before = len(fake.calls)
        renamed = run_on_commit(lambda: api.patch(terminal, {"name": "Reception"}))
        assert renamed.status_code == 200
        assert len(fake.calls) == calls_before  # nothing changed for the service

        assert run_on_commit(lambda: api.delete(terminal)).status_code == 204
        assert fake.devices == {}
        assert record("yealink", "805ec0445566").action == "deregister"
        assert record("yealink", "805ec0445566").status == "done"
        assert fake.problems == []


def test_manual_configuration_deregisters_and_register_all_catches_up(
    tenant: Any, run_on_commit: Any
) -> None:
    api = api_client(tenant)
    earlier = phone(api, run_on_commit, "80:5e:c0:11:22:34")  # before the service existed
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        assert shown(api, earlier["id"])["provisioning"]["redirect"]["state"] == "not_registered"
        with_on_commit = run_on_commit(lambda: redirect_registrations.register_all("yealink"))
        assert with_on_commit == 1
        assert set(fake.devices) == {"805ec0112234"}

        manual = run_on_commit(
            lambda: api.patch(f"{URL}{earlier['id']}", {"provisioning": {"mode": "manual"}})
        )
        assert manual.status_code == 200
        assert fake.devices == {}
        assert record("yealink", "805ec0112234").action == "deregister"
        assert fake.problems == []


def test_nothing_is_registered_when_the_operator_has_not_configured_the_manufacturer(
    tenant: Any, run_on_commit: Any
) -> None:
    api = api_client(tenant)
    created = phone(api, run_on_commit, "80:5e:c0:11:22:33")  # any call out would fail the test
    assert not RedirectRegistration.objects.exists()
    redirect = created["provisioning"]["redirect"]
    assert redirect["state"] == "not_configured"
    assert redirect["url"] == f"{PROV}/"
    retry = api.post(f"{URL}{created['id']}/redirect-retry")
    assert retry.status_code == 409
    assert "not set up" in retry.json_body["detail"]
    assert run_on_commit(lambda: api.delete(f"{URL}{created['id']}")).status_code == 204
    assert not RedirectRegistration.objects.exists()


def test_manufacturer_change_deregisters_at_the_old_one(tenant: Any, run_on_commit: Any) -> None:
    api = api_client(tenant)
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        created = phone(api, run_on_commit, "00:04:13:11:22:33")
        snom = {
            "mode": "automatic",
            "manufacturer": "snom",
            "model": "D785",
            "mac": "00:04:13:11:22:33",
        }
        changed = run_on_commit(lambda: api.patch(f"{URL}{created['id']}", {"provisioning": snom}))
        assert changed.status_code == 200
        assert fake.devices == {}
        redirect = shown(api, created["id"])["provisioning"]["redirect"]
        assert redirect["state"] == "not_configured"
        assert redirect["url"] == f"{PROV}/snomD785-{{mac}}.htm"


def test_htek_has_no_api_and_the_customer_gets_instructions(
    tenant: Any, run_on_commit: Any
) -> None:
    created = phone(api_client(tenant), run_on_commit, "00:1f:c1:11:22:33", "htek", "UC926")
    redirect = created["provisioning"]["redirect"]
    assert redirect["state"] == "not_needed"
    assert redirect["instructions"].startswith(
        "Htek has no redirect API. Sign in to Htek's redirect portal (RPS) with your Htek account"
    )
    assert "00:1f:c1:11:22:33" in redirect["instructions"]
    assert f"{PROV}/" in redirect["instructions"]
    assert not RedirectRegistration.objects.exists()


def test_transient_failures_retry_with_backoff_and_stop_at_the_limit(
    tenant: Any, run_on_commit: Any
) -> None:
    api = api_client(tenant)
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        fake.fail_next = [503] * 50
        created = phone(api, run_on_commit, "80:5e:c0:11:22:33")
        first = created["provisioning"]["redirect"]
        assert first["state"] == "pending"
        assert first["attempts"] == 1
        assert "Server busy" in first["detail"]

        delays = run_scheduled_jobs()
        assert len(delays) == jobs.REDIRECT_RETRIES
        expected = [jobs.REDIRECT_RETRY_DELAY * 2**n for n in range(jobs.REDIRECT_RETRIES)]
        assert [round(delay / 10) * 10 for delay in delays] == [
            round(delay / 10) * 10 for delay in expected
        ]
        done = record("yealink", "805ec0112233")
        assert done.status == "failed"
        assert done.attempts == 1 + jobs.REDIRECT_RETRIES
        assert "503" in done.detail

        fake.fail_next = []  # the service is back: the customer retries
        retried = run_on_commit(lambda: api.post(f"{URL}{created['id']}/redirect-retry"))
        assert retried.status_code == 202
        assert retried.json_body["state"] == "pending"  # the job runs after the answer
        assert shown(api, created["id"])["provisioning"]["redirect"]["state"] == "done"
        assert "805ec0112233" in fake.devices


def test_refused_credentials_fail_at_once_without_retries(
    tenant: Any, run_on_commit: Any, caplog: Any
) -> None:
    api = api_client(tenant)
    caplog.set_level(logging.DEBUG)
    with fakes.ymcs() as fake:
        settings = configure("yealink", "ymcs", fake.url, secret="wrong-secret-value")
        created = phone(api, run_on_commit, "80:5e:c0:11:22:33")
        redirect = created["provisioning"]["redirect"]
        assert redirect["state"] == "failed"
        assert redirect["attempts"] == 1
        assert "refused" in redirect["detail"]
        assert run_scheduled_jobs() == []

        settings.set_secret(fakes.CLIENT_SECRET)
        redirect_registrations.save_settings(settings)
        run_on_commit(lambda: api.post(f"{URL}{created['id']}/redirect-retry"))
        assert shown(api, created["id"])["provisioning"]["redirect"]["state"] == "done"
    logs = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "wrong-secret-value" not in logs
    assert fakes.CLIENT_SECRET not in logs


def test_a_newer_request_overtakes_an_older_job(tenant: Any, run_on_commit: Any) -> None:
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        created = phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
        row = record("yealink", "805ec0112233")
        calls = len(fake.calls)
        jobs.redirect_job.call_local("yealink", "805ec0112233", row.generation - 1)
        assert len(fake.calls) == calls  # stale generation: nothing done
        assert created["provisioning"]["redirect"]["state"] == "done"


@pytest.mark.parametrize(
    ("service", "fake_service", "path", "manufacturer", "model", "mac"),
    [
        ("yealink_rps", fakes.yealink_rps, "/xmlrpc", "yealink", "T54W", "80:5e:c0:11:22:33"),
        ("sraps", fakes.sraps, "/api/v1/", "snom", "D785", "00:04:13:11:22:33"),
    ],
)
def test_every_service_registers_through_the_api(
    tenant: Any,
    run_on_commit: Any,
    service: Any,
    fake_service: Any,
    path: Any,
    manufacturer: Any,
    model: Any,
    mac: Any,
) -> None:
    api = api_client(tenant)
    with fake_service() as fake:
        account = fakes.RPC_USER if service == "yealink_rps" else fakes.CLIENT_ID
        secret = fakes.RPC_PASSWORD if service == "yealink_rps" else fakes.CLIENT_SECRET
        configure(manufacturer, service, fake.url + path, secret=secret, account=account)
        created = phone(api, run_on_commit, mac, manufacturer, model)
        assert created["provisioning"]["redirect"]["state"] == "done", created
        assert len(fake.devices) == 1
        assert run_on_commit(lambda: api.delete(f"{URL}{created['id']}")).status_code == 204
        assert fake.devices == {}
        assert fake.problems == []


def test_gigaset_mac_id_is_required_once_the_operator_configured_gigaset(
    tenant: Any, run_on_commit: Any
) -> None:
    api = api_client(tenant)
    mac = "7c:2f:80:e0:d6:05"
    without = phone(api, run_on_commit, mac, "gigaset", "N870")  # not configured: not needed
    assert without["provisioning"]["mac_id"] is None
    run_on_commit(lambda: api.delete(f"{URL}{without['id']}"))

    with fakes.gigaset() as fake:
        configure(
            "gigaset",
            "gigaset",
            f"{fake.url}/apxml/rpc.do",
            secret=fakes.RPC_PASSWORD,
            account=fakes.RPC_USER,
        )
        body: dict[str, Any] = {
            "name": "Base",
            "type": "ip_phone",
            "provisioning": {
                "mode": "automatic",
                "manufacturer": "gigaset",
                "model": "N870",
                "mac": mac,
            },
        }
        missing = api.post(URL, body)
        assert "MAC-ID" in errors_at(missing)["provisioning.mac_id"][0]
        body["provisioning"]["mac_id"] = "12"
        assert "label" in errors_at(api.post(URL, body))["provisioning.mac_id"][0]
        body["provisioning"]["mac_id"] = "7C2F80E0D606-AB12"
        other = errors_at(api.post(URL, body))["provisioning.mac_id"][0]
        assert "7C:2F:80:E0:D6:06" in other

        body["provisioning"]["mac_id"] = "7c2f80e0d605-ab12"
        created = run_on_commit(lambda: api.post(URL, body))
        assert created.status_code == 201, created.json_body
        assert created.json_body["provisioning"]["mac_id"] == "AB12"
        assert shown(api, created.json_body["id"])["provisioning"]["redirect"]["state"] == "done"
        sent = created.json_body["provisioning"]
        assert fake.devices["7C2F80E0D605"] == (
            "7C2F80E0D605-AB12",
            gigaset.with_credentials(
                f"{PROV}/%MACD.xml", sent["acs_username"], acs_password(api, created.json_body)
            ),
            "cloudpbx",
        )

        # A PATCH that leaves the MAC-ID out keeps it.
        patched = run_on_commit(
            lambda: api.patch(
                f"{URL}{created.json_body['id']}",
                {"provisioning": {k: v for k, v in body["provisioning"].items() if k != "mac_id"}},
            )
        )
        assert patched.json_body["provisioning"]["mac_id"] == "AB12"
        assert fake.problems == []


def test_mac_id_errors_are_translated(tenant: Any) -> None:
    row = RedirectSettings(manufacturer="gigaset", service="gigaset", account="u")
    row.set_secret("p")
    redirect_registrations.save_settings(row)
    api = api_client(tenant)
    api.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    body: dict[str, Any] = {
        "name": "Basis",
        "type": "ip_phone",
        "provisioning": {
            "mode": "automatic",
            "manufacturer": "gigaset",
            "model": "N870",
            "mac": "7c:2f:80:e0:d6:05",
        },
    }
    message = errors_at(api.post(URL, body))["provisioning.mac_id"][0]
    assert "MAC-ID" in message
    assert "Enter the MAC-ID" not in message


# --- zero touch with HTTP credentials ----------------------------------------------------------


def _ymcs_sent(fake: Any) -> tuple[str, str] | None:
    added = [payload for path, payload in fake.calls if path == "/v2/rps/addDevicesByMac"][-1]
    assert set(added[0]) <= {"mac", "uniqueServerUrl", "authName", "password"}
    return (added[0]["authName"], added[0]["password"]) if "authName" in added[0] else None


def _sraps_sent(fake: Any) -> tuple[str, str] | None:
    settings = [call[2] for call in fake.calls if call[0] == "PUT"][-1]["settings_manager"]
    if fakes.USER_SETTING_UUID not in settings:
        assert set(settings) == {fakes.SETTING_UUID}
        return None
    return (
        settings[fakes.USER_SETTING_UUID]["value"],
        settings[fakes.PASSWORD_SETTING_UUID]["value"],
    )


def _gigaset_sent(fake: Any) -> tuple[str, str] | None:
    url = [params[1] for method, params in fake.calls if method == "autoprov.registerDevice"][-1]
    if url == f"{PROV}/%MACD.xml":
        return None
    userinfo = url.split("://", 1)[1].split("@", 1)[0]
    username, password = userinfo.split(":", 1)
    assert url == gigaset.with_credentials(f"{PROV}/%MACD.xml", username, password)
    return username, password


def _rps_sent(fake: Any) -> tuple[str, str] | None:
    (method, params), *_ = fake.calls
    assert (method, params[2]) == ("redirect.registerDeviceWithUniqueUrl", f"{PROV}/")
    assert len(params) == 4  # no field for credentials
    return None


SERVICES = {
    # name: (service, fake, path, manufacturer, model, mac, provisioning extras, read what was
    # sent, whether the service carries credentials for this model)
    "ymcs": ("ymcs", fakes.ymcs, "", "yealink", "T54W", "80:5e:c0:11:22:33", {}, _ymcs_sent, True),
    "sraps": (
        "sraps",
        fakes.sraps,
        "/api/v1/",
        "snom",
        "D785",
        "00:04:13:11:22:33",
        {},
        _sraps_sent,
        True,
    ),
    "gigaset-nx70": (
        "gigaset",
        fakes.gigaset,
        "/apxml/rpc.do",
        "gigaset",
        "N870",
        "7c:2f:80:e0:d6:05",
        {"mac_id": "AB12"},
        _gigaset_sent,
        True,
    ),
    "gigaset-maxwell": (
        "gigaset",
        fakes.gigaset,
        "/apxml/rpc.do",
        "gigaset",
        "Maxwell 3",
        "7c:2f:80:e0:d6:05",
        {"mac_id": "AB12"},
        _gigaset_sent,
        False,
    ),
    "yealink-rps": (
        "yealink_rps",
        fakes.yealink_rps,
        "/xmlrpc",
        "yealink",
        "T54W",
        "80:5e:c0:11:22:33",
        {},
        _rps_sent,
        False,
    ),
}


def configure_service(name: str, fake: Any) -> None:
    service, _fake, path, manufacturer, *_rest = SERVICES[name]
    xmlrpc = service in ("yealink_rps", "gigaset")
    configure(
        manufacturer,
        service,
        fake.url + path,
        secret=fakes.RPC_PASSWORD if xmlrpc else fakes.CLIENT_SECRET,
        account=fakes.RPC_USER if xmlrpc else fakes.CLIENT_ID,
    )


def logged(caplog: Any) -> str:
    """Everything our code logged (messages and their arguments). ``mohawk`` is left out: it is
    the fake SRAPS's server side, which logs the request bodies it verifies at DEBUG."""
    ours = [record for record in caplog.records if not record.name.startswith("mohawk")]
    text = logging.Formatter()  # with tracebacks
    return "\n".join(f"{text.format(record)} {record.args}" for record in ours)


def acs_password(api: Any, terminal: dict[str, Any]) -> str:
    """The phone's provisioning password, as an admin reveals it (no other response has it)."""
    revealed = api.get(f"{URL}{terminal['id']}/credentials").json_body["provisioning"]
    assert revealed is not None, "the phone has no provisioning login"
    return str(revealed["password"])


@pytest.mark.parametrize("name", list(SERVICES))
def test_the_service_hands_a_credentials_phone_its_username_and_password(
    tenant: Any, run_on_commit: Any, caplog: Any, name: str
) -> None:
    _service, fake_service, _path, manufacturer, model, mac, extras, sent, carries = SERVICES[name]
    caplog.set_level(logging.DEBUG)
    api = api_client(tenant)
    with fake_service() as fake:
        configure_service(name, fake)
        created = phone(api, run_on_commit, mac, manufacturer, model, **extras)
        provisioning = created["provisioning"]
        assert provisioning["redirect"]["state"] == "done", provisioning["redirect"]
        username, password = provisioning["acs_username"], acs_password(api, created)
        assert username and password
        assert sent(fake) == ((username, password) if carries else None)
        assert provisioning["redirect"]["credentials"] == ("sent" if carries else "not_carried")
        assert fake.problems == []
    row = RedirectRegistration.objects.get()
    assert password not in row.url
    assert password not in row.credentials_fingerprint
    assert bool(row.credentials_fingerprint) == carries
    assert password not in str(provisioning["redirect"])
    assert password not in logged(caplog)


@pytest.mark.parametrize("name", ["ymcs", "sraps", "gigaset-nx70"])
def test_a_trusted_ip_phone_is_registered_without_credentials(
    tenant: Any, run_on_commit: Any, name: str
) -> None:
    _service, fake_service, _path, manufacturer, model, mac, extras, sent, _carries = SERVICES[name]
    api = api_client(tenant)
    with fake_service() as fake:
        configure_service(name, fake)
        created = phone(
            api,
            run_on_commit,
            mac,
            manufacturer,
            model,
            auth="trusted_ip",
            trusted_networks=["192.0.2.0/24"],
            **extras,
        )
        revealed = api.get(f"{URL}{created['id']}/credentials").json_body
        assert revealed["provisioning"] is None  # trusted IP: no login
        assert created["provisioning"]["redirect"]["state"] == "done"
        assert created["provisioning"]["redirect"]["credentials"] is None
        assert sent(fake) is None
        assert RedirectRegistration.objects.get().credentials_fingerprint == ""
        assert fake.problems == []


def test_a_rotated_password_or_a_switch_of_authentication_registers_again(
    tenant: Any, run_on_commit: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    api = api_client(tenant)
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        created = phone(api, run_on_commit, "80:5e:c0:11:22:33")
        terminal = f"{URL}{created['id']}"
        first = acs_password(api, created)
        assert _ymcs_sent(fake) == (created["provisioning"]["acs_username"], first)

        rotated = run_on_commit(lambda: api.post(f"{terminal}/acs-password"))
        assert rotated.status_code == 200
        second = rotated.json_body["password"]
        assert second != first
        assert _ymcs_sent(fake) == (created["provisioning"]["acs_username"], second)
        assert shown(api, created["id"])["provisioning"]["redirect"]["state"] == "done"

        chosen = run_on_commit(
            lambda: api.post(f"{terminal}/acs-password", {"password": "Herbst-Wind-2025!"})
        )
        assert chosen.status_code == 200
        assert _ymcs_sent(fake) == (created["provisioning"]["acs_username"], "Herbst-Wind-2025!")

        trusted = {
            "mode": "automatic",
            "manufacturer": "yealink",
            "model": "T54W",
            "mac": "80:5e:c0:11:22:33",
            "auth": "trusted_ip",
            "trusted_networks": ["192.0.2.0/24"],
        }
        calls = len(fake.calls)
        switched = run_on_commit(lambda: api.patch(terminal, {"provisioning": trusted}))
        assert switched.status_code == 200
        assert len(fake.calls) > calls
        assert _ymcs_sent(fake) is None

        calls = len(fake.calls)
        run_on_commit(lambda: api.patch(terminal, {"name": "Reception"}))
        assert len(fake.calls) == calls  # nothing changed for the service
        assert fake.problems == []
    for secret in (first, second, "Herbst-Wind-2025!"):
        assert secret not in logged(caplog)


def test_the_portal_tells_the_customer_when_the_credentials_must_be_typed(
    tenant: Any, run_on_commit: Any
) -> None:
    from django.template.loader import render_to_string

    from cloudpbx.terminals.models import Terminal
    from cloudpbx.web.phones.views import phone_context

    hint = "does not receive its provisioning username and password this way"
    api = api_client(tenant)
    htek = phone(api, run_on_commit, "00:1f:c1:11:22:33", "htek", "UC926")
    assert htek["provisioning"]["redirect"]["credentials"] == "not_carried"
    with fakes.yealink_rps() as fake:
        configure_service("yealink-rps", fake)
        rps = phone(api, run_on_commit, "80:5e:c0:11:22:33")
        assert rps["provisioning"]["redirect"]["credentials"] == "not_carried"
    with fakes.ymcs() as fake:
        for row in RedirectSettings.objects.all():
            redirect_registrations.delete_settings(row)
        configure("yealink", "ymcs", fake.url)
        ymcs_phone = phone(api, run_on_commit, "80:5e:c0:11:22:34")
        assert ymcs_phone["provisioning"]["redirect"]["credentials"] == "sent"
        for created, shows_hint in ((htek, True), (ymcs_phone, False)):
            context = phone_context(Terminal.objects.get(pk=created["id"]), can_edit=True)
            html = render_to_string("provisioning/_redirect_status.html", context)
            assert (hint in html) == shows_hint


def test_a_refusal_quoting_the_url_is_stored_and_logged_without_the_password(
    tenant: Any, run_on_commit: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    api = api_client(tenant)
    with fakes.gigaset() as fake:
        configure_service("gigaset-nx70", fake)
        fake.fail_next = [None, "Provisioning URL {url} not allowed"]  # deregister, register
        created = phone(api, run_on_commit, "7c:2f:80:e0:d6:05", "gigaset", "N870", mac_id="AB12")
        password = acs_password(api, created)
        username = created["provisioning"]["acs_username"]
        redirect = created["provisioning"]["redirect"]
        assert redirect["state"] == "failed"
        assert f"{username}:***@" in redirect["detail"]
        assert password not in redirect["detail"]
        row = RedirectRegistration.objects.get()
        assert password not in row.detail
        assert password not in logged(caplog)
        assert "not allowed" in logged(caplog)


# --- operator settings -------------------------------------------------------------------------


def test_settings_secret_is_encrypted_write_only_and_validated(db: Any) -> None:
    form = RedirectSettingsForm(
        data={
            "manufacturer": "snom",
            "service": "sraps",
            "enabled": "on",
            "account": "key-id",
            "secret": "hawk-key-123",
            "server_name": "cloudpbx",
            "base_url": "",
        }
    )
    assert form.is_valid(), form.errors
    saved = form.save()
    assert "hawk-key-123" not in saved.secret_encrypted
    assert crypto.decrypt(saved.secret_encrypted) == "hawk-key-123"
    assert "hawk-key-123" not in RedirectSettingsForm(instance=saved).as_p()

    kept = RedirectSettingsForm(
        instance=saved,
        data={
            "manufacturer": "snom",
            "service": "sraps",
            "enabled": "on",
            "account": "key-id",
            "secret": "",
            "server_name": "cloudpbx",
            "base_url": "",
        },
    )
    assert kept.is_valid(), kept.errors
    assert kept.save().secret == "hawk-key-123"

    wrong = RedirectSettingsForm(
        data={
            "manufacturer": "gigaset",
            "service": "ymcs",
            "account": "a",
            "secret": "",
            "server_name": "x",
            "base_url": "http://provider.example/api",
        }
    )
    assert not wrong.is_valid()
    assert set(wrong.errors) == {"service", "base_url", "secret"}


def test_admin_pages_never_show_the_secret(db: Any) -> None:
    admin = User.objects.create_superuser("root", password="correct-horse-battery-9")
    row = configure("yealink", "ymcs", "", secret="ymcs-secret-value")
    client = Client()
    client.force_login(admin)
    page = client.get(f"/admin/provisioning/redirectsettings/{row.pk}/change/")
    assert page.status_code == 200
    assert b"ymcs-secret-value" not in page.content
    assert row.secret_encrypted.encode() not in page.content


# --- tenant isolation and roles ----------------------------------------------------------------


def test_actions_on_another_customers_terminal_are_404_like_a_missing_one(
    tenant: Any, run_on_commit: Any
) -> None:
    theirs = phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
    mine = api_client(make_tenant())
    for action in ("redirect-retry", "resync"):
        foreign = mine.post(f"{URL}{theirs['id']}/{action}")
        missing = mine.post(f"{URL}999999999/{action}")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.content == missing.content

    other = portal_client(make_tenant())
    for name in ("redirect-retry", "resync"):
        foreign = other.post(f"/pbx/terminals/{theirs['id']}/{name}/", HTTP_HX_REQUEST="true")
        missing = other.post(f"/pbx/terminals/999999999/{name}/", HTTP_HX_REQUEST="true")
        assert foreign.status_code == missing.status_code == 404


def test_read_only_members_cannot_use_the_actions(tenant: Any, run_on_commit: Any) -> None:
    created = phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
    viewer = api_client(tenant, role=Membership.Role.VIEWER)
    assert viewer.post(f"{URL}{created['id']}/resync").status_code == 403
    portal = portal_client(tenant, role=Membership.Role.VIEWER)
    assert portal.post(f"/pbx/terminals/{created['id']}/resync/").status_code == 403


def test_portal_actions_answer_with_their_fragment(tenant: Any, run_on_commit: Any) -> None:
    created = phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
    portal = portal_client(tenant)
    resync = portal.post(f"/pbx/terminals/{created['id']}/resync/", HTTP_HX_REQUEST="true")
    assert resync.status_code == 200
    assert b'id="resync-' in resync.content
    # No Kamailio in this test: SQLite cannot ask it, PostgreSQL finds no registration.
    assert b"not registered" in resync.content or b"cannot be reached" in resync.content
    retry = portal.post(f"/pbx/terminals/{created['id']}/redirect-retry/", HTTP_HX_REQUEST="true")
    assert retry.status_code == 200
    assert b"nothing to register" in retry.content
    assert b"has not connected Yealink" in retry.content
    assert portal.get(f"/pbx/terminals/{created['id']}/resync/").status_code == 405
    plain = portal.post(f"/pbx/terminals/{created['id']}/resync/")
    assert plain.status_code == 302
    assert plain["Location"] == f"/pbx/terminals/{created['id']}/"


def test_resync_api_without_registered_contacts_is_409(tenant: Any, run_on_commit: Any) -> None:
    created = phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
    response = api_client(tenant).post(f"{URL}{created['id']}/resync")
    assert response.status_code in (409, 503)  # SQLite asks Kamailio (none here); PG its table
    manual = api_client(tenant).post(URL, {"name": "Manual", "type": "ip_phone"})
    assert api_client(tenant).post(f"{URL}{manual.json_body['id']}/resync").status_code == 409


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("done", "Registered with Yealink YMCS"),
        ("pending", "2 attempts failed (HTTP 503); trying again later."),
        ("failed", "Registration with Yealink YMCS failed"),
        ("not_registered", "Not registered with Yealink YMCS yet"),
        ("not_configured", "has not connected Yealink"),
        ("not_needed", "Yealink has no redirect API"),  # as if Yealink had none
    ],
)
def test_the_status_include_renders_every_state(
    tenant: Any, run_on_commit: Any, state: str, expected: str
) -> None:
    from django.template.loader import render_to_string
    from django.utils import timezone

    from cloudpbx.terminals.models import Terminal
    from cloudpbx.web.phones.views import phone_context

    created = phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
    terminal = Terminal.objects.get(pk=created["id"])
    context = phone_context(terminal, can_edit=True)
    context["redirect"] = redirect_status.RedirectStatus(
        state=state,
        service="Yealink YMCS",
        detail="HTTP 503",
        attempts=2,
        updated=timezone.now(),
        instructions=redirect_status.instructions(context["device"])
        if state == "not_needed"
        else "",
        url=f"{PROV}/",
    )
    html = render_to_string("provisioning/_redirect_status.html", context)
    assert expected in html.replace("&#x27;", "'")
    assert ("/redirect-retry/" in html) == context["redirect"].can_retry
    resync = render_to_string("provisioning/_resync.html", context | {"standalone": True})
    assert "Re-provision now" in resync
    assert "<form" in resync  # standalone: a form of its own


# --- one MAC, several customers ----------------------------------------------------------------


def _registered_for(fake: Any, mac: str) -> list[Any]:
    return [
        payload for path, payload in fake.calls if "add" in path.lower() and mac in str(payload)
    ]


def test_a_mac_a_second_customer_enters_is_never_pushed_for_it(
    tenant: Any, run_on_commit: Any
) -> None:
    from cloudpbx.provisioning import services
    from cloudpbx.provisioning.models import ProvisioningDevice

    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        first = phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
        assert first["provisioning"]["redirect"]["state"] == "done"
        pushed = list(fake.calls)

        other_api = api_client(make_tenant())
        second = phone(other_api, run_on_commit, "80:5e:c0:11:22:33")
        # Nothing went to the service; the first customer keeps its registration, and the
        # second reads like any registration waiting its turn (no hint of the first).
        assert fake.calls == pushed
        theirs = ProvisioningDevice.objects.get(terminal_id=first["id"])
        assert record("yealink", "805ec0112233").device_id == theirs.pk
        assert second["provisioning"]["redirect"]["state"] == "pending"
        assert shown(api_client(tenant), first["id"])["provisioning"]["redirect"]["state"] == (
            "done"
        )
        retried = run_on_commit(lambda: other_api.post(f"{URL}{second['id']}/redirect-retry"))
        assert retried.status_code in (202, 409)
        assert record("yealink", "805ec0112233").device_id == theirs.pk

        # The operator decides for the second: the registration now carries its credentials.
        mine = ProvisioningDevice.objects.get(terminal_id=second["id"])
        run_on_commit(lambda: services.bind(mine))
        assert record("yealink", "805ec0112233").device_id == mine.pk
        assert record("yealink", "805ec0112233").status == "done"
        assert shown(other_api, second["id"])["provisioning"]["redirect"]["state"] == "done"
        assert shown(api_client(tenant), first["id"])["provisioning"]["redirect"]["state"] == (
            "pending"
        )
        assert fake.problems == []


def test_register_all_skips_a_mac_several_customers_claim(tenant: Any, run_on_commit: Any) -> None:
    phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
    phone(api_client(make_tenant()), run_on_commit, "80:5e:c0:11:22:33")
    phone(api_client(tenant), run_on_commit, "80:5e:c0:44:55:66")
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        run_on_commit(lambda: redirect_registrations.register_all("yealink"))
        assert set(fake.devices) == {"805ec0445566"}
        assert not RedirectRegistration.objects.filter(mac="805ec0112233").exists()


def test_the_first_customers_phone_leaving_hands_the_mac_to_the_remaining_one(
    tenant: Any, run_on_commit: Any
) -> None:
    from cloudpbx.provisioning.models import ProvisioningDevice

    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        api = api_client(tenant)
        first = phone(api, run_on_commit, "80:5e:c0:11:22:33")
        second = phone(api_client(make_tenant()), run_on_commit, "80:5e:c0:11:22:33")
        run_on_commit(lambda: api.delete(f"{URL}{first['id']}"))
        remaining = ProvisioningDevice.objects.get(terminal_id=second["id"])
        assert record("yealink", "805ec0112233").device_id == remaining.pk
        assert record("yealink", "805ec0112233").action == "register"
        assert "805ec0112233" in fake.devices


def test_gigaset_accepting_the_mac_id_binds_the_mac(tenant: Any, run_on_commit: Any) -> None:
    from cloudpbx.provisioning.models import ProvisioningDevice

    with fakes.gigaset() as fake:
        configure(
            "gigaset",
            "gigaset",
            f"{fake.url}/apxml/rpc.do",
            secret=fakes.RPC_PASSWORD,
            account=fakes.RPC_USER,
        )
        created = phone(
            api_client(tenant),
            run_on_commit,
            "7c:2f:80:e0:d6:05",
            "gigaset",
            "N870",
            mac_id="AB12",
        )
        assert created["provisioning"]["redirect"]["state"] == "done"
        device = ProvisioningDevice.objects.get(terminal_id=created["id"])
        assert device.bound_by == ProvisioningDevice.Binding.MAC_ID
        # Refused by Gigaset (a wrong code, say): nothing is bound.
        fake.fail_next.extend(["", "MAC-ID invalid"])  # deregister first, then register
        refused = phone(
            api_client(make_tenant()),
            run_on_commit,
            "7c:2f:80:e0:d6:06",
            "gigaset",
            "N870",
            mac_id="ZZ99",
        )
        assert refused["provisioning"]["redirect"]["state"] == "failed"
        assert ProvisioningDevice.objects.get(terminal_id=refused["id"]).bound_at is None


def test_a_customer_deleted_in_the_admin_has_its_phones_deregistered(
    tenant: Any, run_on_commit: Any, admin_client: Client
) -> None:
    """The customer's rows go with it, its phones without events of their own: the
    registrations they leave behind are undone; another customer's phones stay, also one
    with a MAC both entered, which is now registered for that customer."""
    other = make_tenant("Other GmbH")
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
        phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:44")
        phone(api_client(other), run_on_commit, "80:5e:c0:99:99:99")
        phone(api_client(other), run_on_commit, "80:5e:c0:11:22:44")  # claimed by both
        assert set(fake.devices) == {"805ec0112233", "805ec0112244", "805ec0999999"}
        deleted = run_on_commit(
            lambda: admin_client.post(f"/admin/tenancy/tenant/{tenant.pk}/delete/", {"post": "yes"})
        )
        assert deleted.status_code == 302
        assert set(fake.devices) == {"805ec0999999", "805ec0112244"}
        assert record("yealink", "805ec0112233").action == "deregister"
        assert record("yealink", "805ec0112233").status == "done"
        for mac in ("805ec0999999", "805ec0112244"):  # the other's, the shared one now its
            registered = record("yealink", mac)
            assert registered.action == "register"
            assert registered.device is not None and registered.device.tenant == other
        assert fake.problems == []


def test_the_operator_connects_and_disconnects_a_service_in_the_admin(
    tenant: Any, admin_client: Client
) -> None:
    """Through the services' save_settings / delete_settings: the next phone sees the change
    at once (this process's settings cache is cleared)."""
    operator = admin_client
    assert not redirect_status.is_configured("yealink")  # cached: nothing connected
    added = operator.post(
        "/admin/provisioning/redirectsettings/add/",
        {
            "manufacturer": "yealink", "service": "ymcs", "enabled": "on",
            "account": fakes.CLIENT_ID, "secret": fakes.CLIENT_SECRET, "base_url": "",
            "server_name": "cloudpbx",
        },
    )  # fmt: skip
    assert added.status_code == 302, added.content.decode()
    assert redirect_status.is_configured("yealink")
    row = RedirectSettings.objects.get()
    assert row.secret == fakes.CLIENT_SECRET and fakes.CLIENT_SECRET not in row.secret_encrypted
    deleted = operator.post(
        f"/admin/provisioning/redirectsettings/{row.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert not redirect_status.is_configured("yealink")


def test_the_admin_shows_registrations_but_never_changes_them(
    tenant: Any, run_on_commit: Any, admin_client: Client
) -> None:
    """Only the services write registrations: the admin may look, not add, edit or delete."""
    with fakes.ymcs() as fake:
        configure("yealink", "ymcs", fake.url)
        phone(api_client(tenant), run_on_commit, "80:5e:c0:11:22:33")
    row = record("yealink", "805ec0112233")
    base = "/admin/provisioning/redirectregistration"
    assert admin_client.get(f"{base}/").status_code == 200
    assert admin_client.get(f"{base}/{row.pk}/change/").status_code == 200  # read only
    assert admin_client.get(f"{base}/add/").status_code == 403
    assert admin_client.post(f"{base}/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert (
        admin_client.post(f"{base}/{row.pk}/change/", {"action": "deregister"}).status_code == 403
    )
    assert record("yealink", "805ec0112233").action == "register"


@pytest.mark.parametrize(
    ("manufacturer", "model", "path"),
    [
        ("yealink", "T54W", "/"),
        ("snom", "D785", "/snomD785-{mac}.htm"),  # the phone fills in {mac}
        ("gigaset", "N870", "/%MACD.xml"),  # and Gigaset's %MACD
        ("htek", "UC926", "/"),
    ],
)
def test_each_vendor_is_sent_to_its_own_path(
    db: Any, manufacturer: str, model: str, path: str
) -> None:
    assert redirect_status.provisioning_url(manufacturer, model) == f"{PROV}{path}"


def test_every_service_has_a_client_and_every_vendor_a_way_to_be_redirected(db: Any) -> None:
    """Adding a service or a vendor fails here until its tables say how it is redirected."""
    from cloudpbx.provisioning.vendors import VENDORS

    assert set(redirect_status.CLIENTS) == set(RedirectSettings.Service.values)
    with_api = {key for key, vendor in VENDORS.items() if vendor.has_redirect_api}
    assert set(RedirectSettings.MANUFACTURER_SERVICES) == with_api
    field = RedirectSettings._meta.get_field("manufacturer")
    assert {key for key, _label in field.choices or ()} == with_api
    assert all(vendor.redirect_portal for vendor in VENDORS.values() if not vendor.has_redirect_api)
