"""DECT bases: the base's file carries every handset's SIP account, each under its own handset
number, and opens the registration window while handsets added are waiting; the fetch serves
them all, in one more query however many handsets there are."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cloudpbx.extensions.models import Extension
from cloudpbx.provisioning.tests.conftest import Phone
from cloudpbx.provisioning.tests.test_engine import (
    DECT_BASE,
    SIP_PASSWORD,
    config,
    handset,
    render_phone,
)
from cloudpbx.provisioning.vendors import VENDORS, xmlread
from cloudpbx.provisioning.vendors.base import UnsupportedSetting
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal

GIGASET = VENDORS["gigaset"]


def operations(body: bytes) -> dict[tuple[str, str | None], dict[str, str]]:
    """The file's <oper> elements: (name, value) → their params."""
    nvm = xmlread.parse(body).find("nvm")
    assert nvm is not None
    return {
        (oper.attrib["name"], oper.attrib.get("value")): {
            param.attrib["name"]: param.attrib["value"] for param in oper
        }
        for oper in nvm.iter("oper")
    }


# --- the engine: PhoneConfig -> the base's file ----------------------------------------------


def test_the_base_file_carries_every_handsets_account_under_its_number() -> None:
    base = dataclasses.replace(config("gigaset", "N870", "7c2f80e0d609"), **DECT_BASE)  # type: ignore[arg-type]
    body = render_phone(base)
    accounts = GIGASET.read_accounts(body)
    assert sorted(accounts) == [1, 2, 4]
    assert accounts[1].username == "tq3xk7m2pw9a" and accounts[1].password == SIP_PASSWORD
    assert accounts[2].username == "tb7hx2kq9wz4"
    assert accounts[2].password == "Handset-2-Secret-4242"
    assert accounts[4].username == "tc5mv8rd3pn6"
    assert {a.registrar for a in accounts.values()} == {"sip.example.net"}
    found = operations(body)
    # Each handset is registered to its own number, with its PIN (last digits of its extension).
    assert {key for key in found if key[0] == "add_hs"} == {
        ("add_hs", "00001"),
        ("add_hs", "00002"),
        ("add_hs", "00004"),
    }
    params = xmlread.params(xmlread.parse(body))
    assert params["hs.00002.DECT_AC"] == "0011"
    assert params["hs.00004.DECT_AC"] == "0000"
    assert params["SipAccount.00002.DisplayName"] == "11 Lager"
    # A handset the file does not list is removed from the base.
    assert ("DeleteNotProvisionedHS", None) in found
    assert found[("update_dm", "local")] == {"RegStart": "1780000000", "RegDuration": "900"}


def test_no_registration_window_unless_one_is_open() -> None:
    body = render_phone(config("gigaset", "N870", "7c2f80e0d609"))
    assert not [key for key in operations(body) if key[0] == "update_dm"]
    assert sorted(GIGASET.read_accounts(body)) == [1]


def test_a_handset_cannot_be_given_other_srtp_than_its_base() -> None:
    base = config("gigaset", "N870", "7c2f80e0d609")
    lager = handset(2, "tb7hx2kq9wz4", "11", "Lager")
    odd = dataclasses.replace(
        lager, account=dataclasses.replace(lager.account, media_encryption="required")
    )
    with pytest.raises(UnsupportedSetting, match="share its SRTP setting"):
        render_phone(dataclasses.replace(base, handsets=(odd,)))


# --- the fetch ---------------------------------------------------------------------------------


@pytest.fixture
def base_phone(make_phone: Callable[..., Terminal]) -> Phone:
    return Phone(make_phone("gigaset", "N870", name="Basis"))


def add_handsets(phone: Phone, *names: str) -> list[Terminal]:
    extension = Extension.objects.for_tenant(phone.terminal.tenant).get(number="20")
    return [
        services.create_terminal(
            phone.terminal.tenant,
            base=phone.device,
            name=name,
            type="ip_phone",
            internal_extension=extension,
        )
        for name in names
    ]


def test_the_fetch_of_a_base_serves_every_handset(base_phone: Phone) -> None:
    lager, werkstatt = add_handsets(base_phone, "Lager", "Werkstatt")
    response = base_phone.fetch()
    assert response.status_code == 200
    accounts = GIGASET.read_accounts(response.content)
    expected = {1: base_phone.terminal, 2: lager, 3: werkstatt}
    assert sorted(accounts) == sorted(expected)
    for number, terminal in expected.items():
        assert accounts[number].username == terminal.sip_username
        assert accounts[number].password == terminal.sip_password
    # Added a moment ago and not registered yet: the window is open from when they were added.
    window = operations(response.content)[("update_dm", "local")]
    base_phone.device.refresh_from_db()
    opened = base_phone.device.handset_registration_from
    assert opened is not None
    assert window == {"RegStart": str(int(opened.timestamp())), "RegDuration": "900"}


def test_a_removed_handset_leaves_the_file_and_the_window_closes(base_phone: Phone) -> None:
    lager, werkstatt = add_handsets(base_phone, "Lager", "Werkstatt")
    services.delete_terminal(lager)
    device = base_phone.device
    device.refresh_from_db()
    device.handset_registration_from = timezone.now() - timedelta(seconds=901)
    device.save(update_fields=["handset_registration_from"])
    body = base_phone.fetch().content
    accounts = GIGASET.read_accounts(body)
    assert sorted(accounts) == [1, 3]
    assert accounts[3].username == werkstatt.sip_username
    assert lager.sip_username not in body.decode()
    assert not [key for key in operations(body) if key[0] == "update_dm"]


def test_query_count_of_a_base_does_not_grow_with_its_handsets(
    base_phone: Phone, django_assert_num_queries: Any
) -> None:
    """The desk phone's two statements, and one SELECT of the handsets (an N+1 fails here)."""
    add_handsets(base_phone, "Lager", "Werkstatt", "Büro", "Halle")
    challenge = base_phone.get()["WWW-Authenticate"]
    with django_assert_num_queries(3):
        answer = base_phone.get(Authorization=base_phone.authorization(challenge))
    assert answer.status_code == 200
    assert len(GIGASET.read_accounts(answer.content)) == 5
