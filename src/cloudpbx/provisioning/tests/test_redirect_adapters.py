"""Each redirect-service adapter against a loopback fake that checks the documented requests."""

from __future__ import annotations

import mohawk
import pytest

from cloudpbx.provisioning.redirect_clients import RedirectError, Target, base, gigaset, hawk, http
from cloudpbx.provisioning.redirect_clients import sraps as sraps_module
from cloudpbx.provisioning.redirect_clients import yealink_rps as rps_module
from cloudpbx.provisioning.redirect_clients import ymcs as ymcs_module
from cloudpbx.provisioning.redirect_clients.gigaset import GigasetRedirect
from cloudpbx.provisioning.redirect_clients.sraps import Sraps
from cloudpbx.provisioning.redirect_clients.yealink_rps import YealinkRps
from cloudpbx.provisioning.redirect_clients.ymcs import Ymcs

from . import fakes

MAC = "805ec0112233"
URL = "https://pbx.example.net/prov/"
ACS_USER = "pk7m2x9q4h3d"
ACS_PASSWORD = "Zq8vRt3nWp6yKs2mXc4hBd7f"


def with_credentials(mac: str, url: str, model: str = "", **kwargs: str) -> Target:
    return Target(mac, url, model=model, auth_name=ACS_USER, auth_password=ACS_PASSWORD, **kwargs)


@pytest.fixture(autouse=True)
def _fresh_tokens() -> None:
    ymcs_module._tokens.clear()


def test_default_service_urls_are_the_vendors_and_never_contacted_in_tests() -> None:
    assert ymcs_module.DEFAULT_URL == "https://eu-api.ymcs.yealink.com"
    assert rps_module.DEFAULT_URL == "https://api-dm.yealink.com:8443/xmlrpc"
    assert sraps_module.DEFAULT_URL == "https://api.sraps.snom.com/api/v1/"
    assert gigaset.DEFAULT_URL == "https://prov.gigaset.net/apxml/rpc.do"
    # The root conftest's guard fails any test that tries to leave the machine.
    assert http.before_send is not None
    with pytest.raises(pytest.fail.Exception, match=r"eu-api\.ymcs\.yealink\.com"):
        Ymcs("id", "secret").register(Target(MAC, URL))


# --- Yealink YMCS ------------------------------------------------------------------------------


def test_ymcs_token_then_register_then_idempotent_then_deregister() -> None:
    with fakes.ymcs() as fake:
        service = Ymcs(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=fake.url)
        service.register(Target(MAC, URL))
        assert fake.devices[MAC]["uniqueServerUrl"] == URL
        paths = [path for path, _ in fake.calls]
        assert paths == ["/v2/token", "/v2/rps/listDevices", "/v2/rps/addDevicesByMac"]
        assert fake.calls[2][1] == [{"mac": MAC, "uniqueServerUrl": URL}]

        service.register(Target(MAC, URL))  # same URL: nothing to change, token reused
        assert [path for path, _ in fake.calls[3:]] == ["/v2/rps/listDevices"]

        service.register(Target(MAC, URL + "v2/"))  # another URL: replaced
        assert fake.devices[MAC]["uniqueServerUrl"] == URL + "v2/"

        service.deregister(MAC)
        assert MAC not in fake.devices
        service.deregister(MAC)  # unknown MAC: done already
        assert fake.problems == []


def test_ymcs_refused_credentials_are_permanent_and_do_not_leak_the_secret() -> None:
    with fakes.ymcs() as fake:
        service = Ymcs(fakes.CLIENT_ID, "wrong-secret", base_url=fake.url)
        with pytest.raises(RedirectError) as caught:
            service.register(Target(MAC, URL))
    assert caught.value.permanent
    assert "refused" in caught.value.reason
    assert "wrong-secret" not in caught.value.reason


def test_ymcs_device_of_another_organisation_is_a_permanent_failure_with_the_reason() -> None:
    with fakes.ymcs() as fake:
        fake.fail_next = [None, None, "800004"]  # token, listDevices, then addDevicesByMac
        with pytest.raises(RedirectError) as caught:
            Ymcs(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=fake.url).register(Target(MAC, URL))
    assert caught.value.permanent
    assert "800004" in caught.value.reason


def test_ymcs_server_errors_are_transient() -> None:
    with fakes.ymcs() as fake:
        fake.fail_next = [503]
        with pytest.raises(RedirectError) as caught:
            Ymcs(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=fake.url).register(Target(MAC, URL))
    assert not caught.value.permanent
    assert "503" in caught.value.reason


def test_ymcs_hands_the_phone_its_credentials_as_auth_name_and_password() -> None:
    with fakes.ymcs() as fake:
        service = Ymcs(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=fake.url)
        assert service.carries_credentials("T54W")
        service.register(with_credentials(MAC, URL))
        assert fake.calls[-1] == (
            "/v2/rps/addDevicesByMac",
            [{"mac": MAC, "uniqueServerUrl": URL, "authName": ACS_USER, "password": ACS_PASSWORD}],
        )
        # The password cannot be read back: registering again replaces the entry.
        service.register(with_credentials(MAC, URL))
        assert [path for path, _ in fake.calls[-3:]] == [
            "/v2/rps/listDevices",
            "/v2/rps/delDevices",
            "/v2/rps/addDevicesByMac",
        ]
        # Back to no credentials (trusted IP): the entry is replaced by one without them.
        service.register(Target(MAC, URL))
        assert fake.devices[MAC] == {"id": f"id-{MAC}", "mac": MAC, "uniqueServerUrl": URL}
        assert fake.problems == []


def test_ymcs_refusal_quoting_the_password_is_redacted() -> None:
    with fakes.ymcs() as fake:
        fake.fail_next = [None, None, f"password {ACS_PASSWORD} too long"]
        with pytest.raises(RedirectError) as caught:
            Ymcs(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=fake.url).register(
                with_credentials(MAC, URL)
            )
    assert caught.value.permanent
    assert ACS_PASSWORD not in caught.value.reason
    assert ACS_PASSWORD not in str(caught.value)
    assert "password *** too long" in caught.value.reason


# --- Yealink RPS (XML-RPC) ---------------------------------------------------------------------


def test_yealink_rps_registers_with_a_unique_url_and_deregisters() -> None:
    with fakes.yealink_rps() as fake:
        service = YealinkRps(
            fakes.RPC_USER, fakes.RPC_PASSWORD, "cloudpbx", url=f"{fake.url}/xmlrpc"
        )
        service.register(Target(MAC, URL))
        assert fake.calls == [
            ("redirect.registerDeviceWithUniqueUrl", ("80-5E-C0-11-22-33", "cloudpbx", URL, "1"))
        ]
        service.deregister(MAC)
        service.deregister(MAC)  # "Unregistered MAC": done already
        assert fake.calls[-1] == ("redirect.deRegisterDevice", ("80-5E-C0-11-22-33",))
        assert fake.devices == {}
        assert fake.problems == []


def test_yealink_rps_refusal_and_bad_password() -> None:
    with fakes.yealink_rps() as fake:
        fake.fail_next = ["Error:Invalid MAC(s):80-5E-C0-11-22-33"]
        service = YealinkRps(fakes.RPC_USER, fakes.RPC_PASSWORD, url=f"{fake.url}/xmlrpc")
        with pytest.raises(RedirectError, match="Invalid MAC") as refused:
            service.register(Target(MAC, URL))
        assert refused.value.permanent
        wrong = YealinkRps(fakes.RPC_USER, "nope", url=f"{fake.url}/xmlrpc")
        with pytest.raises(RedirectError, match="HTTP 401") as unauthorised:
            wrong.register(Target(MAC, URL))
        assert unauthorised.value.permanent
        assert "nope" not in unauthorised.value.reason
        fake.fail_next = [502]
        with pytest.raises(RedirectError, match="HTTP 502") as down:
            service.register(Target(MAC, URL))
        assert not down.value.permanent


def test_yealink_rps_has_no_field_for_credentials_and_sends_only_the_url() -> None:
    with fakes.yealink_rps() as fake:
        service = YealinkRps(fakes.RPC_USER, fakes.RPC_PASSWORD, url=f"{fake.url}/xmlrpc")
        assert not service.carries_credentials("T54W")
        service.register(with_credentials(MAC, URL))
        assert fake.calls == [
            ("redirect.registerDeviceWithUniqueUrl", ("80-5E-C0-11-22-33", "cloudpbx", URL, "1"))
        ]
        assert fake.problems == []


# --- Snom SRAPS (Hawk) -------------------------------------------------------------------------


def test_sraps_hawk_signed_discovery_register_and_deregister() -> None:
    snom_mac = "000413112233"
    snom_url = "https://pbx.example.net/prov/snomD785-{mac}.htm"
    with fakes.sraps() as fake:
        service = Sraps(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=f"{fake.url}/api/v1/")
        service.register(Target(snom_mac, snom_url))
        assert fake.devices == {snom_mac: snom_url}
        put = fake.calls[-1]
        assert put[0] == "PUT"
        assert put[1] == f"/api/v1/companies/c1/endpoints/{snom_mac}"
        assert put[2]["settings_manager"] == {
            fakes.SETTING_UUID: {"value": snom_url, "attrs": {"perm": "RW"}}
        }
        # settings paged (Link: rel="next" followed), token → company → endpoints
        assert [call[1] for call in fake.calls[:5]] == [
            "/api/v1/settings/",
            "/api/v1/settings/?page=2",
            f"/api/v1/tokens/{fakes.CLIENT_ID}",
            "/api/v1/companies/c1/",
            f"/api/v1/companies/c1/endpoints/{snom_mac}",
        ]
        service.deregister(snom_mac)
        service.deregister(snom_mac)  # 404: gone already
        assert fake.devices == {}
        assert fake.problems == []  # every signature verified by mohawk's Receiver


def test_sraps_wrong_key_fails_the_hawk_check_permanently() -> None:
    with fakes.sraps() as fake:
        service = Sraps(fakes.CLIENT_ID, "not-the-key", base_url=f"{fake.url}/api/v1/")
        with pytest.raises(RedirectError) as caught:
            service.register(Target("000413112233", URL))
    assert caught.value.permanent
    assert "401" in caught.value.reason
    assert "not-the-key" not in caught.value.reason


def test_sraps_server_error_is_transient() -> None:
    with fakes.sraps() as fake:
        fake.fail_next = [500]
        service = Sraps(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=f"{fake.url}/api/v1/")
        with pytest.raises(RedirectError) as caught:
            service.register(Target("000413112233", URL))
    assert not caught.value.permanent


def test_sraps_hands_the_phone_http_client_user_and_pass() -> None:
    snom_mac = "000413112233"
    snom_url = "https://pbx.example.net/prov/snomD785-{mac}.htm"
    with fakes.sraps() as fake:
        service = Sraps(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=f"{fake.url}/api/v1/")
        assert service.carries_credentials("D785")
        service.register(Target(snom_mac, snom_url))  # trusted IP: the URL only
        assert fake.calls[-1][2]["settings_manager"] == {
            fakes.SETTING_UUID: {"value": snom_url, "attrs": {"perm": "RW"}}
        }
        service.register(with_credentials(snom_mac, snom_url, "D785"))
        assert fake.calls[-1][0] == "PUT"
        assert fake.calls[-1][2]["settings_manager"] == {
            fakes.SETTING_UUID: {"value": snom_url, "attrs": {"perm": "RW"}},
            fakes.USER_SETTING_UUID: {"value": ACS_USER, "attrs": {"perm": "RW"}},
            fakes.PASSWORD_SETTING_UUID: {"value": ACS_PASSWORD, "attrs": {"perm": "RW"}},
        }
        service.register(with_credentials(snom_mac, snom_url, "D785"))
        # One pass over the catalogue found all three settings.
        assert [call[1] for call in fake.calls].count("/api/v1/settings/") == 1
        assert fake.problems == []


def test_sraps_account_without_the_credential_settings_fails_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sraps_module, "USER_SETTING", "http_client_username")  # not offered
    with fakes.sraps() as fake:
        service = Sraps(fakes.CLIENT_ID, fakes.CLIENT_SECRET, base_url=f"{fake.url}/api/v1/")
        with pytest.raises(RedirectError, match="no http_client_username setting") as caught:
            service.register(with_credentials("000413112233", URL))
        service.register(Target("000413112233", URL))  # without credentials it still works
    assert caught.value.permanent


def test_hawk_header_equals_mohawks_for_the_same_request() -> None:
    credentials = {"id": "dh37fgj492je", "key": "werxhqb98rpaxn3984", "algorithm": "sha256"}
    url = "http://example.com:8000/resource/1?b=1&a=2"
    ours = hawk.header(
        credentials["id"],
        credentials["key"],
        "POST",
        url,
        content_type="text/plain; charset=utf-8",
        body=b"Thank you for flying Hawk",
        timestamp=1353832234,
        nonce="j4h3g2",
    )
    reference = mohawk.Sender(
        credentials,
        url,
        "POST",
        content=b"Thank you for flying Hawk",
        content_type="text/plain; charset=utf-8",
        _timestamp=1353832234,
        nonce="j4h3g2",
    ).request_header

    def fields(header: str) -> dict[str, str]:
        return dict(part.strip().split("=", 1) for part in header.removeprefix("Hawk ").split(","))

    assert fields(ours) == fields(reference)


# --- Gigaset (XML-RPC, MAC-ID) -----------------------------------------------------------------


def test_gigaset_registers_the_mac_id_with_the_macd_url() -> None:
    gigaset_mac = "7c2f80e0d605"
    url = "https://pbx.example.net/prov/%MACD.xml"
    with fakes.gigaset() as fake:
        service = GigasetRedirect(
            fakes.RPC_USER, fakes.RPC_PASSWORD, "cloudpbx", url=f"{fake.url}/apxml/rpc.do"
        )
        service.register(Target(gigaset_mac, url, mac_id_crc="AB12"))
        assert fake.calls == [
            ("autoprov.deregisterDevice", ("7C2F80E0D605",)),
            ("autoprov.registerDevice", ("7C2F80E0D605-AB12", url, "cloudpbx")),
        ]
        service.deregister(gigaset_mac)
        service.deregister(gigaset_mac)  # "not registered": done already
        assert fake.devices == {}
        assert fake.problems == []
        with pytest.raises(RedirectError, match="MAC-ID") as missing:
            service.register(Target(gigaset_mac, url))
        assert missing.value.permanent
        fake.fail_next = [None, "MAC-ID wrong"]  # the freeing deregister, then the register
        with pytest.raises(RedirectError, match="MAC-ID wrong"):
            service.register(Target(gigaset_mac, url, mac_id_crc="ZZ99"))


def test_gigaset_nx70_gets_the_credentials_in_the_url_maxwell_does_not() -> None:
    gigaset_mac = "7c2f80e0d605"
    url = "https://pbx.example.net/prov/%MACD.xml"
    with fakes.gigaset() as fake:
        service = GigasetRedirect(
            fakes.RPC_USER, fakes.RPC_PASSWORD, url=f"{fake.url}/apxml/rpc.do"
        )
        assert service.carries_credentials("N870")
        assert not service.carries_credentials("Maxwell 3")
        service.register(with_credentials(gigaset_mac, url, "N870", mac_id_crc="AB12"))
        assert fake.calls[-1] == (
            "autoprov.registerDevice",
            (
                "7C2F80E0D605-AB12",
                f"https://{ACS_USER}:{ACS_PASSWORD}@pbx.example.net/prov/%MACD.xml",
                "cloudpbx",
            ),
        )
        service.register(with_credentials(gigaset_mac, url, "Maxwell 3", mac_id_crc="AB12"))
        assert fake.calls[-1][1][1] == url
        service.register(Target(gigaset_mac, url, mac_id_crc="AB12", model="N870"))
        assert fake.calls[-1][1][1] == url
        assert fake.problems == []


def test_gigaset_url_credentials_are_percent_encoded() -> None:
    chosen = "a:b@c/d?e#f%g"
    assert gigaset.with_credentials("https://h/x/%MACD.xml", "p1", chosen) == (
        "https://p1:a%3Ab%40c%2Fd%3Fe%23f%25g@h/x/%MACD.xml"
    )


def test_gigaset_refusal_quoting_the_url_is_redacted() -> None:
    url = "https://pbx.example.net/prov/%MACD.xml"
    with fakes.gigaset() as fake:
        sent = gigaset.with_credentials(url, ACS_USER, ACS_PASSWORD)
        fake.fail_next = [None, f"URL not allowed: {sent}"]
        service = GigasetRedirect(
            fakes.RPC_USER, fakes.RPC_PASSWORD, url=f"{fake.url}/apxml/rpc.do"
        )
        with pytest.raises(RedirectError) as caught:
            service.register(with_credentials("7c2f80e0d605", url, "N870", mac_id_crc="AB12"))
    assert caught.value.permanent
    assert ACS_PASSWORD not in caught.value.reason
    assert f"{ACS_USER}:***@pbx.example.net" in caught.value.reason


def test_the_password_stays_out_of_the_target_repr_and_redact_catches_encoded_forms() -> None:
    target = with_credentials(MAC, URL)
    assert ACS_PASSWORD not in repr(target)
    assert ACS_USER in repr(target)
    with pytest.raises(ValueError, match="go together"):
        Target(MAC, URL, auth_name=ACS_USER)
    assert base.redact("x a:b@c x a%3Ab%40c x", "a:b@c") == "x *** x *** x"
    assert base.redact("nothing", "") == "nothing"
    error = RedirectError("refused a:b@c", permanent=True).redacted("a:b@c")
    assert (error.reason, error.permanent) == ("refused ***", True)


def test_transport_failure_is_transient_and_names_only_the_origin() -> None:
    service = YealinkRps("user", "pw", url="http://user:pw@127.0.0.1:9/xmlrpc?token=x")
    with pytest.raises(RedirectError) as caught:
        service.register(Target(MAC, URL))
    assert not caught.value.permanent
    assert "127.0.0.1:9" in caught.value.reason
    assert "pw" not in caught.value.reason
    assert "token" not in caught.value.reason
