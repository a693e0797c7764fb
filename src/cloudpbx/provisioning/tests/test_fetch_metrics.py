"""``cloudpbx_provisioning_fetches_total``: every answer of ``/prov/`` counted by vendor and
result, with labels from fixed sets only."""

from __future__ import annotations

from prometheus_client import REGISTRY

from cloudpbx.provisioning import testing
from cloudpbx.provisioning.tests.conftest import Phone

FETCHES = "cloudpbx_provisioning_fetches_total"


def counted(vendor: str, result: str) -> float:
    return REGISTRY.get_sample_value(FETCHES, {"vendor": vendor, "result": result}) or 0.0


def test_a_phones_challenge_its_file_and_its_304_are_counted(phone: Phone) -> None:
    before = {r: counted("yealink", r) for r in ("challenge", "served", "not_modified")}
    served = phone.fetch()
    assert served.status_code == 200
    assert phone.fetch(**{"If-None-Match": served["ETag"]}).status_code == 304
    assert counted("yealink", "challenge") == before["challenge"] + 2
    assert counted("yealink", "served") == before["served"] + 1
    assert counted("yealink", "not_modified") == before["not_modified"] + 1


def test_refusals_are_counted_by_reason_under_the_vendor_the_request_names(phone: Phone) -> None:
    wrong_before = counted("yealink", "bad_credentials")
    first = phone.get()
    answer = phone.authorization(first["WWW-Authenticate"], password="wrong-password")
    assert phone.get(Authorization=answer).status_code == 401
    assert counted("yealink", "bad_credentials") == wrong_before + 1

    stranger = testing.phone_request("snom", "D785", "000413fedcba")
    unknown_before = counted("snom", "unknown_mac")
    challenge = phone.client.get(stranger.path, HTTP_USER_AGENT=stranger.headers["User-Agent"])
    answer = testing.digest_authorization(
        challenge["WWW-Authenticate"], "someone", "guess", "GET", stranger.path
    )
    refused = phone.client.get(
        stranger.path, HTTP_USER_AGENT=stranger.headers["User-Agent"], HTTP_AUTHORIZATION=answer
    )
    assert refused.status_code == 401
    # Both requests: without a device there is no challenge of its own to count apart.
    assert counted("snom", "unknown_mac") == unknown_before + 2


def test_a_file_nobody_serves_is_counted_without_a_vendor(phone: Phone) -> None:
    before = counted("unknown", "not_found")
    assert phone.client.get("/prov/no-phone-asks-for-this.txt").status_code == 404
    assert counted("unknown", "not_found") == before + 1
