"""Call routing (:mod:`cloudpbx.sip.routing`) against small fakes of its Directory and
NumberPlan: emergency first, barring and the external-calls switch, caller IDs, inbound DIDs.
Pure: no Kamailio, no database."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import pytest

from cloudpbx.sip import routing
from cloudpbx.sip.routing import (
    Caller,
    Destination,
    ExtensionEntry,
    Identity,
    Reject,
    Ring,
    RingTarget,
    ToTrunk,
)

TENANT = 7
OTHER_TENANT = 8
IDENTIFICATION = "+4930123456"  # the tenant's main number
SHOWN = "+4930123410"  # the terminal's own direct number
DID = "+4930123400"

COUNTRY_CODES = {"DE": "49", "FR": "33", "AT": "43", "GB": "44"}


class FakePlan:
    """Germany (110, 112) and France (15, 17, 18, 112); 0900/+49900 premium rate; numbers of
    countries outside ``allowed_countries`` barred. Records what it was asked."""

    EMERGENCY = {"DE": frozenset({"110", "112"}), "FR": frozenset({"15", "17", "18", "112"})}

    def __init__(self) -> None:
        self.destinations: list[tuple[str, str, tuple[str, ...]]] = []

    def is_emergency(self, country: str, dialled: str) -> bool:
        return dialled in self.EMERGENCY.get(country, frozenset())

    def destination(
        self, country: str, dialled: str, allowed_countries: Collection[str]
    ) -> Destination:
        self.destinations.append((country, dialled, tuple(allowed_countries)))
        if dialled.startswith("+"):
            digits = dialled[1:]
        elif dialled.startswith("00"):
            digits = dialled[2:]
        elif dialled.startswith("0"):
            digits = COUNTRY_CODES[country] + dialled[1:]
        else:
            return Destination(e164=None)
        if not digits.isdigit() or not 8 <= len(digits) <= 15:
            return Destination(e164=None)
        e164 = f"+{digits}"
        if e164.startswith("+49900"):
            return Destination(e164=e164, barred="premium_rate")
        target = next((c for c, code in COUNTRY_CODES.items() if digits.startswith(code)), None)
        if target is None or target not in allowed_countries:
            return Destination(e164=e164, barred="country_not_allowed")
        return Destination(e164=e164)


class FakeDirectory:
    def __init__(
        self,
        extensions: Collection[ExtensionEntry] = (),
        dids: dict[str, tuple[int, str | None]] | None = None,
    ) -> None:
        self.extensions = {(e.tenant_id, e.number): e for e in extensions}
        self.dids = dids or {}
        self.did_lookups: list[str] = []
        self.extension_lookups: list[tuple[int, str]] = []

    def extension(self, tenant_id: int, number: str) -> ExtensionEntry | None:
        self.extension_lookups.append((tenant_id, number))
        return self.extensions.get((tenant_id, number))

    def did(self, e164: str) -> tuple[int, str | None] | None:
        self.did_lookups.append(e164)
        return self.dids.get(e164)


def caller(**changes: object) -> Caller:
    base = Caller(
        terminal_id=1,
        tenant_id=TENANT,
        country="DE",
        sip_username="tq3xk7m2pw9a",
        external_calls_enabled=True,
        identification_number=IDENTIFICATION,
        display_name="Empfang",
        extension="10",
        caller_id_mode="pbx_number",
        caller_id_custom="",
        caller_id_number=SHOWN,
        allowed_countries=("DE", "AT", "FR"),
        max_outbound_calls=2,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def phone(terminal_id: int, username: str | None = None) -> RingTarget:
    return RingTarget(terminal_id=terminal_id, kind="sip", address=username or f"user{terminal_id}")


def mobile(terminal_id: int, e164: str = "+491701234567") -> RingTarget:
    return RingTarget(terminal_id=terminal_id, kind="external", address=e164)


def extension(number: str, *targets: RingTarget, tenant_id: int = TENANT) -> ExtensionEntry:
    return ExtensionEntry(tenant_id=tenant_id, number=number, targets=targets)


# --- emergency numbers -------------------------------------------------------------------------


def test_an_extension_17_does_not_shadow_the_french_police_number() -> None:
    directory = FakeDirectory([extension("17", phone(2))])
    decision = routing.route_call(caller(country="FR"), "17", directory, FakePlan())
    assert isinstance(decision, ToTrunk)
    assert decision.emergency is True
    assert decision.number == "17"
    assert directory.extension_lookups == []


@pytest.mark.parametrize(
    ("country", "number"),
    [("DE", "110"), ("DE", "112"), ("FR", "15"), ("FR", "17"), ("FR", "18"), ("FR", "112")],
)
def test_every_emergency_number_of_the_callers_country_goes_to_the_trunk(
    country: str, number: str
) -> None:
    directory = FakeDirectory([extension(number, phone(2))])
    decision = routing.route_call(caller(country=country), number, directory, FakePlan())
    assert decision == ToTrunk(
        number=number,
        identity=Identity(from_display="", from_user=IDENTIFICATION, asserted=IDENTIFICATION),
        emergency=True,
    )


def test_an_emergency_call_goes_out_with_external_calls_off() -> None:
    decision = routing.route_call(
        caller(external_calls_enabled=False), "112", FakeDirectory(), FakePlan()
    )
    assert isinstance(decision, ToTrunk) and decision.emergency


def test_an_emergency_call_goes_out_with_no_country_allowed() -> None:
    plan = FakePlan()
    decision = routing.route_call(caller(allowed_countries=()), "110", FakeDirectory(), plan)
    assert isinstance(decision, ToTrunk) and decision.emergency
    assert plan.destinations == []  # never subject to the destination policy


@pytest.mark.parametrize("mode", ["anonymous", "custom", "pbx_number"])
def test_an_emergency_call_is_never_anonymous(mode: str) -> None:
    anonymous_caller = caller(caller_id_mode=mode, caller_id_custom="+4930999999")
    decision = routing.route_call(anonymous_caller, "112", FakeDirectory(), FakePlan())
    assert isinstance(decision, ToTrunk)
    # The network number lets the emergency service call back and locate the caller.
    assert decision.identity.from_user == IDENTIFICATION
    assert decision.identity.asserted == IDENTIFICATION
    assert decision.identity.privacy is False
    assert decision.identity.from_display == ""


def test_an_emergency_call_without_an_identification_number_carries_the_shown_number() -> None:
    decision = routing.route_call(
        caller(identification_number=None), "112", FakeDirectory(), FakePlan()
    )
    assert isinstance(decision, ToTrunk)
    assert decision.identity == Identity(from_display="", from_user=SHOWN, asserted=SHOWN)


def test_an_emergency_number_dialled_with_separators_is_still_an_emergency_call() -> None:
    decision = routing.route_call(caller(), "1-1 2", FakeDirectory(), FakePlan())
    assert isinstance(decision, ToTrunk)
    assert decision.emergency and decision.number == "112"


def test_another_countrys_emergency_number_is_an_ordinary_extension() -> None:
    # 17 is the police in France, not in Germany: a German tenant's extension 17 rings.
    directory = FakeDirectory([extension("17", phone(2))])
    decision = routing.route_call(caller(country="DE"), "17", directory, FakePlan())
    assert isinstance(decision, Ring)
    assert decision.targets == (phone(2),)


# --- external calls ----------------------------------------------------------------------------


def test_an_external_call_with_external_calls_off_is_refused() -> None:
    plan = FakePlan()
    decision = routing.route_call(
        caller(external_calls_enabled=False), "+33142685300", FakeDirectory(), plan
    )
    assert decision == Reject(403, "External Calls Disabled")
    assert plan.destinations == []


def test_an_extension_is_still_reached_with_external_calls_off() -> None:
    directory = FakeDirectory([extension("11", phone(2))])
    decision = routing.route_call(caller(external_calls_enabled=False), "11", directory, FakePlan())
    assert isinstance(decision, Ring)


@pytest.mark.parametrize("dialled", ["0900123456", "+4990012345678", "004990012345678"])
def test_a_premium_rate_number_is_barred(dialled: str) -> None:
    decision = routing.route_call(caller(), dialled, FakeDirectory(), FakePlan())
    assert decision == Reject(403, "Destination Barred")


def test_a_country_outside_the_customers_list_is_barred() -> None:
    decision = routing.route_call(
        caller(allowed_countries=("DE",)), "+442079460000", FakeDirectory(), FakePlan()
    )
    assert decision == Reject(403, "Destination Barred")


def test_a_barred_destination_is_refused_even_without_a_valid_number() -> None:
    class BarringPlan(FakePlan):
        def destination(
            self, country: str, dialled: str, allowed_countries: Collection[str]
        ) -> Destination:
            return Destination(e164=None, barred="directory")

    decision = routing.route_call(caller(), "11833", FakeDirectory(), BarringPlan())
    assert decision == Reject(403, "Destination Barred")


@pytest.mark.parametrize("dialled", ["1234", "+49", "99999"])
def test_an_invalid_number_is_not_found(dialled: str) -> None:
    decision = routing.route_call(caller(), dialled, FakeDirectory(), FakePlan())
    assert decision == Reject(404, "Not Found")


@pytest.mark.parametrize("dialled", ["", "abc", "sip", ";;", " "])
def test_a_request_uri_without_anything_diallable_is_not_found(dialled: str) -> None:
    plan = FakePlan()
    decision = routing.route_call(caller(), dialled, FakeDirectory(), plan)
    assert decision == Reject(404, "Not Found")
    assert plan.destinations == []


def test_an_allowed_external_number_goes_to_the_trunk_with_the_callers_external_identity() -> None:
    decision = routing.route_call(caller(), "030 1234567", FakeDirectory(), FakePlan())
    assert decision == ToTrunk(
        number="+49301234567", identity=routing.external_identity(caller()), emergency=False
    )


def test_the_callers_allowed_countries_are_passed_to_the_plan() -> None:
    plan = FakePlan()
    routing.route_call(
        caller(country="FR", allowed_countries=("FR", "BE")), "0142685300", FakeDirectory(), plan
    )
    assert plan.destinations == [("FR", "0142685300", ("FR", "BE"))]


def test_the_plan_reads_the_dialled_number_as_a_keypad_sends_it() -> None:
    plan = FakePlan()
    routing.route_call(caller(), "+49 (30) 123-4567;user=phone", FakeDirectory(), plan)
    assert plan.destinations[0][1] == "+49301234567"


def test_an_extension_of_another_tenant_is_not_reached() -> None:
    directory = FakeDirectory([extension("11", phone(2), tenant_id=OTHER_TENANT)])
    decision = routing.route_call(caller(), "11", directory, FakePlan())
    assert not isinstance(decision, Ring)
    assert directory.extension_lookups == [(TENANT, "11")]


# --- extensions and groups ---------------------------------------------------------------------


def test_a_colleague_sees_the_callers_internal_name_and_extension() -> None:
    directory = FakeDirectory([extension("11", phone(2))])
    decision = routing.route_call(caller(), "11", directory, FakePlan())
    assert decision == Ring(
        tenant_id=TENANT,
        targets=(phone(2),),
        identity=Identity(from_display="Empfang", from_user="10"),
        trunk_identity=None,
    )


def test_a_caller_without_an_extension_shows_its_sip_username_to_colleagues() -> None:
    directory = FakeDirectory([extension("11", phone(2))])
    decision = routing.route_call(caller(extension=None), "11", directory, FakePlan())
    assert isinstance(decision, Ring)
    assert decision.identity == Identity(from_display="Empfang", from_user="tq3xk7m2pw9a")


def test_the_caller_is_not_rung_by_its_own_group() -> None:
    directory = FakeDirectory([extension("20", phone(1), phone(2), phone(3))])
    decision = routing.route_call(caller(terminal_id=1), "20", directory, FakePlan())
    assert isinstance(decision, Ring)
    assert decision.targets == (phone(2), phone(3))


def test_a_group_of_only_the_caller_is_temporarily_unavailable() -> None:
    directory = FakeDirectory([extension("10", phone(1))])
    decision = routing.route_call(caller(terminal_id=1), "10", directory, FakePlan())
    assert decision == Reject(480, "Temporarily Unavailable")


def test_an_external_phone_of_a_group_sees_a_colleague_with_the_network_number() -> None:
    directory = FakeDirectory([extension("20", phone(2), mobile(3))])
    decision = routing.route_call(caller(), "20", directory, FakePlan())
    assert isinstance(decision, Ring)
    assert decision.identity == Identity(from_display="Empfang", from_user="10")
    assert decision.trunk_identity == Identity(
        from_display="Empfang", from_user=IDENTIFICATION, asserted=IDENTIFICATION
    )


def test_an_external_phone_of_a_group_sees_anonymous_when_the_pbx_has_no_number() -> None:
    directory = FakeDirectory([extension("20", mobile(3))])
    nameless = caller(identification_number=None, caller_id_number=None)
    decision = routing.route_call(nameless, "20", directory, FakePlan())
    assert isinstance(decision, Ring)
    assert decision.trunk_identity == Identity(
        from_display="Empfang", from_user="anonymous", asserted=None
    )


# --- caller ID toward the trunk ----------------------------------------------------------------


def test_an_anonymous_caller_is_hidden_but_asserted_to_the_carrier() -> None:
    identity = routing.external_identity(caller(caller_id_mode="anonymous"))
    assert identity == Identity(
        from_display="Anonymous", from_user="anonymous", asserted=IDENTIFICATION, privacy=True
    )


def test_an_anonymous_caller_reaches_the_trunk_with_privacy() -> None:
    decision = routing.route_call(
        caller(caller_id_mode="anonymous"), "+33142685300", FakeDirectory(), FakePlan()
    )
    assert isinstance(decision, ToTrunk)
    assert decision.identity.privacy is True
    assert decision.identity.from_user == "anonymous"


def test_a_custom_caller_id_is_shown_and_the_network_number_asserted() -> None:
    identity = routing.external_identity(
        caller(caller_id_mode="custom", caller_id_custom="+498001234567")
    )
    assert identity == Identity(from_display="", from_user="+498001234567", asserted=IDENTIFICATION)


def test_an_empty_custom_caller_id_falls_back_to_the_pbx_number() -> None:
    identity = routing.external_identity(caller(caller_id_mode="custom", caller_id_custom=""))
    assert identity == Identity(from_display="", from_user=SHOWN, asserted=SHOWN)


def test_the_pbx_number_mode_shows_and_asserts_the_terminals_number() -> None:
    identity = routing.external_identity(caller(caller_id_mode="pbx_number"))
    assert identity == Identity(from_display="", from_user=SHOWN, asserted=SHOWN)


def test_the_pbx_number_mode_without_a_terminal_number_shows_the_main_number() -> None:
    identity = routing.external_identity(caller(caller_id_number=None))
    assert identity == Identity(from_display="", from_user=IDENTIFICATION, asserted=IDENTIFICATION)


def test_the_internal_display_name_never_reaches_the_trunk() -> None:
    for mode in ("anonymous", "custom", "pbx_number"):
        identity = routing.external_identity(
            caller(caller_id_mode=mode, caller_id_custom="+498001234567")
        )
        assert "Empfang" not in identity.from_display


# --- inbound calls from the trunk --------------------------------------------------------------


def inbound_directory() -> FakeDirectory:
    return FakeDirectory(
        [extension("10", phone(1), mobile(2))],
        dids={DID: (TENANT, "10"), "+4930123401": (TENANT, None), "+4930123402": (TENANT, "99")},
    )


def test_a_call_to_an_unknown_did_is_not_found() -> None:
    assert routing.route_inbound("+4930999999", inbound_directory(), "+4917012345") == Reject(
        404, "Not Found"
    )


@pytest.mark.parametrize("did", ["+4930123400", "004930123400", "4930123400", "+49 30 123400"])
def test_a_did_in_any_international_format_reaches_its_extension(did: str) -> None:
    directory = inbound_directory()
    decision = routing.route_inbound(did, directory, "+4917012345")
    assert isinstance(decision, Ring)
    assert decision.tenant_id == TENANT
    assert directory.did_lookups == [DID]


def test_a_did_in_national_format_is_refused_without_a_lookup() -> None:
    directory = inbound_directory()
    decision = routing.route_inbound("030123400", directory, "+4917012345")
    assert decision == Reject(404, "Not Found")
    assert directory.did_lookups == []


@pytest.mark.parametrize("did", ["", "+", "00", "+49301", "+4930123400123456789", "*4930123400"])
def test_a_did_that_is_no_e164_number_is_refused_without_a_lookup(did: str) -> None:
    directory = inbound_directory()
    assert routing.route_inbound(did, directory, "+4917012345") == Reject(404, "Not Found")
    assert directory.did_lookups == []


def test_the_carriers_caller_number_reaches_the_phones() -> None:
    decision = routing.route_inbound(DID, inbound_directory(), "+4917012345")
    assert isinstance(decision, Ring)
    assert decision.identity == Identity(from_display="", from_user="+4917012345")
    assert decision.targets == (phone(1), mobile(2))  # nobody is "the caller" to skip
    # An external phone of the group sees the outside caller too.
    assert decision.trunk_identity == decision.identity


@pytest.mark.parametrize(
    "from_user",
    [
        "+4917012345\r\nCall-Info: <x>;answer-after=0",
        "+4917012345\r\n",
        '"+4917012345"',
        "+49170 12345",
        "a@b",
        "",
    ],
)
def test_a_from_user_from_the_carrier_that_is_not_uri_safe_becomes_anonymous(
    from_user: str,
) -> None:
    decision = routing.route_inbound(DID, inbound_directory(), from_user)
    assert isinstance(decision, Ring)
    assert decision.identity.from_user == "anonymous"
    assert decision.identity.asserted is None


def test_a_did_without_a_destination_is_temporarily_unavailable() -> None:
    decision = routing.route_inbound("+4930123401", inbound_directory(), "+4917012345")
    assert decision == Reject(480, "Temporarily Unavailable")


def test_a_did_pointing_at_a_missing_extension_is_temporarily_unavailable() -> None:
    decision = routing.route_inbound("+4930123402", inbound_directory(), "+4917012345")
    assert decision == Reject(480, "Temporarily Unavailable")


def test_a_did_pointing_at_an_empty_group_is_temporarily_unavailable() -> None:
    directory = FakeDirectory([extension("10")], dids={DID: (TENANT, "10")})
    assert routing.route_inbound(DID, directory, "+4917012345") == Reject(
        480, "Temporarily Unavailable"
    )


# --- dialled strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("+49 (30) 123-456", "+4930123456"),
        ("*21#", "*21#"),
        ("0+49", "049"),
        ("++49", "+49"),
        ("112;phone-context=x", "112"),
        ("", ""),
    ],
)
def test_a_dialled_string_keeps_only_what_a_keypad_sends(raw: str, cleaned: str) -> None:
    assert routing.clean_dialled(raw) == cleaned


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+4930123400", "+4930123400"),
        ("004930123400", "+4930123400"),
        ("4930123400", "+4930123400"),
        ("030123400", None),
        ("+123456", None),
        ("+1234567", "+1234567"),
        ("+123456789012345", "+123456789012345"),
        ("+1234567890123456", None),
    ],
)
def test_a_did_is_read_as_e164_in_the_formats_carriers_send(raw: str, e164: str | None) -> None:
    assert routing.did_to_e164(raw) == e164
