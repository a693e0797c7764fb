"""The Django-free engine: identification from real samples, rendering against golden files,
formats that parse, no secrets in common files, Digest and nonces, client addresses."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudpbx.provisioning import clients, digest, identify, render
from cloudpbx.provisioning.phoneconfig import (
    Handset,
    PhoneConfig,
    ProvisioningAccess,
    RegistrationWindow,
    SipAccount,
)
from cloudpbx.provisioning.vendors import VENDORS, xmlread
from cloudpbx.provisioning.vendors.base import UnsupportedSetting
from cloudpbx.provisioning.vendors.yealink import parse_settings

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

SIP_PASSWORD = "S1p-Secret-Value-4242"
ACS_PASSWORD = "Acs-Secret-Value-4242"


def config(vendor: str, model: str, mac: str, **changes: object) -> PhoneConfig:
    base = PhoneConfig(
        vendor=vendor,
        model=model,
        mac=mac,
        account=SipAccount(
            username="tq3xk7m2pw9a",
            auth_name="tq3xk7m2pw9a",
            password=SIP_PASSWORD,
            domain="sip.example.net",
            registrar="sip.example.net",
            port=5060,
            transport="udp",
            display_name="Empfang & <Müller>",
            extension="10",
            label="10 Empfang & <Müller>",
        ),
        provisioning=ProvisioningAccess(
            base_url="https://pbx.example.net/prov",
            username="pz4rw8kq2mde",
            password=ACS_PASSWORD,
            resync_seconds=86400,
        ),
        language="de",
        country="DE",
        timezone="Europe/Berlin",
        ntp_servers=("ntp1.example.net", "ntp2.example.net"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


FRENCH_TLS_TRUSTED = {
    "language": "fr",
    "country": "FR",
    "timezone": "Europe/Paris",
}

CASES = {
    # golden name: (vendor, model, mac, device file template, changes)
    "yealink-t5x.cfg": ("yealink", "T54W", "805ec0123456", {}),
    "yealink-t4x-french-tls-trusted-ip.cfg": ("yealink", "T46U", "805ec0123457", "french"),
    "snom-d7xx.xml": ("snom", "D785", "000413922d24", {}),
    "snom-d8xx-french-tls-trusted-ip.xml": ("snom", "D865", "000413922d25", "french"),
    "gigaset-nx70.xml": ("gigaset", "N870", "7c2f80e0d605", {}),
    "gigaset-maxwell.xml": ("gigaset", "Maxwell 3", "7c2f80e0d606", {}),
    "htek-uc9xx.xml": ("htek", "UC926", "001fc110d3a9", {}),
    # TLS on 5061, SRTP required, a private CA (Htek: SRTP off, it refuses SRTP).
    "yealink-t5x-tls-srtp-private-ca.cfg": ("yealink", "T54W", "805ec0123458", "secure"),
    "snom-d7xx-tls-srtp-private-ca.xml": ("snom", "D785", "000413922d26", "secure"),
    "gigaset-nx70-tls-srtp-private-ca.xml": ("gigaset", "N870", "7c2f80e0d607", "secure"),
    "gigaset-maxwell-tls-srtp-private-ca.xml": ("gigaset", "Maxwell 3", "7c2f80e0d608", "secure"),
    "htek-uc9xx-tls-private-ca.xml": ("htek", "UC926", "001fc110d3aa", "secure-rtp"),
    # A DECT base with two further handsets (numbers 2 and 4: 3 was removed), one just added.
    "gigaset-nx70-base-with-handsets.xml": ("gigaset", "N870", "7c2f80e0d609", "dect"),
}

CA_URL = "https://pbx.example.net/ca/cloudpbx-ca.pem"


def secure(base: PhoneConfig, media_encryption: str) -> dict[str, object]:
    account = dataclasses.replace(
        base.account, transport="tls", port=5061, media_encryption=media_encryption
    )
    return {"account": account, "trusted_ca_url": CA_URL}


def handset(number: int, username: str, extension: str, name: str) -> Handset:
    base = config("gigaset", "N870", "7c2f80e0d609").account
    account = dataclasses.replace(
        base,
        username=username,
        auth_name=username,
        password=f"Handset-{number}-Secret-4242",
        display_name=name,
        extension=extension,
        label=f"{extension} {name}".strip(),
    )
    return Handset(number=number, account=account)


DECT_BASE = {
    "handsets": (
        handset(2, "tb7hx2kq9wz4", "11", "Lager"),
        handset(4, "tc5mv8rd3pn6", "", "Werkstatt"),
    ),
    "registration_window": RegistrationWindow(start=1_780_000_000, seconds=900),
}


def _changes(kind: object) -> dict[str, object]:
    base = config("yealink", "T54W", "805ec0123456")
    if kind == "dect":
        return DECT_BASE
    if kind == "secure":
        return secure(base, "required")
    if kind == "secure-rtp":
        return secure(base, "off")
    if kind != "french":
        return {}
    return {
        **FRENCH_TLS_TRUSTED,
        "account": dataclasses.replace(base.account, transport="tls", port=5061),
        "provisioning": dataclasses.replace(base.provisioning, username=None, password=None),
    }


def device_file(name: str) -> tuple[str, bytes, PhoneConfig]:
    vendor_key, model_key, mac, kind = CASES[name]
    vendor = VENDORS[vendor_key]
    model = vendor.model(model_key)
    assert model is not None
    phone = config(vendor_key, model_key, mac, **_changes(kind))
    template = next(rule.template for rule in vendor.files if rule.kind == "device")
    return vendor_key, render.render_device(vendor, model, template, phone), phone


def assert_golden(name: str, body: bytes) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.write_bytes(body)
        if not UPDATE:
            pytest.fail(f"wrote missing golden file {name}; check it and rerun")
    assert body == path.read_bytes(), f"{name} changed; UPDATE_GOLDEN=1 rewrites it"


@pytest.mark.parametrize("name", sorted(CASES))
def test_device_files_match_their_golden_files(name: str) -> None:
    _vendor, body, _config = device_file(name)
    assert_golden(name, body)
    assert device_file(name)[1] == body  # deterministic


@pytest.mark.parametrize("name", sorted(CASES))
def test_device_files_parse_and_give_back_the_sip_account(name: str) -> None:
    vendor, body, phone = device_file(name)
    if name.endswith(".cfg"):
        settings = parse_settings(body)
        assert settings["account.1.label"] == phone.account.label
    else:
        root = xmlread.parse(body)
        assert root.tag in {"settings", "provisioning", "hl_provision"}
        assert "Empfang &amp; &lt;Müller&gt;" in body.decode()  # escaped, never raw markup
    account = VENDORS[vendor].read_account(body)
    assert account.username == phone.account.username
    assert account.password == SIP_PASSWORD
    assert account.registrar == "sip.example.net"
    assert account.port == phone.account.port
    assert account.transport == phone.account.transport
    assert account.media_encryption == phone.account.media_encryption


# --- TLS, SRTP, private CA ------------------------------------------------------------------

FAMILIES = [
    ("yealink", "T54W", "805ec0123456"),
    ("snom", "D785", "000413922d24"),
    ("gigaset", "N870", "7c2f80e0d605"),
    ("gigaset", "Maxwell 3", "7c2f80e0d606"),
    ("htek", "UC926", "001fc110d3a9"),
]
SRTP_REFUSED = {("htek", "required")}
# Left plain in the file: "optional" holds anyway (the relay offers SRTP, accepts plain).
SRTP_LEFT_PLAIN = {("htek", "optional")}


def render_phone(phone: PhoneConfig) -> bytes:
    vendor = VENDORS[phone.vendor]
    model = vendor.model(phone.model)
    assert model is not None
    template = next(rule.template for rule in vendor.files if rule.kind == "device")
    return render.render_device(vendor, model, template, phone)


def trusted_ca_in(vendor: str, body: bytes) -> str | None:
    """Where each vendor's file names the CA to trust, read with the vendor's own format."""
    if vendor == "yealink":
        settings = parse_settings(body)
        if "static.trusted_certificates.url" not in settings:
            return None
        assert settings["static.security.trust_certificates"] == "1"  # only trusted ones
        assert settings["static.security.ca_cert"] == "2"  # built-in + custom list
        return settings["static.trusted_certificates.url"]
    if vendor == "snom":
        certificate = xmlread.parse(body).find("certificates/certificate")
        return None if certificate is None else certificate.attrib["url"]
    return None  # no verified key: the file says nothing about the CA


@pytest.mark.parametrize("mode", ["off", "optional", "required"])
@pytest.mark.parametrize(("vendor", "model", "mac"), FAMILIES)
def test_tls_srtp_and_private_ca_are_in_the_file_and_read_back(
    vendor: str, model: str, mac: str, mode: str
) -> None:
    base = config(vendor, model, mac)
    phone = dataclasses.replace(base, **secure(base, mode))  # type: ignore[arg-type]
    if (vendor, mode) in SRTP_REFUSED:
        with pytest.raises(UnsupportedSetting, match=r"Htek: media_encryption='required' is not"):
            render_phone(phone)
        return
    body = render_phone(phone)
    account = VENDORS[vendor].read_account(body)
    assert (account.transport, account.port) == ("tls", 5061)
    assert account.media_encryption == ("off" if (vendor, mode) in SRTP_LEFT_PLAIN else mode)
    if mode == "off":
        assert b"srtp" not in body.lower() and b"savp" not in body.lower()
    expected_ca = CA_URL if VENDORS[vendor].installs_private_ca else None
    assert trusted_ca_in(vendor, body) == expected_ca
    if expected_ca is None:
        assert CA_URL.encode() not in body


@pytest.mark.parametrize(("vendor", "model", "mac"), FAMILIES)
def test_tls_without_srtp_or_private_ca_adds_no_key(vendor: str, model: str, mac: str) -> None:
    """SRTP off and a publicly trusted certificate write nothing new: the files stay as the
    goldens above, which predate both settings."""
    base = config(vendor, model, mac)
    tls = dataclasses.replace(base.account, transport="tls", port=5061, media_encryption="off")
    body = render_phone(dataclasses.replace(base, account=tls, trusted_ca_url=None))
    for word in (b"srtp", b"savp", b"certificate"):
        assert word not in body.lower()
    assert VENDORS[vendor].read_account(body).media_encryption == "off"


@pytest.mark.parametrize(
    "url",
    [
        "https://pbx.example.net/ca.pem\naccount.2.enable = 1",  # a second Yealink line
        'https://pbx.example.net/ca.pem" x="1',
        "https://pbx.example.net/my ca.pem",
        "ftp://pbx.example.net/ca.pem",
    ],
)
def test_a_ca_url_that_could_break_out_of_its_value_is_refused(url: str) -> None:
    for vendor, model, mac in FAMILIES[:2]:
        phone = dataclasses.replace(config(vendor, model, mac), trusted_ca_url=url)
        with pytest.raises(ValueError, match="trusted_ca_url"):
            render_phone(phone)


def test_an_unknown_srtp_mode_is_refused_not_read_as_off() -> None:
    for vendor, model, mac in FAMILIES:
        base = config(vendor, model, mac)
        phone = dataclasses.replace(base, **secure(base, "mandatory"))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="media_encryption"):
            render_phone(phone)


def test_xml_values_are_escaped_and_yealink_values_stay_on_one_line() -> None:
    _vendor, body, _config = device_file("snom-d7xx.xml")
    assert b"Empfang &amp; &lt;M\xc3\xbcller&gt;" in body
    nasty = config("yealink", "T54W", "805ec0123456")
    nasty = dataclasses.replace(
        nasty, account=dataclasses.replace(nasty.account, display_name="x\naccount.2.enable = 1")
    )
    # PhoneConfig is built by build.phone_config, which strips control characters; the parser
    # refuses a second definition, so an injected line could never pass unnoticed.
    from cloudpbx.provisioning.phoneconfig import printable

    assert printable(nasty.account.display_name) == "x account.2.enable = 1"


def test_acs_credentials_are_in_the_file_in_credentials_mode_only() -> None:
    for name in ("yealink-t5x.cfg", "snom-d7xx.xml", "htek-uc9xx.xml"):
        assert ACS_PASSWORD.encode() in device_file(name)[1], name
    for name in ("yealink-t4x-french-tls-trusted-ip.cfg", "snom-d8xx-french-tls-trusted-ip.xml"):
        assert ACS_PASSWORD.encode() not in device_file(name)[1], name


def test_yealink_output_is_key_value_with_its_version_header() -> None:
    body = device_file("yealink-t5x.cfg")[1]
    assert body.startswith(b"#!version:1.0.0.1\n")
    settings = parse_settings(body)
    assert settings["static.auto_provision.server.url"] == "https://pbx.example.net/prov/"
    assert settings["local_time.time_zone"] == "+1"
    assert settings["local_time.time_zone_name"] == "Germany(Berlin)"
    assert settings["lang.gui"] == "German"
    with pytest.raises(ValueError, match="version"):
        parse_settings(b"account.1.enable = 1\n")


@pytest.mark.parametrize(
    ("vendor", "filename", "golden"),
    [
        ("yealink", "y000000000096.cfg", "yealink-common-y000000000096.cfg"),
        ("snom", "snomD785.htm", "snom-common-snomD785.htm"),
    ],
)
def test_common_files_hold_no_secret(vendor: str, filename: str, golden: str) -> None:
    match = identify.match_file(filename)
    assert match is not None and match.kind == "common" and match.model is not None
    rule = match.rule_of(VENDORS[vendor])
    body = render.render_common(
        VENDORS[vendor], match.model, rule.template, "https://p.example/prov"
    )
    assert_golden(golden, body)
    for secret in (b"password", b"pass<", b"user_name", b"Secret"):
        assert secret not in body
    if filename.endswith(".cfg"):
        parse_settings(body)
    else:
        xmlread.parse(body)


# --- identification ------------------------------------------------------------------------


def test_every_file_sample_matches_its_own_rule() -> None:
    for vendor in VENDORS.values():
        for rule in vendor.files:
            for sample in rule.samples:
                match = identify.match_file(sample)
                assert match is not None, sample
                assert (vendor, rule) in match.candidates, sample
                assert match.kind == rule.kind, sample


def test_every_user_agent_sample_is_read_by_its_vendor() -> None:
    for vendor in VENDORS.values():
        for rule in vendor.user_agents:
            for sample in rule.samples:
                found = identify.read_user_agent(sample)
                assert found is not None, sample
                assert found[0].key == vendor.key, sample
                assert found[1].model and found[1].firmware, sample


@pytest.mark.parametrize(
    ("user_agent", "vendor", "model", "firmware", "mac"),
    [
        ("Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "yealink", "T46G", "28.72.0.1",
         "0015654aa937"),
        ("Yealink SIP-T38G  38.70.0.125 00:15:65:2f:c3:5e", "yealink", "T38G", "38.70.0.125",
         "0015652fc35e"),
        ("Yealink SIP VP-T49G 51.80.0.10 00:15:65:4a:a9:38", "yealink", "T49G", "51.80.0.10",
         "0015654aa938"),
        ("Yealink SIP-T19P_E2 53.80.0.3 00:15:65:4a:a9:39", "yealink", "T19P_E2", "53.80.0.3",
         "0015654aa939"),
        ("Yealink W90DM 130.87.0.10 80:5e:c0:d9:c7:44", "yealink", "W90DM", "130.87.0.10",
         "805ec0d9c744"),
        ("Yealink SIP-T56A  58.80.0.25 001565f429a4", "yealink", "T56A", "58.80.0.25",
         "001565f429a4"),
        ("Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0", "yealink", "T46G", "28.71.0.81", None),
        ("Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 "
         "SXM:0 UXM:0)", "snom", "D785", "10.1.33.33", "000413922d24"),
        ("Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12-00001-gd311851f1 "
         "(Feb 25 2019 - 14:19:43) 00041396D9B4 SXM:0 UXM:0 UXMC:0)", "snom", "D785",
         "10.1.169.16", "00041396d9b4"),
        ("Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)", "snom", "320", "8.4.18", None),
        ("Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605", "gigaset", "N870",
         "83.V2.11.0+build.a546b91", "7c2f80e0d605"),
        ("N510 IP PRO/42.245.00.000.000;7C2F804DF9A9", "gigaset", "N510", "42.245.00.000.000",
         "7c2f804df9a9"),
        ("Gigaset N720 DM PRO/70.108.00.000.000", "gigaset", "N720", "70.108.00.000.000", None),
        ("Htek UC926 2.0.4.2 00:1f:c1:00:00:00", "htek", "UC926", "2.0.4.2", "001fc1000000"),
        ("Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9", "htek", "UC903", "2.0.4.2", "001fc11c22a9"),
    ],
)  # fmt: skip
def test_user_agents_of_the_reference(
    user_agent: str, vendor: str, model: str, firmware: str, mac: str | None
) -> None:
    found = identify.read_user_agent(user_agent)
    assert found is not None
    assert found[0].key == vendor
    assert (found[1].model, found[1].firmware, found[1].mac) == (model, firmware, mac)


@pytest.mark.parametrize(
    "user_agent",
    ["curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "python-requests/2.31", ""],
)
def test_other_clients_are_no_vendor(user_agent: str) -> None:
    assert identify.read_user_agent(user_agent) is None


@pytest.mark.parametrize(
    ("filename", "vendors", "mac"),
    [
        ("805ec0123456.cfg", {"yealink"}, "805ec0123456"),
        ("805EC0123456.cfg", {"yealink"}, "805ec0123456"),
        ("snomD785-000413922D24.htm", {"snom"}, "000413922d24"),
        ("snomd785-000413922d24.htm", {"snom"}, "000413922d24"),
        ("000413922D24.xml", {"snom", "gigaset"}, "000413922d24"),
        ("7c2f80e0d605.xml", {"snom", "gigaset"}, "7c2f80e0d605"),
        ("cfg001fc110d3a9.xml", {"htek"}, "001fc110d3a9"),
        ("CFG001FC110D3A9.XML", {"htek"}, "001fc110d3a9"),
    ],
)
def test_device_file_names(filename: str, vendors: set[str], mac: str) -> None:
    match = identify.match_file(filename)
    assert match is not None and match.kind == "device"
    assert {v.key for v in match.vendors} == vendors
    assert match.mac == mac


@pytest.mark.parametrize(
    "filename", ["805ec0123456.cfg.bak", "../805ec0123456.cfg", "805ec012345.cfg", "x.cfg", ""]
)
def test_other_file_names_match_nothing(filename: str) -> None:
    assert identify.match_file(filename) is None


def test_the_user_agent_must_agree_with_the_path() -> None:
    match = identify.match_file("805ec0123456.cfg")
    assert match is not None
    same = identify.identify(match, "Yealink SIP-T54W 96.86.0.100 80:5E:C0:12:34:56")
    assert same.refusal is None and [v.key for v in same.vendors] == ["yealink"]
    other_mac = identify.identify(match, "Yealink SIP-T54W 96.86.0.100 80:5e:c0:12:34:57")
    assert other_mac.refusal == "user_agent_mac"
    other_vendor = identify.identify(match, "Htek UC926 2.0.4.2 80:5e:c0:12:34:56")
    assert other_vendor.refusal == "user_agent_vendor"
    shared = identify.match_file("7c2f80e0d605.xml")
    assert shared is not None
    gigaset = identify.identify(shared, "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605")
    assert [v.key for v in gigaset.vendors] == ["gigaset"]
    unknown = identify.identify(shared, "curl/8.0")
    assert {v.key for v in unknown.vendors} == {"snom", "gigaset"}


def test_templates_fall_back_from_model_to_family_to_vendor_base() -> None:
    model = VENDORS["gigaset"].model("Maxwell 3")
    assert model is not None
    assert render.template_names(model, "device.xml.j2") == [
        "models/maxwell-3/device.xml.j2",
        "families/maxwell/device.xml.j2",
        "device.xml.j2",
    ]
    assert render.template("gigaset", model, "device.xml.j2").name == (
        "families/maxwell/device.xml.j2"
    )


def test_the_portal_offers_exactly_the_served_models() -> None:
    for vendor in VENDORS.values():
        device_rules = [rule for rule in vendor.files if rule.kind == "device"]
        assert device_rules, vendor.key
        for model in vendor.models:
            for rule in device_rules:
                render.template(vendor.key, model, rule.template)  # raises if none applies


# --- Digest, nonces, addresses -------------------------------------------------------------


def test_digest_header_parsing() -> None:
    header = (
        'Digest username="p1", realm="r e", nonce="abc", uri="/prov/x.cfg?a=1", '
        'algorithm=MD5, qop=auth, nc=0000000a, cnonce="c\\"n", '
        'response="0123456789abcdef0123456789ABCDEF"'
    )
    parsed = digest.parse_digest(header)
    assert parsed is not None
    assert (parsed.username, parsed.realm, parsed.uri, parsed.nc) == (
        "p1",
        "r e",
        "/prov/x.cfg?a=1",
        10,
    )
    assert parsed.cnonce == 'c"n'
    assert parsed.response == "0123456789abcdef0123456789abcdef"
    assert digest.parse_digest(header.replace("nc=0000000a", "nc=zz")) is None
    assert digest.parse_digest('Digest username="p1"') is None
    assert digest.parse_digest("Basic cDE6eA==") is None
    assert digest.parse_basic("Basic cDE6eA==") == ("p1", "x")
    assert digest.parse_basic("Basic !!!") is None


def test_rfc_2617_example_response() -> None:
    parsed = digest.parse_digest(
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
        'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert parsed is not None
    ha1 = digest.ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert digest.response(ha1, "GET", parsed) == parsed.response


def test_nonces_are_signed_bound_to_the_mac_and_dated() -> None:
    signer = digest.NonceSigner(b"server key")
    now = time.time_ns()
    nonce = signer.issue("805ec0123456", now)
    assert len(nonce) == 38
    assert signer.issued_at(nonce, "805ec0123456") == now
    assert signer.issued_at(nonce, "805ec0123457") is None
    assert digest.NonceSigner(b"other key").issued_at(nonce, "805ec0123456") is None
    tampered = ("B" if nonce[0] != "B" else "C") + nonce[1:]
    assert signer.issued_at(tampered, "805ec0123456") is None
    assert signer.issued_at("short", "805ec0123456") is None
    assert signer.issue("805ec0123456", now) != nonce


@pytest.mark.parametrize(
    ("remote", "forwarded", "proxies", "address"),
    [
        ("203.0.113.5", "198.51.100.7", (), "203.0.113.5"),
        ("203.0.113.5", "198.51.100.7", ("10.0.0.0/8",), "203.0.113.5"),
        ("10.0.0.2", "198.51.100.7", ("10.0.0.0/8",), "198.51.100.7"),
        ("10.0.0.2", "198.51.100.7, 10.0.0.3", ("10.0.0.0/8",), "198.51.100.7"),
        ("10.0.0.2", "198.51.100.7, 203.0.113.5", ("10.0.0.0/8",), "203.0.113.5"),
        ("10.0.0.2", "garbage", ("10.0.0.0/8",), None),
        ("10.0.0.2", "", ("10.0.0.0/8",), "10.0.0.2"),
        ("::ffff:198.51.100.7", "", (), "198.51.100.7"),
    ],
)
def test_client_address_behind_trusted_proxies(
    remote: str, forwarded: str, proxies: tuple[str, ...], address: str | None
) -> None:
    assert clients.client_of(remote, forwarded, "", False, proxies).address == address


def test_forwarded_proto_counts_only_from_a_trusted_proxy() -> None:
    assert clients.client_of("10.0.0.2", "1.2.3.4", "https", False, ("10.0.0.0/8",)).secure
    assert not clients.client_of("203.0.113.5", "1.2.3.4", "https", False, ("10.0.0.0/8",)).secure


def test_the_engine_imports_without_django() -> None:
    code = (
        "import sys\n"
        "import cloudpbx.provisioning.render, cloudpbx.provisioning.identify\n"
        "import cloudpbx.provisioning.access, cloudpbx.provisioning.testing\n"
        "assert not [m for m in sys.modules if m.startswith('django')], 'django imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)  # noqa: S603
