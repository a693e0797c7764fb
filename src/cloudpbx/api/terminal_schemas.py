"""Request and response shapes of the terminals API."""

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from ninja import Schema
from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from cloudpbx.api.terminal_fields import ExtensionNumber, answer_schema, body_schema, shown
from cloudpbx.core import credentials
from cloudpbx.core.addresses import MAX_TRUSTED_NETWORKS
from cloudpbx.core.api import BodySchema, InputSchema, max_length
from cloudpbx.provisioning import redirect_status
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.terminals.models import Terminal

TerminalType = Literal["ip_phone", "app", "external"]
ConfigMode = Literal["manual", "automatic"]
AuthMode = Literal["credentials", "trusted_ip"]
# The vendor registry's keys: a vendor added there is accepted here too.
Manufacturer = Literal[tuple(VENDORS)]  # type: ignore[valid-type]
# Twelve hex digits, in pairs optionally separated as people write them (80:5E:C0:AA:BB:CC,
# 80-5e-c0-aa-bb-cc, 805e.c0aa.bbcc, 805ec0aabbcc); the model refuses group addresses.
MAC_ADDRESS = r"^[0-9A-Fa-f]{2}(?:[\s:.\-]?[0-9A-Fa-f]{2}){5}$"
NAME_LENGTH = max_length(Terminal, "name")


# The groups of settings: their keys and types are the table's (terminal_fields.PLACES).
OutboundIn = body_schema("OutboundIn", "outbound")
MediaIn = body_schema("MediaIn", "media")
ExternalIn = body_schema("ExternalIn", "external")
InboundIn = body_schema("InboundIn", "inbound")


class ProvisioningIn(BodySchema):
    mode: ConfigMode
    manufacturer: Manufacturer | None = None
    model: str | None = Field(None, max_length=max_length(ProvisioningDevice, "model"))
    mac: str | None = Field(None, pattern=MAC_ADDRESS)
    auth: AuthMode = "credentials"
    trusted_networks: list[str] = Field([], max_length=MAX_TRUSTED_NETWORKS)
    mac_id: str | None = Field(
        None, description="Gigaset: the MAC-ID on the label, e.g. 7C2F80E0D605-AB12."
    )


class TerminalIn(BodySchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Softphone", "type": "app", "inbound": {"extensions": ["10"]}},
                {"name": "Mobile", "type": "external", "external": {"number": "0151 23456789"}},
            ]
        }
    )

    name: str = Field(min_length=1, max_length=NAME_LENGTH)
    type: TerminalType
    outbound: OutboundIn | None = None
    media: MediaIn | None = None
    external: ExternalIn | None = None
    inbound: InboundIn | None = None
    provisioning: ProvisioningIn | None = None
    base: int | None = Field(
        None,
        description=(
            "The id of a DECT base's terminal: the new terminal is a further handset of that "
            "base (an IP phone with its own SIP account, configured by the base's file: no "
            "provisioning of its own). Cannot be changed later."
        ),
    )
    generate_credentials: bool = True


class TerminalPatch(BodySchema):
    name: str | None = Field(None, min_length=1, max_length=NAME_LENGTH)
    type: TerminalType | None = None
    outbound: OutboundIn | None = None
    media: MediaIn | None = None
    external: ExternalIn | None = None
    inbound: InboundIn | None = None
    provisioning: ProvisioningIn | None = None
    generate_credentials: bool = False


OutboundOut = answer_schema("OutboundOut", "outbound")
MediaOut = answer_schema("MediaOut", "media")
ExternalOut = answer_schema("ExternalOut", "external")
InboundOut = answer_schema("InboundOut", "inbound")


class SipOut(Schema):
    """Where and as whom the terminal registers; the password only through
    ``GET …/credentials`` (admins)."""

    username: str
    domain: str
    registrar: str
    port: int
    transport: str


class RedirectOut(Schema):
    """The phone's registration at its manufacturer's redirect service.

    ``state``: ``not_needed`` (no API: follow ``instructions``), ``not_configured`` (the
    operator has not set up that service), ``not_registered``, ``pending``, ``done``,
    ``failed`` (``detail`` holds the service's reason; ``POST …/redirect-retry``).
    ``credentials`` (phones with HTTP credentials; null for trusted IP): ``sent`` (the service
    hands the phone its provisioning username and password with the URL) or ``not_carried``
    (enter them on the phone)."""

    state: str
    service: str | None = None
    detail: str | None = None
    attempts: int = 0
    updated: datetime | None = None
    url: str
    instructions: str | None = None
    credentials: Literal["sent", "not_carried"] | None = None


class ResyncOut(Schema):
    """When check-sync was last sent (``POST …/resync``) and the phone last fetched its file."""

    sent_at: datetime | None = None
    fetched_at: datetime | None = None


class ProvisioningOut(Schema):
    mode: ConfigMode
    manufacturer: str | None = None
    model: str | None = None
    mac: str | None = None
    auth: AuthMode | None = None
    acs_username: str | None = None
    trusted_networks: list[str] = []
    url: str | None = None
    mac_id: str | None = None
    redirect: RedirectOut | None = None
    resync: ResyncOut | None = None


class TerminalOut(Schema):
    """A terminal as the API shows it; resolvers read the model (rows prefetched by the view)."""

    id: int
    name: str
    type: TerminalType
    outbound: OutboundOut | None
    media: MediaOut | None
    external: ExternalOut | None
    inbound: InboundOut
    sip: SipOut | None
    provisioning: ProvisioningOut | None
    base: int | None = Field(
        description="A handset of a DECT base: the id of the base's terminal; else null."
    )
    handset_number: int | None = Field(
        description=(
            "A DECT base's handsets are numbered on the base: 1 for the base's own terminal, "
            "2, 3… for its further handsets; null for other terminals."
        )
    )
    created: datetime
    updated: datetime

    @staticmethod
    def resolve_base(terminal: Terminal) -> int | None:
        return terminal.base.terminal_id if terminal.base else None

    @staticmethod
    def resolve_handset_number(terminal: Terminal) -> int | None:
        if terminal.base is not None:
            return terminal.handset_number
        device = terminal.device
        return 1 if device is not None and device.is_dect_base else None

    resolve_outbound = staticmethod(shown("outbound"))
    resolve_media = staticmethod(shown("media"))
    resolve_external = staticmethod(shown("external"))
    resolve_inbound = staticmethod(shown("inbound"))

    @staticmethod
    def resolve_sip(terminal: Terminal) -> dict[str, Any] | None:
        if not terminal.sip_username:
            return None
        return {
            "username": terminal.sip_username,
            "domain": settings.CLOUDPBX_SIP_DOMAIN,
            "registrar": settings.CLOUDPBX_SIP_DOMAIN,
            "port": settings.CLOUDPBX_SIP_PORT,
            "transport": settings.CLOUDPBX_SIP_TRANSPORT,
        }

    @staticmethod
    def resolve_provisioning(terminal: Terminal) -> dict[str, Any] | None:
        if terminal.type != Terminal.Type.IP_PHONE:
            return None
        data: dict[str, Any] = {"mode": terminal.config_mode}
        device = terminal.device
        if device is not None:
            data.update(
                manufacturer=device.manufacturer,
                model=device.model,
                mac=device.mac,
                auth=device.auth_mode,
                acs_username=device.acs_username,
                trusted_networks=device.trusted_networks,
                url=f"{settings.CLOUDPBX_PUBLIC_URL}/prov/",
                mac_id=device.mac_id_crc or None,
                redirect=redirect_status.status_dict(device),
                resync={"sent_at": device.resync_sent_at, "fetched_at": device.last_fetch_at},
            )
        return data


class PasswordIn(BodySchema):
    password: str | None = Field(
        None,
        min_length=credentials.MIN_CHOSEN_PASSWORD_LENGTH,
        max_length=credentials.MAX_PASSWORD_LENGTH,
        description="Absent or null: generate one.",
    )


class PasswordOut(Schema):
    username: str
    password: str


class CredentialsOut(Schema):
    """A terminal's secrets, revealed on request (admins only, never cached)."""

    sip: PasswordOut | None = Field(description="The SIP account; null without one.")
    provisioning: PasswordOut | None = Field(
        description="The phone's provisioning (HTTP) login; null unless it uses credentials."
    )


class TerminalFilter(InputSchema):
    # Absent means "any"; a query string cannot say null, so the schema does not offer it.
    type: TerminalType | SkipJsonSchema[None] = None
    q: str | SkipJsonSchema[None] = Field(
        None, max_length=NAME_LENGTH, description="In the name, or the SIP username."
    )
    extension: ExtensionNumber | SkipJsonSchema[None] = None


class ContactOut(Schema):
    uri: str
    user_agent: str
    source: str = Field(description="Where the phone's requests come from (its public address).")
    expires: int
    behind_nat: bool = Field(description="The phone's Contact names another address than source.")
    private_address: str = Field(
        description="Behind NAT: the address the phone's Contact names (empty otherwise)."
    )
    transport: str = Field(description="How the phone registered: udp, tcp or tls.")


class LastCallOut(Schema):
    at: datetime
    transport: str = Field(description="Of its signalling: udp, tcp or tls.")
    encrypted: bool = Field(description="Its media was SRTP between the phone and the PBX.")


class StatusOut(Schema):
    online: bool
    contacts: list[ContactOut]
    last_call: LastCallOut | None = Field(
        None, description="The last call placed or answered since the SIP server started."
    )


class AppLinkOut(Schema):
    url: str
    expires_at: datetime
    qr_svg: str
