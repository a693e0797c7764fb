"""Media decisions: how rtpengine treats each leg's SDP. Pure: no Kamailio, no I/O.

Every call's media is anchored at the relay, so two phones behind two NAT routers (on the same
private range, even) reach each other through the PBX's public address. What the relay is told
about each SDP it rewrites is decided here; :mod:`cloudpbx.sip.ksr` only passes it on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

# The PBX's address replaces the SDP's everywhere. Codecs pass through unchanged.
_ALWAYS = "replace-origin replace-session-connection"
# A phone's ICE candidates would point past the relay (its private addresses), so they are
# removed; a browser cannot do without ICE, so it gets the relay's own candidates.
_ICE = {False: "ICE=remove", True: "ICE=force"}
# One media session per fork branch (the branch route runs before the branch's Via exists:
# "next" names it; in replies "1" is our Via of that branch).
PER_BRANCH = "via-branch=auto-next"

_CONNECTION = re.compile(r"^c=IN IP[46] ([^\s/]+)", re.MULTILINE)
# Addresses behind a NAT or on the host itself (RFC 1918, shared CGNAT space, link-local,
# loopback, IPv6 unique-local): never where the relay sends media.
_BEHIND_NAT = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
        "127.0.0.0/8", "0.0.0.0/8", "fc00::/7", "fe80::/10", "::1/128", "::/128",
    )
)  # fmt: skip


def private_media(sdp: str) -> bool:
    """Whether any connection address of the SDP is one the internet cannot reach."""
    for address in _CONNECTION.findall(sdp):
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return True  # a host name or garbage: not an address to send media to
        if any(parsed in network for network in _BEHIND_NAT):
            return True
    return False


def relay_flags(
    *,
    trusted_source: bool,
    sdp: str,
    per_branch: bool,
    toward: str | None = None,
    to_browser: bool = False,
) -> str:
    """rtpengine flags for an offer or answer.

    Media is expected where the signalling came from (``SIP-source-address``; rtpengine then
    learns the real port from the first packet), except from a trunk that is trusted to put
    its media address in SDP (``trust-address``) — and never an address that is not public.
    ``toward``: for an initial offer, the flags of :func:`toward` for the leg it goes to.
    ``to_browser``: the SDP goes to a browser (WebRTC), which needs ICE.
    """
    trust = trusted_source and not private_media(sdp)
    flags = [_ALWAYS, _ICE[to_browser], _SDES_SUITES]
    flags.append("trust-address" if trust else "SIP-source-address")
    if per_branch:
        flags.append(PER_BRANCH)
    if toward is not None:
        flags.append(toward)
    return " ".join(flags)


# --- SRTP (SDES) -------------------------------------------------------------------------------
# rtpengine terminates SRTP on each leg and bridges: every leg gets the protocol its end is
# set to, whatever the other end speaks. Re-offers in a dialog keep each side's protocol
# (rtpengine remembers it, checked with 10.5), so only the initial offer says it.

# The suites offered and accepted: not NULL_* (authentication without encryption), not the
# rare F8 and 192-bit ones. rtpengine 10.5 has no "only" list, so the others are excluded by
# name. In every offer and answer, whatever the legs' protocols: rtpengine also drops them from
# the SDP it is given (call.c, __sdes_accept), which it does only when told, so that a caller
# listing NULL_HMAC_SHA1_80 first does not get it answered toward a plain leg or the trunk.
EXCLUDED_SUITES = frozenset(
    {
        "NULL_HMAC_SHA1_80", "NULL_HMAC_SHA1_32", "F8_128_HMAC_SHA1_80", "F8_128_HMAC_SHA1_32",
        "AES_192_CM_HMAC_SHA1_80", "AES_192_CM_HMAC_SHA1_32",
    }
)  # fmt: skip
_SDES_SUITES = " ".join(f"SDES-no-{suite}" for suite in sorted(EXCLUDED_SUITES))
# An SRTP offer from a phone is accepted as SRTP, also "opportunistic" (RTP/AVP with keys).
_ACCEPT = "OSRTP-accept"
# DTLS is for browsers (WebRTC): SDES phones get no fingerprint attributes. A browser's RTCP
# shares the RTP port (rtcp-mux); toward a phone it gets a port of its own again.
_PROTOCOLS = {
    "off": f"{_ACCEPT} RTP/AVP rtcp-mux-demux",
    # Opportunistic SRTP (RFC 8643): RTP/AVP with keys, so a phone without SRTP still answers.
    "optional": f"{_ACCEPT} RTP/AVP OSRTP-offer DTLS=off rtcp-mux-demux",
    "required": f"{_ACCEPT} RTP/SAVP DTLS=off rtcp-mux-demux",
}
# The carrier gets plain RTP: trunks here do not do SRTP.
TOWARD_TRUNK = _PROTOCOLS["off"]
# A browser speaks WebRTC's profile only: DTLS-SRTP (no SDES keys), RTCP multiplexed, every
# media section named (a=mid), whatever the caller's phone speaks.
TOWARD_BROWSER = "UDP/TLS/RTP/SAVPF SDES-off rtcp-mux-offer generate-mid"
# How a browser's signalling arrives, and how a contact reached over it is marked.
BROWSER_TRANSPORTS = frozenset({"ws", "wss"})
_WEBSOCKET_URI = re.compile(r";transport=wss?(?:;|>|$)", re.IGNORECASE)


def is_browser_uri(uri: str) -> bool:
    """Whether a contact (or destination) URI is reached over a WebSocket: a browser."""
    return _WEBSOCKET_URI.search(uri) is not None


_SAVP = re.compile(r"^m=\S+ \d+(?:/\d+)? (?:UDP/TLS/)?RTP/SAVPF? ", re.MULTILINE)
_CRYPTO = re.compile(r"^a=crypto:\d+ (\S+)", re.MULTILINE)


def toward(policy: str | None) -> str:
    """The protocol flags for a leg toward a phone set to ``policy`` (None: the trunk)."""
    return _PROTOCOLS.get(policy or "off", TOWARD_TRUNK)


def offers_srtp(sdp: str) -> bool:
    """Whether an SDP offers SRTP keys that encrypt: ``a=crypto`` of a suite not excluded
    (with RTP/SAVP, or RTP/AVP: RFC 8643), or RTP/SAVP without ``a=crypto`` (keys by DTLS)."""
    suites = _CRYPTO.findall(sdp)
    if suites:
        return any(suite not in EXCLUDED_SUITES for suite in suites)
    return _SAVP.search(sdp) is not None


def srtp_refusal(policy: str, sdp: str) -> tuple[int, str] | None:
    """A phone that must use SRTP and offers no keys is refused (also a call without an
    offer: its answer could not be made to require keys)."""
    if policy == "required" and not offers_srtp(sdp):
        return 488, "SRTP Required"
    return None


MEDIA_METHODS = frozenset({"INVITE", "UPDATE", "PRACK", "ACK"})


def silent_party(call: Mapping[str, Any], now: float, timeout: int) -> tuple[str, str] | None:
    """The tags (silent party, its peer) of an answered call one party of which, while it
    should be sending, has sent no media for ``timeout`` seconds; None if the call is alive.

    ``call`` is rtpengine's answer to ``query``. Only parties whose offer and answer both
    happened are judged (a ringing branch is not), from their last packet on any stream (RTP or
    RTCP) or the last offer/answer, whichever is later; a party told not to send (hold:
    ``recvonly``/``inactive``) is not judged."""
    signalled = float(call.get("last signal") or call.get("created") or now)
    tags = call.get("tags") or {}
    for tag, party in tags.items():
        peer = _peer(party)
        if not peer or peer not in tags or not (_answered(party) and _answered(tags[peer])):
            continue
        medias = party.get("medias") or []
        if not any("send" in (m.get("flags") or ()) for m in medias):
            continue
        streams = [stream for m in medias for stream in m.get("streams") or ()]
        last = max((float(stream.get("last packet") or 0) for stream in streams), default=0.0)
        if now - max(last, signalled) >= timeout:
            return str(tag), peer
    return None


def _answered(party: Mapping[str, Any]) -> bool:
    return any("initialized" in (m.get("flags") or ()) for m in party.get("medias") or ())


def _peer(party: Mapping[str, Any]) -> str | None:
    """The tag this party talks to: rtpengine 10.5 names it as an offer/answer subscription
    (older versions as "in dialogue with")."""
    for subscription in party.get("subscriptions") or ():
        if subscription.get("type") == "offer/answer" and subscription.get("tag"):
            return str(subscription["tag"])
    peer = party.get("in dialogue with")
    return str(peer) if peer else None


class Watch:
    """Which of the relay's calls to look at on this round of the media watch.

    A call younger than the timeout cannot have been silent for it: it is only remembered.
    So the watch queries only long calls (one ng ``query`` each per round), not every call
    the relay holds — at a thousand short calls a second that would double the relay's
    control traffic."""

    def __init__(self, timeout: int) -> None:
        self.timeout = timeout
        self.first_seen: dict[str, float] = {}

    def due(self, held: Iterable[str], now: float) -> list[str]:
        current = set(held)
        self.first_seen = {c: t for c, t in self.first_seen.items() if c in current}
        for call_id in current:
            self.first_seen.setdefault(call_id, now)
        return sorted(c for c, t in self.first_seen.items() if now - t >= self.timeout)
