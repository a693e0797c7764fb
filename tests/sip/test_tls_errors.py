"""Strangers' TLS connections that fail must not bring Kamailio down. Debian 12's Kamailio
(5.6) with OpenSSL 3 shares one error state between its workers: dropped handshakes in
several workers at once corrupted its memory within seconds, then it crashed, until
``sip/openssl_fork.c`` was preloaded."""

from __future__ import annotations

import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cloudpbx.sip.kamailio_config import OPENSSL_FORK_FIX

from .conftest import SipServer, own_server

CONNECTIONS = 300  # without the fix, memory was corrupted after ~100 of them on 2 cores


def dropped_handshake(server: SipServer) -> bool:
    """A TLS client that goes away without a goodbye (no close_notify): an error for the
    worker that served it. Whether the handshake got through."""
    context = ssl.create_default_context(cafile=str(server.run_dir / "tls" / "ca.pem"))
    try:
        with socket.create_connection(("127.0.0.1", server.config.sip_tls_port), 2) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                return True
    except OSError:  # a worker busy or (on the old code) gone
        return False


def test_tls_errors_in_several_workers_at_once_leave_kamailio_whole(
    sip_server: SipServer, transactional_db: None
) -> None:
    with own_server(sip_server, "tls-errors", sip_children=4) as server:
        kamailio = server.child.process
        assert kamailio is not None
        assert str(OPENSSL_FORK_FIX) in Path(f"/proc/{kamailio.pid}/maps").read_text()
        with ThreadPoolExecutor(max_workers=4) as pool:
            served = list(pool.map(lambda _: dropped_handshake(server), range(CONNECTIONS)))
        log = server.log_text()
        assert "BUG" not in log, log[-3000:]
        assert kamailio.poll() is None, log[-3000:]  # the same process, never restarted
        assert sum(served) > CONNECTIONS // 2
        assert dropped_handshake(server)  # and it still serves TLS
