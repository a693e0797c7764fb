"""The supervisor restarts a child whose main process died, and nothing of the old one stays;
nothing it started outlives the supervisor itself, however it dies."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cloudpbx.core.supervisor import Child, Supervisor
from tests.processes import gone

# A main process that forks a worker and waits, like Kamailio: the worker survives a kill -9 of
# its main process unless the supervisor takes the whole group down.
MAIN = """
import subprocess, sys, time
worker = subprocess.Popen(["sleep", "300"])
open(sys.argv[1], "w").write(str(worker.pid))
time.sleep(300)
"""


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


# Like Kamailio's main process on SIGTERM: stops its worker, then itself.
TIDY_MAIN = """
import signal, subprocess, sys, time
worker = subprocess.Popen(["sleep", "300"])
def stop(*_):
    worker.kill()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[1], "w").write(str(worker.pid))
time.sleep(300)
"""

# ``cloudpbx run`` in small: one child, the state directory, the watch loop.
SUPERVISOR = """
import sys
from pathlib import Path
from cloudpbx.core.supervisor import Child, Supervisor
state, pid_file, main = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
child = Child(
    name="main",
    command=[sys.executable, "-c", main, str(pid_file)],
    ready=lambda: pid_file.exists() and pid_file.read_text() != "",
)
supervisor = Supervisor([child], state_dir=state)
supervisor.start(ready_timeout=10)
print(child.process.pid, flush=True)
supervisor.watch()
"""


def start_supervisor(tmp_path: Path, main: str) -> tuple[subprocess.Popen[str], int, int]:
    """A supervisor process: (it, its child's main pid, the child's worker pid)."""
    pid_file = tmp_path / "worker.pid"
    pid_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(tmp_path / "run"), str(pid_file), main],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    main_pid = int(process.stdout.readline())
    return process, main_pid, int(pid_file.read_text())


def wait_gone(*pids: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, [pid for pid in pids if not gone(pid)]
        time.sleep(0.05)


def test_children_stop_when_the_supervisor_is_killed_hard(tmp_path):
    supervisor, main, worker = start_supervisor(tmp_path, TIDY_MAIN)
    supervisor.kill()
    supervisor.wait()
    # SIGTERM from the kernel (PR_SET_PDEATHSIG); the child stops its own worker.
    wait_gone(main, worker)


def test_the_next_supervisor_kills_what_a_killed_one_left_behind(tmp_path):
    # A child that leaves its worker behind when it is told to stop.
    supervisor, main, worker = start_supervisor(tmp_path, MAIN)
    supervisor.kill()
    supervisor.wait()
    wait_gone(main)
    assert not gone(worker)  # orphaned, still in the child's process group
    following, new_main, new_worker = start_supervisor(tmp_path, MAIN)
    try:
        assert gone(worker)  # before the new child started
        assert not gone(new_main) and not gone(new_worker)
    finally:
        following.terminate()
        following.wait(10)
        for pid in (new_main, new_worker):  # SIGTERM for the child, its worker by hand
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
