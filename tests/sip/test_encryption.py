"""Encryption end to end, with real processes on loopback: SIP over TLS (baresip registering,
openssl probing the port) and SRTP by policy (baresip calls whose RTP is captured on the wire
and shown not to be audio, sipp offers that are refused or rewritten per leg).

Each call proves two-way audio by frequency (see :mod:`.softphone`); the capture proves what
the relay sent each phone: G.711 that decodes to the tone (plain RTP: the carrier's leg, which
is also the check that the capture works) or bytes that do not (SRTP)."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from cloudpbx.core import certificates
from cloudpbx.sip import status
from cloudpbx.tenancy.services import update_tenant
from cloudpbx.terminals.services import update_terminal
from cloudpbx.trunks.models import Trunk
from cloudpbx.trunks.services import save_trunk

from .audio import decode_ulaw, tone_seconds, write_samples
from .capture import Capture, capture, rtp_stream
from .conftest import free_port, free_port_pair, register
from .sipp import SDP, Sipp, uas_scenario
from .softphone import CALL_SECONDS, TONES, Softphone, assert_two_way, talk
from .test_calls import answering_phone, dial, phone

# Each phone's RTP ports (below Linux's ephemeral range, apart from the relay's 31000-31999):
# the capture tells the legs apart by them.
ALICE_RTP = range(29000, 29020)
BOB_RTP = range(29100, 29120)
CARRIER_RTP = range(29200, 29220)
CARRIER_IP = "127.0.0.9"  # the carrier's own loopback address: the trunk's source network
PCMU, FRAME = 0, 160  # payload type, and bytes of a 20 ms frame
UNWANTED_SUITES = re.compile(r"NULL_|F8_|AES_192_")  # no cipher; rare (media.EXCLUDED_SUITES)


@pytest.fixture
def ca(sip) -> Path:
    """The embedded CA that issued the test server's certificate."""
    return sip.run_dir / "tls" / "ca.pem"


def ports(numbers: range) -> str:
    return f"{numbers.start}-{numbers.stop - 1}"


def tls_phone(spawn, sip, terminal, home: Path, tone: float, rtp: range, ca: Path, answer=True):
    """A baresip registering over TLS (trusting ``ca``) that calls with SRTP mandatory:
    RTP/SAVP with SDES keys, and nothing else accepted."""
    account = (
        f"<sip:{terminal.sip_username}@{sip.domain}>;auth_pass={terminal.sip_password}"
        f';outbound="sip:127.0.0.1:{sip.config.sip_tls_port};transport=tls";regint=300'
        ";mediaenc=srtp-mand" + (";answermode=auto" if answer else "")
    )
    softphone = Softphone(
        spawn, home, account, tone, "127.0.0.1", sip_port=free_port_pair(),
        rtp_ports=ports(rtp), modules=("srtp",), config=(f"sip_cafile {ca}",),
    )  # fmt: skip
    softphone.process.wait_for(r"\{0/TLS/v4\} 200 OK", timeout=10)
    return softphone


def relayed(wire: Capture, sip, rtp: range) -> list[bytes]:
    """The RTP payloads the relay sent to a phone's RTP ports, asserted to be PCMU frames (the
    header is in clear also in SRTP)."""
    relay = range(sip.config.media_port_min, sip.config.media_port_max + 1)
    packets = rtp_stream(wire.between(relay, rtp))
    # Most of the call's 50 packets a second: not a stray one.
    assert len(packets) >= CALL_SECONDS * 50 / 2, len(packets)
    assert {packet.payload_type for packet in packets} == {PCMU}
    return [packet.payload for packet in packets]


def tone_on_the_wire(payloads: list[bytes], frequency: float, path: Path) -> float:
    """Seconds of ``frequency`` in the payloads decoded as G.711 µ-law, by the filter that
    judges the recordings: it wants the frequency 10x above each of the calls' other three
    tones, which random bytes (SRTP) pass in well under 1% of its 100 ms windows."""
    samples = [sample for payload in payloads for sample in decode_ulaw(payload[:FRAME])]
    others = tuple(tone for tone in TONES.values() if tone != frequency)
    return tone_seconds(write_samples(path, samples), frequency, others)


def assert_srtp(payloads: list[bytes], frequency: float, path: Path) -> None:
    """Encrypted and authenticated: a tag after every 160-byte frame, and no tone in it."""
    assert all(len(payload) > FRAME for payload in payloads), {len(p) for p in payloads}
    heard = tone_on_the_wire(payloads, frequency, path)
    assert heard < 0.5, f"{heard}s of {frequency} Hz in clear on the wire ({path})"


def test_a_softphone_registers_over_tls_trusting_the_embedded_ca(sip, tenant, tmp_path, spawn, ca):
    """Registration over TLS. Not that the phone checked the certificate: baresip 1.0 loads
    ``sip_cafile`` but never verifies the server with it (tried: a CA that did not issue the
    server's certificate registers just as well; baresip/baresip#1122, verification came with
    1.1's ``sip_verify_server``). The chain is verified with openssl below."""
    alice = phone(tenant, "Alice", kind="app", media_encryption="required")
    tls_phone(spawn, sip, alice, tmp_path / "alice", TONES[1], ALICE_RTP, ca)
    (contact,) = status.registrations([alice.sip_username])[alice.sip_username].contacts
    assert contact.socket == f"tls:127.0.0.1:{sip.config.sip_tls_port}", contact
    assert contact.uri.endswith(";transport=tls"), contact


def test_two_phones_over_tls_talk_and_every_leg_of_the_call_is_srtp(
    sip, tenant, tmp_path, spawn, ca
):
    """The relay terminates SRTP on each leg: what it sent each phone carries no tone, while
    each phone decoded the other's."""
    alice = phone(tenant, "Alice", kind="app", media_encryption="required")
    bob = phone(tenant, "Bob", rings=["11"], kind="app", media_encryption="required")
    with capture() as wire:
        bob_phone = tls_phone(spawn, sip, bob, tmp_path / "bob", TONES[2], BOB_RTP, ca)
        alice_phone = tls_phone(
            spawn, sip, alice, tmp_path / "alice", TONES[1], ALICE_RTP, ca, answer=False
        )
        alice_phone.dial("11")
        talk(alice_phone, bob_phone)
    assert_two_way(alice_phone, TONES[1], bob_phone, TONES[2])
    assert_srtp(relayed(wire, sip, ALICE_RTP), TONES[2], tmp_path / "to-alice.wav")
    assert_srtp(relayed(wire, sip, BOB_RTP), TONES[1], tmp_path / "to-bob.wav")


@pytest.fixture
def trunk(sip) -> Trunk:
    """The default trunk toward a carrier on its own loopback address."""
    trunk = Trunk(
        name="Carrier", gateway=CARRIER_IP, port=free_port(), transport="udp",
        source_networks=[f"{CARRIER_IP}/32"], is_default=True,
    )  # fmt: skip
    return save_trunk(trunk)


def test_an_encrypted_phone_calls_the_carrier_over_plain_rtp(
    sip, tenant, tmp_path, spawn, ca, trunk
):
    alice = phone(tenant, "Alice", kind="app", media_encryption="required")
    with capture() as wire:
        account = f"<sip:+49301234567@{CARRIER_IP}>;regint=0;answermode=auto"
        carrier = Softphone(
            spawn, tmp_path / "carrier", account, TONES["carrier"], CARRIER_IP,
            sip_port=trunk.port, rtp_ports=ports(CARRIER_RTP),
        )  # fmt: skip
        carrier.process.wait_for("baresip is ready", timeout=10)
        alice_phone = tls_phone(
            spawn, sip, alice, tmp_path / "alice", TONES[1], ALICE_RTP, ca, answer=False
        )
        alice_phone.dial("0301234567")
        talk(alice_phone, carrier)
    assert_two_way(alice_phone, TONES[1], carrier, TONES["carrier"])

    (invite,) = [
        d.payload.decode(errors="replace")
        for d in wire.between([sip.config.sip_port], [trunk.port])
        if d.payload.startswith(b"INVITE ")
    ]
    assert re.search(r"^m=audio \d+ RTP/AVP ", invite, re.MULTILINE), invite
    assert "a=crypto" not in invite
    # The carrier's leg decodes to Alice's tone (and so the capture works), hers to nothing.
    heard = tone_on_the_wire(relayed(wire, sip, CARRIER_RTP), TONES[1], tmp_path / "to-carrier.wav")
    assert heard >= CALL_SECONDS / 2, heard
    assert_srtp(relayed(wire, sip, ALICE_RTP), TONES["carrier"], tmp_path / "to-alice.wav")


def s_client(sip, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{sip.config.sip_tls_port}", *options],
        input="", capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_the_tls_port_serves_the_chain_of_the_embedded_ca(sip, ca, version):
    answer = s_client(
        sip, f"-tls{version.replace('.', '_')}", "-showcerts",
        "-verify_return_error", "-CAfile", str(ca), "-verify_ip", sip.domain,
    )  # fmt: skip
    output = answer.stdout + answer.stderr
    assert answer.returncode == 0, output
    assert "Verify return code: 0 (ok)" in output
    assert re.search(rf"^New, TLSv{re.escape(version)}, Cipher is ", output, re.MULTILINE), output
    server, *rest = x509.load_pem_x509_certificates(
        "".join(re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                           answer.stdout, re.DOTALL)).encode()
    )  # fmt: skip
    authority = x509.load_pem_x509_certificate(ca.read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sip.domain in [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    assert server.issuer == authority.subject
    server.verify_directly_issued_by(authority)
    assert rest == [authority]  # the full chain: phones that want it (Yealink T5x) get it


def test_the_tls_port_refuses_tls_1_1_and_a_foreign_ca_does_not_verify(sip, tmp_path):
    # SECLEVEL=0 lets this client offer TLS 1.1: the refusal must be the server's alert.
    old = s_client(sip, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert old.returncode != 0
    assert "alert protocol version" in old.stderr, old.stdout + old.stderr
    other = certificates.ensure(dataclasses.replace(sip.config, data_dir=tmp_path))
    foreign = s_client(sip, "-verify_return_error", "-CAfile", str(other.ca))
    assert foreign.returncode != 0
    assert "certificate verify failed" in foreign.stderr, foreign.stdout + foreign.stderr


def srtp_offer(*suites: str) -> str:
    """sipp's offer as RTP/SAVP with SDES keys of ``suites`` (30 bytes: 128-bit key, salt)."""
    keys = "".join(
        f"\na=crypto:{tag} {suite} inline:{base64.b64encode(os.urandom(30)).decode()}"
        for tag, suite in enumerate(suites, 1)
    )
    return SDP.replace("RTP/AVP 0", "RTP/SAVP 0") + keys


@pytest.mark.parametrize(
    ("own", "customer", "offer"),
    [
        pytest.param("required", "optional", SDP, id="plain"),  # sipp's offer: RTP/AVP
        pytest.param("", "required", SDP, id="plain-customer-required"),
        pytest.param("required", "optional", srtp_offer("NULL_HMAC_SHA1_80"), id="no-cipher"),
    ],
)
def test_a_phone_required_to_use_srtp_that_offers_no_encryption_gets_488(
    sip, tenant, own, customer, offer
):
    """Set to "optional", the same phone with the same offer gets through."""
    update_tenant(tenant, media_encryption=customer)
    callee = phone(tenant, "Office", rings=["11"], media_encryption="off")
    caller = phone(tenant, "Caller", media_encryption=own)
    uas = answering_phone(sip, callee, answer=486)  # would take the call if it got through
    trace = dial(sip, caller, "11", 488, sdp=offer)
    assert trace.received[-1].startswith("SIP/2.0 488 SRTP Required"), trace.received[-1]
    update_terminal(caller, media_encryption="optional")
    dial(sip, caller, "11", 486, sdp=offer)
    code, callee_trace = uas.wait()
    assert code == 0 and callee_trace.requests("INVITE")


def test_a_caller_listing_a_suite_without_encryption_first_gets_one_that_encrypts(sip, tenant):
    """Toward a plain leg too, where nothing else tells the relay about SRTP."""
    callee = phone(tenant, "Office", rings=["11"], media_encryption="off")
    caller = phone(tenant, "Caller", media_encryption="required")
    port = free_port()
    assert register(sip, callee, port)[0] == 0
    uas = Sipp(uas_scenario(answer=200, sdp=True), sip.address, local_port=port).start()
    offer = srtp_offer("NULL_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_80")
    trace = dial(sip, caller, "11", 200, sdp=offer)
    assert uas.wait()[0] == 0
    (answer,) = [m for m in trace.received if m.startswith("SIP/2.0 200") and "m=audio" in m]
    assert re.search(r"^m=audio \d+ RTP/SAVP 0", answer, re.MULTILINE), answer
    assert re.findall(r"^a=crypto:(\d+) (\S+) ", answer, re.MULTILINE) == [
        ("2", "AES_CM_128_HMAC_SHA1_80")
    ], answer


@pytest.mark.parametrize(
    ("own", "customer", "protocol", "keys"),
    [
        ("off", "required", "RTP/AVP", False),
        ("optional", "off", "RTP/AVP", True),  # opportunistic SRTP (RFC 8643)
        ("required", "off", "RTP/SAVP", True),
        ("", "required", "RTP/SAVP", True),
    ],
)
def test_each_callee_is_offered_the_protocol_it_is_set_to(
    sip, tenant, own, customer, protocol, keys
):
    update_tenant(tenant, media_encryption=customer)
    callee = phone(tenant, "Office", rings=["11"], media_encryption=own)
    caller = phone(tenant, "Caller", media_encryption="optional")
    uas = answering_phone(sip, callee, answer=486)
    dial(sip, caller, "11", 486)  # a plain offer from a phone allowed to make one
    code, trace = uas.wait()
    assert code == 0
    (invite,) = trace.requests("INVITE")
    assert re.search(rf"^m=audio \d+ {protocol} 0", invite, re.MULTILINE), invite
    suites = re.findall(r"^a=crypto:\d+ (\S+) inline:", invite, re.MULTILINE)
    if not keys:
        assert suites == [], invite
        return
    assert "AES_CM_128_HMAC_SHA1_80" in suites, suites  # what every SDES phone has
    assert not [suite for suite in suites if UNWANTED_SUITES.search(suite)], suites
