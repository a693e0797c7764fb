"""End to end, per vendor: a phone fetches its file from the provisioning server the way that
vendor's phones do (path, User-Agent, Digest), and registers with what it got."""

import pytest

from cloudpbx.provisioning.testing import (
    fetch_config,
    phone_request_for,
    read_account,
    urllib_getter,
)
from cloudpbx.terminals.models import Terminal
from cloudpbx.testing import api_client

from .conftest import free_port
from .sipp import Sipp, register_scenario

PHONES = [
    ("yealink", "T54W", "80:5e:c0:11:22:33"),
    ("snom", "D785", "00:04:13:11:22:33"),
    ("gigaset", "N870", "7c:2f:80:11:22:33"),
    ("htek", "UC926", "00:1f:c1:11:22:33"),
]


@pytest.mark.parametrize(("manufacturer", "model", "mac"), PHONES)
def test_phone_fetches_its_file_and_registers(
    sip, tenant, live_server, settings, manufacturer, model, mac
):
    settings.CLOUDPBX_SIP_DOMAIN = sip.domain
    settings.CLOUDPBX_SIP_PORT = sip.address[1]
    api = api_client(tenant)
    created = api.post(
        "/api/v1/terminals/",
        {
            "name": f"{manufacturer} desk",
            "type": "ip_phone",
            "provisioning": {
                "mode": "automatic",
                "manufacturer": manufacturer,
                "model": model,
                "mac": mac,
                "auth": "credentials",
            },
        },
    )
    assert created.status_code == 201, created.json_body
    terminal = Terminal.objects.get(pk=created.json_body["id"])
    acs = api.get(f"/api/v1/terminals/{terminal.pk}/credentials").json_body["provisioning"]

    body = fetch_config(
        urllib_getter(live_server.url),
        phone_request_for(terminal),
        acs["username"],
        acs["password"],
    )
    account = read_account(manufacturer, body)
    assert (account.registrar, account.port) == (sip.domain, sip.address[1])
    assert account.username == terminal.sip_username

    code, trace = Sipp(
        register_scenario(),
        (account.registrar, account.port),
        local_port=free_port(),
        users=[(account.auth_name, sip.domain, account.password)],
    ).run()
    assert code == 0 and trace.responses() == [401, 200]
    assert sip.is_registered(terminal)
    terminal.device.refresh_from_db()
    assert terminal.device.last_fetch_at is not None
