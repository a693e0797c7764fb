"""The TLS certificate the web server and Kamailio serve: the embedded CA's, or the operator's.

``cloudpbx run`` calls :func:`ensure` before starting either server (and may call it again to
check a renewed certificate before a reload). Every refusal is a
:class:`~cloudpbx.config.ConfigError` whose message names the file and the problem.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudpbx.config import Config, ConfigError

CA_LIFETIME = timedelta(days=3650)
# The longest Apple devices accept, even from a CA the user added.
SERVER_LIFETIME = timedelta(days=825)
RENEW_BEFORE = timedelta(days=30)
CA_FILE = "ca.pem"  # the embedded CA's certificate (public), beside its key "ca.key"
# A phone whose clock is a little behind would refuse a certificate valid from "now".
BACKDATE = timedelta(hours=1)

_SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ServerCertificate:
    certificate: Path  # PEM chain, the server certificate first
    key: Path  # unencrypted PKCS#8 PEM
    ca: Path | None  # the embedded CA's certificate, for phones to trust; None: operator's
    fingerprint: str  # SHA-256 of the embedded CA, or of the operator's server certificate
    not_after: datetime
    names: tuple[str, ...]  # the DNS names and addresses the certificate is valid for


def ensure(config: Config, *, now: datetime | None = None) -> ServerCertificate:
    """Return the certificate to serve. The embedded one is created or renewed as needed;
    an operator's (``config.tls_certificate`` set) is only checked, never written."""
    now = now or datetime.now(UTC)
    if config.tls_certificate:
        return _operator(config, now)
    return _embedded(config, now)


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the first certificate in ``pem``, as ``AB:CD:…``."""
    return _fingerprint(x509.load_pem_x509_certificate(pem))


def _operator(config: Config, now: datetime) -> ServerCertificate:
    # absolute(), not resolve(): certbot's live/ paths are symlinks that move on renewal.
    cert_path, key_path = Path(config.tls_certificate).absolute(), Path(config.tls_key).absolute()
    chain = _load_certificates(cert_path, "TLS certificate")
    key = _load_key(key_path, "TLS key")
    leaf = chain[0]
    if not _matches(key, leaf):
        position = next((n for n, cert in enumerate(chain, 1) if _matches(key, cert)), None)
        if position:
            raise ConfigError(
                f"TLS certificate {cert_path}: the server certificate must come first, it is "
                f"number {position} of {len(chain)} (order: server, then intermediates)"
            )
        raise ConfigError(f"TLS key {key_path} does not match the certificate {cert_path}")
    if now < leaf.not_valid_before_utc:
        raise ConfigError(
            f"TLS certificate {cert_path} is not valid before {_date(leaf.not_valid_before_utc)}"
            f" (it is now {_date(now)}: check the clock)"
        )
    if now >= leaf.not_valid_after_utc:
        raise ConfigError(
            f"TLS certificate {cert_path} expired on {_date(leaf.not_valid_after_utc)}"
        )
    names = _names(leaf)
    web_host = urlsplit(config.public_web_url).hostname or ""
    for host, setting in (
        (config.sip_domain, "CLOUDPBX_SIP_DOMAIN"),
        (web_host, "CLOUDPBX_PUBLIC_URL"),
    ):
        if host and not _covers(leaf, host):
            raise ConfigError(
                f"TLS certificate {cert_path} does not cover {host} ({setting}); "
                f"it is for: {', '.join(names) or 'no subject alternative name'}"
            )
    return ServerCertificate(
        cert_path, key_path, None, _fingerprint(leaf), leaf.not_valid_after_utc, names
    )


def embedded_ca_path(config: Config) -> Path | None:
    """The embedded CA's certificate (public: phones download it), None with the operator's."""
    return None if config.tls_certificate else directory(config) / CA_FILE


def directory(config: Config) -> Path:
    """Where the embedded CA and its server certificate live."""
    return config.data_dir / "tls"


def _embedded(config: Config, now: datetime) -> ServerCertificate:
    folder = directory(config)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca, ca_key = _embedded_ca(folder, now)
    wanted = _wanted_names(config)
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    leaf = _reusable(cert_path, key_path, ca, wanted, now)
    if leaf is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = _sign(key, ca_key, now, SERVER_LIFETIME, issuer=ca, names=wanted)
        _write_private(key_path, _key_pem(key))
        _write_private(cert_path, _pem(leaf) + _pem(ca))
    return ServerCertificate(
        cert_path,
        key_path,
        folder / CA_FILE,
        _fingerprint(ca),
        leaf.not_valid_after_utc,
        _names(leaf),
    )


def _embedded_ca(directory: Path, now: datetime) -> tuple[x509.Certificate, _SigningKey]:
    """Load the CA phones trust. A new one is made only if none was ever published
    (no ``ca.pem``): replacing it would break every phone that trusts it."""
    cert_path, key_path = directory / CA_FILE, directory / "ca.key"
    if cert_path.exists():
        if not key_path.exists():
            raise ConfigError(
                f"embedded CA key {key_path} is missing, so {cert_path} cannot issue "
                "certificates: restore it, or remove ca.pem to create a new CA (that every "
                "phone must then trust again)"
            )
        ca = _load_certificates(cert_path, "embedded CA certificate")[0]
        ca_key = _load_key(key_path, "embedded CA key")
        if not isinstance(ca_key, _SigningKey) or not _matches(ca_key, ca):
            raise ConfigError(f"embedded CA key {key_path} does not match {cert_path}")
        return ca, ca_key
    # RSA 2048 rather than EC: many desk phones still in service (older Yealink, Snom,
    # Gigaset, Polycom firmware) offer no ECDSA cipher suite or cannot check ECDSA signatures.
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _sign(ca_key, ca_key, now, CA_LIFETIME, issuer=None, names=())
    _write_private(key_path, _key_pem(ca_key))  # the key first: a CA is published by ca.pem
    _write_private(cert_path, _pem(ca))
    return ca, ca_key


def _sign(
    key: _SigningKey,
    issuer_key: _SigningKey,
    now: datetime,
    lifetime: timedelta,
    *,
    issuer: x509.Certificate | None,
    names: tuple[str, ...],
) -> x509.Certificate:
    """The CA's self-signed certificate (``issuer`` None) or a server certificate for ``names``."""
    is_ca = issuer is None
    start = now - BACKDATE
    not_after = start + lifetime
    if issuer is not None:  # a server certificate outliving its CA would fail verification
        not_after = min(not_after, issuer.not_valid_after_utc)
    # Old phones check the common name, not the alternative names: the SIP domain goes there.
    common_name = f"cloudpbx embedded CA {socket.gethostname()}" if is_ca else names[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=False,
                key_encipherment=not is_ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if not is_ca:
        builder = (
            builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(_subject_alternative_names(names), False)
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _reusable(
    cert_path: Path, key_path: Path, ca: x509.Certificate, wanted: tuple[str, ...], now: datetime
) -> x509.Certificate | None:
    """The existing server certificate, if it is still good; None means issue a new one."""
    try:
        leaf = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        leaf.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return None  # ours and derived from the CA: a damaged one is simply replaced
    fresh = leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc - RENEW_BEFORE
    try:
        same_names = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value == _subject_alternative_names(wanted)
    except x509.ExtensionNotFound:
        same_names = False
    if fresh and same_names and _matches(key, leaf):
        return leaf
    return None


def _wanted_names(config: Config) -> tuple[str, ...]:
    """What the embedded server certificate covers: the SIP domain first (its common name)."""
    web_host = urlsplit(config.public_web_url).hostname or ""
    names: list[str] = []
    for name in (config.sip_domain, web_host, config.http_host, "localhost", "127.0.0.1"):
        name = name.strip().strip("[]").rstrip(".").lower()
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            if address.is_unspecified:  # 0.0.0.0 or ::, a listening address, not a name
                continue
            name = address.compressed
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _subject_alternative_names(names: Iterable[str]) -> x509.SubjectAlternativeName:
    """Each name; an IPv4 address also as a DNS name: the TLS stacks of Linphone (mbedtls) and
    of many desk phones match only DNS names, so a PBX reached by its address needs both
    (found with linphonec: "CN-mismatch" with the address as an IP entry only)."""
    entries: list[x509.GeneralName] = []
    for name in names:
        entries.append(_general_name(name))
        if isinstance(entries[-1], x509.IPAddress) and "." in name:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:
        return x509.DNSName(name)
    except ValueError as exc:  # e.g. not ASCII: give the xn-- form
        raise ConfigError(f"{name!r} cannot be a certificate's host name: {exc}") from exc


def _alternative_names(
    cert: x509.Certificate,
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    addresses = san.get_values_for_type(x509.IPAddress)
    return [name.rstrip(".").lower() for name in san.get_values_for_type(x509.DNSName)], [
        a for a in addresses if isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ]


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    dns, addresses = _alternative_names(cert)
    return tuple(dict.fromkeys((*dns, *(str(address) for address in addresses))))


def _covers(cert: x509.Certificate, host: str) -> bool:
    """Whether a client checking ``host`` accepts ``cert`` (RFC 6125: alternative names
    only, an address only by an IP entry, a wildcard for exactly one leftmost label)."""
    dns, addresses = _alternative_names(cert)
    host = host.strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(host) in addresses
    except ValueError:
        label, _, parent = host.partition(".")
        return host in dns or bool(label and parent and f"*.{parent}" in dns)


def _matches(key: PrivateKeyTypes, cert: x509.Certificate) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)


def _load_certificates(path: Path, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(_read(path, what))
    except ValueError as exc:
        raise ConfigError(
            f"{what} {path} is not a PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from exc


def _load_key(path: Path, what: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(_read(path, what), password=None)
    except TypeError as exc:
        raise ConfigError(f"{what} {path} is encrypted: give it without a passphrase") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{what} {path} is not a PEM private key") from exc


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc


def _write_private(path: Path, data: bytes) -> None:
    """Write owner-only from the first byte, and replace atomically: a server starting
    meanwhile reads the old file or the new one, never half of one."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: _SigningKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,  # granian loads PKCS#8 only
        serialization.NoEncryption(),
    )


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _date(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
