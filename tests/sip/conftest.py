"""Kamailio started exactly as ``cloudpbx run`` starts it, on free loopback ports, reading the
test database; plus helpers to register sipp phones and to play the carrier trunk."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings

from cloudpbx.core.supervisor import Supervisor
from cloudpbx.sip import kamailio, rpc, rtpengine, status
from cloudpbx.sip import metrics as sip_metrics
from cloudpbx.trunks.models import Trunk
from cloudpbx.trunks.services import save_trunk

from ..processes import database_url
from .netlab import Process
from .sipp import Sipp, register_scenario

if TYPE_CHECKING:
    from .softphone import Spawn

RING_TIMEOUT = 4


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(port)


def free_port_pair() -> int:
    """baresip listens on the SIP port (UDP, TCP) and on the next one (TLS)."""
    while True:
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tls:
                tls.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port


class SipServer:
    def __init__(self, config, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        self.log = open(run_dir / "kamailio.log", "w")
        self.media_log = open(run_dir / "rtpengine.log", "w")
        self.media = rtpengine.child(config, run_dir, output=self.media_log)
        self.child = kamailio.child(config, run_dir, output=self.log)
        self.supervisor = Supervisor([self.media, self.child])
        self.address = ("127.0.0.1", config.sip_port)
        self.wss_address = ("127.0.0.1", config.sip_wss_port)
        self.ca = run_dir / "tls" / "ca.pem"  # the embedded CA of its certificate
        self.domain = config.sip_domain
        self.rpc_url = kamailio.rpc_url(config)

    def start(self) -> None:
        self.supervisor.stopping = False
        self.supervisor.start()

    def stop(self) -> None:
        self.supervisor.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_registered(self, terminal) -> bool:
        found = status.registrations([terminal.sip_username])
        return found is not None and found[terminal.sip_username].online

    def rpc(self, method: str, *params):
        return rpc.call(self.rpc_url, method, *params, token=rpc.token(self.config.secret_key))

    def counts(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Kamailio's statistics as /metrics exports them (the router's counters included);
        they add up over the session's tests: compare before and after."""
        samples = sip_metrics.kamailio_samples(self.rpc("stats.get_statistics", "all"))
        return {(sample.metric, sample.labels): sample.value for sample in samples}

    def media_sessions(self) -> list[str]:
        """The Call-IDs rtpengine holds sessions for."""
        return rtpengine.calls(self.config)

    def log_text(self) -> str:
        self.log.flush()
        return (self.run_dir / "kamailio.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def sip_server(django_db_setup, django_db_blocker):
    run_dir = Path(tempfile.mkdtemp(prefix="cloudpbx-kamailio-"))
    config = dataclasses.replace(
        settings.CONFIG,
        data_dir=run_dir,
        database_url=database_url(),
        sip_listen="127.0.0.1",
        sip_domain="127.0.0.1",
        sip_realm=settings.CLOUDPBX_SIP_REALM,
        sip_port=free_port_pair(),
        sip_rpc_port=free_port(socket.SOCK_STREAM),
        sip_tls_port=free_port(socket.SOCK_STREAM),
        sip_wss_port=free_port(socket.SOCK_STREAM),
        sip_children=2,
        sip_ring_timeout=RING_TIMEOUT,
        sip_shm_mb=128,
        media_ng_port=free_port(),
        media_port_min=31000,
        media_port_max=31999,
    )
    server = SipServer(config, run_dir)
    with django_db_blocker.unblock():
        server.start()
    yield server
    server.stop()
    if not os.environ.get("CLOUDPBX_KEEP_TEST_LOGS"):
        shutil.rmtree(run_dir, ignore_errors=True)


@contextlib.contextmanager
def own_server(sip_server: SipServer, name: str, **changes):
    """A Kamailio (and media relay) of a test's own, as the session's but with ``changes``:
    for settings read at start, or for a test that may bring it down."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"cloudpbx-{name}-"))
    config = dataclasses.replace(
        sip_server.config,
        data_dir=run_dir,
        sip_port=free_port_pair(),
        sip_tls_port=free_port(socket.SOCK_STREAM),
        sip_wss_port=free_port(socket.SOCK_STREAM),
        sip_rpc_port=free_port(socket.SOCK_STREAM),
        media_ng_port=free_port(),
        media_port_min=32000,
        media_port_max=32199,
        **changes,
    )
    server = SipServer(config, run_dir)
    try:
        server.start()  # inside: a start that fails still stops what it started
        yield server
    finally:
        server.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def sip(sip_server, transactional_db, settings):
    """Kamailio for one test: the portal's changes flush its caches as in production."""
    settings.CLOUDPBX_KAMAILIO_RPC_URLS = [sip_server.rpc_url]
    sip_server.rpc("htable.seti", "cache", "gen", time.time_ns() // 1_000_000 % 2_000_000_000)
    # Like the database, failure counters start empty: tests that fail logins on purpose
    # must not add up to a ban of the address every test uses.
    for table in ("authfail", "ipban", "userban"):
        sip_server.rpc("htable.flush", table)
    return sip_server


def register(
    sip_server,
    terminal,
    port: int,
    expect: int = 200,
    password: str | None = None,
    local_ip: str = "127.0.0.1",
):
    """Register a terminal's SIP account from a sipp on ``port`` (where its UAS will listen)."""
    code, trace = Sipp(
        register_scenario(expect=expect),
        sip_server.address,
        local_ip=local_ip,
        local_port=port,
        users=[(terminal.sip_username, sip_server.domain, password or terminal.sip_password)],
    ).run()
    return code, trace


CARRIER_IP = "127.0.0.9"  # where "the carrier" sends from: the trunk's source network


@pytest.fixture
def carrier(sip):
    """The carrier trunk, played by sipp UAS instances on a port of its own."""
    port = free_port()
    trunk = Trunk(
        name="Carrier",
        gateway="127.0.0.1",
        port=port,
        transport="udp",
        source_networks=[f"{CARRIER_IP}/32"],
        is_default=True,
    )
    save_trunk(trunk)
    trunk.sipp_port = port
    return trunk


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start processes on this host; each one is killed when the test ends (also on failure)."""
    started: list[Process] = []

    def start(command: list[str], log: Path) -> Process:
        process = Process(command, log)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
        process.popen.wait(timeout=5)
