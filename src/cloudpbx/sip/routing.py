"""Call routing decisions: pure functions, no Kamailio, no Django, no I/O.

Input: who calls (a :class:`Caller` from the directory) and what was dialled; output: a
decision object that :mod:`cloudpbx.sip.ksr` applies to the SIP transaction. Every rule of
DESIGN §5 that decides *where* a call goes and *which identity* it carries lives here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

from cloudpbx.sip.edge import uri_user

# A terminal's SRTP setting (its own, or its customer's).
MediaPolicy = Literal["off", "optional", "required"]

ANONYMOUS_DISPLAY = "Anonymous"
ANONYMOUS_URI_USER = "anonymous"


@dataclass(frozen=True)
class Caller:
    """A terminal placing a call, as the directory knows it."""

    terminal_id: int
    tenant_id: int
    country: str
    sip_username: str
    external_calls_enabled: bool
    identification_number: str | None  # E.164; the main number when none is set
    display_name: str
    extension: str | None
    caller_id_mode: Literal["anonymous", "custom", "pbx_number"]
    caller_id_custom: str
    caller_id_number: str | None
    # The customer's destination policy (operator settings): ISO countries external calls may
    # reach, and how many may run at once.
    allowed_countries: tuple[str, ...] = ()
    max_outbound_calls: int = 0
    media_encryption: MediaPolicy = "off"  # SRTP toward and from this phone


@dataclass(frozen=True)
class RingTarget:
    """One terminal to ring: a SIP account (all its registered contacts) or an external number."""

    terminal_id: int
    kind: Literal["sip", "external"]
    address: str  # SIP username, or E.164 for external phones
    media_encryption: MediaPolicy = "off"  # toward a SIP account's phones


@dataclass(frozen=True)
class ExtensionEntry:
    tenant_id: int
    number: str
    targets: tuple[RingTarget, ...]


@dataclass(frozen=True)
class Identity:
    """The identity headers a request leaves with."""

    from_display: str
    from_user: str
    asserted: str | None = None  # P-Asserted-Identity user (E.164)
    privacy: bool = False  # Privacy: id


@dataclass(frozen=True)
class Reject:
    code: int
    reason: str


@dataclass(frozen=True)
class Ring:
    """Fork in parallel to every target; ``identity`` is what the callees see."""

    tenant_id: int
    targets: tuple[RingTarget, ...]
    identity: Identity
    # Identity of branches that leave through the trunk (external phones of a call group).
    trunk_identity: Identity | None = None


@dataclass(frozen=True)
class ToTrunk:
    number: str  # E.164, or the emergency short number as dialled
    identity: Identity
    emergency: bool = False


Decision = Reject | Ring | ToTrunk


@dataclass(frozen=True)
class Destination:
    """A dialled string read with a country's numbering plan."""

    e164: str | None  # None: not a valid number
    barred: str | None = None  # why it must not be dialled (premium rate, directory…)


class NumberPlan(Protocol):
    """Numbering rules of a country (implemented over :mod:`cloudpbx.numbering_rules`)."""

    def is_emergency(self, country: str, dialled: str) -> bool: ...

    def destination(
        self, country: str, dialled: str, allowed_countries: Collection[str]
    ) -> Destination: ...


class Directory(Protocol):
    def extension(self, tenant_id: int, number: str) -> ExtensionEntry | None: ...

    def did(self, e164: str) -> tuple[int, str | None] | None:
        """The tenant and destination extension of a DID; None when the number is unknown."""
        ...


def clean_dialled(raw: str) -> str:
    """Keep what a keypad can send: digits, a leading + and * / # (feature codes)."""
    kept = "".join(c for c in raw if c.isdigit() or c in "+*#")
    return kept[:1] + kept[1:].replace("+", "")


def route_call(
    caller: Caller, dialled_raw: str, directory: Directory, plan: NumberPlan
) -> Decision:
    """Decide an INVITE from an authenticated terminal."""
    dialled = clean_dialled(dialled_raw)
    if not dialled:
        return Reject(404, "Not Found")

    # Emergency numbers first: no extension may shadow them (after a country change, say).
    if plan.is_emergency(caller.country, dialled):
        # Always out, even with external calls off, and never anonymous: the network number
        # lets the emergency service call back and locate the caller.
        number = caller.identification_number or caller.caller_id_number or ""
        return ToTrunk(
            number=dialled,
            identity=Identity(from_display="", from_user=number, asserted=number or None),
            emergency=True,
        )

    entry = directory.extension(caller.tenant_id, dialled)
    if entry is not None:
        return _ring_extension(entry, internal_identity(caller), caller)

    if not caller.external_calls_enabled:
        return Reject(403, "External Calls Disabled")
    destination = plan.destination(caller.country, dialled, caller.allowed_countries)
    if destination.barred:
        return Reject(403, "Destination Barred")
    if destination.e164 is None:
        return Reject(404, "Not Found")
    return ToTrunk(number=destination.e164, identity=external_identity(caller))


def did_to_e164(raw: str) -> str | None:
    """A DID as carriers send it: ``+4930…``, ``004930…`` or ``4930…`` (E.164 without +)."""
    digits = clean_dialled(raw)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        return None  # national format: ambiguous without the carrier's country
    return f"+{digits}" if 7 <= len(digits) <= 15 and digits.isdigit() else None


def route_inbound(did_raw: str, directory: Directory, caller_number: str) -> Decision:
    """Decide an INVITE from the trunk to one of our numbers."""
    e164 = did_to_e164(did_raw)
    found = directory.did(e164) if e164 else None
    if found is None:
        return Reject(404, "Not Found")
    tenant_id, extension_number = found
    entry = directory.extension(tenant_id, extension_number) if extension_number else None
    if entry is None:
        return Reject(480, "Temporarily Unavailable")
    # The carrier's From user reaches phones: only a URI-safe value is passed on.
    identity = Identity(from_display="", from_user=uri_user(caller_number, ANONYMOUS_URI_USER))
    return _ring_extension(entry, identity, caller=None)


def internal_identity(caller: Caller) -> Identity:
    """What colleagues see: the terminal's internal name and extension."""
    return Identity(
        from_display=caller.display_name,
        from_user=caller.extension or caller.sip_username,
    )


def external_identity(caller: Caller) -> Identity:
    """From / P-Asserted-Identity / Privacy for a call leaving through the trunk."""
    network = caller.identification_number or caller.caller_id_number
    if caller.caller_id_mode == "anonymous":
        return Identity(
            from_display=ANONYMOUS_DISPLAY,
            from_user=ANONYMOUS_URI_USER,
            asserted=network,
            privacy=True,
        )
    if caller.caller_id_mode == "custom" and caller.caller_id_custom:
        return Identity(from_display="", from_user=caller.caller_id_custom, asserted=network)
    shown = caller.caller_id_number or network or ANONYMOUS_URI_USER
    return Identity(from_display="", from_user=shown, asserted=shown)


def _ring_extension(entry: ExtensionEntry, identity: Identity, caller: Caller | None) -> Decision:
    targets = tuple(
        target
        for target in entry.targets
        if caller is None or target.terminal_id != caller.terminal_id
    )
    if not targets:
        return Reject(480, "Temporarily Unavailable")
    trunk_identity = None
    if any(target.kind == "external" for target in targets):
        # An external phone of the group sees the caller through the trunk: a colleague
        # shows with the PBX's network number (the internal extension means nothing outside).
        if caller is not None:
            number = caller.identification_number or caller.caller_id_number
            trunk_identity = Identity(
                from_display=caller.display_name,
                from_user=number or ANONYMOUS_URI_USER,
                asserted=number,
            )
        else:
            trunk_identity = identity
    return Ring(
        tenant_id=entry.tenant_id,
        targets=targets,
        identity=identity,
        trunk_identity=trunk_identity,
    )
