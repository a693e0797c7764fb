"""Calls through Kamailio: internal, call groups, the trunk in both directions, caller ID."""

import threading
import time

import pytest

from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.numbering.services import update_number
from cloudpbx.terminals.services import create_terminal, update_terminal
from cloudpbx.trunks.services import save_trunk

from .conftest import CARRIER_IP, RING_TIMEOUT, free_port, register
from .sipp import Sipp, call_scenario, header, uas_scenario
from .wire import Peer, code, reply


def ext(tenant, number):
    return Extension.objects.get(tenant=tenant, number=number)


def phone(tenant, name, rings=(), kind="ip_phone", **values):
    return create_terminal(
        tenant, name=name, type=kind, generate_credentials=True,
        ringing_extensions=[ext(tenant, n) for n in rings], **values,
    )  # fmt: skip


def answering_phone(sip, terminal, answer=200, ring_ms=100, extra_headers=""):
    """Register the terminal from a port, then answer INVITEs there like a phone."""
    port = free_port()
    code, trace = register(sip, terminal, port)
    assert code == 0, trace.responses()
    scenario = uas_scenario(answer=answer, ring_ms=ring_ms, extra_headers=extra_headers)
    uas = Sipp(scenario, sip.address, local_port=port)
    uas.start()
    return uas


def carrier_uas(sip, carrier, answer=486):
    uas = Sipp(uas_scenario(answer=answer), sip.address, local_port=carrier.sipp_port)
    uas.start()
    return uas


def dial(sip, caller, dialled, expect, **options):
    uac = Sipp(
        call_scenario(dialled, expect=expect, **options),
        sip.address,
        users=[(caller.sip_username, sip.domain, caller.sip_password)],
    )
    code, trace = uac.run()
    assert code == 0, (trace.responses(), uac.errors()[-2000:])
    return trace


def test_internal_call_shows_the_internal_name_and_extension(sip, tenant):
    callee = phone(tenant, "Office", rings=["11"])
    caller = phone(
        tenant,
        "Reception",
        kind="app",
        internal_display_name="Empfang",
        internal_extension=ext(tenant, "10"),
    )
    uas = answering_phone(sip, callee)
    dial(sip, caller, "11", 200)
    code, trace = uas.wait()
    assert code == 0
    invite = trace.requests("INVITE")[0]
    assert header(invite, "From")[0].startswith('"Empfang" <sip:10@')
    assert header(invite, "Record-Route")


def test_call_group_rings_phones_and_the_mobile_through_the_trunk(sip, tenant, carrier):
    answering = phone(tenant, "Desk A", rings=["20"])
    ringing = phone(tenant, "Desk B", rings=["20"])
    create_terminal(
        tenant,
        name="Mobile",
        type="external",
        external_number="0151 23456789",
        ringing_extensions=[ext(tenant, "20")],
    )
    caller = phone(tenant, "Caller", kind="app")
    first = answering_phone(sip, answering, ring_ms=800)
    second = answering_phone(sip, ringing, answer=None)
    mobile = carrier_uas(sip, carrier, answer=None)
    dial(sip, caller, "20", 200)
    assert first.wait()[0] == 0
    second_code, second_trace = second.wait()
    mobile_code, mobile_trace = mobile.wait()
    assert second_code == 0 and second_trace.requests("CANCEL")
    assert mobile_code == 0 and mobile_trace.requests("CANCEL")
    invite = mobile_trace.requests("INVITE")[0]
    assert invite.startswith(f"INVITE sip:+4915123456789@127.0.0.1:{carrier.sipp_port}")
    main = PhoneNumber.objects.get(tenant=tenant, is_main=True).e164
    assert header(invite, "P-Asserted-Identity") == [f"<sip:{main}@127.0.0.1>"]


def test_a_branch_whose_first_ringing_comes_after_the_answer_is_cancelled(sip, tenant):
    """Desk A answers before Desk B has sent anything (a slow phone, or its 180 lost): when
    B's 180 comes, B must get a CANCEL, not ring on. (Kamailio stops retransmitting the
    INVITE to such a branch once another answered: measured, tm's default cancel_b_method.)"""
    answering = phone(tenant, "Desk A", rings=["20"])
    late = phone(tenant, "Desk B", rings=["20"])
    caller = phone(tenant, "Caller", kind="app")
    first = answering_phone(sip, answering, ring_ms=0)
    desk_b = Peer(sip.address)
    assert code(desk_b.register(late.sip_username, late.sip_password)) == 200
    answered = threading.Event()
    cancel: list[str] = []

    def ring_late() -> None:
        invite = desk_b.receive(timeout=10)
        assert invite is not None and invite.startswith("INVITE "), invite
        answered.wait(timeout=20)  # a slow phone: its first reply after the answer elsewhere
        desk_b.send(reply(invite, 180, "Ringing"))
        while (request := desk_b.receive(timeout=5)) is not None:
            if request.startswith("CANCEL "):
                cancel.append(request)
                desk_b.send(reply(request, 200, "OK"))
                desk_b.send(reply(invite, 487, "Request Terminated"))
                return

    ringing = threading.Thread(target=ring_late)
    ringing.start()
    try:
        dial(sip, caller, "20", 200)
    finally:
        answered.set()
    assert first.wait()[0] == 0
    ringing.join(timeout=20)
    desk_b.close()
    assert cancel, "Desk B got no CANCEL after its late 180"


def test_the_caller_is_not_rung_by_its_own_group(sip, tenant):
    caller = phone(tenant, "Only member", rings=["20"])
    dial(sip, caller, "20", 480)


def test_nothing_reachable_is_480(sip, tenant):
    phone(tenant, "Unregistered", rings=["11"])
    dial(sip, phone(tenant, "Caller"), "11", 480)


def test_no_answer_within_the_ring_timeout_is_480(sip, tenant):
    callee = phone(tenant, "Sleepy", rings=["11"])
    uas = answering_phone(sip, callee, answer=None)
    started = time.monotonic()
    dial(sip, phone(tenant, "Caller"), "11", 480)
    assert time.monotonic() - started >= RING_TIMEOUT - 0.5
    assert uas.wait()[1].requests("CANCEL")


def test_external_call_refused_when_external_calls_are_off(sip, tenant, carrier):
    caller = phone(tenant, "Internal only", external_calls_enabled=False)
    trace = dial(sip, caller, "0301234567", 403)
    assert "External Calls Disabled" in trace.received[-1].splitlines()[0]


def test_a_portal_change_reaches_kamailio_at_once(sip, tenant, carrier):
    """Kamailio caches the directory per worker; a saved change flushes every worker's cache
    on commit, so the very next call follows it (no cache window to wait out)."""
    caller = phone(tenant, "Caller")
    uas = carrier_uas(sip, carrier, answer=486)
    dial(sip, caller, "0301234567", 486)  # cached: may call out
    assert uas.wait()[0] == 0
    update_terminal(caller, external_calls_enabled=False)
    trace = dial(sip, caller, "0301234567", 403)
    assert "External Calls Disabled" in trace.received[-1].splitlines()[0]
    update_terminal(caller, external_calls_enabled=True)
    uas = carrier_uas(sip, carrier, answer=486)
    dial(sip, caller, "0301234567", 486)
    assert uas.wait()[0] == 0


def test_a_customer_deleted_in_the_admin_can_no_longer_call_at_once(
    sip, tenant, carrier, admin_client
):
    """Deleting the customer flushes Kamailio's caches like any portal change: its phone,
    cached a moment ago, cannot call out with the very next call."""
    caller = phone(tenant, "Caller")
    uas = carrier_uas(sip, carrier, answer=486)
    dial(sip, caller, "0301234567", 486)  # cached: may call out
    assert uas.wait()[0] == 0
    deleted = admin_client.post(f"/admin/tenancy/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    # Its credentials are unknown now: challenged again, as for any unknown account.
    dial(sip, caller, "0301234567", 407)


def test_premium_rate_destination_is_barred(sip, tenant, carrier):
    dial(sip, phone(tenant, "Caller"), "09001234567", 403)


@pytest.mark.parametrize("mode", ["anonymous", "custom", "pbx_number"])
def test_caller_id_modes_reach_the_trunk_with_exact_headers(sip, tenant, carrier, mode):
    identification = PhoneNumber.objects.get(tenant=tenant, e164="+493012345601")
    shown = PhoneNumber.objects.get(tenant=tenant, e164="+493012345602")
    values = {"identification_number": identification, "caller_id_mode": mode}
    if mode == "custom":
        values["caller_id_custom"] = "030 9876543"
    if mode == "pbx_number":
        values["caller_id_number"] = shown
    caller = phone(tenant, f"Caller {mode}", **values)
    uas = carrier_uas(sip, carrier)
    dial(
        sip,
        caller,
        "03012345678",
        486,
        extra_headers="P-Asserted-Identity: <sip:+4990012345678@evil.example>\nPrivacy: none",
    )
    code, trace = uas.wait()
    assert code == 0
    invite = trace.requests("INVITE")[0]
    assert invite.startswith(f"INVITE sip:+493012345678@127.0.0.1:{carrier.sipp_port}")
    from_, pai, privacy = (header(invite, h) for h in ("From", "P-Asserted-Identity", "Privacy"))
    if mode == "anonymous":
        assert from_[0].startswith('"Anonymous" <sip:anonymous@anonymous.invalid>')
        assert pai == ["<sip:+493012345601@127.0.0.1>"]
        assert privacy == ["id"]
    elif mode == "custom":
        assert from_[0].startswith("<sip:+493098765430@127.0.0.1>") or from_[0].startswith(
            "<sip:+49309876543@127.0.0.1>"
        )
        assert pai == ["<sip:+493012345601@127.0.0.1>"]
        assert privacy == []
    else:
        assert from_[0].startswith("<sip:+493012345602@127.0.0.1>")
        assert pai == ["<sip:+493012345602@127.0.0.1>"]
        assert privacy == []
    assert "evil.example" not in invite


def test_emergency_call_goes_out_with_the_identification_number(sip, tenant, carrier):
    caller = phone(
        tenant,
        "Locked down",
        external_calls_enabled=False,
        caller_id_mode="anonymous",
        identification_number=PhoneNumber.objects.get(e164="+493012345601"),
    )
    uas = carrier_uas(sip, carrier)
    dial(sip, caller, "112", 486)
    invite = uas.wait()[1].requests("INVITE")[0]
    assert invite.startswith(f"INVITE sip:112@127.0.0.1:{carrier.sipp_port}")
    assert header(invite, "P-Asserted-Identity") == ["<sip:+493012345601@127.0.0.1>"]
    assert header(invite, "Privacy") == []
    assert "anonymous" not in header(invite, "From")[0].lower()


def test_anonymous_identity_does_not_leak_in_later_requests(sip, tenant, carrier):
    caller = phone(tenant, "Secret", caller_id_mode="anonymous", internal_display_name="Boss")
    uas = carrier_uas(sip, carrier, answer=200)
    dial(sip, caller, "03012345678", 200)
    code, trace = uas.wait()
    assert code == 0
    bye = trace.requests("BYE")[0]
    assert header(bye, "From")[0].startswith('"Anonymous" <sip:anonymous@anonymous.invalid>')
    assert "Boss" not in bye and caller.sip_username not in header(bye, "From")[0]


def inbound(sip, did, expect):
    uac = Sipp(
        call_scenario(did, expect=expect, authenticate=False, display='"Outside"'),
        sip.address, local_ip=CARRIER_IP, users=[("+4989111222", sip.domain, "-")],
    )  # fmt: skip
    code, trace = uac.run()
    assert code == 0, (trace.responses(), uac.errors()[-2000:])
    return trace


def test_inbound_did_rings_its_extension(sip, tenant, carrier):
    number = PhoneNumber.objects.get(tenant=tenant, e164="+493012345601")
    update_number(number, destination=ext(tenant, "11"))
    callee = phone(tenant, "Office", rings=["11"])
    uas = answering_phone(sip, callee)
    inbound(sip, "493012345601", 200)
    invite = uas.wait()[1].requests("INVITE")[0]
    assert "+4989111222" in header(invite, "From")[0]


def test_unknown_did_is_404(sip, tenant, carrier):
    inbound(sip, "493099999999", 404)


def test_strangers_are_challenged(sip, tenant, carrier):
    uac = Sipp(
        call_scenario("11", expect=407, authenticate=False),
        sip.address,
        local_ip="127.0.0.44",
        users=[("stranger", sip.domain, "-")],
    )
    code, trace = uac.run()
    assert code == 0, trace.responses()


CHALLENGING_CARRIER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier asking for credentials">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 407 Proxy Authentication Required
[last_Via:]
[last_From:]
[last_To:];tag=carrier[call_number]
[last_Call-ID:]
[last_CSeq:]
Proxy-Authenticate: Digest realm="carrier.example", nonce="4ba6ae8d0c3f", qop="auth"
Content-Length: 0

  ]]></send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <ereg regexp="Proxy-Authorization: Digest username=.trunkuser.*realm=.carrier.example"
            search_in="msg" check_it="true" assign_to="answer"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=carrier[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

  ]]></send>
  <recv request="ACK"/>
  <Reference variables="answer"/>
</scenario>
"""


def test_a_challenging_carrier_gets_the_trunk_credentials(sip, tenant, carrier):
    carrier.auth_username = "trunkuser"
    save_trunk(carrier, password="Carrier-Secret-1")
    uas = Sipp(CHALLENGING_CARRIER, sip.address, local_port=carrier.sipp_port).start()
    dial(sip, phone(tenant, "Caller"), "03012345678", 486)
    code, trace = uas.wait()
    assert code == 0, trace.received
    second = trace.requests("INVITE")[1]
    assert "Carrier-Secret-1" not in second  # a digest answer, not the password
