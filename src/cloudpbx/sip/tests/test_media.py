"""Media decisions (:mod:`cloudpbx.sip.media`) and the ng protocol's encoding
(:mod:`cloudpbx.sip.rtpengine`). Pure: no rtpengine, no network."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cloudpbx.config import load as load_config
from cloudpbx.sip import media, rtpengine

SDP_PUBLIC = (
    "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\nc=IN IP4 198.51.100.7\r\nm=audio 4000 RTP/AVP 0\r\n"
)


def sdp(address: str) -> str:
    return SDP_PUBLIC.replace("198.51.100.7", address)


@pytest.mark.parametrize(
    "address",
    ["192.168.1.2", "10.1.2.3", "172.20.0.1", "100.64.0.9", "169.254.1.1", "127.0.0.1",
     "fd00::1", "fe80::1", "phone.local", "0.0.0.0"],  # noqa: S104
)  # fmt: skip
def test_addresses_behind_nat_or_not_addresses_are_private(address: str) -> None:
    assert media.private_media(sdp(address))


@pytest.mark.parametrize("address", ["198.51.100.7", "203.0.113.20", "8.8.8.8", "2001:db8::5"])
def test_public_addresses_are_not_private(address: str) -> None:
    assert not media.private_media(sdp(address))


def test_a_phone_is_never_trusted_media_goes_where_its_signalling_came_from() -> None:
    flags = media.relay_flags(trusted_source=False, sdp=SDP_PUBLIC, per_branch=False)
    assert "SIP-source-address" in flags.split() and "trust-address" not in flags.split()
    assert {"replace-origin", "replace-session-connection", "ICE=remove"} <= set(flags.split())


def test_a_trusted_trunk_is_trusted_only_with_a_public_address() -> None:
    trusted = media.relay_flags(trusted_source=True, sdp=SDP_PUBLIC, per_branch=False).split()
    assert "trust-address" in trusted and "SIP-source-address" not in trusted
    private = media.relay_flags(trusted_source=True, sdp=sdp("10.0.0.5"), per_branch=False)
    assert "SIP-source-address" in private.split() and "trust-address" not in private.split()


def test_each_branch_of_a_call_gets_its_own_session() -> None:
    assert media.PER_BRANCH in media.relay_flags(trusted_source=False, sdp="", per_branch=True)
    assert "via-branch" not in media.relay_flags(trusted_source=False, sdp="", per_branch=False)


# --- SRTP ------------------------------------------------------------------------------------


def crypto(*suites: str, protocol: str = "RTP/SAVP") -> str:
    lines = [f"a=crypto:{tag} {suite} inline:{'k' * 40}" for tag, suite in enumerate(suites, 1)]
    return SDP_PUBLIC.replace("RTP/AVP", protocol) + "".join(f"{line}\r\n" for line in lines)


@pytest.mark.parametrize(
    "sdp",
    [
        crypto("AES_CM_128_HMAC_SHA1_80"),
        crypto("AES_CM_128_HMAC_SHA1_80", protocol="RTP/AVP"),  # opportunistic (RFC 8643)
        crypto("NULL_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"),
        crypto(),  # RTP/SAVP, its keys by DTLS
    ],
)
def test_offers_with_keys_that_encrypt_are_srtp(sdp: str) -> None:
    assert media.offers_srtp(sdp)
    assert media.srtp_refusal("required", sdp) is None


@pytest.mark.parametrize(
    "sdp",
    [
        SDP_PUBLIC,
        crypto("NULL_HMAC_SHA1_80", "NULL_HMAC_SHA1_32"),  # authenticated, not encrypted
        crypto("NULL_HMAC_SHA1_80", protocol="RTP/AVP"),
    ],
)
def test_a_phone_required_to_encrypt_that_offers_no_cipher_is_refused(sdp: str) -> None:
    assert not media.offers_srtp(sdp)
    assert media.srtp_refusal("required", sdp) == (488, "SRTP Required")
    assert media.srtp_refusal("optional", sdp) is None


@pytest.mark.parametrize("leg", ["answer or re-offer", "trunk", "off", "optional", "required"])
def test_suites_without_encryption_are_excluded_from_every_offer_and_answer(leg: str) -> None:
    """Also toward a plain leg: rtpengine drops them from the caller's offer only when told,
    else it answers a caller listing NULL_HMAC_SHA1_80 first with it."""
    toward = {"answer or re-offer": None, "trunk": media.TOWARD_TRUNK}.get(leg, media.toward(leg))
    flags = media.relay_flags(
        trusted_source=False, sdp=SDP_PUBLIC, per_branch=toward is not None, toward=toward
    ).split()
    for suite in ("NULL_HMAC_SHA1_80", "NULL_HMAC_SHA1_32", "F8_128_HMAC_SHA1_80"):
        assert f"SDES-no-{suite}" in flags


def test_each_policy_gets_its_protocol() -> None:
    assert "RTP/SAVP" in media.toward("required").split()
    assert {"RTP/AVP", "OSRTP-offer"} <= set(media.toward("optional").split())
    assert "OSRTP-offer" not in media.toward("off").split()
    assert media.toward(None) == media.TOWARD_TRUNK == media.toward("off")


def party(
    peer: str | None, last_packet: int, flags: tuple[str, ...] = ("initialized", "send", "recv")
) -> dict[str, Any]:
    streams = [{"local port": 30000, "last packet": last_packet}]
    return {
        "subscriptions": [{"tag": peer, "type": "offer/answer"}] if peer else [],
        "medias": [{"flags": list(flags), "streams": streams}],
    }


def call(caller: dict[str, Any], callee: dict[str, Any], signalled: int = 1000) -> dict[str, Any]:
    return {"last signal": signalled, "tags": {"a": caller, "b": callee}}


def test_a_call_with_media_both_ways_is_alive() -> None:
    assert (
        media.silent_party(call(party("b", 1058), party("a", 1059)), now=1060, timeout=60) is None
    )


def test_a_party_silent_for_the_timeout_is_found_with_its_peer() -> None:
    found = media.silent_party(call(party("b", 1100), party("a", 1030)), now=1100, timeout=60)
    assert found == ("b", "a")


def test_silence_counts_from_the_last_offer_or_answer_when_nothing_was_sent() -> None:
    answered_late = call(party("b", 0), party("a", 0), signalled=1050)
    assert media.silent_party(answered_late, now=1100, timeout=60) is None
    assert media.silent_party(answered_late, now=1110, timeout=60) == ("a", "b")


def test_a_ringing_branch_and_a_party_on_hold_are_not_judged() -> None:
    ringing = call(party("b", 0), party("a", 0, flags=("send", "recv")))
    assert media.silent_party(ringing, now=5000, timeout=60) is None
    on_hold = call(party("b", 4990), party("a", 0, flags=("initialized", "recv")))
    assert media.silent_party(on_hold, now=5000, timeout=60) is None


def test_a_party_without_a_peer_is_not_judged() -> None:
    lonely = {"last signal": 0, "tags": {"a": party(None, 0)}}
    assert media.silent_party(lonely, now=5000, timeout=60) is None


def test_bencode_round_trip() -> None:
    message = {"command": "offer", "flags": ["trust-address"], "sdp": "v=0\r\n", "n": 3}
    encoded = rtpengine.bencode(message)
    assert encoded == b"d7:command5:offer5:flagsl13:trust-addresse1:ni3e3:sdp5:v=0\r\ne"
    assert rtpengine.bdecode(encoded) == message


def test_bdecode_refuses_trailing_garbage() -> None:
    with pytest.raises(rtpengine.NgError):
        rtpengine.bdecode(b"i1ejunk")


def test_rtpengine_refuses_calls_beyond_what_its_port_range_carries() -> None:
    config = dataclasses.replace(
        load_config(), media_address="198.51.100.1", media_port_min=30000, media_port_max=30999
    )
    settings = rtpengine.render(config)
    assert "max-sessions = 250\n" in settings
    assert "interface = 198.51.100.1\n" in settings and "table = -1\n" in settings
    advertised = dataclasses.replace(config, media_advertise="203.0.113.5")
    assert "interface = 198.51.100.1!203.0.113.5\n" in rtpengine.render(advertised)


def test_the_watch_queries_only_calls_older_than_the_timeout() -> None:
    watch = media.Watch(timeout=60)
    assert watch.due(["a", "b"], now=1000) == []
    assert watch.due(["a", "b", "c"], now=1059) == []
    assert watch.due(["a", "b", "c"], now=1060) == ["a", "b"]
    assert watch.due(["c"], now=1120) == ["c"]  # ended calls are forgotten
    assert watch.first_seen == {"c": 1059}


BROWSER_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n"
    "c=IN IP4 0.0.0.0\r\na=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\na=rtcp-mux\r\n"
)


def test_a_browser_offer_counts_as_encrypted() -> None:
    assert media.offers_srtp(BROWSER_OFFER)  # DTLS-SRTP: keys by DTLS, no a=crypto
    assert media.srtp_refusal("required", BROWSER_OFFER) is None


def test_what_goes_to_a_browser_keeps_ice_and_speaks_webrtc() -> None:
    flags = media.relay_flags(
        trusted_source=False, sdp=SDP_PUBLIC, per_branch=True, toward=media.TOWARD_BROWSER,
        to_browser=True,
    ).split()  # fmt: skip
    assert "ICE=force" in flags and "ICE=remove" not in flags
    assert {"UDP/TLS/RTP/SAVPF", "SDES-off", "rtcp-mux-offer"} <= set(flags)


def test_what_goes_to_a_phone_has_no_ice_and_rtcp_of_its_own() -> None:
    flags = media.relay_flags(
        trusted_source=False, sdp=BROWSER_OFFER, per_branch=True, toward=media.toward("off")
    ).split()
    assert "ICE=remove" in flags and "ICE=force" not in flags
    assert "rtcp-mux-demux" in flags
    for policy in ("off", "optional", "required", None):
        assert "rtcp-mux-demux" in media.toward(policy).split()


@pytest.mark.parametrize(
    ("uri", "browser"),
    [
        ("sip:abc@x1y2.invalid;transport=ws", True),
        ("sip:127.0.0.1:52345;transport=WSS", True),
        ("<sip:abc@x.invalid;transport=ws>", True),
        ("sip:abc@127.0.0.1:5060", False),
        ("sip:abc@127.0.0.1:5061;transport=tls", False),
        ("sip:abc@h;transport=wsx", False),
    ],
)
def test_a_browser_is_a_contact_reached_over_a_websocket(uri: str, browser: bool) -> None:
    assert media.is_browser_uri(uri) is browser
