"""Flushing Kamailio's directory caches: loud only when a running Kamailio did not take it."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cloudpbx.sip import notify


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def broken_kamailio() -> Iterator[str]:
    """Something listening that answers every RPC with a server error."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/RPC"
    server.shutdown()


def test_no_warning_when_no_kamailio_runs_there(settings: Any, caplog: Any) -> None:
    """What `cloudpbx run` meets writing the demo data before Kamailio starts."""
    settings.CLOUDPBX_KAMAILIO_RPC_URLS = [f"http://127.0.0.1:{closed_port()}/RPC"]
    with caplog.at_level(logging.DEBUG, logger="cloudpbx.sip.notify"):
        notify.flush_directory_caches()
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_a_kamailio_that_fails_the_flush_is_warned_about(
    settings: Any, caplog: Any, broken_kamailio: str
) -> None:
    settings.CLOUDPBX_KAMAILIO_RPC_URLS = [broken_kamailio]
    with caplog.at_level(logging.DEBUG, logger="cloudpbx.sip.notify"):
        notify.flush_directory_caches()
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "could not flush the SIP directory cache" in caplog.text
