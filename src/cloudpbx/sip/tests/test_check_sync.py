"""The check-sync NOTIFY: its headers, and how Kamailio is asked to send it (socket, next hop,
the nodes in turn). The NOTIFY reaching a phone is tests/sip/test_resync.py."""

from __future__ import annotations

from typing import Any

import pytest

from cloudpbx.sip import check_sync, rpc
from cloudpbx.sip.status import Contact

NODES = ["http://127.0.0.1:5071/RPC", "http://127.0.0.2:5071/RPC"]
BEHIND_NAT = Contact(
    uri="sip:tq3xk7m2pw9a@192.168.1.20:5060",
    user_agent="Yealink SIP-T54W 96.86.0.100",
    source="198.51.100.7:40123",
    expires=300,
    received="sip:198.51.100.7:40123",
    socket="udp:203.0.113.5:5060",
)


class FakeKamailio:
    """Records every RPC; answers the (url, socket) pairs in ``accepts``, refuses the others."""

    def __init__(self, accepts: set[tuple[str, str]]) -> None:
        self.accepts = accepts
        self.calls: list[tuple[str, str, tuple[Any, ...], str]] = []

    def call(self, url: str, method: str, *params: Any, token: str, timeout: float = 2.0) -> Any:
        self.calls.append((url, method, params, token))
        if (url, params[3]) not in self.accepts:
            raise rpc.RpcError(f"{method} at {url}: no such socket")
        return {"Status": "202 Accepted"}

    def sockets_tried(self) -> list[tuple[str, str]]:
        return [(url, params[3]) for url, _method, params, _token in self.calls]


@pytest.fixture
def kamailio(settings: Any, monkeypatch: pytest.MonkeyPatch) -> FakeKamailio:
    settings.CLOUDPBX_KAMAILIO_RPC_URLS = NODES
    settings.CLOUDPBX_KAMAILIO_RPC_TOKEN = "t0ken"
    fake = FakeKamailio(accepts=set())
    monkeypatch.setattr(rpc, "call", fake.call)
    return fake


def test_the_headers_address_the_account_and_carry_the_vendors_event() -> None:
    text = check_sync.notify_headers("tq3xk7m2pw9a", "pbx.example.net", "check-sync;reboot=false")
    assert text.endswith("\r\n")
    lines = text.removesuffix("\r\n").split("\r\n")
    names = [line.split(":", 1)[0] for line in lines]
    assert names == [
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Event",
        "Subscription-State",
        "Max-Forwards",
    ]
    header = dict(line.split(": ", 1) for line in lines)
    assert header["From"].startswith("<sip:provisioning@pbx.example.net>;tag=")
    assert header["To"] == "<sip:tq3xk7m2pw9a@pbx.example.net>"
    assert header["Call-ID"].endswith("@cloudpbx")
    assert header["CSeq"] == "1 NOTIFY"
    assert header["Contact"] == "<sip:provisioning@pbx.example.net>"
    assert header["Event"] == "check-sync;reboot=false"
    assert header["Subscription-State"] == "terminated;reason=noresource"
    assert header["Max-Forwards"] == "70"


def test_every_notify_is_a_new_transaction() -> None:
    first, second = (check_sync.notify_headers("u", "d", "check-sync") for _ in range(2))
    tag_and_call_id = [
        [line for line in text.split("\r\n") if line.startswith(("From:", "Call-ID:"))]
        for text in (first, second)
    ]
    assert tag_and_call_id[0][0] != tag_and_call_id[1][0]
    assert tag_and_call_id[0][1] != tag_and_call_id[1][1]


def test_kamailio_sends_it_from_the_registration_socket_to_the_nat_address(
    kamailio: FakeKamailio,
) -> None:
    kamailio.accepts = {(NODES[0], BEHIND_NAT.socket)}
    assert check_sync.send(BEHIND_NAT, "tq3xk7m2pw9a", "pbx.example.net", "check-sync")
    ((url, method, params, token),) = kamailio.calls
    assert (url, method, token) == (NODES[0], "tm.t_uac_start", "t0ken")
    verb, uri, next_hop, socket, headers = params
    assert (verb, uri, next_hop, socket) == (
        "NOTIFY",
        BEHIND_NAT.uri,
        "sip:198.51.100.7:40123",
        "udp:203.0.113.5:5060",
    )
    assert "Event: check-sync\r\n" in headers
    assert "To: <sip:tq3xk7m2pw9a@pbx.example.net>\r\n" in headers


def test_the_node_owning_the_socket_sends_it_before_any_node_tries_another_socket(
    kamailio: FakeKamailio,
) -> None:
    kamailio.accepts = {(NODES[1], BEHIND_NAT.socket), (NODES[0], ".")}
    assert check_sync.send(BEHIND_NAT, "tq3xk7m2pw9a", "pbx.example.net", "check-sync")
    assert kamailio.sockets_tried() == [
        (NODES[0], BEHIND_NAT.socket),
        (NODES[1], BEHIND_NAT.socket),
    ]


def test_a_socket_no_node_owns_falls_back_to_any_socket(kamailio: FakeKamailio) -> None:
    kamailio.accepts = {(NODES[1], ".")}
    assert check_sync.send(BEHIND_NAT, "tq3xk7m2pw9a", "pbx.example.net", "check-sync")
    assert kamailio.sockets_tried() == [
        (NODES[0], BEHIND_NAT.socket),
        (NODES[1], BEHIND_NAT.socket),
        (NODES[0], "."),
        (NODES[1], "."),
    ]


def test_a_contact_without_nat_or_socket_lets_kamailio_choose(kamailio: FakeKamailio) -> None:
    kamailio.accepts = {(NODES[0], ".")}
    direct = Contact(uri="sip:tq3xk7m2pw9a@192.0.2.10:5060", user_agent="", source="", expires=60)
    assert check_sync.send(direct, "tq3xk7m2pw9a", "pbx.example.net", "check-sync")
    ((_url, _method, params, _token),) = kamailio.calls
    assert params[1:4] == (direct.uri, ".", ".")


def test_false_when_no_node_accepts_it(kamailio: FakeKamailio) -> None:
    assert not check_sync.send(BEHIND_NAT, "tq3xk7m2pw9a", "pbx.example.net", "check-sync")
    assert len(kamailio.calls) == 4
