"""``/prov/``: serving, identification, the authentication matrix, lockouts, status, queries."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cloudpbx.core import certificates
from cloudpbx.provisioning import build, digest, testing, views
from cloudpbx.provisioning import services as device_services
from cloudpbx.provisioning.models import ProvisioningDevice, ProvisioningLockout
from cloudpbx.provisioning.tests.conftest import Phone
from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.terminals.services import update_terminal

NONCE = re.compile(r'nonce="[^"]+"')


def uniform(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A refusal with its nonce and its request id (new for every request) blanked:
    everything else must be byte for byte the same."""
    headers = [
        (k, "…" if k == "X-Request-ID" else NONCE.sub('nonce="…"', v))
        for k, v in sorted(response.headers.items())
    ]
    return response.status_code, headers, response.content


def with_config(settings: Any, **changes: Any) -> None:
    settings.CONFIG = dataclasses.replace(settings.CONFIG, **changes)


UNKNOWN_MAC = "805ec0fedcba"


def unknown(phone: Phone) -> tuple[str, dict[str, str]]:
    """Path and User-Agent of the same kind of phone with a MAC nobody configured."""
    request = testing.phone_request(phone.device.manufacturer, phone.device.model, UNKNOWN_MAC)
    return request.path, {"User-Agent": request.headers.get("User-Agent", "")}


def stale_challenge(mac: str, age_seconds: int) -> str:
    signer = views._signer(django_settings.SECRET_KEY)
    nonce = signer.issue(mac, time.time_ns() - age_seconds * 1_000_000_000)
    return digest.challenge(django_settings.CONFIG.prov_realm, nonce)


# --- serving -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "model"),
    [
        ("yealink", "T54W"),
        ("yealink", "T46U"),
        ("snom", "D785"),
        ("gigaset", "N870"),
        ("gigaset", "Maxwell 3"),
        ("htek", "UC926"),
    ],
)
def test_each_vendor_fetches_its_file_with_digest_and_gets_its_sip_account(
    make_phone: Any, vendor: str, model: str
) -> None:
    terminal = make_phone(vendor, model)
    response = Phone(terminal).fetch()
    assert response.status_code == 200
    account = testing.read_account(vendor, response.content)
    assert (account.username, account.password) == (terminal.sip_username, terminal.sip_password)
    assert account.auth_name == terminal.sip_username
    assert account.registrar == django_settings.CLOUDPBX_SIP_DOMAIN
    assert account.port == django_settings.CLOUDPBX_SIP_PORT
    assert account.transport == django_settings.CLOUDPBX_SIP_TRANSPORT


def test_the_served_file_speaks_the_customers_language_and_srtp_setting(make_phone: Any) -> None:
    """The hot path builds rows itself (queries.py): a field read into the wrong attribute
    once gave German customers English phones."""
    terminal = make_phone("yealink", "T54W")
    assert (terminal.tenant.language, terminal.tenant.country) == ("de", "DE")
    terminal.media_encryption = "required"
    terminal.save()
    body = Phone(terminal).fetch().content.decode()
    assert "lang.gui = German" in body
    assert "account.1.srtp_encryption = 2" in body
    assert f"static.trusted_certificates.url = {build.trusted_ca_url()}" in body


def test_a_phone_whose_file_cannot_require_srtp_is_refused_at_save_and_keeps_its_file(
    make_phone: Any,
) -> None:
    terminal = make_phone("htek", "UC926")
    with pytest.raises(ValidationError) as refused:
        update_terminal(terminal, media_encryption="required")
    assert "Htek phones cannot be set to require encrypted media" in str(
        refused.value.message_dict["media_encryption"]
    )
    # Required for the whole PBX later: the phone is not handed a file that says otherwise.
    tenant = terminal.tenant
    tenant.media_encryption = "required"
    tenant.save()
    assert Phone(terminal).fetch().status_code == 503


def test_the_embedded_ca_is_served_to_anyone_and_only_it(client: Any, settings: Any) -> None:
    server = certificates.ensure(settings.CONFIG)
    assert server.ca is not None
    response = client.get("/prov/ca.pem")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert response.content == server.ca.read_bytes()
    assert b"PRIVATE KEY" not in response.content


def test_the_fetch_helper_does_what_a_phone_does(make_phone: Any) -> None:
    terminal = make_phone("snom", "D785")
    client = Phone(terminal).client

    def get(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        extra: dict[str, Any] = {
            "HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()
        }
        response = client.get(path, REMOTE_ADDR="192.0.2.10", **extra)
        return response.status_code, dict(response.headers), response.content

    device = terminal.device
    body = testing.fetch_config(
        get, testing.phone_request_for(terminal), device.acs_username, device.acs_password
    )
    assert testing.read_account("snom", body).password == terminal.sip_password
    with pytest.raises(RuntimeError, match="refused"):
        testing.fetch_config(get, testing.phone_request_for(terminal), "nobody", "nothing")


def test_a_successful_fetch_records_time_address_agent_model_and_firmware(phone: Phone) -> None:
    before = timezone.now()
    assert phone.fetch().status_code == 200
    device = ProvisioningDevice.objects.get(pk=phone.device.pk)
    assert device.last_fetch_at is not None and device.last_fetch_at >= before
    assert device.last_fetch_ip == "192.0.2.10"
    assert device.last_user_agent == phone.request.headers["User-Agent"]
    assert device.last_firmware == "96.86.0.100"
    assert device.last_reported_model == "T54W"


def test_the_mac_in_the_path_is_case_insensitive(phone: Phone) -> None:
    upper = phone.path.replace(phone.device.mac, phone.device.mac.upper())
    first = phone.get(upper)
    answer = phone.authorization(first["WWW-Authenticate"], path=upper)
    assert phone.get(upper, Authorization=answer).status_code == 200


def test_output_is_deterministic_with_etag_and_304(phone: Phone) -> None:
    first = phone.fetch()
    second = phone.fetch()
    assert first.content == second.content
    assert first["ETag"] == second["ETag"]
    not_modified = phone.fetch(**{"If-None-Match": first["ETag"]})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == first["ETag"]


def test_a_change_in_the_portal_is_in_the_next_fetch(phone: Phone) -> None:
    before = phone.fetch()
    update_terminal(phone.terminal, internal_display_name="Lager")
    after = phone.fetch(**{"If-None-Match": before["ETag"]})
    assert after.status_code == 200
    assert b"account.1.display_name = Lager" in after.content
    assert after["ETag"] != before["ETag"]


def test_a_phone_switched_to_manual_configuration_gets_nothing(phone: Phone) -> None:
    update_terminal(phone.terminal, config_mode="manual")
    assert phone.fetch().status_code == 401


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/prov/y000000000096.cfg", 200),
        ("/prov/y000000000108.cfg", 200),
        ("/prov/y000000000000.cfg", 404),
        ("/prov/y000000000001.cfg", 404),
        ("/prov/y000000000000.boot", 404),
        ("/prov/805ec0112233.boot", 404),
        ("/prov/snomD785.htm", 200),
        ("/prov/snomD999.htm", 404),
        ("/prov/cfg0010.xml", 404),
        ("/prov/cfg001fc1112233", 404),
        ("/prov/index.html", 404),
        ("/prov/", 404),
    ],
)
def test_common_files_are_served_without_credentials_or_404(
    client: Any, db: Any, path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status
    if status == 200:
        assert b"password" not in response.content.lower()
        assert "ETag" in response


def test_only_get_and_head(phone: Phone) -> None:
    assert phone.client.post(phone.path).status_code == 405


# --- identification ------------------------------------------------------------------------


def test_a_user_agent_with_another_mac_is_refused(phone: Phone) -> None:
    agent = phone.request.headers["User-Agent"].replace("80:5e:c0", "80:5e:c1")
    first = phone.get(**{"User-Agent": agent})
    answer = phone.authorization(first["WWW-Authenticate"])
    assert phone.get(Authorization=answer, **{"User-Agent": agent}).status_code == 401


def test_a_user_agent_of_another_vendor_is_refused(phone: Phone) -> None:
    agent = f"Htek UC926 2.0.4.2 {':'.join(re.findall('..', phone.device.mac))}"
    first = phone.get(**{"User-Agent": agent})
    answer = phone.authorization(first["WWW-Authenticate"])
    assert phone.get(Authorization=answer, **{"User-Agent": agent}).status_code == 401


def test_the_file_of_another_vendor_is_refused_for_this_device(phone: Phone) -> None:
    path = f"/prov/cfg{phone.device.mac}.xml"  # Htek's name, the device is a Yealink
    first = phone.get(path, **{"User-Agent": ""})
    answer = phone.authorization(first["WWW-Authenticate"], path=path)
    assert phone.get(path, Authorization=answer, **{"User-Agent": ""}).status_code == 401


def test_without_user_agent_the_device_decides_the_vendor(make_phone: Any) -> None:
    phone = Phone(make_phone("gigaset", "Maxwell 3"))  # <mac>.xml is Snom's and Gigaset's
    assert "User-Agent" not in phone.request.headers
    response = phone.fetch()
    assert response.status_code == 200
    assert b"SIP.Account.0.AuthPassword" in response.content


# --- authentication matrix -----------------------------------------------------------------


def test_refusals_are_identical_apart_from_the_nonce(make_phone: Any, settings: Any) -> None:
    phone = Phone(make_phone())
    trusted = Phone(make_phone(auth_mode="trusted_ip", networks=("198.51.100.0/24",)))
    answers = {}

    first = phone.get()
    answers["no credentials"] = first
    answers["wrong password"] = phone.get(
        Authorization=phone.authorization(first["WWW-Authenticate"], password="Wrong-123456")
    )
    unknown_path, unknown_agent = unknown(phone)
    unknown_first = phone.get(unknown_path, **unknown_agent)
    answers["unknown MAC"] = phone.get(
        unknown_path,
        Authorization=phone.authorization(unknown_first["WWW-Authenticate"], path=unknown_path),
        **unknown_agent,
    )
    answers["unknown MAC, no credentials"] = unknown_first
    answers["untrusted address"] = trusted.get()
    with_config(settings, prov_lockout_mac_failures=1)
    phone.get(Authorization=phone.authorization(phone.get()["WWW-Authenticate"], password="x"))
    locked_first = phone.get()
    answers["locked, right password"] = phone.get(
        Authorization=phone.authorization(locked_first["WWW-Authenticate"])
    )

    reference = uniform(answers["no credentials"])
    assert reference[0] == 401
    for name, response in answers.items():
        assert uniform(response) == reference, name
    nonces = {NONCE.search(r["WWW-Authenticate"]).group() for r in answers.values()}  # type: ignore[union-attr]
    assert len(nonces) == len(answers)  # a fresh nonce each time


def test_an_unknown_mac_costs_the_same_work(phone: Phone, monkeypatch: Any) -> None:
    calls: list[str] = []
    real_ha1 = digest.ha1

    def counting_ha1(username: str, realm: str, password: str) -> str:
        calls.append("ha1")
        return real_ha1(username, realm, password)

    monkeypatch.setattr(digest, "ha1", counting_ha1)
    challenge = phone.get()["WWW-Authenticate"]
    answer = phone.authorization(challenge, password="Wrong-123456")
    calls.clear()
    phone.get(Authorization=answer)
    known = len(calls)
    assert known >= 1
    unknown_path, unknown_agent = unknown(phone)
    challenge = phone.get(unknown_path, **unknown_agent)["WWW-Authenticate"]
    calls.clear()
    answer = phone.authorization(challenge, path=unknown_path)
    calls.clear()
    phone.get(unknown_path, Authorization=answer, **unknown_agent)
    assert len(calls) == known


def _shape(sql: str) -> str:
    """A statement without its values: what it does, not with which key or time."""
    return re.sub(r"'[^']*'|\"s\d+_x\d+\"|\b\d+(?:\.\d+)?\b", "?", sql)


def test_an_unknown_mac_and_a_wrong_password_run_the_same_statements(
    phone: Phone, monkeypatch: Any
) -> None:
    """A known MAC once cost ~0.8 ms more (its lockout row was written, an unknown one's not)."""
    monkeypatch.setattr("random.random", lambda: 1.0)  # no pruning in between
    unknown_path, unknown_agent = unknown(phone)
    statements = {}
    for name, path, agent, password, address in (
        ("wrong password", phone.path, {}, "Wrong-123456", "203.0.113.1"),
        ("unknown MAC", unknown_path, unknown_agent, None, "203.0.113.2"),
    ):
        agent = {**agent, "REMOTE_ADDR": address}  # each from a fresh address
        challenge = phone.get(path, **agent)["WWW-Authenticate"]
        answer = phone.authorization(challenge, password=password, path=path)
        with CaptureQueriesContext(connection) as queries:
            assert phone.get(path, Authorization=answer, **agent).status_code == 401
        statements[name] = [_shape(query["sql"]) for query in queries.captured_queries]
    assert len(statements["wrong password"]) > 1  # the lookup and the counting
    assert statements["wrong password"] == statements["unknown MAC"]


def test_a_replayed_nonce_count_is_refused(phone: Phone) -> None:
    challenge = phone.get()["WWW-Authenticate"]
    answer = phone.authorization(challenge, nc=1)
    assert phone.get(Authorization=answer).status_code == 200
    assert phone.get(Authorization=answer).status_code == 401  # replay
    assert phone.get(Authorization=phone.authorization(challenge, nc=2)).status_code == 200
    assert phone.get(Authorization=phone.authorization(challenge, nc=2)).status_code == 401


def test_a_repeated_answer_gets_a_stale_challenge_and_never_locks_the_phone(
    phone: Phone, settings: Any
) -> None:
    challenge = phone.get()["WWW-Authenticate"]
    answer = phone.authorization(challenge, nc=1)
    assert phone.get(Authorization=answer).status_code == 200
    for _ in range(settings.CONFIG.prov_lockout_mac_failures + 2):
        again = phone.get(Authorization=answer)
        assert again.status_code == 401
        assert "stale=true" in again["WWW-Authenticate"]
    assert not ProvisioningLockout.objects.exists()
    fresh = phone.get()["WWW-Authenticate"]
    assert phone.get(Authorization=phone.authorization(fresh)).status_code == 200


def test_an_older_nonce_after_a_newer_one_is_refused(phone: Phone) -> None:
    older = phone.get()["WWW-Authenticate"]
    newer = phone.get()["WWW-Authenticate"]
    assert phone.get(Authorization=phone.authorization(newer)).status_code == 200
    assert phone.get(Authorization=phone.authorization(older)).status_code == 401


def test_a_stale_nonce_with_the_right_password_asks_again_with_stale(phone: Phone) -> None:
    challenge = stale_challenge(phone.device.mac, age_seconds=400)
    response = phone.get(Authorization=phone.authorization(challenge))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].endswith("stale=true")
    wrong = phone.get(Authorization=phone.authorization(challenge, password="Wrong-123456"))
    assert "stale" not in wrong["WWW-Authenticate"]
    fresh = phone.authorization(response["WWW-Authenticate"])
    assert phone.get(Authorization=fresh).status_code == 200


def test_a_nonce_issued_for_another_mac_is_refused(phone: Phone) -> None:
    path, agent = unknown(phone)
    other = phone.get(path, **agent)["WWW-Authenticate"]
    assert phone.get(Authorization=phone.authorization(other)).status_code == 401


def test_a_forged_nonce_is_refused(phone: Phone) -> None:
    challenge = NONCE.sub('nonce="' + "A" * 38 + '"', phone.get()["WWW-Authenticate"])
    assert phone.get(Authorization=phone.authorization(challenge)).status_code == 401


def test_the_wrong_uri_in_the_answer_is_refused(phone: Phone) -> None:
    challenge = phone.get()["WWW-Authenticate"]
    answer = phone.authorization(challenge, path="/prov/y000000000096.cfg")
    assert phone.get(Authorization=answer).status_code == 401


def test_another_devices_credentials_do_not_open_this_one(make_phone: Any) -> None:
    mine, theirs = Phone(make_phone()), Phone(make_phone())
    challenge = mine.get()["WWW-Authenticate"]
    answer = theirs.authorization(challenge, path=mine.path)
    assert mine.get(Authorization=answer).status_code == 401


def test_basic_is_refused_from_digest_vendors(phone: Phone) -> None:
    import base64

    token = base64.b64encode(f"{phone.username}:{phone.password}".encode()).decode()
    assert phone.get(Authorization=f"Basic {token}").status_code == 401


def test_basic_where_a_vendor_needs_it_but_never_over_plain_http(
    phone: Phone, settings: Any, monkeypatch: Any
) -> None:
    import base64

    monkeypatch.setitem(
        VENDORS, "yealink", dataclasses.replace(VENDORS["yealink"], basic_auth=True)
    )
    token = base64.b64encode(f"{phone.username}:{phone.password}".encode()).decode()
    # The password would travel readable: refused over plain HTTP in every mode.
    assert phone.get(Authorization=f"Basic {token}").status_code == 401
    assert phone.get(Authorization=f"Basic {token}", secure="yes").status_code == 200
    with_config(settings, production=True, trusted_proxies=["127.0.0.1"])
    assert phone.get(Authorization=f"Basic {token}").status_code == 401
    behind_tls_proxy = phone.get(
        Authorization=f"Basic {token}",
        REMOTE_ADDR="127.0.0.1",
        **{"X-Forwarded-For": "192.0.2.10", "X-Forwarded-Proto": "https"},
    )
    assert behind_tls_proxy.status_code == 200
    wrong = base64.b64encode(f"{phone.username}:Wrong-123456".encode()).decode()
    assert (
        phone.get(
            Authorization=f"Basic {wrong}",
            REMOTE_ADDR="127.0.0.1",
            **{"X-Forwarded-For": "192.0.2.10", "X-Forwarded-Proto": "https"},
        ).status_code
        == 401
    )


# --- trusted IP ----------------------------------------------------------------------------


@pytest.fixture
def trusted(make_phone: Any) -> Phone:
    return Phone(make_phone(auth_mode="trusted_ip", networks=("198.51.100.0/24",)))


def test_trusted_ip_inside_needs_no_credentials(trusted: Phone) -> None:
    response = trusted.get(REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200
    assert b"static.auto_provision.server.username =\n" in response.content
    device = ProvisioningDevice.objects.get(pk=trusted.device.pk)
    assert device.last_fetch_ip == "198.51.100.7"


def test_trusted_ip_outside_is_refused_even_with_a_header_claiming_inside(trusted: Phone) -> None:
    assert trusted.get(REMOTE_ADDR="203.0.113.5").status_code == 401
    spoofed = trusted.get(REMOTE_ADDR="203.0.113.5", **{"X-Forwarded-For": "198.51.100.7"})
    assert spoofed.status_code == 401


def test_x_forwarded_for_is_honoured_from_a_configured_proxy(trusted: Phone, settings: Any) -> None:
    with_config(settings, trusted_proxies=["10.9.0.0/24"])
    via_proxy = trusted.get(REMOTE_ADDR="10.9.0.2", **{"X-Forwarded-For": "198.51.100.7"})
    assert via_proxy.status_code == 200
    # A client-supplied hop left of the proxy's own entry is not trusted.
    spoofed = trusted.get(
        REMOTE_ADDR="10.9.0.2", **{"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}
    )
    assert spoofed.status_code == 401
    assert trusted.get(REMOTE_ADDR="10.9.0.2").status_code == 401  # the proxy is not inside


# --- lockouts ------------------------------------------------------------------------------


def _fail(phone: Phone, times: int, **headers: str) -> None:
    for _ in range(times):
        challenge = phone.get(**headers)["WWW-Authenticate"]
        wrong = phone.authorization(challenge, password="Wrong-123456")
        assert phone.get(Authorization=wrong, **headers).status_code == 401


def test_repeated_failures_lock_the_mac_for_that_address_until_the_lock_expires(
    phone: Phone,
) -> None:
    _fail(phone, 10, REMOTE_ADDR="203.0.113.1")
    assert phone.fetch(REMOTE_ADDR="203.0.113.1").status_code == 401  # right password, locked
    lock = ProvisioningLockout.objects.get(key=f"pair:{phone.device.mac}/203.0.113.1")
    lock.locked_until = timezone.now() - timedelta(seconds=1)
    lock.save()
    assert phone.fetch(REMOTE_ADDR="203.0.113.1").status_code == 200
    _fail(phone, 1, REMOTE_ADDR="203.0.113.1")  # counting starts afresh after a lock
    assert lock.__class__.objects.get(pk=lock.pk).failures == 1


def test_a_stranger_failing_against_a_mac_does_not_lock_the_phone_out(
    phone: Phone, caplog: Any
) -> None:
    """The MAC is printed on the box: failing against it from elsewhere locks only the
    stranger's own address out of it, never the phone at its office."""
    caplog.set_level(logging.WARNING, logger="cloudpbx.provisioning")
    _fail(phone, 15, REMOTE_ADDR="203.0.113.1")
    assert phone.fetch(REMOTE_ADDR="192.0.2.44").status_code == 200
    assert phone.fetch(REMOTE_ADDR="203.0.113.1").status_code == 401  # the stranger: locked
    assert not ProvisioningLockout.objects.filter(
        key=f"mac:{phone.device.mac}", locked_until__isnull=False
    ).exists()
    locked = [r.getMessage() for r in caplog.records if "cloudpbx-prov locked" in r.getMessage()]
    assert locked == [f"cloudpbx-prov locked pair:{phone.device.mac}/203.0.113.1 for 900s"]


def test_failures_for_a_mac_from_many_addresses_raise_one_alert_and_lock_nothing(
    phone: Phone, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="cloudpbx.provisioning")
    for n in range(12):  # 12 addresses, one failure each: below every lock
        _fail(phone, 1, REMOTE_ADDR=f"203.0.113.{n + 1}")
    alerts = [r.getMessage() for r in caplog.records if "cloudpbx-prov alert" in r.getMessage()]
    assert alerts == [
        f"cloudpbx-prov alert mac={phone.device.mac} failures=10 within 900s "
        "(all addresses, not locked)"
    ]
    assert not ProvisioningLockout.objects.filter(locked_until__isnull=False).exists()
    assert phone.fetch(REMOTE_ADDR="203.0.113.1").status_code == 200
    for secret in (phone.password, phone.username, "Wrong-123456"):
        assert secret not in caplog.text


def test_failures_below_the_threshold_do_not_lock(phone: Phone) -> None:
    _fail(phone, 9, REMOTE_ADDR="203.0.113.1")
    assert phone.fetch(REMOTE_ADDR="203.0.113.1").status_code == 200


def test_failures_in_an_old_window_are_forgotten(phone: Phone) -> None:
    _fail(phone, 9, REMOTE_ADDR="203.0.113.1")
    ProvisioningLockout.objects.update(window_started=timezone.now() - timedelta(hours=1))
    _fail(phone, 1, REMOTE_ADDR="203.0.113.1")
    assert phone.fetch(REMOTE_ADDR="203.0.113.1").status_code == 200


def test_repeated_failures_lock_the_address(make_phone: Any, settings: Any) -> None:
    with_config(settings, prov_lockout_ip_failures=5)
    victim, attacker = Phone(make_phone()), Phone(make_phone())
    for n in range(5):  # guesses on unknown MACs count for the address
        path = attacker.path.replace(attacker.device.mac, f"805ec0ffff{n:02x}")
        no_agent = {"User-Agent": ""}
        challenge = attacker.get(path, REMOTE_ADDR="203.0.113.9", **no_agent)["WWW-Authenticate"]
        answer = attacker.authorization(challenge, path=path)
        attacker.get(path, Authorization=answer, REMOTE_ADDR="203.0.113.9", **no_agent)
    assert victim.fetch(REMOTE_ADDR="203.0.113.9").status_code == 401
    assert victim.fetch(REMOTE_ADDR="192.0.2.44").status_code == 200


def test_the_challenge_itself_and_the_phones_own_probe_do_not_count(make_phone: Any) -> None:
    phone = Phone(make_phone("gigaset", "N870"))
    for _ in range(12):
        challenge = phone.get()["WWW-Authenticate"]
        # Gigaset tries username = its MAC first, then the configured credentials.
        probe = testing.digest_authorization(
            challenge, phone.device.mac.upper(), "0123", "GET", phone.path
        )
        assert phone.get(Authorization=probe).status_code == 401
    assert not ProvisioningLockout.objects.exists()
    assert phone.fetch().status_code == 200


def test_trusted_ip_phones_inside_their_network_are_not_locked_out(
    trusted: Phone, settings: Any
) -> None:
    with_config(settings, prov_lockout_mac_failures=1, prov_lockout_ip_failures=1)
    trusted.get(REMOTE_ADDR="203.0.113.5")  # from outside: a failure, locks MAC and address
    assert ProvisioningLockout.objects.filter(locked_until__isnull=False).count() == 2
    assert trusted.get(REMOTE_ADDR="198.51.100.7").status_code == 200
    with_config(settings, prov_lockout_ip_failures=100)
    trusted.get(REMOTE_ADDR="198.51.100.8")  # the pair is locked only for the outsider
    assert trusted.get(REMOTE_ADDR="198.51.100.8").status_code == 200


# --- logging -------------------------------------------------------------------------------


def test_every_refusal_is_one_fail2ban_line_without_secrets(phone: Phone, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="cloudpbx.provisioning")
    challenge = phone.get(REMOTE_ADDR="203.0.113.1")["WWW-Authenticate"]
    phone.get(
        Authorization=phone.authorization(challenge, password="Wrong-123456"),
        REMOTE_ADDR="203.0.113.1",
    )
    path, agent = unknown(phone)
    phone.get(path, REMOTE_ADDR="203.0.113.2", **agent)
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == [
        f"cloudpbx-prov refused ip=203.0.113.1 mac={phone.device.mac} reason=bad_credentials "
        f"file={phone.device.mac}.cfg",
        "cloudpbx-prov refused ip=203.0.113.2 mac=805ec0fedcba reason=unknown_mac "
        "file=805ec0fedcba.cfg",
    ]
    everything = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in (phone.password, phone.username, phone.terminal.sip_password, "Wrong-123456"):
        assert secret not in everything
    assert not [r for r in caplog.records if r.name == "django.request"]


# --- queries -------------------------------------------------------------------------------


def test_query_counts_per_fetch(
    phone: Phone, trusted: Phone, django_assert_num_queries: Any
) -> None:
    """Baselines: the hot path is one SELECT (device, terminal, tenant, extension, locks) and
    one UPDATE (status + replay guard). An N+1 fails here."""
    with django_assert_num_queries(1):
        challenge = phone.get()["WWW-Authenticate"]
    with django_assert_num_queries(2):
        assert phone.get(Authorization=phone.authorization(challenge)).status_code == 200
    with django_assert_num_queries(2):
        assert trusted.get(REMOTE_ADDR="198.51.100.7").status_code == 200
    with django_assert_num_queries(0):
        assert phone.client.get("/prov/y000000000096.cfg").status_code == 200
    with django_assert_num_queries(0):
        assert phone.client.get("/prov/y000000000000.boot").status_code == 404


@pytest.mark.parametrize(
    ("vendor", "model", "longest"), [("snom", "D785", 20), ("yealink", "T54W", 24)]
)
def test_provisioning_passwords_fit_what_the_vendors_phones_take(
    make_phone: Any, vendor: str, model: str, longest: int
) -> None:
    terminal = make_phone(vendor, model)
    device = terminal.device
    assert len(device.acs_password) == longest  # generated with the terminal
    assert len(device_services.set_acs_password(device)) == longest  # and when rotated
    if vendor == "snom":
        with pytest.raises(ValidationError) as refused:
            device_services.set_acs_password(device, "Long-Chosen-Password-42!")  # 24 characters
        assert "at most 20 characters" in str(refused.value.message_dict["password"])
