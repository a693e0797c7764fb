"""Our own processes started by tests against the test database, as ``cloudpbx run`` starts
them: the URL they reach the test database at, and the web servers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

from cloudpbx.cli.management.commands import run
from cloudpbx.config import Config, to_environment
from cloudpbx.core import certificates
from cloudpbx.core.supervisor import Supervisor


def gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody has reaped yet."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # the latter: reaped while being read
        return True
    return state in {"Z", "X"}


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def free_port() -> int:
    """A TCP port on loopback nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    """The test database, for a process of its own (Kamailio, granian, the job worker)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@contextlib.contextmanager
def web_servers(config: Config) -> Iterator[certificates.ServerCertificate]:
    """granian with ``config`` (HTTPS and the plain port, or plain HTTP behind a proxy when
    ``config.https_port`` is 0), until the block ends."""
    server = certificates.ensure(config)
    environment = {**os.environ, **to_environment(config)}
    # As `cloudpbx run` does before starting them: pages need the static files' manifest.
    subprocess.run(
        [sys.executable, "-m", "cloudpbx", "collectstatic", "--noinput", "-v0"],
        env=environment, check=True, timeout=120,
    )  # fmt: skip
    children = run.web_servers(config, server)
    for child in children:
        child.env = environment
    supervisor = Supervisor(children)
    supervisor.start()
    try:
        yield server
    finally:
        supervisor.stop()
