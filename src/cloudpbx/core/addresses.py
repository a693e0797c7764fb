"""MAC addresses and trusted networks as customers type them. Django-free; in core because
terminals, provisioning and trunks all read them."""

from __future__ import annotations

import ipaddress
import re

_SEPARATORS = re.compile(r"[\s:.\-]")
_HEX12 = re.compile(r"[0-9a-f]{12}")

MAX_IPV4_PREFIX_WIDTH = 16  # no range wider than a /16 …
MAX_IPV6_PREFIX_WIDTH = 48  # … or a /48: a trusted range is an office, not a provider
MAX_TRUSTED_NETWORKS = 20


class AddressError(ValueError):
    def __init__(self, code: str, value: str) -> None:
        super().__init__(code)
        self.code = code
        self.value = value


def parse_mac(raw: str) -> str:
    """Return 12 lowercase hex digits for any usual notation (colons, dashes, dots, none).

    Raises AddressError with code ``invalid``, ``zero``, ``broadcast`` or ``multicast``.
    """
    mac = _SEPARATORS.sub("", raw).lower()
    if not _HEX12.fullmatch(mac):
        raise AddressError("invalid", raw)
    if mac == "0" * 12:
        raise AddressError("zero", raw)
    if mac == "f" * 12:
        raise AddressError("broadcast", raw)
    if int(mac[:2], 16) & 1:
        # The I/G bit: a group address can never be a phone's own.
        raise AddressError("multicast", raw)
    return mac


def parse_network(raw: str, *, limit_width: bool = True) -> str:
    """Return the normalised CIDR of an address or range; refuse ranges wider than /16 or /48
    unless ``limit_width`` is off (carrier ranges may be wide).

    Raises AddressError with code ``invalid`` or ``too_wide``.
    """
    try:
        network = ipaddress.ip_network(raw.strip(), strict=False)
    except ValueError as exc:
        raise AddressError("invalid", raw) from exc
    widest = MAX_IPV4_PREFIX_WIDTH if network.version == 4 else MAX_IPV6_PREFIX_WIDTH
    if limit_width and network.prefixlen < widest:
        raise AddressError("too_wide", raw)
    return str(network)
