"""The media relay on loopback: SDP anchored at rtpengine, sessions that end with their calls,
a clear 503 while rtpengine is down, and the supervisor bringing it back."""

from __future__ import annotations

import re
import threading
import time

from django.urls import reverse

from cloudpbx.testing import api_client
from cloudpbx.web.testing import portal_client

from .conftest import free_port, register
from .sipp import Sipp, call_scenario, uas_scenario
from .test_calls import answering_phone, dial, phone


def sessions_gone(sip, timeout: float = 5.0) -> bool:
    """Whether rtpengine holds no session within ``timeout`` (a final reply or BYE is handled
    a moment after the caller saw it)."""
    deadline = time.monotonic() + timeout
    while sip.media_sessions():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def relay_port(message: str) -> int:
    found = re.search(r"^m=audio (\d+) ", message, re.MULTILINE)
    assert found, message
    return int(found.group(1))


def test_the_callee_sees_the_relay_in_sdp_and_the_session_ends_with_the_bye(sip, tenant):
    callee = phone(tenant, "Office", rings=["11"])
    uas = answering_phone(sip, callee)
    dial(sip, phone(tenant, "Caller"), "11", 200)
    code, trace = uas.wait()
    assert code == 0
    invite = trace.requests("INVITE")[0]
    assert sip.config.media_port_min <= relay_port(invite) <= sip.config.media_port_max
    assert f"c=IN IP4 {sip.config.media_address}" in invite
    assert sessions_gone(sip), sip.media_sessions()


def test_a_late_offer_is_anchored_in_the_200_and_answered_in_the_ack(sip, tenant):
    """An INVITE without SDP: the callee offers in its 200 and the caller answers in the ACK;
    both SDPs reach the other side rewritten to the relay."""
    callee = phone(tenant, "Office", rings=["11"])
    port = free_port()
    code, trace = register(sip, callee, port)
    assert code == 0, trace.responses()
    uas = Sipp(uas_scenario(answer=200, sdp=True), sip.address, local_port=port).start()
    caller = phone(tenant, "Caller")
    uac = Sipp(
        call_scenario("11", expect=200, late_offer=True), sip.address,
        users=[(caller.sip_username, sip.domain, caller.sip_password)],
    )  # fmt: skip
    code, caller_trace = uac.run()
    assert code == 0, (caller_trace.responses(), uac.errors()[-2000:])
    code, callee_trace = uas.wait()
    assert code == 0
    assert "m=audio" not in callee_trace.requests("INVITE")[0]
    (ok,) = [m for m in caller_trace.received if m.startswith("SIP/2.0 200") and "m=audio" in m]
    (ack,) = callee_trace.requests("ACK")
    for sdp in (ok, ack):
        assert sip.config.media_port_min <= relay_port(sdp) <= sip.config.media_port_max, sdp
    assert sessions_gone(sip), sip.media_sessions()


def test_a_refused_call_leaves_no_media_session(sip, tenant):
    callee = phone(tenant, "Busy", rings=["11"])
    answering_phone(sip, callee, answer=486)
    dial(sip, phone(tenant, "Caller"), "11", 486)
    assert sessions_gone(sip), sip.media_sessions()


def test_an_unanswered_call_leaves_no_media_session(sip, tenant):
    callee = phone(tenant, "Sleepy", rings=["11"])
    uas = answering_phone(sip, callee, answer=None)
    dial(sip, phone(tenant, "Caller"), "11", 480)  # the ring timeout CANCELs the branch
    assert uas.wait()[1].requests("CANCEL")
    assert sessions_gone(sip), sip.media_sessions()


def test_while_rtpengine_is_down_calls_get_a_clear_503_and_it_is_restarted(sip, tenant):
    callee = phone(tenant, "Office", rings=["11"])
    caller = phone(tenant, "Caller")
    uas = answering_phone(sip, callee, answer=200)  # it answers the first call that reaches it
    sip.media.process.kill()
    sip.media.process.wait()

    uac = Sipp(
        call_scenario("11", expect=503), sip.address,
        users=[(caller.sip_username, sip.domain, caller.sip_password)],
    )  # fmt: skip
    code, trace = uac.run()
    assert code == 0, (trace.responses(), uac.errors()[-2000:])
    assert trace.received[-1].startswith("SIP/2.0 503 Media Relay Unavailable"), trace.received

    # The supervisor restarts it (as under ``cloudpbx run``) and calls work again.
    watcher = threading.Thread(target=sip.supervisor.watch, daemon=True)
    watcher.start()
    try:
        deadline = time.monotonic() + 20
        while not (sip.media.process.poll() is None and sip.media.ready()):
            assert time.monotonic() < deadline, "rtpengine was not restarted"
            time.sleep(0.1)
    finally:
        sip.supervisor.stopping = True
        watcher.join()
        sip.supervisor.stopping = False
    # Kamailio tries a relay it found down again after 5 s (rtpengine_disable_tout).
    deadline = time.monotonic() + 15
    while True:
        uac = Sipp(
            call_scenario("11", expect=200), sip.address,
            users=[(caller.sip_username, sip.domain, caller.sip_password)],
        )  # fmt: skip
        if uac.run()[0] == 0:
            break
        assert time.monotonic() < deadline, "calls did not recover after rtpengine came back"
    assert uas.wait()[0] == 0


def test_the_portal_shows_each_phones_transport_and_last_call(sip, tenant):
    """Both ends of a plain call: registered over UDP, last call over UDP without SRTP (sipp
    offers plain RTP), in the API and on the terminal page."""
    callee = phone(tenant, "Office", rings=["11"])
    caller = phone(tenant, "Caller")
    port = free_port()
    assert register(sip, callee, port)[0] == 0
    uas = Sipp(uas_scenario(answer=200, sdp=True), sip.address, local_port=port).start()
    assert register(sip, caller, free_port())[0] == 0
    dial(sip, caller, "11", 200)
    assert uas.wait()[0] == 0
    api = api_client(tenant)
    for terminal in (caller, callee):
        body = api.get(f"/api/v1/terminals/{terminal.pk}/status").json()
        assert [c["transport"] for c in body["contacts"]] == ["udp"]
        assert body["last_call"] is not None, (terminal.name, body)
        assert body["last_call"]["transport"] == "udp", body
        assert body["last_call"]["encrypted"] is False
    page = portal_client(tenant).get(reverse("terminals:edit", args=[callee.pk])).content.decode()
    head = page[page.index("head-status") : page.index("terminal-form")]
    assert "Last call" in head and "Unencrypted media" in head and "UDP · " in head, head
