"""Caller-ID and dialling rules: one case per refused class, plus the allowed neighbours.

Sample numbers are valid per phonenumbers (mostly its example_number_for_type output) unless
a case says otherwise: some refused blocks (0138, 010, 012, 11-digit 0900) are invalid for
phonenumbers and must still be refused by name, not as "invalid".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from cloudpbx import numbering_rules as rules


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # Messages are asserted in English; pin it whatever LANGUAGE_CODE the project uses.
    with translation.override("en"):
        yield


def refusal(check: Callable[[str, str], str], country: str, raw: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        check(country, raw)
    return info.value


def text(error: ValidationError) -> str:
    assert len(error.messages) == 1
    return str(error.messages[0])


# --- caller ID -----------------------------------------------------------------------------

CALLER_ID_REFUSED = [
    # country, input, code, fragment naming the rule
    ("DE", "0900 1 234567", "premium_rate", "premium-rate number (0900)"),
    ("DE", "09009 1234567", "premium_rate", "premium dialer number (09009)"),
    ("DE", "+49 900 12345678", "premium_rate", "(0900)"),  # invalid for phonenumbers
    ("DE", "110", "emergency", "110 is an emergency number in Germany"),
    ("DE", "112", "emergency", "112 is an emergency number in Germany"),
    ("DE", "115", "short_code", "115 is a service number (115) in Germany"),
    ("DE", "116 116", "short_code", "116116 is a service number (116xxx) in Germany"),
    ("DE", "118 33", "directory", "11833 is a directory enquiry number (118xy) in Germany"),
    ("DE", "+49 11880", "directory", "(118xy)"),
    ("DE", "01371 234567", "mass_traffic", "mass-traffic number (0137/0138)"),  # SHARED_COST
    ("DE", "01381 234567", "mass_traffic", "mass-traffic number (0137/0138)"),  # invalid
    ("DE", "0180 5 123456", "shared_cost", "shared-cost number (0180)"),
    ("DE", "0181 123456", "closed_user_group", "closed-user-group number (0181-0189)"),
    ("DE", "018500 123456", "closed_user_group", "(0181-0189)"),  # phonenumbers: UAN
    ("DE", "012345678", "innovative_service", "innovative-service number (012)"),
    ("DE", "01013 030 1234567", "carrier_selection", "carrier selection (010)"),
    ("DE", "+33 1 23 45 67 89", "foreign", "numbering space of Germany"),
    ("DE", "+43 1 234567890", "foreign", "(§ 120 Abs. 2 TKG)"),
    ("FR", "0891 12 34 56", "premium_rate", "premium-rate number (089x)"),
    ("FR", "0899 12 34 56", "premium_rate", "premium-rate number (089x)"),
    ("FR", "0826 12 34 56", "premium_rate", "surcharged value-added number (081x/082x)"),
    ("FR", "0810 12 34 56", "premium_rate", "(081x/082x)"),
    ("FR", "0884 01 23 45", "shared_cost", "shared-cost number"),  # phonenumbers type only
    ("FR", "3949", "short_code", "3949 is a service number (3xxx) in France"),
    ("FR", "1013", "short_code", "1013 is a service number (10xx) in France"),
    ("FR", "118 218", "directory", "118218 is a directory enquiry number (118xxx) in France"),
    ("FR", "116 000", "short_code", "(116xxx)"),
    ("FR", "15", "emergency", "15 is an emergency number in France"),
    ("FR", "17", "emergency", "17 is an emergency number in France"),
    ("FR", "112", "emergency", "112 is an emergency number in France"),
    ("FR", "115", "emergency", "115 is an emergency number in France"),
    ("FR", "+49 30 123456", "foreign", "numbering space of France"),
    ("FR", "+49 1512 3456789", "foreign", "(art. L. 44 CPCE)"),
]


@pytest.mark.parametrize(("country", "raw", "code", "fragment"), CALLER_ID_REFUSED)
def test_caller_id_refused_with_named_rule(
    country: str, raw: str, code: str, fragment: str
) -> None:
    error = refusal(rules.check_caller_id, country, raw)
    assert error.code == code
    assert fragment in text(error)


CALLER_ID_ALLOWED = [
    ("DE", "030 123456", "+4930123456"),  # geographic
    ("DE", "0151 23456789", "+4915123456789"),  # mobile
    ("DE", "0176 12345678", "+4917612345678"),
    ("DE", "0800 1234567", "+498001234567"),  # freephone
    ("DE", "0700 1234 5678", "+4970012345678"),  # personal number
    ("DE", "03221 1234567", "+4932211234567"),  # national subscriber number 032
    ("FR", "01 23 45 67 89", "+33123456789"),
    ("FR", "05 56 12 34 56", "+33556123456"),
    ("FR", "06 12 34 56 78", "+33612345678"),
    ("FR", "07 56 12 34 56", "+33756123456"),
    ("FR", "09 12 34 56 78", "+33912345678"),
    ("FR", "0800 12 34 56", "+33800123456"),  # free
    ("FR", "0806 12 34 56", "+33806123456"),  # normal rate; not Guadeloupe (see rules._parse)
    ("FR", "+262 262 16 12 34", "+262262161234"),  # Réunion, international input
    ("FR", "0262 16 12 34", "+262262161234"),  # Réunion, French national input
    ("FR", "0596 30 12 34", "+596596301234"),  # Martinique, not +33 596
    ("FR", "0639 01 23 45", "+262639012345"),  # Mayotte mobile
    ("FR", "+590 590 27 12 34", "+590590271234"),  # Guadeloupe / Saint-Barthélemy
]


@pytest.mark.parametrize(("country", "raw", "e164"), CALLER_ID_ALLOWED)
def test_caller_id_allowed(country: str, raw: str, e164: str) -> None:
    assert rules.check_caller_id(country, raw) == e164


@pytest.mark.parametrize(
    ("country", "raw"),
    [("DE", "abc"), ("DE", "030"), ("DE", ""), ("DE", "030 1234567 ext. 12"), ("FR", "01 23")],
)
def test_caller_id_invalid_uses_generic_message_with_example(country: str, raw: str) -> None:
    sample = phonenumbers.example_number(country)
    assert sample is not None
    example = phonenumbers.format_number(sample, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    error = refusal(rules.check_caller_id, country, raw)
    assert error.code == "invalid"
    assert text(error) == f"Enter a valid phone number, e.g. {example}."


# --- internal extensions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "digits", "fragment"),
    [
        ("DE", "110", "110 is an emergency number in Germany"),
        ("DE", "112", "112 is an emergency number in Germany"),
        ("DE", "115", "115 is a service number"),
        ("DE", "116117", "116117 is a service number (116xxx)"),
        ("DE", "118", "directory enquiry number (118xy)"),
        ("DE", "11833", "11833 is a directory enquiry number"),
        ("DE", "11880", "11880 is a directory enquiry number"),
        ("DE", "118000", "directory enquiry number (1180xy)"),
        ("FR", "15", "15 is an emergency number in France"),
        ("FR", "17", "17 is an emergency number in France"),
        ("FR", "18", "18 is an emergency number in France"),
        ("FR", "112", "112 is an emergency number in France"),
        ("FR", "114", "114 is an emergency number in France"),
        ("FR", "115", "115 is an emergency number in France"),
        ("FR", "119", "119 is an emergency number in France"),
        ("FR", "191", "191 is an emergency number in France"),
        ("FR", "196", "196 is an emergency number in France"),
        ("FR", "116000", "(116xxx)"),
        ("FR", "118218", "118218 is a directory enquiry number (118xxx)"),
        ("FR", "1013", "1013 is a service number (10xx)"),
        ("FR", "3000", "(3xxx)"),
        ("FR", "3949", "3949 is a service number (3xxx)"),
    ],
)
def test_extension_collides_with_short_number(country: str, digits: str, fragment: str) -> None:
    reason = rules.reserved_short_number_reason(country, digits)
    assert isinstance(reason, str)
    assert fragment in reason


@pytest.mark.parametrize("country", ["DE", "FR"])
@pytest.mark.parametrize("digits", ["10", "11", "20", "100", "1100", "1120", "10000", "300"])
def test_extension_without_collision(country: str, digits: str) -> None:
    # Short numbers match on exact length: the network takes them en bloc and the PBX matches
    # extensions exactly, so 1100 never reaches the police. Reserving every extension that
    # merely starts with 110/112 would block 1100-1129 for no legal reason.
    assert rules.reserved_short_number_reason(country, digits) is None


@pytest.mark.parametrize(("country", "digits"), [("DE", "116"), ("DE", "1181"), ("FR", "118")])
def test_incomplete_service_ranges_are_not_reserved(country: str, digits: str) -> None:
    # 116xxx and the French 118xxx only exist with six digits; a bare 116 is nobody's number.
    assert rules.reserved_short_number_reason(country, digits) is None


# --- emergency numbers ---------------------------------------------------------------------


def test_emergency_numbers() -> None:
    assert rules.emergency_numbers("DE") == frozenset({"110", "112"})
    assert rules.emergency_numbers("FR") == frozenset(
        {"15", "17", "18", "112", "114", "115", "119", "191", "196"}
    )


@pytest.mark.parametrize(
    ("country", "dialled", "expected"),
    [
        ("DE", "112", True),
        ("DE", "1 10", True),
        ("DE", "115", False),  # authority number, not an emergency service
        ("DE", "15", False),
        ("DE", "1120", False),
        ("FR", "15", True),
        ("FR", "115", True),
        ("FR", "196", True),
        ("FR", "3949", False),
    ],
)
def test_is_emergency_number(country: str, dialled: str, expected: bool) -> None:
    assert rules.is_emergency_number(country, dialled) is expected


# --- normalise -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "+49 30 1234567",
        "030 1234567",
        "0049301234567",
        "(030) 123-4567",
        "+49 (0)30 1234567",
        "030/1234567",
        " 030 1234567 ",
    ],
)
def test_normalise_german_variants(raw: str) -> None:
    assert rules.normalise("DE", raw) == "+49301234567"


@pytest.mark.parametrize(
    "raw", ["01 23 45 67 89", "+33 1 23 45 67 89", "0033 1 23 45 67 89", "01.23.45.67.89"]
)
def test_normalise_french_variants(raw: str) -> None:
    assert rules.normalise("FR", raw) == "+33123456789"


def test_normalise_keeps_foreign_numbers() -> None:
    assert rules.normalise("DE", "+33 6 12 34 56 78") == "+33612345678"


def test_normalise_does_not_judge_legality() -> None:
    # Legality belongs to the check_* functions; normalise only rejects what has no E.164 form.
    assert rules.normalise("DE", "0900 1 234567") == "+499001234567"


@pytest.mark.parametrize(
    ("country", "raw", "code"),
    [
        ("DE", "110", "emergency"),
        ("DE", "118 33", "directory"),
        ("DE", "115", "short_code"),
        ("FR", "3949", "short_code"),
        ("FR", "15", "emergency"),
    ],
)
def test_normalise_refuses_short_numbers_with_specific_rule(
    country: str, raw: str, code: str
) -> None:
    assert refusal(rules.normalise, country, raw).code == code


@pytest.mark.parametrize("raw", ["", "abc", "+49 30", "01381 234567"])
def test_normalise_invalid(raw: str) -> None:
    error = refusal(rules.normalise, "DE", raw)
    assert error.code == "invalid"
    assert text(error).startswith("Enter a valid phone number, e.g. +49")


# --- external destinations -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "raw", "e164"),
    [
        ("DE", "+44 7400 123456", "+447400123456"),  # foreign mobile
        ("DE", "0033 6 12 34 56 78", "+33612345678"),
        ("DE", "0151 23456789", "+4915123456789"),
        ("FR", "+49 1512 3456789", "+4915123456789"),
        ("FR", "06 12 34 56 78", "+33612345678"),
    ],
)
def test_external_destination_allowed(country: str, raw: str, e164: str) -> None:
    allowed = [*rules.default_destination_countries(country), "GB"]
    assert rules.check_external_destination(country, raw, allowed) == e164


@pytest.mark.parametrize(
    ("country", "raw", "code"),
    [
        ("DE", "0900 1 234567", "premium_rate"),
        ("DE", "112", "emergency"),
        ("DE", "118 33", "directory"),
        ("DE", "01371 234567", "mass_traffic"),
        ("DE", "+44 901 234 5678", "premium_rate"),  # foreign premium: phonenumbers type
        ("FR", "0899 12 34 56", "premium_rate"),
        ("FR", "15", "emergency"),
        ("FR", "+49 900 1 234567", "premium_rate"),  # the German table applies to +49
        ("DE", "0700 1234 5678", "personal_number"),  # platform bar
        ("DE", "+53 5 1234567", "high_risk"),
        ("DE", "+881 6 123 45678", "satellite"),
        ("DE", "+1 212 555 1234", "country_not_allowed"),
        ("FR", "+41 44 668 18 00", "country_not_allowed"),
    ],
)
def test_external_destination_refused(country: str, raw: str, code: str) -> None:
    def check(country: str, raw: str) -> str:
        allowed = rules.default_destination_countries(country)
        return rules.check_external_destination(country, raw, allowed)

    assert refusal(check, country, raw).code == code


def test_external_destination_in_an_added_country() -> None:
    e164 = rules.check_external_destination("DE", "+1 212 555 1234", ["DE", "US"])
    assert e164 == "+12125551234"


# --- barred destinations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "e164", "fragment"),
    [
        ("DE", "+499001234567", "premium-rate number (0900)"),
        ("DE", "+491371234567", "mass-traffic"),
        ("DE", "+4911833", "directory enquiry"),
        ("DE", "+491805123456", "shared-cost number (0180)"),
        ("DE", "+4910130301234567", "carrier selection (010)"),
        ("DE", "+449012345678", "premium-rate number"),
        ("FR", "+33899123456", "premium-rate number (089x)"),
    ],
)
def test_barred_destination(country: str, e164: str, fragment: str) -> None:
    reason = rules.barred_destination_reason(country, e164)
    assert isinstance(reason, str)
    assert fragment in reason


@pytest.mark.parametrize(
    ("country", "e164"),
    [
        ("DE", "+4930123456"),
        ("DE", "+447400123456"),
        ("DE", "+49112"),  # emergency calls are never barred
        ("FR", "+33123456789"),
        ("FR", "+262262161234"),
    ],
)
def test_destination_not_barred(country: str, e164: str) -> None:
    assert rules.barred_destination_reason(country, e164) is None


@pytest.mark.parametrize(
    ("country", "e164", "code"),
    [
        ("DE", "+499001234567", "premium_rate"),
        ("DE", "+4911833", "directory"),
        ("FR", "+33899123456", "premium_rate"),
    ],
)
def test_barred_destination_code(country: str, e164: str, code: str) -> None:
    found = rules.barred_destination(country, e164)
    assert found is not None
    assert found == (code, rules.barred_destination_reason(country, e164))


def test_barred_destination_rejects_garbage_loudly() -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        rules.barred_destination_reason("DE", "not a number")


@pytest.mark.parametrize("country", ["DE", "FR"])
def test_every_barred_prefix_is_barred_and_refused_everywhere(country: str) -> None:
    # One table feeds all three checks: a barred prefix must also fail as caller ID.
    calling_code = phonenumbers.country_code_for_region(country)
    for rule in rules.rules_for(country).refused_prefixes:
        if rule.code not in rules.BARRED_CODES:
            continue
        e164 = f"+{calling_code}{rule.prefix}123456"
        assert rules.barred_destination_reason(country, e164), e164
        assert refusal(rules.check_caller_id, country, e164).code == rule.code


# --- destination policy --------------------------------------------------------------------

EVERY_REGION = frozenset(phonenumbers.SUPPORTED_REGIONS) | {"001"}
GERMAN_DEFAULT = rules.default_destination_countries("DE")

PLATFORM_BARRED = [
    # E.164 (valid per phonenumbers), code, fragment naming the range
    ("+870301234567", "satellite", "satellite phone number (+870)"),  # Inmarsat
    ("+881612345678", "satellite", "satellite phone number (+881)"),  # Iridium
    ("+8823421234", "international_network", "international network (+882)"),
    ("+883510012345", "international_network", "international network (+883)"),
    ("+447012345678", "personal_number", "personal number (+44 70)"),
    ("+4970012345678", "personal_number", "personal number (+49 700)"),
    ("+5351234567", "high_risk", "known for toll fraud (+53)"),  # Cuba
    ("+224601123456", "high_risk", "(+224)"),  # Guinea
    ("+231770123456", "high_risk", "(+231)"),  # Liberia
    ("+23225123456", "high_risk", "(+232)"),  # Sierra Leone
    ("+2399812345", "high_risk", "(+239)"),  # São Tomé
    ("+24762889", "high_risk", "(+247)"),  # Ascension
    ("+25271123456", "high_risk", "(+252)"),  # Somalia
    ("+29022158", "high_risk", "(+290)"),  # St Helena
    ("+67570123456", "high_risk", "(+675)"),  # Papua New Guinea
    ("+6777421234", "high_risk", "(+677)"),  # Solomon Islands
    ("+6785912345", "high_risk", "(+678)"),  # Vanuatu
    ("+68271234", "high_risk", "(+682)"),  # Cook Islands
    ("+6837012", "high_risk", "(+683)"),  # Niue
    ("+68672001234", "high_risk", "(+686)"),  # Kiribati
    ("+688901234", "high_risk", "(+688)"),  # Tuvalu
    ("+6903101", "high_risk", "(+690)"),  # Tokelau
    ("+6913501234", "high_risk", "(+691)"),  # Micronesia
]


@pytest.mark.parametrize(("e164", "code", "fragment"), PLATFORM_BARRED)
def test_platform_bar_refuses_whatever_the_allowed_countries(
    e164: str, code: str, fragment: str
) -> None:
    assert phonenumbers.is_valid_number(phonenumbers.parse(e164))
    found = rules.destination_refusal(e164, EVERY_REGION)
    assert found is not None
    assert found[0] == code
    assert fragment in found[1]


def test_every_platform_bar_has_a_test_and_refuses() -> None:
    tested = {e164 for e164, _code, _fragment in PLATFORM_BARRED}
    for bar in rules.PLATFORM_BARS:
        assert any(e164[1:].startswith(bar.prefix) for e164 in tested), bar.range
        found = rules.destination_refusal(f"+{bar.prefix}1234567", EVERY_REGION)
        assert found is not None and found[0] == bar.code, bar.range


@pytest.mark.parametrize(
    ("e164", "allowed", "fragment"),
    [
        ("+33123456789", ["DE"], "+33 1 23 45 67 89 is in France, which this customer may not"),
        ("+12125551234", GERMAN_DEFAULT, "is in United States"),
        ("+41446681800", GERMAN_DEFAULT, "is in Switzerland"),
        ("+447400123456", GERMAN_DEFAULT, "is in United Kingdom"),
        ("+4930123456", ["FR"], "is in Germany"),
        ("+81312345678", GERMAN_DEFAULT, "is in JP"),  # no name in the table: the code
        ("+262262161234", ["DE"], "is in France"),  # Réunion is France
        ("+80012345678", EVERY_REGION - {"001"}, "is not in any country"),  # freephone, no region
        ("+19995551234", EVERY_REGION, "is not in any country"),  # invalid, shared code: no region
    ],
)
def test_country_not_allowed(e164: str, allowed: Collection[str], fragment: str) -> None:
    found = rules.destination_refusal(e164, allowed)
    assert found is not None
    assert found[0] == "country_not_allowed"
    assert fragment in found[1]


@pytest.mark.parametrize(
    ("e164", "allowed"),
    [
        ("+33123456789", GERMAN_DEFAULT),  # a German customer calls France
        ("+4930123456", GERMAN_DEFAULT),
        ("+4915123456789", GERMAN_DEFAULT),
        ("+431234567890", GERMAN_DEFAULT),
        ("+4721234567", GERMAN_DEFAULT),  # EEA
        ("+262262161234", GERMAN_DEFAULT),  # Réunion counts as France
        ("+35818123456", GERMAN_DEFAULT),  # Åland counts as Finland
        ("+4779123456", GERMAN_DEFAULT),  # Svalbard counts as Norway
        ("+4930123456", ["DE"]),
        ("+12125551234", ["DE", "US"]),
        ("+262262161234", ["RE"]),  # a part of a country may be allowed on its own
        ("+80012345678", ["001"]),
    ],
)
def test_destination_allowed(e164: str, allowed: Collection[str]) -> None:
    assert rules.destination_refusal(e164, allowed) is None


def test_destination_refusal_rejects_garbage_loudly() -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        rules.destination_refusal("not a number", ["DE"])


def test_destination_refusal_is_translated() -> None:
    with translation.override("de"):
        found = rules.destination_refusal("+33123456789", ["DE"])
    assert found is not None
    assert "Frankreich" in found[1]


def test_eu_eea_countries() -> None:
    assert len(rules.EU_EEA_COUNTRIES) == 30  # 27 member states, Iceland, Liechtenstein, Norway
    assert {"DE", "FR", "AT", "GR", "IS", "LI", "NO"} <= rules.EU_EEA_COUNTRIES
    assert not {"CH", "GB", "EL", "UK"} & rules.EU_EEA_COUNTRIES
    assert rules.EU_EEA_COUNTRIES <= phonenumbers.SUPPORTED_REGIONS


@pytest.mark.parametrize(("country", "added"), [("DE", set()), ("FR", set()), ("CH", {"CH"})])
def test_default_destination_countries(country: str, added: set[str]) -> None:
    countries = rules.default_destination_countries(country)
    assert countries == sorted(rules.EU_EEA_COUNTRIES | added)
    assert len(countries) == len(set(countries))


def test_country_names() -> None:
    assert rules.country_name("DE") == "Germany"
    assert rules.country_name("JP") == "JP"
    with translation.override("fr"):
        assert rules.country_name("DE") == "Allemagne"
    for code in rules.EU_EEA_COUNTRIES | {"CH", "GB", "US"}:
        assert rules.country_name(code) != code, code


# --- data ----------------------------------------------------------------------------------


def test_supported_countries() -> None:
    assert [(code, str(name)) for code, name in rules.SUPPORTED_COUNTRIES] == [
        ("DE", "Germany"),
        ("FR", "France"),
    ]


def test_unknown_country_is_value_error() -> None:
    with pytest.raises(ValueError, match="XX"):
        rules.rules_for("XX")
    with pytest.raises(ValueError):
        rules.check_caller_id("XX", "030 123456")


def test_rules_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.COUNTRY_RULES["DE"].law = "none"  # type: ignore[misc]
