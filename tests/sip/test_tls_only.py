"""Production's default: phones over TLS only (``CLOUDPBX_SIP_PLAIN_PHONES`` off). A
Kamailio of its own, started as ``cloudpbx run`` starts it, with that one setting changed."""

from __future__ import annotations

import socket
import ssl

import pytest

from cloudpbx.terminals.services import create_terminal

from . import wire
from .conftest import SipServer, own_server


@pytest.fixture
def tls_only(sip_server, transactional_db, settings):
    with own_server(sip_server, "tls-only", sip_plain_phones=False, sip_transport="tls") as server:
        settings.CLOUDPBX_KAMAILIO_RPC_URLS = [server.rpc_url]
        yield server


class TlsPeer:
    """One phone over TLS, the server's certificate verified against the embedded CA."""

    def __init__(self, server: SipServer) -> None:
        context = ssl.create_default_context(cafile=str(server.run_dir / "tls" / "ca.pem"))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        raw = socket.create_connection(("127.0.0.1", server.config.sip_tls_port), timeout=5)
        self.sock = context.wrap_socket(raw, server_hostname=server.domain)
        self.ip, self.port = self.sock.getsockname()[:2]
        self.domain = server.domain
        self.buffer = b""

    def ask(
        self, method: str, user: str, cseq: int, headers: tuple[str, ...] = (), scheme: str = "sip"
    ) -> str:
        contact = (
            f"sips:{user}@{self.ip}:{self.port}"
            if scheme == "sips"
            else f"sip:{user}@{self.ip}:{self.port};transport=tls"
        )
        message = "\r\n".join([
            f"{method} {scheme}:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/TLS {self.ip}:{self.port};rport;branch=z9hG4bK{cseq}{scheme}",
            f"From: <{scheme}:{user}@{self.domain}>;tag=tls{cseq}",
            f"To: <{scheme}:{user}@{self.domain}>",
            f"Call-ID: tls-register-{scheme}",
            f"CSeq: {cseq} {method}",
            f"Contact: <{contact}>",
            "Max-Forwards: 70",
            *headers,
            "Content-Length: 0",
            "", "",
        ])  # fmt: skip
        self.sock.sendall(message.encode())
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65535)
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        response, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return response.decode()


@pytest.mark.parametrize("scheme", ["sip", "sips"])
def test_phones_over_plain_transports_are_refused_and_register_over_tls(tls_only, tenant, scheme):
    terminal = create_terminal(tenant, name="Desk", type="ip_phone", generate_credentials=True)
    udp = wire.Peer(tls_only.address, domain=tls_only.domain)
    try:
        # The same answer for anyone over UDP, account or not: nothing to learn from it.
        for user in (terminal.sip_username, "stranger"):
            refused = udp.ask(udp.build("REGISTER", f"sip:{tls_only.domain}", user=user))
            assert refused is not None and refused.startswith("SIP/2.0 403 TLS Required")
    finally:
        udp.close()

    phone = TlsPeer(tls_only)
    assert phone.sock.version() in ("TLSv1.2", "TLSv1.3")
    first = phone.ask("REGISTER", terminal.sip_username, 1, scheme=scheme)
    assert first.startswith("SIP/2.0 401"), first
    uri = f"{scheme}:{tls_only.domain}"
    answer = wire.digest(
        terminal.sip_username, terminal.sip_password, "REGISTER", uri, wire.challenge(first)
    )
    second = phone.ask("REGISTER", terminal.sip_username, 2, headers=(f"Authorization: {answer}",))
    assert second.startswith("SIP/2.0 200"), second
    assert tls_only.is_registered(terminal)
