"""What every vendor plugin declares. Django-free: the provisioning engine imports it too.

A plugin is plain data plus two functions:

- ``models``: the phones we serve (the portal offers exactly these);
- ``files``: one :class:`FileRule` per file name its phones request, each with real samples;
- ``user_agents``: how its phones name themselves, each regex with real samples next to it;
- ``context(config)``: the vendor's encodings of a :class:`PhoneConfig` (transport codes,
  language names, time-zone notation…) handed to its Jinja2 templates;
- ``read_account(body)``: the SIP credentials a rendered file gives the phone (tests and the
  end-to-end registration check read files back with it); ``read_handsets(body)``, for DECT
  bases, every handset's.

A setting a vendor's file cannot express is refused, never dropped: ``context`` raises
:class:`UnsupportedSetting` (e.g. SRTP on a phone whose SRTP key is not verified), so a phone
never registers with less protection than the configuration asks for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from cloudpbx.provisioning.phoneconfig import (
    MEDIA_ENCRYPTIONS,
    PhoneConfig,
    SipCredentials,
    printable,
)

FileKind = Literal["device", "common", "absent"]
MacCase = Literal["lower", "upper"]


@dataclass(frozen=True)
class PhoneModel:
    key: str  # as stored and as the phone names itself, e.g. "T54W"
    label: str  # as shown in the portal, e.g. "T54W"
    family: str = ""  # template family inside the vendor, e.g. "maxwell"
    code: str = ""  # the vendor's model code in common file names, e.g. "96" (y000000000096.cfg)
    # How many handsets, each its own SIP account and terminal, one device of this model
    # serves: 1 for a desk phone; for a DECT base, the limit its manufacturer documents.
    handsets: int = 1

    @property
    def is_dect_base(self) -> bool:
        return self.handsets > 1

    @property
    def slug(self) -> str:
        """Directory name of this model's template overrides (``models/<slug>/``)."""
        return re.sub(r"[^a-z0-9]+", "-", self.key.lower()).strip("-")


@dataclass(frozen=True)
class FileRule:
    """A file name the vendor's phones request, matched case-insensitively.

    ``kind``: ``device`` (holds secrets: MAC in the name, authenticated), ``common`` (rendered
    without any secret for everyone), ``absent`` (a known request we answer 404 on purpose).
    Named groups: ``mac`` (12 hex digits), ``model`` (model key), ``code`` (model code).
    """

    kind: FileKind
    pattern: str
    template: str  # template file name, e.g. "device.cfg.j2" ("" for absent files)
    samples: tuple[str, ...]
    content_type: str = "text/plain; charset=utf-8"
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern, re.IGNORECASE))


@dataclass(frozen=True)
class UserAgent:
    """What a phone says about itself; ``mac`` normalised to 12 lowercase hex, or None."""

    model: str
    firmware: str
    mac: str | None


@dataclass(frozen=True)
class UserAgentRule:
    pattern: str  # named groups: model, firmware, mac (optional)
    samples: tuple[str, ...]
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))


class UnsupportedSetting(ValueError):
    """The configuration asks for something this vendor's file cannot say (verified keys only).

    Raised by ``Vendor.context`` while rendering (so also by ``render.render_device``); the
    message names the vendor, the setting and why, for the operator."""

    def __init__(self, vendor: str, setting: str, value: str, reason: str) -> None:
        self.vendor, self.setting, self.value = vendor, setting, value
        super().__init__(f"{vendor}: {setting}={value!r} is not supported: {reason}")


def media_encryption(config: PhoneConfig) -> str:
    """The account's SRTP mode, checked (a typo must not read as "off")."""
    mode = config.account.media_encryption
    if mode not in MEDIA_ENCRYPTIONS:
        raise ValueError(f"media_encryption must be one of {MEDIA_ENCRYPTIONS}, not {mode!r}")
    return mode


def trusted_ca_url(config: PhoneConfig) -> str | None:
    """The private CA's URL, checked: one http(s) token, nothing a line- or attribute-based
    format could be broken out of (Yealink's ``key = value`` lines above all)."""
    url = config.trusted_ca_url
    if url is None:
        return None
    if (
        printable(url) != url
        or any(ch in url for ch in ' "<>')
        or not url.startswith(("https://", "http://"))
    ):
        raise ValueError(f"trusted_ca_url is not a plain http(s) URL: {url!r}")
    return url


def _no_context(config: PhoneConfig) -> Mapping[str, object]:
    return {}


def _no_reader(body: bytes) -> SipCredentials:
    raise NotImplementedError


@dataclass(frozen=True)
class Vendor:
    key: str
    name: str
    models: tuple[PhoneModel, ...]
    has_redirect_api: bool
    # What a redirect service appends to our base URL for this vendor's phones: "{model}" is
    # filled in here, anything else the phone fills in itself (Snom "{mac}", Gigaset "%MACD").
    redirect_path: str = ""
    # Without an API: the manufacturer's portal where the customer registers the MAC, as the
    # instructions name it (e.g. "RPS").
    redirect_portal: str = ""
    files: tuple[FileRule, ...] = ()
    user_agents: tuple[UserAgentRule, ...] = ()
    mac_case: MacCase = "lower"
    # HTTP Basic is accepted only from vendors whose phones cannot do Digest, and only over
    # HTTPS. None of the vendors served today needs it (docs/provisioning.md: sources).
    basic_auth: bool = False
    # The SIP NOTIFY ``Event`` that makes the phone fetch its files again without rebooting.
    # Yealink and Snom (Wazo's plugins, FusionPBX), Gigaset Nx70 (Gigaset wiki "SIP:
    # Check-sync message") document this one; Htek is assumed to follow Yealink (unverified).
    check_sync_event: str = "check-sync;reboot=false"
    # Whether the file can make the phone download and trust ``PhoneConfig.trusted_ca_url``.
    # False: no verified key exists, the file says nothing about it, and the operator installs
    # the private CA on the device by hand (its web UI) before it can verify our certificate.
    installs_private_ca: bool = False
    # Whether the file can set the phone to refuse calls without SRTP ("required").
    requires_srtp: bool = True
    # The longest provisioning (HTTP) password the phones take: generated ones are cut to it,
    # chosen ones refused above it.
    acs_password_max_length: int = 64
    # How long a DECT base lets new handsets register once one is added, in seconds (its
    # file opens the window); 0: the vendor serves no bases.
    handset_registration_seconds: int = 0
    # The PIN a new handset registers with, from its extension ("" when it has none).
    handset_pin: Callable[[str], str] | None = None
    context: Callable[[PhoneConfig], Mapping[str, object]] = _no_context
    read_account: Callable[[bytes], SipCredentials] = _no_reader
    # A DECT base's file holds one account per handset: {handset number: account}.
    read_handsets: Callable[[bytes], dict[int, SipCredentials]] | None = None

    def read_accounts(self, body: bytes) -> dict[int, SipCredentials]:
        """Every SIP account the file gives, by handset number (a desk phone's is 1)."""
        if self.read_handsets is not None:
            return self.read_handsets(body)
        return {1: self.read_account(body)}

    def model(self, key: str) -> PhoneModel | None:
        return next((m for m in self.models if m.key == key), None)

    def model_by_name(self, name: str) -> PhoneModel | None:
        """The model a phone names (in a path or User-Agent), ignoring case."""
        wanted = name.lower()
        return next((m for m in self.models if m.key.lower() == wanted), None)

    def model_by_code(self, code: str) -> PhoneModel | None:
        wanted = code.lstrip("0")
        return next((m for m in self.models if m.code and m.code == wanted), None)

    def mac_text(self, mac: str) -> str:
        """The MAC as this vendor writes it in file names and URLs."""
        return mac.upper() if self.mac_case == "upper" else mac.lower()

    def parse_user_agent(self, user_agent: str) -> UserAgent | None:
        for rule in self.user_agents:
            found = rule.regex.search(user_agent)
            if found:
                groups = found.groupdict()
                raw_mac = groups.get("mac")
                mac = re.sub(r"[^0-9a-f]", "", raw_mac.lower()) if raw_mac else None
                return UserAgent(
                    model=groups.get("model") or "",
                    firmware=groups.get("firmware") or "",
                    mac=mac if mac and len(mac) == 12 else None,
                )
        return None


def models_of(*keys: str) -> tuple[PhoneModel, ...]:
    return tuple(PhoneModel(key=key, label=key) for key in keys)
