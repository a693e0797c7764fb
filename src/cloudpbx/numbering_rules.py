"""Caller-ID legality and dialling rules per country, kept as data (one ``CountryRules`` each).

The checks only walk these tables, so caller-ID screening, external destinations and call
barring cannot disagree. Sources: § 120 Abs. 2 TKG, old § 66k TKG, BNetzA (DE); CPCE L. 44 (FR).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, PhoneNumberType

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise as LazyStr


@dataclass(frozen=True)
class ShortNumber:
    """A number dialled without area code (110, 116xxx), matched on its exact length only:
    the network takes short numbers en bloc, so 1100 is not 110 and stays a usable extension."""

    prefix: str
    lengths: tuple[int, ...]
    code: str  # "emergency", "short_code" or "directory"
    label: str  # the range as customers know it, shown in the message

    def matches(self, digits: str) -> bool:
        return digits.startswith(self.prefix) and len(digits) in self.lengths


@dataclass(frozen=True)
class PrefixRule:
    """A refused block of the national plan, by national significant number (no trunk 0)."""

    prefix: str
    code: str
    reason: LazyStr  # formatted with %(number)s


@dataclass(frozen=True)
class TypeRule:
    """A refused phonenumbers number type; catches what the prefix tables do not list."""

    number_type: int
    code: str
    reason: LazyStr


@dataclass(frozen=True)
class CountryRules:
    code: str
    name: LazyStr
    regions: tuple[str, ...]  # numbering space; regions[0] is the main region
    law: str  # cited when a foreign caller ID is refused
    short_numbers: tuple[ShortNumber, ...]
    refused_prefixes: tuple[PrefixRule, ...]
    refused_types: tuple[TypeRule, ...]

    @property
    def calling_codes(self) -> frozenset[int]:
        return frozenset(phonenumbers.country_code_for_region(r) for r in self.regions)

    @property
    def emergency(self) -> frozenset[str]:
        return frozenset(s.prefix for s in self.short_numbers if s.code == "emergency")


def _exact(number: str, code: str) -> ShortNumber:
    return ShortNumber(number, (len(number),), code, number)


_SHORT_NUMBER_REASONS: Final[dict[str, LazyStr]] = {
    "emergency": _("%(number)s is an emergency number in %(country)s."),
    "short_code": _("%(number)s is a service number (%(range)s) in %(country)s."),
    "directory": _("%(number)s is a directory enquiry number (%(range)s) in %(country)s."),
}

# Refused for every number whatever its country: phonenumbers knows foreign plans we do not.
_REFUSED_TYPES: Final = (
    TypeRule(
        PhoneNumberType.PREMIUM_RATE, "premium_rate", _("%(number)s is a premium-rate number.")
    ),
    TypeRule(PhoneNumberType.SHARED_COST, "shared_cost", _("%(number)s is a shared-cost number.")),
)

_DE_MASS_TRAFFIC = _("%(number)s is a mass-traffic number (0137/0138).")
_DE_CUG = _("%(number)s is a closed-user-group number (0181-0189).")
_FR_SURCHARGED = _("%(number)s is a surcharged value-added number (081x/082x).")

COUNTRY_RULES: Final[dict[str, CountryRules]] = {
    "DE": CountryRules(
        code="DE",
        name=_("Germany"),
        regions=("DE",),
        law="§ 120 Abs. 2 TKG",
        short_numbers=(
            _exact("110", "emergency"),
            _exact("112", "emergency"),
            _exact("115", "short_code"),  # Behördennummer
            ShortNumber("116", (6,), "short_code", "116xxx"),  # EU social-value numbers
            ShortNumber("118", (3, 5), "directory", "118xy"),
            ShortNumber("1180", (6,), "directory", "1180xy"),  # 118xy with x = 0 has 6 digits
        ),
        # Longest prefix wins, so 09009 reports the dialer rule rather than plain 0900.
        refused_prefixes=(
            PrefixRule("900", "premium_rate", _("%(number)s is a premium-rate number (0900).")),
            PrefixRule("9009", "premium_rate", _("%(number)s is a premium dialer number (09009).")),
            PrefixRule("137", "mass_traffic", _DE_MASS_TRAFFIC),
            PrefixRule("138", "mass_traffic", _DE_MASS_TRAFFIC),
            PrefixRule("180", "shared_cost", _("%(number)s is a shared-cost number (0180).")),
            *(PrefixRule(f"18{d}", "closed_user_group", _DE_CUG) for d in "123456789"),
            # Old § 66k TKG banned "neuartige Dienste" as caller ID; the block is dormant.
            PrefixRule(
                "12", "innovative_service", _("%(number)s is an innovative-service number (012).")
            ),
            PrefixRule(
                "10", "carrier_selection", _("%(number)s begins with carrier selection (010).")
            ),
            # No German area code starts with 1, so any length after 118 is a directory service.
            PrefixRule("118", "directory", _("%(number)s is a directory enquiry number (118).")),
        ),
        refused_types=_REFUSED_TYPES,
    ),
    "FR": CountryRules(
        code="FR",
        name=_("France"),
        # Overseas departments and collectivities share the French plan but not +33.
        regions=("FR", "GP", "GF", "MQ", "RE", "YT", "PM", "BL", "MF"),
        law="art. L. 44 CPCE",
        short_numbers=(
            *(_exact(n, "emergency") for n in ("15", "17", "18", "112")),
            # 114 (deaf), 115 (SAMU social), 119 (child abuse), 191/196 (air/sea rescue)
            *(_exact(n, "emergency") for n in ("114", "115", "119", "191", "196")),
            ShortNumber("116", (6,), "short_code", "116xxx"),
            ShortNumber("118", (6,), "directory", "118xxx"),
            ShortNumber("10", (4,), "short_code", "10xx"),  # operator codes
            ShortNumber("3", (4,), "short_code", "3xxx"),  # 3000-3999 service codes
        ),
        # 01 is Paris, so 10xx/118xxx must stay exact-length short numbers, never prefixes here.
        refused_prefixes=(
            PrefixRule("89", "premium_rate", _("%(number)s is a premium-rate number (089x).")),
            PrefixRule("81", "premium_rate", _FR_SURCHARGED),
            PrefixRule("82", "premium_rate", _FR_SURCHARGED),
        ),
        refused_types=_REFUSED_TYPES,
    ),
}

SUPPORTED_COUNTRIES: Final[tuple[tuple[str, LazyStr], ...]] = tuple(
    (code, rules.name) for code, rules in COUNTRY_RULES.items()
)

# Which country's tables describe a number, by its calling code (overseas codes have none).
_RULES_BY_CALLING_CODE: Final[dict[int, CountryRules]] = {
    phonenumbers.country_code_for_region(r.regions[0]): r for r in COUNTRY_RULES.values()
}

# Classes routing refuses to dial; emergency numbers are deliberately absent (always to trunk).
BARRED_CODES: Final = frozenset(
    {"premium_rate", "mass_traffic", "directory", "shared_cost", "carrier_selection"}
)

# --- destination policy: which countries and ranges external calls may reach ---------------

# ISO 3166 alpha-2. With its own country, a customer's default reach (the operator widens or
# narrows it per customer).
EU_EEA_COUNTRIES: Final = frozenset(
    {
        # EU member states
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
        *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
        # the rest of the EEA
        *("IS", "LI", "NO"),
    }
)

# Parts of a country that phonenumbers files under a region of their own: a customer allowed
# to call the country may call them (a French customer dials Réunion as a national number).
_PART_OF_COUNTRY: Final[dict[str, str]] = {
    **{region: "FR" for region in COUNTRY_RULES["FR"].regions[1:]},
    "AX": "FI",  # Åland, +358 18
    "SJ": "NO",  # Svalbard and Jan Mayen, +47 79
}

# Shown to customers; phonenumbers has no names. Covers the default lists and the usual
# additions; any other code is shown as it is.
_COUNTRY_NAMES: Final[dict[str, LazyStr]] = {
    "AT": _("Austria"),
    "BE": _("Belgium"),
    "BG": _("Bulgaria"),
    "CH": _("Switzerland"),
    "CY": _("Cyprus"),
    "CZ": _("Czechia"),
    "DE": _("Germany"),
    "DK": _("Denmark"),
    "EE": _("Estonia"),
    "ES": _("Spain"),
    "FI": _("Finland"),
    "FR": _("France"),
    "GB": _("United Kingdom"),
    "GR": _("Greece"),
    "HR": _("Croatia"),
    "HU": _("Hungary"),
    "IE": _("Ireland"),
    "IS": _("Iceland"),
    "IT": _("Italy"),
    "LI": _("Liechtenstein"),
    "LT": _("Lithuania"),
    "LU": _("Luxembourg"),
    "LV": _("Latvia"),
    "MT": _("Malta"),
    "NL": _("Netherlands"),
    "NO": _("Norway"),
    "PL": _("Poland"),
    "PT": _("Portugal"),
    "RO": _("Romania"),
    "SE": _("Sweden"),
    "SI": _("Slovenia"),
    "SK": _("Slovakia"),
    "US": _("United States"),
}


@dataclass(frozen=True)
class PlatformBar:
    """A range no customer may dial, whatever its allowed countries, by E.164 prefix."""

    range: str  # as people write it, "+44 70"; its digits are the prefix
    code: str
    reason: LazyStr  # formatted with %(number)s and %(range)s

    @property
    def prefix(self) -> str:
        return "".join(c for c in self.range if c.isdigit())


_SATELLITE = _("%(number)s is a satellite phone number (%(range)s).")
_INTERNATIONAL_NETWORK = _("%(number)s belongs to an international network (%(range)s).")
_PERSONAL_NUMBER = _("%(number)s is a personal number (%(range)s), a range abused for toll fraud.")
_HIGH_RISK = _("%(number)s is in a destination known for toll fraud (%(range)s).")

# Barred for every customer: the ranges international revenue-share fraud pays out on, at
# rates of several euros a minute. Checked before the allowed countries, so allowing a
# country never opens them.
PLATFORM_BARS: Final = (
    PlatformBar("+870", "satellite", _SATELLITE),  # Inmarsat
    PlatformBar("+881", "satellite", _SATELLITE),  # GMSS: Iridium, Globalstar, Thuraya…
    PlatformBar("+882", "international_network", _INTERNATIONAL_NETWORK),
    PlatformBar("+883", "international_network", _INTERNATIONAL_NETWORK),
    PlatformBar("+44 70", "personal_number", _PERSONAL_NUMBER),  # United Kingdom
    PlatformBar("+49 700", "personal_number", _PERSONAL_NUMBER),  # Germany
    PlatformBar("+53", "high_risk", _HIGH_RISK),  # Cuba
    PlatformBar("+224", "high_risk", _HIGH_RISK),  # Guinea
    PlatformBar("+231", "high_risk", _HIGH_RISK),  # Liberia
    PlatformBar("+232", "high_risk", _HIGH_RISK),  # Sierra Leone
    PlatformBar("+239", "high_risk", _HIGH_RISK),  # São Tomé and Príncipe
    PlatformBar("+247", "high_risk", _HIGH_RISK),  # Ascension
    PlatformBar("+252", "high_risk", _HIGH_RISK),  # Somalia
    PlatformBar("+290", "high_risk", _HIGH_RISK),  # St Helena, Tristan da Cunha
    PlatformBar("+675", "high_risk", _HIGH_RISK),  # Papua New Guinea
    PlatformBar("+677", "high_risk", _HIGH_RISK),  # Solomon Islands
    PlatformBar("+678", "high_risk", _HIGH_RISK),  # Vanuatu
    PlatformBar("+682", "high_risk", _HIGH_RISK),  # Cook Islands
    PlatformBar("+683", "high_risk", _HIGH_RISK),  # Niue
    PlatformBar("+686", "high_risk", _HIGH_RISK),  # Kiribati
    PlatformBar("+688", "high_risk", _HIGH_RISK),  # Tuvalu
    PlatformBar("+690", "high_risk", _HIGH_RISK),  # Tokelau
    PlatformBar("+691", "high_risk", _HIGH_RISK),  # Micronesia
)

_NOT_ALLOWED = _("%(number)s is in %(country)s, which this customer may not call.")
_NO_COUNTRY = _("%(number)s is not in any country this customer may call.")

_SEPARATORS: Final = re.compile(r"[\s\-./()]")
_SUBSCRIBER_TYPES: Final = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
    }
)


@dataclass(frozen=True)
class _Refusal:
    code: str
    message: LazyStr
    params: Mapping[str, object]

    def error(self) -> ValidationError:
        return ValidationError(self.message, code=self.code, params=dict(self.params))

    def text(self) -> str:
        return str(self.message % self.params)


def rules_for(country: str) -> CountryRules:
    rules = COUNTRY_RULES.get(country)
    if rules is None:
        raise ValueError(f"Unsupported country: {country!r}")
    return rules


def emergency_numbers(country: str) -> frozenset[str]:
    return rules_for(country).emergency


def is_emergency_number(country: str, dialled: str) -> bool:
    """Exact digits as a phone sends them ("112", "1 12"); "+49112" is not a dialled short code."""
    return _SEPARATORS.sub("", dialled) in emergency_numbers(country)


def _short_refusal(rules: CountryRules, digits: str) -> _Refusal | None:
    for short in rules.short_numbers:
        if short.matches(digits):
            params = {"number": digits, "country": rules.name, "range": short.label}
            return _Refusal(short.code, _SHORT_NUMBER_REASONS[short.code], params)
    return None


def reserved_short_number_reason(country: str, digits: str) -> str | None:
    refusal = _short_refusal(rules_for(country), _SEPARATORS.sub("", digits))
    return refusal.text() if refusal else None


def _display(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def _invalid(rules: CountryRules) -> ValidationError:
    example = phonenumbers.example_number(rules.regions[0])
    return ValidationError(
        _("Enter a valid phone number, e.g. %(example)s."),
        code="invalid",
        params={"example": _display(example) if example else "+"},
    )


def _parse(rules: CountryRules, raw: str) -> PhoneNumber:
    try:
        number = phonenumbers.parse(raw.strip(), rules.regions[0], keep_raw_input=True)
    except NumberParseException:
        raise _invalid(rules) from None
    if number.extension:  # "ext. 12" cannot be shown or dialled as E.164
        raise _invalid(rules)
    national = phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY
    nsn = phonenumbers.national_significant_number(number)
    if number.country_code_source == national and not nsn.startswith("8"):
        # French national input "0262 …" is Réunion (+262), not +33 262. phonenumbers also
        # files the nationwide 08 numbers under +590/+262 (0806 → +590 806 …), hence the "8".
        for region in rules.regions[1:]:
            try:
                overseas = phonenumbers.parse(raw.strip(), region)
            except NumberParseException:
                continue
            if phonenumbers.number_type(overseas) in _SUBSCRIBER_TYPES:
                return overseas
    return number


def _nsn_short_refusal(number: PhoneNumber) -> _Refusal | None:
    owner = _RULES_BY_CALLING_CODE.get(number.country_code or 0)
    if owner is None:
        return None
    return _short_refusal(owner, phonenumbers.national_significant_number(number))


def _prefix_refusal(number: PhoneNumber, codes: frozenset[str] | None) -> _Refusal | None:
    # Works on invalid numbers too: phonenumbers rejects e.g. 0138 or 010 outright, and the
    # customer must still learn which rule applies rather than "invalid".
    owner = _RULES_BY_CALLING_CODE.get(number.country_code or 0)
    if owner is None:
        return None
    nsn = phonenumbers.national_significant_number(number)
    matches = [p for p in owner.refused_prefixes if nsn.startswith(p.prefix)]
    matches = [p for p in matches if codes is None or p.code in codes]
    if not matches:
        return None
    rule = max(matches, key=lambda p: len(p.prefix))
    return _Refusal(rule.code, rule.reason, {"number": _display(number)})


def _type_refusal(rules: CountryRules, number: PhoneNumber) -> _Refusal | None:
    kind = phonenumbers.number_type(number)
    for rule in rules.refused_types:
        if rule.number_type == kind:
            return _Refusal(rule.code, rule.reason, {"number": _display(number)})
    return None


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _screen(rules: CountryRules, number: PhoneNumber, codes: frozenset[str] | None) -> str:
    """Tables before validity: they explain numbers phonenumbers merely calls invalid."""
    refusal = _nsn_short_refusal(number) or _prefix_refusal(number, codes)
    if refusal:
        raise refusal.error()
    if not phonenumbers.is_valid_number(number):
        raise _invalid(rules)
    refusal = _type_refusal(rules, number)
    if refusal:
        raise refusal.error()
    return _e164(number)


def normalise(country: str, raw: str) -> str:
    """Any usual notation to E.164; short numbers are refused with their specific rule."""
    rules = rules_for(country)
    number = _parse(rules, raw)
    refusal = _nsn_short_refusal(number)
    if refusal:
        raise refusal.error()
    if not phonenumbers.is_valid_number(number):
        raise _invalid(rules)
    return _e164(number)


def check_caller_id(country: str, raw: str) -> str:
    """A custom number shown on external calls, as E.164, or the rule that forbids it."""
    rules = rules_for(country)
    number = _parse(rules, raw)
    if number.country_code not in rules.calling_codes:
        raise ValidationError(
            _(
                "%(number)s is outside the numbering space of %(country)s; only numbers of "
                "%(country)s may be shown as caller ID (%(law)s)."
            ),
            code="foreign",
            params={"number": _display(number), "country": rules.name, "law": rules.law},
        )
    return _screen(rules, number, codes=None)


def check_external_destination(country: str, raw: str, allowed_countries: Collection[str]) -> str:
    """A number an external terminal rings: in one of the customer's allowed countries, of no
    barred class and in no platform-barred range.

    Refuses everything routing would bar as well, so a forward cannot fail at call time (nor
    an external phone open a destination the customer may not dial).
    """
    rules = rules_for(country)
    number = _parse(rules, raw)
    e164 = _screen(rules, number, codes=BARRED_CODES)
    refusal = _policy_refusal(number, allowed_countries)
    if refusal:
        raise refusal.error()
    return e164


def _parse_e164(e164: str) -> PhoneNumber:
    try:
        return phonenumbers.parse(e164, None)
    except NumberParseException as error:
        # Failing open would let a malformed premium number through: make it loud.
        raise ValueError(f"Not an E.164 number: {e164!r}") from error


def barred_destination(country: str, e164: str) -> tuple[str, str] | None:
    """(code, translated reason) of the barred class of an already-normalised destination."""
    rules = rules_for(country)
    number = _parse_e164(e164)
    # number_type() is UNKNOWN for invalid numbers, so the type check needs no validity guard.
    checks = (_nsn_short_refusal(number), _prefix_refusal(number, BARRED_CODES))
    for refusal in (*checks, _type_refusal(rules, number)):
        if refusal and refusal.code in BARRED_CODES:
            return refusal.code, refusal.text()
    return None


def barred_destination_reason(country: str, e164: str) -> str | None:
    """Why routing must not dial an already-normalised destination, or None."""
    refusal = barred_destination(country, e164)
    return refusal[1] if refusal else None


def default_destination_countries(country: str) -> list[str]:
    """Where a new customer of ``country`` may call: its own country and the EU/EEA."""
    return sorted(EU_EEA_COUNTRIES | {country})


def country_name(code: str) -> str:
    """The translated name of an ISO 3166 alpha-2 code; the code itself when none is known."""
    name = _COUNTRY_NAMES.get(code)
    return str(name) if name is not None else code


def _policy_refusal(number: PhoneNumber, allowed_countries: Collection[str]) -> _Refusal | None:
    digits = _e164(number)[1:]
    bars = [bar for bar in PLATFORM_BARS if digits.startswith(bar.prefix)]
    if bars:
        bar = max(bars, key=lambda b: len(b.prefix))
        return _Refusal(bar.code, bar.reason, {"number": _display(number), "range": bar.range})
    # None for an invalid number of a shared calling code (+1, +44): no country, so refused.
    region = phonenumbers.region_code_for_number(number)
    country = _PART_OF_COUNTRY.get(region, region) if region else None
    if region in allowed_countries or country in allowed_countries:
        return None
    if country is None or country == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return _Refusal("country_not_allowed", _NO_COUNTRY, {"number": _display(number)})
    name = _COUNTRY_NAMES.get(country, country)
    params = {"number": _display(number), "country": name}
    return _Refusal("country_not_allowed", _NOT_ALLOWED, params)


def destination_refusal(e164: str, allowed_countries: Collection[str]) -> tuple[str, str] | None:
    """(code, translated reason) when routing must not dial ``e164`` for a customer who may
    call ``allowed_countries`` (ISO 3166 alpha-2), else None.

    The platform bar comes first ("satellite", "international_network", "personal_number",
    "high_risk"), whatever the list; then "country_not_allowed". Numbers of no country
    (region "001") are never in a list. Barred classes of a national plan (premium rate…) are
    :func:`barred_destination`'s.
    """
    refusal = _policy_refusal(_parse_e164(e164), allowed_countries)
    return (refusal.code, refusal.text()) if refusal else None
