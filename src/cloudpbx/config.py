"""Typed settings read from the environment, in one place.

Every ``CLOUDPBX_*`` variable is read here and nowhere else. The embedded mode (the default)
has safe defaults for a single machine; production mode refuses to start with unsafe ones.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(RuntimeError):
    """Raised when the environment asks for something unsafe or inconsistent."""


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from exc


def _list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _unspecified(address: str) -> bool:
    """0.0.0.0 or :: (every address): a relay cannot tell phones where to send media."""
    try:
        return ipaddress.ip_address(address.strip("[]")).is_unspecified
    except ValueError:
        return False


@dataclass(frozen=True)
class Config:
    production: bool
    data_dir: Path
    secret_key: str
    secret_key_fallbacks: list[str]
    database_url: str
    allowed_hosts: list[str]
    http_host: str
    http_port: int
    http_workers: int
    https_port: int
    public_web_url: str
    # TLS for the web server and Kamailio: a PEM chain and its key; "" = the embedded CA's.
    tls_certificate: str
    tls_key: str
    sip_domain: str
    sip_realm: str
    sip_port: int
    sip_transport: str
    sip_tls_port: int
    # SIP over secure WebSocket for the portal's browser softphone (0: none).
    sip_wss_port: int
    sip_plain_phones: bool
    sip_listen: str
    sip_rpc_port: int
    # Kamailio's JSON-RPC: loopback unless other nodes' portals must reach it (then a private
    # address, and the networks of the nodes allowed to call it besides loopback).
    sip_rpc_listen: str
    sip_rpc_peers: list[str]
    sip_children: int
    sip_ring_timeout: int
    sip_max_contacts: int
    sip_flood_requests_per_2s: int
    sip_ban_seconds: int
    sip_auth_failures_per_ip: int
    sip_auth_failures_per_user: int
    sip_shm_mb: int
    sip_flood_exempt: list[str]
    sip_debug: int
    # With SQLite: registrations written back every few seconds, or with each REGISTER.
    sip_usrloc_mode: str
    # Media relay (rtpengine)
    media_address: str
    media_advertise: str
    media_ng_port: int
    media_port_min: int
    media_port_max: int
    media_timeout: int
    kamailio_rpc_urls: list[str]
    # This node among several on one PostgreSQL (its job worker's name, its heartbeat).
    node_name: str
    trusted_proxies: list[str]
    # Provisioning server (ACS)
    prov_realm: str
    prov_nonce_seconds: int
    prov_lockout_mac_failures: int
    prov_lockout_ip_failures: int
    prov_lockout_window_seconds: int
    prov_lockout_seconds: int
    prov_alert_mac_failures: int
    prov_ntp_servers: list[str]
    prov_resync_seconds: int
    prov_plain_http: bool
    app_link_hours: int
    # Operations: "plain" or "json" log lines; the bearer token of /metrics ("" = loopback only).
    log_format: str
    metrics_token: str

    @property
    def phone_port(self) -> int:
        """The SIP port phones and apps are told: the TLS port over TLS."""
        return self.sip_tls_port if self.sip_transport == "tls" else self.sip_port

    @property
    def portal_origin(self) -> str:
        """The portal's origin (scheme, host, port): the only one whose pages may open a
        WebSocket to the SIP server."""
        url = urlsplit(self.public_web_url)
        return f"{url.scheme}://{url.netloc}".lower()

    @property
    def softphone_url(self) -> str:
        """Where the browser softphone connects: the web host, the secure WebSocket port."""
        host = urlsplit(self.public_web_url).hostname or self.http_host
        return f"wss://{f'[{host}]' if ':' in host else host}:{self.sip_wss_port}/sip"


# Config field → environment variable, for handing the same settings to a child process.
ENVIRONMENT_NAMES = {
    "data_dir": "CLOUDPBX_DATA_DIR",
    "secret_key": "CLOUDPBX_SECRET_KEY",
    "secret_key_fallbacks": "CLOUDPBX_SECRET_KEY_FALLBACKS",
    "database_url": "CLOUDPBX_DATABASE_URL",
    "allowed_hosts": "CLOUDPBX_ALLOWED_HOSTS",
    "http_host": "CLOUDPBX_HTTP_HOST",
    "http_port": "CLOUDPBX_HTTP_PORT",
    "http_workers": "CLOUDPBX_HTTP_WORKERS",
    "https_port": "CLOUDPBX_HTTPS_PORT",
    "public_web_url": "CLOUDPBX_PUBLIC_URL",
    "tls_certificate": "CLOUDPBX_TLS_CERTIFICATE",
    "tls_key": "CLOUDPBX_TLS_KEY",
    "sip_domain": "CLOUDPBX_SIP_DOMAIN",
    "sip_realm": "CLOUDPBX_SIP_REALM",
    "sip_port": "CLOUDPBX_SIP_PORT",
    "sip_transport": "CLOUDPBX_SIP_TRANSPORT",
    "sip_tls_port": "CLOUDPBX_SIP_TLS_PORT",
    "sip_wss_port": "CLOUDPBX_SIP_WSS_PORT",
    "sip_plain_phones": "CLOUDPBX_SIP_PLAIN_PHONES",
    "sip_listen": "CLOUDPBX_SIP_LISTEN",
    "sip_rpc_port": "CLOUDPBX_SIP_RPC_PORT",
    "sip_rpc_listen": "CLOUDPBX_SIP_RPC_LISTEN",
    "sip_rpc_peers": "CLOUDPBX_SIP_RPC_PEERS",
    "sip_children": "CLOUDPBX_SIP_CHILDREN",
    "sip_ring_timeout": "CLOUDPBX_SIP_RING_TIMEOUT",
    "sip_max_contacts": "CLOUDPBX_SIP_MAX_CONTACTS",
    "sip_flood_requests_per_2s": "CLOUDPBX_SIP_FLOOD_LIMIT",
    "sip_ban_seconds": "CLOUDPBX_SIP_BAN_SECONDS",
    "sip_auth_failures_per_ip": "CLOUDPBX_SIP_AUTH_FAILURES_PER_IP",
    "sip_auth_failures_per_user": "CLOUDPBX_SIP_AUTH_FAILURES_PER_USER",
    "sip_shm_mb": "CLOUDPBX_SIP_SHM_MB",
    "sip_flood_exempt": "CLOUDPBX_SIP_FLOOD_EXEMPT",
    "sip_debug": "CLOUDPBX_SIP_DEBUG",
    "sip_usrloc_mode": "CLOUDPBX_SIP_USRLOC_MODE",
    "media_address": "CLOUDPBX_MEDIA_ADDRESS",
    "media_advertise": "CLOUDPBX_MEDIA_ADVERTISE",
    "media_ng_port": "CLOUDPBX_MEDIA_NG_PORT",
    "media_port_min": "CLOUDPBX_MEDIA_PORT_MIN",
    "media_port_max": "CLOUDPBX_MEDIA_PORT_MAX",
    "media_timeout": "CLOUDPBX_MEDIA_TIMEOUT",
    "kamailio_rpc_urls": "CLOUDPBX_KAMAILIO_RPC_URLS",
    "node_name": "CLOUDPBX_NODE_NAME",
    "trusted_proxies": "CLOUDPBX_TRUSTED_PROXIES",
    "prov_realm": "CLOUDPBX_PROV_REALM",
    "prov_nonce_seconds": "CLOUDPBX_PROV_NONCE_SECONDS",
    "prov_lockout_mac_failures": "CLOUDPBX_PROV_LOCKOUT_MAC_FAILURES",
    "prov_lockout_ip_failures": "CLOUDPBX_PROV_LOCKOUT_IP_FAILURES",
    "prov_lockout_window_seconds": "CLOUDPBX_PROV_LOCKOUT_WINDOW_SECONDS",
    "prov_lockout_seconds": "CLOUDPBX_PROV_LOCKOUT_SECONDS",
    "prov_alert_mac_failures": "CLOUDPBX_PROV_ALERT_MAC_FAILURES",
    "prov_ntp_servers": "CLOUDPBX_PROV_NTP_SERVERS",
    "prov_resync_seconds": "CLOUDPBX_PROV_RESYNC_SECONDS",
    "log_format": "CLOUDPBX_LOG_FORMAT",
    "metrics_token": "CLOUDPBX_METRICS_TOKEN",
    "prov_plain_http": "CLOUDPBX_PROV_PLAIN_HTTP",
    "app_link_hours": "CLOUDPBX_APP_LINK_HOURS",
}


def derived_key(secret_key: str, purpose: str) -> bytes:
    """A key for one purpose, derived from the server key: the same on every node, and none
    of them reveals the server key or another purpose's key."""
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()


def kamailio_rpc_token(secret_key: str) -> str:
    """The bearer token Kamailio's RPC answers (checked in ``sip/ksr.py``); here so that
    settings.py needs nothing from sip/."""
    return derived_key(secret_key, "kamailio rpc").hex()


def to_environment(config: Config) -> dict[str, str]:
    """The variables that make :func:`load` return ``config`` again (in another process)."""
    env = {"CLOUDPBX_MODE": "production" if config.production else "embedded"}
    for name, variable in ENVIRONMENT_NAMES.items():
        value = getattr(config, name)
        env[variable] = ",".join(value) if isinstance(value, list) else str(value)
    return env


def _private_directory(path: Path) -> None:
    """The data dir holds the database, the server key and certificate keys: owner only
    (0700), also when an older version or the operator created it wider."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if status.st_uid == os.geteuid() and status.st_mode & 0o077:
        path.chmod(0o700)


def _embedded_secret_key(data_dir: Path) -> str:
    """Generate the server key once and keep it in the data dir, readable by the owner only."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def load() -> Config:
    production = os.environ.get("CLOUDPBX_MODE", "embedded").strip().lower() == "production"
    data_dir = Path(os.environ.get("CLOUDPBX_DATA_DIR", "./var")).resolve()
    _private_directory(data_dir)

    secret_key = os.environ.get("CLOUDPBX_SECRET_KEY", "")
    if not secret_key:
        if production:
            raise ConfigError("CLOUDPBX_SECRET_KEY is required in production mode")
        secret_key = _embedded_secret_key(data_dir)
    elif production and len(secret_key) < 40:
        raise ConfigError("CLOUDPBX_SECRET_KEY must be at least 40 characters in production")

    database_url = os.environ.get("CLOUDPBX_DATABASE_URL", "")
    if not database_url:
        database_url = f"sqlite:///{data_dir / 'cloudpbx.sqlite3'}"

    http_host = os.environ.get("CLOUDPBX_HTTP_HOST", "127.0.0.1")
    http_port = _int("CLOUDPBX_HTTP_PORT", 8000)
    default_hosts = ["127.0.0.1", "localhost", "[::1]"]
    allowed_hosts = _list("CLOUDPBX_ALLOWED_HOSTS", [] if production else default_hosts)
    if production and (not allowed_hosts or "*" in allowed_hosts):
        raise ConfigError("CLOUDPBX_ALLOWED_HOSTS must list the public host names in production")

    # 0: the web server speaks plain HTTP only, TLS ends at a reverse proxy.
    https_port = _int("CLOUDPBX_HTTPS_PORT", 8443)
    trusted_proxies = _list("CLOUDPBX_TRUSTED_PROXIES", [])
    if production and not https_port and not trusted_proxies:
        raise ConfigError(
            "CLOUDPBX_HTTPS_PORT=0 serves the portal and provisioning over plain HTTP only: "
            "in production, name the TLS reverse proxy in CLOUDPBX_TRUSTED_PROXIES"
        )
    default_url = (
        f"https://{http_host}:{https_port}" if https_port else f"http://{http_host}:{http_port}"
    )
    public_web_url = os.environ.get("CLOUDPBX_PUBLIC_URL", "" if production else default_url)
    public_web_url = public_web_url.rstrip("/")
    if production and not public_web_url.startswith("https://"):
        raise ConfigError("CLOUDPBX_PUBLIC_URL must be an https:// URL in production")
    tls_certificate = os.environ.get("CLOUDPBX_TLS_CERTIFICATE", "")
    tls_key = os.environ.get("CLOUDPBX_TLS_KEY", "")
    if bool(tls_certificate) != bool(tls_key):
        raise ConfigError("CLOUDPBX_TLS_CERTIFICATE and CLOUDPBX_TLS_KEY go together")
    if production and not tls_certificate:
        raise ConfigError(
            "CLOUDPBX_TLS_CERTIFICATE and CLOUDPBX_TLS_KEY are required in production "
            "(a certificate chain and its key, e.g. from certbot)"
        )

    sip_domain = os.environ.get("CLOUDPBX_SIP_DOMAIN", "127.0.0.1")
    # What phones and apps are told to register over.
    transport = os.environ.get("CLOUDPBX_SIP_TRANSPORT", "tls" if production else "udp").lower()
    if transport not in {"udp", "tcp", "tls"}:
        raise ConfigError("CLOUDPBX_SIP_TRANSPORT must be udp, tcp or tls")
    # Phones over UDP/TCP (the carrier always may): off in production unless opted in.
    sip_plain_phones = _bool("CLOUDPBX_SIP_PLAIN_PHONES", not production)
    if transport != "tls" and not sip_plain_phones:
        raise ConfigError(
            f"CLOUDPBX_SIP_TRANSPORT={transport} tells phones to use plain SIP, which "
            "CLOUDPBX_SIP_PLAIN_PHONES refuses: use tls, or opt in to plain SIP for phones"
        )

    sip_listen = os.environ.get("CLOUDPBX_SIP_LISTEN", "127.0.0.1")
    sip_rpc_listen = os.environ.get("CLOUDPBX_SIP_RPC_LISTEN", "").strip() or "127.0.0.1"
    sip_rpc_peers = _list("CLOUDPBX_SIP_RPC_PEERS", [])
    try:
        if ipaddress.ip_address(sip_rpc_listen).is_unspecified:
            raise ValueError
        for network in sip_rpc_peers:
            ipaddress.ip_network(network, strict=False)
    except ValueError:
        raise ConfigError(
            "CLOUDPBX_SIP_RPC_LISTEN must be one address (not 0.0.0.0) and "
            "CLOUDPBX_SIP_RPC_PEERS a comma-separated list of networks"
        ) from None
    media_address = os.environ.get("CLOUDPBX_MEDIA_ADDRESS", "") or sip_listen
    if _unspecified(media_address):
        raise ConfigError(
            "CLOUDPBX_MEDIA_ADDRESS must name the address media is relayed on "
            "when CLOUDPBX_SIP_LISTEN listens on every address"
        )
    media_port_min = _int("CLOUDPBX_MEDIA_PORT_MIN", 30000)
    media_port_max = _int("CLOUDPBX_MEDIA_PORT_MAX", 30999)
    if not 1024 <= media_port_min < media_port_max <= 65535:
        raise ConfigError(
            "CLOUDPBX_MEDIA_PORT_MIN and CLOUDPBX_MEDIA_PORT_MAX must be a range within 1024-65535"
        )

    usrloc_mode = os.environ.get("CLOUDPBX_SIP_USRLOC_MODE", "write-back").strip().lower()
    if usrloc_mode not in {"write-back", "write-through"}:
        raise ConfigError("CLOUDPBX_SIP_USRLOC_MODE must be write-back or write-through")
    node_name = os.environ.get("CLOUDPBX_NODE_NAME", "").strip() or socket.gethostname()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", node_name):
        raise ConfigError(
            "CLOUDPBX_NODE_NAME must be 1-63 letters, digits, dots, dashes or underscores"
        )
    log_format = os.environ.get("CLOUDPBX_LOG_FORMAT", "plain").strip().lower()
    if log_format not in {"plain", "json"}:
        raise ConfigError("CLOUDPBX_LOG_FORMAT must be plain or json")
    metrics_token = os.environ.get("CLOUDPBX_METRICS_TOKEN", "")
    if metrics_token and len(metrics_token) < 32:
        raise ConfigError("CLOUDPBX_METRICS_TOKEN must be at least 32 characters")

    return Config(
        production=production,
        data_dir=data_dir,
        secret_key=secret_key,
        secret_key_fallbacks=_list("CLOUDPBX_SECRET_KEY_FALLBACKS", []),
        database_url=database_url,
        allowed_hosts=allowed_hosts,
        http_host=http_host,
        http_port=http_port,
        http_workers=_int("CLOUDPBX_HTTP_WORKERS", max(2, os.cpu_count() or 1)),
        https_port=https_port,
        public_web_url=public_web_url,
        tls_certificate=tls_certificate,
        tls_key=tls_key,
        sip_domain=sip_domain,
        sip_realm=os.environ.get("CLOUDPBX_SIP_REALM", sip_domain),
        sip_port=_int("CLOUDPBX_SIP_PORT", 5060),
        sip_transport=transport,
        sip_tls_port=_int("CLOUDPBX_SIP_TLS_PORT", 5061),
        sip_wss_port=_int("CLOUDPBX_SIP_WSS_PORT", 7443),
        sip_plain_phones=sip_plain_phones,
        sip_listen=sip_listen,
        sip_rpc_port=_int("CLOUDPBX_SIP_RPC_PORT", 5071),
        sip_rpc_listen=sip_rpc_listen,
        sip_rpc_peers=sip_rpc_peers,
        sip_children=_int("CLOUDPBX_SIP_CHILDREN", max(2, (os.cpu_count() or 1) * 2)),
        sip_ring_timeout=_int("CLOUDPBX_SIP_RING_TIMEOUT", 30),
        sip_max_contacts=_int("CLOUDPBX_SIP_MAX_CONTACTS", 5),
        # 50 phones behind one NAT address rebooting together send ~6 requests each.
        sip_flood_requests_per_2s=_int("CLOUDPBX_SIP_FLOOD_LIMIT", 400),
        sip_ban_seconds=_int("CLOUDPBX_SIP_BAN_SECONDS", 600),
        sip_auth_failures_per_ip=_int("CLOUDPBX_SIP_AUTH_FAILURES_PER_IP", 30),
        sip_auth_failures_per_user=_int("CLOUDPBX_SIP_AUTH_FAILURES_PER_USER", 10),
        sip_shm_mb=_int("CLOUDPBX_SIP_SHM_MB", 256),
        # Sources never flood-banned (load generators, a carrier): CIDRs.
        sip_flood_exempt=_list("CLOUDPBX_SIP_FLOOD_EXEMPT", []),
        sip_debug=_int("CLOUDPBX_SIP_DEBUG", 1),
        sip_usrloc_mode=usrloc_mode,
        media_address=media_address,
        # The public address of a server behind 1:1 NAT (cloud VMs), written into SDP.
        media_advertise=os.environ.get("CLOUDPBX_MEDIA_ADVERTISE", ""),
        media_ng_port=_int("CLOUDPBX_MEDIA_NG_PORT", 2223),
        media_port_min=media_port_min,
        media_port_max=media_port_max,
        # A relayed call without media in either direction for this long is ended.
        media_timeout=_int("CLOUDPBX_MEDIA_TIMEOUT", 60),
        kamailio_rpc_urls=_list(
            "CLOUDPBX_KAMAILIO_RPC_URLS",
            [f"http://{sip_rpc_listen}:{_int('CLOUDPBX_SIP_RPC_PORT', 5071)}/RPC"],
        ),
        node_name=node_name,
        trusted_proxies=trusted_proxies,
        prov_realm=os.environ.get("CLOUDPBX_PROV_REALM", "cloudpbx provisioning"),
        prov_nonce_seconds=_int("CLOUDPBX_PROV_NONCE_SECONDS", 300),
        # Per MAC from one address: a phone never fails by itself, 10 failures are someone
        # guessing (only that address loses the MAC: a stranger cannot lock the phone out).
        # Per address: a whole office behind one NAT shares it, so allow more. Per MAC from
        # everywhere: never a lock, only a warning in the log.
        prov_lockout_mac_failures=_int("CLOUDPBX_PROV_LOCKOUT_MAC_FAILURES", 10),
        prov_lockout_ip_failures=_int("CLOUDPBX_PROV_LOCKOUT_IP_FAILURES", 30),
        prov_lockout_window_seconds=_int("CLOUDPBX_PROV_LOCKOUT_WINDOW_SECONDS", 900),
        prov_lockout_seconds=_int("CLOUDPBX_PROV_LOCKOUT_SECONDS", 900),
        prov_alert_mac_failures=_int("CLOUDPBX_PROV_ALERT_MAC_FAILURES", 10),
        prov_ntp_servers=_list("CLOUDPBX_PROV_NTP_SERVERS", ["pool.ntp.org"]) or ["pool.ntp.org"],
        prov_resync_seconds=_int("CLOUDPBX_PROV_RESYNC_SECONDS", 86400),
        # /prov/ over plain HTTP, for phones that cannot do HTTPS yet: off in production.
        prov_plain_http=_bool("CLOUDPBX_PROV_PLAIN_HTTP", not production),
        app_link_hours=_int("CLOUDPBX_APP_LINK_HOURS", 24),
        log_format=log_format,
        metrics_token=metrics_token,
    )
