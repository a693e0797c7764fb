"""The SIP edge's security rules (:mod:`cloudpbx.sip.edge`), one test per attack or rule of
issue 10. Pure: no Kamailio, no database, no network."""

from __future__ import annotations

import ipaddress

import pytest

from cloudpbx.sip import edge
from cloudpbx.sip.edge import (
    AUTH_INVALID_PASSWORD,
    AUTH_OK,
    AuthVerdict,
    Hosts,
    InDialog,
    Refuse,
    Relay,
    UriHost,
)

# Return codes of Kamailio's pv_auth_check (auth/api.h) other than OK and INVALID_PASSWORD.
AUTH_ERROR = -1
AUTH_USER_UNKNOWN = -3
AUTH_STALE_NONCE = -4
AUTH_NO_CREDENTIALS = -5
AUTH_NONCE_REUSED = -6
AUTH_USER_MISMATCH = -8
AUTH_DROP = 0
ALL_AUTH_RESULTS = (
    AUTH_OK,
    AUTH_DROP,
    AUTH_ERROR,
    AUTH_INVALID_PASSWORD,
    AUTH_USER_UNKNOWN,
    AUTH_STALE_NONCE,
    AUTH_NO_CREDENTIALS,
    AUTH_NONCE_REUSED,
    AUTH_USER_MISMATCH,
)

PBX_DOMAIN = "pbx.example.net"
PBX_ADDRESS = "203.0.113.5"
GATEWAY = "gw.carrier.example"
HOSTS = Hosts(
    own=frozenset({(PBX_DOMAIN, 5060), (PBX_ADDRESS, 5060)}),
    trunk_endpoints=frozenset({(GATEWAY, 5060)}),
    trunk_networks=(
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8:c::/48"),
    ),
)
PREMIUM = "+4990012345678"


# --- screen_username ---------------------------------------------------------------------------


def test_a_plain_username_is_screened_through() -> None:
    assert edge.screen_username(b"tq3xk7m2pw9a") == "tq3xk7m2pw9a"


def test_an_empty_username_is_refused_before_counting() -> None:
    assert edge.screen_username(b"") is None


def test_a_username_of_64_bytes_is_an_account_name() -> None:
    assert edge.screen_username(b"a" * 64) == "a" * 64


def test_a_username_of_65_bytes_is_refused_before_it_becomes_an_htable_key() -> None:
    assert edge.screen_username(b"a" * 65) is None


def test_a_20_kb_username_is_refused_before_it_becomes_an_htable_key() -> None:
    assert edge.screen_username(b"x" * 20_000) is None


def test_the_username_limit_counts_bytes_not_characters() -> None:
    # "é" is two bytes in UTF-8: 32 of them fit, 33 do not.
    assert edge.screen_username(("é" * 32).encode()) == "é" * 32
    assert edge.screen_username(("é" * 33).encode()) is None


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"alice\xc3", b"\xc0\xafetc"])
def test_a_non_utf8_username_is_refused_instead_of_raising(raw: bytes) -> None:
    assert edge.screen_username(raw) is None


@pytest.mark.parametrize(
    "raw", [b"alice\x00", b"alice\r\nX-Evil: 1", b"ali\tce", b"alice\n", "al\u200bice".encode()]
)
def test_a_username_with_control_or_format_characters_is_refused(raw: bytes) -> None:
    assert edge.screen_username(raw) is None


@pytest.mark.parametrize("raw", [b'ali"ce', b"alice@evil", b"alice:pw", b"ali ce", b"ali\\ce"])
def test_a_username_with_quotes_at_colon_space_or_backslash_is_refused(raw: bytes) -> None:
    assert edge.screen_username(raw) is None


# --- judge_digest ------------------------------------------------------------------------------


def test_a_correct_answer_from_a_known_user_is_accepted_and_not_counted() -> None:
    verdict = edge.judge_digest(AUTH_OK, known=True, locked=False, emergency=False)
    assert verdict == AuthVerdict(accept=True, count_failure=False)


def test_a_correct_answer_while_locked_is_not_counted() -> None:
    verdict = edge.judge_digest(AUTH_OK, known=True, locked=True, emergency=False)
    assert verdict == AuthVerdict(accept=False, count_failure=False)


def test_a_locked_phone_dialling_an_emergency_number_is_accepted() -> None:
    verdict = edge.judge_digest(AUTH_OK, known=True, locked=True, emergency=True)
    assert verdict == AuthVerdict(accept=True, count_failure=False)


def test_an_emergency_call_with_a_wrong_password_is_not_accepted() -> None:
    verdict = edge.judge_digest(AUTH_INVALID_PASSWORD, known=True, locked=True, emergency=True)
    assert verdict.accept is False


def test_an_unknown_user_with_auth_ok_is_not_accepted() -> None:
    for locked in (False, True):
        for emergency in (False, True):
            verdict = edge.judge_digest(AUTH_OK, known=False, locked=locked, emergency=emergency)
            assert verdict.accept is False


def test_a_wrong_answer_to_a_valid_nonce_is_counted() -> None:
    verdict = edge.judge_digest(AUTH_INVALID_PASSWORD, known=True, locked=False, emergency=False)
    assert verdict == AuthVerdict(accept=False, count_failure=True)


def test_a_wrong_answer_for_an_unknown_user_is_counted_like_a_wrong_password() -> None:
    # Unknown users are checked against a decoy HA1: same answer, same counting, no enumeration.
    verdict = edge.judge_digest(AUTH_INVALID_PASSWORD, known=False, locked=False, emergency=False)
    assert verdict == AuthVerdict(accept=False, count_failure=True)


@pytest.mark.parametrize(
    "result", [AUTH_STALE_NONCE, AUTH_NONCE_REUSED, AUTH_ERROR, AUTH_USER_MISMATCH, AUTH_DROP]
)
def test_a_stale_replayed_or_malformed_answer_is_never_counted(result: int) -> None:
    # A spoofed source never received a nonce valid for it: whatever it sends, nobody is banned.
    for known in (False, True):
        for locked in (False, True):
            for emergency in (False, True):
                verdict = edge.judge_digest(result, known=known, locked=locked, emergency=emergency)
                assert verdict == AuthVerdict(accept=False, count_failure=False)


@pytest.mark.parametrize("result", ALL_AUTH_RESULTS)
@pytest.mark.parametrize("known", [False, True])
@pytest.mark.parametrize("locked", [False, True])
@pytest.mark.parametrize("emergency", [False, True])
def test_only_a_correct_known_answer_is_accepted_and_only_a_wrong_password_is_counted(
    result: int, known: bool, locked: bool, emergency: bool
) -> None:
    verdict = edge.judge_digest(result, known=known, locked=locked, emergency=emergency)
    assert verdict.accept == (result == AUTH_OK and known and (not locked or emergency))
    assert verdict.count_failure == (result == AUTH_INVALID_PASSWORD)
    assert not (verdict.accept and verdict.count_failure)


# --- failure_keys and bans ---------------------------------------------------------------------


def test_failures_are_counted_per_address_and_per_user_from_that_address() -> None:
    assert edge.failure_keys("198.51.100.7", "alice") == (
        "ip:198.51.100.7",
        "user:alice@198.51.100.7",
    )


def test_guessing_a_password_from_elsewhere_does_not_lock_the_owners_office() -> None:
    _, attacker_key = edge.failure_keys("198.51.100.66", "alice")
    _, office_key = edge.failure_keys("198.51.100.7", "alice")
    assert attacker_key != office_key


def test_a_refused_username_is_counted_by_address_only() -> None:
    assert edge.failure_keys("2001:db8::7", None) == ("ip:2001:db8::7", None)
    assert edge.failure_keys("2001:db8::7", "") == ("ip:2001:db8::7", None)


def test_a_banned_address_may_still_invite_an_emergency_number() -> None:
    assert edge.admit_while_banned("INVITE", "112", frozenset({"110", "112"}))


@pytest.mark.parametrize("method", ["REGISTER", "OPTIONS", "MESSAGE", "SUBSCRIBE", "ACK"])
def test_a_banned_address_gets_nothing_but_emergency_invites(method: str) -> None:
    assert not edge.admit_while_banned(method, "112", frozenset({"110", "112"}))


@pytest.mark.parametrize("dialled", ["", "1120", "0900123456", "+4930123456"])
def test_a_banned_address_may_not_invite_anything_else(dialled: str) -> None:
    assert not edge.admit_while_banned("INVITE", dialled, frozenset({"110", "112"}))


# --- split_contacts ----------------------------------------------------------------------------


def test_several_contacts_in_one_header_are_all_read() -> None:
    header = "<sip:a@10.0.0.5:5062>;expires=60, <sip:b@10.0.0.6>, sip:c@10.0.0.7;q=0.5"
    assert edge.split_contacts(header) == (
        "sip:a@10.0.0.5:5062",
        "sip:b@10.0.0.6",
        "sip:c@10.0.0.7",
    )


def test_a_comma_inside_a_quoted_display_name_does_not_split_the_contact() -> None:
    header = f'"Doe, John" <sip:+4990012@{GATEWAY}>'
    assert edge.split_contacts(header) == (f"sip:+4990012@{GATEWAY}",)


def test_a_comma_inside_a_bracketed_uri_does_not_split_the_contact() -> None:
    header = "<sip:a@10.0.0.5;x=1,2>, <sip:b@10.0.0.6>"
    assert edge.split_contacts(header) == ("sip:a@10.0.0.5;x=1,2", "sip:b@10.0.0.6")


def test_a_bracketless_contact_loses_its_header_parameters() -> None:
    assert edge.split_contacts("sip:a@10.0.0.5:5062;expires=3600;+sip.instance=x") == (
        "sip:a@10.0.0.5:5062",
    )


def test_a_wildcard_contact_is_read_as_a_wildcard() -> None:
    assert edge.split_contacts("*") == ("*",)
    assert edge.split_contacts(" * ") == ("*",)


def test_an_empty_contact_list_has_no_contacts() -> None:
    assert edge.split_contacts("") == ()
    assert edge.split_contacts(" , ") == ()


def test_a_contact_with_an_unclosed_bracket_cannot_be_read() -> None:
    assert edge.split_contacts(f"<sip:+4990012@{GATEWAY}") is None


def test_a_contact_with_an_unclosed_quote_cannot_be_read() -> None:
    # The docstring's contract: unbalanced quotes make the list unreadable (None).
    assert edge.split_contacts(f'"Mallory <sip:+4990012@{GATEWAY}>') is None


def test_an_escaped_quote_in_a_display_name_does_not_hide_a_trunk_contact() -> None:
    # For a SIP parser the display name is one quoted string holding `x"`; two contacts follow,
    # the second naming the carrier's gateway. Read or refused, it must never pass.
    header = f'"x\\"" <sip:ok@10.0.0.5>, <sip:{PREMIUM}@{GATEWAY}>'
    uris = edge.split_contacts(header)
    assert uris is None or f"sip:{PREMIUM}@{GATEWAY}" in uris
    assert edge.contact_refusal(uris, HOSTS) is not None


# --- uri_host and endpoint ---------------------------------------------------------------------


def test_a_sip_uri_without_a_port_points_at_5060() -> None:
    assert edge.endpoint("sip:alice@10.0.0.5") == ("10.0.0.5", 5060)


def test_a_sips_uri_without_a_port_points_at_5061() -> None:
    assert edge.endpoint(f"sips:{PREMIUM}@{GATEWAY}") == (GATEWAY, 5061)
    assert edge.uri_host(f"SIPS:a@{GATEWAY}") == UriHost(scheme="sips", host=GATEWAY, port=None)


def test_an_explicit_port_is_kept() -> None:
    assert edge.endpoint(f"sip:a@{GATEWAY}:5080;transport=tcp") == (GATEWAY, 5080)


def test_hosts_are_compared_in_lower_case() -> None:
    assert edge.endpoint("sip:a@GW.Carrier.EXAMPLE") == (GATEWAY, 5060)


def test_an_ipv6_reference_with_a_port_is_read() -> None:
    assert edge.uri_host("sip:alice@[::1]:5070;transport=udp") == UriHost("sip", "::1", 5070)
    assert edge.endpoint("sip:alice@[::1]:5070") == ("::1", 5070)


def test_an_ipv6_reference_without_a_port_points_at_5060() -> None:
    assert edge.endpoint("sip:[2001:db8:c::7]") == ("2001:db8:c::7", 5060)


def test_a_uri_without_a_user_is_read() -> None:
    assert edge.endpoint(f"sip:{GATEWAY}") == (GATEWAY, 5060)


def test_an_at_sign_in_the_password_part_does_not_hide_the_real_host() -> None:
    # The host is after the last @: a password-ish "p@ss" cannot make it look like another one.
    assert edge.endpoint(f"sip:{PREMIUM}:p@ss@{GATEWAY}:5060") == (GATEWAY, 5060)
    assert edge.endpoint(f"sip:10.0.0.5@{GATEWAY}") == (GATEWAY, 5060)


def test_uri_parameters_and_headers_do_not_change_the_host() -> None:
    assert edge.endpoint(f"sip:a@{GATEWAY};x=@10.0.0.5") == (GATEWAY, 5060)
    assert edge.endpoint(f"sip:a@{GATEWAY}?h=@10.0.0.5") == (GATEWAY, 5060)


@pytest.mark.parametrize(
    "uri",
    [
        f"tel:{PREMIUM}",
        f"http://{GATEWAY}/",
        f"mailto:a@{GATEWAY}",
        f"urn:service:sos@{GATEWAY}",
        f"{PREMIUM}@{GATEWAY}",
    ],
)
def test_a_uri_of_another_scheme_has_no_sip_endpoint(uri: str) -> None:
    assert edge.uri_host(uri) is None
    assert edge.endpoint(uri) is None


@pytest.mark.parametrize(
    "uri", ["sip:", "sip:a@", "sip:a@:5060", "sip:a@host:port", "sip:a@[::1", "sip:a@[::1]x"]
)
def test_a_garbled_sip_uri_has_no_endpoint(uri: str) -> None:
    assert edge.endpoint(uri) is None


def test_a_port_of_unicode_superscript_digits_is_garbage_not_an_exception() -> None:
    # "²".isdigit() is True but int("²") raises: the contract is None for garbage.
    assert edge.endpoint("sip:a@10.0.0.5:²") is None


# --- Hosts and contact_refusal -----------------------------------------------------------------


def test_the_configured_trunk_gateway_is_a_trunk() -> None:
    assert HOSTS.is_trunk((GATEWAY, 5060))


@pytest.mark.parametrize("host", ["192.0.2.1", "192.0.2.254", "2001:db8:c::7", "[2001:db8:c::7]"])
def test_an_address_in_a_trunk_source_network_is_a_trunk(host: str) -> None:
    assert HOSTS.is_trunk((host, 5099))


@pytest.mark.parametrize("place", [("10.0.0.5", 5060), ("192.0.3.1", 5060), ("phone.lan", 5060)])
def test_other_places_are_not_trunks(place: edge.Endpoint) -> None:
    assert not HOSTS.is_trunk(place)


def test_a_contact_naming_the_trunk_gateway_is_refused() -> None:
    refusal = edge.contact_refusal((f"sip:{PREMIUM}@{GATEWAY}",), HOSTS)
    assert refusal == "Contact Host Not Allowed"


def test_a_contact_naming_the_trunk_gateway_in_capitals_is_refused() -> None:
    refusal = edge.contact_refusal((f"sip:{PREMIUM}@GW.CARRIER.EXAMPLE:5060",), HOSTS)
    assert refusal == "Contact Host Not Allowed"


@pytest.mark.parametrize(
    "uri", [f"sip:{PREMIUM}@192.0.2.77:5099", f"sip:{PREMIUM}@[2001:db8:c::77]:5060"]
)
def test_a_contact_naming_an_address_of_a_trunk_source_network_is_refused(uri: str) -> None:
    assert edge.contact_refusal((uri,), HOSTS) == "Contact Host Not Allowed"


@pytest.mark.parametrize(
    "uri",
    [
        f"sip:{PREMIUM}@{PBX_DOMAIN}",
        f"sip:{PREMIUM}@{PBX_DOMAIN}:5060",
        f"sip:{PREMIUM}@{PBX_ADDRESS}",
        "sip:10@PBX.example.NET",
    ],
)
def test_a_contact_naming_the_pbx_itself_on_its_sip_port_is_refused(uri: str) -> None:
    assert edge.contact_refusal((uri,), HOSTS) == "Contact Host Not Allowed"


def test_a_contact_on_another_port_of_the_pbx_host_is_allowed() -> None:
    # A phone on the PBX's own machine (a softphone on a lab server) is not a loop.
    assert edge.contact_refusal((f"sip:alice@{PBX_ADDRESS}:5062",), HOSTS) is None


@pytest.mark.parametrize(
    "uri", [f"tel:{PREMIUM}", f"http://{GATEWAY}/", f"mailto:alice@{PBX_DOMAIN}", "garbage"]
)
def test_a_contact_of_another_scheme_is_refused(uri: str) -> None:
    assert edge.contact_refusal((uri,), HOSTS) == "Contact Scheme Not Allowed"


def test_a_phones_own_contacts_are_allowed() -> None:
    uris = ("sip:tq3xk7m2pw9a@10.0.0.5:5062;transport=udp", "sips:tq3xk7m2pw9a@[fd00::5]")
    assert edge.contact_refusal(uris, HOSTS) is None


def test_a_wildcard_contact_unregistering_everything_is_allowed() -> None:
    assert edge.contact_refusal(("*",), HOSTS) is None


def test_one_trunk_contact_among_good_ones_refuses_the_register() -> None:
    uris = ("sip:a@10.0.0.5", f"sip:{PREMIUM}@{GATEWAY}", "sip:b@10.0.0.6")
    assert edge.contact_refusal(uris, HOSTS) == "Contact Host Not Allowed"


def test_an_unreadable_contact_list_is_refused() -> None:
    assert edge.contact_refusal(None, HOSTS) == "Bad Contact"


def test_a_register_with_a_trunk_contact_read_from_the_header_is_refused() -> None:
    header = f'"Reception, Front" <sip:10@10.0.0.5>, "x" <sip:{PREMIUM}@{GATEWAY}>;expires=3600'
    refusal = edge.contact_refusal(edge.split_contacts(header), HOSTS)
    assert refusal == "Contact Host Not Allowed"


# --- decide_in_dialog --------------------------------------------------------------------------


def in_dialog(
    method: str = "BYE",
    *,
    known_dialog: bool = True,
    routed_by_us: bool = True,
    toward_trunk: bool = False,
    trunk_dialog: bool = False,
) -> InDialog:
    return InDialog(
        method=method,
        known_dialog=known_dialog,
        routed_by_us=routed_by_us,
        toward_trunk=toward_trunk,
        trunk_dialog=trunk_dialog,
    )


@pytest.mark.parametrize("method", ["INVITE", "ACK", "BYE", "MESSAGE", "REFER", "OPTIONS"])
def test_a_forged_to_tag_with_a_route_to_us_is_not_relayed(method: str) -> None:
    request = in_dialog(method, known_dialog=False, routed_by_us=True, toward_trunk=True)
    assert edge.decide_in_dialog(request) == Refuse(404, "Not Here")


def test_a_request_of_a_known_dialog_not_routed_by_us_is_not_relayed() -> None:
    request = in_dialog("BYE", known_dialog=True, routed_by_us=False)
    assert edge.decide_in_dialog(request) == Refuse(404, "Not Here")


def test_a_forged_in_dialog_invite_toward_the_trunk_is_not_relayed() -> None:
    request = in_dialog("INVITE", known_dialog=False, routed_by_us=False, toward_trunk=True)
    assert edge.decide_in_dialog(request) == Refuse(404, "Not Here")


@pytest.mark.parametrize("trunk_dialog", [False, True])
@pytest.mark.parametrize("toward_trunk", [False, True])
def test_a_refer_is_refused_in_every_dialog(trunk_dialog: bool, toward_trunk: bool) -> None:
    request = in_dialog("REFER", toward_trunk=toward_trunk, trunk_dialog=trunk_dialog)
    assert edge.decide_in_dialog(request) == Refuse(405, "Method Not Allowed")


@pytest.mark.parametrize("method", ["MESSAGE", "SUBSCRIBE", "PUBLISH", "REGISTER", "FOO", "bye"])
def test_an_in_dialog_method_outside_the_allow_list_is_refused(method: str) -> None:
    request = in_dialog(method, toward_trunk=True, trunk_dialog=True)
    assert edge.decide_in_dialog(request) == Refuse(405, "Method Not Allowed")


@pytest.mark.parametrize("method", ["INVITE", "BYE", "ACK", "UPDATE", "INFO"])
def test_an_in_dialog_request_toward_the_trunk_in_a_phone_to_phone_dialog_is_forbidden(
    method: str,
) -> None:
    request = in_dialog(method, toward_trunk=True, trunk_dialog=False)
    assert edge.decide_in_dialog(request) == Refuse(403, "Forbidden")


@pytest.mark.parametrize("method", sorted(edge.IN_DIALOG_METHODS))
def test_an_allowed_method_in_a_trunk_dialog_is_relayed_toward_the_trunk(method: str) -> None:
    request = in_dialog(method, toward_trunk=True, trunk_dialog=True)
    assert edge.decide_in_dialog(request) == Relay()


@pytest.mark.parametrize("method", sorted(edge.IN_DIALOG_METHODS))
@pytest.mark.parametrize("trunk_dialog", [False, True])
def test_an_allowed_method_toward_a_phone_is_relayed(method: str, trunk_dialog: bool) -> None:
    request = in_dialog(method, toward_trunk=False, trunk_dialog=trunk_dialog)
    assert edge.decide_in_dialog(request) == Relay()


def test_the_in_dialog_allow_list_has_no_method_that_starts_something_new() -> None:
    assert {"REFER", "MESSAGE", "SUBSCRIBE", "PUBLISH", "REGISTER"}.isdisjoint(
        edge.IN_DIALOG_METHODS
    )


# --- replies and limits ------------------------------------------------------------------------


@pytest.mark.parametrize("code", range(300, 400))
def test_every_redirect_from_a_phone_becomes_480_toward_the_trunk(code: int) -> None:
    assert edge.final_reply_toward_trunk(code) == (480, "Temporarily Unavailable")


@pytest.mark.parametrize("code", [100, 180, 183, 200, 202, 299, 400, 403, 404, 486, 487, 500, 603])
def test_other_final_replies_toward_the_trunk_are_untouched(code: int) -> None:
    assert edge.final_reply_toward_trunk(code) is None


def test_an_outbound_call_under_the_customers_cap_passes() -> None:
    assert edge.outbound_limit_refusal(active=0, limit=2) is None
    assert edge.outbound_limit_refusal(active=1, limit=2) is None


@pytest.mark.parametrize("active", [2, 3, 50])
def test_an_outbound_call_at_or_past_the_customers_cap_is_refused(active: int) -> None:
    assert edge.outbound_limit_refusal(active=active, limit=2) == Refuse(
        403, "Outbound Call Limit Reached"
    )


# --- header allow-lists ------------------------------------------------------------------------


def passes(name: str, allowed: frozenset[str]) -> bool:
    """Whether a header called ``name`` survives the allow-list filter in a real message."""
    message = f"INVITE sip:1@x SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n{name}: value\r\n\r\nbody"
    return name.lower() not in {n.lower() for n in edge.disallowed_headers(message, allowed)}


class _Pattern:
    """The allow-list as a matcher, so the checks below read as before."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def match(self, name: str) -> bool:
        return passes(name, self.allowed)


TRUNK_PATTERN = _Pattern(edge.TRUNK_HEADERS)
REPLY_PATTERN = _Pattern(edge.TRUNK_REPLY_HEADERS)

# Headers a phone or a caller sends that must never reach the carrier (issue 10, finding 7),
# with the compact forms of the identity ones: y Identity, b Referred-By, r Refer-To.
FORBIDDEN_TOWARD_TRUNK = (
    "Diversion",
    "History-Info",
    "P-Served-User",
    "P-Charging-Vector",
    "P-Charging-Function-Addresses",
    "Identity",
    "y",
    "Referred-By",
    "b",
    "Refer-To",
    "r",
    "X-Anything",
    "X-Serialnumber",
    "User-Agent",
    "Server",
    "Call-Info",
    "Alert-Info",
    "Answer-Mode",
    "Priv-Answer-Mode",
)


@pytest.mark.parametrize("name", ["Via", "v", "VIA", "From", "f", "To", "t", "Call-ID", "i"])
def test_standard_routing_headers_may_reach_the_trunk(name: str) -> None:
    assert TRUNK_PATTERN.match(name)


@pytest.mark.parametrize("name", sorted(edge.TRUNK_HEADERS))
def test_every_allow_listed_name_matches_the_pattern_in_any_case(name: str) -> None:
    assert TRUNK_PATTERN.match(name)
    assert TRUNK_PATTERN.match(name.upper())


@pytest.mark.parametrize("name", FORBIDDEN_TOWARD_TRUNK)
def test_a_header_outside_the_allow_list_does_not_reach_the_trunk(name: str) -> None:
    assert not TRUNK_PATTERN.match(name)
    assert not REPLY_PATTERN.match(name)


@pytest.mark.parametrize("name", ["Via-X", "XVia", "Vias", "v2", "Contact-Info", "To2", "Toto"])
def test_the_pattern_is_anchored_so_a_prefix_or_suffix_of_an_allowed_name_does_not_match(
    name: str,
) -> None:
    assert not TRUNK_PATTERN.match(name)


def test_a_dot_in_a_name_is_not_a_wildcard() -> None:
    pattern = _Pattern(frozenset({"a.b"}))
    assert pattern.match("a.b")
    assert not pattern.match("axb")


def test_the_filter_keeps_exactly_the_names_it_was_given() -> None:
    pattern = _Pattern(frozenset({"max-forwards", "v", "via"}))
    assert pattern.match("max-forwards") and pattern.match("V")
    assert not pattern.match("Max-Forward")
    assert not pattern.match("Max")
    assert not pattern.match("vv")


def test_each_disallowed_name_is_listed_once_as_spelled_and_the_body_is_not_read() -> None:
    message = (
        "INVITE sip:1@x SIP/2.0\r\nVia: a\r\nUser-Agent: p\r\nuser-agent: q\r\n"
        "X-A: 1\r\n  folded continuation\r\n\r\nX-Body: not a header"
    )
    assert edge.disallowed_headers(message, edge.TRUNK_HEADERS) == ("User-Agent", "X-A")


@pytest.mark.parametrize(
    "name",
    [
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Privacy",
        "Remote-Party-ID",
        "Identity",
        "Authorization",
        "Proxy-Authorization",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Authentication-Info",
        "Route",
        "User-Agent",
        "Server",
    ],
)
def test_a_phones_reply_upstream_carries_no_identity_or_credential_header(name: str) -> None:
    assert not REPLY_PATTERN.match(name)
    assert name.lower() not in edge.TRUNK_REPLY_HEADERS


def test_the_reply_allow_list_is_a_subset_of_the_request_allow_list() -> None:
    assert edge.TRUNK_REPLY_HEADERS < edge.TRUNK_HEADERS


def test_the_allow_lists_hold_lower_case_names_only() -> None:
    assert all(name == name.lower() for name in edge.TRUNK_HEADERS)


def test_auto_answer_headers_are_among_those_stripped_toward_phones() -> None:
    assert {"call-info", "alert-info", "answer-mode", "priv-answer-mode"} <= {
        name.lower() for name in edge.AUTO_ANSWER_HEADERS
    }


def test_every_identity_header_a_phone_may_send_is_replaced() -> None:
    assert {"p-asserted-identity", "p-preferred-identity", "privacy", "remote-party-id"} <= {
        name.lower() for name in edge.IDENTITY_HEADERS
    }


# --- printable and uri_user --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (
            "Empfang\r\nP-Asserted-Identity: <sip:+4930@x>",
            "EmpfangP-Asserted-Identity: <sip:+4930@x>",
        ),
        ("Empfang\nCall-Info: <x>;answer-after=0", "EmpfangCall-Info: <x>;answer-after=0"),
        ("Emp\x00fang", "Empfang"),
        ("Emp\tfang", "Empfang"),
        ("Emp\u2028fang", "Empfang"),
        ("Emp\u2029fang", "Empfang"),
        ("Emp\u200bfang", "Empfang"),
        ("Emp\u202efang", "Empfang"),
        ("Emp\ufefffang", "Empfang"),
        ("Emp\x7ffang", "Empfang"),
        ("Emp\x85fang", "Empfang"),
    ],
)
def test_a_display_name_with_control_or_format_characters_cannot_inject_a_header(
    raw: str, kept: str
) -> None:
    assert edge.printable(raw) == kept
    assert all(c.isprintable() for c in edge.printable(raw))


def test_quotes_and_backslashes_cannot_close_the_quoted_display_name() -> None:
    assert edge.printable('Ali"ce\\" <sip:evil@x>') == "Alice <sip:evil@x>"


def test_spaces_and_letters_of_every_language_are_kept() -> None:
    assert edge.printable("Müller & Söhne <Accueil> Façade 東京") == (
        "Müller & Söhne <Accueil> Façade 東京"
    )


def test_a_display_name_is_cut_to_its_length_limit() -> None:
    assert edge.printable("x" * 200) == "x" * 64
    assert edge.printable("abcdef", limit=3) == "abc"


def test_the_length_limit_counts_after_control_characters_are_removed() -> None:
    assert edge.printable("\r\n" * 100 + "Empfang") == "Empfang"


def test_a_display_name_of_only_control_characters_is_empty() -> None:
    assert edge.printable("\r\n\x00\t\u2028") == ""


def test_surrounding_spaces_are_trimmed() -> None:
    assert edge.printable("  Empfang  ") == "Empfang"


@pytest.mark.parametrize("user", ["+4930123456", "10", "anonymous", "tq3xk7m2pw9a", "a.b_c~d-e"])
def test_a_uri_safe_user_is_written_as_is(user: str) -> None:
    assert edge.uri_user(user) == user


@pytest.mark.parametrize(
    "user",
    [
        "",
        "+4930\r\nX-Evil: 1",
        "+4930\r\n",
        '+4930"',
        "a b",
        "a@evil.example",
        "a:b",
        "a;b",
        "a>b",
        "a%0d%0ab",
        "Müller",
        "x" * 65,
    ],
)
def test_a_user_part_that_is_not_uri_safe_becomes_the_fallback(user: str) -> None:
    assert edge.uri_user(user) == "anonymous"
    assert edge.uri_user(user, fallback="") == ""


def test_a_user_part_of_64_characters_is_uri_safe() -> None:
    assert edge.uri_user("9" * 64) == "9" * 64


def test_a_user_part_ending_in_a_line_feed_becomes_the_fallback() -> None:
    # Python's "$" also matches just before a final "\n": the LF would reach the header.
    assert edge.uri_user("+4930123456\n") == "anonymous"


# --- branch_allowed ----------------------------------------------------------------------------

TRUNK_URI = f"sip:+491701234567@{GATEWAY}:5060;transport=udp"


def test_a_phone_branch_toward_the_trunk_is_dropped() -> None:
    # A registered contact that (through $du or its host) points at the carrier.
    assert not edge.branch_allowed("phone", True, f"sip:{PREMIUM}@{GATEWAY}", {TRUNK_URI})


def test_a_phone_branch_toward_a_phone_is_sent() -> None:
    assert edge.branch_allowed("phone", False, "sip:tq3xk7m2pw9a@10.0.0.5:5062", {TRUNK_URI})


def test_a_trunk_branch_with_the_exact_external_uri_is_sent() -> None:
    assert edge.branch_allowed("trunk", True, TRUNK_URI, {TRUNK_URI})


def test_a_trunk_branch_with_another_uri_is_dropped() -> None:
    assert not edge.branch_allowed("trunk", True, f"sip:{PREMIUM}@{GATEWAY}", {TRUNK_URI})
    assert not edge.branch_allowed("trunk", True, TRUNK_URI + ";x", {TRUNK_URI})


def test_a_trunk_branch_when_no_external_phone_is_in_the_group_is_dropped() -> None:
    assert not edge.branch_allowed("trunk", True, TRUNK_URI, set())


def test_a_trunk_branch_that_does_not_go_to_the_trunk_is_dropped() -> None:
    assert not edge.branch_allowed("trunk", False, TRUNK_URI, {TRUNK_URI})
