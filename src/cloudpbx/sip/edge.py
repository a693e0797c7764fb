"""Security decisions at the SIP edge: pure functions, no Kamailio, no Django, no I/O.

The SIP port faces the internet. Every rule that decides what a request may make the PBX do
— relay in a dialog, count a failed digest, register a contact, send a header across the
trunk boundary, pass a redirect upstream — is a function here of what :mod:`cloudpbx.sip.ksr`
read from the request, so each rule has a unit test and the adapter only applies answers.

Allow-lists, not deny-lists, wherever something crosses a trust boundary (STYLE.md).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

# --- transports --------------------------------------------------------------------------------

# Kamailio's $pr of the transports whose signalling (with SRTP keys, digests) is encrypted.
ENCRYPTED_TRANSPORTS = frozenset({"tls", "wss"})

WEBSOCKET_PATH = "/sip"


def websocket_refusal(
    *, path: str, upgrade: str, origin: str, portal_origin: str, banned: bool
) -> str | None:
    """Why a WebSocket handshake is refused, or None to accept it.

    Only the portal's own pages may open one: a browser sends the page's Origin and a page of
    another site must not use the logged-in user's browser (cross-site WebSocket hijacking).
    A banned address gets no WebSocket, as it gets no SIP answer."""
    if banned:
        return "banned"
    if path.split("?", 1)[0] != WEBSOCKET_PATH or upgrade.strip().lower() != "websocket":
        return "not-sip-websocket"
    if origin.strip().lower() != portal_origin.lower():
        return "origin"
    return None


# --- authentication ----------------------------------------------------------------------------

MAX_USERNAME_BYTES = 64

# Return codes of Kamailio's auth pv_auth_check (auth/api.h).
AUTH_OK = 1
AUTH_INVALID_PASSWORD = -2  # the nonce was valid, issued to this source, and the answer wrong


_NOT_IN_USERNAMES = frozenset(' "\\@:')


def screen_username(raw: bytes) -> str | None:
    """The digest username if it can be an account: 1 to 64 bytes of printable UTF-8.

    Anything else is refused before it is counted or used as a key in shared memory, so a
    20 kB or undecodable username costs the attacker a challenge and the PBX nothing.
    """
    if not 0 < len(raw) <= MAX_USERNAME_BYTES:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.isprintable() or not _NOT_IN_USERNAMES.isdisjoint(text):
        return None
    return text


@dataclass(frozen=True)
class AuthVerdict:
    accept: bool
    count_failure: bool


# The only verdicts there are (one per request: built once, not per answer).
_ACCEPT = AuthVerdict(accept=True, count_failure=False)
_CHALLENGE = AuthVerdict(accept=False, count_failure=False)
_COUNT_AND_CHALLENGE = AuthVerdict(accept=False, count_failure=True)


def judge_digest(result: int, *, known: bool, locked: bool, emergency: bool) -> AuthVerdict:
    """What a digest check's result means.

    - A correct answer is never a failure: a locked phone retrying with the right password
      does not renew its own lock. It is refused while locked, except for emergency calls.
    - Only a wrong answer to a valid nonce counts: nonces are bound to the source address, so
      an attacker who spoofs a source never received a nonce valid for it and cannot make the
      PBX count (and ban) anybody. Stale, replayed or malformed answers are challenged again.
    """
    if result == AUTH_OK and known:
        return _ACCEPT if not locked or emergency else _CHALLENGE
    return _COUNT_AND_CHALLENGE if result == AUTH_INVALID_PASSWORD else _CHALLENGE


def failure_keys(source: str, username: str | None) -> tuple[str, str | None]:
    """Counter keys: the address, and the username *from that address*, so guessing from
    elsewhere never locks the owner's phone out of its own office."""
    return f"ip:{source}", (f"user:{username}@{source}" if username else None)


def admit_while_banned(method: str, dialled: str, emergency_numbers: Collection[str]) -> bool:
    """A banned address is dropped unanswered, except an INVITE to an emergency number: it
    still has to authenticate, and then always goes out."""
    return method == "INVITE" and dialled in emergency_numbers


# --- contacts ----------------------------------------------------------------------------------

_SCHEME = re.compile(r"^(sips?):", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)  # a phone re-registers with the same Contact
def split_contacts(header_values: str) -> tuple[str, ...] | None:
    """The URIs of a comma-joined Contact header list; ``("*",)`` for a wildcard; None if it
    cannot be read (unbalanced brackets or quotes)."""
    uris: list[str] = []
    if '"' not in header_values and "," not in header_values:
        items = [header_values]  # the usual single contact: no character-by-character scan
    else:
        try:
            items = list(_split_outside_quotes(header_values))
        except ValueError:
            return None
    for item in items:
        item = item.strip()
        if not item:
            continue
        if item == "*":
            uris.append("*")
            continue
        if "<" in item:
            start = item.index("<")
            end = item.find(">", start)
            if end < 0:
                return None
            uris.append(item[start + 1 : end].strip())
        else:
            uris.append(item.split(";", 1)[0].strip())
    return tuple(uris)


def _split_outside_quotes(text: str) -> Iterable[str]:
    """Split at commas outside quoted strings and <…>; ``\\"`` inside quotes is escaped.
    An unclosed quote raises ValueError (the header cannot be read)."""
    part: list[str] = []
    quoted = bracketed = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"' and not bracketed:
            quoted = not quoted
        elif char == "<" and not quoted:
            bracketed = True
        elif char == ">" and not quoted:
            bracketed = False
        elif char == "," and not quoted and not bracketed:
            yield "".join(part)
            part = []
            continue
        part.append(char)
    if quoted or bracketed:
        raise ValueError("unbalanced quote or bracket")
    yield "".join(part)


@dataclass(frozen=True)
class UriHost:
    scheme: str
    host: str
    port: int | None


def uri_host(uri: str) -> UriHost | None:
    """Scheme, host and port of a sip:/sips: URI; None for other schemes or garbage."""
    match = _SCHEME.match(uri)
    if not match:
        return None
    rest = uri[match.end() :]
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    hostport = rest.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return None
        host, tail = hostport[1:end], hostport[end + 1 :]
    else:
        host, _, tail = hostport.partition(":")
        tail = f":{tail}" if tail else ""
    port: int | None = None
    if tail:
        digits = tail[1:]
        if not tail.startswith(":") or not (digits.isascii() and digits.isdigit()):
            return None
        port = int(tail[1:])
    if not host:
        return None
    return UriHost(scheme=match.group(1).lower(), host=host.lower(), port=port)


Endpoint = tuple[str, int]  # (lower-case host, port)
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@functools.lru_cache(maxsize=4096)
def endpoint(uri: str) -> Endpoint | None:
    """Where a sip:/sips: URI points: host and port (5060, or 5061 for sips, when absent)."""
    parsed = uri_host(uri)
    if parsed is None:
        return None
    return parsed.host, parsed.port or (5061 if parsed.scheme == "sips" else 5060)


@dataclass(frozen=True)
class Hosts:
    """Places a phone must never make the PBX send to: the PBX itself and every trunk."""

    own: frozenset[Endpoint]  # the SIP domain and listen address on the SIP port
    trunk_endpoints: frozenset[Endpoint]  # gateways as configured (names or addresses)
    trunk_networks: Networks

    def is_trunk(self, place: Endpoint) -> bool:
        return place in self.trunk_endpoints or in_networks(place[0], self.trunk_networks)


@functools.lru_cache(maxsize=4096)
def in_networks(host: str, networks: Networks) -> bool:
    """Whether ``host`` (an address, IPv6 possibly in brackets; a name is in none) lies in one
    of ``networks``. Asked for the same phones and gateways all day, and parsing an address
    costs ~1 µs: decided once per host and networks."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(address in network for network in networks)


def contact_refusal(uris: tuple[str, ...] | None, hosts: Hosts) -> str | None:
    """Why a REGISTER's contacts are refused, or None.

    A contact is reached at the address its REGISTER came from, whatever it names; still, a
    contact naming a trunk or the PBX itself is an attack (or a loop) and is refused outright,
    as is any scheme but sip/sips.
    """
    if uris is None:
        return "Bad Contact"
    for uri in uris:
        if uri == "*":
            continue
        place = endpoint(uri)
        if place is None:
            return "Contact Scheme Not Allowed"
        if place in hosts.own or hosts.is_trunk(place):
            return "Contact Host Not Allowed"
    return None


# --- in-dialog requests ------------------------------------------------------------------------

IN_DIALOG_METHODS = frozenset(
    {"ACK", "BYE", "CANCEL", "INVITE", "UPDATE", "PRACK", "INFO", "OPTIONS", "NOTIFY"}
)


@dataclass(frozen=True)
class InDialog:
    method: str
    known_dialog: bool  # the dialog module tracks it (created by one of our INVITEs)
    routed_by_us: bool  # its Route set named this PBX first (loose_route)
    toward_trunk: bool  # the next hop is a trunk
    trunk_dialog: bool  # the dialog was set up with the trunk on one side


@dataclass(frozen=True)
class Relay:
    """Forward as routed."""


@dataclass(frozen=True)
class Refuse:
    code: int
    reason: str


EdgeDecision = Relay | Refuse


def decide_in_dialog(request: InDialog) -> EdgeDecision:
    """A request with a To-tag is relayed only inside a dialog this PBX created, along the
    route it recorded. A forged To-tag plus Route headers relays nothing."""
    if not (request.known_dialog and request.routed_by_us):
        return Refuse(404, "Not Here")
    if request.method == "REFER":
        # A transfer would make the PBX call wherever Refer-To says, with nobody's rights
        # checked: no transfer feature yet, so no REFER in any dialog.
        return Refuse(405, "Method Not Allowed")
    if request.method not in IN_DIALOG_METHODS:
        return Refuse(405, "Method Not Allowed")
    if request.toward_trunk and not request.trunk_dialog:
        return Refuse(403, "Forbidden")
    return Relay()


# --- what the PBX answers upstream ------------------------------------------------------------


def final_reply_toward_trunk(code: int) -> tuple[int, str] | None:
    """A phone's redirect on a call from the trunk is not passed upstream: the carrier would
    follow it at the customer's expense to wherever the phone named."""
    if 300 <= code < 400:
        return 480, "Temporarily Unavailable"
    return None


def outbound_limit_refusal(active: int, limit: int) -> Refuse | None:
    """A customer's concurrent external calls are capped (toll-fraud damage is bounded)."""
    if active >= limit:
        return Refuse(403, "Outbound Call Limit Reached")
    return None


# --- headers -----------------------------------------------------------------------------------

# What may cross into the trunk, by lower-case header name (compact forms included). Identity
# headers, credentials and Route are in the list because the router handles them itself before
# this filter runs (it removes the phone's and writes its own): removing a header twice would
# corrupt the message.
TRUNK_HEADERS = frozenset(
    {
        "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq", "contact", "m",
        "max-forwards", "route", "record-route", "content-type", "c", "content-length", "l",
        "content-disposition", "content-encoding", "e", "content-language", "accept",
        "allow", "supported", "k", "require", "proxy-require", "unsupported",
        "session-expires", "x", "min-se", "rack", "rseq", "expires", "retry-after",
        "p-asserted-identity", "p-preferred-identity", "privacy", "remote-party-id",
        "proxy-authorization", "authorization", "mime-version", "reason",
        "th",  # topoh's own marker: it removes it, and needs it to mask the message
    }
)  # fmt: skip

# Replies from phones going upstream: the same, less what only the router may write in
# requests (a phone's reply must not assert an identity), and Server/User-Agent stay out.
TRUNK_REPLY_HEADERS = TRUNK_HEADERS - {
    "p-asserted-identity", "p-preferred-identity", "privacy", "remote-party-id",
    "proxy-authorization", "authorization", "route",
}  # fmt: skip

# Headers that make a phone pick up by itself or ring differently: no caller may send them.
AUTO_ANSWER_HEADERS = ("Call-Info", "Alert-Info", "Answer-Mode", "Priv-Answer-Mode")

# Identity headers a phone or caller may send that the router replaces with its own.
IDENTITY_HEADERS = ("P-Asserted-Identity", "P-Preferred-Identity", "Privacy", "Remote-Party-ID")


def disallowed_headers(message: str, allowed: frozenset[str]) -> tuple[str, ...]:
    """The names (as spelled in the message, once each) of its headers not in ``allowed``
    (lower-case names). Continuation lines belong to the header above them."""
    head = message.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    names: dict[str, str] = {}
    for line in head.splitlines()[1:]:
        if not line or line[0] in " \t":
            continue
        name = line.split(":", 1)[0].strip()
        if name.lower() not in allowed:
            names.setdefault(name.lower(), name)
    return tuple(names.values())


def printable(text: str, limit: int = 64) -> str:
    """Only what may stand inside a quoted display name: no control or format characters (CR,
    LF, NUL, U+2028 …), no quotes or backslashes; at most ``limit`` characters."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text[:limit].strip()  # the usual name: isprintable() refuses the same categories
    kept = "".join(c for c in text if unicodedata.category(c)[0] not in "CZ" or c == " ").replace(
        '"', ""
    )
    return kept.replace("\\", "")[:limit].strip()


_URI_USER = re.compile(r"[A-Za-z0-9+._~-]{1,64}")


def uri_user(text: str, fallback: str = "anonymous") -> str:
    """A value written as a URI user part: unreserved characters only, else ``fallback``."""
    return text if _URI_USER.fullmatch(text) else fallback


# --- branches ----------------------------------------------------------------------------------

BranchKind = Literal["phone", "trunk"]


def branch_allowed(
    kind: BranchKind, toward_trunk: bool, uri: str, trunk_uris: Collection[str]
) -> bool:
    """A branch reaches the trunk only when routing decided so: an external phone of the
    group, at its exact trunk URI. A registered contact never does, whatever it names."""
    if kind == "phone":
        return not toward_trunk
    return toward_trunk and uri in trunk_uris
