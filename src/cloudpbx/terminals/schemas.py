"""Request and response shapes of the terminals API."""

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from ninja import Schema
from pydantic import Field

from cloudpbx.provisioning import redirects
from cloudpbx.terminals.models import Terminal

TerminalType = Literal["ip_phone", "app", "external"]
CallerIdMode = Literal["anonymous", "custom", "pbx_number"]
ConfigMode = Literal["manual", "automatic"]
AuthMode = Literal["credentials", "trusted_ip"]
Manufacturer = Literal["gigaset", "htek", "snom", "yealink"]
# "pbx": as set for the PBX (the customer's policy).
MediaEncryptionSetting = Literal["pbx", "off", "optional", "required"]


class OutboundIn(Schema):
    external_calls_enabled: bool | None = None
    identification_number: str | None = None
    internal_display_name: str | None = None
    internal_extension: str | None = None
    caller_id_mode: CallerIdMode | None = None
    custom_number: str | None = None
    pbx_number: str | None = None


class MediaIn(Schema):
    encryption: MediaEncryptionSetting


class ExternalIn(Schema):
    number: str


class InboundIn(Schema):
    extensions: list[str]


class ProvisioningIn(Schema):
    mode: ConfigMode
    manufacturer: Manufacturer | None = None
    model: str | None = None
    mac: str | None = None
    auth: AuthMode = "credentials"
    trusted_networks: list[str] = []
    mac_id: str | None = None


class TerminalIn(Schema):
    name: str
    type: TerminalType
    outbound: OutboundIn | None = None
    media: MediaIn | None = None
    external: ExternalIn | None = None
    inbound: InboundIn | None = None
    provisioning: ProvisioningIn | None = None
    generate_credentials: bool = True


class TerminalPatch(Schema):
    name: str | None = None
    type: TerminalType | None = None
    outbound: OutboundIn | None = None
    media: MediaIn | None = None
    external: ExternalIn | None = None
    inbound: InboundIn | None = None
    provisioning: ProvisioningIn | None = None
    generate_credentials: bool = False


class OutboundOut(Schema):
    external_calls_enabled: bool
    identification_number: str | None
    internal_display_name: str
    internal_extension: str | None
    caller_id_mode: CallerIdMode
    custom_number: str | None
    pbx_number: str | None


class MediaOut(Schema):
    encryption: MediaEncryptionSetting
    effective: Literal["off", "optional", "required"] = Field(
        description="What applies: the terminal's own setting, or the PBX's."
    )


class ExternalOut(Schema):
    number: str


class InboundOut(Schema):
    extensions: list[str]


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
    created: datetime
    updated: datetime

    @staticmethod
    def resolve_outbound(terminal: Terminal) -> dict[str, Any] | None:
        if not terminal.has_sip_account:
            return None
        return {
            "external_calls_enabled": terminal.external_calls_enabled,
            "identification_number": _e164(terminal.identification_number),
            "internal_display_name": terminal.internal_display_name,
            "internal_extension": (
                terminal.internal_extension.number if terminal.internal_extension else None
            ),
            "caller_id_mode": terminal.caller_id_mode,
            "custom_number": terminal.caller_id_custom or None,
            "pbx_number": _e164(terminal.caller_id_number),
        }

    @staticmethod
    def resolve_media(terminal: Terminal) -> dict[str, Any] | None:
        if not terminal.has_sip_account:
            return None
        return {
            "encryption": terminal.media_encryption or "pbx",
            "effective": terminal.effective_media_encryption,
        }

    @staticmethod
    def resolve_external(terminal: Terminal) -> dict[str, Any] | None:
        if terminal.type != Terminal.Type.EXTERNAL:
            return None
        return {"number": terminal.external_number}

    @staticmethod
    def resolve_inbound(terminal: Terminal) -> dict[str, Any]:
        return {"extensions": [e.number for e in terminal.ringing_extensions.all()]}

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
                redirect=redirects.status_dict(device),
                resync={"sent_at": device.resync_sent_at, "fetched_at": device.last_fetch_at},
            )
        return data


def _e164(number: Any) -> str | None:
    return number.e164 if number else None


class PasswordIn(Schema):
    password: str | None = None


class PasswordOut(Schema):
    username: str
    password: str


class CredentialsOut(Schema):
    """A terminal's secrets, revealed on request (admins only, never cached)."""

    sip: PasswordOut | None = Field(description="The SIP account; null without one.")
    provisioning: PasswordOut | None = Field(
        description="The phone's provisioning (HTTP) login; null unless it uses credentials."
    )


class TerminalFilter(Schema):
    type: TerminalType | None = None
    q: str | None = None
    extension: str | None = None


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
