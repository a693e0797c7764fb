"""Run child processes, restart the ones that die, stop all of them cleanly.

Used by ``cloudpbx run`` (web server + Kamailio) and by the integration tests, so the tests run
Kamailio exactly as production does.

No process outlives what it belongs to. Each child is the leader of a process group of its own,
and the whole group is killed before the child is restarted (Kamailio's workers survive their
main process). Each child is told to stop (SIGTERM, ``PR_SET_PDEATHSIG``) when the supervisor
dies, however it dies; and a supervisor given a state directory records each child's group
there and, when it starts, kills the groups a previous supervisor killed with ``kill -9``
left behind (a child that ignored the signal, or its workers).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

RESTART_BACKOFF_SECONDS = (1, 2, 5, 10, 30)
STABLE_AFTER_SECONDS = 60


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _stop_with_parent(parent: int) -> Callable[[], None] | None:
    """Run in the child between fork and exec: SIGTERM when the supervisor dies; and if it
    died already (before this line ran), stop now. Linux sends it when the *thread* that
    started the child ends: only children started by the main thread (as ``cloudpbx run``
    starts them all) get it, not those a test's watcher thread restarts."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def arrange() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return arrange


def _started_at(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22):
    with the pid, it names one process, never a later one that got the same pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str] | None = None
    prepare: Callable[[], None] | None = None  # run before every (re)start
    ready: Callable[[], bool] | None = None  # polled after start
    output: IO[str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    failures: int = 0
    restart_at: float = 0.0

    def start(self) -> None:
        if self.prepare:
            self.prepare()
        self.process = subprocess.Popen(  # noqa: S603 (our own commands)
            self.command,
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output else None,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, not the children
            preexec_fn=_stop_with_parent(os.getpid()),
        )
        self.started_at = time.monotonic()
        logger.info("started %s (pid %s)", self.name, self.process.pid)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.ready and not self.ready():
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s")
            time.sleep(0.1)

    def kill_leftovers(self) -> None:
        """After the main process died: kill what is left of its process group (Kamailio's
        workers survive their main process and would keep the SIP port from the restart)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        logger.info("stopped %s", self.name)


class Supervisor:
    def __init__(
        self,
        children: list[Child],
        tick: Callable[[], None] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.children = children
        self.stopping = False
        self.tick = tick  # called from the watch loop (several times a second)
        self.state_dir = state_dir  # where each child's process group is recorded

    def start(self, ready_timeout: float = 30.0) -> None:
        self.kill_previous_groups()
        try:
            for child in self.children:
                child.start()
                self.record(child)
                child.wait_ready(ready_timeout)
        except Exception:
            self.stop()
            raise

    def record(self, child: Child) -> None:
        if self.state_dir is None or child.process is None:
            return
        pid = child.process.pid
        # Written aside and renamed: whoever reads the record never sees it half written.
        record = self.state_dir / f"{child.name}.group"
        draft = record.with_suffix(".group-draft")
        draft.write_text(f"{pid} {_started_at(pid)}\n")
        draft.replace(record)

    def kill_previous_groups(self) -> None:
        """What a supervisor that died without stopping its children left running."""
        if self.state_dir is None:
            return
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for record in self.state_dir.glob("*.group"):
            pid_text, _, started = record.read_text().strip().partition(" ")
            record.unlink()
            pid = int(pid_text) if pid_text.isdigit() else 0
            now = _started_at(pid) if pid else None
            # A leader that is gone leaves its pid to its workers' group (Linux never reuses
            # it while they live); one running since another time is a new process, not ours.
            if not pid or (now is not None and now != started):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
                logger.warning("killed %s left over by a previous run", record.stem)

    def stop(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            child.stop()

    def watch(self) -> None:
        """Restart children that die (with back-off) until :meth:`stop` is called."""
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                process = child.process
                if process is None or process.poll() is None or self.stopping:
                    continue
                if child.restart_at == 0.0:
                    child.kill_leftovers()
                    lived = now - child.started_at
                    child.failures = 0 if lived > STABLE_AFTER_SECONDS else child.failures + 1
                    delay = RESTART_BACKOFF_SECONDS[
                        min(child.failures, len(RESTART_BACKOFF_SECONDS) - 1)
                    ]
                    child.restart_at = now + delay
                    logger.warning(
                        "%s exited (%s); restarting in %ss", child.name, process.returncode, delay
                    )
                elif now >= child.restart_at:
                    child.restart_at = 0.0
                    try:
                        child.start()
                        self.record(child)
                    except OSError:
                        logger.exception("could not restart %s", child.name)
            if self.tick is not None and not self.stopping:
                try:
                    self.tick()
                except Exception:
                    logger.exception("supervisor tick failed")
            time.sleep(0.2)
