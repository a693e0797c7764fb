"""REGISTER: digest auth, no enumeration, NAT-aware contacts, limits, persistence, status."""

import re
import socket

from cloudpbx.terminals.services import create_terminal
from cloudpbx.testing import api_client

from .conftest import free_port, register
from .sipp import Sipp, header, register_scenario


def phone(tenant, name="Desk"):
    return create_terminal(tenant, name=name, type="ip_phone", generate_credentials=True)


def test_register_with_generated_credentials(sip, tenant):
    terminal = phone(tenant)
    code, trace = register(sip, terminal, free_port())
    assert code == 0, trace.received
    assert trace.responses() == [401, 200]
    challenge = trace.received[0]
    assert 'qop="auth"' in header(challenge, "WWW-Authenticate")[0]
    assert sip.is_registered(terminal)


def _normalised(message: str) -> str:
    """A reply without what is random per request (tags, nonces, branch, Call-ID)."""
    message = re.sub(r'nonce="[^"]+"', 'nonce="*"', message)
    message = re.sub(r"tag=[^;\s>]+", "tag=*", message)
    message = re.sub(r"branch=[^;\s]+", "branch=*", message)
    message = re.sub(r"(?im)^(Call-ID|Content-Length):.*$", r"\1: *", message)
    return message


def test_wrong_password_and_unknown_user_get_the_same_answer(sip, tenant):
    terminal = phone(tenant)
    port = free_port()
    wrong = Sipp(
        register_scenario(expect=401),
        sip.address,
        local_port=port,
        users=[(terminal.sip_username, sip.domain, "Wrong-Password-123")],
    )
    unknown = Sipp(
        register_scenario(expect=401),
        sip.address,
        local_port=port,
        users=[(terminal.sip_username, sip.domain, "Wrong-Password-123")],
    )
    code_wrong, trace_wrong = wrong.run()
    unknown_user = "tzzzzzzzzzzz"
    unknown = Sipp(
        register_scenario(expect=401).replace("[field0]", unknown_user),
        sip.address,
        local_port=port,
        users=[(unknown_user, sip.domain, "Wrong-Password-123")],
    )
    code_unknown, trace_unknown = unknown.run()
    assert code_wrong == code_unknown == 0
    assert trace_wrong.responses() == trace_unknown.responses() == [401, 401]
    final_wrong = _normalised(trace_wrong.received[-1]).replace(terminal.sip_username, "U")
    final_unknown = _normalised(trace_unknown.received[-1]).replace(unknown_user, "U")
    assert final_wrong == final_unknown


def test_external_terminals_cannot_register(sip, tenant):
    mobile = create_terminal(tenant, name="Mobile", type="external", external_number="015123456789")
    assert mobile.sip_username is None  # no account: any username is refused like above


def test_replayed_authorization_is_refused(sip, tenant):
    terminal = phone(tenant)
    code, trace = register(sip, terminal, free_port())
    assert code == 0
    authorised = trace.sent[1]  # the REGISTER with the Authorization header
    assert header(authorised, "Authorization")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        local_ip, local_port = "127.0.0.1", free_port()
        udp.bind((local_ip, local_port))
        replay = re.sub(
            r"(?m)^Via: .*$",
            f"Via: SIP/2.0/UDP {local_ip}:{local_port};branch=z9hG4bKreplay1;rport",
            authorised,
        )
        udp.sendto((replay.strip() + "\n\n").replace("\n", "\r\n").encode(), sip.address)
        answer = udp.recv(65535).decode()
    assert answer.startswith("SIP/2.0 401"), answer


def test_contacts_per_terminal_are_limited(sip, tenant):
    terminal = phone(tenant)
    limit = sip.config.sip_max_contacts
    for _ in range(limit):
        code, _trace = register(sip, terminal, free_port())
        assert code == 0
    code, trace = register(sip, terminal, free_port(), expect=503)
    assert code == 0, trace.responses()


def test_registration_survives_a_kamailio_restart(sip, tenant):
    terminal = phone(tenant)
    assert register(sip, terminal, free_port())[0] == 0
    sip.restart()
    assert sip.is_registered(terminal)


def test_status_in_the_api(sip, tenant):
    terminal = phone(tenant)
    client = api_client(tenant)
    before = client.get(f"/api/v1/terminals/{terminal.pk}/status").json_body
    assert before == {"online": False, "contacts": [], "last_call": None}
    port = free_port()
    assert register(sip, terminal, port)[0] == 0
    after = client.get(f"/api/v1/terminals/{terminal.pk}/status").json_body
    assert after["online"] is True
    contact = after["contacts"][0]
    assert f"127.0.0.1:{port}" in contact["uri"]
    assert contact["user_agent"] == "sipp-test"
    assert contact["transport"] == "udp"
    assert 0 < contact["expires"] <= 300


def test_status_in_the_portal(sip, tenant):
    from django.urls import reverse

    from cloudpbx.web.testing import portal_client

    online = phone(tenant, name="Online desk")
    phone(tenant, name="Offline desk")
    assert register(sip, online, free_port())[0] == 0
    page = portal_client(tenant).get(reverse("terminals:list")).content.decode()
    assert page.count("Not registered") == 1
    assert "Registered" in page and "sipp-test" in page


def test_options_keepalives_are_answered(sip):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        options = (
            "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKkeepalive1;rport\r\n"
            f"From: <sip:keepalive@127.0.0.1:{port}>;tag=k1\r\nTo: <sip:127.0.0.1>\r\n"
            "Call-ID: keepalive-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        udp.sendto(options.encode(), sip.address)
        assert udp.recv(65535).decode().startswith("SIP/2.0 200 OK")
