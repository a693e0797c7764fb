import dataclasses
import ipaddress
import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudpbx import config as cloudpbx_config
from cloudpbx.config import ConfigError
from cloudpbx.core import certificates

NOW = datetime.now(UTC)


@pytest.fixture
def base_config(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDPBX_MODE", "embedded")
    monkeypatch.setenv("CLOUDPBX_DATA_DIR", str(tmp_path / "data"))
    return dataclasses.replace(
        cloudpbx_config.load(),
        sip_domain="sip.example.com",
        public_web_url="https://pbx.example.com:8443",
        http_host="192.0.2.10",
        tls_certificate="",
        tls_key="",
    )


def load_chain(path):
    return x509.load_pem_x509_certificates(path.read_bytes())


def alternative_names(cert):
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), set(san.get_values_for_type(x509.IPAddress))


def test_embedded_ca_and_server_certificate_are_created_owner_only(base_config):
    served = certificates.ensure(base_config)
    directory = base_config.data_dir / "tls"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("ca.pem", "ca.key", "server.pem", "server.key"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    assert sorted(p.name for p in directory.iterdir()) == [
        "ca.key",
        "ca.pem",
        "server.key",
        "server.pem",
    ]

    (ca,) = load_chain(directory / "ca.pem")
    leaf, chained_ca = load_chain(served.certificate)
    assert chained_ca == ca
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value == (
        x509.BasicConstraints(ca=True, path_length=0)
    )
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert ca.subject.rfc4514_string().startswith("CN=cloudpbx embedded CA ")
    assert ca.not_valid_after_utc - NOW > timedelta(days=3600)

    dns, addresses = alternative_names(leaf)
    # IPv4 addresses also as DNS names: Linphone's and many phones' TLS match only those.
    assert dns == {"sip.example.com", "pbx.example.com", "localhost", "192.0.2.10", "127.0.0.1"}
    assert addresses == {ipaddress.ip_address("192.0.2.10"), ipaddress.ip_address("127.0.0.1")}
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == (
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    )
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= timedelta(days=825)

    key_pem = served.key.read_bytes()
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert key.public_key() == leaf.public_key()

    assert served.ca == directory / "ca.pem"
    assert served.fingerprint == ca.fingerprint(hashes.SHA256()).hex(":").upper()
    assert served.fingerprint == certificates.fingerprint((directory / "ca.pem").read_bytes())
    assert served.not_after == leaf.not_valid_after_utc
    assert set(served.names) == {"sip.example.com", "pbx.example.com", "localhost"} | {
        "192.0.2.10",
        "127.0.0.1",
    }


def test_openssl_accepts_the_embedded_chain_for_the_sip_domain(base_config):
    served = certificates.ensure(base_config)
    result = subprocess.run(  # noqa: S603 (openssl with our own files)
        [
            shutil.which("openssl") or "openssl",
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "sip.example.com",
            "-CAfile",
            str(served.ca),
            str(served.certificate),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_second_start_reuses_the_certificates(base_config):
    first = certificates.ensure(base_config)
    chain, key = first.certificate.read_bytes(), first.key.read_bytes()
    second = certificates.ensure(base_config)
    assert second == first
    assert first.certificate.read_bytes() == chain and first.key.read_bytes() == key


def test_a_changed_sip_domain_gets_a_new_server_certificate_from_the_same_ca(base_config):
    first = certificates.ensure(base_config)
    ca = first.ca.read_bytes()
    old_serial = load_chain(first.certificate)[0].serial_number

    moved = certificates.ensure(dataclasses.replace(base_config, sip_domain="voip.example.org"))
    assert moved.ca.read_bytes() == ca and moved.fingerprint == first.fingerprint
    leaf = load_chain(moved.certificate)[0]
    assert leaf.serial_number != old_serial
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    assert "voip.example.org" in alternative_names(leaf)[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "voip.example.org"


def test_a_server_certificate_near_expiry_is_renewed_from_the_same_ca(base_config):
    # Issued 800 days ago: 25 days left, within the 30-day renewal window.
    old = certificates.ensure(base_config, now=NOW - timedelta(days=800))
    assert old.not_after - NOW < timedelta(days=30)
    old_serial = load_chain(old.certificate)[0].serial_number

    renewed = certificates.ensure(base_config)
    leaf = load_chain(renewed.certificate)[0]
    assert leaf.serial_number != old_serial
    assert renewed.fingerprint == old.fingerprint
    assert renewed.not_after - NOW > timedelta(days=800)


def test_a_missing_ca_key_is_refused_rather_than_replacing_the_ca_phones_trust(base_config):
    first = certificates.ensure(base_config)
    (base_config.data_dir / "tls" / "ca.key").unlink()
    with pytest.raises(ConfigError, match=r"ca\.key is missing"):
        certificates.ensure(base_config)
    assert first.ca.exists()


def test_a_host_name_a_certificate_cannot_carry_is_refused_naming_it(base_config):
    with pytest.raises(ConfigError, match=r"'bücher\.example' cannot be a certificate's host name"):
        certificates.ensure(dataclasses.replace(base_config, sip_domain="bücher.example"))


# Operator certificates, made here as a public CA would: an intermediate signs the server's.


def issue(key, issuer_key, *, names=(), issuer=None, start=NOW - timedelta(days=1), days=90):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "CA")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=not names, path_length=None), critical=True)
    )
    if names:
        general = [general_name(n) for n in names]
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def general_name(name):
    """A str is an IP entry if it starts with a digit, else DNS; a GeneralName is kept as is."""
    if isinstance(name, x509.GeneralName):
        return name
    return x509.IPAddress(ipaddress.ip_address(name)) if name[0].isdigit() else x509.DNSName(name)


def pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def operator(base_config, tmp_path):
    """Write an operator chain (server, intermediate) for *.example.com and 203.0.113.7."""
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    intermediate = issue(intermediate_key, intermediate_key)
    names = ("*.example.com", "example.com", "203.0.113.7")

    def write(names=names, key=server_key, **dates):
        leaf = issue(server_key, intermediate_key, names=names, issuer=intermediate, **dates)
        (tmp_path / "fullchain.pem").write_bytes(pem(leaf, intermediate))
        (tmp_path / "privkey.pem").write_bytes(key_pem(key))
        return leaf, intermediate

    write.config = dataclasses.replace(
        base_config,
        tls_certificate=str(tmp_path / "fullchain.pem"),
        tls_key=str(tmp_path / "privkey.pem"),
    )
    return write


def test_an_operator_certificate_covering_the_hosts_is_served_as_is(operator):
    leaf, _ = operator()
    served = certificates.ensure(operator.config)
    assert str(served.certificate) == operator.config.tls_certificate
    assert str(served.key) == operator.config.tls_key
    assert served.ca is None
    assert served.fingerprint == leaf.fingerprint(hashes.SHA256()).hex(":").upper()
    assert served.not_after == leaf.not_valid_after_utc
    assert served.names == ("*.example.com", "example.com", "203.0.113.7")
    assert not (operator.config.data_dir / "tls").exists()

    # An address is covered by an IP entry.
    by_address = dataclasses.replace(operator.config, sip_domain="203.0.113.7")
    assert certificates.ensure(by_address).names == served.names


def test_an_operator_chain_out_of_order_names_the_problem(operator, tmp_path):
    leaf, intermediate = operator()
    (tmp_path / "fullchain.pem").write_bytes(pem(intermediate, leaf))
    with pytest.raises(ConfigError, match="server certificate must come first, it is number 2"):
        certificates.ensure(operator.config)


@pytest.mark.parametrize(
    ("certificate", "complaint"),
    [
        ({"start": NOW - timedelta(days=100)}, r"fullchain.pem expired on \d{4}-\d\d-\d\d"),
        ({"start": NOW + timedelta(days=2)}, r"fullchain.pem is not valid before \d{4}-\d\d-\d\d"),
        (
            {"names": ("pbx.example.com",)},
            r"does not cover sip.example.com \(CLOUDPBX_SIP_DOMAIN\); it is for: pbx.example.com",
        ),
        (
            {"names": ("sip.example.com", "example.com")},
            r"does not cover pbx.example.com \(CLOUDPBX_PUBLIC_URL\)",
        ),
        ({"key": ec.generate_private_key(ec.SECP256R1())}, r"privkey.pem does not match"),
    ],
)
def test_an_unusable_operator_certificate_is_refused(operator, certificate, complaint):
    operator(**certificate)
    with pytest.raises(ConfigError, match=complaint):
        certificates.ensure(operator.config)


@pytest.mark.parametrize("host", ["deep.sip.example.com", "example.org"])
def test_a_wildcard_covers_exactly_one_label_of_its_own_domain(operator, host):
    operator(names=("*.example.com",))
    config = dataclasses.replace(operator.config, sip_domain=host)
    with pytest.raises(ConfigError, match=rf"does not cover {host} \(CLOUDPBX_SIP_DOMAIN\)"):
        certificates.ensure(config)


def test_an_address_spelled_as_a_dns_name_does_not_cover_it(operator):
    operator(names=("*.example.com", "example.com", x509.DNSName("203.0.113.7")))
    config = dataclasses.replace(operator.config, sip_domain="203.0.113.7")
    with pytest.raises(ConfigError, match=r"does not cover 203.0.113.7 \(CLOUDPBX_SIP_DOMAIN\)"):
        certificates.ensure(config)


@pytest.mark.parametrize(
    ("damage", "complaint"),
    [
        (lambda d: (d / "privkey.pem").unlink(), r"TLS key .*privkey.pem cannot be read: No such"),
        (
            lambda d: ((d / "privkey.pem").unlink(), (d / "privkey.pem").mkdir()),
            r"TLS key .*privkey.pem cannot be read: Is a directory",
        ),
        (
            lambda d: (d / "privkey.pem").write_bytes(b"not a key\n"),
            r"TLS key .*privkey.pem is not a PEM private key",
        ),
        (
            lambda d: (d / "privkey.pem").write_bytes(
                serialization.load_pem_private_key(
                    (d / "privkey.pem").read_bytes(), password=None
                ).private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"passphrase"),
                )
            ),
            r"TLS key .*privkey.pem is encrypted",
        ),
        (
            lambda d: (d / "fullchain.pem").unlink(),
            r"TLS certificate .*fullchain.pem cannot be read: No such",
        ),
        (
            lambda d: (d / "fullchain.pem").write_bytes(
                x509.load_pem_x509_certificates((d / "fullchain.pem").read_bytes())[0].public_bytes(
                    serialization.Encoding.DER
                )
            ),
            r"TLS certificate .*fullchain.pem is not a PEM certificate",
        ),
    ],
)
def test_an_unreadable_operator_file_is_refused_naming_it(operator, tmp_path, damage, complaint):
    operator()
    damage(tmp_path)
    with pytest.raises(ConfigError, match=complaint):
        certificates.ensure(operator.config)
