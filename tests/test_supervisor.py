"""The supervisor restarts a child whose main process died, and nothing of the old one stays."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from cloudpbx.core.supervisor import Child, Supervisor

# A main process that forks a worker and waits, like Kamailio: the worker survives a kill -9 of
# its main process unless the supervisor takes the whole group down.
MAIN = """
import subprocess, sys, time
worker = subprocess.Popen(["sleep", "300"])
open(sys.argv[1], "w").write(str(worker.pid))
time.sleep(300)
"""


def gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody has reaped yet."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}


def test_a_child_killed_hard_is_restarted_without_its_orphaned_workers(tmp_path):
    pid_file = tmp_path / "worker.pid"
    child = Child(
        name="main",
        command=[sys.executable, "-c", MAIN, str(pid_file)],
        ready=lambda: pid_file.exists() and pid_file.read_text() != "",
    )
    supervisor = Supervisor([child])
    supervisor.start(ready_timeout=10)
    watcher = threading.Thread(target=supervisor.watch, daemon=True)
    try:
        first_main, first_worker = child.process.pid, int(pid_file.read_text())
        pid_file.unlink()
        watcher.start()
        os.kill(first_main, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while child.process.pid == first_main or not child.ready():
            assert time.monotonic() < deadline, "the child was not restarted"
            time.sleep(0.05)
        assert gone(first_worker), "the old main process's worker survived the restart"
        assert not gone(int(pid_file.read_text()))
    finally:
        supervisor.stop()
        watcher.join(5)
