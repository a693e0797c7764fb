"""The routing's number plan: what a dialled string becomes, and why it may not be dialled."""

from __future__ import annotations

import pytest

from cloudpbx import numbering_rules as rules
from cloudpbx.sip.numberplan import CountryNumberPlan
from cloudpbx.sip.routing import Destination

PLAN = CountryNumberPlan()
GERMAN = rules.default_destination_countries("DE")
FRENCH = rules.default_destination_countries("FR")


@pytest.mark.parametrize(
    ("country", "dialled", "allowed", "e164"),
    [
        ("DE", "030123456", GERMAN, "+4930123456"),
        ("DE", "004930123456", GERMAN, "+4930123456"),
        ("DE", "+33123456789", GERMAN, "+33123456789"),  # a German customer calls France
        ("DE", "0033612345678", GERMAN, "+33612345678"),
        ("DE", "015123456789", ["DE"], "+4915123456789"),
        ("FR", "0123456789", FRENCH, "+33123456789"),
        ("FR", "0262161234", FRENCH, "+262262161234"),  # Réunion, dialled nationally
        ("DE", "+12125551234", [*GERMAN, "US"], "+12125551234"),
    ],
)
def test_allowed_destination(country: str, dialled: str, allowed: list[str], e164: str) -> None:
    assert PLAN.destination(country, dialled, allowed) == Destination(e164=e164, barred=None)


@pytest.mark.parametrize(
    ("country", "dialled", "allowed", "e164", "barred"),
    [
        # the numbering plans' barred classes
        ("DE", "09001234567", GERMAN, "+499001234567", "premium_rate"),
        ("DE", "01371234567", GERMAN, "+491371234567", "mass_traffic"),
        ("DE", "01805123456", GERMAN, "+491805123456", "shared_cost"),
        ("FR", "0899123456", FRENCH, "+33899123456", "premium_rate"),
        # the platform bar, even where the country is allowed
        ("DE", "00881612345678", GERMAN, "+881612345678", "satellite"),
        ("DE", "+870301234567", GERMAN, "+870301234567", "satellite"),
        ("DE", "+883510012345", GERMAN, "+883510012345", "international_network"),
        ("DE", "070012345678", GERMAN, "+4970012345678", "personal_number"),
        ("DE", "+447012345678", [*GERMAN, "GB"], "+447012345678", "personal_number"),
        ("DE", "+5351234567", [*GERMAN, "CU"], "+5351234567", "high_risk"),
        ("FR", "0067570123456", [*FRENCH, "PG"], "+67570123456", "high_risk"),
        # outside the customer's countries
        ("DE", "+33123456789", ["DE"], "+33123456789", "country_not_allowed"),
        ("DE", "+12125551234", GERMAN, "+12125551234", "country_not_allowed"),
        ("FR", "+41446681800", FRENCH, "+41446681800", "country_not_allowed"),
    ],
)
def test_barred_destination(
    country: str, dialled: str, allowed: list[str], e164: str, barred: str
) -> None:
    assert PLAN.destination(country, dialled, allowed) == Destination(e164=e164, barred=barred)


@pytest.mark.parametrize(
    ("country", "dialled", "barred"),
    [
        ("DE", "11833", "directory"),
        ("DE", "115", "short_code"),
        ("FR", "3949", "short_code"),
    ],
)
def test_short_codes_are_barred_without_a_number(country: str, dialled: str, barred: str) -> None:
    assert PLAN.destination(country, dialled, GERMAN) == Destination(e164=None, barred=barred)


@pytest.mark.parametrize("dialled", ["030", "12", "+49", ""])
def test_invalid_number_is_no_destination(dialled: str) -> None:
    assert PLAN.destination("DE", dialled, GERMAN) == Destination(e164=None, barred=None)


def test_unsupported_country_is_no_destination() -> None:
    assert PLAN.destination("XX", "030123456", GERMAN) == Destination(e164=None)


def test_no_allowed_country_bars_every_number() -> None:
    # A list never set (empty) closes external calls rather than opening them.
    assert PLAN.destination("DE", "030123456", []).barred == "country_not_allowed"


@pytest.mark.parametrize(("country", "dialled"), [("DE", "112"), ("DE", "110"), ("FR", "15")])
def test_emergency_numbers(country: str, dialled: str) -> None:
    assert PLAN.is_emergency(country, dialled)
