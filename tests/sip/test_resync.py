"""Re-sync end to end: a change made through the API reaches the phone as SIP NOTIFY check-sync,
sent by Kamailio to the contact the phone registered (behind NAT: to the address it came from)."""

import pytest

from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.terminals.models import Terminal
from cloudpbx.testing import api_client

from .conftest import free_port, register
from .sipp import HEADERS, Sipp, _message, _send, header

URL = "/api/v1/terminals/"

NOTIFY_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone receiving check-sync">
  <recv request="NOTIFY" crlf="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

  ]]></send>
</scenario>
"""


def nat_register_scenario(advertised_port: int) -> str:
    """REGISTER from behind a NAT: Via and Contact name a port the phone does not send from."""
    headers = HEADERS.format(from_="", to="[field0]").replace(
        "[local_ip]:[local_port];branch=[branch]",
        f"[local_ip]:{advertised_port};rport;branch=[branch]",
    )
    headers = headers.replace(
        "<sip:[field0]@[local_ip]:[local_port]>", f"<sip:[field0]@[local_ip]:{advertised_port}>"
    )
    first = "REGISTER sip:[field1] SIP/2.0"
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="register">\n'
        + _send(_message(first, headers, "1 REGISTER", "Expires: 300"))
        + '  <recv response="401" auth="true"/>\n'
        + _send(_message(first, headers, "2 REGISTER", "[authentication]\nExpires: 300"))
        + '  <recv response="200"/>\n</scenario>\n'
    )


def automatic_phone(api, manufacturer="yealink", model="T54W", mac="80:5e:c0:11:22:33"):
    body = {
        "name": "Desk",
        "type": "ip_phone",
        "provisioning": {
            "mode": "automatic",
            "manufacturer": manufacturer,
            "model": model,
            "mac": mac,
        },
    }
    response = api.post(URL, body)
    assert response.status_code == 201, response.json_body
    return Terminal.objects.get(pk=response.json_body["id"])


def phone_waiting_for_notify(sip, port):
    uas = Sipp(NOTIFY_UAS, sip.address, local_port=port, timeout=15)
    uas.start()
    return uas


@pytest.mark.parametrize(
    ("manufacturer", "model", "mac"),
    [("yealink", "T54W", "80:5e:c0:11:22:33"), ("snom", "D785", "00:04:13:11:22:33")],
)
def test_a_change_through_the_api_sends_check_sync_to_the_registered_phone(
    sip, tenant, manufacturer, model, mac
):
    api = api_client(tenant)
    terminal = automatic_phone(api, manufacturer, model, mac)
    port = free_port()
    code, trace = register(sip, terminal, port)
    assert code == 0, trace.responses()
    assert sip.is_registered(terminal)

    uas = phone_waiting_for_notify(sip, port)
    changed = api.patch(f"{URL}{terminal.pk}", {"outbound": {"internal_display_name": "Front"}})
    assert changed.status_code == 200
    code, trace = uas.wait(20)
    assert code == 0, (uas.errors()[-2000:], sip.log_text()[-3000:])

    (notify,) = trace.requests("NOTIFY")
    assert header(notify, "Event") == ["check-sync;reboot=false"]
    assert header(notify, "To")[0].startswith(f"<sip:{terminal.sip_username}@")
    assert notify.startswith(f"NOTIFY sip:{terminal.sip_username}@127.0.0.1:{port}")
    device = ProvisioningDevice.objects.get(terminal=terminal)
    assert device.resync_sent_at is not None
    shown = api.get(f"{URL}{terminal.pk}").json_body["provisioning"]["resync"]
    assert shown["sent_at"] is not None


def test_re_provision_now_reaches_a_phone_behind_nat(sip, tenant):
    api = api_client(tenant)
    terminal = automatic_phone(api)
    port, advertised = free_port(), free_port()
    code, trace = Sipp(
        nat_register_scenario(advertised),
        sip.address,
        local_port=port,
        users=[(terminal.sip_username, sip.domain, terminal.sip_password)],
    ).run()
    assert code == 0, trace.responses()

    uas = phone_waiting_for_notify(sip, port)  # where the REGISTER really came from
    answer = api.post(f"{URL}{terminal.pk}/resync")
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["contacts"] == 1
    assert answer.json_body["sent"] == 1
    code, trace = uas.wait(20)
    assert code == 0, (uas.errors()[-2000:], sip.log_text()[-3000:])
    (notify,) = trace.requests("NOTIFY")
    # The request URI is the contact the phone announced; the packet went to its NAT address.
    assert notify.startswith(f"NOTIFY sip:{terminal.sip_username}@127.0.0.1:{advertised}")
    assert header(notify, "Event") == ["check-sync;reboot=false"]


def test_re_provision_now_of_a_phone_that_is_not_registered_is_409(sip, tenant):
    api = api_client(tenant)
    terminal = automatic_phone(api)
    answer = api.post(f"{URL}{terminal.pk}/resync")
    assert answer.status_code == 409
    assert "not registered" in answer.json_body["detail"]


def test_adding_or_changing_a_handset_sends_check_sync_to_its_dect_base(sip, tenant):
    """A handset is configured by its base's file: its addition and its changes reach the base
    (a NOTIFY to the base's registered account), never a NOTIFY of its own."""
    api = api_client(tenant)
    base = automatic_phone(api, "gigaset", "N870", "7c:2f:80:e0:d6:05")
    port = free_port()
    code, trace = register(sip, base, port)
    assert code == 0, trace.responses()

    uas = phone_waiting_for_notify(sip, port)
    added = api.post(URL, {"name": "Lager", "type": "ip_phone", "base": base.pk})
    assert added.status_code == 201, added.json_body
    code, trace = uas.wait(20)
    assert code == 0, (uas.errors()[-2000:], sip.log_text()[-3000:])
    (notify,) = trace.requests("NOTIFY")
    assert header(notify, "Event") == ["check-sync;reboot=false"]
    assert header(notify, "To")[0].startswith(f"<sip:{base.sip_username}@")

    uas = phone_waiting_for_notify(sip, port)
    handset = added.json_body["id"]
    changed = api.patch(f"{URL}{handset}", {"outbound": {"internal_display_name": "Lager Süd"}})
    assert changed.status_code == 200
    code, trace = uas.wait(20)
    assert code == 0, (uas.errors()[-2000:], sip.log_text()[-3000:])
    (notify,) = trace.requests("NOTIFY")
    assert notify.startswith(f"NOTIFY sip:{base.sip_username}@127.0.0.1:{port}")
