"""A throw-away PostgreSQL server for the test suite.

``python -m cloudpbx.core.pgserver COMMAND…`` makes a cluster with initdb in a temporary
directory, starts it on a free loopback port, runs COMMAND with ``CLOUDPBX_DATABASE_URL``
pointing at it, and always stops and removes it afterwards. The server refuses to run as root,
so as root the cluster belongs to the ``postgres`` system user (Debian's package creates it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if not candidates:
        raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")
    return candidates[0].parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def temporary_postgres() -> Iterator[str]:
    """Yield the database URL of a fresh server; stop and delete it on exit, also on failure."""
    bin_dir = _bin_dir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="cloudpbx-pg-"))
    data, log = base / "data", base / "server.log"
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    port = _free_port()
    started = False
    try:
        subprocess.run(  # noqa: S603
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        options = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        subprocess.run(  # noqa: S603
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log),
             "-o", options, "-w", "-t", "60", "start"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        started = True
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(  # noqa: S603
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                check=False, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    # SIGTERM (CI time-out, Ctrl-C of a parent) must still stop the server: make it an exit.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with temporary_postgres() as url:
        env = dict(os.environ, CLOUDPBX_DATABASE_URL=url)
        print(f"PostgreSQL test server at {url}", flush=True)
        return subprocess.run(argv, env=env, check=False).returncode  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
