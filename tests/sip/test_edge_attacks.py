"""Each attack on the SIP edge found in issue 10, tried against the real Kamailio.

The fake carrier is the trunk's gateway on another loopback address: in every test here it
must receive nothing. Tests needing a carrier that answers use test_calls' sipp carrier.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from cloudpbx.sip import rpc
from cloudpbx.tenancy.services import update_tenant
from cloudpbx.terminals.models import Terminal
from cloudpbx.trunks.models import Trunk
from cloudpbx.trunks.services import save_trunk

from .conftest import CARRIER_IP, free_port
from .sipp import Sipp, call_scenario, header, register_scenario
from .test_calls import answering_phone, carrier_uas, dial, ext, inbound, phone
from .wire import FakeCarrier, Peer, challenge, code, digest

FAKE_CARRIER_IP = "127.0.0.77"
PREMIUM = "+4990012345678"


@pytest.fixture
def fake_carrier(sip):
    listener = FakeCarrier(FAKE_CARRIER_IP, free_port())
    trunk = Trunk(
        name="Carrier",
        gateway=FAKE_CARRIER_IP,
        port=listener.port,
        transport="udp",
        source_networks=[f"{CARRIER_IP}/32"],
        is_default=True,
    )
    save_trunk(trunk)
    yield listener
    listener.close()


def stored(sip, table: str, key: str):
    """An htable entry's value, or None (Kamailio's RPC answers an error for a missing key)."""
    try:
        return sip.rpc("htable.get", table, key)["item"]["value"]
    except rpc.RpcError:
        return None


def nothing_arrives(listener: FakeCarrier, within: float = 0.5) -> bool:
    """A bounded wait for absence (there is no event to wait for when nothing is sent)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if listener.received:
            return False
        time.sleep(0.05)
    return not listener.received


# --- 1. no relay for strangers ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["INVITE", "ACK", "BYE", "MESSAGE", "REFER", "OPTIONS"])
@pytest.mark.parametrize("route", ["carrier", "pbx-then-carrier"])
def test_a_forged_dialog_request_is_not_relayed(sip, fake_carrier, method, route):
    stranger = Peer(sip.address, ip="127.0.0.50")
    carrier_hop = f"<sip:{FAKE_CARRIER_IP}:{fake_carrier.port};lr>"
    routes = {
        "carrier": [f"Route: {carrier_hop}"],
        "pbx-then-carrier": [f"Route: <sip:{sip.address[0]}:{sip.address[1]};lr>, {carrier_hop}"],
    }[route]
    request = stranger.build(
        method,
        f"sip:{PREMIUM}@{FAKE_CARRIER_IP}:{fake_carrier.port}",
        to_user=PREMIUM,
        to_tag="forged1",
        headers=routes,
    )
    answer = stranger.ask(request, timeout=1 if method == "ACK" else 3)
    if method == "ACK":
        assert answer is None
    else:
        assert code(answer) == 404, answer
    assert nothing_arrives(fake_carrier)
    stranger.close()


def test_a_preloaded_route_does_not_steer_an_initial_request(sip, fake_carrier):
    stranger = Peer(sip.address, ip="127.0.0.51")
    request = stranger.build(
        "INVITE",
        f"sip:{PREMIUM}@{sip.domain}",
        headers=[f"Route: <sip:{FAKE_CARRIER_IP}:{fake_carrier.port};lr>"],
    )
    assert code(stranger.ask(request)) == 407
    assert nothing_arrives(fake_carrier)


# --- 2. toll fraud through a registered contact ------------------------------------------------


def test_a_contact_naming_the_trunk_is_refused(sip, tenant, fake_carrier):
    victim = phone(tenant, "Internal only", rings=["11"], external_calls_enabled=False)
    peer = Peer(sip.address)
    contact = f"<sip:{PREMIUM}@{FAKE_CARRIER_IP}:{fake_carrier.port}>"
    answer = peer.register(victim.sip_username, victim.sip_password, contact=contact)
    assert code(answer) == 403 and "Contact Host Not Allowed" in answer
    # Calls to its extension reach nobody, least of all the carrier.
    dial(sip, phone(tenant, "Colleague"), "11", 480)
    assert nothing_arrives(fake_carrier)


@pytest.mark.parametrize("contact", ["<tel:+4990012345678>", "<http://evil.example/>"])
def test_a_contact_with_another_scheme_is_refused(sip, tenant, contact):
    victim = phone(tenant, "Desk")
    answer = Peer(sip.address).register(victim.sip_username, victim.sip_password, contact=contact)
    assert code(answer) == 403


def test_a_contact_is_reached_where_its_register_came_from(sip, tenant, fake_carrier):
    """The phone names another host; the PBX still sends its calls to the REGISTER's source."""
    victim = phone(tenant, "Desk", rings=["11"])
    peer = Peer(sip.address)
    contact = f"<sip:{PREMIUM}@127.0.0.88:5099>"
    assert code(peer.register(victim.sip_username, victim.sip_password, contact=contact)) == 200
    caller = phone(tenant, "Colleague")
    uac = Sipp(
        call_scenario("11", expect=486),
        sip.address,
        users=[(caller.sip_username, sip.domain, caller.sip_password)],
    ).start()
    invite = peer.receive(timeout=10)
    assert invite is not None and invite.startswith(f"INVITE sip:{PREMIUM}@127.0.0.88:5099")
    busy = (
        invite.split("\r\n\r\n")[0]
        .replace(invite.splitlines()[0], "SIP/2.0 486 Busy Here", 1)
        .replace("\r\nContent-Type: application/sdp", "")
    )
    busy = "\r\n".join(
        line if not line.lower().startswith("content-length") else "Content-Length: 0"
        for line in busy.split("\r\n")
    )
    to_line = next(line for line in busy.split("\r\n") if line.startswith("To:"))
    peer.send(busy.replace(to_line, to_line + ";tag=callee1") + "\r\n\r\n")
    assert uac.wait()[0] == 0
    assert nothing_arrives(fake_carrier)


# --- 3. header injection --------------------------------------------------------------------


def test_control_characters_in_a_stored_name_never_reach_a_header(sip, tenant):
    """Even a name that bypassed validation (written straight into the database)."""
    callee = phone(tenant, "Office", rings=["11"])
    caller = phone(tenant, "Boss")
    Terminal.objects.filter(pk=caller.pk).update(
        internal_display_name='Boss"\r\nP-Asserted-Identity: <sip:+4990012345678@evil>\r\nX: "'
    )
    uas = answering_phone(sip, callee, answer=486)
    dial(sip, caller, "11", 486)
    invite = uas.wait()[1].requests("INVITE")[0]
    assert header(invite, "P-Asserted-Identity") == []
    assert header(invite, "X") == []
    assert header(invite, "From")[0].startswith('"BossP-Asserted-Identity: <sip:+4990012345678@')


# --- 4. and 5. lockouts and blind bans --------------------------------------------------------


def failing_registrations(sip, username, local_ip, count):
    return Sipp(
        register_scenario(expect=401),
        sip.address,
        local_ip=local_ip,
        users=[(username, sip.domain, "Wrong-Password-1")] * count,
        calls=count,
        extra=["-r", "50"],
    ).run(timeout=60)


def test_guessing_from_elsewhere_does_not_lock_the_owner_out(sip, tenant):
    victim = phone(tenant, "Desk")
    attacker = "127.0.0.67"
    failing_registrations(
        sip, victim.sip_username, attacker, sip.config.sip_auth_failures_per_user + 2
    )
    key = f"user:{victim.sip_username}@{attacker}"
    assert stored(sip, "userban", key)
    # The owner, from its own address, registers at once.
    assert code(Peer(sip.address).register(victim.sip_username, victim.sip_password)) == 200
    # From the attacker's address even the right password is refused while locked, and the
    # right answer is not counted as one more failure.
    before = stored(sip, "authfail", key)
    answer = Peer(sip.address, ip=attacker).register(victim.sip_username, victim.sip_password)
    assert code(answer) == 401
    assert stored(sip, "authfail", key) == before


def test_a_locked_phone_on_a_banned_address_still_calls_emergency(sip, tenant, carrier):
    caller = phone(tenant, "Locked")
    office = "127.0.0.68"
    sip.rpc("htable.seti", "ipban", office, 1)
    sip.rpc("htable.seti", "userban", f"user:{caller.sip_username}@{office}", 1)
    uas = carrier_uas(sip, carrier)
    code_, trace = Sipp(
        call_scenario("112", expect=486),
        sip.address,
        local_ip=office,
        users=[(caller.sip_username, sip.domain, caller.sip_password)],
    ).run()
    assert code_ == 0, trace.responses()
    assert uas.wait()[1].requests("INVITE")[0].startswith("INVITE sip:112@")
    # Anything else from the banned address is dropped unanswered.
    stranger = Peer(sip.address, ip=office)
    assert stranger.ask(stranger.build("INVITE", f"sip:0301234567@{sip.domain}"), timeout=1) is None


def test_a_spoofed_source_cannot_get_an_address_banned(sip, tenant):
    victim = phone(tenant, "Desk")
    # The attacker fetches a nonce at its own address …
    attacker = Peer(sip.address, ip="127.0.0.52")
    uri = f"sip:{sip.domain}"
    params = challenge(attacker.ask(attacker.build("REGISTER", uri, user=victim.sip_username)))
    # … and sends wrong answers with it as if from the office (a spoofed UDP source).
    office = Peer(sip.address, ip="127.0.0.90")
    for _ in range(sip.config.sip_auth_failures_per_ip + 5):
        wrong = digest(victim.sip_username, "guess", "REGISTER", uri, params)
        answer = office.ask(
            office.build(
                "REGISTER", uri, user=victim.sip_username, headers=[f"Authorization: {wrong}"]
            )
        )
        assert code(answer) == 401
    assert stored(sip, "ipban", "127.0.0.90") is None
    assert stored(sip, "authfail", "ip:127.0.0.90") is None
    assert (
        code(Peer(sip.address, ip="127.0.0.90").register(victim.sip_username, victim.sip_password))
        == 200
    )


# --- 6. replay -------------------------------------------------------------------------------


@pytest.mark.parametrize("qop", [True, False], ids=["qop=auth", "RFC 2069, no qop"])
def test_a_digest_answer_is_good_for_one_request_only(sip, tenant, qop):
    # Without qop there is no nonce count to tell a replay apart: one-time nonces refuse the
    # second use of any answer, with or without qop.
    terminal = phone(tenant, "Old phone")
    uri = f"sip:{sip.domain}"
    peer = Peer(sip.address)
    params = challenge(peer.ask(peer.build("REGISTER", uri, user=terminal.sip_username)))
    answer = digest(terminal.sip_username, terminal.sip_password, "REGISTER", uri, params, qop=qop)
    auth = f"Authorization: {answer}"
    register = peer.build("REGISTER", uri, user=terminal.sip_username, headers=[auth])
    assert code(peer.ask(register)) == 200
    replayed = peer.build("REGISTER", uri, user=terminal.sip_username, headers=[auth])
    assert code(peer.ask(replayed)) == 401


def test_an_answer_replayed_from_another_address_is_refused(sip, tenant):
    terminal = phone(tenant, "Desk")
    uri = f"sip:{sip.domain}"
    owner = Peer(sip.address)
    params = challenge(owner.ask(owner.build("REGISTER", uri, user=terminal.sip_username)))
    answer = digest(terminal.sip_username, terminal.sip_password, "REGISTER", uri, params)
    auth = f"Authorization: {answer}"
    replayer = Peer(sip.address, ip="127.0.0.53")
    replayed = replayer.build("REGISTER", uri, user=terminal.sip_username, headers=[auth])
    assert code(replayer.ask(replayed)) == 401
    # The nonce is spent (one-time nonces); the owner simply answers a fresh challenge.
    assert code(owner.register(terminal.sip_username, terminal.sip_password)) == 200


def test_an_invite_answer_cannot_be_reused_for_another_number(sip, tenant, carrier):
    caller = phone(tenant, "Desk")
    peer = Peer(sip.address)
    first = peer.build("INVITE", f"sip:11@{sip.domain}", user=caller.sip_username)
    params = challenge(peer.ask(first))
    uri = f"sip:{PREMIUM}@{sip.domain}"
    auth = digest(caller.sip_username, caller.sip_password, "INVITE", uri, params)
    second = peer.build(
        "INVITE", uri, user=caller.sip_username, headers=[f"Proxy-Authorization: {auth}"]
    )
    assert code(peer.ask(second)) == 407  # the nonce was issued for sip:11@…


# --- 7. headers across the trunk boundary ---------------------------------------------------

LEAKY_HEADERS = [
    "Diversion: <sip:+4930999@evil>",
    "History-Info: <sip:+4930999@evil>;index=1",
    "P-Served-User: <sip:+4930999@evil>",
    "P-Charging-Vector: icid-value=1234",
    "Identity: forged",
    "Referred-By: <sip:boss@evil>",
    "X-Anything: 1",
    "Call-Info: <sip:evil>;answer-after=0",
    "Alert-Info: <http://evil/>;info=alert-autoanswer",
]


def test_only_allowed_headers_reach_the_carrier(sip, tenant, carrier):
    uas = carrier_uas(sip, carrier)
    dial(sip, phone(tenant, "Desk"), "03012345678", 486, extra_headers="\n".join(LEAKY_HEADERS))
    invite = uas.wait()[1].requests("INVITE")[0]
    for line in [*LEAKY_HEADERS, "User-Agent: sipp-test"]:
        assert header(invite, line.split(":")[0]) == [], line


def test_a_transfer_inside_a_call_with_the_carrier_is_refused(sip, tenant, carrier):
    # A phone in a real call through the trunk asks the carrier to call a premium number.
    uas = carrier_uas(sip, carrier, answer=200)
    refer = (
        "REFER",
        f"Refer-To: <sip:{PREMIUM}@{CARRIER_IP}>\nReferred-By: <sip:10@{sip.domain}>",
        405,
    )
    trace = dial(sip, phone(tenant, "Desk"), "03012345678", 200, in_dialog=refer)
    assert 405 in trace.responses()
    code, received = uas.wait()
    assert code == 0
    assert [m.split()[0] for m in received.received if not m.startswith("SIP/")] == [
        "INVITE", "ACK", "BYE",
    ]  # fmt: skip


def test_only_allowed_headers_of_a_phones_replies_reach_the_carrier(sip, tenant, carrier):
    from cloudpbx.numbering.models import PhoneNumber
    from cloudpbx.numbering.services import update_number

    number = PhoneNumber.objects.get(tenant=tenant, e164="+493012345601")
    update_number(number, destination=ext(tenant, "11"))
    asserting = ["P-Asserted-Identity: <sip:+4930999@evil>", "Privacy: none", "Server: Phone/1.0"]
    leaky = [*LEAKY_HEADERS, *asserting]
    callee = phone(tenant, "Office", rings=["11"])
    uas = answering_phone(sip, callee, answer=486, extra_headers="\n".join(leaky))
    trace = inbound(sip, "493012345601", 486)
    replies = [m for m in trace.received if m.startswith(("SIP/2.0 180", "SIP/2.0 486"))]
    assert len(replies) == 2, trace.responses()
    sent = uas.wait()[1].sent
    assert all("X-Anything: 1" in m for m in sent if m.startswith("SIP/2.0 ")), sent
    for reply in replies:
        for line in leaky:
            assert header(reply, line.split(":")[0]) == [], (line, reply)


def test_the_phones_addresses_and_call_id_do_not_reach_the_carrier(sip, tenant, carrier):
    caller = phone(tenant, "Desk")
    uas = carrier_uas(sip, carrier)
    trace = dial(sip, caller, "03012345678", 486)
    invite = uas.wait()[1].requests("INVITE")[0]
    phone_invite = next(m for m in trace.sent if m.startswith("INVITE") and "Proxy-Auth" in m)
    phone_via = header(phone_invite, "Via")[0]
    assert phone_via.split(";")[0] not in invite  # the phone's Via host:port
    assert header(phone_invite, "Call-ID")[0] not in invite
    assert caller.sip_username not in invite  # its Contact named it
    assert len(header(invite, "Via")) == 2  # the PBX's own and one masked


def test_auto_answer_headers_do_not_reach_phones(sip, tenant, carrier):
    callee = phone(tenant, "Office", rings=["11"])
    uas = answering_phone(sip, callee, answer=486)
    auto_answer = "\n".join([*LEAKY_HEADERS[-2:], "Answer-Mode: Auto"])
    dial(sip, phone(tenant, "Colleague"), "11", 486, extra_headers=auto_answer)
    invite = uas.wait()[1].requests("INVITE")[0]
    for name in ("Call-Info", "Alert-Info", "Answer-Mode"):
        assert header(invite, name) == [], name


def test_a_redirect_from_a_phone_is_not_passed_to_the_carrier(sip, tenant, carrier):
    from cloudpbx.numbering.models import PhoneNumber
    from cloudpbx.numbering.services import update_number

    number = PhoneNumber.objects.get(tenant=tenant, e164="+493012345601")
    update_number(number, destination=ext(tenant, "11"))
    uas = answering_phone(sip, phone(tenant, "Office", rings=["11"]), answer=302)
    trace = inbound(sip, "493012345601", 480)
    assert 302 not in trace.responses()
    assert uas.wait()[0] == 0


def test_a_banned_trunk_source_still_delivers_inbound_calls(sip, tenant, carrier):
    # A spoofed flood "from" the carrier must not cut off the customers' inbound calls: a ban
    # entry for the carrier's address (as a flood or failures would write it) is ignored.
    sip.rpc("htable.seti", "ipban", CARRIER_IP, 1)
    try:
        inbound(sip, "493099999999", 404)  # answered (unknown number), not dropped
    finally:
        sip.rpc("htable.delete", "ipban", CARRIER_IP)


# --- 9. smaller findings ----------------------------------------------------------------------


@pytest.mark.parametrize("username", [b"\xff\xfe\xfd", b"a" * 20_000])
def test_a_malformed_username_is_challenged_and_never_stored(sip, username):
    peer = Peer(sip.address, ip="127.0.0.54")
    uri = f"sip:{sip.domain}"
    params = challenge(peer.ask(peer.build("REGISTER", uri, user="x")))
    auth = digest("PLACEHOLDER", "x", "REGISTER", uri, params).encode()
    request = peer.build("REGISTER", uri, user="x", headers=["Authorization: AUTH"]).encode()
    request = request.replace(b"AUTH", auth.replace(b"PLACEHOLDER", username))
    assert code(peer.ask(request)) in (400, 401)
    dump = sip.rpc("htable.dump", "authfail") or []
    assert not any(username.decode(errors="replace")[:30] in str(slot) for slot in dump)
    assert "Traceback" not in sip.log_text()


def test_the_rpc_port_needs_the_token(sip):
    request = urllib.request.Request(
        sip.rpc_url,
        data=b'{"jsonrpc":"2.0","method":"core.version","id":1}',
        headers={"Content-Type": "application/json", "Authorization": "Bearer wrong"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=2)
    assert refused.value.code == 403
    assert rpc.call(sip.rpc_url, "core.version", token=rpc.token(sip.config.secret_key))


# --- 8. destinations and the concurrent-call cap ------------------------------------------


@pytest.mark.parametrize(
    "dialled",
    ["+881612345678", "+88213400000", "+4970012345678", "+447012345678", "+5371234567"],
    ids=["satellite", "international-network", "personal-de", "personal-uk", "high-risk"],
)
def test_platform_barred_destinations_never_reach_the_carrier(sip, tenant, fake_carrier, dialled):
    trace = dial(sip, phone(tenant, "Desk"), dialled, 403)
    assert "Destination Barred" in trace.received[-1].splitlines()[0]
    assert nothing_arrives(fake_carrier)


def test_a_country_outside_the_customers_list_is_refused(sip, tenant, fake_carrier):
    update_tenant(tenant, allowed_destination_countries=["DE"])
    dial(sip, phone(tenant, "Desk"), "+33123456789", 403)
    assert nothing_arrives(fake_carrier)


def test_concurrent_external_calls_are_capped(sip, tenant, carrier):
    update_tenant(tenant, max_outbound_calls=1)
    ringing = carrier_uas(sip, carrier, answer=None)
    first = phone(tenant, "First")
    call = Sipp(
        call_scenario("03012345678", expect=408),
        sip.address,
        users=[(first.sip_username, sip.domain, first.sip_password)],
    ).start()
    deadline = time.monotonic() + 10
    while not ringing.trace_file.exists() or "INVITE sip:" not in ringing.trace_file.read_text():
        assert time.monotonic() < deadline, "the first call never reached the carrier"
        time.sleep(0.05)
    trace = dial(sip, phone(tenant, "Second"), "03098765432", 403)
    assert "Outbound Call Limit Reached" in trace.received[-1].splitlines()[0]
    assert call.wait()[0] == 0
    assert ringing.wait()[0] == 0
