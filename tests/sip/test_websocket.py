"""SIP over secure WebSockets, the browser softphone's signalling (RFC 7118), against the real
Kamailio: who may open a WebSocket, and what the browser credential is good for."""

from __future__ import annotations

import socket
import time

import pytest

from cloudpbx.sip import browser

from .test_calls import phone
from .websocket import HandshakeRefused, WebSocketPeer, handshake
from .wire import Peer, code


def credential(sip, terminal, now: float | None = None) -> browser.Credential:
    key = browser.key(sip.config.secret_key)
    return browser.issue(key, terminal.sip_username, terminal.sip_ha1, now or time.time())


def peer(sip, origin: str | None = None) -> WebSocketPeer:
    return WebSocketPeer(
        sip.wss_address, origin=origin or sip.config.portal_origin, ca=sip.ca, domain=sip.domain
    )


def register(peer: Peer, terminal, username: str, password: str) -> int | None:
    """REGISTER the terminal's AOR, answering the challenge as ``username``."""
    from .wire import challenge, digest

    uri = f"sip:{peer.domain}"
    user = terminal.sip_username
    first = peer.ask(peer.build("REGISTER", uri, user=user))
    if code(first) != 401:
        return code(first)
    auth = digest(username, password, "REGISTER", uri, challenge(first or ""))
    return code(
        peer.ask(peer.build("REGISTER", uri, user=user, headers=[f"Authorization: {auth}"]))
    )


def test_a_browser_registers_an_app_terminal_with_its_short_lived_credential(sip, tenant):
    app = phone(tenant, "Browser", kind="app")
    given = credential(sip, app)
    browser_peer = peer(sip)
    try:
        assert register(browser_peer, app, given.username, given.password) == 200
        assert sip.is_registered(app)
    finally:
        browser_peer.close()


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "https://127.0.0.1:1", "http://127.0.0.1:8443"]
)
def test_a_websocket_from_another_origin_is_refused(sip, origin):
    if origin == sip.config.portal_origin:
        pytest.fail("the test needs an origin other than the portal's")
    with pytest.raises(HandshakeRefused) as refused:
        handshake(sip.wss_address, origin=origin, ca=sip.ca)
    assert refused.value.status == 403


def test_only_the_sip_path_opens_a_websocket(sip):
    with pytest.raises(HandshakeRefused) as refused:
        handshake(sip.wss_address, origin=sip.config.portal_origin, ca=sip.ca, path="/RPC")
    assert refused.value.status == 403


def test_plain_websocket_is_not_served(sip):
    """The port speaks TLS only: a plain-text handshake gets no WebSocket."""
    with socket.create_connection(sip.wss_address, timeout=3) as plain:
        plain.sendall(
            b"GET /sip HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
            b"Origin: " + sip.config.portal_origin.encode() + b"\r\n\r\n"
        )
        try:
            answer = plain.recv(4096)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert b"101" not in answer


def test_a_banned_address_gets_no_websocket(sip):
    sip.rpc("htable.seti", "ipban", "127.0.0.1", 1)
    try:
        with pytest.raises(HandshakeRefused) as refused:
            handshake(sip.wss_address, origin=sip.config.portal_origin, ca=sip.ca)
        assert refused.value.status == 403
    finally:
        sip.rpc("htable.delete", "ipban", "127.0.0.1")


def test_the_browser_credential_is_refused_over_udp(sip, tenant):
    app = phone(tenant, "Browser", kind="app")
    given = credential(sip, app)
    udp = Peer(sip.address, domain=sip.domain)
    try:
        assert register(udp, app, given.username, given.password) == 401
    finally:
        udp.close()
    assert not sip.is_registered(app)


def test_the_browser_credential_is_for_its_own_terminal_only(sip, tenant):
    app = phone(tenant, "Browser", kind="app")
    other = phone(tenant, "Other app", kind="app")
    given = credential(sip, app)
    browser_peer = peer(sip)
    try:
        assert register(browser_peer, other, given.username, given.password) == 401
    finally:
        browser_peer.close()
    assert not sip.is_registered(other)


def test_an_ip_phone_gets_no_browser_credential(sip, tenant):
    desk = phone(tenant, "Desk")
    given = credential(sip, desk)
    browser_peer = peer(sip)
    try:
        assert register(browser_peer, desk, given.username, given.password) == 401
    finally:
        browser_peer.close()


def test_an_expired_browser_credential_is_refused(sip, tenant):
    app = phone(tenant, "Browser", kind="app")
    given = credential(sip, app, now=time.time() - browser.LIFETIME_SECONDS - 1)
    browser_peer = peer(sip)
    try:
        assert register(browser_peer, app, given.username, given.password) == 401
    finally:
        browser_peer.close()


def test_a_new_sip_password_ends_the_browser_credential(sip, tenant):
    from cloudpbx.terminals.services import set_sip_password

    app = phone(tenant, "Browser", kind="app")
    given = credential(sip, app)
    set_sip_password(app)
    browser_peer = peer(sip)
    try:
        assert register(browser_peer, app, given.username, given.password) == 401
    finally:
        browser_peer.close()
