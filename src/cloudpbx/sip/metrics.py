"""What the SIP side counts, and how ``/metrics`` reads it from this node's Kamailio.

The router counts its outcomes in Kamailio's shared memory (the statistics module: every
worker process adds to the same value; the names are declared in kamailio.cfg from
:data:`ROUTER_COUNTERS`). ``/metrics`` asks for them, with a few of Kamailio's own statistics,
in one ``stats.get_statistics`` RPC. Values count since Kamailio started, per node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# The final answer to a REGISTER the router handled.
REGISTER_RESULTS = ("accepted", "challenged", "refused", "failed")
# What became of a new call (an initial INVITE).
CALL_DECISIONS = (
    "internal",  # rings terminals of the PBX (a terminal, a call group)
    "external",  # rings an external phone (through the trunk)
    "trunk",  # dialled out through the trunk
    "inbound",  # came from the trunk
    "rejected",  # the numbering rules refused it (barred, unknown number, no right)
    "over_limit",  # the customer's concurrent external calls are used up
    "srtp_refused",  # the terminal must encrypt its media and offered none
    "unavailable",  # nobody to ring is registered
    "no_trunk",  # dialled out, but no trunk is configured
    "challenged",  # asked to authenticate (every phone's first attempt; scanners' only one)
)
BAN_REASONS = ("ip_flood", "ip_auth_failures", "user_auth_failures")


def register_counter(result: str) -> str:
    return f"register_{result}"


def call_counter(decision: str) -> str:
    return f"call_{decision}"


def ban_counter(reason: str) -> str:
    return f"ban_{reason}"


AUTH_FAILURES = "auth_failures"
ROUTER_COUNTERS = (
    *(register_counter(result) for result in REGISTER_RESULTS),
    *(call_counter(decision) for decision in CALL_DECISIONS),
    *(ban_counter(reason) for reason in BAN_REASONS),
    AUTH_FAILURES,
)


@dataclass(frozen=True)
class Family:
    metric: str  # after cloudpbx_; counters get _total in the text format
    kind: str  # "counter" or "gauge"
    help: str


@dataclass(frozen=True)
class Sample:
    metric: str
    labels: tuple[tuple[str, str], ...]
    value: float


FAMILIES = (
    Family("sip_registers", "counter", "REGISTER requests by the answer the router gave."),
    Family("sip_calls", "counter", "New calls (initial INVITEs) by the router's decision."),
    Family("sip_auth_failures", "counter", "Wrong digest answers counted towards a ban."),
    Family("sip_bans", "counter", "Addresses and usernames banned, by reason."),
    Family("sip_requests", "counter", "SIP requests Kamailio received, by method."),
    Family("sip_replies_sent", "counter", "Replies Kamailio sent statelessly, by class."),
    Family("sip_transactions_active", "gauge", "SIP transactions in progress."),
    Family("sip_dialogs_active", "gauge", "Calls in progress (confirmed dialogs)."),
    Family("sip_dialogs_early", "gauge", "Calls ringing (early dialogs)."),
    Family("sip_registered_accounts", "gauge", "SIP accounts with at least one live contact."),
    Family("sip_registered_contacts", "gauge", "Live registered contacts."),
    Family("sip_memory_used_bytes", "gauge", "Kamailio's shared memory in use."),
    Family("sip_memory_free_bytes", "gauge", "Kamailio's shared memory still free."),
    Family("media_sessions_active", "gauge", "Calls whose media rtpengine relays now."),
    Family("media_sessions", "counter", "Calls whose media rtpengine relayed."),
    Family("media_sessions_ended", "counter", "Calls rtpengine stopped relaying, by how."),
    Family("media_packets_relayed", "counter", "RTP/RTCP packets rtpengine relayed."),
    Family("media_bytes_relayed", "counter", "Bytes of media rtpengine relayed."),
    Family("media_packet_errors", "counter", "Packets rtpengine could not relay."),
    Family("media_streams_one_way", "counter", "Streams with media in one direction only."),
)

_ROUTER = {
    **{register_counter(r): ("sip_registers", (("result", r),)) for r in REGISTER_RESULTS},
    **{call_counter(d): ("sip_calls", (("decision", d),)) for d in CALL_DECISIONS},
    **{ban_counter(r): ("sip_bans", (("reason", r),)) for r in BAN_REASONS},
    AUTH_FAILURES: ("sip_auth_failures", ()),
}
_METHODS = ("invite", "cancel", "ack", "bye", "info", "register", "subscribe", "notify",
            "message", "options", "prack", "update", "refer", "publish")  # fmt: skip
_KAMAILIO = {
    **{f"core:rcv_requests_{m}": ("sip_requests", (("method", m.upper()),)) for m in _METHODS},
    "tmx:active_transactions": ("sip_transactions_active", ()),
    "dialog:active_dialogs": ("sip_dialogs_active", ()),
    "dialog:early_dialogs": ("sip_dialogs_early", ()),
    # In memory with SQLite (write-back); with PostgreSQL (DB-only) read from the table.
    "usrloc:location_users": ("sip_registered_accounts", ()),
    "usrloc:location_contacts": ("sip_registered_contacts", ()),
    "shmem:real_used_size": ("sip_memory_used_bytes", ()),
    "shmem:free_size": ("sip_memory_free_bytes", ()),
}
# sl counts some codes apart ("sl:200_replies") and the rest per class ("sl:2xx_replies").
_SL_REPLIES = re.compile(r"^sl:([1-6])(?:\d\d|xx)_replies$")
_MEDIA_TOTALS = {
    "managedsessions": ("media_sessions", ()),
    "rejectedsessions": ("media_sessions_ended", (("end", "rejected"),)),
    "timeoutsessions": ("media_sessions_ended", (("end", "timeout"),)),  # no media (watch)
    "regularterminatedsessions": ("media_sessions_ended", (("end", "regular"),)),  # a BYE
    "forcedterminatedsessions": ("media_sessions_ended", (("end", "forced"),)),
    "relayedpackets": ("media_packets_relayed", ()),
    "relayedbytes": ("media_bytes_relayed", ()),
    "relayedpacketerrors": ("media_packet_errors", ()),
    "onewaystreams": ("media_streams_one_way", ()),
}


def kamailio_samples(statistics: Iterable[str]) -> list[Sample]:
    """Kamailio's ``stats.get_statistics all`` answer (``"group:name = value"`` lines) as
    samples of :data:`FAMILIES`; statistics we do not export are left out."""
    summed: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in statistics:
        name, _, value = line.partition(" = ")
        group, _, short = name.partition(":")
        wanted = _ROUTER.get(short) if group == "script" else _KAMAILIO.get(name)
        if wanted is None and (reply := _SL_REPLIES.match(name)):
            wanted = ("sip_replies_sent", (("class", f"{reply.group(1)}xx"),))
        number = _number(value)
        if wanted is not None and number is not None:
            summed[wanted] = summed.get(wanted, 0.0) + number
    return [Sample(metric, labels, value) for (metric, labels), value in summed.items()]


def rtpengine_samples(answer: dict[str, Any]) -> list[Sample]:
    """rtpengine's answer to the ng ``statistics`` command as samples of :data:`FAMILIES`."""
    statistics = answer.get("statistics", {})
    current = statistics.get("currentstatistics", {})
    found = []
    if (active := _number(current.get("sessionsown"))) is not None:
        found.append(Sample("media_sessions_active", (), active))
    for key, value in statistics.get("totalstatistics", {}).items():
        wanted = _MEDIA_TOTALS.get(key)
        number = _number(value)
        if wanted is not None and number is not None:
            found.append(Sample(wanted[0], wanted[1], number))
    return found


def _number(value: object) -> float | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
